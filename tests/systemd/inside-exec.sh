#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside tests/lib/private-systemd.sh (see test-exec-systemd.sh):
# reloader.service runs a shell program under `sigbrokerctl exec --group
# web`; a send to group web reloads it, by root and by nobody (refused:
# the program runs as root), systemctl reload and stop go through the
# wrapper, and the program's exit is in the service's journal.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/inside-systemd.sh"
SB_TEST_NAME=inside-exec

CTL=$SB_BIN/sigbrokerctl
LOG=/run/reloader.log
unset SIGBROKER_SOCKET XDG_RUNTIME_DIR
reloads() { grep -c '^reload' "$LOG" || true; }

systemctl start sigbrokerd.socket
systemctl start reloader.service
sb_wait_for 20 "the program to start" grep -q '^start' "$LOG"
child=$(awk '/^start/ {print $2}' "$LOG")
main=$(unit_prop reloader.service MainPID)
[[ $(ps -o ppid= "$child" | tr -d ' ') == "$main" ]] || sb_fail "the program is not the wrapper's child"

"$CTL" send --group web HUP >/dev/null || sb_fail "send --group web HUP failed"
sb_wait_for 10 "the first reload" test "$(reloads)" -eq 1
"$CTL" send --pid "$child" HUP >/dev/null || sb_fail "send --pid $child HUP failed"
sb_wait_for 10 "the second reload" test "$(reloads)" -eq 2

# nobody may not signal a root program: EPERM, no reload.
if runuser -u nobody -- "$CTL" send --group web HUP >/dev/null 2>"/run/nobody.err"; then
    sb_fail "nobody reloaded a root service"
fi
grep -q '^sigbrokerctl: EPERM: ' /run/nobody.err || sb_fail "nobody's send: $(cat /run/nobody.err)"

# systemctl reload: kill -HUP $MAINPID, which the wrapper passes on.
systemctl reload reloader.service
sb_wait_for 10 "the reload by systemctl" test "$(reloads)" -eq 3
sleep 0.3
[[ $(reloads) == 3 ]] || sb_fail "reloads: $(cat "$LOG")"

# stop: SIGTERM to the wrapper only (KillMode=mixed), passed on; the
# program's status is the service's.
systemctl stop reloader.service
grep -q '^stop' "$LOG" || sb_fail "the program was not told to stop"
unit_is_inactive reloader.service || sb_fail "reloader.service is $(systemctl is-active reloader.service)"
sb_wait_for 10 "the exit in the journal" sh -c \
    "journalctl -u reloader.service -o cat | grep -q 'reloader (pid $child) exited with status 0'"
sb_log "ok"
