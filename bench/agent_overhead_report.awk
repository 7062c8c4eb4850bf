# bench/agent_overhead_report.awk — prints the agent_overhead tables from
# the "key value" results file that bench/agent_overhead.sh measured (times
# in ns in-process, us for whole processes; calls; memory). Arithmetic and
# layout only: it measures nothing and judges nothing (no thresholds).
# Variables: have_uftrace, have_gprof (0/1), rounds, wall_runs.

{ V[$1] = $2 }

function ns(x) { return sprintf("%.1f", x) }
function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "n/a" }
function mib(x) { return sprintf("%.1f MiB", x / 1048576) }

# Per-call overhead of in-process variant v over the plain build.
function ovh(v, w) { return (V["in_" v "_" w] - V["in_plain_" w]) / C }

# One row: name, ns/call ("" for none), overhead/call ("" for none).
function row(name, nspc, o,    line) {
	line = sprintf("  %-30s %8s", name, nspc == "" ? "" : ns(nspc))
	if (o != "") {
		line = line sprintf(" %14s %9s", ns(o), ratio(o, FLOOR))
		if (have_uftrace)
			line = line sprintf(" %11s", ratio(o, UFT))
		if (have_gprof)
			line = line sprintf(" %9s", ratio(o, GPROF))
	}
	print line
}

function table(w, title,    h, up, uw, hooks) {
	C = V["calls_" w]
	FLOOR = ovh("floor", w)
	hooks = ovh("cyg", w)
	if (have_gprof)
		GPROF = ovh("gprof", w)
	if (have_uftrace) {
		# Whole runs, then with the empty workload's runs subtracted.
		uw = V["wall_uftrace_" w] - V["wall_plain_" w]
		up = V["wall_uftrace_none"] - V["wall_plain_none"]
		UFT_WHOLE = uw * 1000 / C
		UFT = (uw - up) * 1000 / C
	}
	printf "workload: %s, %d calls per run (every build)\n", title, C
	h = sprintf("  %-30s %8s %14s %9s", "variant", "ns/call",
		    "overhead/call", "vs floor")
	if (have_uftrace)
		h = h sprintf(" %11s", "vs uftrace")
	if (have_gprof)
		h = h sprintf(" %9s", "vs gprof")
	print h
	row("plain -O2 (baseline)", V["in_plain_" w] / C, "")
	row("floor (2 rdtsc in hooks)", V["in_floor_" w] / C, FLOOR)
	row("hooks only (glibc no-ops)", V["in_cyg_" w] / C, hooks)
	row("fleetprof FP_FUNCTION", V["in_explicit_" w] / C,
	    ovh("explicit", w))
	row("fleetprof automatic", V["in_auto_" w] / C, ovh("auto", w))
	if (have_uftrace) {
		row("uftrace record, whole run", "", UFT_WHOLE)
		row("uftrace record, start-up out", "", UFT)
	}
	if (have_gprof)
		row("gprof (-pg)", V["in_gprof_" w] / C, GPROF)
	if (have_uftrace || have_gprof) {
		h = "  calls seen:"
		if (have_uftrace)
			h = h sprintf(" uftrace %d", V["uftrace_calls_" w])
		if (have_gprof)
			h = h sprintf("%s gprof %d", have_uftrace ? "," : "",
				      V["gprof_calls_" w])
		print h sprintf(" (of %d)", C)
		if (have_gprof && V["gprof_calls_" w] != C)
			print "  (gprof drops calls made from uninstrumented" \
			      " code: qsort -> comparator)"
	}
	printf "  automatic = hooks %.1f + clock reads %.1f (floor - hooks)" \
	       " + agent %.1f ns\n", hooks, FLOOR - hooks,
	       ovh("auto", w) - FLOOR
	printf "  slowest process (its best run) / best: floor %s," \
	       " FP_FUNCTION %s, automatic %s\n\n", spread("floor", w),
	       spread("explicit", w), spread("auto", w)
}

# How much slower the slowest process of variant v was than the best one.
function spread(v, w) {
	return ratio(V["worst_in_" v "_" w], V["in_" v "_" w])
}

END {
	printf "in-process: best of %d processes x 5 runs", rounds
	if (have_uftrace)
		printf "; uftrace: best of %d processes", wall_runs
	print ""
	if (!have_uftrace)
		print "uftrace: not installed (deploy/install-deps --bench)"
	if (!have_gprof)
		print "gprof: not installed (binutils)"
	print ""
	table("fib", "fib(27)")
	table("mix", "mix (tree insert/walk, string hash, qsort comparator)")

	print "overhead = instrumented - plain -O2 time, per call; " \
	      "ratios are of overheads."
	if (have_uftrace) {
		print "uftrace: whole run = (uftrace record) - (plain run)," \
		      " process wall times;"
		printf "  start-up out also subtracts both runs of an empty" \
		       " workload (%.1f, %.1f ms):\n",
		       V["wall_uftrace_none"] / 1000,
		       V["wall_plain_none"] / 1000
		print "  the per-call cost, which \"vs uftrace\" uses."
	}
	if (have_gprof)
		print "gprof counts calls (mcount) and samples time (100 Hz):" \
		      " no per-call times."
	print "targets (issue; context, not asserted): fleetprof overhead" \
	      " <= 1.5x floor, <= 0.5x uftrace"
	print ""

	printf "memory: %d distinct call paths, FLEETPROF_MAX_NODES=%s\n",
	       V["mem_paths"], V["mem_max_nodes"]
	printf "  %-34s %10d bytes\n", "tree node (sizeof struct ct_node)",
	       V["mem_sizeof_node"]
	printf "  %-34s %10.1f bytes (node + lookup table)\n",
	       "agent memory per path",
	       (V["mem_agent_peak"] - V["mem_agent_one_node"]) / V["mem_paths"]
	printf "  %-34s %10d bytes\n", "agent memory, one-node tree",
	       V["mem_agent_one_node"]
	printf "  %-34s %10d bytes (%s)\n", "agent memory, peak",
	       V["mem_agent_peak"], mib(V["mem_agent_peak"])
	printf "  %-34s %10d bytes (%s)\n", "VmRSS growth", V["mem_rss_delta"],
	       mib(V["mem_rss_delta"])
	printf "  nodes added %d, calls dropped %d\n", V["mem_nodes_added"],
	       V["mem_events_dropped"]
}
