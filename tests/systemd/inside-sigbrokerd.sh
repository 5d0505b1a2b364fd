#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside tests/lib/private-systemd.sh (see test-private-systemd.sh) with
# sigbrokerd and sigbrokerctl in $SB_BIN: a signal with a payload from root
# to a listener of another user through the socket-activated daemon, then
# the service's status text (clients, pending signals), reload, restart and
# the journal: the start and ready entries by MESSAGE_ID, with their call
# site; status and the ready entry name the socket the unit passed.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/inside-systemd.sh"
. "$here/../lib/sb-client.sh"
SB_TEST_NAME=inside-sigbrokerd

# daemon/shared/log.h
SB_MID_STARTED=c93ea2d811d24cc9bbcd1ca6fb567984
SB_MID_READY=c4a7e4354fb847308ebd266833974aa5

SOCK=/run/sigbroker/sigbroker.sock
CTL=$SB_BIN/sigbrokerctl
# Clients find the system socket on their own, as a user's would.
unset SIGBROKER_SOCKET XDG_RUNTIME_DIR
tmp=$(mktemp -d)
chmod 755 "$tmp"
listener=
cleanup() {
    [[ -z $listener ]] || sb_stop_pid "$listener"
    sbc_stop_all
    rm -rf "$tmp"
}
trap cleanup EXIT
sbc_init "$tmp/clients"

systemctl start sigbrokerd.socket
[[ -S $SOCK ]] || sb_fail "$SOCK was not created by sigbrokerd.socket"
[[ $(stat -c %a "$SOCK") == 666 ]] || sb_fail "$SOCK has mode $(stat -c %a "$SOCK"), want 666"

# --- nobody listens, root sends ----------------------------------------------
# The shell records its pid and becomes the listener: runuser itself forks.
install -m 644 -o nobody /dev/null "$tmp/listener.pid"
runuser -u nobody -- sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$tmp/listener.pid" \
    "$CTL" --json listen --count 1 --timeout 60 RTMIN+1 >"$tmp/out" 2>"$tmp/err" &
listener=$!
listener_ready() {
    kill -0 "$listener" 2>/dev/null || sb_fail "listener exited before ready: $(cat "$tmp/err")"
    grep -qx ready "$tmp/err"
}
sb_wait_for 20 "the listener's ready line" listener_ready
lpid=$(cat "$tmp/listener.pid")
[[ $lpid =~ ^[0-9]+$ ]] || sb_fail "no listener pid: $(cat "$tmp/err")"

"$CTL" send --pid "$lpid" --payload hello RTMIN+1 || sb_fail "sigbrokerctl send failed"
sb_wait_for 10 "the listener to exit after one signal" sb_exited "$listener"
rc=0
wait "$listener" || rc=$?
listener=
(( rc == 0 )) || sb_fail "listener exited with $rc: $(cat "$tmp/err")"
out=$(cat "$tmp/out")
# base64("hello") = aGVsbG8=, RTMIN+1 = 35
grep -q '"payload_base64": *"aGVsbG8="' <<<"$out" || sb_fail "payload hello not received: $out"
grep -q '"signo": *35[,}]' <<<"$out" || sb_fail "not RTMIN+1 (35): $out"
grep -q '"sender_uid": *0[,}]' <<<"$out" || sb_fail "sender_uid is not 0: $out"

# --- the service --------------------------------------------------------------
unit_is_active sigbrokerd.service || sb_fail "sigbrokerd.service is not active"
pid=$(unit_prop sigbrokerd.service MainPID)
check_sandboxed "$pid"

# --- the socket systemd passed, by its path ----------------------------------
st=$("$CTL" status) || sb_fail "sigbrokerctl status failed"
grep -qx "  socket: *$SOCK (socket activation)" <<<"$st" ||
    sb_fail "status does not show the socket unit's path $SOCK: $st"
sb_log "sigbrokerctl status shows: $(grep socket: <<<"$st")"
st=$("$CTL" --json status) || sb_fail "sigbrokerctl --json status failed"
grep -qF "\"socket\":\"$SOCK\",\"socket_activated\":true" <<<"$st" ||
    sb_fail "the status answer lacks \"socket\":\"$SOCK\": $st"

# --- the status text: clients and pending signals ----------------------------
# A receiver of nobody's with window 1 that reads nothing: of three signals
# one is in flight, two wait in the broker.
sbc_start held nobody
sbc_ok held 20 connect 0 1 36
held_pid=$(sbc_field pid)
for i in 1 2 3; do
    "$CTL" send --pid "$held_pid" --payload "held-$i" RTMIN+2 >/dev/null || sb_fail "send held-$i failed"
done
# "1 client", "2 signals": singular for one.
status_counts() {
    local c=clients s=signals
    (( $1 == 1 )) && c=client
    (( $2 == 1 )) && s=signal
    [[ $(unit_prop sigbrokerd.service StatusText) == "$1 $c, $2 $s pending, "* ]]
}
# STATUS= is sent every 2 s (half the watchdog interval if shorter).
if ! ( sb_wait_for 10 "StatusText" status_counts 1 2 ) 2>/dev/null; then
    sb_fail "StatusText is '$(unit_prop sigbrokerd.service StatusText)', want '1 client, 2 signals pending, ...'"
fi
grep -q 'Status: "1 client, 2 signals pending, ' <<<"$(systemctl status --no-pager sigbrokerd.service)" ||
    sb_fail "systemctl status does not show the status text: $(systemctl status --no-pager sigbrokerd.service)"

systemctl reload sigbrokerd.service || sb_fail "systemctl reload failed"
unit_is_active sigbrokerd.service || sb_fail "sigbrokerd.service is not active after reload"
[[ $(unit_prop sigbrokerd.service MainPID) == "$pid" ]] || sb_fail "reload replaced the main process"

systemctl restart sigbrokerd.service || sb_fail "systemctl restart failed"
unit_restarted sigbrokerd.service "$pid" || sb_fail "sigbrokerd.service did not come back under a new pid"
[[ -S $SOCK ]] || sb_fail "restarting the service removed $SOCK"
# READY=1 comes with the status of what the new instance restored.
status_counts 1 2 || sb_fail "StatusText after the restart: '$(unit_prop sigbrokerd.service StatusText)'," \
    "want '1 client, 2 signals pending, ...'"
sbc_ok held 20 recv 0 3 10000
[[ $(sed 's/.* payload=//' <<<"$SBC_DATA" | tr '\n' ' ') == "held-1 held-2 held-3 " ]] ||
    sb_fail "the held receiver got, after the restart:"$'\n'"$SBC_DATA"

# --- the journal --------------------------------------------------------------
journalctl --sync
entries=$(journalctl -u sigbrokerd -o json --no-pager)
grep -q '"_SYSTEMD_UNIT":"sigbrokerd.service"' <<<"$entries" ||
    sb_fail "no journal entry from the sigbrokerd.service process: $(journalctl -u sigbrokerd --no-pager)"
# Each of the two instances logged "starting" then "ready", by MESSAGE_ID,
# as structured entries of its own process with its SYSLOG_IDENTIFIER.
# (One JSON object per line, fields in no fixed order.)
field() {
    sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$2"
}
sequence=
while IFS= read -r e; do
    mid=$(field MESSAGE_ID "$e")
    case $mid in
    "$SB_MID_STARTED") what=started ;;
    "$SB_MID_READY") what=ready ;;
    *) continue ;;
    esac
    [[ $(field SYSLOG_IDENTIFIER "$e") == sigbrokerd && $(field _SYSTEMD_UNIT "$e") == sigbrokerd.service &&
       $(field PRIORITY "$e") == 6 ]] ||
        sb_fail "the $what entry lacks SYSLOG_IDENTIFIER=sigbrokerd, _SYSTEMD_UNIT or PRIORITY=6: $e"
    # The call site, in the source tree, not the logging helper's.
    [[ $(field CODE_FILE "$e") == daemon/main.c && $(field CODE_FUNC "$e") == main ]] ||
        sb_fail "the $what entry does not point at its call in daemon/main.c: $e"
    sequence+="$what:$(field _PID "$e") "
done <<<"$entries"
[[ $sequence =~ ^started:([0-9]+)\ ready:([0-9]+)\ started:([0-9]+)\ ready:([0-9]+)\ $ &&
   ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" && ${BASH_REMATCH[3]} == "${BASH_REMATCH[4]}" &&
   ${BASH_REMATCH[1]} == "$pid" && ${BASH_REMATCH[3]} == "$(unit_prop sigbrokerd.service MainPID)" ]] ||
    sb_fail "want started, ready from pid $pid then from its successor; the journal has: ${sequence:-nothing}" \
        "$(journalctl -u sigbrokerd -o verbose --no-pager | tail -n 60)"
journal_has -u sigbrokerd MESSAGE_ID=$SB_MID_READY _PID="$(unit_prop sigbrokerd.service MainPID)" ||
    sb_fail "journalctl finds no MESSAGE_ID=$SB_MID_READY entry of the running daemon"
ready_text=$(journalctl -u sigbrokerd -o cat --no-pager MESSAGE_ID=$SB_MID_READY | tail -n 1)
[[ $ready_text == *"ready, listening on $SOCK (socket activation)" ]] ||
    sb_fail "the ready entry does not name $SOCK: $ready_text"
sb_log "the ready entry: $ready_text"

systemctl stop sigbrokerd.socket
# The service's stop is a job of its own, which systemctl does not wait
# for; a slow exit (sanitizers, load) is still a clean one if it ends.
sb_wait_for 30 "sigbrokerd.service to stop with its socket" unit_is_inactive sigbrokerd.service
sb_log "ok"
