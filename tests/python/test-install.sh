#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Python package as an installed program sees it: `meson install` into
# a staging root, then the interpreter the module was built for imports
# sigbroker from the installed directory (and libsigbroker from the staged
# library directory), checks the files a type checker needs, and sends
# itself a signal through the real daemon.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/../lib/common.sh"

: "${SIGBROKERD:?run through meson}" "${SB_PYTHON:?}" "${SB_PYTHON_DIR:?}" "${SB_BUILD_ROOT:?}"
dir=$(mktemp -d /tmp/sbpyinstall-XXXXXX)
daemon_pid=
cleanup() {
    [[ -z $daemon_pid ]] || sb_stop_pid "$daemon_pid"
    rm -rf "$dir"
}
trap cleanup EXIT

meson install -C "$SB_BUILD_ROOT" --destdir "$dir/root" --quiet >/dev/null
pkg=$dir/root$SB_PYTHON_DIR/sigbroker
for f in __init__.py _sigbroker.pyi py.typed; do
    [[ -f $pkg/$f ]] || sb_fail "$f not installed in $SB_PYTHON_DIR/sigbroker"
done
compgen -G "$pkg/_sigbroker*.so" >/dev/null || sb_fail "the extension is not installed in $pkg"
lib=$(dirname "$(find "$dir/root" -name 'libsigbroker.so.1' | head -1)")

"$SIGBROKERD" --socket "$dir/sock" --config /dev/null 2>"$dir/daemon.log" &
daemon_pid=$!
sb_wait_for 10 "the daemon's socket" test -S "$dir/sock"

cd "$dir"
PYTHONPATH=$dir/root$SB_PYTHON_DIR LD_LIBRARY_PATH=$lib "$SB_PYTHON" -c '
import os, sys, sigbroker
assert sigbroker.__file__.startswith(sys.argv[1]), sigbroker.__file__
with sigbroker.connect(sys.argv[2]) as c:
    c.subscribe("RTMIN+1")
    c.send(sigbroker.Pid(os.getpid()), "RTMIN+1", b"installed")
    assert c.wait(5).payload == b"installed"
print("ok", sigbroker.__file__)
' "$dir/root" "$dir/sock" || sb_fail "the installed module does not work"
