#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-dist.sh: the release tarball. `meson dist --no-tests` makes it from
# the checked-in tree (HEAD: uncommitted changes are not in it); the
# tarball is unpacked elsewhere, configured with --werror, built, and its
# unit suite and install test run. (meson dist's own test run would run
# every suite again; this keeps CI short and still proves the tarball
# self-contained.) Skips outside a git checkout.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"

: "${SB_TEST_BUILDDIR:?run through meson}" "${SB_TEST_SRCDIR:?}"
build_root=$(dirname "$SB_TEST_BUILDDIR")
src=$(dirname "$SB_TEST_SRCDIR")
sb_require_cmd git meson ninja tar
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || sb_skip "$src is not a git checkout"

tmp=$(mktemp -d /tmp/sb-dist.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

[[ -z $(git -C "$src" status --porcelain --untracked-files=no) ]] ||
    sb_log "note: the tree has uncommitted changes; the tarball is made of HEAD"
start=$(date +%s)
meson dist -C "$build_root" --no-tests --allow-dirty --formats xztar >"$tmp/dist.log" 2>&1 ||
    sb_fail "meson dist failed:"$'\n'"$(cat "$tmp/dist.log")"
tarball=$(sed -n 's/^Created \(.*\.tar\.xz\)$/\1/p' "$tmp/dist.log")
[[ -f $tarball ]] || sb_fail "meson dist made no tarball:"$'\n'"$(cat "$tmp/dist.log")"
# Listed once: grep -q stops reading early, and pipefail would count tar's
# SIGPIPE as a failure.
files=$(tar tJf "$tarball")
sb_log "$(basename "$tarball"): $(stat -c %s "$tarball") bytes, $(grep -vc '/$' <<<"$files") files"
for f in README.md LICENSES/LGPL-2.1-or-later.txt meson.build debian/control docs/development.md \
         systemd-units/user/sigbrokerd.socket; do
    grep -qx "[^/]*/$f" <<<"$files" || sb_fail "$f is not in the tarball"
done

tar xJf "$tarball" -C "$tmp"
top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'sigbroker-*')
[[ -d $top ]] || sb_fail "the tarball has no sigbroker-VERSION folder"
meson setup "$tmp/build" "$top" --werror -Dtests=enabled >"$tmp/setup.log" 2>&1 ||
    sb_fail "the tarball does not configure:"$'\n'"$(tail -n 30 "$tmp/setup.log")"
ninja -C "$tmp/build" >"$tmp/ninja.log" 2>&1 ||
    sb_fail "the tarball does not build with --werror:"$'\n'"$(tail -n 40 "$tmp/ninja.log")"
meson test -C "$tmp/build" --suite unit --num-processes 2 --print-errorlogs >"$tmp/test.log" 2>&1 ||
    sb_fail "the tarball's unit suite failed:"$'\n'"$(tail -n 60 "$tmp/test.log")"
meson test -C "$tmp/build" --print-errorlogs 'meson install, then a program outside the tree via pkg-config' \
    >>"$tmp/test.log" 2>&1 || sb_fail "the tarball's install test failed:"$'\n'"$(tail -n 60 "$tmp/test.log")"
grep -E '^(Ok|Fail):' "$tmp/test.log" | tr '\n' ' ' >&2; echo >&2

# Installed with meson's default prefix, nothing lands outside /usr/local
# but what systemd.pc places (its directories resolved against our prefix).
prefix=$(meson introspect --buildoptions "$tmp/build" |
    python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
[[ $prefix == /usr/local ]] || sb_fail "the default prefix is $prefix"
meson install -C "$tmp/build" --destdir "$tmp/D" --quiet >/dev/null 2>&1 || sb_fail "meson install --destdir failed"
allowed=()
if pkg-config --exists systemd; then
    for v in systemdsystemunitdir systemduserunitdir catalogdir; do
        allowed+=("$(pkg-config --define-variable=prefix=/usr/local --variable=$v systemd)")
    done
fi
outside=$(cd "$tmp/D" && find . \( -type f -o -type l \) ! -path './usr/local/*' | sed 's/^\.//' | sort)
while IFS= read -r f; do
    [[ -n $f ]] || continue
    ok=
    for d in "${allowed[@]}"; do [[ $(dirname "$f") == "$d" ]] && ok=1; done
    [[ -n $ok ]] || sb_fail "meson install put $f outside /usr/local (systemd.pc allows: ${allowed[*]:-nothing})"
done <<<"$outside"
sb_log "installed under /usr/local: $(cd "$tmp/D" && find ./usr/local \( -type f -o -type l \) | wc -l) files; outside it, placed by systemd.pc:"$'\n'"${outside:-(none)}"
sb_log "ok ($(( $(date +%s) - start )) s)"
