#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# with-journald.sh CMD [ARGS...]
#
# Runs CMD in a private mount namespace in which a standalone
# systemd-journald serves the usual sockets (/run/systemd/journal/socket,
# stdout, dev-log) and keeps a volatile journal in /run/log/journal. The
# host is untouched: /run and /var/log/journal are fresh tmpfs mounts seen
# only inside the namespace (so CMD must not live under /run).
#
# CMD gets JOURNAL_DIR=/run/log/journal and JOURNALD_PID, and queries the
# journal itself, e.g.
#   journalctl --sync
#   journalctl -D "$JOURNAL_DIR" -o json SIGBROKER_SIGNO=15 --no-pager
# Exits with CMD's status; 77 (skip) without root or journald.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"
SB_TEST_NAME=with-journald

JOURNALD=${JOURNALD:-/lib/systemd/systemd-journald}

if [[ ${1-} != --inside ]]; then
    (( $# > 0 )) || { echo "usage: with-journald.sh CMD [ARGS...]" >&2; exit 2; }
    sb_require_root
    [[ -x $JOURNALD ]] || sb_skip "$JOURNALD not found"
    sb_require_cmd unshare journalctl
    exec unshare --mount --propagation private "$(readlink -f "$0")" --inside "$@"
fi
shift

# Mount first: a mkdir before the tmpfs would land on the host's /run.
mount -t tmpfs -o mode=755 tmpfs /run
if [[ -d /var/log/journal ]]; then
    mount -t tmpfs -o mode=755 tmpfs /var/log/journal
fi
mkdir -p /run/systemd/journal /run/systemd/journald.conf.d /run/log/journal
# Audit= is unknown before systemd 254 and then only warns.
printf '%s\n' '[Journal]' Storage=volatile ReadKMsg=no ForwardToSyslog=no \
    ForwardToWall=no ForwardToConsole=no ForwardToKMsg=no Audit=no \
    RateLimitBurst=0 >/run/systemd/journald.conf.d/50-test.conf

# Its own messages go to the log file rather than to the host's kmsg.
SYSTEMD_LOG_TARGET=console "$JOURNALD" </dev/null >/run/journald.log 2>&1 &
journald_pid=$!
trap 'sb_stop_pid $journald_pid' EXIT

journald_up() {
    kill -0 $journald_pid 2>/dev/null || {
        cat /run/journald.log >&2
        sb_fail "systemd-journald exited at start"
    }
    [[ -S /run/systemd/journal/socket && -S /run/systemd/journal/stdout ]]
}
sb_wait_for 10 "systemd-journald's sockets" journald_up

export JOURNAL_DIR=/run/log/journal JOURNALD_PID=$journald_pid
rc=0
"$@" || rc=$?
exit $rc
