#!/usr/bin/env bash
# tests/run-all.sh — the test stages of `make test` (the trees are built and
# the private PostgreSQL started by the Makefile first): ctest in build/,
# in build-asan/ (address,undefined), the agent's threaded tests in
# build-tsan/, then the decoder fuzzer. Ends with one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
passed=0 failed=0 skipped=0

stage() { # stage TITLE CTEST-ARGS…
	local title=$1 out total nfail nskip
	shift
	echo "== $title"
	out=$(ctest --output-on-failure "$@" 2>&1)
	echo "$out"
	total=$(sed -n 's/.* tests* failed out of \([0-9]*\).*/\1/p' <<<"$out" | tail -1)
	nfail=$(sed -n 's/.*, \([0-9]*\) tests* failed out of.*/\1/p' <<<"$out" | tail -1)
	nskip=$(grep -c '(Skipped)$' <<<"$out" || true)
	if [[ -z $total ]]; then
		echo "error: ctest ran no test in: $title" >&2
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + total - nfail - nskip))
	failed=$((failed + nfail))
	skipped=$((skipped + nskip))
}

stage "tests (build/)" --test-dir build -j"$JOBS"
stage "tests under address,undefined sanitizers (build-asan/)" \
	--test-dir build-asan -j"$JOBS"
stage "agent tests under the thread sanitizer (build-tsan/)" \
	--test-dir build-tsan -L tsan
echo "== fuzzing the batch decoder for $FUZZ_SECONDS s"
fuzz_out=$(tests/run-fuzz.sh "$FUZZ_SECONDS" 2>&1)
rc=$?
tail -3 <<<"$fuzz_out"
if [[ $rc -ne 0 ]]; then
	echo "$fuzz_out" | tail -40
	failed=$((failed + 1))
elif grep -q '^SKIP' <<<"$fuzz_out"; then
	skipped=$((skipped + 1))
else
	passed=$((passed + 1))
fi

echo
echo "make test: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
