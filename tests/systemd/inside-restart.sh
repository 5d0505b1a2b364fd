#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside tests/lib/private-systemd.sh (see test-restart-systemd.sh):
# the restart guarantee under the real systemd and our units. Clients of an
# unprivileged user stay connected across
#   1. `systemctl restart sigbrokerd.service`, with a sender sending while
#      the service restarts, and
#   2. `kill -9` of the main process, with Restart=on-failure bringing it
#      back; the daemon is stopped (SIGSTOP) first, so that a send made
#      while no daemon runs is certain to wait in its socket,
# and every signal a sender was told was queued arrives exactly once, in
# order. Those two run by default; with arguments NAME:HOW, only those:
#   kill-9-mid-write:midwrite
#      kill -9 the instant a delivery has been written to the receiver's
#      socket, before the daemon goes on (strace holds it at the exit of
#      that send(2)): the crash point where the journal does not yet say
#      the delivery was made.
# The clients (sb-client, run as nobody):
#   rx    a receiver with window 1 that reads nothing until told, so that
#         what is sent to it waits in the broker's queue across the restart:
#         RTMIN+1 (priority 5, distinct payloads) and USR1 (priority 0,
#         merged while one is pending, so delivered once with the count);
#   tx    the sender, one connection for the whole test;
#   idle  $IDLE more connections, each reached afterwards by its client id.
# Each scenario prints "lost connections: N, lost signals: N, duplicated: N"
# computed from what the clients saw, and the test fails unless all are 0.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/inside-systemd.sh"
. "$here/../lib/sb-client.sh"
SB_TEST_NAME=inside-restart

UNIT=sigbrokerd.service
USER_NAME=nobody
RT=35           # RTMIN+1
USR1=10
IDLE_SIG=36     # RTMIN+2
RT_PRIO=5       # above USR1's: every RTMIN+1 comes before the merged USR1
USR1_PRIO=0
IDLE=${SB_RESTART_IDLE:-64}
N_BEFORE=100    # RTMIN+1 sent before the restart
N_USR1=10       # USR1 sent before, and again after
N_DURING=60     # RTMIN+1 sent during the restart
DURING_DELAY_US=20000
N_AFTER=50      # RTMIN+1 sent after it

# Clients find the system socket on their own, as a user's would.
unset SIGBROKER_SOCKET XDG_RUNTIME_DIR
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
    local pid
    # A daemon left stopped by a failure would hold up systemd's exit.
    pid=$(unit_prop "$UNIT" MainPID 2>/dev/null) || pid=0
    [[ $pid == 0 ]] || kill -CONT "$pid" 2>/dev/null || true
    sbc_stop_all
    rm -rf "$tmp"
}
trap cleanup EXIT
sbc_init "$tmp/clients"

# --- clients ------------------------------------------------------------------
systemctl start sigbrokerd.socket
sbc_start rx "$USER_NAME"
sbc_start tx "$USER_NAME"
sbc_start idle "$USER_NAME"
# The first connection starts the service.
sbc_ok rx 30 connect 0 1 $RT $USR1
rx_id=$(sbc_field id)
rx_pid=$(sbc_field pid)
sbc_ok tx 10 connect 0 0
tx_id=$(sbc_field id)
sbc_ok idle 30 connect-many 0 "$IDLE" 0 $IDLE_SIG
mapfile -t idle_ids < <(awk '$1 == "id" { print $3 }' <<<"$SBC_DATA")
(( ${#idle_ids[@]} == IDLE )) || sb_fail "connect-many gave ${#idle_ids[@]} ids, want $IDLE"
n_conns=$(( IDLE + 2 ))
unit_is_active "$UNIT" || sb_fail "$UNIT is not active with clients connected"
sb_log "connected as $USER_NAME: rx (client $rx_id, pid $rx_pid, window 1), tx (client $tx_id), $IDLE idle clients"

# --- bookkeeping --------------------------------------------------------------
# $tmp/expected: the RTMIN+1 payloads accepted in this scenario, in send
# order; usr1_accepted: USR1 sends accepted (queued or merged).
usr1_accepted=0
last_seq=0

# record_sends SIGNO: the "res" lines of the last send-many; every send must
# have been accepted for exactly one receiver.
record_sends() {
    local signo=$1 payload q m rest n=0
    while read -r _ payload q m rest; do
        [[ $rest == *error=-* ]] || sb_fail "send of $payload failed: $q $m $rest"
        if (( signo == RT )); then
            [[ $q == queued=1 && $m == merged=0 ]] || sb_fail "send of $payload: $q $m, want queued=1"
            echo "$payload" >>"$tmp/expected"
        else
            [[ $q$m == queued=1merged=0 || $q$m == queued=0merged=1 ]] ||
                sb_fail "send of $payload: $q $m, want queued or merged"
            usr1_accepted=$(( usr1_accepted + 1 ))
        fi
        n=$(( n + 1 ))
    done < <(grep '^res ' <<<"$SBC_DATA")
    (( n == $(sbc_field sent) )) || sb_fail "send-many printed $n results, said sent=$(sbc_field sent)"
}

# send_batch SIGNO PRIO PREFIX N: N sends from tx to rx, each answered
# before the next.
send_batch() {
    sbc_ok tx 60 send-many 0 pid "$rx_pid" "$1" "$2" "$3" 0 "$4"
    record_sends "$1"
}

# daemon_status: a round trip through tx; sets d_pid, d_clients, d_pending.
daemon_status() {
    sbc_ok tx 10 status 0
    d_pid=$(sbc_field daemon_pid)
    d_clients=$(sbc_field clients)
    d_pending=$(sbc_field pending)
}

answered() {
    grep -c "^res $1-" "$SBC_DIR/tx.out" || true
}

# --- one scenario -------------------------------------------------------------
# problem TEXT: the scenario fails at its end, after its figures.
problem() {
    sb_log "$name: $*"
    problems+=("$*")
}

# tracing_stopped PID: the process is held by its tracer (state t).
tracing_stopped() {
    [[ $(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) == t ]]
}
traced() {
    [[ $(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null) != 0 ]]
}

# await_systemd_restart OLD_PID RESTARTS: Restart=on-failure brings the
# service back under a new pid.
await_systemd_restart() {
    sb_wait_for 30 "Restart=on-failure to bring $UNIT back" unit_restarted "$UNIT" "$1"
    (( $(unit_prop "$UNIT" NRestarts) == $2 + 1 )) ||
        sb_fail "NRestarts went from $2 to $(unit_prop "$UNIT" NRestarts): not restarted by systemd"
}

# scenario NAME HOW: HOW is restart (systemctl restart), kill (kill -9) or
# midwrite (kill -9 right after a write to the receiver).
scenario() {
    local name=$1 how=$2 problems=() old_pid new_pid restarts t0 t1 during_note n_rt want rx_lines= kept
    local n_during=$N_DURING n_read=0
    : >"$tmp/expected"
    usr1_accepted=0
    old_pid=$(unit_prop "$UNIT" MainPID)
    restarts=$(unit_prop "$UNIT" NRestarts)

    send_batch $RT $RT_PRIO "$name-before" $N_BEFORE
    send_batch $USR1 $USR1_PRIO "$name-usr1-before" $N_USR1
    daemon_status
    [[ $d_pid == "$old_pid" ]] || sb_fail "tx talks to daemon pid $d_pid, MainPID is $old_pid"
    (( d_clients == n_conns )) || sb_fail "the daemon counts $d_clients clients, want $n_conns"
    local pending_before=$d_pending

    t0=$(date +%s%N)
    case $how in
    restart|kill|midwrite) ;;
    *) sb_fail "unknown scenario kind '$how'" ;;
    esac
    case $how in
    restart)
        # Sends go on while the service restarts: each is answered by the old
        # daemon or waits in the socket for the new one.
        sbc_send tx send-many 0 pid "$rx_pid" $RT $RT_PRIO "$name-during" 0 $N_DURING $DURING_DELAY_US
        sleep 0.2
        local a0 a1
        a0=$(answered "$name-during")
        systemctl restart "$UNIT" || sb_fail "systemctl restart $UNIT failed"
        a1=$(answered "$name-during")
        t1=$(date +%s%N)
        sbc_wait tx 90
        [[ $SBC_REPLY == ok* ]] || sb_fail "tx, sending during the restart: $SBC_REPLY"
        record_sends $RT
        (( a1 > a0 && a1 < N_DURING )) ||
            sb_log "note: the restart did not fall within the sends ($a0 answered before it, $a1 after)"
        during_note="$N_DURING sends during the restart, $a0 answered before it began, $(( N_DURING - a1 )) after it ended"
        ;;
    kill)
        kill -STOP "$old_pid"
        sbc_send tx send-many 0 pid "$rx_pid" $RT $RT_PRIO "$name-during" 0 $N_DURING
        sleep 0.5
        (( $(answered "$name-during") == 0 )) || sb_fail "a send was answered by a stopped daemon"
        kill -KILL "$old_pid"
        await_systemd_restart "$old_pid" "$restarts"
        t1=$(date +%s%N)
        sbc_wait tx 90
        [[ $SBC_REPLY == ok* ]] || sb_fail "tx, sending to a killed daemon: $SBC_REPLY"
        record_sends $RT
        during_note="$N_DURING sends made while the daemon was stopped, then killed, answered by its successor"
        ;;
    midwrite)
        # The receiver takes two signals: its credit for the first lets the
        # daemon write the second, the daemon's first send(2) since strace
        # attached, and strace holds it at that call's exit; the receiver has
        # it already when the daemon dies.
        n_during=0
        strace -qq -p "$old_pid" -e trace=sendto -e inject=sendto:delay_exit=30s:when=1 \
            -o "$tmp/strace.log" &
        local strace_pid=$!
        sb_wait_for 10 "strace to attach to $old_pid" traced "$old_pid"
        sbc rx 20 recv 0 2 10000
        [[ $SBC_REPLY == ok* ]] || sb_fail "rx, reading two signals before the crash: $SBC_REPLY"
        rx_lines=$SBC_DATA
        n_read=2
        sb_wait_for 10 "the daemon to be held after its send(2)" tracing_stopped "$old_pid"
        kill -KILL "$old_pid"
        # A traced process's death goes to its tracer first: only once strace
        # is gone does systemd see it. SIGKILL: strace does not expect its
        # delayed tracee to die (no user-space code runs after the kill
        # either way).
        kill -KILL "$strace_pid"
        wait "$strace_pid" 2>/dev/null || true
        await_systemd_restart "$old_pid" "$restarts"
        t1=$(date +%s%N)
        during_note="killed as its send(2) of a delivery returned: $(head -n 1 "$tmp/strace.log" | cut -c1-60)..."
        ;;
    esac
    new_pid=$(unit_prop "$UNIT" MainPID)
    [[ $new_pid != "$old_pid" && $new_pid != 0 ]] || sb_fail "$UNIT has no new main process"
    unit_is_active "$UNIT" || sb_fail "$UNIT is not active after the $how"
    # READY=1 comes after the restore, and its STATUS= says what was restored.
    local status
    status=$(unit_prop "$UNIT" StatusText)
    [[ $status == "$n_conns clients, "* ]] ||
        problem "StatusText right after the $how is '$status', want '$n_conns clients, ...'"

    send_batch $RT $RT_PRIO "$name-after" $N_AFTER
    send_batch $USR1 $USR1_PRIO "$name-usr1-after" $N_USR1
    daemon_status
    [[ $d_pid == "$new_pid" ]] || problem "tx talks to daemon pid $d_pid, MainPID is $new_pid"
    (( d_clients == n_conns )) || problem "after the $how the daemon counts $d_clients clients, want $n_conns"
    # What the receiver did not read is still queued, plus the new RTMIN+1
    # (the new USR1 merged into the pending one). A delivery written in the
    # instant before a kill -9, before the journal had it, is still pending
    # for the new daemon: it writes it again and the library, which has
    # seen its sequence number, drops the repeat (counted below as a
    # duplicate if it did not).
    want=$(( pending_before - n_read + n_during + N_AFTER ))
    (( d_pending == want )) || { [[ $name == kill-9-mid-write ]] && (( d_pending == want + 1 )); } ||
        problem "after the $how $d_pending signals are pending, want $pending_before - $n_read + $n_during + $N_AFTER"

    # --- what the clients see ------------------------------------------------
    n_rt=$(wc -l <"$tmp/expected")
    want=$(( n_rt + 1 - n_read ))       # the USR1s arrive as one, with the merged count
    sbc rx 90 recv 0 "$want" 30000
    rx_lines+=${rx_lines:+$'\n'}$SBC_DATA
    local rx_ok=1
    [[ $SBC_REPLY == ok* || $SBC_REPLY == "err ETIMEDOUT"* ]] || rx_ok=0
    # Exactly once: nothing more comes.
    sbc rx 10 quiet 0 500
    rx_lines+=$'\n'$SBC_DATA
    [[ $SBC_REPLY == ok* || $SBC_REPLY == "err EEXIST"* ]] || rx_ok=0
    if (( rx_ok )); then
        sbc rx 10 status 0
        [[ $SBC_REPLY == ok* && $(sbc_field daemon_pid) == "$new_pid" ]] || rx_ok=0
    fi

    sbc tx 30 send-clients 0 $IDLE_SIG 0 "$name" "${idle_ids[@]}"
    local tx_ok=0 idle_kept=0
    # The idle clients are addressed by the ids they had before: ESRCH
    # (failed=) for one that did not come back.
    [[ $SBC_REPLY == ok* ]] && tx_ok=1
    sbc idle 60 recv-many 0 "$IDLE" 20000
    idle_kept=$(awk -v name="$name" -v ids="${idle_ids[*]}" '
        BEGIN { split(ids, id, " ") }
        $1 == "sig" { slot = $2; sub(/^payload=/, "", $9); if ($9 == name "-" id[slot + 1]) ok[slot] = 1 }
        END { n = 0; for (s in ok) n++; print n }' <<<"$SBC_DATA")
    kept=$(( rx_ok + tx_ok + idle_kept ))

    # Lost, duplicated, out of order: against the accepted sends, in order;
    # the receiver's sequence numbers go on from the previous scenario's.
    local accepted delivered lost dup ooo unexpected seq_gaps usr1_deliveries
    read -r accepted delivered lost dup ooo unexpected seq_gaps usr1_deliveries last_seq < <(
        awk -v expected="$tmp/expected" -v usr1_acc="$usr1_accepted" -v last_seq="$last_seq" \
            -v rt="$RT" -v usr1="$USR1" '
        BEGIN { while ((getline line < expected) > 0) index_of[line] = ++n_exp }
        $1 != "sig" { next }
        {
            for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
            if (f["seq"] != last_seq + 1) seq_gaps++
            last_seq = f["seq"]
            if (f["signo"] == usr1) {
                usr1_rec += 1 + f["merged"]; usr1_deliveries++; usr1_seen = 1
            } else if (f["signo"] == rt) {
                p = f["payload"]
                if (!(p in index_of)) { unexpected++; next }
                if (++seen[p] > 1) { dup++; next }
                got++
                # RTMIN+1 in send order, all of them before the USR1 (priority).
                if (index_of[p] < last_index || usr1_seen) ooo++
                last_index = index_of[p]
            } else unexpected++
        }
        END {
            lost = n_exp - got
            if (usr1_rec < usr1_acc) lost += usr1_acc - usr1_rec
            if (usr1_rec > usr1_acc) dup += usr1_rec - usr1_acc
            print n_exp + usr1_acc, got + usr1_rec, lost, dup + 0, ooo + 0, unexpected + 0, seq_gaps + 0,
                usr1_deliveries + 0, last_seq
        }' <<<"$rx_lines")

    local what
    case $how in
    restart) what="systemctl restart" ;;
    kill) what="kill -9, Restart=on-failure" ;;
    midwrite) what="kill -9 after a write, Restart=on-failure" ;;
    esac
    sb_log "$name ($what," \
        "pid $old_pid -> $new_pid in $(( (t1 - t0) / 1000000 )) ms): $during_note"
    sb_log "$name: connections kept $kept/$n_conns; signals accepted $accepted ($n_rt RTMIN+1," \
        "$usr1_accepted USR1 delivered as $usr1_deliveries), received $delivered"
    echo "$name: lost connections: $(( n_conns - kept )), lost signals: $lost, duplicated: $dup," \
        "out of order: $(( ooo + seq_gaps )), unexpected: $unexpected" | tee -a "$tmp/summary" >&2
    (( kept == n_conns )) || problem "$(( n_conns - kept )) connection(s) lost"
    (( lost == 0 && dup == 0 && ooo == 0 && seq_gaps == 0 && unexpected == 0 && usr1_deliveries == 1 )) ||
        problem "signals lost, duplicated or out of order; rx saw:"$'\n'"$rx_lines"
    (( ${#problems[@]} == 0 )) || sb_fail "$name: ${#problems[@]} problem(s), see above"
}

scenarios=("$@")
(( ${#scenarios[@]} > 0 )) || scenarios=(clean-restart:restart kill-9:kill)
for s in "${scenarios[@]}"; do
    scenario "${s%%:*}" "${s#*:}"
done

# --- the journal ----------------------------------------------------------------
journalctl --sync
restored=$(journalctl -u "$UNIT" -o cat --no-pager | grep -c "^Restored $n_conns clients " || true)
(( restored == ${#scenarios[@]} )) ||
    sb_fail "want ${#scenarios[@]} 'Restored $n_conns clients' journal entries, got $restored:" \
    "$(journalctl -u "$UNIT" -o cat --no-pager | tail -n 20)"
if journalctl -u "$UNIT" -o cat --no-pager | grep -q "Restart journal"; then
    sb_fail "the daemon complained about its restart journal: $(journalctl -u "$UNIT" -o cat --no-pager | grep "Restart journal")"
fi

systemctl stop sigbrokerd.socket "$UNIT"
sb_log "summary:"
cat "$tmp/summary" >&2
sb_log "ok"
