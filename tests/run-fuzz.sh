#!/bin/sh
# Runs each fuzzer (the wire decoder, then the pstats/marshal reader of
# `fleetprof import`) for SECONDS (default 60) on a scratch copy of its
# committed seed corpus, in its own clang build dir (build-fuzz/). Exits
# non-zero if libFuzzer finds a crash, leak or timeout; the reproducer is kept
# in build-fuzz/fuzz-run/<target>/artifacts/. Without clang it skips (exit 0).
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
cmake --build "$bdir" --target fuzz_wire_decode fuzz_marshal_read -j "$jobs"

# run_one TARGET CORPUS: one fuzzer on a scratch copy of fuzz/corpus/CORPUS.
run_one() {
	dir=$work/$1
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	cp "$root"/fuzz/corpus/"$2"/* "$dir/corpus/"
	status=0
	"$bdir/bin/$1" -max_total_time="$secs" -max_len=65536 \
		-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/" "$dir/corpus" || status=$?
	if [ "$status" -ne 0 ]; then
		echo "FAIL: $1 exited $status; reproducers:" >&2
		ls -l "$dir/artifacts" >&2
		exit 1
	fi
	echo "PASS: $1 ran ${secs}s without findings"
}
run_one fuzz_wire_decode wire
run_one fuzz_marshal_read marshal
