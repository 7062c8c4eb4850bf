#!/usr/bin/env bash
# bench/agent_overhead.sh BUILD_DIR — what an instrumented call costs with
# fleetprof (explicit API, automatic mode), next to a floor (hooks that only
# read the clock) and peers (uftrace, gprof), all on the same workloads in
# the same run; then the agent's memory for 100k call paths. Figures only,
# no thresholds. Called by bench/run; writes only under BUILD_DIR/bench-tmp.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME with a '.', awk number formats

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${1:?usage: agent_overhead.sh BUILD_DIR}" && pwd)
BIN=$BUILD/bin
TMP=$BUILD/bench-tmp/agent_overhead
ROUNDS=5    # processes per in-process variant (each: best of 5 runs)
WALL_RUNS=9 # processes per whole-process timing (uftrace)
WORKLOADS=(fib mix)
VARIANTS=(plain floor cyg explicit auto gprof)

rm -rf "$TMP"
mkdir -p "$TMP"
RES=$TMP/results
: >"$RES"
# The agent must count locally: no collector, no flush thread.
unset FLEETPROF_COLLECTOR

for v in count "${VARIANTS[@]}" memory; do
	if [ ! -x "$BIN/agent_overhead-$v" ]; then
		echo "agent_overhead: no $BIN/agent_overhead-$v (build)" >&2
		exit 1
	fi
done
have_uftrace=0
have_gprof=0
command -v uftrace >/dev/null && have_uftrace=1
command -v gprof >/dev/null && have_gprof=1

put() { echo "$1 $2" >>"$RES"; }

# Keeps under key $1 the smaller (BEST) and larger (WORST) of what it holds
# and $2.
declare -A BEST WORST
keep_min() {
	if [ -z "${BEST[$1]:-}" ] || [ "$2" -lt "${BEST[$1]}" ]; then
		BEST[$1]=$2
	fi
	if [ -z "${WORST[$1]:-}" ] || [ "$2" -gt "${WORST[$1]}" ]; then
		WORST[$1]=$2
	fi
}

# wall_us CMD…: runs CMD (output to $TMP/last.log); prints its wall time in
# microseconds. Fails as CMD does.
wall_us() {
	local t0 t1
	t0=$EPOCHREALTIME
	"$@" >"$TMP/last.log" 2>&1 || return 1
	t1=$EPOCHREALTIME
	echo $((10#${t1/./} - 10#${t0/./}))
}

# Exact calls per run, from the counting build.
out=$("$BIN/agent_overhead-count")
while read -r w n; do put "calls_$w" "$n"; done <<<"$out"

# In-process times (ns, best run), variants interleaved round by round so a
# slow spell of the shared machine does not land on one variant only. The
# -pg build writes gmon.out to its working directory.
for ((r = 0; r < ROUNDS; r++)); do
	for v in "${VARIANTS[@]}"; do
		[ "$v" = gprof ] && [ "$have_gprof" = 0 ] && continue
		out=$(cd "$TMP" && "$BIN/agent_overhead-$v")
		while read -r w ns; do
			keep_min "in_${v}_$w" "$ns"
		done <<<"$out"
	done
done

# uftrace: the whole `uftrace record` process against the whole plain
# process, both also with an empty workload (start-up and exit costs).
uftrace_rec() {
	rm -rf "$TMP/uftrace.$1"
	wall_us uftrace record --no-libcall -d "$TMP/uftrace.$1" \
		"$BIN/agent_overhead-cyg" once "$1"
}
if [ "$have_uftrace" = 1 ]; then
	for ((r = 0; r < WALL_RUNS; r++)); do
		for w in "${WORKLOADS[@]}" none; do
			t=$(wall_us "$BIN/agent_overhead-plain" once "$w")
			keep_min "wall_plain_$w" "$t"
			if ! t=$(uftrace_rec "$w"); then
				echo "uftrace record failed:" >&2
				cat "$TMP/last.log" >&2
				exit 1
			fi
			keep_min "wall_uftrace_$w" "$t"
		done
	done
	# Calls uftrace recorded (last run of each workload).
	for w in "${WORKLOADS[@]}"; do
		n=$(uftrace report -d "$TMP/uftrace.$w" --no-pager |
			awk '$5 ~ /^[0-9]+$/ && $6 !~ /^linux:/ { s += $5 }
			     END { print s + 0 }')
		put "uftrace_calls_$w" "$n"
	done
fi

# Calls gprof counted in one run (call graph: "outside+recursive").
if [ "$have_gprof" = 1 ]; then
	for w in "${WORKLOADS[@]}"; do
		mkdir -p "$TMP/gprof.$w"
		(cd "$TMP/gprof.$w" && "$BIN/agent_overhead-gprof" once "$w")
		n=$(gprof -b -q "$BIN/agent_overhead-gprof" \
			"$TMP/gprof.$w/gmon.out" |
			awk '/^\[[0-9]+\]/ { split($5, c, "+")
					    s += c[1] + c[2] }
			     END { print s + 0 }')
		put "gprof_calls_$w" "$n"
	done
fi

for k in "${!BEST[@]}"; do
	put "$k" "${BEST[$k]}"
	put "worst_$k" "${WORST[$k]}"
done
out=$("$BIN/agent_overhead-memory")
while read -r k n; do put "mem_$k" "$n"; done <<<"$out"

awk -v have_uftrace="$have_uftrace" -v have_gprof="$have_gprof" \
	-v rounds="$ROUNDS" -v wall_runs="$WALL_RUNS" \
	-f "$HERE/agent_overhead_report.awk" "$RES"
