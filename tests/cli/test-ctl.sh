#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sigbrokerctl end to end against the real daemon: the walking skeleton's
# acceptance (listen --json in one process, send --pid from another, the
# real sender pid and uid in the output), exit codes, errno names, --json
# send results, timeouts, and ordering with --window/--delay.
set -euo pipefail

: "${SIGBROKERD:?run through meson}" "${SIGBROKERCTL:?run through meson}"
dir=$(mktemp -d /tmp/sbctl-XXXXXX)
chmod 755 "$dir"
sock=$dir/sock
daemon_pid=
cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ctl() { "$SIGBROKERCTL" --socket "$sock" "$@"; }

"$SIGBROKERD" --socket "$sock" --config /dev/null 2>"$dir/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "daemon did not start"

# Wait for the listener's "ready" line on stderr.
wait_ready() {
        for _ in $(seq 200); do grep -qx ready "$1" && return 0; sleep 0.025; done
        fail "listener never printed ready: $(cat "$1")"
}

# 1. The basic round trip: listen --json RTMIN+1; send --pid --payload hello RTMIN+1.
"$SIGBROKERCTL" --socket "$sock" listen --json --count 1 RTMIN+1 >"$dir/l1.out" 2>"$dir/l1.err" &
lpid=$!
wait_ready "$dir/l1.err"
"$SIGBROKERCTL" --socket "$sock" send --pid "$lpid" --payload hello RTMIN+1 >"$dir/s1.out" &
spid=$!
wait "$spid" || fail "send exited $?"
wait "$lpid" || fail "listen exited $?"
grep -q '"signo":35' "$dir/l1.out" || fail "no RTMIN+1: $(cat "$dir/l1.out")"
grep -q '"name":"RTMIN+1"' "$dir/l1.out" || fail "no name: $(cat "$dir/l1.out")"
grep -q "\"sender_pid\":$spid," "$dir/l1.out" || fail "sender_pid is not $spid: $(cat "$dir/l1.out")"
grep -q "\"sender_uid\":$(id -u)," "$dir/l1.out" || fail "sender_uid is not $(id -u): $(cat "$dir/l1.out")"
grep -q '"payload_base64":"aGVsbG8="' "$dir/l1.out" || fail "payload is not hello: $(cat "$dir/l1.out")"
grep -q 'queued=1' "$dir/s1.out" || fail "send result: $(cat "$dir/s1.out")"

# The same between two processes of another user: the uid is the kernel's.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
        nobody_uid=$(id -u nobody)
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$SIGBROKERCTL" --socket "$sock" \
                listen --json --count 1 USR2 >"$dir/l2.out" 2>"$dir/l2.err" &
        lpid=$!
        wait_ready "$dir/l2.err"
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$SIGBROKERCTL" --socket "$sock" \
                send --pid "$lpid" --payload x USR2 >/dev/null
        wait "$lpid" || fail "listen as nobody exited $?"
        grep -q "\"sender_uid\":$nobody_uid," "$dir/l2.out" || fail "sender_uid is not $nobody_uid: $(cat "$dir/l2.out")"
fi

# 2. Errors: exit 1, errno name and a sentence on stderr; --json result object.
set +e
ctl send --pid 4194305 USR1 >"$dir/e.out" 2>"$dir/e.err"; status=$?
set -e
[ "$status" = 1 ] || fail "send to nobody exited $status"
grep -q '^sigbrokerctl: ESRCH: ' "$dir/e.err" || fail "stderr: $(cat "$dir/e.err")"
set +e
ctl --json send --pid 4194305 USR1 >"$dir/e.out" 2>/dev/null; status=$?
set -e
[ "$status" = 1 ] || fail "--json send to nobody exited $status"
grep -q '"queued":0' "$dir/e.out" && grep -q '"error":"ESRCH"' "$dir/e.out" || fail "json: $(cat "$dir/e.out")"
set +e
ctl send --pid 1 NOSUCHSIG 2>"$dir/e.err"; status=$?
set -e
[ "$status" = 2 ] || fail "unknown signal name exited $status"

# 3. listen --timeout with --count and nothing sent: 1.
set +e
ctl listen --timeout 0.3 --count 1 USR1 2>/dev/null; status=$?
set -e
[ "$status" = 1 ] || fail "listen --timeout --count exited $status"

# 4. --window 1 --delay: signals pile up in the broker and come out by priority.
# The delay only has to outlast four sends, also under sanitizers and load.
"$SIGBROKERCTL" --socket "$sock" listen --json --count 4 --window 1 --delay 5 USR1 RTMIN RTMIN+1 >"$dir/l3.out" 2>"$dir/l3.err" &
lpid=$!
wait_ready "$dir/l3.err"
ctl send --pid "$lpid" --priority 1 --payload a RTMIN >/dev/null
ctl send --pid "$lpid" --priority 1 --payload b RTMIN+1 >/dev/null
ctl send --pid "$lpid" --priority 1 --payload c RTMIN >/dev/null
ctl send --pid "$lpid" --priority 9 --payload d USR1 >/dev/null
wait "$lpid" || fail "ordered listen exited $?"
got=$(sed -n 's/.*"payload_base64":"\([^"]*\)".*/\1/p' "$dir/l3.out" | while read -r b; do echo -n "$b" | base64 -d; done)
[ "$got" = "adcb" ] || fail "order is '$got', want adcb (in flight, then priority 9, then RTMIN before RTMIN+1)"

echo "1 passed, 0 failed"
