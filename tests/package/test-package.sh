#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-package.sh README
#
# The Debian packages and the README's Install and Enable steps, as a user
# would run them on a machine with systemd. In a copy of the tree, inside a
# private systemd (tests/lib/private-systemd.sh) whose /usr, /etc and /var
# are overlays on tmpfs (so that apt-get, dpkg, useradd and meson install
# change nothing on this machine), inside-package.sh runs the README's
# blocks exactly as written (install-debian, enable-system, enable-user,
# install-meson) and checks what they did: the socket enabled and started
# by the package, the daemon started on first use, the packaged
# sigbrokerctl talking to it, the journal, a user's own broker, removal
# stopping it cleanly. Then lintian checks the packages: no E: line.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"

(( $# >= 1 )) || { echo "usage: $0 README" >&2; exit 2; }
readme=$(readlink -f "$1")
src=$(dirname "$readme")

if [[ ${SB_PACKAGE_STAGE-} != overlay ]]; then
    sb_require_root
    sb_require_cmd dpkg-buildpackage dh apt-get lintian unshare nsenter systemctl /lib/systemd/systemd
    tmp=$(mktemp -d /tmp/sb-package.XXXXXX)
    # SB_KEEP=1 keeps the folder (the logs of each README block, the packages).
    [[ ${SB_KEEP-} == 1 ]] && sb_log "keeping $tmp" || trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/work/sigbroker" "$tmp/units/user@.service.d" "$tmp/units/user-runtime-dir@.service.d"
    # The tree as a fresh checkout has it: tracked and new files, no builds.
    if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$src" && git ls-files -z --cached --others --exclude-standard |
            xargs -0 cp --parents -t "$tmp/work/sigbroker" 2>/dev/null) || true
    else
        tar -C "$src" --exclude=./build\* --exclude=./obj-\* --exclude=./debian/.debhelper \
            --exclude=./debian/tmp -cf - . | tar -C "$tmp/work/sigbroker" -xf -
    fi
    [[ -f $tmp/work/sigbroker/debian/control ]] || sb_fail "could not copy the tree"
    # A user's manager, as logind would start it at login. There is no
    # logind, D-Bus system bus or PAM session here: the runtime directory
    # is made by hand, and XDG_RUNTIME_DIR set as pam_systemd would.
    cp /lib/systemd/system/user@.service /lib/systemd/system/user-runtime-dir@.service "$tmp/units/"
    printf '%s\n' '[Service]' PAMName= 'Environment=XDG_RUNTIME_DIR=/run/user/%i' \
        >"$tmp/units/user@.service.d/50-sbtest.conf"
    printf '%s\n' '[Service]' ExecStart= 'ExecStart=/usr/bin/install -d -m 0700 -o %i /run/user/%i' \
        ExecStop= 'ExecStop=/bin/rm -rf /run/user/%i' >"$tmp/units/user-runtime-dir@.service.d/50-sbtest.conf"
    rc=0
    SB_PACKAGE_STAGE=overlay unshare --mount --propagation private "$0" "$@" "$tmp" || rc=$?
    exit $rc
fi

# --- in a mount namespace of our own: overlays, then the private systemd ----
tmp=$2
mkdir "$tmp/ov"
mount -t tmpfs -o mode=755 tmpfs "$tmp/ov"
for d in usr etc var; do
    mkdir -p "$tmp/ov/$d.upper" "$tmp/ov/$d.work"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$tmp/ov/$d.upper,workdir=$tmp/ov/$d.work" "/$d"
done
# Container images forbid maintainer scripts to start services (exit 101);
# a machine with systemd has no such policy.
rm -f /usr/sbin/policy-rc.d

start=$(date +%s)
rc=0
"$here/../lib/private-systemd.sh" --timeout 600 --units "$tmp/units" \
    "$here/inside-package.sh" "$tmp/work/sigbroker" || rc=$?
(( rc == 0 )) || exit $rc
sb_log "inside the private systemd: $(( $(date +%s) - start )) s"

changes=$(ls "$tmp"/work/sigbroker_*.changes)
start=$(date +%s)
out=$(lintian "$changes" 2>&1 | grep -v '^running with root privileges' || true)
sb_log "lintian ($(( $(date +%s) - start )) s):"$'\n'"${out:-(nothing)}"
! grep -q '^E:' <<<"$out" || sb_fail "lintian reports errors"
sb_log "ok"
