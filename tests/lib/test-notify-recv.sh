#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Proves sb-notify-recv ($SB_NOTIFY_RECV) against systemd's own sender,
# systemd-notify: datagrams come out as KEY=VALUE line groups, fds are
# received and closed (or systemd-notify's barrier would not complete),
# credentials, arrival times and the outcome of --connect-on-ready are
# printed, --count and --timeout end it.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"

[[ -x ${SB_NOTIFY_RECV-} ]] || sb_fail "SB_NOTIFY_RECV must name the built sb-notify-recv"
sb_require_cmd systemd-notify

tmp=$(mktemp -d)
recv_pid=
trap '[[ -z $recv_pid ]] || sb_stop_pid $recv_pid; rm -rf "$tmp"' EXIT
sock=$tmp/notify.sock

"$SB_NOTIFY_RECV" --creds --count 3 --timeout 20 "$sock" >"$tmp/out" &
recv_pid=$!
sb_wait_for 10 "sb-notify-recv to bind $sock" test -S "$sock"

# The first call also sends BARRIER=1 with an fd and waits until it is closed.
NOTIFY_SOCKET=$sock timeout 10 systemd-notify --ready --status="hello world" ||
    sb_fail "systemd-notify --ready failed (barrier fd not closed?)"
NOTIFY_SOCKET=$sock timeout 10 systemd-notify --no-block WATCHDOG=1 STOPPING=1 ||
    sb_fail "systemd-notify WATCHDOG=1 STOPPING=1 failed"

sb_wait_for 10 "sb-notify-recv to exit after 3 datagrams" sb_exited "$recv_pid"
rc=0
wait "$recv_pid" || rc=$?
recv_pid=
(( rc == 0 )) || sb_fail "sb-notify-recv exited with $rc"

uid=$(id -u)
gid=$(id -g)
expected="READY=1
STATUS=hello world
_UID=$uid
_GID=$gid

BARRIER=1
_FDS=1
_UID=$uid
_GID=$gid

WATCHDOG=1
STOPPING=1
_UID=$uid
_GID=$gid
"
got=$(grep -v '^_PID=[0-9][0-9]*$' "$tmp/out"; echo x)
[[ ${got%x} == "$expected"$'\n' ]] || sb_fail "unexpected output:"$'\n'"$(cat "$tmp/out")"
[[ $(grep -c '^_PID=' "$tmp/out") -eq 3 ]] || sb_fail "missing _PID= lines: $(cat "$tmp/out")"

# --timestamps and --connect-on-ready (a socket that is not there: ENOENT).
"$SB_NOTIFY_RECV" --timestamps --connect-on-ready "$tmp/missing.sock" --count 2 --timeout 20 \
    "$tmp/notify2.sock" >"$tmp/out2" &
recv_pid=$!
sb_wait_for 10 "sb-notify-recv to bind $tmp/notify2.sock" test -S "$tmp/notify2.sock"
NOTIFY_SOCKET=$tmp/notify2.sock timeout 10 systemd-notify --no-block STATUS=starting ||
    sb_fail "systemd-notify STATUS=starting failed"
NOTIFY_SOCKET=$tmp/notify2.sock timeout 10 systemd-notify --no-block --ready ||
    sb_fail "systemd-notify --ready failed"
sb_wait_for 10 "sb-notify-recv to exit after 2 datagrams" sb_exited "$recv_pid"
rc=0
wait "$recv_pid" || rc=$?
recv_pid=
(( rc == 0 )) || sb_fail "sb-notify-recv exited with $rc"
got=$(sed 's/^_MONOTONIC_USEC=[0-9][0-9]*$/_MONOTONIC_USEC=T/' "$tmp/out2")
[[ $got == $'STATUS=starting\n_MONOTONIC_USEC=T\n\nREADY=1\n_CONNECT=ENOENT\n_MONOTONIC_USEC=T' ]] ||
    sb_fail "unexpected output with --timestamps --connect-on-ready:"$'\n'"$(cat "$tmp/out2")"

rc=0
"$SB_NOTIFY_RECV" --timeout 0.3 "$tmp/idle.sock" 2>/dev/null || rc=$?
(( rc == 1 )) || sb_fail "sb-notify-recv --timeout returned $rc with no datagram, want 1"
sb_log "ok"
