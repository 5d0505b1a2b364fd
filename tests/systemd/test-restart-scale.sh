#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-restart-scale.sh SOCKET_UNIT SERVICE_UNIT
#
# Thousands of connected subscribers (SB_FLEET_N, default 9000 scaled by
# SB_STRESS_SCALE) keep their connections and client ids across
# `systemctl restart` and `kill -9` of sigbrokerd under a real, private
# systemd with our units, and each gets the group signal sent during the
# restart exactly once, in sequence. See inside-restart-scale.sh; the
# clients are sb-fleet ($SB_FLEET).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
[[ -x ${SIGBROKERD-} && -x ${SB_FLEET-} ]] ||
    sb_skip "SIGBROKERD and SB_FLEET must name the built sigbrokerd and sb-fleet" \
        "(got '${SIGBROKERD-}' and '${SB_FLEET-}')"

sb_require_root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp/units" /run/sbtest/bin/sigbrokerd "$1" "$2"

# sigbrokerctl status is shown before and after each restart, if built.
ctl=()
[[ -x ${SIGBROKERCTL-} ]] && ctl=(--bin "$SIGBROKERCTL")
rc=0
"$here/../lib/private-systemd.sh" --timeout "${SB_FLEET_TIMEOUT:-400}" --units "$tmp/units" \
    --bin "$SIGBROKERD" --bin "$SB_FLEET" "${ctl[@]}" \
    env SB_FLEET=/run/sbtest/bin/sb-fleet "$here/inside-restart-scale.sh" || rc=$?
exit $rc
