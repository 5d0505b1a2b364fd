#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real sigbrokerd ($SIGBROKERD) and sd_notify, outside systemd: this
# test owns NOTIFY_SOCKET (sb-notify-recv, $SB_NOTIFY_RECV) and checks what
# systemd would be told, and when:
#   - READY=1 only once the socket accepts connections: sb-notify-recv
#     connects to it the instant READY=1 arrives (the daemon binds its own
#     socket with --socket, so nothing accepts before the daemon listens);
#     READY=1 carries MAINPID= and STATUS=;
#   - the restart journal in the fd store before READY=1 (FDSTORE=1,
#     FDNAME=state-N, FDPOLL=0), and each client as it connects (c<id>);
#   - STATUS= with the counts of clients and pending signals;
#   - WATCHDOG=1 every WATCHDOG_USEC/2 with WATCHDOG_USEC=2000000 and
#     WATCHDOG_PID set to the daemon's pid, as systemd sets them; not at
#     that pace when WATCHDOG_PID names another process (sd_watchdog_enabled's
#     rule);
#   - SIGHUP: RELOADING=1 with MONOTONIC_USEC=, then READY=1;
#   - SIGTERM: STOPPING=1, the clients left in the store, exit status 0.
# Runs under tests/lib/with-journald.sh, so that the daemon's journal
# entries stay off the host; the reload and stop entries are checked there.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/sb-client.sh"

[[ -x ${SIGBROKERD-} && -x ${SB_CLIENT-} ]] ||
    sb_skip "SIGBROKERD and SB_CLIENT must name the built sigbrokerd and sb-client"
[[ -x ${SB_NOTIFY_RECV-} ]] || sb_fail "SB_NOTIFY_RECV must name the built sb-notify-recv"
if [[ ${1-} != --inside ]]; then
    exec "$here/../lib/with-journald.sh" "$(readlink -f "$0")" --inside
fi

# daemon/shared/log.h
SB_MID_RELOADED=66008dc3351049cebed17bfee709d457
SB_MID_STOPPED=15e288b532114ff1be82a5eaf83f10c3
WATCHDOG_USEC=2000000

# Not under /run: with-journald.sh mounted a tmpfs of its own there.
tmp=$(mktemp -d /tmp/sb-notify.XXXXXX)
pids=()
cleanup() {
    local p
    sbc_stop_all
    for p in "${pids[@]}"; do sb_stop_pid "$p" 2; done
    rm -rf "$tmp"
}
trap cleanup EXIT
sbc_init "$tmp/clients"
: >"$tmp/sigbroker.conf"        # empty: the defaults, and a reload succeeds

# --- datagrams, as sb-notify-recv prints them: blank-line separated ------------
# find_dgram NAME FROM ERE: the number of the first datagram after the
# FROMth with a line matching ERE (anchored), or nothing.
find_dgram() {
    awk -v RS= -v from="$2" -v re="^($3)\$" '
        NR > from { n = split($0, l, "\n"); for (i = 1; i <= n; i++) if (l[i] ~ re) { print NR; exit } }' \
        "$tmp/$1.out"
}
dgram() {
    awk -v RS= -v k="$2" 'NR == k' "$tmp/$1.out"
}
dgram_count() {
    awk -v RS= 'END { print NR }' "$tmp/$1.out"
}
# dgram_value NAME K KEY: KEY's value in datagram K.
dgram_value() {
    dgram "$1" "$2" | sed -n "s/^$3=//p" | head -n 1
}
# wait_dgram NAME FROM ERE SECONDS: sets DG to the datagram's number.
wait_dgram() {
    local deadline=$(( $(date +%s%N) + $4 * 1000000000 ))
    until DG=$(find_dgram "$1" "$2" "$3"); [[ -n $DG ]]; do
        (( $(date +%s%N) < deadline )) ||
            sb_fail "$1: no datagram with a line '$3' after #$2 within $4s; got:"$'\n'"$(cat "$tmp/$1.out")"
        sleep 0.05
    done
}
# no_dgram NAME FROM ERE: fails if a datagram after the FROMth has such a line.
no_dgram() {
    local k
    k=$(find_dgram "$1" "$2" "$3")
    [[ -z $k ]] || sb_fail "$1: unexpected datagram #$k:"$'\n'"$(dgram "$1" "$k")"
}

# start NAME WATCHDOG_PID: a notify socket, and sigbrokerd on $tmp/NAME.sock
# with WATCHDOG_USEC and WATCHDOG_PID (self: the daemon's own pid); sets
# the daemon's pid in DPID.
start() {
    local name=$1 wpid=$2 recv
    "$SB_NOTIFY_RECV" --timestamps --creds --connect-on-ready "$tmp/$name.sock" --timeout 120 \
        "$tmp/$name.notify" >"$tmp/$name.out" 2>"$tmp/$name.recv.err" &
    recv=$!
    pids+=("$recv")
    sb_wait_for 10 "sb-notify-recv to bind $tmp/$name.notify" test -S "$tmp/$name.notify"
    # exec keeps the shell's pid: WATCHDOG_PID=$$ is the daemon's, as
    # systemd passes it.
    NOTIFY_SOCKET=$tmp/$name.notify WATCHDOG_USEC=$WATCHDOG_USEC \
        sh -c 'if [ "$1" = self ]; then WATCHDOG_PID=$$; else WATCHDOG_PID=$1; fi; export WATCHDOG_PID
               shift; exec "$@"' \
        sh "$wpid" "$SIGBROKERD" --socket "$tmp/$name.sock" --config "$tmp/sigbroker.conf" \
        2>"$tmp/$name.daemon.err" &
    DPID=$!
    pids+=("$DPID")
}

# --- start: the journal in the store, then READY=1 once connections work -------
start a self
a_pid=$DPID
start b 1       # WATCHDOG_PID names another process: no watchdog pings
b_pid=$DPID

wait_dgram a 0 'READY=1' 20
ready=$DG
(( $(find_dgram a 0 'READY=1') == ready )) || sb_fail "READY=1 sent twice at start"
block=$(dgram a "$ready")
grep -qx '_CONNECT=ok' <<<"$block" ||
    sb_fail "READY=1 before the socket accepts connections:"$'\n'"$block"$'\n'"$(cat "$tmp/a.daemon.err")"
grep -qx "MAINPID=$a_pid" <<<"$block" || sb_fail "READY=1 without MAINPID=$a_pid:"$'\n'"$block"
grep -qx "_PID=$a_pid" <<<"$block" || sb_fail "READY=1 not sent by the daemon itself:"$'\n'"$block"
grep -qx 'STATUS=0 clients, 0 signals pending, 0 delivered' <<<"$block" ||
    sb_fail "READY=1 without STATUS=0 clients, 0 signals pending, 0 delivered:"$'\n'"$block"
journal=$(find_dgram a 0 'FDNAME=state-[0-9]+')
[[ -n $journal ]] && (( journal < ready )) || sb_fail "no restart journal stored before READY=1:"$'\n'"$(cat "$tmp/a.out")"
block=$(dgram a "$journal")
grep -qx 'FDSTORE=1' <<<"$block" && grep -qx 'FDPOLL=0' <<<"$block" && grep -qx '_FDS=1' <<<"$block" ||
    sb_fail "the restart journal is not stored as FDSTORE=1, FDPOLL=0 with one fd:"$'\n'"$block"
sb_log "READY=1 is datagram #$ready, the socket accepted a connection right after it"

# --- clients in the store, STATUS= with their counts ----------------------------
sbc_start c root --socket "$tmp/a.sock"
sbc_ok c 10 connect 0 0
id0=$(sbc_field id)
sbc_ok c 10 connect 1 1 36             # window 1: of three signals two wait
id1=$(sbc_field id)
sbc_ok c 10 send-many 0 client "$id1" 36 0 held 0 3
for id in "$id0" "$id1"; do
    k=$(find_dgram a "$ready" "FDNAME=c$id")
    [[ -n $k ]] || sb_fail "client $id not handed to the fd store:"$'\n'"$(cat "$tmp/a.out")"
    block=$(dgram a "$k")
    grep -qx 'FDSTORE=1' <<<"$block" && grep -qx 'FDPOLL=0' <<<"$block" && grep -qx '_FDS=1' <<<"$block" ||
        sb_fail "client $id is not stored as FDSTORE=1, FDPOLL=0 with one fd:"$'\n'"$block"
done
wait_dgram a "$ready" 'STATUS=2 clients, 2 signals pending, [0-9]+ delivered' 10

# --- the watchdog: WATCHDOG_USEC/2 ---------------------------------------------
# watchdog_intervals NAME FROM: the pings so far after datagram FROM and
# the intervals between them (min max mean, in us).
watchdog_intervals() {
    awk -v RS= -v from="$2" '
        NR <= from { next }
        { t = ""; w = 0; n = split($0, l, "\n")
          for (i = 1; i <= n; i++) { if (l[i] == "WATCHDOG=1") w = 1; if (l[i] ~ /^_MONOTONIC_USEC=/) t = substr(l[i], 17) } }
        !w { next }
        pings++ { d = t - last; k++; sum += d; if (k == 1 || d < min) min = d; if (d > max) max = d }
        { last = t }
        END { printf "%d %d %d %d\n", pings, min, max, k ? sum / k : 0 }' "$tmp/$1.out"
}
enough_pings() {
    (( $(watchdog_intervals a "$ready" | cut -d' ' -f1) >= 6 ))
}
sb_wait_for 15 "six WATCHDOG=1 after READY=1" enough_pings
read -r n_pings min max mean < <(watchdog_intervals a "$ready")
sb_log "WATCHDOG=1 with WATCHDOG_USEC=$WATCHDOG_USEC: $n_pings pings, intervals min ${min} us, max ${max} us," \
    "mean ${mean} us"
(( mean >= WATCHDOG_USEC * 4 / 10 && mean <= WATCHDOG_USEC * 6 / 10 )) ||
    sb_fail "WATCHDOG=1 every ${mean} us on average, want about $(( WATCHDOG_USEC / 2 ))"
(( max < WATCHDOG_USEC * 9 / 10 )) || sb_fail "a WATCHDOG=1 came ${max} us after the one before: too late"

# Instance b: WATCHDOG_PID=1 is not the daemon, so sd_watchdog_enabled()
# says the manager expects no keep-alives and the daemon must not adopt
# WATCHDOG_USEC/2: at most its 2 s status tick. (It does send WATCHDOG=1
# with that tick, which a manager without a watchdog ignores.)
wait_dgram b 0 'READY=1' 20
b_ready=$DG
wait_dgram b "$b_ready" 'STATUS=.*' 10
read -r b_pings b_min _ < <(watchdog_intervals b "$b_ready")
(( b_pings < 2 || b_min >= WATCHDOG_USEC * 3 / 4 )) ||
    sb_fail "with WATCHDOG_PID=1 the daemon pinged every ${b_min} us: it took WATCHDOG_USEC as its own"
sb_log "with WATCHDOG_PID=1: $b_pings WATCHDOG=1, at least ${b_min} us apart (the status tick)"
kill -TERM "$b_pid"

# --- SIGHUP: RELOADING=1, then READY=1 ------------------------------------------
mark=$(dgram_count a)
kill -HUP "$a_pid"
wait_dgram a "$mark" 'READY=1' 10
reready=$DG
reloading=$(find_dgram a "$mark" 'RELOADING=1')
[[ -n $reloading ]] && (( reloading < reready )) ||
    sb_fail "SIGHUP: no RELOADING=1 before READY=1:"$'\n'"$(tail -n 30 "$tmp/a.out")"
block=$(dgram a "$reloading")
mono=$(dgram_value a "$reloading" MONOTONIC_USEC)
at=$(dgram_value a "$reloading" _MONOTONIC_USEC)
[[ $mono =~ ^[0-9]+$ ]] && (( mono <= at && at - mono < 1000000 )) ||
    sb_fail "RELOADING=1 without a MONOTONIC_USEC= of the time it was sent (got '$mono', received at $at)"
no_dgram a "$mark" 'STOPPING=1'

# --- SIGTERM: STOPPING=1, the clients stay in the store, exit 0 ------------------
mark=$(dgram_count a)
kill -TERM "$a_pid"
sb_wait_for 10 "sigbrokerd to exit on SIGTERM" sb_exited "$a_pid"
rc=0
wait "$a_pid" || rc=$?
(( rc == 0 )) || sb_fail "sigbrokerd exited with status $rc on SIGTERM: $(cat "$tmp/a.daemon.err")"
wait_dgram a "$mark" 'STOPPING=1' 5
no_dgram a "$mark" 'FDSTOREREMOVE=1'
[[ ! -e $tmp/a.sock ]] || sb_fail "sigbrokerd left its socket $tmp/a.sock behind"

journalctl --sync
for mid in $SB_MID_RELOADED $SB_MID_STOPPED; do
    [[ -n $(journalctl -D "$JOURNAL_DIR" --no-pager -o cat MESSAGE_ID=$mid _PID="$a_pid") ]] ||
        sb_fail "no journal entry with MESSAGE_ID=$mid from sigbrokerd:" \
            "$(journalctl -D "$JOURNAL_DIR" --no-pager -o verbose | tail -n 40)"
done
sb_log "ok"
