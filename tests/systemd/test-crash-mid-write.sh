#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-crash-mid-write.sh SOCKET_UNIT SERVICE_UNIT
#
# sigbrokerd ($SIGBROKERD) under a private systemd, killed (kill -9) the
# instant its send(2) of a delivery to a receiver has returned, before it
# records that delivery in its restart journal: inside-restart.sh's
# kill-9-mid-write scenario, with strace holding the daemon at that point.
# The receiver must still get every signal exactly once. Skips without
# strace.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
[[ -x ${SIGBROKERD-} && -x ${SB_CLIENT-} ]] ||
    sb_skip "SIGBROKERD and SB_CLIENT must name the built sigbrokerd and sb-client" \
        "(got '${SIGBROKERD-}' and '${SB_CLIENT-}')"
sb_require_root
sb_require_cmd strace
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp/units" /run/sbtest/bin/sigbrokerd "$1" "$2"

rc=0
"$here/../lib/private-systemd.sh" --timeout 180 --units "$tmp/units" \
    --bin "$SIGBROKERD" --bin "$SB_CLIENT" \
    env SB_CLIENT=/run/sbtest/bin/sb-client "$here/inside-restart.sh" kill-9-mid-write:midwrite || rc=$?
exit $rc
