#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's runtime directory and socket get their documented modes
# (0755 and 0666) whatever the umask it runs under: under umask 077 a
# directory made with the umask's mode (0700) would lock out every user but
# root. Run in a private mount namespace with a fresh /run, so that the
# default path /run/sigbroker/sigbroker.sock is ours; another user
# (sbtest1, created if missing) must then reach the daemon. Needs root.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
: "${SIGBROKERD:?run through meson}" "${SIGBROKERCTL:?run through meson}"
USER1=sbtest1

sb_require_root
sb_require_cmd setpriv unshare
id -u $USER1 >/dev/null 2>&1 ||
    useradd --system --no-create-home --shell /usr/sbin/nologin $USER1 ||
    sb_skip "cannot create the user $USER1"

if [[ ${1:-} != inside ]]; then
    unshare --mount --propagation private -- "$0" inside
    exit
fi

mount -t tmpfs -o mode=0755 tmpfs /run
dir=$(mktemp -d /tmp/sbmodes-XXXXXX)
chmod 755 "$dir"
pid=
cleanup() {
    [[ -z $pid ]] || sb_stop_pid "$pid" 2
    rm -rf "$dir"
}
trap cleanup EXIT

(umask 077 && exec "$SIGBROKERD" --config /dev/null) 2>"$dir/daemon.log" &
pid=$!
sock=/run/sigbroker/sigbroker.sock
sb_wait_for 10 "the socket" test -S $sock

mode=$(stat -c %a /run/sigbroker)
[[ $mode == 755 ]] || sb_fail "/run/sigbroker has mode $mode under umask 077, not 755"
mode=$(stat -c %a $sock)
[[ $mode == 666 ]] || sb_fail "$sock has mode $mode under umask 077, not 666"
setpriv --reuid=$USER1 --regid="$(id -g $USER1)" --clear-groups -- "$SIGBROKERCTL" --socket $sock status \
    >"$dir/status" 2>&1 || sb_fail "$USER1 cannot reach the daemon: $(cat "$dir/status")"
sb_log "under umask 077: /run/sigbroker 755, socket 666, $USER1 connects"
