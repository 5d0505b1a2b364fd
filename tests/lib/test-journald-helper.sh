#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Proves tests/lib/with-journald.sh: structured fields sent through
# libsystemd reach a private journald and come back from journalctl, with
# the sender's trusted _UID; stdout streams work; CMD's exit status is
# passed through; journald does not outlive the helper.
set -euo pipefail
self=$(readlink -f "$0")
here=$(dirname "$self")
. "$here/../lib/common.sh"
with_journald=$here/../lib/with-journald.sh

# Runs inside the namespace, with journald up.
inside() {
    local token=$1 pidfile=$2 json
    echo "$JOURNALD_PID" >"$pidfile"

    # logger --journald sends its stdin as fields with sd_journal_sendv().
    logger --journald <<<"MESSAGE=structured test
SB_TEST_TOKEN=$token
SB_TEST_TEXT=a=b c, \"quoted\""
    runuser -u nobody -- logger --journald <<<"MESSAGE=from nobody
SB_TEST_TOKEN=$token-nobody"
    echo "streamed line $token" | systemd-cat -t sb-test-cat -p warning
    journalctl --sync

    json=$(journalctl -D "$JOURNAL_DIR" -o json --no-pager SB_TEST_TOKEN="$token")
    [[ $(wc -l <<<"$json") -eq 1 && -n $json ]] ||
        sb_fail "expected one entry with SB_TEST_TOKEN=$token, got: $json"
    grep -qF '"SB_TEST_TEXT":"a=b c, \"quoted\""' <<<"$json" ||
        sb_fail "SB_TEST_TEXT did not round-trip: $json"
    grep -qF '"_TRANSPORT":"journal"' <<<"$json" || sb_fail "not a native journal entry: $json"

    json=$(journalctl -D "$JOURNAL_DIR" -o json --no-pager SB_TEST_TOKEN="$token-nobody" _UID=65534)
    [[ -n $json ]] || sb_fail "no entry from uid 65534 with SB_TEST_TOKEN=$token-nobody"

    [[ $(journalctl -D "$JOURNAL_DIR" -o cat --no-pager -t sb-test-cat PRIORITY=4) == "streamed line $token" ]] ||
        sb_fail "systemd-cat line missing: $(journalctl -D "$JOURNAL_DIR" -o short --no-pager)"
}

if [[ ${1-} == --inside ]]; then
    inside "$2" "$3"
    exit 0
fi

sb_require_root
sb_require_cmd logger systemd-cat journalctl runuser
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rc=0
"$with_journald" sh -c 'exit 3' || rc=$?
[[ $rc -ne 77 ]] || sb_skip "with-journald.sh cannot run here"
[[ $rc -eq 3 ]] || sb_fail "with-journald.sh returned $rc for a command exiting 3"

"$with_journald" "$self" --inside "sb-$$-$RANDOM" "$tmp/journald.pid" ||
    sb_fail "the checks inside the journald namespace failed"

journald_pid=$(cat "$tmp/journald.pid")
[[ $journald_pid =~ ^[0-9]+$ ]] || sb_fail "bad JOURNALD_PID '$journald_pid'"
if kill -0 "$journald_pid" 2>/dev/null && grep -q journald "/proc/$journald_pid/comm"; then
    sb_fail "systemd-journald ($journald_pid) still runs after with-journald.sh returned"
fi
sb_log "ok"
