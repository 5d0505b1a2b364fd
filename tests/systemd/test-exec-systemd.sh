#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-exec-systemd.sh SOCKET_UNIT SERVICE_UNIT
#
# sigbrokerctl exec as the ExecStart= wrapper of a service that reloads on
# SIGHUP, under a real, private systemd, beside sigbrokerd through our
# units: see inside-exec.sh.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/units.sh"

(( $# == 2 )) || { echo "usage: $0 SOCKET_UNIT SERVICE_UNIT" >&2; exit 2; }
[[ -x ${SIGBROKERD-} && -x ${SIGBROKERCTL-} ]] ||
    sb_skip "SIGBROKERD and SIGBROKERCTL must name the built sigbrokerd and sigbrokerctl"

sb_require_root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sb_units_install "$tmp/units" /run/sbtest/bin/sigbrokerd "$1" "$2"

# The service: the unit sigbrokerctl(1) shows, with a shell program that
# records each reload in /run/reloader.log.
cat >"$tmp/reloader" <<'EOF'
#!/bin/bash
trap 'echo reload >>/run/reloader.log' HUP
trap 'echo stop >>/run/reloader.log; exit 0' TERM
echo "start $$" >>/run/reloader.log
while :; do sleep 1 & wait $! || true; done
EOF
chmod 755 "$tmp/reloader"
cat >"$tmp/units/reloader.service" <<'EOF'
[Unit]
Description=A daemon that reloads on SIGHUP, through sigbroker
Wants=sigbrokerd.socket
After=sigbrokerd.socket

[Service]
ExecStart=/run/sbtest/bin/sigbrokerctl exec --group web --signal HUP -- /run/sbtest/bin/reloader
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
EOF

rc=0
"$here/../lib/private-systemd.sh" --timeout 120 --units "$tmp/units" \
    --bin "$SIGBROKERD" --bin "$SIGBROKERCTL" --bin "$tmp/reloader" \
    "$here/inside-exec.sh" || rc=$?
exit $rc
