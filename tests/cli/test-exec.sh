#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sigbrokerctl exec end to end against the real daemon: an unmodified shell
# program that traps HUP and USR1 and records what it got (and the payload
# line it read from its --payload-fd) is driven through the broker by its
# group and its pid; a sender of the same user reaches it, a second real
# user gets EPERM and leaves it untouched; the kernel signal carries the
# broker's sequence number (si_value) and SI_QUEUE; exit statuses and
# SIGTERM are passed through.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"

: "${SIGBROKERD:?run through meson}" "${SIGBROKERCTL:?run through meson}"
sb_require_root
sb_require_cmd useradd setpriv python3

U1=sbtest1
U2=sbtest2
# useradd fails while another one holds the lock on /etc/passwd (other
# tests create the same users): try again.
for u in $U1 $U2; do
    for _ in $(seq 50); do
        id "$u" >/dev/null 2>&1 && break
        useradd --system --no-create-home --shell /usr/sbin/nologin "$u" 2>/dev/null || sleep 0.1
    done
    id "$u" >/dev/null 2>&1 || sb_fail "cannot create user $u"
done
uid1=$(id -u $U1)

dir=$(mktemp -d /tmp/sbexec-XXXXXX)
chmod 755 "$dir"
sock=$dir/sock
daemon_pid=
wrappers=()
cleanup() {
    local p
    for p in "${wrappers[@]}"; do sb_stop_pid "$p" 2; done
    [[ -z $daemon_pid ]] || sb_stop_pid "$daemon_pid"
    rm -rf "$dir"
}
trap cleanup EXIT

# SB_DAEMON_WRAPPER: valgrind in CI's run of this suite.
# shellcheck disable=SC2086
${SB_DAEMON_WRAPPER:-} "$SIGBROKERD" --socket "$sock" --config /dev/null 2>"$dir/daemon.log" &
daemon_pid=$!
sb_wait_for 60 "the daemon's socket" test -S "$sock"

ctl() { "$SIGBROKERCTL" --socket "$sock" "$@"; }
as() {
    local u=$1
    shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups -- "$@"
}
# reap PID: waits for it, its exit status in $status.
reap() { status=0; wait "$1" || status=$?; }
lines() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
has_line() { grep -q -- "$2" "$1" 2>/dev/null; }

# The program: traps HUP and USR1, reads the payload line of each from
# fd 5, records "NAME LINE"; TERM ends it with status 3.
cat >"$dir/reloader.sh" <<'EOF'
#!/bin/bash
out=$1
got() { local line=""; read -r -t 5 line <&5 || true; echo "$1 $line" >>"$out"; }
trap 'got HUP' HUP
trap 'got USR1' USR1
trap 'echo TERM >>"$out"; exit 3' TERM
echo "ready $$" >>"$out"
while :; do sleep 1 & wait $! || true; done
EOF
chmod 755 "$dir/reloader.sh"

# --- 1. run by sbtest1 in group web; sbtest1 reloads it, sbtest2 may not ----
mkdir "$dir/u1"
chown $U1 "$dir/u1"
got=$dir/u1/got
# setpriv execs sigbrokerctl: $! is the wrapper.
setpriv --reuid=$U1 --regid="$(id -g $U1)" --clear-groups -- \
    "$SIGBROKERCTL" --socket "$sock" exec --group web --payload-fd 5 -- \
    "$dir/reloader.sh" "$got" 2>"$dir/exec1.err" &
wrapper=$!
wrappers+=("$wrapper")
sb_wait_for 10 "the program to start" has_line "$got" '^ready '
child=$(awk '/^ready/ {print $2}' "$got")
[[ $(ps -o ppid= "$child" | tr -d ' ') == "$wrapper" ]] || sb_fail "$child is not the wrapper's child"

as $U1 "$SIGBROKERCTL" --socket "$sock" send --group web HUP >"$dir/s1.out" ||
    sb_fail "sbtest1 could not send HUP to group web: $(cat "$dir/s1.out")"
grep -q 'queued=1' "$dir/s1.out" || sb_fail "send result: $(cat "$dir/s1.out")"
sb_wait_for 10 "the program to get HUP" has_line "$got" '^HUP '
grep '^HUP ' "$got" | grep -q "\"signo\":1,\"name\":\"HUP\".*\"sender_uid\":$uid1," ||
    sb_fail "HUP line: $(cat "$got")"

# By pid and by process group, with a payload.
ctl send --pid "$child" --payload reload-now USR1 >/dev/null || sb_fail "send --pid $child failed"
sb_wait_for 10 "the program to get USR1" has_line "$got" '^USR1 '
grep '^USR1 ' "$got" | grep -q '"payload_base64":"cmVsb2FkLW5vdw=="' || sb_fail "USR1 line: $(cat "$got")"
ctl send --pgid "$(ps -o pgid= "$child" | tr -d ' ')" HUP >/dev/null || sb_fail "send --pgid failed"
sb_wait_for 10 "the second HUP" test "$(grep -c '^HUP ' "$got")" -eq 2

# The wrapper is not the broker's client: its pid is no target.
ctl send --pid "$wrapper" HUP >/dev/null 2>&1 && sb_fail "send --pid of the wrapper found a receiver"

# sbtest2: EPERM by group and by pid, nothing reaches the program.
before=$(lines "$got")
set +e
as $U2 "$SIGBROKERCTL" --socket "$sock" send --group web HUP >"$dir/e.out" 2>"$dir/e.err"
status=$?
set -e
[[ $status == 1 ]] || sb_fail "sbtest2's send exited $status"
grep -q '^sigbrokerctl: EPERM: ' "$dir/e.err" || sb_fail "sbtest2's send: $(cat "$dir/e.err")"
grep -q 'denied=1' "$dir/e.out" || sb_fail "sbtest2's send result: $(cat "$dir/e.out")"
as $U2 "$SIGBROKERCTL" --socket "$sock" send --pid "$child" USR1 >/dev/null 2>&1 &&
    sb_fail "sbtest2 could signal the program by pid"
sleep 0.5
[[ $(lines "$got") == "$before" ]] || sb_fail "the program was signalled by sbtest2: $(cat "$got")"

# Unsubscribed signals are not delivered: the program is not killed.
set +e
ctl send --pid "$child" RTMIN+1 >/dev/null 2>&1
status=$?
set -e
[[ $status == 1 ]] || sb_fail "RTMIN+1 (not subscribed) was delivered"

# SIGTERM to the wrapper reaches the program, whose status comes back.
kill -TERM "$wrapper"
reap "$wrapper"
[[ $status == 3 ]] || sb_fail "wrapper exited $status after TERM, want the program's 3"
has_line "$got" '^TERM' || sb_fail "the program did not get TERM"
grep -q "reloader.sh (pid $child) exited with status 3" "$dir/exec1.err" ||
    sb_fail "exit not reported: $(cat "$dir/exec1.err")"

# --- 2. si_value is the sequence number, si_code SI_QUEUE, si_pid the wrapper
cat >"$dir/siginfo.py" <<'EOF'
import ctypes, signal, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
sigset = ctypes.create_string_buffer(128)
libc.sigemptyset(sigset)
libc.sigaddset(sigset, signal.SIGUSR1)
info = ctypes.create_string_buffer(128)
with open(sys.argv[1], "a") as out:
    print("ready", flush=True, file=out)
    for _ in range(2):
        libc.sigwaitinfo(sigset, info)
        signo, _, code, _, pid, uid = struct.unpack_from("iiiiiI", info)
        value, = struct.unpack_from("Q", info, 24)
        print(signo, code, pid, value, flush=True, file=out)
EOF
"$SIGBROKERCTL" --socket "$sock" exec --signal USR1 -- python3 "$dir/siginfo.py" "$dir/si.out" 2>"$dir/exec2.err" &
wrapper=$!
wrappers+=("$wrapper")
sb_wait_for 10 "the python program" has_line "$dir/si.out" '^ready'
child=$(pgrep -P "$wrapper")
ctl send --pid "$child" USR1 >/dev/null
sb_wait_for 10 "the first USR1" test "$(lines "$dir/si.out")" -ge 2
ctl send --pid "$child" USR1 >/dev/null
wait "$wrapper" || sb_fail "exec of the python program exited $?: $(cat "$dir/exec2.err")"
[[ $(sed -n 2p "$dir/si.out") == "10 -1 $wrapper 1" ]] || sb_fail "siginfo: $(cat "$dir/si.out")"
[[ $(sed -n 3p "$dir/si.out") == "10 -1 $wrapper 2" ]] || sb_fail "siginfo: $(cat "$dir/si.out")"

# --- 3. exit statuses --------------------------------------------------------
status_of() { set +e; ctl exec -- "$@" 2>>"$dir/status.err"; echo $?; set -e; }
[[ $(status_of sh -c 'exit 7') == 7 ]] || sb_fail "exit 7 not passed through"
[[ $(status_of true) == 0 ]] || sb_fail "exit 0 not passed through"
[[ $(status_of sh -c 'kill -KILL $$') == 137 ]] || sb_fail "SIGKILL not 128+9"
[[ $(status_of "$dir/no-such-program") == 127 ]] || sb_fail "missing program not 127"
[[ $(status_of "$dir") == 126 ]] || sb_fail "a directory not 126"
grep -q "was killed by signal KILL" "$dir/status.err" || sb_fail "kill not reported: $(cat "$dir/status.err")"
grep -q "^sigbrokerctl: ENOENT: cannot run $dir/no-such-program" "$dir/status.err" ||
    sb_fail "missing program not reported: $(cat "$dir/status.err")"
set +e
ctl exec 2>/dev/null; s1=$?
ctl exec --payload-fd 1 -- true 2>/dev/null; s2=$?
ctl exec --group 'bad name' -- true 2>/dev/null; s3=$?
"$SIGBROKERCTL" --socket "$dir/nosock" exec -- true 2>"$dir/nosock.err"; s4=$?
set -e
[[ "$s1 $s2 $s3 $s4" == "2 2 2 1" ]] || sb_fail "usage errors exited $s1 $s2 $s3 $s4"
grep -q "ENOENT: cannot connect to $dir/nosock" "$dir/nosock.err" || sb_fail "no daemon: $(cat "$dir/nosock.err")"
# --- 4. the daemon goes away: the program keeps running, TERM still passes
"$SIGBROKERCTL" --socket "$sock" exec -- sleep 60 2>"$dir/exec4.err" &
wrapper=$!
wrappers+=("$wrapper")
sb_wait_for 10 "sleep under exec" pgrep -P "$wrapper" sleep
# The daemon stops cleanly (and, under valgrind, without errors).
kill -TERM "$daemon_pid"
reap "$daemon_pid"
daemon_pid=
[[ $status == 0 ]] || sb_fail "the daemon exited $status: $(cat "$dir/daemon.log")"
sb_wait_for 10 "the wrapper to notice" grep -q 'keeps running without the broker' "$dir/exec4.err"
pgrep -P "$wrapper" sleep >/dev/null || sb_fail "the program did not outlive the daemon"
kill -TERM "$wrapper"
reap "$wrapper"
[[ $status == 143 ]] || sb_fail "wrapper exited $status after TERM without a daemon, want 143"
sb_log "ok"
