#!/bin/sh
# Runs the wire decoder fuzzer for SECONDS (default 60) on a scratch copy of
# the committed seed corpus, in its own clang build dir (build-fuzz/). Exits
# non-zero if libFuzzer finds a crash, leak or timeout; the reproducer is kept
# in build-fuzz/fuzz-run/artifacts/. Without clang it skips (exit 0).
set -eu

secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=$root/build-fuzz
work=$bdir/fuzz-run

if ! command -v clang >/dev/null 2>&1; then
	echo "SKIP: fuzz (clang not found)"
	exit 0
fi

CC=clang cmake -S "$root" -B "$bdir" -DFP_FUZZ=ON -DFP_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)
cmake --build "$bdir" --target fuzz_wire_decode -j "$jobs"

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$root"/fuzz/corpus/wire/* "$work/corpus/"

status=0
"$bdir/bin/fuzz_wire_decode" -max_total_time="$secs" -max_len=65536 \
	-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
	echo "FAIL: fuzz_wire_decode exited $status; reproducers:" >&2
	ls -l "$work/artifacts" >&2
	exit 1
fi
echo "PASS: fuzz_wire_decode ran ${secs}s without findings"
