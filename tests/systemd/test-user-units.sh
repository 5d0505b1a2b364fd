#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-user-units.sh SOCKET_UNIT SERVICE_UNIT
#
# The user units (systemd-units/user) as installed: `systemd-analyze --user
# verify` must print nothing (bad directives only warn); the socket is
# %t/sigbroker.sock, for the user alone; and the service keeps the hardening
# a user's manager can apply (seccomp filters, no_new_privs), scored by
# `systemd-analyze --user security`. ExecStart= points at $SIGBROKERD.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

# Tenths. A user service cannot have the namespaces (see the unit's
# comments), which puts its best score near 6; losing the seccomp filters
# or no_new_privs pushes it above this.
MAX_EXPOSURE=65

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
sb_require_cmd systemd-analyze
[[ -x ${SIGBROKERD-} ]] || sb_fail "SIGBROKERD must name the built sigbrokerd, got '${SIGBROKERD-}'"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp/units" "$SIGBROKERD" "$1" "$2"
socket=$tmp/units/$(basename "$1")
service=$tmp/units/$(basename "$2")
# A user's manager needs a runtime directory, even offline.
mkdir -m 700 "$tmp/runtime"
export XDG_RUNTIME_DIR=$tmp/runtime

grep -qx 'ListenSequentialPacket=%t/sigbroker.sock' "$socket" ||
    sb_fail "$1 does not listen on %t/sigbroker.sock"
grep -qx 'SocketMode=0600' "$socket" || sb_fail "$1 does not keep its socket to the user (SocketMode=0600)"
grep -qx 'WantedBy=sockets.target' "$socket" || sb_fail "$1 is not wanted by sockets.target"

out=$(cd "$tmp/units" && systemd-analyze --user verify --man=no "$socket" "$service" 2>&1) ||
    sb_fail "systemd-analyze --user verify failed: $out"
[[ -z $out ]] || sb_fail "systemd-analyze --user verify complained:"$'\n'"$out"

# The same files must not pass as system units by accident of a shared
# name: the system socket is elsewhere.
! grep -q '/run/sigbroker' "$socket" || sb_fail "$1 names the system socket"

rc=0
out=$(systemd-analyze --user security --offline=yes --threshold=$MAX_EXPOSURE --no-pager "$service" 2>&1) || rc=$?
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
[[ -n $score ]] || sb_fail "no exposure level in systemd-analyze --user security's output: $out"
sb_log "exposure level of the user $(basename "$service"): $score (must be <= $((MAX_EXPOSURE / 10)).$((MAX_EXPOSURE % 10)))"
if (( rc != 0 )); then
    grep '✗' <<<"$out" >&2 || true
    sb_fail "exposure $score is above the threshold"
fi
for opt in NoNewPrivileges=yes RestrictAddressFamilies=AF_UNIX SystemCallFilter=@system-service \
           MemoryDenyWriteExecute=yes RestrictNamespaces=yes; do
    grep -qx "$opt" "$service" || sb_fail "$2 lacks $opt"
done
sb_log "ok"
