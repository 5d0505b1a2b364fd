# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit file helpers for the tests; source it, do not run it.

# sb_units_install DIR EXEC UNIT...: copies the unit files into DIR with
# each ExecStart= pointing at EXEC instead (arguments kept), since
# systemd-analyze verify and a test systemd need a program that exists.
sb_units_install() {
    local dir=$1 exec=$2 u
    shift 2
    mkdir -p "$dir"
    for u in "$@"; do
        [[ -f $u ]] || sb_fail "unit file $u not found"
        sed -E "s|^ExecStart=[^ ]+|ExecStart=$exec|" "$u" >"$dir/$(basename "$u")"
    done
}
