#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sigbrokerd's command line as an administrator meets it: -h, the hint after
# a bad option, errors that name the socket path, --check-config on a good
# and a bad file (exit 0/1, the rules printed in order, output that parses
# again), --log-level and SYSTEMD_LOG_LEVEL (the option wins), the socket's
# path in `sigbrokerctl status`, and counts in the singular for one. No
# root needed; no journal (the daemon logs to stderr, a file here).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
: "${SIGBROKERD:?run through meson}" "${SIGBROKERCTL:?run through meson}"
D=$SIGBROKERD
CTL=$SIGBROKERCTL

sb_test_dir sbopts
# The daemon must not take the journal here even if the host has one.
unset SYSTEMD_LOG_LEVEL NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES

# run EXPECTED_STATUS CMD...: run CMD, stdout in $dir/out, stderr in
# $dir/err; fail unless it exits EXPECTED_STATUS.
run() {
    local want=$1 rc=0
    shift
    "$@" >"$dir/out" 2>"$dir/err" || rc=$?
    (( rc == want )) ||
        sb_fail "'$*' exited $rc, want $want; stdout: $(cat "$dir/out"); stderr: $(cat "$dir/err")"
}
# expect_err TEXT: stderr is exactly TEXT.
expect_err() {
    [[ $(cat "$dir/err") == "$1" ]] || sb_fail "stderr is:"$'\n'"$(cat "$dir/err")"$'\n'"want:"$'\n'"$1"
}
: >"$dir/empty.conf"
hint="Try 'sigbrokerd --help' for more information."

# --- help and usage errors -------------------------------------------------------
run 0 "$D" -h
head -n 1 "$dir/out" | grep -qx 'Usage: sigbrokerd \[OPTION...\]' || sb_fail "-h prints: $(cat "$dir/out")"
for opt in --check-config --log-level -h,; do
    grep -q -- "$opt" "$dir/out" || sb_fail "-h does not mention $opt: $(cat "$dir/out")"
done
run 0 "$D" --help
run 2 "$D" --frob
expect_err "sigbrokerd: unrecognized option '--frob'"$'\n'"$hint"
run 2 "$D" -x
expect_err "sigbrokerd: invalid option -- 'x'"$'\n'"$hint"
run 2 "$D" --socket
expect_err "sigbrokerd: option '--socket' requires an argument"$'\n'"$hint"
run 2 "$D" --max-queue 0
expect_err "sigbrokerd: --max-queue: '0' is not a number from 1 to 1048576"$'\n'"$hint"
run 2 "$D" --log-level loud
expect_err "sigbrokerd: --log-level: 'loud' is not a log level"$'\n'"$hint"
run 2 "$D" extra
expect_err "sigbrokerd: unexpected argument 'extra'"$'\n'"$hint"

# --- errors that involve a path name it -------------------------------------------
run 1 "$D" --socket "$dir/nodir/x.sock" --config "$dir/empty.conf" --log-level err
expect_err "sigbrokerd: error: Cannot listen on $dir/nodir/x.sock: the directory $dir/nodir does not exist"
: >"$dir/file"
run 1 "$D" --socket "$dir/file" --config "$dir/empty.conf" --log-level err
expect_err "sigbrokerd: error: Cannot listen on $dir/file: it exists and is not a socket"
long=$dir/$(printf 'x%.0s' {1..120})
run 1 "$D" --socket "$long" --config "$dir/empty.conf" --log-level err
expect_err "sigbrokerd: error: Cannot listen on $long: a socket path has at most 107 bytes"

# --- --check-config ------------------------------------------------------------------
id nobody >/dev/null 2>&1 || sb_skip "no user nobody"
nobody=$(id -u nobody)
nogroup=$(id -g nobody)
cat >"$dir/good.conf" <<EOF
# a comment
[limits]
max-queue = 512
max-payload = 16K
limit-root = yes

[admin]
group = $nogroup

[policy]
deny from uid:nobody to any signals KILL,TERM
allow from uid:nobody to uid:0 signals USR1,RTMIN+1..RTMIN+4,0 targets pid,group
allow from gid:$nogroup signals 0
EOF
run 0 "$D" --check-config --config "$dir/good.conf" --max-payload 1024
[[ ! -s $dir/err ]] || sb_fail "--check-config of a good file wrote to stderr: $(cat "$dir/err")"
cp "$dir/out" "$dir/printed.conf"
for line in "max-queue = 512" "max-payload = 1K" "limit-root = yes" "max-bytes = 512M" "group = $nogroup"; do
    grep -qx "$line\( *#.*\)\?" "$dir/out" || sb_fail "--check-config does not print '$line': $(cat "$dir/out")"
done
rules=$(grep -E '^(allow|deny) ' "$dir/out" | sed 's/  #.*//')
want="deny from uid:$nobody to any signals KILL,TERM targets any
allow from uid:$nobody to uid:0 signals 0,USR1,RTMIN+1..RTMIN+4 targets pid,group
allow from gid:$nogroup to any signals 0 targets any"
[[ $rules == "$want" ]] || sb_fail "--check-config prints the rules as:"$'\n'"$rules"$'\n'"want:"$'\n'"$want"
grep -q '^deny .*  # line 11, uid [0-9]* is nobody$' "$dir/out" ||
    sb_fail "the first rule does not say where it was written: $(cat "$dir/out")"
# What it prints is a configuration that means the same.
run 0 "$D" --check-config --config "$dir/printed.conf"
diff <(grep -v '^#' "$dir/printed.conf" | sed 's/  # line [0-9]*//') \
     <(grep -v '^#' "$dir/out" | sed 's/  # line [0-9]*//') >"$dir/diff" ||
    sb_fail "the printed configuration reads back differently: $(cat "$dir/diff")"
# Nothing listens: no socket appears where --socket says.
run 0 "$D" --check-config --config "$dir/good.conf" --socket "$dir/check.sock"
[[ ! -e $dir/check.sock ]] || sb_fail "--check-config created a socket"

printf '[limits]\nmax-queue = 512\n\n[policy]\nallow from uid:nosuchuser-sb\n' >"$dir/bad.conf"
run 1 "$D" --check-config --config "$dir/bad.conf"
expect_err "sigbrokerd: $dir/bad.conf:5: unknown user 'nosuchuser-sb'"
[[ ! -s $dir/out ]] || sb_fail "--check-config of a bad file printed: $(cat "$dir/out")"
# Command-line limits are checked with the file's.
printf '[limits]\nmax-queue-bytes = 16K\n' >"$dir/conflict.conf"
run 0 "$D" --check-config --config "$dir/conflict.conf"
run 1 "$D" --check-config --config "$dir/conflict.conf" --max-payload 65536
expect_err "sigbrokerd: max-payload (64K) is larger than max-queue-bytes (16K)"
# A file named with --config must exist, as it must at start.
run 1 "$D" --check-config --config "$dir/none.conf"
expect_err "sigbrokerd: $dir/none.conf: cannot open: No such file or directory"
# The default file may be missing: then the built-in defaults apply.
default_conf=$("$D" --help | sed -n 's/.*--config FILE.*(default \(.*\)).*/\1/p')
if [[ -n $default_conf && ! -e $default_conf ]]; then
    run 0 "$D" --check-config
    expect_err "sigbrokerd: $default_conf does not exist; the built-in defaults apply"
    grep -qx "max-queue = 1024" "$dir/out" || sb_fail "no defaults printed: $(cat "$dir/out")"
fi

# --- the socket's path in status, counts, log levels -----------------------------------
sock=$dir/sock
# start_daemon LOG [ENV...] -- [OPTION...]: a daemon on $sock, stderr to LOG.
start_daemon() {
    local log=$1 envs=()
    shift
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$D" --socket "$sock" --config "$dir/good.conf" "$@" 2>"$log" &
    daemon=$!
    pids+=("$daemon")
    sb_wait_for 10 "the daemon's socket" test -S "$sock"
    sb_wait_for 10 "the daemon's ready line" grep -q "ready, listening on" "$log"
}
start_daemon "$dir/d1.log" --
grep -qx "sigbrokerd: info: sigbrokerd .* ready, listening on $sock" "$dir/d1.log" ||
    sb_fail "the ready line does not name $sock: $(cat "$dir/d1.log")"
run 0 "$CTL" --socket "$sock" status
grep -qx "  socket: *$sock" "$dir/out" || sb_fail "status does not show $sock: $(cat "$dir/out")"
run 0 "$CTL" --socket "$sock" --json status
grep -qF "\"socket\":\"$sock\",\"socket_activated\":false" "$dir/out" ||
    sb_fail "the status answer lacks \"socket\":\"$sock\": $(cat "$dir/out")"
# Another daemon on the same path is refused, and says which.
run 1 "$D" --socket "$sock" --config "$dir/empty.conf" --log-level err
expect_err "sigbrokerd: error: Another sigbrokerd is serving $sock; not taking it over"
# One client connected when it stops: "1 client", "0 signals".
"$CTL" --socket "$sock" listen --timeout 30 USR1 >/dev/null 2>"$dir/l.err" &
listener=$!
pids+=("$listener")
sb_wait_for 10 "the listener" grep -qx ready "$dir/l.err"
sb_stop_pid "$daemon"
grep -qx "sigbrokerd: info: sigbrokerd stopping: 1 client connected, 0 signals delivered" "$dir/d1.log" ||
    sb_fail "the stop line: $(tail -n 1 "$dir/d1.log")"
[[ ! -e $sock ]] || sb_fail "the daemon left its socket $sock behind"
sb_stop_pid "$listener"

# level_lines LOG: the levels of the daemon's lines in LOG, one a line.
level_lines() { sed -n 's/^sigbrokerd: \([a-z]*\): .*/\1/p' "$1" | sort -u | tr '\n' ' '; }
# The default is info: starting and ready show.
[[ $(level_lines "$dir/d1.log") == "info " ]] || sb_fail "default levels: $(cat "$dir/d1.log")"
# --log-level warning drops them; so does SYSTEMD_LOG_LEVEL; the option wins.
check_level() {
    local want=$1
    shift
    rm -f "$sock"
    "$D" --socket "$dir/nodir/x.sock" --config "$dir/empty.conf" "$@" 2>"$dir/lv.log" || true
    [[ $(level_lines "$dir/lv.log") == "$want" ]] ||
        sb_fail "with '$*' ($(env | grep ^SYSTEMD_LOG_LEVEL || true)) the levels logged are" \
            "'$(level_lines "$dir/lv.log")', want '$want': $(cat "$dir/lv.log")"
}
check_level "error info "
check_level "error " --log-level warning
check_level "error " --log-level 4
check_level "" --log-level crit
SYSTEMD_LOG_LEVEL=warning check_level "error "
SYSTEMD_LOG_LEVEL=err check_level "error info " --log-level info
SYSTEMD_LOG_LEVEL=debug check_level "error " --log-level err
# A bad SYSTEMD_LOG_LEVEL is ignored, and said so.
SYSTEMD_LOG_LEVEL=loud check_level "error info warning "
grep -qx "sigbrokerd: warning: ignoring SYSTEMD_LOG_LEVEL='loud': not a log level" "$dir/lv.log" ||
    sb_fail "no word on the bad SYSTEMD_LOG_LEVEL: $(cat "$dir/lv.log")"
sb_log "ok"
