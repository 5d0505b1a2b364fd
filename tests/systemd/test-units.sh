#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-units.sh SOCKET_UNIT SERVICE_UNIT
#
# The units as installed: `systemd-analyze verify` must print nothing (bad
# directives only warn), and the service's hardening must score an exposure
# of 2.0 or better in `systemd-analyze security`. ExecStart= points at
# $SIGBROKERD (the built daemon), or at $SB_STANDIN until the daemon exists.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

MAX_EXPOSURE=20 # tenths: --threshold=20 means an exposure level of 2.0

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
sb_require_cmd systemd-analyze
daemon=${SIGBROKERD:-${SB_STANDIN-}}
[[ -x $daemon ]] || sb_fail "SIGBROKERD (or SB_STANDIN) must name an executable, got '$daemon'"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp" "$daemon" "$1" "$2"
socket=$tmp/$(basename "$1")
service=$tmp/$(basename "$2")
grep -qx "ExecStart=$daemon" "$service" || sb_fail "no ExecStart= line in $2"

out=$(cd "$tmp" && systemd-analyze verify --man=no "$socket" "$service" 2>&1) ||
    sb_fail "systemd-analyze verify failed: $out"
[[ -z $out ]] || sb_fail "systemd-analyze verify complained:"$'\n'"$out"

rc=0
out=$(systemd-analyze security --offline=yes --threshold=$MAX_EXPOSURE --no-pager "$service" 2>&1) || rc=$?
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
[[ -n $score ]] || sb_fail "no exposure level in systemd-analyze security's output: $out"
sb_log "exposure level of $(basename "$service"): $score (must be <= $((MAX_EXPOSURE / 10)).$((MAX_EXPOSURE % 10)))"
if (( rc != 0 )); then
    grep '✗' <<<"$out" >&2 || true
    sb_fail "exposure $score is above the threshold"
fi
sb_log "ok"
