# SPDX-License-Identifier: LGPL-2.1-or-later
# Drives tests/systemd/sb-client processes from a test script; source it
# after common.sh.
#
#   sbc_init DIR                   where the FIFOs and outputs go
#   sbc_start NAME USER [ARGS...]  starts $SB_CLIENT as USER (setpriv, so
#                                  the client's pid is the one it connects
#                                  with), reading commands from a FIFO
#   sbc NAME SECONDS COMMAND...    sends COMMAND, waits for its "= " line
#   sbc_send NAME COMMAND...       sends COMMAND without waiting ...
#   sbc_wait NAME SECONDS          ... and waits for its answer later
#   sbc_stop_all                   closes every client's input, waits for it
#
# After sbc/sbc_wait: SBC_REPLY is the answer without "= " ("ok ..." or
# "err ERRNAME ..."), SBC_DATA the lines the command printed before it.
# sbc_ok NAME SECONDS COMMAND... fails the test unless the answer is "ok".

declare -A SBC_FD=() SBC_PID=() SBC_ASKED=() SBC_ANSWERED=()
SBC_DIR=
SBC_REPLY=
SBC_DATA=

sbc_init() {
    SBC_DIR=$1
    mkdir -p "$SBC_DIR"
    chmod 755 "$SBC_DIR"
    # A client that died must fail the write, not kill the script.
    trap '' PIPE
}

sbc_start() {
    local name=$1 user=$2 fd
    shift 2
    [[ -x ${SB_CLIENT-} ]] || sb_fail "SB_CLIENT must name the sb-client program"
    mkfifo "$SBC_DIR/$name.in"
    : >"$SBC_DIR/$name.out"
    setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups -- \
        "$SB_CLIENT" "$@" <"$SBC_DIR/$name.in" >"$SBC_DIR/$name.out" 2>"$SBC_DIR/$name.err" &
    SBC_PID[$name]=$!
    exec {fd}>"$SBC_DIR/$name.in"
    SBC_FD[$name]=$fd
    SBC_ASKED[$name]=0
    SBC_ANSWERED[$name]=0
}

sbc_pid() {
    echo "${SBC_PID[$1]}"
}

sbc_send() {
    local name=$1
    shift
    sb_exited "${SBC_PID[$name]}" && sb_fail "sb-client $name exited: $(cat "$SBC_DIR/$name.err")"
    echo "$*" >&"${SBC_FD[$name]}" || sb_fail "cannot write to sb-client $name"
    SBC_ASKED[$name]=$(( SBC_ASKED[$name] + 1 ))
}

# _sbc_answers NAME: how many answers sb-client NAME has printed so far.
_sbc_answers() {
    grep -c '^= ' "$SBC_DIR/$1.out" || true
}

sbc_wait() {
    local name=$1 seconds=$2 want deadline block
    want=$(( SBC_ANSWERED[$name] + 1 ))
    (( want <= SBC_ASKED[$name] )) || sb_fail "sbc_wait $name: no command outstanding"
    deadline=$(( $(date +%s%N) + seconds * 1000000000 ))
    until (( $(_sbc_answers "$name") >= want )); do
        if sb_exited "${SBC_PID[$name]}"; then
            sb_fail "sb-client $name exited without answering: $(cat "$SBC_DIR/$name.err")"
        fi
        (( $(date +%s%N) < deadline )) ||
            sb_fail "sb-client $name did not answer within ${seconds}s; last lines: $(tail -n 3 "$SBC_DIR/$name.out")"
        sleep 0.01
    done
    SBC_ANSWERED[$name]=$want
    # The lines after answer want-1, up to answer want.
    block=$(awk -v n="$want" '/^= / { if (++k == n) { print; exit } next } k == n - 1' "$SBC_DIR/$name.out")
    SBC_REPLY=${block##*$'\n'}
    SBC_REPLY=${SBC_REPLY#= }
    if [[ $block == *$'\n'* ]]; then SBC_DATA=${block%$'\n'*}; else SBC_DATA=; fi
}

sbc() {
    local name=$1 seconds=$2
    shift 2
    sbc_send "$name" "$@"
    sbc_wait "$name" "$seconds"
}

sbc_ok() {
    sbc "$@"
    [[ $SBC_REPLY == ok* ]] || sb_fail "sb-client $1: '${*:3}' answered '$SBC_REPLY'"
}

# sbc_field KEY: the value of KEY=VALUE in SBC_REPLY.
sbc_field() {
    local w
    for w in $SBC_REPLY; do
        [[ $w == "$1="* ]] && { echo "${w#*=}"; return 0; }
    done
    sb_fail "no $1= in '$SBC_REPLY'"
}

sbc_stop_all() {
    local name i fd
    for name in "${!SBC_FD[@]}"; do
        fd=${SBC_FD[$name]}
        exec {fd}>&-
    done
    for name in "${!SBC_PID[@]}"; do
        for (( i = 0; i < 50; i++ )); do
            sb_exited "${SBC_PID[$name]}" && break
            sleep 0.1
        done
        sb_stop_pid "${SBC_PID[$name]}" 1
    done
    SBC_FD=() SBC_PID=()
}
