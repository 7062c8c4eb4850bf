-- fleetprof schema v5: the SQL contract for dashboards.
--
-- Views and set-returning functions any SQL dashboard (Grafana's PostgreSQL
-- data source, psql, a notebook) may use; their names, parameters and
-- columns are stable across migrations: later migrations may add optional
-- parameters at the end and new views, never rename or drop. Everything
-- here reads only, runs with the caller's rights (SECURITY INVOKER, views
-- with security_invoker) and is granted to fleetprof_reader. Times are
-- seconds (double precision) in *_s columns and ns (bigint) elsewhere.
--
-- Tiers, as in the fleetprof command: a window shorter than 6 h that starts
-- within the raw retention (7 days) reads the raw 60 s buckets, anything
-- else the 1 h rollup; the window is widened to whole buckets of that tier
-- (fleetprof_window() says which). Host filters are arrays of globs (`*`,
-- `?`); NULL, an empty array or ARRAY['*'] mean every host. The clock is
-- 'wall' or 'cpu', never both in one number.

SET LOCAL timezone = 'UTC';

-- Helpers --------------------------------------------------------------------

-- [from_ts, until_ts) widened to whole buckets of the given width.
CREATE FUNCTION fleetprof_bucket_bounds(from_ts timestamptz,
                                        until_ts timestamptz, width interval)
RETURNS TABLE (window_from timestamptz, window_until timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = public AS $$
	SELECT date_bin(width, from_ts, timestamptz '1970-01-01 00:00:00+00'),
	       CASE WHEN date_bin(width, until_ts,
	                          timestamptz '1970-01-01 00:00:00+00') = until_ts
	            THEN until_ts
	            ELSE date_bin(width, until_ts,
	                          timestamptz '1970-01-01 00:00:00+00') + width
	       END
$$;
COMMENT ON FUNCTION fleetprof_bucket_bounds(timestamptz, timestamptz,
                                            interval) IS
'[from_ts, until_ts) widened to whole buckets of width (aligned to the Unix '
'epoch): the start floored, the end rounded up.';

CREATE FUNCTION fleetprof_window(from_ts timestamptz, until_ts timestamptz)
RETURNS TABLE (tier text, bucket interval, window_from timestamptz,
               window_until timestamptz)
LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
SET search_path = public AS $$
	SELECT t.tier, t.w, x.window_from, x.window_until
	FROM (SELECT CASE WHEN from_ts >= now() - interval '7 days'
	                   AND until_ts - from_ts < interval '6 hours'
	                  THEN 'raw' ELSE 'rollup' END AS tier) k,
	     LATERAL (SELECT k.tier,
	                     CASE k.tier WHEN 'raw' THEN interval '60 seconds'
	                                 ELSE interval '1 hour' END AS w) t,
	     LATERAL fleetprof_bucket_bounds(from_ts, until_ts, t.w) x
	WHERE from_ts IS NOT NULL AND until_ts IS NOT NULL
	  AND until_ts > from_ts
$$;
COMMENT ON FUNCTION fleetprof_window(timestamptz, timestamptz) IS
'The tier a window [from_ts, until_ts) is read from (''raw'': 60 s buckets, '
'when the window is shorter than 6 h and starts within the last 7 days; '
'''rollup'': 1 h buckets otherwise) and the window widened to whole buckets '
'of that tier. No row when the window is empty or NULL.';

-- Glob (`*`, `?`) to a LIKE pattern; every other character literal.
CREATE FUNCTION fleetprof_glob_like(glob text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = public AS $$
	SELECT translate(regexp_replace(glob, '([\\%_])', '\\\1', 'g'),
	                 '*?', '%_')
$$;
COMMENT ON FUNCTION fleetprof_glob_like(text) IS
'A host glob (* any run, ? one character) as a LIKE pattern with the '
'default escape character.';

CREATE FUNCTION fleetprof_host_match(host text, host_patterns text[])
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = public AS $$
	SELECT host_patterns IS NULL OR cardinality(host_patterns) = 0
	       OR EXISTS (SELECT 1 FROM unnest(host_patterns) AS g(p)
	                  WHERE host LIKE fleetprof_glob_like(g.p))
$$;
COMMENT ON FUNCTION fleetprof_host_match(text, text[]) IS
'True when host matches one of the globs in host_patterns, or when '
'host_patterns is NULL or empty (every host). Grafana: '
'fleetprof_host_match(host, ARRAY[${host:sqlstring}]) with the variable''s '
'custom all value ''*''.';

-- Refuses a clock other than 'wall' or 'cpu' (times of different clocks
-- are never added), before any table is read.
CREATE FUNCTION fleetprof_check_clock(clock text)
RETURNS void LANGUAGE plpgsql IMMUTABLE
SET search_path = public AS $$
BEGIN
	IF clock IS NULL OR clock NOT IN ('wall', 'cpu') THEN
		RAISE EXCEPTION 'clock must be ''wall'' or ''cpu'', not %',
			coalesce(quote_literal(clock), 'NULL')
			USING HINT = 'Times of different clocks are never added.';
	END IF;
END $$;
COMMENT ON FUNCTION fleetprof_check_clock(text) IS
'Raises an error unless clock is ''wall'' or ''cpu''.';

-- The series a query reads: one clock, optional service and host globs.
CREATE FUNCTION fleetprof_series_ids(host_patterns text[], service text,
                                     clock text)
RETURNS SETOF bigint LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = public AS $$
BEGIN
	PERFORM fleetprof_check_clock(clock);
	RETURN QUERY
		SELECT s.id FROM series s
		WHERE s.clock = fleetprof_series_ids.clock
		  AND (fleetprof_series_ids.service IS NULL
		       OR s.service = fleetprof_series_ids.service)
		  AND fleetprof_host_match(s.host, host_patterns);
END $$;
COMMENT ON FUNCTION fleetprof_series_ids(text[], text, text) IS
'Ids of the series of one clock (''wall'' or ''cpu''; anything else is an '
'error), of one service (NULL: any) on hosts matching host_patterns '
'(globs; NULL or empty: any).';

-- Views ----------------------------------------------------------------------

CREATE VIEW fleetprof_series_v WITH (security_invoker = true) AS
	SELECT id, host, service, clock, labels, first_seen FROM series;
COMMENT ON VIEW fleetprof_series_v IS
'Every process group that ever reported: host, service, clock (wall|cpu), '
'labels (jsonb) and when it was first seen. Dashboard variables list hosts '
'and services from here.';

CREATE VIEW fleetprof_functions_v WITH (security_invoker = true) AS
	SELECT id, name, file, line, module FROM functions;
COMMENT ON VIEW fleetprof_functions_v IS
'Every function ever reported: name, file, line (0 when unknown), module.';

CREATE VIEW fleetprof_batches_v WITH (security_invoker = true) AS
	SELECT b.t0, b.t1, b.received_at, s.host, s.service, s.clock,
	       b.pid, encode(b.agent_id, 'hex') AS agent, b.seq, b.dropped,
	       b.nfns
	FROM ingested_batches b JOIN series s ON s.id = b.series_id;
COMMENT ON VIEW fleetprof_batches_v IS
'The ingest ledger (raw retention): one row per batch merged, with the '
'window it covers (t0, t1), its series, process and agent, and dropped: '
'events and batches the agent lost since its previous batch.';

CREATE VIEW fleetprof_fn_stats_v WITH (security_invoker = true) AS
	SELECT fs.bucket, s.host, s.service, s.clock, f.name AS function,
	       f.file, f.line, f.module, fs.ncalls, fs.pcalls, fs.tottime_ns,
	       fs.cumtime_ns
	FROM fn_stats fs
	JOIN series s ON s.id = fs.series_id
	JOIN functions f ON f.id = fs.fn_id;
COMMENT ON VIEW fleetprof_fn_stats_v IS
'Raw tier (60 s buckets, kept 7 days) per function, host and service. '
'Counters are sums over the bucket; add them, never average them.';

CREATE VIEW fleetprof_fn_stats_1h_v WITH (security_invoker = true) AS
	SELECT fs.bucket, s.host, s.service, s.clock, f.name AS function,
	       f.file, f.line, f.module, fs.ncalls, fs.pcalls, fs.tottime_ns,
	       fs.cumtime_ns
	FROM fn_stats_1h fs
	JOIN series s ON s.id = fs.series_id
	JOIN functions f ON f.id = fs.fn_id;
COMMENT ON VIEW fleetprof_fn_stats_1h_v IS
'Rollup tier (1 h buckets, kept 90 days): the same columns as '
'fleetprof_fn_stats_v.';

-- Hotspots -------------------------------------------------------------------

CREATE FUNCTION fleetprof_hotspots(from_ts timestamptz, until_ts timestamptz,
                                   host_patterns text[] DEFAULT NULL,
                                   service text DEFAULT NULL,
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
		'sum(fs.cumtime_ns) AS ct FROM %I fs '
		'JOIN series s ON s.id = fs.series_id '
		'WHERE fs.series_id IN (SELECT fleetprof_series_ids($3, $4, $5)) '
		'AND fs.bucket >= $1 AND fs.bucket < $2 GROUP BY 1, 2), '
		'f AS (SELECT fn_id, sum(nc) AS nc, sum(pc) AS pc, '
		'sum(tt) AS tt, sum(ct) AS ct, count(*) AS n FROM g '
		'GROUP BY 1) '
		'SELECT fn.name, fn.file, fn.line, f.nc::bigint, f.pc::bigint, '
		'(f.tt / 1e9)::float8, (f.ct / 1e9)::float8, '
		'(f.tt / NULLIF(f.nc, 0) / 1e9)::float8, f.n '
		'FROM f JOIN functions fn ON fn.id = f.fn_id '
		'ORDER BY f.tt DESC, fn.name COLLATE "C", fn.file COLLATE "C", '
		'fn.line, fn.id',
		CASE w.tier WHEN 'raw' THEN 'fn_stats' ELSE 'fn_stats_1h' END)
	USING w.window_from, w.window_until, host_patterns, service, clock;
END $$;
COMMENT ON FUNCTION fleetprof_hotspots(timestamptz, timestamptz, text[],
                                       text, text) IS
'Functions ranked by time spent in themselves (tottime) over '
'[from_ts, until_ts) widened to whole buckets of the tier '
'(fleetprof_window), for one clock, an optional service and host globs. '
'Columns as pstats: ncalls (all calls), pcalls (primitive), tottime_s, '
'cumtime_s (outermost recursion level only), percall_s = tottime / ncalls; '
'hosts: how many hosts ran the function. One row per function identity '
'(name, file, line, module); ordered by tottime descending.';

-- Time series ----------------------------------------------------------------

CREATE FUNCTION fleetprof_timeseries(fn_name text, from_ts timestamptz,
                                     until_ts timestamptz,
                                     step interval DEFAULT NULL,
                                     host_patterns text[] DEFAULT NULL,
                                     service text DEFAULT NULL,
                                     clock text DEFAULT 'wall')
RETURNS TABLE ("time" timestamptz, function text, ncalls bigint,
               pcalls bigint, tottime_s double precision,
               cumtime_s double precision, percall_s double precision)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = public AS $$
DECLARE
	w record;
	width bigint;
	st bigint;
	lo bigint;
	hi bigint;
BEGIN
	PERFORM fleetprof_check_clock(clock);
	SELECT * INTO w FROM fleetprof_window(from_ts, until_ts);
	IF NOT FOUND OR fn_name IS NULL THEN
		RETURN;
	END IF;
	width := extract(epoch FROM w.bucket)::bigint;
	-- The step is whole buckets of the tier, at least one.
	st := greatest(ceil(coalesce(extract(epoch FROM step), 0)
	                    / width)::bigint, 1) * width;
	lo := floor(extract(epoch FROM w.window_from) / st)::bigint * st;
	hi := ceil(extract(epoch FROM w.window_until) / st)::bigint * st;
	IF (hi - lo) / st > 100000 THEN
		RAISE EXCEPTION 'too many steps: % of % s', (hi - lo) / st, st
			USING HINT = 'Use a longer step or a shorter window.';
	END IF;
	RETURN QUERY EXECUTE format(
		'WITH b AS (SELECT floor(extract(epoch FROM fs.bucket) / $7)'
		'::bigint * $7 AS t, sum(fs.ncalls) AS nc, '
		'sum(fs.pcalls) AS pc, sum(fs.tottime_ns) AS tt, '
		'sum(fs.cumtime_ns) AS ct FROM %I fs '
		'WHERE fs.series_id IN (SELECT fleetprof_series_ids($4, $5, $6)) '
		'AND fs.fn_id IN (SELECT id FROM functions WHERE name = $1) '
		'AND fs.bucket >= to_timestamp($2) AND fs.bucket < to_timestamp($3) '
		'GROUP BY 1) '
		'SELECT to_timestamp(g.t), $1, coalesce(b.nc, 0)::bigint, '
		'coalesce(b.pc, 0)::bigint, (coalesce(b.tt, 0) / 1e9)::float8, '
		'(coalesce(b.ct, 0) / 1e9)::float8, '
		'(b.tt / NULLIF(b.nc, 0) / 1e9)::float8 '
		'FROM generate_series($2, $3 - $7, $7) AS g(t) '
		'LEFT JOIN b ON b.t = g.t ORDER BY g.t',
		CASE w.tier WHEN 'raw' THEN 'fn_stats' ELSE 'fn_stats_1h' END)
	USING fn_name, lo, hi, host_patterns, service, clock, st;
END $$;
COMMENT ON FUNCTION fleetprof_timeseries(text, timestamptz, timestamptz,
                                         interval, text[], text, text) IS
'One function (every identity with that name) per step over '
'[from_ts, until_ts): a row for every step, zeros where it did not run '
'(percall_s NULL). step is rounded up to whole buckets of the tier '
'(fleetprof_window; NULL: one bucket) and the window to whole steps; '
'"time" is the start of the step. Grafana: step => $__interval_ms * '
'interval ''1 millisecond''.';

-- Regressions ----------------------------------------------------------------

CREATE FUNCTION fleetprof_regressions(from_ts timestamptz,
                                      until_ts timestamptz,
                                      base_from timestamptz,
                                      base_until timestamptz,
                                      host_patterns text[] DEFAULT NULL,
                                      service text DEFAULT NULL,
                                      clock text DEFAULT 'wall')
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
		'FROM %1$I WHERE series_id IN (SELECT id FROM s) '
		'AND bucket >= $1 AND bucket < $2 GROUP BY 1), '
		'o AS (SELECT fn_id, sum(ncalls) AS nc, sum(tottime_ns) AS tt '
		'FROM %1$I WHERE series_id IN (SELECT id FROM s) '
		'AND bucket >= $3 AND bucket < $4 GROUP BY 1), '
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
		CASE tier WHEN 'raw' THEN 'fn_stats' ELSE 'fn_stats_1h' END)
	USING w.window_from, w.window_until, b.window_from, b.window_until,
	      host_patterns, service, clock;
END $$;
COMMENT ON FUNCTION fleetprof_regressions(timestamptz, timestamptz,
                                          timestamptz, timestamptz, text[],
                                          text, text) IS
'Each function''s tottime in [from_ts, until_ts) against the base window '
'[base_from, base_until), both read from the coarser tier of the two. '
'change_s = tottime_s - base_tottime_s, split exactly in two: calls_part_s '
'= (ncalls - base_ncalls) * base_percall ("called more often") and '
'percall_part_s = ncalls * (percall - base_percall) ("slower per call"). '
'status ''new'' (no base calls) and ''vanished'' (no calls now) put the '
'whole change in calls_part_s. Ordered by |change| descending.';

-- Flame graph ----------------------------------------------------------------

CREATE FUNCTION fleetprof_flamegraph(from_ts timestamptz, until_ts timestamptz,
                                     root_fn text DEFAULT NULL,
                                     host_patterns text[] DEFAULT NULL,
                                     service text DEFAULT NULL,
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
		'sum(ss.total_ns) AS tt FROM %I ss '
		'WHERE ss.series_id IN (SELECT fleetprof_series_ids($4, $5, $6)) '
		'AND ss.bucket >= $1 AND ss.bucket < $2 GROUP BY 1), '
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
		CASE w.tier WHEN 'raw' THEN 'stack_stats' ELSE 'stack_stats_1h' END)
	USING w.window_from, w.window_until, root_fn, host_patterns, service,
	      clock;
END $$;
COMMENT ON FUNCTION fleetprof_flamegraph(timestamptz, timestamptz, text,
                                         text[], text, text) IS
'Call paths over [from_ts, until_ts) (tier and widening as '
'fleetprof_window) as the nested-set table of Grafana''s flame graph panel: '
'one row per node in depth-first order, level (root 0), value (total ns of '
'the node, callees included), self (ns in the function itself), label '
'(function name). Siblings by value descending, then name. root_fn NULL: '
'the root is ''total'' (self 0) over the entry functions; root_fn a name: '
'the outermost calls of every function of that name merged into the root, '
'their callees below (recursion inside is not counted twice). No rows when '
'nothing was recorded.';

-- Rights ---------------------------------------------------------------------

GRANT SELECT ON fleetprof_series_v, fleetprof_functions_v,
	fleetprof_batches_v, fleetprof_fn_stats_v, fleetprof_fn_stats_1h_v
	TO fleetprof_reader;
GRANT EXECUTE ON FUNCTION fleetprof_window(timestamptz, timestamptz),
	fleetprof_check_clock(text),
	fleetprof_bucket_bounds(timestamptz, timestamptz, interval),
	fleetprof_glob_like(text),
	fleetprof_host_match(text, text[]),
	fleetprof_series_ids(text[], text, text),
	fleetprof_hotspots(timestamptz, timestamptz, text[], text, text),
	fleetprof_timeseries(text, timestamptz, timestamptz, interval, text[],
	                     text, text),
	fleetprof_regressions(timestamptz, timestamptz, timestamptz,
	                      timestamptz, text[], text, text),
	fleetprof_flamegraph(timestamptz, timestamptz, text, text[], text,
	                     text)
	TO fleetprof_reader;
