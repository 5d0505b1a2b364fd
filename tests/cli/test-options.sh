#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sigbrokerctl's command line as scripts and administrators use it, against
# real daemons: global options before and after the command, one line per
# error, send -q, --no-legend and -o on the tables (and their JSON), a
# multibyte command name aligned, --user and --system, a stale user socket,
# the daemon's reason when it refuses a connection, listen --timeout's
# statuses and --json with --openmetrics. Parts that need root (other
# users, a private /run) skip without it; the rest runs as anyone.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
: "${SIGBROKERD:?run through meson}" "${SIGBROKERCTL:?run through meson}"
unset SIGBROKER_SOCKET
# A UTF-8 locale, so that widths are counted in characters (wc -L too).
if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then export LC_ALL=C.UTF-8; else sb_skip "no C.UTF-8 locale"; fi

sb_test_dir sbcli
sock=$dir/sock

CTL=$SIGBROKERCTL
ready() { grep -qx ready "$1"; }
# run NAME CMD...: status in $rc, output in $dir/NAME.out and .err.
run() {
    local name=$1
    shift
    rc=0
    "$@" >"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
}
expect_rc() { [[ $rc -eq $1 ]] || sb_fail "$2 exited $rc, expected $1 (stderr: $(cat "$dir/$3.err"))"; }
# one_error NAME: stderr is exactly one line, "sigbrokerctl: ...".
one_error() {
    [[ $(wc -l <"$dir/$1.err") -eq 1 ]] || sb_fail "$1: not one line on stderr: $(cat "$dir/$1.err")"
    grep -q '^sigbrokerctl: ' "$dir/$1.err" || sb_fail "$1: no 'sigbrokerctl: ' prefix: $(cat "$dir/$1.err")"
}
# start_daemon SOCKET CONFIG [extra...]: a daemon in the background.
start_daemon() {
    "$SIGBROKERD" --socket "$1" --config "$2" 2>>"$dir/daemon.log" &
    pids+=($!)
    sb_wait_for 10 "the daemon on $1" test -S "$1"
}
# listener NAME ARGS...: a listener in the background, ready; pid in $lpid.
listener() {
    local name=$1
    shift
    "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
    lpid=$!
    pids+=($lpid)
    sb_wait_for 10 "listener $name" ready "$dir/$name.err"
}

start_daemon "$sock" /dev/null

# 1. Global options before and after the command, in every spelling.
for line in "-s $sock status" "status -s $sock" "status --socket=$sock" "--socket $sock status" \
    "status --json -s $sock" "-j status --socket $sock"; do
    # shellcheck disable=SC2086
    run opt "$CTL" $line
    expect_rc 0 "sigbrokerctl $line" opt
    grep -q "sigbrokerd\|\"version\"" "$dir/opt.out" || sb_fail "sigbrokerctl $line: $(cat "$dir/opt.out")"
done
run opt "$CTL" status --json --socket "$sock"
grep -q '^{"version":' "$dir/opt.out" || sb_fail "--json after the command ignored: $(cat "$dir/opt.out")"
listener opts "$CTL" listen USR1 --json -s "$sock"
run opt "$CTL" send --pid "$lpid" USR1 -s "$sock" --json
expect_rc 0 "send with -s and --json last" opt
grep -q '^{"queued":1,' "$dir/opt.out" || sb_fail "send --json: $(cat "$dir/opt.out")"
sb_wait_for 10 "the signal" grep -q '"name":"USR1"' "$dir/opts.out"
sb_stop_pid "$lpid"

# 2. One line per error, one prefix, status 2 for usage.
for line in "status --frob" "--frob status" "status -Z" "send --pid" "status -s" "frob" "" \
    "send --pid 1 NOSIG" "clients -o NOSUCH" "send -o PID --pid 1 USR1" "listen --no-legend USR1"; do
    # shellcheck disable=SC2086
    run err "$CTL" -s "$sock" $line
    expect_rc 2 "sigbrokerctl $line" err
    one_error err
done
run err "$CTL" status --frob
grep -qx "sigbrokerctl: unknown option '--frob'; try 'sigbrokerctl status --help'" "$dir/err.err" ||
    sb_fail "unknown option: $(cat "$dir/err.err")"
run err "$CTL" -s "$dir/nothing" status
expect_rc 1 "status on a missing socket" err
one_error err
grep -q "$dir/nothing" "$dir/err.err" || sb_fail "the error does not name the socket: $(cat "$dir/err.err")"

# 3. send -q: nothing printed, the status tells.
listener q "$CTL" -s "$sock" listen USR2
run qs "$CTL" -s "$sock" send -q --pid "$lpid" USR2
expect_rc 0 "send -q to a listener" qs
[[ ! -s $dir/qs.out && ! -s $dir/qs.err ]] || sb_fail "send -q printed: $(cat "$dir/qs.out" "$dir/qs.err")"
sb_wait_for 10 "the quiet signal" grep -q '^USR2 ' "$dir/q.out"
run qs "$CTL" send --pid 4194305 --quiet USR2 -s "$sock"
expect_rc 1 "send -q to nobody" qs
[[ ! -s $dir/qs.out && ! -s $dir/qs.err ]] || sb_fail "send -q to nobody printed: $(cat "$dir/qs.out" "$dir/qs.err")"
run qs "$CTL" -s "$dir/nothing" send -q --pid 1 USR2
expect_rc 1 "send -q without a daemon" qs
one_error qs    # not reaching the daemon is an error, said even with -q
sb_stop_pid "$lpid"

# 4. A multibyte command name lines up: a listener whose comm is UTF-8
# (the name it was executed by: a link to sigbrokerctl) next to plain ones.
name='lïstenér-é'
ln -s "$CTL" "$dir/$name"
listener mb "$dir/$name" -s "$sock" listen --group wide USR1 RTMIN RTMIN+1 RTMIN+2
mb_pid=$lpid
[[ $(cat /proc/$mb_pid/comm) == "$name" ]] || sb_fail "comm is '$(cat /proc/$mb_pid/comm)'"
listener plain "$CTL" -s "$sock" listen --group wide USR1
run t "$CTL" -s "$sock" clients
expect_rc 0 clients t
grep -q " $name " "$dir/t.out" || sb_fail "clients does not show $name: $(cat "$dir/t.out")"
# Every line as wide as the heading: WINDOW, right-aligned and last, ends
# at the same column on each line only if COMMAND was padded by width.
run t "$CTL" -s "$sock" clients -o ID,PID,COMMAND,QUEUE,WINDOW
widths=$(while IFS= read -r l; do printf '%s\n' "$l" | wc -L; done <"$dir/t.out" | sort -u)
[[ $(wc -l <<<"$widths") -eq 1 ]] || sb_fail "clients lines of different widths ($widths): $(cat "$dir/t.out")"
run t "$CTL" -s "$sock" groups -o GROUP,COMMAND,PID
widths=$(grep -E "^wide| $name|sigbrokerctl" "$dir/t.out" | while IFS= read -r l; do printf '%s\n' "$l" | wc -L; done | sort -u)
[[ $(wc -l <<<"$widths") -eq 1 ]] || sb_fail "groups lines of different widths ($widths): $(cat "$dir/t.out")"

# 5. --no-legend and -o, as text and as JSON.
run t "$CTL" -s "$sock" clients --no-legend
! grep -q 'COMMAND' "$dir/t.out" || sb_fail "--no-legend kept the heading: $(cat "$dir/t.out")"
grep -qE "^ *[0-9]+ +$mb_pid " "$dir/t.out" || sb_fail "--no-legend lost the rows: $(cat "$dir/t.out")"
run t "$CTL" --no-legend -s "$sock" groups
! grep -q 'KIND' "$dir/t.out" || sb_fail "groups --no-legend kept the heading: $(cat "$dir/t.out")"
run t "$CTL" -s "$sock" stats --no-legend
! grep -qE '^(Signals|Latency|PRIORITY|Clients|ID )' "$dir/t.out" || sb_fail "stats --no-legend: $(cat "$dir/t.out")"
run t "$CTL" -s "$sock" status --no-legend
! grep -qE '^(sigbrokerd|Limits)' "$dir/t.out" || sb_fail "status --no-legend: $(cat "$dir/t.out")"
run t "$CTL" -s "$sock" clients -o pid,command
[[ $(head -1 "$dir/t.out") =~ ^\ *PID\ COMMAND\ *$ ]] || sb_fail "-o pid,command heading: $(head -1 "$dir/t.out")"
grep -qE "^ *$mb_pid $name *$" "$dir/t.out" || sb_fail "-o pid,command rows: $(cat "$dir/t.out")"
run t "$CTL" -s "$sock" -o +GID clients --no-legend
grep -qE "^ *[0-9]+ +$mb_pid .* 0$" "$dir/t.out" || sb_fail "-o +GID: $(cat "$dir/t.out")"
run t "$CTL" -s "$sock" clients -o PID,COMMAND,SIGNALS --json
grep -q "\"pid\": $mb_pid," "$dir/t.out" || sb_fail "--json -o: $(cat "$dir/t.out")"
grep -q "\"command\": \"$name\"" "$dir/t.out" || sb_fail "--json -o command: $(cat "$dir/t.out")"
grep -q '"signals": "USR1 RTMIN..RTMIN+2"' "$dir/t.out" || sb_fail "--json -o signals: $(cat "$dir/t.out")"
run t "$CTL" -s "$sock" stats -o id,sent --json
grep -q '"clients": \[' "$dir/t.out" && grep -q '"sent": [0-9]' "$dir/t.out" || sb_fail "stats --json -o: $(cat "$dir/t.out")"
run t "$CTL" -s "$sock" --json clients
[[ $(wc -l <"$dir/t.out") -eq 1 ]] && grep -q "^\[{\"id\":" "$dir/t.out" || sb_fail "--json clients: $(cat "$dir/t.out")"
for line in "status -o ID" "stats --openmetrics -o ID" "reload --no-legend"; do
    # shellcheck disable=SC2086
    run err "$CTL" -s "$sock" $line
    expect_rc 2 "sigbrokerctl $line" err
    one_error err
done

# 6. --json with --openmetrics is a usage error, in either order.
for line in "--json stats --openmetrics" "stats --openmetrics --json"; do
    # shellcheck disable=SC2086
    run om "$CTL" -s "$sock" $line
    expect_rc 2 "sigbrokerctl $line" om
    one_error om
    [[ ! -s $dir/om.out ]] || sb_fail "$line printed: $(head -3 "$dir/om.out")"
done
run om "$CTL" -s "$sock" stats --openmetrics
expect_rc 0 "stats --openmetrics" om
tail -1 "$dir/om.out" | grep -qx '# EOF' || sb_fail "stats --openmetrics: $(tail -3 "$dir/om.out")"

# 7. listen --timeout: without --count, 0 when the time is up, signals or
# not; with --count, 1 if they did not all come.
run lt "$CTL" -s "$sock" listen --timeout 0.3 USR2
expect_rc 0 "listen --timeout without signals" lt
# listen_one ARGS...: listen USR2 with ARGS, one signal sent; status in $rc.
listen_one() {
    local l
    "$CTL" -s "$sock" listen "$@" USR2 >"$dir/lt.out" 2>"$dir/lt.err" &
    l=$!
    sb_wait_for 10 "the listener" ready "$dir/lt.err"
    "$CTL" -s "$sock" send -q --pid $l USR2
    rc=0
    wait $l || rc=$?
}
listen_one --timeout 2
expect_rc 0 "listen --timeout after a signal" lt
grep -q '^USR2 ' "$dir/lt.out" || sb_fail "listen --timeout printed: $(cat "$dir/lt.out")"
listen_one --timeout 1 --count 2
expect_rc 1 "listen --timeout --count 2 after one signal" lt
grep -q 'ETIMEDOUT: timed out after 1 of 2 signals' "$dir/lt.err" || sb_fail "listen timeout: $(cat "$dir/lt.err")"
run lt "$CTL" -s "$sock" listen --count 1 --timeout 0.2 USR2
expect_rc 1 "listen --count 1 --timeout without signals" lt

# 8. The daemon's reason when it refuses a connection: one connection per
# uid, root included.
printf '[limits]\nmax-connections-per-uid = 1\nlimit-root = yes\n' >"$dir/tiny.conf"
start_daemon "$dir/tiny" "$dir/tiny.conf"
listener tiny "$CTL" -s "$dir/tiny" listen USR1
run refused "$CTL" -s "$dir/tiny" status
expect_rc 1 "status beyond the per-uid limit" refused
one_error refused
grep -q "^sigbrokerctl: EUSERS: $dir/tiny refused the connection: this uid has reached its connection limit$" \
    "$dir/refused.err" || sb_fail "no reason from the daemon: $(cat "$dir/refused.err")"
sb_stop_pid "$lpid"

# 9. --user picks $XDG_RUNTIME_DIR/sigbroker.sock, even for root, whom the
# library's default sends to the system broker.
mkdir -m 755 "$dir/run"
start_daemon "$dir/run/sigbroker.sock" /dev/null
run user env XDG_RUNTIME_DIR="$dir/run" "$CTL" status --user
expect_rc 0 "status --user" user
grep -q "socket: *$dir/run/sigbroker.sock" "$dir/user.out" || sb_fail "status --user: $(cat "$dir/user.out")"
run user env -u XDG_RUNTIME_DIR "$CTL" --user status
expect_rc 1 "--user without XDG_RUNTIME_DIR" user
one_error user
run user "$CTL" --user -s "$sock" status
expect_rc 2 "--user with --socket" user
one_error user

if [[ $EUID -ne 0 ]]; then
    sb_log "ok (without root: --system and the stale user socket not tried)"
    exit 0
fi
sb_require_cmd setpriv unshare

# 10. A stale user socket (its daemon killed) does not silently hide the
# system broker: the error names both, for a user whose default it is.
mkdir -m 755 "$dir/stale"
"$SIGBROKERD" --socket "$dir/stale/sigbroker.sock" --config /dev/null 2>>"$dir/daemon.log" &
stale=$!
sb_wait_for 10 "the doomed daemon" test -S "$dir/stale/sigbroker.sock"
kill -KILL $stale
wait $stale 2>/dev/null || true
[[ -S $dir/stale/sigbroker.sock ]] || sb_fail "the killed daemon's socket is gone"
run stale setpriv --reuid=nobody --regid=nogroup --clear-groups env XDG_RUNTIME_DIR="$dir/stale" "$CTL" status
expect_rc 1 "status with a stale user socket" stale
one_error stale
grep -q "ECONNREFUSED: .*$dir/stale/sigbroker.sock.*/run/sigbroker/sigbroker.sock.*--system" "$dir/stale.err" ||
    sb_fail "the error does not name both sockets: $(cat "$dir/stale.err")"

# 11. --system picks /run/sigbroker/sigbroker.sock, whatever the runtime
# dir says: tried in a private mount namespace with a /run of its own, so
# that the machine's broker, if any, is not touched.
cat >"$dir/system.sh" <<EOF
set -eu
mount -t tmpfs tmpfs /run
mkdir -p /run/sigbroker
"$SIGBROKERD" --socket /run/sigbroker/sigbroker.sock --config /dev/null 2>>"$dir/daemon.log" &
d=\$!
for _ in \$(seq 100); do [ -S /run/sigbroker/sigbroker.sock ] && break; sleep 0.05; done
rc=0
XDG_RUNTIME_DIR="$dir/run" "$CTL" --system status >"$dir/system.out" 2>"$dir/system.err" || rc=\$?
kill \$d; wait \$d 2>/dev/null || true
exit \$rc
EOF
run sys unshare --mount --propagation private bash "$dir/system.sh"
expect_rc 0 "status --system" system
grep -q "socket: */run/sigbroker/sigbroker.sock" "$dir/system.out" || sb_fail "status --system: $(cat "$dir/system.out")"

sb_log "ok"
