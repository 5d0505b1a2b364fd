#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-restart-systemd.sh SOCKET_UNIT SERVICE_UNIT
#
# The restart guarantee under a real, private systemd: clients of another
# user keep their connections, and no accepted signal is lost or
# duplicated, across `systemctl restart` and a `kill -9` of sigbrokerd
# ($SIGBROKERD) with Restart=on-failure. See inside-restart.sh; the clients
# are sb-client ($SB_CLIENT). Skips until both are built.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
[[ -x ${SIGBROKERD-} && -x ${SB_CLIENT-} ]] ||
    sb_skip "SIGBROKERD and SB_CLIENT must name the built sigbrokerd and sb-client" \
        "(got '${SIGBROKERD-}' and '${SB_CLIENT-}')"

sb_require_root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp/units" /run/sbtest/bin/sigbrokerd "$1" "$2"

rc=0
"$here/../lib/private-systemd.sh" --timeout 240 --units "$tmp/units" \
    --bin "$SIGBROKERD" --bin "$SB_CLIENT" \
    env SB_CLIENT=/run/sbtest/bin/sb-client "$here/inside-restart.sh" || rc=$?
exit $rc
