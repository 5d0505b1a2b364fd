#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-private-systemd.sh SOCKET_UNIT SERVICE_UNIT
#
# sigbrokerd ($SIGBROKERD) under a real, private systemd through our units,
# driven with sigbrokerctl ($SIGBROKERCTL) and sb-client ($SB_CLIENT): see
# inside-sigbrokerd.sh. Skips until these programs are built.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
[[ -x ${SIGBROKERD-} && -x ${SIGBROKERCTL-} && -x ${SB_CLIENT-} ]] ||
    sb_skip "SIGBROKERD, SIGBROKERCTL and SB_CLIENT must name the built sigbrokerd, sigbrokerctl" \
        "and sb-client (got '${SIGBROKERD-}', '${SIGBROKERCTL-}' and '${SB_CLIENT-}')"

sb_require_root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp/units" /run/sbtest/bin/sigbrokerd "$1" "$2"

rc=0
"$here/../lib/private-systemd.sh" --timeout 120 --units "$tmp/units" \
    --bin "$SIGBROKERD" --bin "$SIGBROKERCTL" --bin "$SB_CLIENT" \
    env SB_CLIENT=/run/sbtest/bin/sb-client "$here/inside-sigbrokerd.sh" || rc=$?
exit $rc
