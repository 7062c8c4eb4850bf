-- fleetprof schema v11: the dashboards' sums over the rollup tier read the
-- running sums of schema 010, as `fleetprof` does.
--
-- Why: fleetprof_hotspots over 7 days read the 1 h tier hour by hour: 1.3 s
-- on bench/query's fleet (24 h: 0.4 s). Through fn_stats_sum (the 1 d tier,
-- running sums within days and weeks, the hours at the ends) it reads 4-5
-- slices, exact to the hour like before.
--
-- What changes: fleetprof_hotspots, fleetprof_regressions and
-- fleetprof_flamegraph read fn_stats_sum / stack_stats_sum for the rollup
-- tier (fleetprof_window is unchanged: same tiers, same widening), and drop
-- the keys whose sums in the window are all zero (their slices cancelled:
-- nothing in the window). fleetprof_timeseries steps through the hours as
-- before.

SET LOCAL timezone = 'UTC';

-- The facts a dashboard function reads for [lo, hi) in tier ('raw' or
-- 'rollup'), as SQL text: the raw view, or the window's running sums.
CREATE FUNCTION fleetprof_facts(tab text, tier text, lo timestamptz,
                                hi timestamptz)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN tier = 'raw' THEN quote_ident(tab)
	            ELSE format('%s(%s, %s)', quote_ident(tab || '_sum'),
	                        extract(epoch FROM lo)::bigint,
	                        extract(epoch FROM hi)::bigint) END
$$;

-- The HAVING that drops cancelled keys of fact table tab (fn_stats,
-- stack_stats) under alias a, for the rollup tier; nothing for raw.
CREATE FUNCTION fleetprof_nonzero(tab text, a text, tier text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = public AS $$
	SELECT CASE WHEN tier = 'raw' THEN ''
	            ELSE 'HAVING ' || string_agg(format('sum(%s.%s) <> 0', a, v),
	                                         ' OR ') END
	FROM fleetprof_fact_tables() t,
	     unnest(string_to_array(t.vals, ', ')) v
	WHERE t.tab = fleetprof_nonzero.tab
$$;

CREATE OR REPLACE FUNCTION fleetprof_hotspots(
	from_ts timestamptz, until_ts timestamptz,
	host_patterns text[] DEFAULT NULL, service text DEFAULT NULL,
	clock text DEFAULT 'wall')
RETURNS TABLE (function text, file text, line integer, ncalls bigint,
               pcalls bigint, tottime_s double precision,
               cumtime_s double precision, percall_s double precision,
               hosts bigint)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = public AS $$
DECLARE
	w record;
BEGIN
	PERFORM fleetprof_check_clock(clock);
	SELECT * INTO w FROM fleetprof_window(from_ts, until_ts);
	IF NOT FOUND THEN
		RETURN;
	END IF;
	RETURN QUERY EXECUTE format(
		'WITH g AS (SELECT fs.fn_id, s.host, sum(fs.ncalls) AS nc, '
		'sum(fs.pcalls) AS pc, sum(fs.tottime_ns) AS tt, '
		'sum(fs.cumtime_ns) AS ct FROM %s fs '
		'JOIN series s ON s.id = fs.series_id '
		'WHERE fs.series_id IN (SELECT fleetprof_series_ids($3, $4, $5)) '
		'AND fs.bucket >= $1 AND fs.bucket < $2 GROUP BY 1, 2 %s), '
		'f AS (SELECT fn_id, sum(nc) AS nc, sum(pc) AS pc, '
		'sum(tt) AS tt, sum(ct) AS ct, count(*) AS n FROM g '
		'GROUP BY 1) '
		'SELECT fn.name, fn.file, fn.line, f.nc::bigint, f.pc::bigint, '
		'(f.tt / 1e9)::float8, (f.ct / 1e9)::float8, '
		'(f.tt / NULLIF(f.nc, 0) / 1e9)::float8, f.n '
		'FROM f JOIN functions fn ON fn.id = f.fn_id '
		'ORDER BY f.tt DESC, fn.name COLLATE "C", fn.file COLLATE "C", '
		'fn.line, fn.id',
		fleetprof_facts('fn_stats', w.tier, w.window_from, w.window_until),
		fleetprof_nonzero('fn_stats', 'fs', w.tier))
	USING w.window_from, w.window_until, host_patterns, service, clock;
END $$;

CREATE OR REPLACE FUNCTION fleetprof_regressions(
	from_ts timestamptz, until_ts timestamptz, base_from timestamptz,
	base_until timestamptz, host_patterns text[] DEFAULT NULL,
	service text DEFAULT NULL, clock text DEFAULT 'wall')
RETURNS TABLE (function text, file text, line integer, status text,
               change_s double precision, calls_part_s double precision,
               percall_part_s double precision, base_ncalls bigint,
               ncalls bigint, base_tottime_s double precision,
               tottime_s double precision, base_percall_s double precision,
               percall_s double precision)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = public AS $$
DECLARE
	w record;
	b record;
	tier text;
	width interval;
BEGIN
	PERFORM fleetprof_check_clock(clock);
	SELECT * INTO w FROM fleetprof_window(from_ts, until_ts);
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT * INTO b FROM fleetprof_window(base_from, base_until);
	IF NOT FOUND THEN
		RETURN;
	END IF;
	-- Both windows read the same tier, the coarser one: like with like.
	tier := CASE WHEN w.tier = 'rollup' OR b.tier = 'rollup'
	             THEN 'rollup' ELSE 'raw' END;
	width := CASE tier WHEN 'raw' THEN interval '60 seconds'
	                   ELSE interval '1 hour' END;
	IF tier <> w.tier THEN
		SELECT x.window_from, x.window_until INTO w.window_from,
			w.window_until
		FROM fleetprof_bucket_bounds(from_ts, until_ts, width) x;
	END IF;
	IF tier <> b.tier THEN
		SELECT x.window_from, x.window_until INTO b.window_from,
			b.window_until
		FROM fleetprof_bucket_bounds(base_from, base_until, width) x;
	END IF;
	RETURN QUERY EXECUTE format(
		'WITH s AS (SELECT fleetprof_series_ids($5, $6, $7) AS id), '
		'c AS (SELECT fn_id, sum(ncalls) AS nc, sum(tottime_ns) AS tt '
		'FROM %1$s fs WHERE series_id IN (SELECT id FROM s) '
		'AND bucket >= $1 AND bucket < $2 GROUP BY 1 %3$s), '
		'o AS (SELECT fn_id, sum(ncalls) AS nc, sum(tottime_ns) AS tt '
		'FROM %2$s fs WHERE series_id IN (SELECT id FROM s) '
		'AND bucket >= $3 AND bucket < $4 GROUP BY 1 %3$s), '
		'd AS (SELECT coalesce(c.fn_id, o.fn_id) AS fn_id, '
		'coalesce(o.nc, 0) AS n0, coalesce(c.nc, 0) AS n1, '
		'coalesce(o.tt, 0) AS t0, coalesce(c.tt, 0) AS t1 '
		'FROM c FULL JOIN o ON o.fn_id = c.fn_id), '
		'k AS (SELECT d.*, CASE WHEN n0 = 0 THEN ''new'' '
		'WHEN n1 = 0 THEN ''vanished'' ELSE ''changed'' END AS st, '
		'CASE WHEN n0 = 0 OR n1 = 0 THEN t1 - t0 '
		'ELSE (n1 - n0) * t0 / n0 END AS cp FROM d) '
		'SELECT fn.name, fn.file, fn.line, k.st, '
		'((k.t1 - k.t0) / 1e9)::float8, (k.cp / 1e9)::float8, '
		'((k.t1 - k.t0 - k.cp) / 1e9)::float8, k.n0::bigint, '
		'k.n1::bigint, (k.t0 / 1e9)::float8, (k.t1 / 1e9)::float8, '
		'(k.t0 / NULLIF(k.n0, 0) / 1e9)::float8, '
		'(k.t1 / NULLIF(k.n1, 0) / 1e9)::float8 '
		'FROM k JOIN functions fn ON fn.id = k.fn_id '
		'ORDER BY abs(k.t1 - k.t0) DESC, fn.name COLLATE "C", '
		'fn.file COLLATE "C", fn.line, fn.id',
		fleetprof_facts('fn_stats', tier, w.window_from, w.window_until),
		fleetprof_facts('fn_stats', tier, b.window_from, b.window_until),
		fleetprof_nonzero('fn_stats', 'fs', tier))
	USING w.window_from, w.window_until, b.window_from, b.window_until,
	      host_patterns, service, clock;
END $$;

CREATE OR REPLACE FUNCTION fleetprof_flamegraph(
	from_ts timestamptz, until_ts timestamptz, root_fn text DEFAULT NULL,
	host_patterns text[] DEFAULT NULL, service text DEFAULT NULL,
	clock text DEFAULT 'wall')
RETURNS TABLE (level integer, value bigint, self bigint, label text)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = public AS $$
DECLARE
	w record;
BEGIN
	PERFORM fleetprof_check_clock(clock);
	SELECT * INTO w FROM fleetprof_window(from_ts, until_ts);
	IF NOT FOUND THEN
		RETURN;
	END IF;
	RETURN QUERY EXECUTE format(
		-- Paths with data in the window, plus every ancestor.
		'WITH RECURSIVE p AS (SELECT ss.stack_id AS id, '
		'sum(ss.ncalls) AS nc, sum(ss.self_ns) AS sf, '
		'sum(ss.total_ns) AS tt FROM %s ss '
		'WHERE ss.series_id IN (SELECT fleetprof_series_ids($4, $5, $6)) '
		'AND ss.bucket >= $1 AND ss.bucket < $2 GROUP BY 1 %s), '
		'a AS (SELECT st.id, st.parent_id, st.fn_id FROM stacks st '
		'WHERE st.id IN (SELECT id FROM p) UNION '
		'SELECT st.id, st.parent_id, st.fn_id FROM stacks st '
		'JOIN a ON st.id = a.parent_id), '
		-- From the entry points down: the functions on the path, and
		-- k, the position of the outermost root_fn (0: no root_fn).
		'r AS (SELECT a.id, ARRAY[a.fn_id] AS path, '
		'CASE WHEN $3 IS NULL THEN 0 WHEN fn.name = $3 THEN 1 END AS k '
		'FROM a JOIN functions fn ON fn.id = a.fn_id '
		'WHERE a.parent_id IS NULL OR a.parent_id NOT IN '
		'(SELECT a2.id FROM a a2) '
		'UNION ALL SELECT a.id, r.path || a.fn_id, '
		'coalesce(r.k, CASE WHEN fn.name = $3 '
		'THEN cardinality(r.path) + 1 END) '
		'FROM r JOIN a ON a.parent_id = r.id '
		'JOIN functions fn ON fn.id = a.fn_id '
		'WHERE cardinality(r.path) < 100000), '
		-- Merged by the functions below the root: key {} is the root.
		'n AS (SELECT r.path[r.k + 1:] AS key, sum(p.nc) AS nc, '
		'sum(p.sf) AS sf, sum(p.tt) AS tt FROM r LEFT JOIN p '
		'ON p.id = r.id WHERE r.k IS NOT NULL GROUP BY 1), '
		'm AS (SELECT n.key, n.key[1:cardinality(n.key) - 1] AS up, '
		'coalesce(n.sf, 0) AS sf, coalesce(n.tt, 0) AS tt, fn.name, '
		'row_number() OVER (PARTITION BY n.key[1:cardinality(n.key) - 1] '
		'ORDER BY coalesce(n.tt, 0) DESC, fn.name COLLATE "C", fn.id) '
		'AS rk FROM n JOIN functions fn '
		'ON fn.id = n.key[cardinality(n.key)] '
		'WHERE cardinality(n.key) > 0), '
		-- Depth first: siblings by total time, then name.
		'o AS (SELECT m.key, ARRAY[m.rk] AS ord FROM m '
		'WHERE cardinality(m.key) = 1 UNION ALL '
		'SELECT m.key, o.ord || m.rk FROM o JOIN m ON m.up = o.key), '
		'root AS (SELECT 0 AS level, '
		'CASE WHEN $3 IS NULL THEN (SELECT sum(tt) FROM m '
		'WHERE cardinality(key) = 1) ELSE (SELECT tt FROM n '
		'WHERE cardinality(key) = 0) END AS tt, '
		'CASE WHEN $3 IS NULL THEN 0 ELSE (SELECT coalesce(sf, 0) FROM n '
		'WHERE cardinality(key) = 0) END AS sf, '
		'coalesce($3, ''total'') AS label) '
		'SELECT x.level, x.tt::bigint, x.sf::bigint, x.label FROM ('
		'SELECT level, tt, sf, label, ''{}''::bigint[] AS ord FROM root '
		'WHERE tt IS NOT NULL UNION ALL '
		'SELECT cardinality(m.key), m.tt, m.sf, m.name, o.ord '
		'FROM o JOIN m ON m.key = o.key) x ORDER BY x.ord',
		fleetprof_facts('stack_stats', w.tier, w.window_from,
		                w.window_until),
		fleetprof_nonzero('stack_stats', 'ss', w.tier))
	USING w.window_from, w.window_until, root_fn, host_patterns, service,
	      clock;
END $$;

GRANT EXECUTE ON FUNCTION fleetprof_facts(text, text, timestamptz,
	timestamptz), fleetprof_nonzero(text, text, text) TO fleetprof_reader;
