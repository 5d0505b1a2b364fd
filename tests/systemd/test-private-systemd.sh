#!/bin/bash
# test-private-systemd.sh SOCKET_UNIT SERVICE_UNIT
#
# sigbrokerd ($SIGBROKERD) under a real, private systemd through our units,
# driven with sigbrokerctl ($SIGBROKERCTL): see inside-sigbrokerd.sh. Skips
# until both programs are built.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
[[ -x ${SIGBROKERD-} && -x ${SIGBROKERCTL-} ]] ||
    sb_skip "SIGBROKERD and SIGBROKERCTL must name the built sigbrokerd and sigbrokerctl" \
        "(got '${SIGBROKERD-}' and '${SIGBROKERCTL-}')"

sb_require_root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp/units" /run/sbtest/bin/sigbrokerd "$1" "$2"

rc=0
"$here/../lib/private-systemd.sh" --timeout 120 --units "$tmp/units" \
    --bin "$SIGBROKERD" --bin "$SIGBROKERCTL" \
    "$here/inside-sigbrokerd.sh" || rc=$?
exit $rc
