#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# libsigbroker as an outside program sees it: `meson install` into a staging
# root, then a program that is not part of the tree, built with nothing but
# `pkg-config --cflags --libs libsigbroker`, subscribes, waits with a
# timeout and sends with a payload through the real daemon, and needs
# nothing but LIBSIGBROKER_1 and the sigbroker_wait() of LIBSIGBROKER_3
# (whose sigbroker_info grew). A second one uses what LIBSIGBROKER_2 added
# (signal names, SIG_BLOCK from <sigbroker.h> alone). Also: every exported
# symbol is versioned, documented in sigbroker(3), and has a man page of
# its own that `man` finds in the installed tree; the first release's
# sigbroker_wait() is still there for programs linked against it.
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

# Symbols: all versioned, all documented, each with its page.
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^LIBSIGBROKER_[0-9]*$')
[ -n "$syms" ] || fail "no symbols exported"
mandir=$(dirname "$(find "$dir/root" -name sigbroker.3 | head -1)")
[ -d "$mandir" ] || fail "no man3 directory installed"
for s in $syms; do
        case "$s" in
        sigbroker_*@@LIBSIGBROKER_[123] | sigbroker_wait@LIBSIGBROKER_1) ;;
        *) fail "exported symbol not versioned as LIBSIGBROKER_1, _2 or _3: $s" ;;
        esac
        name=${s%%@*}
        grep -q "$name" "$SB_TEST_SRCDIR/../man/sigbroker.3.scd" || fail "$name is not documented in sigbroker(3)"
        [ -f "$mandir/$name.3" ] || fail "$name has no page of its own in $mandir"
done
for s in sigbroker_signal_from_string sigbroker_signal_to_string sigbroker_connect_with_reason; do
        grep -qx "$s@@LIBSIGBROKER_2" <<<"$syms" || fail "$s is not in LIBSIGBROKER_2: $syms"
done
grep -qx "sigbroker_wait@LIBSIGBROKER_1" <<<"$syms" || fail "the first release's sigbroker_wait is gone: $syms"
if command -v man >/dev/null; then
        page=$(MANPATH=$(dirname "$mandir") man -w sigbroker_send) || fail "man -w sigbroker_send found nothing"
        [ "$page" = "$mandir/sigbroker_send.3" ] || fail "man -w sigbroker_send: $page"
        text=$(MANPATH=$(dirname "$mandir") MANWIDTH=80 man sigbroker_flush 2>&1) || fail "man sigbroker_flush: $text"
        grep -q "sigbroker_flush" <<<"$text" && grep -q "sigbroker_send_async" <<<"$text" ||
                fail "man sigbroker_flush does not show sigbroker_send(3): $text"
fi

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
# The second program: <sigbroker.h> first and alone must do (SIG_BLOCK
# included), and it uses the signal names of LIBSIGBROKER_2.
cat >"$dir/outside2.c" <<'C'
#include <sigbroker.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
        sigbroker *sb = NULL;
        uint64_t old;
        char *reason = NULL;
        int signo = sigbroker_signal_from_string("SIGRTMIN+3");

        if (signo != SIGBROKER_SIGRTMIN + 3 || strcmp(sigbroker_signal_to_string(signo), "RTMIN+3") != 0)
                return 10;
        if (sigbroker_signal_from_string("RTMAX-2") != SIGBROKER_SIGRTMAX - 2)
                return 11;
        if (sigbroker_connect_with_reason(argv[1], 0, &sb, &reason) < 0 || reason)
                return 12;
        if (sigbroker_block(sb, SIG_BLOCK, SIGBROKER_SIGMASK(signo), &old) < 0 || old != 0)
                return 13;
        sigbroker_close(sb);
        puts("ok");
        return argc == 2 ? 0 : 14;
}
C
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dir/root
# shellcheck disable=SC2046
cc -o "$dir/outside" "$dir/outside.c" $(pkg-config --cflags --libs libsigbroker) -Wall -Werror
# shellcheck disable=SC2046
cc -o "$dir/outside2" "$dir/outside2.c" $(pkg-config --cflags --libs libsigbroker) -Wall -Werror
# What each program asks of the library: the first LIBSIGBROKER_1, and
# LIBSIGBROKER_3 for sigbroker_wait() alone.
needs=$(objdump -T "$dir/outside" | grep -o 'LIBSIGBROKER_[0-9]*' | sort -u | tr '\n' ' ')
[ "$needs" = "LIBSIGBROKER_1 LIBSIGBROKER_3 " ] || fail "the first program needs '$needs', not LIBSIGBROKER_1 and _3"
wait_ref=$(objdump -T "$dir/outside" | grep -w sigbroker_wait)
grep -q LIBSIGBROKER_3 <<<"$wait_ref" || fail "sigbroker_wait is not the LIBSIGBROKER_3 one: $wait_ref"
needs=$(objdump -T "$dir/outside2" | grep -o 'LIBSIGBROKER_[0-9]*' | sort -u | tr '\n' ' ')
[ "$needs" = "LIBSIGBROKER_1 LIBSIGBROKER_2 " ] || fail "the second program needs '$needs'"
"$SIGBROKERD" --socket "$dir/sock" --config /dev/null 2>"$dir/log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$dir/sock" ] && break; sleep 0.05; done
out=$(LD_LIBRARY_PATH=$(dirname "$lib") "$dir/outside" "$dir/sock") || fail "outside program exited $?"
[ "$out" = ok ] || fail "outside program said '$out'"
out=$(LD_LIBRARY_PATH=$(dirname "$lib") "$dir/outside2" "$dir/sock") || fail "second outside program exited $?"
[ "$out" = ok ] || fail "second outside program said '$out'"
# Capture first: grep -q may stop reading early, and pipefail would count
# ldd's SIGPIPE as a failure.
linked=$(LD_LIBRARY_PATH=$(dirname "$lib") ldd "$dir/outside")
grep -q "$dir/root.*libsigbroker.so.1" <<<"$linked" || fail "not linked against the installed library: $linked"
echo "1 passed, 0 failed"
