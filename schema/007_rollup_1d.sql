-- fleetprof schema v7: a 1 d rollup tier, so windows of days read days.
--
-- Why: a 7 d window read 168 hourly rows per series and function (1.7 M rows
-- on the bench fleet of 20 hosts x 500 functions); PostgreSQL sums about
-- 2 M rows/s on two cores, so `top --since 7d` took over a second. Whole
-- days now come from one row per day.
--
-- How, the same way as the 1 h tier (006), one level up:
-- * fn_stats_rollup_1d, edge_stats_rollup_1d, stack_stats_rollup_1d store
--   whole UTC days; rollup_dirty_1d marks days whose hours changed since.
-- * fleetprof_rollup() marks a day each time it rolls one of its hours (in
--   the same transaction), and recomputes ended marked days that have no
--   gap left, from the 1 h tier, deleting only the marks it saw.
-- * fn_stats_1d (and edge_, stack_) are views: stored days with no day mark
--   and no gap in their hours (rollup_gaps), plus the 1 h tier summed into
--   the others. Exact at every snapshot, like the 1 h views.
-- * fn_stats_span(from, until) (and edge_, stack_) read a window exactly to
--   the hour: whole days from the 1 d tier, the partial days at its ends
--   from the 1 h tier. The query command uses them for windows of 3 days
--   and more.

SET LOCAL timezone = 'UTC';

CREATE TABLE fn_stats_rollup_1d (LIKE fn_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);
CREATE TABLE edge_stats_rollup_1d (LIKE edge_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);
CREATE TABLE stack_stats_rollup_1d (LIKE stack_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);

CREATE TABLE rollup_dirty_1d (
	day     timestamptz NOT NULL,  -- start of a UTC day whose hours changed
	writer  integer NOT NULL,      -- pg_backend_pid() of the roller
	version bigint NOT NULL,
	PRIMARY KEY (day, writer)
);

-- Days rolled up by hour before this migration: to be rolled up by day.
INSERT INTO rollup_dirty_1d
	SELECT DISTINCT date_bin('1 day', bucket,
	                         timestamptz '2000-01-01 00:00+00'), 0, 1
	FROM fn_stats_rollup;

-- The 1 d tier as readers see it ---------------------------------------------

CREATE VIEW fn_stats_1d AS
	SELECT r.bucket, r.series_id, r.fn_id, r.ncalls, r.pcalls,
	       r.tottime_ns, r.cumtime_ns
	FROM fn_stats_rollup_1d r
	WHERE r.bucket NOT IN (SELECT day FROM rollup_dirty_1d
	                       UNION ALL
	                       SELECT date_bin('1 day', hour,
	                                       timestamptz '2000-01-01 00:00+00')
	                       FROM rollup_gaps)
	UNION ALL
	SELECT d.day,
	       f.series_id, f.fn_id, f.ncalls, f.pcalls, f.tottime_ns,
	       f.cumtime_ns
	FROM (SELECT day FROM rollup_dirty_1d
	      UNION
	      SELECT date_bin('1 day', hour, timestamptz '2000-01-01 00:00+00')
	      FROM rollup_gaps) d
	CROSS JOIN LATERAL (
		SELECT * FROM fn_stats_1h
		WHERE bucket >= d.day AND bucket < d.day + interval '1 day'
		OFFSET 0) f;

CREATE VIEW edge_stats_1d AS
	SELECT r.bucket, r.series_id, r.caller_id, r.callee_id, r.ncalls,
	       r.pcalls, r.tottime_ns, r.cumtime_ns
	FROM edge_stats_rollup_1d r
	WHERE r.bucket NOT IN (SELECT day FROM rollup_dirty_1d
	                       UNION ALL
	                       SELECT date_bin('1 day', hour,
	                                       timestamptz '2000-01-01 00:00+00')
	                       FROM rollup_gaps)
	UNION ALL
	SELECT d.day,
	       e.series_id, e.caller_id, e.callee_id, e.ncalls, e.pcalls,
	       e.tottime_ns, e.cumtime_ns
	FROM (SELECT day FROM rollup_dirty_1d
	      UNION
	      SELECT date_bin('1 day', hour, timestamptz '2000-01-01 00:00+00')
	      FROM rollup_gaps) d
	CROSS JOIN LATERAL (
		SELECT * FROM edge_stats_1h
		WHERE bucket >= d.day AND bucket < d.day + interval '1 day'
		OFFSET 0) e;

CREATE VIEW stack_stats_1d AS
	SELECT r.bucket, r.series_id, r.stack_id, r.ncalls, r.self_ns,
	       r.total_ns
	FROM stack_stats_rollup_1d r
	WHERE r.bucket NOT IN (SELECT day FROM rollup_dirty_1d
	                       UNION ALL
	                       SELECT date_bin('1 day', hour,
	                                       timestamptz '2000-01-01 00:00+00')
	                       FROM rollup_gaps)
	UNION ALL
	SELECT d.day,
	       s.series_id, s.stack_id, s.ncalls, s.self_ns, s.total_ns
	FROM (SELECT day FROM rollup_dirty_1d
	      UNION
	      SELECT date_bin('1 day', hour, timestamptz '2000-01-01 00:00+00')
	      FROM rollup_gaps) d
	CROSS JOIN LATERAL (
		SELECT * FROM stack_stats_1h
		WHERE bucket >= d.day AND bucket < d.day + interval '1 day'
		OFFSET 0) s;

COMMENT ON VIEW fn_stats_1d IS
'The 1 d tier: clean days from fn_stats_rollup_1d, the others from '
'fn_stats_1h. Always equal to the 1 h tier summed per UTC day.';

-- Windows to the hour: whole days from 1 d, the ends from 1 h ---------------
-- from_s and until_s are epoch seconds on hour boundaries. Plain SQL
-- functions of one SELECT: the planner inlines them, so the bounds prune
-- partitions like any WHERE clause.

CREATE FUNCTION fn_stats_span(from_s bigint, until_s bigint)
RETURNS SETOF fn_stats_1h LANGUAGE sql STABLE AS $$
	SELECT * FROM fn_stats_1d
	WHERE bucket >= to_timestamp((from_s + 86399) / 86400 * 86400)
	  AND bucket < to_timestamp(until_s / 86400 * 86400)
	UNION ALL
	SELECT * FROM fn_stats_1h
	WHERE bucket >= to_timestamp(from_s)
	  AND bucket < to_timestamp(least(until_s,
	                                  (from_s + 86399) / 86400 * 86400))
	UNION ALL
	SELECT * FROM fn_stats_1h
	WHERE bucket >= to_timestamp(greatest(from_s, until_s / 86400 * 86400,
	                                      (from_s + 86399) / 86400 * 86400))
	  AND bucket < to_timestamp(until_s)
$$;

CREATE FUNCTION edge_stats_span(from_s bigint, until_s bigint)
RETURNS SETOF edge_stats_1h LANGUAGE sql STABLE AS $$
	SELECT * FROM edge_stats_1d
	WHERE bucket >= to_timestamp((from_s + 86399) / 86400 * 86400)
	  AND bucket < to_timestamp(until_s / 86400 * 86400)
	UNION ALL
	SELECT * FROM edge_stats_1h
	WHERE bucket >= to_timestamp(from_s)
	  AND bucket < to_timestamp(least(until_s,
	                                  (from_s + 86399) / 86400 * 86400))
	UNION ALL
	SELECT * FROM edge_stats_1h
	WHERE bucket >= to_timestamp(greatest(from_s, until_s / 86400 * 86400,
	                                      (from_s + 86399) / 86400 * 86400))
	  AND bucket < to_timestamp(until_s)
$$;

CREATE FUNCTION stack_stats_span(from_s bigint, until_s bigint)
RETURNS SETOF stack_stats_1h LANGUAGE sql STABLE AS $$
	SELECT * FROM stack_stats_1d
	WHERE bucket >= to_timestamp((from_s + 86399) / 86400 * 86400)
	  AND bucket < to_timestamp(until_s / 86400 * 86400)
	UNION ALL
	SELECT * FROM stack_stats_1h
	WHERE bucket >= to_timestamp(from_s)
	  AND bucket < to_timestamp(least(until_s,
	                                  (from_s + 86399) / 86400 * 86400))
	UNION ALL
	SELECT * FROM stack_stats_1h
	WHERE bucket >= to_timestamp(greatest(from_s, until_s / 86400 * 86400,
	                                      (from_s + 86399) / 86400 * 86400))
	  AND bucket < to_timestamp(until_s)
$$;

-- The roller, one level more -------------------------------------------------

-- Rolls day d (ended, no gap left) from the 1 h tier and deletes the day
-- marks it read.
CREATE FUNCTION fleetprof_rollup_day(d timestamptz)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	ws integer[];
	vs bigint[];
BEGIN
	SELECT array_agg(writer), array_agg(version) INTO ws, vs
	FROM rollup_dirty_1d WHERE day = d;
	PERFORM fleetprof_ensure_partitions(d::date, d::date);
	DELETE FROM fn_stats_rollup_1d WHERE bucket = d;
	INSERT INTO fn_stats_rollup_1d
		SELECT d, series_id, fn_id, sum(ncalls), sum(pcalls),
		       sum(tottime_ns), sum(cumtime_ns)
		FROM fn_stats_1h
		WHERE bucket >= d AND bucket < d + interval '1 day'
		GROUP BY series_id, fn_id;
	DELETE FROM edge_stats_rollup_1d WHERE bucket = d;
	INSERT INTO edge_stats_rollup_1d
		SELECT d, series_id, caller_id, callee_id, sum(ncalls),
		       sum(pcalls), sum(tottime_ns), sum(cumtime_ns)
		FROM edge_stats_1h
		WHERE bucket >= d AND bucket < d + interval '1 day'
		GROUP BY series_id, caller_id, callee_id;
	DELETE FROM stack_stats_rollup_1d WHERE bucket = d;
	INSERT INTO stack_stats_rollup_1d
		SELECT d, series_id, stack_id, sum(ncalls), sum(self_ns),
		       sum(total_ns)
		FROM stack_stats_1h
		WHERE bucket >= d AND bucket < d + interval '1 day'
		GROUP BY series_id, stack_id;
	DELETE FROM rollup_dirty_1d x
	USING unnest(ws, vs) AS s(writer, version)
	WHERE x.day = d AND x.writer = s.writer AND x.version = s.version;
END $$;

CREATE OR REPLACE FUNCTION fleetprof_rollup(upto timestamptz,
                                            max_hours integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	settled timestamptz := date_bin('1 minute', upto,
	                                timestamptz '2000-01-01 00:00+00');
	g record;
	done integer := 0;
BEGIN
	IF NOT pg_try_advisory_xact_lock(hashtext('fleetprof_rollup')) THEN
		RETURN 0;
	END IF;
	FOR g IN
		SELECT hour, hi FROM rollup_gaps
		WHERE lo < least(hi, settled)
		ORDER BY hour LIMIT max_hours
	LOOP
		PERFORM fleetprof_rollup_hour(g.hour, least(g.hi, settled));
		-- Its day changed: in the same transaction as the hour.
		INSERT INTO rollup_dirty_1d AS x (day, writer, version)
		VALUES (date_bin('1 day', g.hour,
		                 timestamptz '2000-01-01 00:00+00'),
		        pg_backend_pid(), 1)
		ON CONFLICT (day, writer) DO UPDATE SET version = x.version + 1;
		done := done + 1;
	END LOOP;
	-- Then the days that ended and have no gap left.
	FOR g IN
		SELECT DISTINCT x.day AS hour FROM rollup_dirty_1d x
		WHERE x.day + interval '1 day' <= upto
		  AND NOT EXISTS (SELECT 1 FROM rollup_gaps r
		                  WHERE r.hour >= x.day
		                    AND r.hour < x.day + interval '1 day')
		ORDER BY 1 LIMIT max_hours
	LOOP
		PERFORM fleetprof_rollup_day(g.hour);
	END LOOP;
	RETURN done;
END $$;

CREATE OR REPLACE FUNCTION fleetprof_ensure_partitions(from_day date,
                                                       to_day date)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	d date := from_day;
	made integer := 0;
BEGIN
	IF to_day - from_day > 400 THEN
		RAISE EXCEPTION 'refusing to create partitions for % days',
			to_day - from_day;
	END IF;
	WHILE d <= to_day LOOP
		made := made + fleetprof_ensure_partition('fn_stats', 1, d)
		             + fleetprof_ensure_partition('edge_stats', 1, d)
		             + fleetprof_ensure_partition('stack_stats', 1, d)
		             + fleetprof_ensure_partition('ingested_batches', 1, d)
		             + fleetprof_ensure_partition('fn_stats_rollup', 7, d)
		             + fleetprof_ensure_partition('edge_stats_rollup', 7, d)
		             + fleetprof_ensure_partition('stack_stats_rollup', 7,
		                                          d)
		             + fleetprof_ensure_partition('fn_stats_rollup_1d', 7,
		                                          d)
		             + fleetprof_ensure_partition('edge_stats_rollup_1d',
		                                          7, d)
		             + fleetprof_ensure_partition('stack_stats_rollup_1d',
		                                          7, d);
		d := d + 1;
	END LOOP;
	RETURN made;
END $$;

-- Both rollup tiers keep rollup_retention; their weekly partitions line up.
CREATE OR REPLACE FUNCTION fleetprof_maintain(raw_retention interval,
                                              rollup_retention interval)
RETURNS TABLE (created integer, dropped integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	c integer;
	d integer := 0;
	raw_cut timestamptz := now() - raw_retention;
	cut timestamptz := now() - rollup_retention;
BEGIN
	c := fleetprof_ensure_partitions(current_date, current_date + 2);
	PERFORM fleetprof_rollup(raw_cut + interval '1 day', 10000);
	IF NOT EXISTS (SELECT 1 FROM rollup_gaps
	               WHERE hour < raw_cut + interval '1 day') THEN
		d := d + fleetprof_drop_partitions('fn_stats', raw_cut)
		       + fleetprof_drop_partitions('edge_stats', raw_cut)
		       + fleetprof_drop_partitions('stack_stats', raw_cut);
	END IF;
	d := d + fleetprof_drop_partitions('ingested_batches', raw_cut)
	       + fleetprof_drop_partitions('fn_stats_rollup', cut)
	       + fleetprof_drop_partitions('edge_stats_rollup', cut)
	       + fleetprof_drop_partitions('stack_stats_rollup', cut)
	       + fleetprof_drop_partitions('fn_stats_rollup_1d', cut)
	       + fleetprof_drop_partitions('edge_stats_rollup_1d', cut)
	       + fleetprof_drop_partitions('stack_stats_rollup_1d', cut);
	DELETE FROM rollup_dirty_1d WHERE day + interval '1 day' <= cut;
	RETURN QUERY SELECT c, d;
END $$;

GRANT SELECT ON fn_stats_1d, edge_stats_1d, stack_stats_1d, rollup_dirty_1d
	TO fleetprof_reader;
REVOKE ALL ON FUNCTION fleetprof_rollup_day(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fn_stats_span(bigint, bigint),
	edge_stats_span(bigint, bigint), stack_stats_span(bigint, bigint)
	TO fleetprof_reader;

-- No JIT for this database's sessions. The tier views' plans are costed over
-- jit_above_cost even on tiny tables, and PostgreSQL 15 then spends 0.5-1 s
-- compiling each query (measured: `fleetprof top --since 7d` 1.5 s -> 0.5 s,
-- a sum over fn_stats_1d in the tests 0.6 s -> 5 ms); these queries are
-- short and run once, so compiling never pays off. The roller's functions
-- carry it themselves in case the database setting is not allowed.
DO $$
BEGIN
	EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
	RAISE NOTICE 'not the owner of database %: set jit = off for its '
	             'readers by hand', current_database();
END $$;
ALTER FUNCTION fleetprof_rollup(timestamptz, integer) SET jit = off;
ALTER FUNCTION fleetprof_rollup_hour(timestamptz, timestamptz) SET jit = off;
ALTER FUNCTION fleetprof_rollup_day(timestamptz) SET jit = off;
ALTER FUNCTION fleetprof_maintain(interval, interval) SET jit = off;
