#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-man.sh MANDIR
#
# Every man page renders without a warning: each MANDIR/*.scd goes through
# scdoc (which must not complain either), then `MANWIDTH=80 man --warnings
# -l`, whose stderr must stay empty. The pages are taken from the source
# directory rather than from the build, so that a page not yet listed in
# man/meson.build is checked too. A page made bad on purpose proves first
# that warnings do reach us. Skips without man or scdoc (CI installs man-db).
# Kept with the systemd tests because that suite is what CI runs as root on
# a full Debian; it needs neither root nor systemd.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"

(( $# == 1 )) || { echo "usage: $0 MANDIR" >&2; exit 2; }
mandir=$1
sb_require_cmd man scdoc
# One locale whatever the caller's: man reports a bad one on stderr.
if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then export LC_ALL=C.UTF-8; else export LC_ALL=C; fi
export MANWIDTH=80 MANPAGER=cat PAGER=cat
unset MANOPT MANROFFOPT GROFF_TMAC_PATH

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# render FILE: the page's warnings on stdout, its text in FILE.txt.
render() {
    man --warnings -l "$1" 2>&1 >"$1.txt"
}

# The mechanism: an undefined macro and an unbreakable line must be reported.
printf '%s\n' '.TH BAD 1' '.SH NAME' 'bad \- a page with faults' '.SH DESCRIPTION' '.nosuchmacro' \
    "$(printf 'x%.0s' {1..200})" >"$tmp/bad.1"
warnings=$(render "$tmp/bad.1")
[[ $warnings == *nosuchmacro* && $warnings == *"break line"* ]] ||
    sb_fail "man --warnings did not report a known-bad page's faults (got: '$warnings')"

shopt -s nullglob
pages=("$mandir"/*.scd)
(( ${#pages[@]} > 0 )) || sb_fail "no *.scd in $mandir"
failed=0
for src in "${pages[@]}"; do
    name=$(basename "$src" .scd)
    if ! scdoc <"$src" >"$tmp/$name" 2>"$tmp/$name.scdoc-err" || [[ -s $tmp/$name.scdoc-err ]]; then
        sb_log "$name: scdoc failed: $(cat "$tmp/$name.scdoc-err")"
        failed=1
        continue
    fi
    warnings=$(render "$tmp/$name")
    if [[ -n $warnings ]]; then
        sb_log "$name: man --warnings:"$'\n'"$warnings"
        failed=1
    elif (( $(wc -l <"$tmp/$name.txt") < 10 )); then
        sb_log "$name: renders to almost nothing: $(cat "$tmp/$name.txt")"
        failed=1
    fi
done
(( failed == 0 )) || sb_fail "man pages with warnings, see above"
sb_log "ok: ${#pages[@]} pages render without warnings at MANWIDTH=80"
