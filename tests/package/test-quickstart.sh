#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-quickstart.sh README
#
# The README's quickstart, run exactly as written: the `run` line of its
# quickstart block starts the broker (tools/sigbroker-dev run), and once
# it serves, the lines of its quickstart-use block are run in bash, as a
# user would paste them into another shell; their output must show the
# receiver's "ready", the send's result and the signal with its payload.
# Then the C receiver of the Use section, compiled against the built
# library, gets a signal with a payload. The block's other line must be the
# command .ci/run runs.
#
# The commands run in a folder that looks like the top of the tree (tools/
# is the tree's, build/ is this build), in a private mount namespace with
# its own /run when root, so that the default system socket is this test's.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/readme.sh"

(( $# == 1 )) || { echo "usage: $0 README" >&2; exit 2; }
: "${SB_TEST_BUILDDIR:?run through meson}"
readme=$(readlink -f "$1")
src=$(dirname "$readme")
build_root=$(dirname "$SB_TEST_BUILDDIR")

if [[ ${SB_QUICKSTART_INNER-} != 1 ]]; then
    if (( EUID == 0 )); then
        sb_require_cmd unshare
        exec env SB_QUICKSTART_INNER=1 unshare --mount --propagation private "$0" "$@"
    fi
    exec env SB_QUICKSTART_INNER=1 "$0" "$@"
fi

quickstart=$(readme_block "$readme" quickstart)
run_block=$(grep '^tools/sigbroker-dev run\b' <<<"$quickstart") ||
    sb_fail "the README's quickstart block has no tools/sigbroker-dev run line:"$'\n'"$quickstart"
test_cmd=$(sed -n 's/^\(tools\/sigbroker-dev test\)\b.*/\1/p' <<<"$quickstart")
[[ -n $test_cmd ]] && grep -q "^exec $test_cmd\$" "$src/.ci/run" ||
    sb_fail "the README's test line is not what .ci/run runs:"$'\n'"$quickstart"
use_block=$(readme_block "$readme" quickstart-use)
c_block=$(readme_block "$readme" c-receiver)

tmp=$(mktemp -d /tmp/sb-quickstart.XXXXXX)
daemon=
receiver=
cleanup() {
    [[ -z $receiver ]] || sb_stop_pid "$receiver"
    if [[ -n $daemon ]]; then
        kill -TERM -- "-$daemon" 2>/dev/null || true
        sb_stop_pid "$daemon"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
unset SIGBROKER_SOCKET
if (( EUID == 0 )); then
    mount -t tmpfs -o mode=755 tmpfs /run
    unset XDG_RUNTIME_DIR
    socket=/run/sigbroker/sigbroker.sock
else
    mkdir -m 700 "$tmp/runtime"
    export XDG_RUNTIME_DIR=$tmp/runtime
    socket=$XDG_RUNTIME_DIR/sigbroker.sock
fi

top=$tmp/top
mkdir "$top"
ln -s "$src/tools" "$top/tools"
ln -s "$build_root" "$top/build"
cd "$top"

# --- the first shell: tools/sigbroker-dev run --------------------------------
# In a session of its own, so that stopping it stops whatever it started.
setsid bash -c "$run_block" >"$tmp/run.log" 2>&1 &
daemon=$!
serving() {
    sb_exited "$daemon" && sb_fail "the quickstart's run block exited:"$'\n'"$(cat "$tmp/run.log")"
    [[ -S $socket ]] && build/client/ctl/sigbrokerctl status >/dev/null 2>&1
}
sb_wait_for 120 "the broker of the run block to serve $socket" serving

# --- the other shell ---------------------------------------------------------
rc=0
out=$(timeout 30 bash -c "$use_block" 2>&1) || rc=$?
(( rc == 0 )) || sb_fail "the quickstart-use block exited with $rc:"$'\n'"$out"
sb_log "the quickstart-use block printed:"$'\n'"$out"
grep -qx ready <<<"$out" || sb_fail "no 'ready' line from the receiver"
grep -q '^queued=1 ' <<<"$out" || sb_fail "the send was not queued for the receiver"
grep -q '^RTMIN+1 .*payload="hello"' <<<"$out" || sb_fail "the receiver did not print RTMIN+1 with payload hello"

# --- the C receiver ------------------------------------------------------------
printf '%s\n' "$c_block" >"$tmp/recv.c"
cc -Wall -Wextra -Werror -I"$src/client/lib" -o "$tmp/recv" "$tmp/recv.c" \
    -L"$build_root/client/lib" -lsigbroker || sb_fail "the README's C receiver does not compile"
LD_LIBRARY_PATH=$build_root/client/lib "$tmp/recv" >"$tmp/recv.out" 2>&1 &
receiver=$!
# It has no "ready" line: send until it is subscribed (ESRCH before).
sent() {
    sb_exited "$receiver" && sb_fail "the C receiver exited early: $(cat "$tmp/recv.out")"
    build/client/ctl/sigbrokerctl send --pid "$receiver" --payload db.conf USR1 >/dev/null 2>&1
}
sb_wait_for 20 "the C receiver to subscribe" sent
sb_wait_for 10 "the C receiver to exit" sb_exited "$receiver"
rc=0
wait "$receiver" || rc=$?
pid=$receiver
receiver=
(( rc == 0 )) || sb_fail "the C receiver exited with $rc: $(cat "$tmp/recv.out")"
grep -qx "from pid [0-9]*: db.conf" "$tmp/recv.out" || sb_fail "the C receiver printed: $(cat "$tmp/recv.out")"
sb_log "the C receiver (pid $pid) printed: $(cat "$tmp/recv.out")"
sb_log "ok"
