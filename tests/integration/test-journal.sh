#!/bin/bash
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

if [[ ${1-} != --inside ]]; then
    sb_require_root
    sb_require_cmd setpriv journalctl
    id -u $USER1 >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin $USER1 ||
        sb_skip "cannot create the user $USER1"
    exec "$here/../lib/with-journald.sh" "$self" --inside
fi

# Inside the namespace, journald up. /run is private here: keep to /tmp.
dir=$(mktemp -d /tmp/sbjournal-XXXXXX)
chmod 755 "$dir"
sock=$dir/sock
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do sb_stop_pid "$p" 2; done
    rm -rf "$dir"
}
trap cleanup EXIT
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

"$SIGBROKERD" --socket "$sock" --config "$dir/none.conf" --max-queue 1 2>"$dir/daemon.log" &
daemon=$!
pids+=("$daemon")
sb_wait_for 10 "the daemon's socket" test -S "$sock"

# A root receiver that takes nothing for a while: one signal in flight
# (window 1), one in the queue (--max-queue 1), the next refused.
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

refused=$(one_entry $MID_OVERFLOW "the refused send")
has_field "$refused" SIGBROKER_SENDER_UID 0 refused
has_field "$refused" SIGBROKER_SIGNO 35 refused
has_field "$refused" SIGBROKER_RECEIVER_PID "$listener" refused
has_field "$refused" _PID "$daemon" refused

one_entry $MID_STARTED "the daemon starting" >/dev/null
one_entry $MID_READY "the daemon ready" >/dev/null
[[ ! -s $dir/daemon.log ]] || sb_fail "the daemon wrote to stderr with a journal up: $(cat "$dir/daemon.log")"

sb_stop_pid "$listener"
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
grep -q "from pid [0-9]* (uid $uid1)$" <<<"$text" &&
    grep -q "was not delivered to pid $listener (uid 0):" <<<"$text" ||
    sb_fail "the explanation lacks the entry's fields: $text"
sb_log "ok"
