#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# private-systemd.sh [--timeout SEC] [--units DIR]... [--bin [NAME=]FILE]... SCRIPT [ARGS...]
#
# Boots a private systemd as PID 1 of new pid, mount, uts and cgroup
# namespaces, with its own journald, runs SCRIPT inside (nsenter), then tears
# everything down: systemd exits, no process of the namespace survives, the
# cgroup directories are removed. This holds when SCRIPT fails or hangs
# (--timeout, default 120 s, covers SCRIPT; booting and stopping have their
# own bounds), and when this script is killed outright (setpriv --pdeathsig
# and unshare --kill-child take the namespace down with it).
#
# Nothing on the host changes: inside, /run, /dev, /sys/fs/cgroup and the
# unit directories are private mounts. systemd sees only:
#   - empty sysinit/basic/sockets/... targets, exit.target, journald;
#   - the files of each --units DIR, copied into /etc/systemd/system (unit
#     files, drop-in directories, .wants/ links);
#   - each --bin FILE, copied to /run/sbtest/bin/NAME (NAME defaults to the
#     file's name), where hardened services can see it (PrivateTmp and
#     ProtectHome hide /tmp and /root). Shared libraries they load from
#     outside /usr and /lib (a build tree) go to /run/sbtest/lib, which is
#     put in LD_LIBRARY_PATH of every service and of SCRIPT.
# SCRIPT runs as root in the namespaces with SB_BIN=/run/sbtest/bin; it can
# use systemctl, journalctl, runuser as in a booted system.
#
# Exit status: SCRIPT's; 77 when this machine cannot host a private systemd
# (not root, no systemd, no writable cgroup2); 1 on harness failures.
set -euo pipefail
self=$(readlink -f "$0")
. "$(dirname "$self")/common.sh"

SYSTEMD=${SYSTEMD:-/lib/systemd/systemd}
SYSTEMD_UNIT_SRC=${SYSTEMD_UNIT_SRC:-/lib/systemd/system}
BOOT_TIMEOUT=60 # generous: these machines run fuzzers and benchmarks beside the tests
STOP_TIMEOUT=20
RUN=/run/sbtest

# write_lines FILE LINE...
write_lines() {
    local f=$1
    shift
    printf '%s\n' "$@" >"$f"
}

# ---------------------------------------------------------------------------
# Inside: PID 1 of the new namespaces, before it becomes systemd.

# Gives the namespace its own /dev: the host's device nodes it needs, bound
# one by one, and no host /dev/log or /dev/console for systemd to touch.
inner_make_dev() {
    local stage=$1 dev=$1/dev n
    mkdir -p "$dev"
    mount -t tmpfs -o mode=755,nosuid tmpfs "$dev"
    for n in null zero full random urandom tty; do
        touch "$dev/$n"
        mount --bind "/dev/$n" "$dev/$n"
    done
    mkdir "$dev/pts" "$dev/shm" "$dev/mqueue"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$dev/pts"
    ln -s pts/ptmx "$dev/ptmx"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$dev/shm"
    mount -t mqueue mqueue "$dev/mqueue" 2>/dev/null || true
    ln -s /proc/self/fd "$dev/fd"
    ln -s /proc/self/fd/0 "$dev/stdin"
    ln -s /proc/self/fd/1 "$dev/stdout"
    ln -s /proc/self/fd/2 "$dev/stderr"
    # systemd writes to /dev/console before journald is up.
    touch "$dev/console"
    mount --bind "$stage/console.log" "$dev/console"
    mount --move "$dev" /dev
}

inner() {
    local stage=$1 d
    # Mount first: a mkdir before the tmpfs would land on the host.
    mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
    mount -t cgroup2 cgroup2 /sys/fs/cgroup
    for d in /etc/systemd/system /usr/lib/systemd/system /usr/lib/systemd/system-generators \
             /lib/systemd/system /lib/systemd/system-generators \
             /usr/local/lib/systemd/system /etc/systemd/system-generators \
             /usr/lib/systemd/system-environment-generators; do
        if [[ -d $d ]] && ! mountpoint -q "$d"; then
            mount -t tmpfs -o mode=755 tmpfs "$d"
        fi
    done
    inner_make_dev "$stage"

    cp -a "$stage/units/." /etc/systemd/system/
    mkdir -p "$RUN" /run/systemd/journald.conf.d /run/systemd/system.conf.d
    cp -a "$stage/bin" "$stage/lib" "$RUN/"
    write_lines /run/systemd/journald.conf.d/50-sbtest.conf '[Journal]' Storage=volatile ReadKMsg=no \
        ForwardToSyslog=no ForwardToWall=no ForwardToConsole=no ForwardToKMsg=no RateLimitBurst=0
    {
        echo '[Manager]'
        echo 'DefaultTimeoutStopSec=10s'
        if [[ -n $(ls -A "$RUN/lib") ]]; then
            echo "DefaultEnvironment=LD_LIBRARY_PATH=$RUN/lib"
        fi
    } >/run/systemd/system.conf.d/50-sbtest.conf

    # --log-target=journal falls back to the console (our file), never kmsg.
    exec env -i container=sbtest PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        "$SYSTEMD" --system --unit=sbtest.target --show-status=no --log-target=journal
}

if [[ ${1-} == --inner ]]; then
    inner "$2"
fi

# ---------------------------------------------------------------------------
# Outside: stage the files, start the namespaces, run SCRIPT, tear down.

usage() {
    echo "usage: private-systemd.sh [--timeout SEC] [--units DIR]... [--bin [NAME=]FILE]... SCRIPT [ARGS...]" >&2
    exit 2
}
# Writes the minimal unit set that boots: empty targets, exit.target, journald.
stage_base_units() {
    local u=$stage/units t
    mkdir -p "$u/sysinit.target.wants" "$u/sockets.target.wants" "$u/systemd-journald.service.d"
    for t in sysinit sockets timers paths slices local-fs swap shutdown umount final; do
        write_lines "$u/$t.target" '[Unit]' "Description=$t.target (private systemd for tests)" \
            DefaultDependencies=no
    done
    write_lines "$u/basic.target" '[Unit]' 'Description=basic.target (private systemd for tests)' \
        DefaultDependencies=no 'Requires=sysinit.target sockets.target' 'After=sysinit.target sockets.target'
    write_lines "$u/sbtest.target" '[Unit]' 'Description=sigbroker test target' \
        Requires=basic.target After=basic.target AllowIsolate=yes
    for t in exit.target systemd-exit.service systemd-journald.service systemd-journald.socket \
             systemd-journald-dev-log.socket; do
        cp "$SYSTEMD_UNIT_SRC/$t" "$u/$t"
    done
    ln -s ../systemd-journald.service "$u/sysinit.target.wants/"
    ln -s ../systemd-journald.socket ../systemd-journald-dev-log.socket "$u/sockets.target.wants/"
    # journald's own messages go to /dev/null rather than to the host's kmsg.
    write_lines "$u/systemd-journald.service.d/50-sbtest.conf" '[Service]' Environment=SYSTEMD_LOG_TARGET=console
}

# Copies a program, and the libraries it loads from outside the system dirs.
stage_bin() {
    local spec=$1 name file lib
    if [[ $spec == *=* ]]; then name=${spec%%=*}; file=${spec#*=}; else name=$(basename "$spec"); file=$spec; fi
    [[ -x $file ]] || sb_fail "--bin: $file is not an executable file"
    cp "$file" "$stage/bin/$name"
    while read -r lib; do
        case $lib in /lib/*|/lib64/*|/usr/*|'') ;; *) cp -L "$lib" "$stage/lib/" ;; esac
    done < <(ldd "$file" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p')
}

dump_logs() {
    sb_log "system state: ${state:-not booted}"
    sb_log "---- systemd console (before journald) ----"
    tail -n 40 "$stage/console.log" >&2 || true
    sb_log "---- namespace setup ----"
    tail -n 40 "$stage/inner.log" >&2 || true
}

in_ns() {
    nsenter -t "$pid1" -m -p -u -C -- "$@"
}

# cgroup_kill DIR: kills every process in the cgroup tree DIR, waits (at
# most 5 s) until it is empty.
cgroup_kill() {
    local dir=$1 i p
    [[ -d $dir ]] || return 0
    for (( i = 0; i < 50; i++ )); do
        grep -q '^populated 0' "$dir/cgroup.events" && return 0
        if [[ -e $dir/cgroup.kill ]]; then
            echo 1 >"$dir/cgroup.kill"
        else
            for p in $(find "$dir" -name cgroup.procs -exec cat {} +); do kill -KILL "$p"; done
        fi
        sleep 0.1
    done
    sb_log "cgroup $dir still has processes"
}

# Stray processes: any process still in the namespace's pid namespace,
# which $pidns_fd keeps open (no fork per process: /proc is large).
ns_processes() {
    local p
    [[ -n $pidns_fd ]] || return 0
    for p in /proc/[0-9]*; do
        [[ $p/ns/pid -ef /proc/$$/fd/$pidns_fd ]] && echo "${p#/proc/}"
    done
    return 0
}

teardown() {
    local rc=$? i strays d
    set +e
    # What SCRIPT left running first: systemd's final killing spree would
    # wait for it.
    cgroup_kill "$script_cg"
    if [[ -n $pid1 ]] && kill -0 "$pid1" 2>/dev/null; then
        timeout 5 nsenter -t "$pid1" -m -p -- systemctl --no-block exit >/dev/null 2>&1
        for (( i = 0; i < STOP_TIMEOUT * 10; i++ )); do
            kill -0 "$unshare_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$unshare_pid" 2>/dev/null; then
            sb_log "systemd did not exit within ${STOP_TIMEOUT}s, killing the namespace"
            (( rc != 0 )) || rc=1
        fi
    fi
    cgroup_kill "$cg"
    [[ -n $pid1 ]] && kill -KILL "$pid1" 2>/dev/null
    [[ -n $unshare_pid ]] && wait "$unshare_pid" 2>/dev/null
    for (( i = 0; i < 50; i++ )); do
        strays=$(ns_processes)
        [[ -z $strays ]] && break
        sleep 0.1
    done
    if [[ -n $strays ]]; then
        sb_log "stray processes of the namespace: $strays"
        rc=1
    fi
    for d in "$script_cg" "$cg"; do
        for (( i = 0; i < 50; i++ )); do
            [[ -d $d ]] || break
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
            [[ -d $d ]] && sleep 0.1
        done
        if [[ -d $d ]]; then
            sb_log "cannot remove cgroup $d"
            rc=1
        fi
    done
    (( rc == 0 || rc == 77 )) || dump_logs
    rm -rf "$stage"
    exit "$rc"
}

pid1_found() {
    kill -0 "$unshare_pid" 2>/dev/null || sb_fail "the namespace died while starting"
    pid1=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null) || true
    pid1=${pid1%% *}
    [[ -n $pid1 && $(readlink "/proc/$pid1/exe" 2>/dev/null) == *systemd ]]
}

booted() {
    state=$(in_ns systemctl is-system-running 2>/dev/null) || true
    [[ $state == running || $state == degraded ]]
}

# Leftovers of runs killed outright (SIGKILL leaves no chance to clean up):
# cgroups and stage directories named after a process that is gone.
remove_stale() {
    local d pid
    for d in "$cgroot"/sbtest-* /tmp/sb-private-systemd.*; do
        [[ -d $d ]] || continue
        pid=${d##*/sbtest-}
        pid=${pid##*/sb-private-systemd.}
        pid=${pid%%[-.]*}
        [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null || continue
        if [[ $d == /tmp/* ]]; then
            rm -rf "$d"
        elif grep -q '^populated 0' "$d/cgroup.events"; then
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        fi
    done
}

timeout=120
units_dirs=()
bins=()
while (( $# > 0 )); do
    case $1 in
        --timeout) timeout=${2:?}; shift 2 ;;
        --units) units_dirs+=("${2:?}"); shift 2 ;;
        --bin) bins+=("${2:?}"); shift 2 ;;
        --) shift; break ;;
        -*) usage ;;
        *) break ;;
    esac
done
(( $# > 0 )) || usage

sb_require_root
[[ -x $SYSTEMD ]] || sb_skip "$SYSTEMD not found"
sb_require_cmd unshare nsenter setpriv systemctl mountpoint
cgroot=/sys/fs/cgroup/unified
[[ -d $cgroot ]] || cgroot=/sys/fs/cgroup
[[ -e $cgroot/cgroup.procs && -e $cgroot/cgroup.subtree_control ]] || sb_skip "no cgroup2 hierarchy at $cgroot"

remove_stale
stage=$(mktemp -d /tmp/sb-private-systemd.$$.XXXXXX)
cg=$cgroot/sbtest-$$-$RANDOM
script_cg=$cg.script
unshare_pid=
pid1=
pidns_fd=
state=
trap teardown EXIT
trap 'exit 143' TERM INT HUP

mkdir -p "$stage/units" "$stage/bin" "$stage/lib"
: >"$stage/console.log"
stage_base_units
for d in "${units_dirs[@]}"; do
    cp -a "$d/." "$stage/units/"
done
# Programs built with sanitizers: LeakSanitizer stops the world with ptrace,
# which the units' seccomp filter forbids, so at exit it would fail the
# service. Every service here gets the leak check off (nothing else of the
# sanitizers); plain builds ignore the variable.
mkdir -p "$stage/units/service.d"
printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$stage/units/service.d/50-sanitizers.conf"

for b in "${bins[@]}"; do
    stage_bin "$b"
done

mkdir "$cg" 2>/dev/null || sb_skip "cannot create a cgroup under $cgroot"
mkdir "$script_cg"
# setpriv: should this script be killed outright, unshare dies, and with
# --kill-child so does the whole namespace.
(
    echo "$BASHPID" >"$cg/cgroup.procs"
    exec setpriv --pdeathsig KILL unshare --pid --fork --kill-child --mount --uts --cgroup \
        --propagation private --mount-proc "$self" --inner "$stage"
) </dev/null >"$stage/inner.log" 2>&1 &
unshare_pid=$!

sb_wait_for "$BOOT_TIMEOUT" "systemd to start as PID 1" pid1_found
exec {pidns_fd}<"/proc/$pid1/ns/pid"
sb_wait_for "$BOOT_TIMEOUT" "the private systemd to boot" booted
if [[ $state != running ]]; then
    in_ns systemctl --no-pager --failed >&2 || true
    sb_fail "the private systemd booted $state"
fi

# SCRIPT runs in a cgroup of its own, so that what it leaves behind can be
# found and killed.
rc=0
(
    echo "$BASHPID" >"$script_cg/cgroup.procs"
    exec timeout --kill-after=5 "$timeout" nsenter -t "$pid1" -m -p -u -C --wd=/ -- \
        env -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES -u JOURNAL_STREAM \
        -u INVOCATION_ID SB_BIN="$RUN/bin" LD_LIBRARY_PATH="$RUN/lib" "$@"
) || rc=$?
if (( rc == 124 || rc == 137 )); then
    sb_log "$1 timed out after ${timeout}s"
    rc=1
fi
exit "$rc"
