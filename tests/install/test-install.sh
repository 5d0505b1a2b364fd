#!/bin/bash
# libsigbroker as an outside program sees it: `meson install` into a staging
# root, then a program that is not part of the tree, built with nothing but
# `pkg-config --cflags --libs libsigbroker`, subscribes, waits with a
# timeout and sends with a payload through the real daemon. Also: every
# exported symbol is versioned LIBSIGBROKER_1 and documented in sigbroker(3).
set -euo pipefail

: "${SIGBROKERD:?run through meson}" "${SB_TEST_SRCDIR:?}" "${SB_TEST_BUILDDIR:?}"
build_root=$(dirname "$SB_TEST_BUILDDIR")
fail() { echo "FAIL: $*" >&2; exit 1; }
dir=$(mktemp -d /tmp/sbinstall-XXXXXX)
daemon_pid=
cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        rm -rf "$dir"
}
trap cleanup EXIT

meson install -C "$build_root" --destdir "$dir/root" --quiet >/dev/null
pc=$(find "$dir/root" -name libsigbroker.pc | head -1)
[ -n "$pc" ] || fail "no libsigbroker.pc installed"
lib=$(find "$dir/root" -name 'libsigbroker.so.1' | head -1)
[ -n "$lib" ] || fail "no libsigbroker.so.1 installed"
for f in sigbroker.h sigbrokerd sigbrokerctl sigbroker.3 sigbrokerd.8 sigbrokerctl.1 sigbroker.conf.5 sigbroker-protocol.7; do
        [ -n "$(find "$dir/root" -name "$f*" | head -1)" ] || fail "$f not installed"
done

# Symbols: all versioned, all documented.
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^LIBSIGBROKER_1$')
[ -n "$syms" ] || fail "no symbols exported"
for s in $syms; do
        case "$s" in
        sigbroker_*@@LIBSIGBROKER_1) ;;
        *) fail "exported symbol not versioned as LIBSIGBROKER_1: $s" ;;
        esac
        name=${s%@@*}
        grep -q "$name" "$SB_TEST_SRCDIR/../man/sigbroker.3.scd" || fail "$name is not documented in sigbroker(3)"
done

cat >"$dir/outside.c" <<'C'
#include <errno.h>
#include <sigbroker.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
        sigbroker *rx = NULL, *tx = NULL;
        sigbroker_target t = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) getpid() };
        sigbroker_info info;

        if (sigbroker_connect(argv[1], &rx) < 0 || sigbroker_connect(argv[1], &tx) < 0)
                return 10;
        if (sigbroker_subscribe(rx, SIGBROKER_SIGMASK(40), 0) < 0)
                return 11;
        if (sigbroker_wait(rx, 100000, &info) != -EAGAIN)          /* nothing yet: times out */
                return 12;
        if (sigbroker_send(tx, &t, 40, 3, "outside", 7, NULL) < 0)
                return 13;
        if (sigbroker_wait(rx, 5000000, &info) != 40 || info.payload_len != 7 ||
            memcmp(info.payload, "outside", 7) != 0 || info.sender_pid != getpid())
                return 14;
        sigbroker_close(rx);
        sigbroker_close(tx);
        puts("ok");
        return 0;
}
C
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dir/root
# shellcheck disable=SC2046
cc -o "$dir/outside" "$dir/outside.c" $(pkg-config --cflags --libs libsigbroker) -Wall -Werror
"$SIGBROKERD" --socket "$dir/sock" --config /dev/null 2>"$dir/log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$dir/sock" ] && break; sleep 0.05; done
out=$(LD_LIBRARY_PATH=$(dirname "$lib") "$dir/outside" "$dir/sock") || fail "outside program exited $?"
[ "$out" = ok ] || fail "outside program said '$out'"
# Capture first: grep -q may stop reading early, and pipefail would count
# ldd's SIGPIPE as a failure.
linked=$(LD_LIBRARY_PATH=$(dirname "$lib") ldd "$dir/outside")
grep -q "$dir/root.*libsigbroker.so.1" <<<"$linked" || fail "not linked against the installed library: $linked"
echo "1 passed, 0 failed"
