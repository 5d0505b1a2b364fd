#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sigbrokerctl's administrator side end to end, as root and as another
# user (sbtest1, created if missing; needs root, skips otherwise): monitor
# is refused with EPERM to a user outside the admin group, and streams
# every routed signal to root, as JSON and as text; stats, clients, groups
# and status print aligned tables within 80 columns that show what the
# daemon knows, and JSON with --json; a user sees only its own clients;
# bash completion offers the running daemon's client ids and groups.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
: "${SIGBROKERD:?run through meson}" "${SIGBROKERCTL:?run through meson}"
USER1=sbtest1
completion=$here/../../client/ctl/completion/sigbrokerctl.bash

sb_require_root
sb_require_cmd setpriv
id -u $USER1 >/dev/null 2>&1 ||
    useradd --system --no-create-home --shell /usr/sbin/nologin $USER1 ||
    sb_skip "cannot create the user $USER1"
uid1=$(id -u $USER1)

sb_test_dir sbadmin
sock=$dir/sock

ctl() { "$SIGBROKERCTL" --socket "$sock" "$@"; }
as_user1() {
    setpriv --reuid=$USER1 --regid="$(id -g $USER1)" --clear-groups -- "$SIGBROKERCTL" --socket "$sock" "$@"
}
ready() { grep -qx ready "$1"; }
# fits FILE: no line wider than 80 columns.
fits() {
    local w
    w=$(wc -L <"$1")
    (( w <= 80 )) || sb_fail "$2 is $w columns wide: $(cat "$1")"
}
expect() { grep -qE -- "$2" "$1" || sb_fail "$3: no line matching '$2' in: $(cat "$1")"; }

: >"$dir/none.conf"      # empty: the defaults; rewritten below and reloaded
"$SIGBROKERD" --socket "$sock" --config "$dir/none.conf" 2>"$dir/daemon.log" &
pids+=($!)
sb_wait_for 10 "the daemon's socket" test -S "$sock"

# 1. monitor, reload and disconnect are for administrators.
for cmd in monitor reload "disconnect 1" "--json monitor"; do
    rc=0
    # shellcheck disable=SC2086
    as_user1 $cmd >"$dir/u.out" 2>"$dir/u.err" || rc=$?
    [[ $rc -eq 1 ]] || sb_fail "'$cmd' as $USER1 exited $rc, expected 1"
    grep -q "EPERM" "$dir/u.err" || sb_fail "'$cmd' as $USER1 does not say EPERM: $(cat "$dir/u.err")"
    ! grep -q '"type":"signal"' "$dir/u.out" || sb_fail "'$cmd' as $USER1 printed events"
done

# 2. root monitors, as JSON and as text.
ctl --json monitor --count 3 >"$dir/mon.json" 2>"$dir/mon.json.err" &
mon_json=$!
pids+=($mon_json)
ctl monitor --count 3 >"$dir/mon.txt" 2>"$dir/mon.txt.err" &
mon_txt=$!
pids+=($mon_txt)
sb_wait_for 10 "the JSON monitor" ready "$dir/mon.json.err"
sb_wait_for 10 "the text monitor" ready "$dir/mon.txt.err"

"$SIGBROKERCTL" --socket "$sock" listen --group blue --window 1 --delay 60 USR2 RTMIN+1 \
    >"$dir/l0.out" 2>"$dir/l0.err" &
l0=$!
pids+=($l0)
setpriv --reuid=$USER1 --regid="$(id -g $USER1)" --clear-groups -- \
    "$SIGBROKERCTL" --socket "$sock" listen --group blue --group green RTMIN+1 >"$dir/l1.out" 2>"$dir/l1.err" &
l1=$!
pids+=($l1)
sb_wait_for 10 "root's listener" ready "$dir/l0.err"
sb_wait_for 10 "$USER1's listener" ready "$dir/l1.err"

ctl send --group blue --payload hi RTMIN+1 >/dev/null
as_user1 send --pid $l0 USR2 >/dev/null 2>&1 && sb_fail "$USER1 could signal root's listener"
ctl send --pid $l0 --priority 90 RTMIN+1 >/dev/null
wait $mon_json || sb_fail "the JSON monitor exited $?"
wait $mon_txt || sb_fail "the text monitor exited $?"

[[ $(grep -c '"type":"signal"' "$dir/mon.json") -eq 3 ]] || sb_fail "not 3 events: $(cat "$dir/mon.json")"
first=$(grep '"type":"signal"' "$dir/mon.json" | sed -n 1p)
second=$(grep '"type":"signal"' "$dir/mon.json" | sed -n 2p)
third=$(grep '"type":"signal"' "$dir/mon.json" | sed -n 3p)
grep -q '"target":{"kind":"group","name":"blue"}' <<<"$first" || sb_fail "first event: $first"
grep -q '"queued":2,' <<<"$first" || sb_fail "first event not queued for 2: $first"
grep -q "\"pid\":$l0,\"uid\":0,[^}]*\"outcome\":\"queued\"" <<<"$first" || sb_fail "root's listener missing: $first"
grep -q "\"pid\":$l1,\"uid\":$uid1,[^}]*\"outcome\":\"queued\"" <<<"$first" || sb_fail "$USER1's listener missing: $first"
grep -q "\"sender\":{[^}]*\"uid\":$uid1," <<<"$second" || sb_fail "second event not from $USER1: $second"
grep -q '"error":"EPERM"' <<<"$second" && grep -q '"outcome":"denied"' <<<"$second" ||
    sb_fail "second event not denied: $second"
grep -q '"priority":90,' <<<"$third" || sb_fail "third event: $third"
grep -q '"missed":0}' <<<"$third" || sb_fail "third event missed some: $third"

fits "$dir/mon.txt" "monitor"
expect "$dir/mon.txt" "^[0-9:.]+ RTMIN\+1 priority 0 to group blue: queued 2$" "monitor"
expect "$dir/mon.txt" "^  queued +client [0-9]+, pid $l1, uid $uid1 \(sigbrokerctl\)$" "monitor"
expect "$dir/mon.txt" "^[0-9:.]+ USR2 priority 0 to pid $l0: denied 1 EPERM$" "monitor"
expect "$dir/mon.txt" "^  from client [0-9]+, pid [0-9]+, uid $uid1 \(sigbrokerctl\)$" "monitor"

# 3. The tables, as root. (clients grows a column per subscription list:
# it may be wider than 80 columns, as lsblk is.)
for cmd in stats clients groups status; do
    ctl $cmd >"$dir/$cmd.txt" || sb_fail "sigbrokerctl $cmd exited $?"
    [[ $cmd == clients ]] || fits "$dir/$cmd.txt" "$cmd"
    ctl --json $cmd >"$dir/$cmd.json" || sb_fail "sigbrokerctl --json $cmd exited $?"
    [[ $(wc -l <"$dir/$cmd.json") -eq 1 ]] || sb_fail "--json $cmd is not one line"
done
expect "$dir/stats.txt" "^  sent +3 delivered +[0-9]+$" "stats"
expect "$dir/stats.txt" "^  denied \(policy\) +1 dropped \(drop-oldest\) +0$" "stats"
expect "$dir/stats.txt" "^PRIORITY STAGE +COUNT +MEAN +P50 +P90 +P99$" "stats"
expect "$dir/stats.txt" "^0-24 +written +2 " "stats"   # the priority 90 one waits behind the window
expect "$dir/stats.txt" "^ *[0-9]+ +$l0 sigbrokerctl " "stats"
expect "$dir/clients.txt" "^ *ID +PID +UID +PGID +SID COMMAND +QUEUE FLIGHT WINDOW SIGNALS +GROUPS$" "clients"
expect "$dir/clients.txt" "^ *[0-9]+ +$l0 +0 +[0-9]+ +[0-9]+ sigbrokerctl +1 +1 +1 USR2 RTMIN\+1 +blue$" "clients"
expect "$dir/clients.txt" "^ *[0-9]+ +$l1 +$uid1 " "clients"
expect "$dir/groups.txt" "^blue +named +[0-9]+ +($l0|$l1) " "groups"
expect "$dir/groups.txt" "^green +named +[0-9]+ +$l1 +$uid1 sigbrokerctl$" "groups"
expect "$dir/groups.txt" "^[0-9]+ +process group +[0-9]+ " "groups"
expect "$dir/groups.txt" "^[0-9]+ +session +[0-9]+ " "groups"
expect "$dir/status.txt" "^sigbrokerd [0-9.]+, pid [0-9]+$" "status"
expect "$dir/status.txt" "^  socket: +$sock$" "status"
expect "$dir/status.txt" "^  max-queue +1024 max-queue-bytes +4 MiB$" "status"
expect "$dir/stats.json" '^\{"global":\{"sent":3,' "--json stats"
expect "$dir/clients.json" "\"pid\":$l1,\"uid\":$uid1," "--json clients"

# 4. A user sees its own clients only; groups say how many are hidden.
as_user1 --json clients >"$dir/u.json"
grep -q "\"pid\":$l1," "$dir/u.json" || sb_fail "$USER1 does not see its listener: $(cat "$dir/u.json")"
! grep -q '"uid":0,' "$dir/u.json" || sb_fail "$USER1 sees root's clients: $(cat "$dir/u.json")"
as_user1 groups >"$dir/u.txt"
fits "$dir/u.txt" "groups as $USER1"
expect "$dir/u.txt" "^\(1 more: other users' clients, not shown\)$" "groups as $USER1"
! grep -q " $l0 " "$dir/u.txt" || sb_fail "$USER1 sees root's listener in groups: $(cat "$dir/u.txt")"

# 5. Completion asks the daemon named by --socket.
l0_id=$(grep -o "{\"id\":[0-9]*,\"pid\":$l0," "$dir/clients.json" | grep -o '[0-9]*' | head -1)
complete_words() {
    COMP_WORDS=("$SIGBROKERCTL" --socket "$sock" "$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _sigbrokerctl
    printf '%s\n' "${COMPREPLY[@]}"
}
# shellcheck source=/dev/null
. "$completion"
words=$(complete_words disconnect "")
grep -qx "$l0_id" <<<"$words" || sb_fail "completion offers no client id $l0_id: $words"
words=$(complete_words send --group "" | sort | tr '\n' ' ')
[[ $words == "blue green " ]] || sb_fail "completion of --group: $words"
words=$(complete_words listen rtmin+1)
grep -qx "RTMIN+12" <<<"$words" || sb_fail "completion of signal names: $words"
[[ $(complete_words sta) == $'stats\nstatus' ]] || sb_fail "completion of commands: $(complete_words sta)"
# 6. Members of the admin group may monitor too: make sbtest1's group it.
printf '[admin]\ngroup = %s\n' "$(id -gn $USER1)" >"$dir/none.conf"
ctl reload >/dev/null || sb_fail "reload failed"
as_user1 --json monitor --count 1 >"$dir/admin.json" 2>"$dir/admin.err" &
admin_mon=$!
pids+=($admin_mon)
sb_wait_for 10 "the admin group's monitor" ready "$dir/admin.err"
ctl send --group green RTMIN+1 >/dev/null
wait $admin_mon || sb_fail "the admin group's monitor exited $?: $(cat "$dir/admin.err")"
grep -q '"type":"signal".*"target":{"kind":"group","name":"green"}' "$dir/admin.json" ||
    sb_fail "the admin group's monitor saw no event: $(cat "$dir/admin.json")"
sb_log "ok"
