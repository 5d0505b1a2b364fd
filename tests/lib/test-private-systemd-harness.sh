#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-private-systemd-harness.sh SOCKET_UNIT SERVICE_UNIT
#
# Proves tests/lib/private-systemd.sh, and our units under a real systemd,
# with sb-standin ($SB_STANDIN) in place of sigbrokerd: see inside-standin.sh.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
[[ -x ${SB_STANDIN-} ]] || sb_fail "SB_STANDIN must name the built sb-standin (got '${SB_STANDIN-}')"

sb_require_root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp/units" /run/sbtest/bin/sigbrokerd "$1" "$2"

rc=0
"$here/../lib/private-systemd.sh" --timeout 90 --units "$tmp/units" \
    --bin sigbrokerd="$SB_STANDIN" --bin "$SB_STANDIN" \
    "$here/inside-standin.sh" || rc=$?
exit $rc
