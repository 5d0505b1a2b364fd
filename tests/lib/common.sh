# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared shell helpers for the tests; source it, do not run it.
#   . "$(dirname "$0")/../lib/common.sh"
# Scripts using it run under `set -euo pipefail`, exit 77 to skip.

SB_TEST_NAME=${SB_TEST_NAME:-$(basename "$0" .sh)}

sb_log() { printf '%s: %s\n' "$SB_TEST_NAME" "$*" >&2; }

sb_fail() {
    printf '%s: FAIL: %s\n' "$SB_TEST_NAME" "$*" >&2
    exit 1
}

sb_skip() {
    printf '%s: SKIP: %s\n' "$SB_TEST_NAME" "$*" >&2
    exit 77
}

sb_require_root() {
    [[ $EUID -eq 0 ]] || sb_skip "needs root (namespaces, mounts)"
}

# sb_require_cmd CMD...: skip unless every CMD is on PATH or an executable path.
sb_require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || sb_skip "$c not available"
    done
}

# sb_wait_for SECONDS WHAT CMD [ARGS...]: polls CMD every 0.1 s until it
# succeeds; fails the test with "timed out waiting for WHAT" after SECONDS.
sb_wait_for() {
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$(( $(date +%s%N) + seconds * 1000000000 ))
    until "$@"; do
        (( $(date +%s%N) < deadline )) || sb_fail "timed out after ${seconds}s waiting for $what"
        sleep 0.1
    done
}

# sb_exited PID: the process is gone or a zombie (kill -0 succeeds on an
# unreaped child).
sb_exited() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [[ ${stat%% *} == Z ]]
}

# sb_stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 5),
# and reap it if it is our child. Never fails.
sb_stop_pid() {
    local pid=$1 seconds=${2:-5} i
    kill "$pid" 2>/dev/null || return 0
    for (( i = 0; i < seconds * 10; i++ )); do
        sb_exited "$pid" && break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# sb_test_dir PREFIX: makes $dir, a temporary directory that other users may
# read (mode 755), and $pids, an array of background processes; on exit the
# processes are stopped and the directory removed.
sb_test_dir() {
    dir=$(mktemp -d "/tmp/$1-XXXXXX")
    chmod 755 "$dir"
    pids=()
    trap _sb_test_dir_cleanup EXIT
}
_sb_test_dir_cleanup() {
    local p
    for p in "${pids[@]}"; do sb_stop_pid "$p" 2; done
    rm -rf "$dir"
}
