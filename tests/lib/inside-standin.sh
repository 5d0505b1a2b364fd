#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside tests/lib/private-systemd.sh (see test-private-systemd-harness.sh)
# with sb-standin installed as $SB_BIN/sigbrokerd: socket activation, a client
# of another user, reload, restart, the fd store, Restart=on-failure and the
# journal, through our real sigbrokerd.socket and sigbrokerd.service.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/inside-systemd.sh"
SB_TEST_NAME=inside-standin

SOCK=/run/sigbroker/sigbroker.sock
tmp=$(mktemp -d)
client_pid=
cleanup() {
    [[ -z $client_pid ]] || sb_stop_pid "$client_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- the socket unit ---------------------------------------------------------
systemctl start sigbrokerd.socket
[[ -S $SOCK ]] || sb_fail "$SOCK was not created by sigbrokerd.socket"
[[ $(stat -c %a "$SOCK") == 666 ]] || sb_fail "$SOCK has mode $(stat -c %a "$SOCK"), want 666"
[[ $(stat -c %a "${SOCK%/*}") == 755 ]] || sb_fail "${SOCK%/*} has mode $(stat -c %a "${SOCK%/*}"), want 755"
[[ $(systemctl is-active sigbrokerd.service) == inactive ]] ||
    sb_fail "sigbrokerd.service runs before anyone connected"

# --- a client of another user activates the service --------------------------
runuser -u nobody -- "$SB_BIN/sb-standin" --connect "$SOCK" --hold 60 >"$tmp/answer" 2>&1 &
client_pid=$!
sb_wait_for 10 "the stand-in's answer to nobody" test -s "$tmp/answer"
answer=$(cat "$tmp/answer")
sb_log "stand-in answered: $answer"
[[ $answer == *" uid=65534 "* ]] || sb_fail "SO_PEERCRED did not report nobody: $answer"
# What the broker must be able to learn about a peer of another user from
# inside its sandbox (SO_PEERPIDFD needs Linux 6.5).
for want in pgid=ok sid=ok status=ok capget=ok; do
    [[ $answer == *"$want"* ]] || sb_fail "sandbox forbids what the broker needs ($want): $answer"
done
[[ $answer == *pidfd=ok* || $answer == *pidfd=ENOPROTOOPT* ]] || sb_fail "SO_PEERPIDFD failed: $answer"

sb_wait_for 10 "sigbrokerd.service to be active" unit_is_active sigbrokerd.service
pid=$(unit_prop sigbrokerd.service MainPID)
check_sandboxed "$pid"
unit_status_is sigbrokerd.service "Serving, 0 client(s) restored" ||
    sb_fail "unexpected StatusText: $(unit_prop sigbrokerd.service StatusText)"
grep -q 'Status: "Serving' <<<"$(systemctl status --no-pager sigbrokerd.service)" ||
    sb_fail "systemctl status shows no Status: line: $(systemctl status --no-pager sigbrokerd.service)"

# --- reload, restart with the fd store, crash --------------------------------
systemctl reload sigbrokerd.service
sb_wait_for 10 "the reload to show in StatusText" unit_status_is sigbrokerd.service "Reloaded, 1 client(s)"
[[ $(unit_prop sigbrokerd.service MainPID) == "$pid" ]] || sb_fail "reload replaced the main process"

systemctl restart sigbrokerd.service
new_pid=$(unit_prop sigbrokerd.service MainPID)
[[ $new_pid != "$pid" && $new_pid != 0 ]] || sb_fail "restart kept MainPID $pid"
unit_status_is sigbrokerd.service "Serving, 1 client(s) restored" ||
    sb_fail "the fd store lost the client over a restart: $(unit_prop sigbrokerd.service StatusText)"
[[ -S $SOCK ]] || sb_fail "restarting the service removed $SOCK"

kill -KILL "$new_pid"
sb_wait_for 10 "Restart=on-failure to bring the service back" unit_restarted sigbrokerd.service "$new_pid"
unit_status_is sigbrokerd.service "Serving, 1 client(s) restored" ||
    sb_fail "the fd store lost the client over a crash: $(unit_prop sigbrokerd.service StatusText)"

# --- the journal --------------------------------------------------------------
journalctl --sync
starts=$(journalctl -u sigbrokerd -o json --no-pager _SYSTEMD_UNIT=sigbrokerd.service SIGBROKER_STANDIN=start)
[[ $(grep -c . <<<"$starts") -eq 3 ]] || sb_fail "want 3 start entries from sigbrokerd.service, got: $starts"
grep -q '"SIGBROKER_RESTORED":"1"' <<<"$starts" || sb_fail "no start entry with SIGBROKER_RESTORED=1: $starts"
journal_has _SYSTEMD_UNIT=sigbrokerd.service SIGBROKER_STANDIN=peer SIGBROKER_PEER_UID=65534 ||
    sb_fail "no journal entry for the peer nobody"
journal_has _SYSTEMD_UNIT=sigbrokerd.service SIGBROKER_STANDIN=reload || sb_fail "no journal entry for the reload"

# --- stopping the socket stops everything and removes the socket -------------
systemctl stop sigbrokerd.socket
# The service's stop is a job of its own, which systemctl does not wait
# for; a slow exit (sanitizers, load) is still a clean one if it ends.
sb_wait_for 30 "sigbrokerd.service to stop with its socket" unit_is_inactive sigbrokerd.service
[[ ! -e $SOCK ]] || sb_fail "$SOCK left behind after stopping sigbrokerd.socket"
sb_log "ok"
