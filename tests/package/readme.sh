# SPDX-License-Identifier: LGPL-2.1-or-later
# readme_block README NAME: prints the lines of the fenced code block that
# follows the line `<!-- readme-test: NAME -->` in README, exactly as
# written; fails the test if there is no such block. Source it after
# tests/lib/common.sh.
readme_block() {
    local readme=$1 name=$2 out
    out=$(awk -v marker="<!-- readme-test: $name -->" '
        $0 == marker { found = 1; next }
        found == 1 && /^```/ { found = 2; next }
        found == 2 && /^```/ { exit }
        found == 2 { print }
        found == 1 && !/^[[:space:]]*$/ { exit 1 }
    ' "$readme") || sb_fail "$readme: no code block right after <!-- readme-test: $name -->"
    [[ -n $out ]] || sb_fail "$readme: no code block <!-- readme-test: $name --> (or it is empty)"
    printf '%s\n' "$out"
}
