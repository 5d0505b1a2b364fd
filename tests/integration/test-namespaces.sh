#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Namespaces through sigbrokerctl, as a hostile local user would try them
# (needs root for the second users; skips otherwise):
# 1. root of a user namespace of one's own (unshare -Ur) is nobody special:
#    sbtest1 sending to sbtest2's listener gets EPERM with or without it,
#    as kill(1) from the same namespace does, and the listener gets nothing;
#    nor does it make sbtest1 an admin.
# 2. a daemon in a pid namespace of its own sees every outside client as
#    pid 0: those are not one process, so sbtest1 still gets EPERM sending
#    to sbtest2's listener (by client id or broadcast: their pids mean
#    nothing to it).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
: "${SIGBROKERD:?run through meson}" "${SIGBROKERCTL:?run through meson}"
USER1=sbtest1
USER2=sbtest2

sb_require_root
sb_require_cmd setpriv unshare
for u in $USER1 $USER2; do
    id -u "$u" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$u" ||
        sb_skip "cannot create the user $u"
done
# Can a user make a user namespace here at all?
setpriv --reuid=$USER1 --regid="$(id -g $USER1)" --clear-groups -- unshare -Ur true 2>/dev/null ||
    sb_skip "unprivileged user namespaces are disabled"

dir=$(mktemp -d /tmp/sbns-XXXXXX)
chmod 755 "$dir"
: >"$dir/empty.conf"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do sb_stop_pid "$p" 2; done
    rm -rf "$dir"
}
trap cleanup EXIT

# as USER CMD...: CMD as USER, with its groups (exec: $! is CMD's pid).
as() {
    local u=$1
    shift
    exec setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}
ready() { grep -qx ready "$1"; }
# got FILE PAYLOAD: the listener printed a signal with this payload.
got() { grep -q "payload=\"$2\"" "$1"; }

# start_listener NAME: sbtest2 listens for RTMIN+1 on $sock; sets $listener.
start_listener() {
    (as $USER2 "$SIGBROKERCTL" --socket "$sock" listen RTMIN+1 >"$dir/$1.out" 2>"$dir/$1.err") &
    listener=$!
    pids+=("$listener")
    sb_wait_for 10 "$USER2's listener" ready "$dir/$1.err"
}

# denied NAME CMD...: CMD exits 1 and says EPERM.
denied() {
    local name=$1 rc=0
    shift
    "$@" >"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
    [[ $rc -eq 1 ]] && grep -q EPERM "$dir/$name.err" ||
        sb_fail "$name: exit $rc, expected 1 and EPERM: $(cat "$dir/$name.out" "$dir/$name.err")"
}

# ---- 1. user namespace root ----
sock=$dir/s.sock
"$SIGBROKERD" --socket "$sock" --config "$dir/empty.conf" 2>"$dir/daemon.log" &
pids+=($!)
sb_wait_for 10 "the daemon's socket" test -S "$sock"
start_listener l1

denied plain-send \
    bash -c "$(declare -f as); as $USER1 '$SIGBROKERCTL' --socket '$sock' send --pid $listener --payload plain RTMIN+1"
denied userns-send \
    bash -c "$(declare -f as); as $USER1 unshare -Ur '$SIGBROKERCTL' --socket '$sock' send --pid $listener --payload userns RTMIN+1"
# The kernel's verdict for the same pair.
rc=0
(as $USER1 unshare -Ur kill -s RTMIN+1 "$listener") 2>/dev/null || rc=$?
[[ $rc -ne 0 ]] || sb_fail "kill(1) from $USER1's user namespace succeeded; the test is wrong"
denied userns-monitor \
    bash -c "$(declare -f as); as $USER1 unshare -Ur '$SIGBROKERCTL' --socket '$sock' monitor --count 1"
# Root's signal comes after anything sent before it.
"$SIGBROKERCTL" --socket "$sock" send --pid "$listener" --payload mark RTMIN+1 >/dev/null
sb_wait_for 10 "root's signal" got "$dir/l1.out" mark
! got "$dir/l1.out" userns || sb_fail "the listener got the user-namespace root's signal: $(cat "$dir/l1.out")"
! got "$dir/l1.out" plain || sb_fail "the listener got $USER1's signal: $(cat "$dir/l1.out")"
sb_stop_pid "$listener" 2

# ---- 2. the daemon in a pid namespace of its own ----
# What it can tell of an outside client is the effective uid it connected
# with: enough to send by, not to be root or to be reached (sigbrokerd(8)).
# The policy lets root mark the end of the listener's signals.
sock=$dir/p.sock
printf '[policy]\nallow from uid:0 signals RTMIN+2\n' >"$dir/mark.conf"
unshare --pid --fork --kill-child --mount-proc "$SIGBROKERD" --socket "$sock" --config "$dir/mark.conf" \
    2>"$dir/daemon-pidns.log" &
pids+=($!)
sb_wait_for 10 "the pid-namespace daemon's socket" test -S "$sock"
(as $USER2 "$SIGBROKERCTL" --socket "$sock" listen RTMIN+1 RTMIN+2 >"$dir/l2.out" 2>"$dir/l2.err") &
pids+=($!)
sb_wait_for 10 "$USER2's listener" ready "$dir/l2.err"
json=$(as $USER2 "$SIGBROKERCTL" --socket "$sock" --json clients)
# The listener's client id: the client of that uid with subscriptions.
client=$(printf '%s\n' "$json" | tr '{' '\n' | grep '"subscriptions":\["RTMIN' | grep -o '"id":[0-9]*' | cut -d: -f2)
[[ $client =~ ^[0-9]+$ ]] || sb_fail "no subscribed client of $USER2 in: $json"
grep -q '"pid":0[,}]' <<<"$json" || sb_fail "the daemon sees its outside clients with pids: $json"

denied pidns-send \
    bash -c "$(declare -f as); as $USER1 '$SIGBROKERCTL' --socket '$sock' send --client $client --payload pidns RTMIN+1"
denied pidns-broadcast \
    bash -c "$(declare -f as); as $USER1 '$SIGBROKERCTL' --socket '$sock' send --broadcast --payload pidns-b RTMIN+1"
"$SIGBROKERCTL" --socket "$sock" send --client "$client" --payload mark2 RTMIN+2 >/dev/null
sb_wait_for 10 "root's signal" got "$dir/l2.out" mark2
! got "$dir/l2.out" pidns || sb_fail "the listener got $USER1's signal: $(cat "$dir/l2.out")"
exit 0
