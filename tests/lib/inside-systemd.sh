# SPDX-License-Identifier: LGPL-2.1-or-later
# Helpers for scripts run by tests/lib/private-systemd.sh inside the private
# systemd; source it after common.sh.

# unit_prop UNIT PROPERTY: prints the property's value.
unit_prop() {
    systemctl show -P "$2" "$1"
}

unit_is_active() {
    [[ $(systemctl is-active "$1") == active ]]
}

# Stopped cleanly: "failed" (a non-zero exit, a sanitizer's report) is not.
unit_is_inactive() {
    [[ $(systemctl is-active "$1") == inactive ]]
}

# unit_status_is UNIT TEXT: the service's sd_notify STATUS= is TEXT.
unit_status_is() {
    [[ $(unit_prop "$1" StatusText) == "$2" ]]
}

# unit_restarted UNIT OLD_PID: active again, under another main process.
unit_restarted() {
    local pid
    pid=$(unit_prop "$1" MainPID)
    [[ $pid != 0 && $pid != "$2" ]] && unit_is_active "$1"
}

# journal_has MATCH...: at least one journal entry matches (journalctl
# --sync first).
journal_has() {
    [[ -n $(journalctl --no-pager -o cat -n 1 "$@") ]]
}

# check_sandboxed PID: the process runs as the hardened sigbrokerd.service
# must run it: a dynamic user, no capabilities, no_new_privs, seccomp.
check_sandboxed() {
    local status=/proc/$1/status uid
    uid=$(awk '/^Uid:/ { print $2 }' "$status")
    (( uid >= 61184 && uid <= 65519 )) || sb_fail "main process runs as uid $uid, not a DynamicUser= uid"
    grep -q '^NoNewPrivs:[[:space:]]*1$' "$status" || sb_fail "main process lacks no_new_privs"
    grep -q '^Seccomp:[[:space:]]*2$' "$status" || sb_fail "main process runs without a seccomp filter"
    grep -q '^CapBnd:[[:space:]]*0*$' "$status" || sb_fail "main process has a non-empty bounding set: $(grep CapBnd "$status")"
    grep -q '^CapEff:[[:space:]]*0*$' "$status" || sb_fail "main process has effective capabilities"
}
