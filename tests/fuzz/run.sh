#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the libFuzzer targets with clang and fuzz each one for SECONDS
# (default 600) over its committed corpus:
#
#   tests/fuzz/run.sh [SECONDS]
#
# which comes down to
#
#   CC=clang meson setup -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
#       -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all' $BUILDDIR
#   ninja -C $BUILDDIR tests/fuzz/fuzz-NAME...
#   $BUILDDIR/tests/fuzz/fuzz-NAME -max_total_time=SECONDS \
#       $BUILDDIR/fuzz-corpus/NAME tests/fuzz/corpus/NAME
#
# for every fuzz-NAME target built (see tests/fuzz/meson.build), one after
# the other, printing the executions each reached.
#
# Environment:
#   BUILDDIR       build directory (default: build-fuzz in the source tree)
#   FUZZ_TARGETS   names to run, e.g. "frame config" (default: all)
#   FUZZ_ARGS      more libFuzzer options, e.g. "-jobs=2 -workers=2"
#
# The committed corpus is only read. New inputs go to $BUILDDIR/fuzz-corpus/NAME
# and crashes to $BUILDDIR/fuzz-artifacts/NAME-crash-*; replay one with
# $BUILDDIR/tests/fuzz/fuzz-NAME FILE, fix the bug, then commit the input as
# tests/fuzz/corpus/NAME/crash-WHAT. Exits non-zero if any target found
# something.

set -eu

seconds=${1:-600}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${BUILDDIR:-$srcdir/build-fuzz}

case $seconds in
        ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

if [ ! -f "$builddir/build.ninja" ]; then
        CC=clang meson setup "$builddir" "$srcdir" --werror \
                -Dfuzz=true \
                -Db_sanitize=address,undefined \
                -Db_lundef=false \
                -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all'
fi
# The fuzz targets (fuzz-NAME, not fuzz-NAME-replay) and their files. Only
# these are built: the rest of the project need not link in this
# configuration.
all_targets=$(meson introspect --targets "$builddir" | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    n = t["name"]
    if t["type"] == "executable" and n.startswith("fuzz-") and not n.endswith("-replay"):
        print(n[len("fuzz-"):], os.path.relpath(t["filename"][0], sys.argv[1]))
' "$builddir")
if [ -z "$all_targets" ]; then
        echo "no fuzz targets in $builddir (configured without -Dfuzz=true?)" >&2
        exit 1
fi
FUZZ_TARGETS=${FUZZ_TARGETS:-$(echo "$all_targets" | cut -d' ' -f1)}
files=
for name in $FUZZ_TARGETS; do
        file=$(echo "$all_targets" | awk -v n="$name" '$1 == n { print $2 }')
        if [ -z "$file" ]; then
                echo "no fuzz target $name" >&2
                exit 1
        fi
        files="$files $file"
done
# shellcheck disable=SC2086 # a list of paths without spaces
ninja -C "$builddir" $files

failed=0
for name in $FUZZ_TARGETS; do
        fuzzer=$builddir/$(echo "$all_targets" | awk -v n="$name" '$1 == n { print $2 }')
        corpus=$srcdir/tests/fuzz/corpus/$name
        work=$builddir/fuzz-corpus/$name
        log=$builddir/fuzz-$name.log
        dict=$srcdir/tests/fuzz/$name.dict

        mkdir -p "$work" "$builddir/fuzz-artifacts"
        set -- -max_total_time="$seconds" -print_final_stats=1 \
                -artifact_prefix="$builddir/fuzz-artifacts/$name-"
        [ -f "$dict" ] && set -- "$@" -dict="$dict"
        echo "fuzzing $name for ${seconds}s (log: $log)"
        # shellcheck disable=SC2086 # FUZZ_ARGS is a list of options
        if "$fuzzer" "$@" ${FUZZ_ARGS:-} "$work" "$corpus" >"$log" 2>&1; then
                status=ok
        else
                status="FAILED, see $log and $builddir/fuzz-artifacts/"
                failed=1
        fi
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
        echo "$name: ${execs:-?} executions, $cov, $status"
done
exit $failed
