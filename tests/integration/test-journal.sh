#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sigbrokerd's journal entries for real, in a standalone journald
# (tests/lib/with-journald.sh, which needs root; skips otherwise): a denied
# send and a refused send each leave exactly one entry with the right
# MESSAGE_ID, SIGBROKER_SENDER_UID and SIGBROKER_SIGNO, visible with
# journalctl -o json; starting, ready and stopped are there too, nothing
# goes to stderr while the journal is up, and journalctl -x explains the
# entries with daemon/sigbroker.catalog.
set -euo pipefail
self=$(readlink -f "$0")
here=$(dirname "$self")
. "$here/../lib/common.sh"
: "${SIGBROKERD:?run through meson}" "${SIGBROKERCTL:?run through meson}"
USER1=sbtest1
catalog=$here/../../daemon/sigbroker.catalog

MID_STARTED=c93ea2d811d24cc9bbcd1ca6fb567984
MID_READY=c4a7e4354fb847308ebd266833974aa5
MID_STOPPED=15e288b532114ff1be82a5eaf83f10c3
MID_DENIED=641733f1291e46fd92ef2966b10a379b
MID_OVERFLOW=024dbdf980f84f7085b71c0657b4b40b
MID_RELOADED=66008dc3351049cebed17bfee709d457
MID_RELOAD_FAILED=a06c61f437fb4df0b0dbb3532c68dc12
MID_UID_LIMIT=f1566e816222492ebd8f6b378f006c41

if [[ ${1-} != --inside ]]; then
    sb_require_root
    sb_require_cmd setpriv journalctl
    id -u $USER1 >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin $USER1 ||
        sb_skip "cannot create the user $USER1"
    exec "$here/../lib/with-journald.sh" "$self" --inside
fi

# Inside the namespace, journald up. /run is private here: keep to /tmp.
# Also checked: reload and failed reload, a per-uid limit hit.
sb_test_dir sbjournal
sock=$dir/sock
uid1=$(id -u $USER1)

entries() { journalctl -D "$JOURNAL_DIR" -o json --no-pager "$@"; }
# one_entry MESSAGE_ID WHAT: the only entry with that id, or fail.
one_entry() {
    local json n
    json=$(entries MESSAGE_ID="$1")
    n=$(grep -c . <<<"$json" || true)
    [[ $n -eq 1 ]] || sb_fail "$n journal entries for $2 (MESSAGE_ID=$1), expected 1: $json"
    printf '%s\n' "$json"
}
has_field() {
    grep -qF "\"$2\":\"$3\"" <<<"$1" || sb_fail "the $4 entry lacks $2=$3: $1"
}
ready() { grep -qx ready "$1"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$2"; }
# check_call_site ENTRY WHAT FILE FUNC: CODE_FILE is FILE (relative to the
# source tree), CODE_FUNC is FUNC, and line CODE_LINE of FILE logs.
check_call_site() {
    local file line src
    file=$(field CODE_FILE "$1")
    line=$(field CODE_LINE "$1")
    [[ $file == "$3" ]] || sb_fail "the $2 entry has CODE_FILE=$file, want $3: $1"
    has_field "$1" CODE_FUNC "$4" "$2"
    src=$(sed -n "${line}p" "$here/../../$file")
    [[ $src == *log_* ]] || sb_fail "the $2 entry's CODE_LINE=$line is '$src' in $file, not a log call"
}

conf=$dir/sigbroker.conf
printf '[limits]\nmax-queue = 1\n' >"$conf"
"$SIGBROKERD" --socket "$sock" --config "$conf" 2>"$dir/daemon.log" &
daemon=$!
pids+=("$daemon")
sb_wait_for 10 "the daemon's socket" test -S "$sock"

# A root receiver that takes nothing for a while: one signal in flight
# (window 1), one in the queue (max-queue 1), the next refused.
"$SIGBROKERCTL" --socket "$sock" listen --window 1 --delay 60 RTMIN+1 USR2 >"$dir/l.out" 2>"$dir/l.err" &
listener=$!
pids+=("$listener")
sb_wait_for 10 "the listener" ready "$dir/l.err"

# Denied: another user may not signal root's process (kill(2)'s rule).
rc=0
setpriv --reuid=$USER1 --regid="$(id -g $USER1)" --clear-groups -- \
    "$SIGBROKERCTL" --socket "$sock" send --pid "$listener" USR2 >/dev/null 2>"$dir/denied.err" || rc=$?
[[ $rc -eq 1 ]] && grep -q EPERM "$dir/denied.err" ||
    sb_fail "the send of $USER1 was not denied (exit $rc): $(cat "$dir/denied.err")"

# Refused: the third RTMIN+1 finds the queue full.
"$SIGBROKERCTL" --socket "$sock" send --pid "$listener" RTMIN+1 >/dev/null
"$SIGBROKERCTL" --socket "$sock" send --pid "$listener" RTMIN+1 >/dev/null
rc=0
"$SIGBROKERCTL" --socket "$sock" send --pid "$listener" RTMIN+1 >/dev/null 2>"$dir/refused.err" || rc=$?
[[ $rc -eq 1 ]] && grep -q EAGAIN "$dir/refused.err" ||
    sb_fail "the third send was not refused (exit $rc): $(cat "$dir/refused.err")"

journalctl --sync
denied=$(one_entry $MID_DENIED "the denied send")
has_field "$denied" SIGBROKER_SENDER_UID "$uid1" denied
has_field "$denied" SIGBROKER_SIGNO 12 denied
has_field "$denied" SIGBROKER_RECEIVER_PID "$listener" denied
has_field "$denied" SIGBROKER_RECEIVER_UID 0 denied
has_field "$denied" SYSLOG_IDENTIFIER sigbrokerd denied
has_field "$denied" _TRANSPORT journal denied
has_field "$denied" _PID "$daemon" denied
# Enumerations by name, and the call site in the source tree: the line
# CODE_LINE names in CODE_FILE is the log call of CODE_FUNC.
has_field "$denied" SIGBROKER_SIGNAL USR2 denied
has_field "$denied" SIGBROKER_TARGET_KIND pid denied
check_call_site "$denied" denied daemon/core/route.c log_refusal

refused=$(one_entry $MID_OVERFLOW "the refused send")
has_field "$refused" SIGBROKER_SENDER_UID 0 refused
has_field "$refused" SIGBROKER_SIGNO 35 refused
has_field "$refused" SIGBROKER_RECEIVER_PID "$listener" refused
has_field "$refused" _PID "$daemon" refused
has_field "$refused" SIGBROKER_SIGNAL RTMIN+1 refused
has_field "$refused" SIGBROKER_TARGET_KIND pid refused

check_call_site "$(one_entry $MID_STARTED "the daemon starting")" starting daemon/main.c main
entry=$(one_entry $MID_READY "the daemon ready")
check_call_site "$entry" ready daemon/main.c main
grep -qF "listening on $sock" <<<"$entry" || sb_fail "the ready entry does not name $sock: $entry"

# Reloaded, with a per-uid limit that sbtest1 then hits sending to its own
# listener: one delivery in flight, one pending (charged to its uid), the
# third refused by the uid's limit rather than by the roomy queue.
printf '[limits]\nmax-queue = 8\nmax-pending-per-uid = 1\n' >"$conf"
"$SIGBROKERCTL" --socket "$sock" reload >/dev/null || sb_fail "reload failed"
setpriv --reuid=$USER1 --regid="$(id -g $USER1)" --clear-groups -- \
    "$SIGBROKERCTL" --socket "$sock" listen --window 1 --delay 60 RTMIN+2 >"$dir/l1.out" 2>"$dir/l1.err" &
listener1=$!
pids+=("$listener1")
sb_wait_for 10 "$USER1's listener" ready "$dir/l1.err"
for i in 1 2 3; do
    rc=0
    setpriv --reuid=$USER1 --regid="$(id -g $USER1)" --clear-groups -- \
        "$SIGBROKERCTL" --socket "$sock" send --pid "$listener1" RTMIN+2 >/dev/null 2>"$dir/u.err" || rc=$?
    [[ $i -lt 3 && $rc -eq 0 || $i -eq 3 && $rc -eq 1 ]] ||
        sb_fail "send $i of $USER1 to itself exited $rc: $(cat "$dir/u.err")"
done
# A bad file is refused and says where.
printf '[limits]\nmax-queue = lots\n' >"$conf"
rc=0
"$SIGBROKERCTL" --socket "$sock" reload >/dev/null 2>"$dir/reload.err" || rc=$?
[[ $rc -eq 1 ]] || sb_fail "a bad config was reloaded (exit $rc)"
journalctl --sync
entry=$(one_entry $MID_RELOADED "the reload")
has_field "$entry" SIGBROKER_CONFIG "$conf" reload
check_call_site "$entry" reload daemon/core/broker.c broker_reload
entry=$(one_entry $MID_RELOAD_FAILED "the failed reload")
has_field "$entry" SIGBROKER_CONFIG "$conf" "failed reload"
grep -q "sigbroker.conf:2" <<<"$entry" || sb_fail "the failed reload does not name the line: $entry"
entry=$(one_entry $MID_UID_LIMIT "the per-uid limit")
has_field "$entry" SIGBROKER_SENDER_UID "$uid1" "per-uid limit"
has_field "$entry" SIGBROKER_SIGNO 36 "per-uid limit"
[[ ! -s $dir/daemon.log ]] || sb_fail "the daemon wrote to stderr with a journal up: $(cat "$dir/daemon.log")"

sb_stop_pid "$listener"
sb_stop_pid "$listener1"
sb_stop_pid "$daemon"
journalctl --sync
one_entry $MID_STOPPED "the daemon stopping" >/dev/null

# journalctl -x with our catalog. journalctl reads the compiled catalog
# from /var/lib/systemd/catalog whatever --root says, so both catalog
# directories get a tmpfs of their own in this mount namespace: the host's
# stay untouched.
[[ -d /usr/lib/systemd/catalog && -d /var/lib/systemd/catalog ]] || {
    sb_log "ok (no catalog directories here: journalctl -x not checked)"
    exit 0
}
mount -t tmpfs tmpfs /usr/lib/systemd/catalog
mount -t tmpfs tmpfs /var/lib/systemd/catalog
cp "$catalog" /usr/lib/systemd/catalog/
journalctl --update-catalog || sb_fail "journalctl rejects the catalog"
for mid in $MID_STARTED $MID_READY $MID_STOPPED $MID_DENIED $MID_OVERFLOW; do
    journalctl --list-catalog --no-pager | grep -q "^$mid sigbroker: " ||
        sb_fail "the catalog has no entry for $mid"
done
text=$(journalctl -D "$JOURNAL_DIR" -x --no-pager MESSAGE_ID=$MID_DENIED)
grep -q "Subject: A signal was denied by policy" <<<"$text" ||
    sb_fail "journalctl -x does not explain the denial: $text"
grep -q "Signal USR2 from pid [0-9]* (uid $uid1)$" <<<"$text" &&
    grep -q "Target kind: pid (" <<<"$text" &&
    grep -q "was not delivered to pid $listener (uid 0):" <<<"$text" ||
    sb_fail "the explanation lacks the entry's fields: $text"
sb_log "ok"
