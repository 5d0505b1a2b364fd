#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# inside-package.sh TREE: runs inside tests/lib/private-systemd.sh, on
# overlays, for test-package.sh. TREE is a copy of the source tree; the
# README blocks are taken from TREE/README.md and run there, as root (the
# enable-user block as a user in their own systemd --user).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"
. "$here/../lib/inside-systemd.sh"
. "$here/readme.sh"
SB_TEST_NAME=inside-package

tree=$1
readme=$tree/README.md
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
unset SIGBROKER_SOCKET XDG_RUNTIME_DIR LD_LIBRARY_PATH
SOCK=/run/sigbroker/sigbroker.sock
SB_MID_READY=c4a7e4354fb847308ebd266833974aa5
cd "$tree"

# run_block NAME: the README block NAME, as written, in bash -e; its output
# goes to $tree/../NAME.log (shown if it fails).
run_block() {
    local name=$1 block t0 rc=0
    block=$(readme_block "$readme" "$name")
    t0=$(date +%s)
    bash -e -c "$block" </dev/null >"../$name.log" 2>&1 || rc=$?
    (( rc == 0 )) || sb_fail "README block $name failed ($rc):"$'\n'"$block"$'\n'"--- output:"$'\n'"$(tail -n 40 "../$name.log")"
    sb_log "README block $name ran ($(( $(date +%s) - t0 )) s):"$'\n'"$block"
}

# round_trip CTL: a listener and a send through the broker CTL reaches.
round_trip() {
    local ctl=$1 out
    out=$(timeout 30 bash -c '
        exec 3< <("$1" listen --count 1 RTMIN+2 2>&1)
        read -r line <&3 && echo "$line"
        "$1" send --pid $! --payload from-the-package RTMIN+2
        cat <&3' sh "$ctl" 2>&1) || sb_fail "round trip through $ctl failed: $out"
    grep -q '^RTMIN+2 .*payload="from-the-package"' <<<"$out" || sb_fail "round trip through $ctl: $out"
}

# --- Install from the Debian packages ------------------------------------------
run_block install-debian
for p in sigbroker libsigbroker1; do
    [[ $(dpkg-query -W -f '${Status}' "$p") == "install ok installed" ]] || sb_fail "$p is not installed"
done
[[ $(systemctl is-enabled sigbrokerd.socket) == enabled ]] || sb_fail "the package did not enable sigbrokerd.socket"
unit_is_active sigbrokerd.socket || sb_fail "the package did not start sigbrokerd.socket"
[[ -S $SOCK ]] || sb_fail "no $SOCK after installation"
unit_is_inactive sigbrokerd.service || sb_fail "sigbrokerd.service runs before anyone used it"
# The user units are there, and not enabled for anyone.
[[ -f /usr/lib/systemd/user/sigbrokerd.socket && ! -e /etc/systemd/user/sockets.target.wants/sigbrokerd.socket ]] ||
    sb_fail "the user units are missing or enabled globally"

run_block enable-system

# --- first use: socket activation, the packaged sigbrokerctl ----------------
[[ $(command -v sigbrokerctl) == /usr/bin/sigbrokerctl ]] || sb_fail "sigbrokerctl is $(command -v sigbrokerctl)"
dpkg -S /usr/bin/sigbrokerctl >/dev/null || sb_fail "/usr/bin/sigbrokerctl is not from a package"
status=$(sigbrokerctl status) || sb_fail "sigbrokerctl status failed: $status"
sb_wait_for 10 "sigbrokerd.service to be started by its socket" unit_is_active sigbrokerd.service
pid=$(unit_prop sigbrokerd.service MainPID)
[[ $(readlink "/proc/$pid/exe") == /usr/bin/sigbrokerd ]] || sb_fail "the service runs $(readlink "/proc/$pid/exe")"
check_sandboxed "$pid"
round_trip sigbrokerctl
sb_log "first use started sigbrokerd (pid $pid); sigbrokerctl status said:"$'\n'"$status"

# --- the journal ----------------------------------------------------------------
journalctl --sync
journal_has -u sigbrokerd.service MESSAGE_ID=$SB_MID_READY _PID="$pid" ||
    sb_fail "no ready entry of pid $pid in the journal: $(journalctl -u sigbrokerd --no-pager | tail -n 20)"
# The catalog, compiled by systemd's dpkg trigger, explains it.
journalctl --no-pager -x -u sigbrokerd.service | grep -q 'sigbrokerd is ready' ||
    sb_fail "journalctl -x does not explain the ready entry: $(journalctl -x -u sigbrokerd --no-pager | tail -n 20)"
sb_log "journalctl -u sigbrokerd.service:"$'\n'"$(journalctl -u sigbrokerd.service --no-pager -o short | tail -n 5)"

# --- the Python module from its package ---------------------------------------
apt-get install -y ../python3-sigbroker_*.deb >../python.log 2>&1 ||
    sb_fail "apt-get install python3-sigbroker failed: $(tail -n 20 ../python.log)"
out=$(/usr/bin/python3 -c 'import os, sigbroker
with sigbroker.connect() as c:
    c.subscribe("RTMIN+2")
    r = c.send(sigbroker.Pid(os.getpid()), "RTMIN+2", b"from python")
    s = c.wait(timeout=5)
    print(sigbroker.__file__, r.queued, s.name, s.payload.decode())' 2>&1) ||
    sb_fail "the packaged Python module failed: $out"
[[ $out == "/usr/lib/python3/dist-packages/sigbroker/__init__.py 1 RTMIN+2 from python" ]] ||
    sb_fail "the packaged Python module said: $out"
sb_log "python3-sigbroker: $out"

# --- a user's own broker: systemctl --user --------------------------------------
user=sbpkguser
useradd --create-home --home-dir /run/$user --shell /bin/bash "$user"
uid=$(id -u "$user")
systemctl start "user@$uid.service" || sb_fail "cannot start user@$uid.service: $(systemctl status --no-pager "user@$uid.service" | tail -n 20)"
block=$(readme_block "$readme" enable-user)
out=$(runuser -u "$user" -- env XDG_RUNTIME_DIR=/run/user/$uid HOME=/run/$user bash -e -c "$block" 2>&1) ||
    sb_fail "README block enable-user failed as $user:"$'\n'"$block"$'\n'"$out"
sb_log "README block enable-user ran as $user:"$'\n'"$block"
usock=/run/user/$uid/sigbroker.sock
[[ -S $usock && $(stat -c '%u %a' "$usock") == "$uid 600" ]] ||
    sb_fail "$usock: $(ls -l "$usock" 2>&1), want a socket of uid $uid, mode 600"
as_user() { runuser -u "$user" -- env XDG_RUNTIME_DIR=/run/user/$uid HOME=/run/$user "$@"; }
ustatus=$(as_user sigbrokerctl status) || sb_fail "sigbrokerctl status as $user: $ustatus"
grep -q "$usock" <<<"$ustatus" || sb_log "note: status does not name $usock: $ustatus"
[[ $(as_user systemctl --user is-active sigbrokerd.service) == active ]] ||
    sb_fail "the user's sigbrokerd.service is not active: $(as_user systemctl --user status --no-pager sigbrokerd.service)"
upid=$(as_user systemctl --user show -P MainPID sigbrokerd.service)
[[ $(stat -c %u "/proc/$upid") == "$uid" ]] || sb_fail "the user's sigbrokerd (pid $upid) does not run as $uid"
[[ $(grep '^NoNewPrivs:' "/proc/$upid/status" | tr -d ' \t') == NoNewPrivs:1 ]] || sb_fail "the user's sigbrokerd lacks no_new_privs"
(( pid != upid )) || sb_fail "the user reached the system broker"
as_user systemctl --user disable --now sigbrokerd.socket sigbrokerd.service >/dev/null 2>&1 ||
    sb_fail "systemctl --user disable --now failed"
systemctl stop "user@$uid.service"
sb_log "$user's broker ran as pid $upid on $usock"

# --- removal stops the system broker cleanly ------------------------------------
apt-get remove -y sigbroker >../remove.log 2>&1 || sb_fail "apt-get remove failed: $(cat ../remove.log)"
sb_wait_for 20 "sigbrokerd (pid $pid) to exit" sb_exited "$pid"
for u in sigbrokerd.socket sigbrokerd.service; do
    [[ $(systemctl is-active "$u") == inactive ]] || sb_fail "$u is $(systemctl is-active "$u") after removal"
done
[[ ! -e $SOCK ]] || sb_fail "$SOCK is left after removal"
! pgrep -x sigbrokerd >/dev/null || sb_fail "a sigbrokerd process is left: $(pgrep -a -x sigbrokerd)"
journalctl --sync
journalctl -u sigbrokerd.service --no-pager -o cat | grep -q 'sigbrokerd.service: Deactivated successfully' ||
    sb_fail "sigbrokerd.service did not stop cleanly: $(journalctl -u sigbrokerd.service --no-pager | tail -n 10)"
apt-get purge -y sigbroker libsigbroker1 >>../remove.log 2>&1 || sb_fail "apt-get purge failed: $(cat ../remove.log)"
[[ ! -e /etc/systemd/system/sockets.target.wants/sigbrokerd.socket ]] || sb_fail "purge left the socket enabled"
sb_log "apt-get remove stopped sigbrokerd (pid $pid) cleanly; purge disabled its socket"

# --- Install with meson, then Enable, as written --------------------------------
run_block install-meson
run_block enable-system
[[ $(command -v sigbrokerctl) == /usr/local/bin/sigbrokerctl ]] || sb_fail "sigbrokerctl is $(command -v sigbrokerctl)"
status=$(sigbrokerctl status) || sb_fail "sigbrokerctl status (meson install) failed: $status"
sb_wait_for 10 "sigbrokerd.service (meson install) to start" unit_is_active sigbrokerd.service
pid=$(unit_prop sigbrokerd.service MainPID)
[[ $(readlink "/proc/$pid/exe") == /usr/local/bin/sigbrokerd ]] || sb_fail "the service runs $(readlink "/proc/$pid/exe")"
round_trip sigbrokerctl
journalctl --no-pager --list-catalog | grep -q "$SB_MID_READY" || sb_fail "the catalog of the meson install is not in journalctl"
systemctl disable --now sigbrokerd.socket >/dev/null 2>&1
sb_wait_for 20 "sigbrokerd (meson install) to exit" sb_exited "$pid"
sb_log "ok"
