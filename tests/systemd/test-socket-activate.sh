#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sigbrokerd started by systemd-socket-activate (the socket passed as fd 3,
# named sigbroker, as sigbrokerd.socket does) shows the socket's real path,
# read from the fd, in `sigbrokerctl status`, in the status answer's JSON
# and in its ready line, for a path and for an abstract socket; and it
# leaves the socket file, which is not its own, when it stops.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
[[ -n ${SIGBROKERD-} && -n ${SIGBROKERCTL-} ]] || sb_skip "SIGBROKERD and SIGBROKERCTL are not set (run through meson)"
sb_require_cmd systemd-socket-activate
CTL=$SIGBROKERCTL

sb_test_dir sbactivate
: >"$dir/empty.conf"
unset NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES SYSTEMD_LOG_LEVEL

# activated ADDRESS SHOWN: the daemon activated on ADDRESS shows SHOWN.
activated() {
    local address=$1 shown=$2 log=$dir/daemon.log daemon st
    systemd-socket-activate --seqpacket -l "$address" --fdname=sigbroker \
        "$SIGBROKERD" --config "$dir/empty.conf" 2>"$log" &
    daemon=$!
    pids+=("$daemon")
    # The first connection execs the daemon, which then answers it.
    sb_wait_for 10 "systemd-socket-activate to listen" grep -q "^Listening on" "$log"
    st=$("$CTL" --socket "$address" status) || sb_fail "status on $address failed: $(cat "$log")"
    grep -qx "  socket: *$shown (socket activation)" <<<"$st" ||
        sb_fail "status on $address shows:"$'\n'"$st"
    st=$("$CTL" --socket "$address" --json status) || sb_fail "--json status on $address failed"
    grep -qF "\"socket\":\"$shown\",\"socket_activated\":true" <<<"$st" ||
        sb_fail "the status answer on $address lacks \"socket\":\"$shown\": $st"
    grep -qx "sigbrokerd: info: sigbrokerd .* ready, listening on $shown (socket activation)" "$log" ||
        sb_fail "the ready line does not name $shown: $(cat "$log")"
    sb_stop_pid "$daemon"
    grep -qx "sigbrokerd: info: sigbrokerd stopping: 0 clients connected, 0 signals delivered" "$log" ||
        sb_fail "the daemon on $address did not stop cleanly: $(cat "$log")"
}

activated "$dir/sock" "$dir/sock"
# The socket unit owns the file: the daemon must not remove it.
[[ -S $dir/sock ]] || sb_fail "the daemon removed the socket file systemd passed"
abstract=@sbactivate-$$
activated "$abstract" "$abstract"
sb_log "ok"
