#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside tests/lib/private-systemd.sh (see test-restart-scale.sh): N
# subscribers of uid 0, all in one named group, across
#   1. `systemctl restart sigbrokerd.service`, and
#   2. `kill -9` of the main process (Restart=on-failure brings it back).
# In each, one signal is sent to the group once the old daemon is gone (it
# waits in the sender's socket for the new one); every subscriber must read
# it with the sequence number after the one it read last, then one signal
# sent to each by the client id it was given at connect, and nothing more.
# The daemon's journal must say it restored all of them and let go of none.
# Prints the times from the restart to READY=1 and to the first and last
# delivery, the restart journal's size and the new daemon's peak RSS.
#   SB_FLEET_N        subscribers (default 9000 x SB_STRESS_SCALE, at least 100)
#   SB_FLEET_CONNECT_TIMEOUT  seconds for connecting them (default 300)
#   SB_FLEET_VERBOSE  also CPU time of systemd and the daemon while they
#                     connect, and the journal around the restarts
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/inside-systemd.sh"
. "$here/../lib/sb-client.sh"
SB_TEST_NAME=inside-restart-scale

UNIT=sigbrokerd.service
GROUP=fleet
SIGNO=36        # RTMIN+2
N=${SB_FLEET_N:-$(awk -v s="${SB_STRESS_SCALE:-1}" 'BEGIN { n = int(9000 * s); print n < 100 ? 100 : n }')}

unset SIGBROKER_SOCKET XDG_RUNTIME_DIR
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
    sbc_stop_all
    rm -rf "$tmp"
}
trap cleanup EXIT
sbc_init "$tmp/clients"


systemctl start sigbrokerd.socket
SB_CLIENT=$SB_FLEET sbc_start fleet root
t_start=$(date +%s%N)
sbc_ok fleet "${SB_FLEET_CONNECT_TIMEOUT:-300}" connect "$N" "$GROUP" "$SIGNO"
[[ -z ${SB_FLEET_VERBOSE-} ]] || sb_log "CPU ticks: systemd $(awk '{ print $14 + $15 }' /proc/1/stat), sigbrokerd $(awk '{ print $14 + $15 }' "/proc/$(unit_prop "$UNIT" MainPID)/stat"), fleet $(awk '{ print $14 + $15 }' "/proc/$(sbc_pid fleet)/stat")"
connect_s=$(awk -v a="$t_start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
sbc_ok fleet 30 status
(( $(sbc_field clients) == N + 1 )) || sb_fail "the daemon counts $(sbc_field clients) clients, want $((N + 1))"
sb_log "$N subscribers and a sender connected in ${connect_s}s; $(unit_prop "$UNIT" StatusText)"

fleet_only() {
    sbc_ok fleet 30 status
    (( $(sbc_field clients) == N + 1 ))
}

show_status() {
    [[ -x $SB_BIN/sigbrokerctl ]] || return 0
    sb_log "sigbrokerctl status $1:"
    "$SB_BIN/sigbrokerctl" status | sed 's/^/    /' >&2 || sb_fail "sigbrokerctl status failed"
    # Its connection is gone before the daemon is: it is not one to keep.
    sb_wait_for 30 "the daemon to see sigbrokerctl leave" fleet_only
}

# scenario NAME HOW: HOW is restart or kill.
scenario() {
    local name=$1 how=$2 old_pid restarts t0 ready_us sysctl_pid=
    old_pid=$(unit_prop "$UNIT" MainPID)
    restarts=$(unit_prop "$UNIT" NRestarts)
    show_status "before the $how"
    sbc_ok fleet 10 mark
    t0=$(sbc_field t0_us)
    case $how in
    restart)
        systemctl restart "$UNIT" &
        sysctl_pid=$!
        ;;
    kill)
        kill -KILL "$old_pid"
        ;;
    esac
    sbc_ok fleet 60 wait-gone "$old_pid" 60000
    # Waits in the sender's socket until the new daemon reads it.
    sbc fleet 120 send-group "$GROUP" "$SIGNO" "$name"
    [[ $SBC_REPLY == "ok queued=$N merged=0 refused=0 denied=0 "* ]] ||
        sb_fail "$name: the send to the group answered '$SBC_REPLY', want queued=$N"
    local send_reply=$SBC_REPLY
    sbc fleet 120 recv-all "$name" 60000
    [[ $SBC_REPLY == ok* ]] || sb_fail "$name: the group signal: $SBC_REPLY"
    local first_us last_us
    first_us=$(sbc_field first_us)
    last_us=$(sbc_field last_us)
    if [[ -n $sysctl_pid ]]; then
        wait "$sysctl_pid" || sb_fail "systemctl restart $UNIT failed"
    else
        sb_wait_for 60 "Restart=on-failure to bring $UNIT back" unit_restarted "$UNIT" "$old_pid"
        (( $(unit_prop "$UNIT" NRestarts) == restarts + 1 )) || sb_fail "$UNIT was not restarted by systemd"
    fi
    ready_us=$(( $(unit_prop "$UNIT" ActiveEnterTimestampMonotonic) - t0 ))
    local new_pid hwm rss
    new_pid=$(unit_prop "$UNIT" MainPID)
    [[ $new_pid != "$old_pid" && $new_pid != 0 ]] || sb_fail "$UNIT has no new main process"
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$new_pid/status")
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$new_pid/status")
    sbc_ok fleet 30 status
    [[ $(sbc_field daemon_pid) == "$new_pid" ]] || sb_fail "$name: the sender talks to pid $(sbc_field daemon_pid), not $new_pid"
    (( $(sbc_field clients) == N + 1 )) || sb_fail "$name: the daemon counts $(sbc_field clients) clients, want $((N + 1))"
    local journal_bytes=$(sbc_field journal_bytes) capacity=$(sbc_field capacity)
    # The same client ids: each is reached by the id it had before.
    sbc fleet 120 send-ids "$SIGNO" "$name-id"
    [[ $SBC_REPLY == "ok queued=$N "*"failed=0" ]] || sb_fail "$name: sends by client id: $SBC_REPLY"
    sbc fleet 120 recv-all "ids:$name-id" 60000
    [[ $SBC_REPLY == ok* ]] || sb_fail "$name: signals by client id: $SBC_REPLY"
    sbc fleet 30 quiet
    [[ $SBC_REPLY == ok* ]] || sb_fail "$name: duplicates: $SBC_REPLY"
    show_status "after the $how"
    printf '%s: %d subscribers kept (same ids); group send %s; READY=1 after %d ms, first delivery after %d ms, last after %d ms; restart journal %d bytes; new daemon peak RSS %d KiB (now %d KiB); restart capacity %d\n' \
        "$name" "$N" "${send_reply#ok }" $(( ready_us / 1000 )) $(( first_us / 1000 )) $(( last_us / 1000 )) \
        "$journal_bytes" "$hwm" "$rss" "$capacity" | tee -a "$tmp/summary" >&2
}

scenario clean-restart restart
scenario kill-9 kill

journalctl --sync
restored=$(journalctl -u "$UNIT" -o cat --no-pager | grep -c "^Restored $((N + 1)) clients " || true)
(( restored == 2 )) || sb_fail "want 2 'Restored $((N + 1)) clients' journal entries, got $restored:" \
    "$(journalctl -u "$UNIT" -o cat --no-pager | tail -n 20)"
if journal_has -u "$UNIT" MESSAGE_ID=e257d01f84874a00bd29611218782595; then
    sb_fail "connections were not kept: $(journalctl -u "$UNIT" -o cat --no-pager MESSAGE_ID=e257d01f84874a00bd29611218782595)"
fi
# Where RLIMIT_NOFILE cannot be what the unit asks, the daemon says how
# many connections a restart keeps, at each start.
if (( capacity_seen = $(journalctl -u "$UNIT" -o cat --no-pager MESSAGE_ID=08ea39165d294d6b846be156d709baea | wc -l) )); then
    sb_log "the daemon warned at each of its $capacity_seen starts: $(journalctl -u "$UNIT" -o cat --no-pager -n 1 MESSAGE_ID=08ea39165d294d6b846be156d709baea)"
fi
if [[ -n ${SB_FLEET_VERBOSE-} ]]; then
    journalctl -o short-monotonic --no-pager | grep -E 'sigbrokerd|Stopp|Start' | tail -n 40 >&2
fi
systemctl stop sigbrokerd.socket "$UNIT"
sb_log "summary:"
cat "$tmp/summary" >&2
sb_log "ok"
