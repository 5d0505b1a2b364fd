#!/bin/bash
# Runs inside tests/lib/private-systemd.sh (see test-private-systemd.sh) with
# sigbrokerd and sigbrokerctl in $SB_BIN: a signal with a payload from root
# to a listener of another user through the socket-activated daemon, then
# status, reload, restart and the journal.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/inside-systemd.sh"
SB_TEST_NAME=inside-sigbrokerd

SOCK=/run/sigbroker/sigbroker.sock
CTL=$SB_BIN/sigbrokerctl
# Clients find the system socket on their own, as a user's would.
unset SIGBROKER_SOCKET XDG_RUNTIME_DIR
tmp=$(mktemp -d)
chmod 755 "$tmp"
listener=
cleanup() {
    [[ -z $listener ]] || sb_stop_pid "$listener"
    rm -rf "$tmp"
}
trap cleanup EXIT

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
grep -q 'Status: "' <<<"$(systemctl status --no-pager sigbrokerd.service)" ||
    sb_fail "systemctl status shows no Status: line (STATUS= via sd_notify)"

systemctl reload sigbrokerd.service || sb_fail "systemctl reload failed"
unit_is_active sigbrokerd.service || sb_fail "sigbrokerd.service is not active after reload"
[[ $(unit_prop sigbrokerd.service MainPID) == "$pid" ]] || sb_fail "reload replaced the main process"

systemctl restart sigbrokerd.service || sb_fail "systemctl restart failed"
unit_restarted sigbrokerd.service "$pid" || sb_fail "sigbrokerd.service did not come back under a new pid"
[[ -S $SOCK ]] || sb_fail "restarting the service removed $SOCK"

# --- the journal --------------------------------------------------------------
# TODO once the catalog exists: require the start MESSAGE_ID and SIGBROKER_ fields.
journalctl --sync
entries=$(journalctl -u sigbrokerd -o json --no-pager)
grep -q '"_SYSTEMD_UNIT":"sigbrokerd.service"' <<<"$entries" ||
    sb_fail "no journal entry from the sigbrokerd.service process: $(journalctl -u sigbrokerd --no-pager)"

systemctl stop sigbrokerd.socket
[[ $(systemctl is-active sigbrokerd.service) == inactive ]] || sb_fail "sigbrokerd.service survived its socket"
sb_log "ok"
