-- fleetprof schema v6: the rollup tiers (1 h, and 1 d for windows of days)
-- are computed from the raw tier by a roller, minute by settled minute,
-- instead of being upserted by every commit.
--
-- Why: upserting each commit's rows into the 1 h tier as well as the raw tier
-- doubled the collector's database work, and every writer updated the same
-- hot rollup rows (row-lock waits across writers). Measured with bench/ingest
-- (100 agents, saturated): 110-114 k -> 238-269 k rows/s merged.
--
-- How it stays exact at every moment:
-- * The rollup rows live in fn_stats_rollup, edge_stats_rollup and
--   stack_stats_rollup (the former fn_stats_1h ... tables, renamed).
-- * Every merge marks the raw buckets (minutes) it wrote in rollup_dirty, in
--   its own transaction: one row per (minute, writing session), whose
--   version it bumps.
-- * rollup_cover says how far a partly rolled hour is covered: its rollup
--   rows hold exactly the raw minutes before `upto`. An hour with rollup
--   rows and no rollup_cover row is covered whole.
-- * An hour is stale when a marked minute lies inside its coverage (late
--   data for minutes already rolled up). rollup_gaps lists, per hour, the
--   raw range a reader must add: from `upto` for a partly rolled hour, the
--   whole hour for a stale or never rolled one.
-- * fn_stats_1h, edge_stats_1h and stack_stats_1h are now views, the names
--   every reader already uses: rollup rows of hours that are not stale,
--   plus the raw rows of each gap (OFFSET 0 keeps each gap an index range
--   scan of raw). In the steady state a reader gets the current hour from
--   the rollup up to a couple of minutes ago and only those minutes from
--   raw.
-- * fleetprof_rollup() (the collector calls it every minute) rolls each
--   gap up to its settled minutes: it reads the marks first, then raw (each
--   statement with a newer snapshot), adds the new minutes to the hour's
--   rows (or recomputes a stale or never rolled hour whole), moves the
--   coverage and deletes the marks it read, and only those: a mark bumped
--   by a merge that committed after it read raw survives, which makes the
--   hour stale, so readers take it from raw until it is recomputed.
-- * The 1 d tier works the same way one level up: fn_stats_rollup_1d (and
--   edge_, stack_) store whole UTC days; the roller marks a day in
--   rollup_dirty_1d in the transaction that rolls one of its hours, and
--   recomputes ended marked days with no gap left from the 1 h tier.
--   fn_stats_1d (and edge_, stack_) are views: stored days with no mark and
--   no gap, plus the 1 h tier summed for the others.
-- * fn_stats_span(from, until) (and edge_, stack_) read a window exactly to
--   the hour: whole days from the 1 d tier, the partial days at its ends
--   from the 1 h tier. The query command uses them for windows of 3 days
--   and more: a 7 d window read 168 hourly rows per series and function.
-- Rollup buckets are UTC hours and days (date_bin), whatever the session's
-- TimeZone.

SET LOCAL timezone = 'UTC';

-- The stored rollup tier -----------------------------------------------------

ALTER TABLE fn_stats_1h RENAME TO fn_stats_rollup;
ALTER TABLE edge_stats_1h RENAME TO edge_stats_rollup;
ALTER TABLE stack_stats_1h RENAME TO stack_stats_rollup;

-- Their partitions follow the new names (fleetprof_ensure_partition derives
-- a partition's name from its parent's).
DO $$
DECLARE
	p record;
BEGIN
	FOR p IN
		SELECT c.relname, parent.relname AS parent
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class parent ON parent.oid = i.inhparent
		WHERE parent.relname IN ('fn_stats_rollup', 'edge_stats_rollup',
		                         'stack_stats_rollup')
	LOOP
		EXECUTE format('ALTER TABLE %I RENAME TO %I', p.relname,
		               p.parent || substring(p.relname from '_p[0-9]+$'));
	END LOOP;
END $$;

CREATE TABLE rollup_dirty (
	minute  timestamptz NOT NULL,  -- a raw bucket with new rows
	writer  integer NOT NULL,      -- pg_backend_pid() of the merging session
	version bigint NOT NULL,       -- bumped by each of its merges
	PRIMARY KEY (minute, writer)
);

CREATE TABLE rollup_cover (
	hour timestamptz PRIMARY KEY,  -- a partly rolled UTC hour
	upto timestamptz NOT NULL      -- its rollup rows hold raw [hour, upto)
);

-- Per hour: the raw range [lo, hi) a reader adds to the stored rollup, and
-- whether the stored rows are stale (then lo = hour: all of it from raw).
CREATE VIEW rollup_gaps AS
	WITH d AS (
		SELECT date_bin('1 hour', minute, timestamptz '2000-01-01 00:00+00')
		       AS hour, min(minute) AS first
		FROM rollup_dirty GROUP BY 1),
	g AS (
		SELECT coalesce(d.hour, c.hour) AS hour, d.first, c.upto,
		       d.first IS NOT NULL AND
		       d.first < coalesce(c.upto,
		                          d.hour + interval '1 hour') AS stale
		FROM d FULL JOIN rollup_cover c ON c.hour = d.hour)
	SELECT hour, CASE WHEN stale THEN hour ELSE upto END AS lo,
	       hour + interval '1 hour' AS hi, stale
	FROM g
	WHERE stale OR upto < hour + interval '1 hour';

-- The 1 h tier as readers see it ---------------------------------------------

CREATE VIEW fn_stats_1h AS
	SELECT r.bucket, r.series_id, r.fn_id, r.ncalls, r.pcalls,
	       r.tottime_ns, r.cumtime_ns
	FROM fn_stats_rollup r
	WHERE r.bucket NOT IN (SELECT hour FROM rollup_gaps WHERE stale)
	UNION ALL
	SELECT g.hour, f.series_id, f.fn_id, f.ncalls, f.pcalls, f.tottime_ns,
	       f.cumtime_ns
	FROM rollup_gaps g
	CROSS JOIN LATERAL (
		SELECT * FROM fn_stats
		WHERE bucket >= g.lo AND bucket < g.hi OFFSET 0) f;

CREATE VIEW edge_stats_1h AS
	SELECT r.bucket, r.series_id, r.caller_id, r.callee_id, r.ncalls,
	       r.pcalls, r.tottime_ns, r.cumtime_ns
	FROM edge_stats_rollup r
	WHERE r.bucket NOT IN (SELECT hour FROM rollup_gaps WHERE stale)
	UNION ALL
	SELECT g.hour, e.series_id, e.caller_id, e.callee_id, e.ncalls,
	       e.pcalls, e.tottime_ns, e.cumtime_ns
	FROM rollup_gaps g
	CROSS JOIN LATERAL (
		SELECT * FROM edge_stats
		WHERE bucket >= g.lo AND bucket < g.hi OFFSET 0) e;

CREATE VIEW stack_stats_1h AS
	SELECT r.bucket, r.series_id, r.stack_id, r.ncalls, r.self_ns,
	       r.total_ns
	FROM stack_stats_rollup r
	WHERE r.bucket NOT IN (SELECT hour FROM rollup_gaps WHERE stale)
	UNION ALL
	SELECT g.hour, s.series_id, s.stack_id, s.ncalls, s.self_ns, s.total_ns
	FROM rollup_gaps g
	CROSS JOIN LATERAL (
		SELECT * FROM stack_stats
		WHERE bucket >= g.lo AND bucket < g.hi OFFSET 0) s;

COMMENT ON VIEW fn_stats_1h IS
'The rollup tier (1 h buckets): fn_stats_rollup plus the raw minutes it '
'does not hold yet (rollup_gaps). Always equal to the raw tier summed per '
'hour, for the hours both keep.';

-- fleetprof_fn_stats_1h_v (005) followed the renamed table: point it at the
-- complete tier again.
CREATE OR REPLACE VIEW fleetprof_fn_stats_1h_v WITH (security_invoker = true)
AS
	SELECT fs.bucket, s.host, s.service, s.clock, f.name AS function,
	       f.file, f.line, f.module, fs.ncalls, fs.pcalls, fs.tottime_ns,
	       fs.cumtime_ns
	FROM fn_stats_1h fs
	JOIN series s ON s.id = fs.series_id
	JOIN functions f ON f.id = fs.fn_id;

-- The 1 d tier ---------------------------------------------------------------

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

-- Days the 1 h tier held before this migration: to be rolled up by day.
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

-- The roller -----------------------------------------------------------------

-- Rolls hour h up to minute w (h < w <= h + 1 h): adds raw [upto, w) to a
-- partly rolled hour, or recomputes raw [h, w) for a stale or never rolled
-- one, then records the coverage and deletes the marks it read.
CREATE FUNCTION fleetprof_rollup_hour(h timestamptz, w timestamptz)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
DECLARE
	ms timestamptz[];
	ws integer[];
	vs bigint[];
	lo timestamptz;
BEGIN
	-- The marks first: every merge they stand for has committed, so the
	-- statements below (each with a newer snapshot) see its rows.
	SELECT array_agg(minute), array_agg(writer), array_agg(version)
	INTO ms, ws, vs
	FROM rollup_dirty WHERE minute >= h AND minute < w;
	SELECT c.upto INTO lo FROM rollup_cover c WHERE c.hour = h;
	IF lo IS NULL OR EXISTS (SELECT 1 FROM rollup_dirty
	                         WHERE minute >= h AND minute < lo) THEN
		lo := h; -- never rolled, fully rolled, or stale: whole
		PERFORM fleetprof_ensure_partitions(h::date, h::date);
		DELETE FROM fn_stats_rollup WHERE bucket = h;
		DELETE FROM edge_stats_rollup WHERE bucket = h;
		DELETE FROM stack_stats_rollup WHERE bucket = h;
	END IF;
	INSERT INTO fn_stats_rollup AS t
		SELECT h, series_id, fn_id, sum(ncalls), sum(pcalls),
		       sum(tottime_ns), sum(cumtime_ns)
		FROM fn_stats WHERE bucket >= lo AND bucket < w
		GROUP BY series_id, fn_id ORDER BY series_id, fn_id
	ON CONFLICT (bucket, series_id, fn_id) DO UPDATE SET
		ncalls = t.ncalls + EXCLUDED.ncalls,
		pcalls = t.pcalls + EXCLUDED.pcalls,
		tottime_ns = t.tottime_ns + EXCLUDED.tottime_ns,
		cumtime_ns = t.cumtime_ns + EXCLUDED.cumtime_ns;
	INSERT INTO edge_stats_rollup AS t
		SELECT h, series_id, caller_id, callee_id, sum(ncalls),
		       sum(pcalls), sum(tottime_ns), sum(cumtime_ns)
		FROM edge_stats WHERE bucket >= lo AND bucket < w
		GROUP BY series_id, caller_id, callee_id
		ORDER BY series_id, caller_id, callee_id
	ON CONFLICT (bucket, series_id, caller_id, callee_id) DO UPDATE SET
		ncalls = t.ncalls + EXCLUDED.ncalls,
		pcalls = t.pcalls + EXCLUDED.pcalls,
		tottime_ns = t.tottime_ns + EXCLUDED.tottime_ns,
		cumtime_ns = t.cumtime_ns + EXCLUDED.cumtime_ns;
	INSERT INTO stack_stats_rollup AS t
		SELECT h, series_id, stack_id, sum(ncalls), sum(self_ns),
		       sum(total_ns)
		FROM stack_stats WHERE bucket >= lo AND bucket < w
		GROUP BY series_id, stack_id ORDER BY series_id, stack_id
	ON CONFLICT (bucket, series_id, stack_id) DO UPDATE SET
		ncalls = t.ncalls + EXCLUDED.ncalls,
		self_ns = t.self_ns + EXCLUDED.self_ns,
		total_ns = t.total_ns + EXCLUDED.total_ns;
	IF w >= h + interval '1 hour' THEN
		DELETE FROM rollup_cover WHERE hour = h;
	ELSE
		INSERT INTO rollup_cover AS c (hour, upto) VALUES (h, w)
		ON CONFLICT (hour) DO UPDATE SET upto = EXCLUDED.upto;
	END IF;
	DELETE FROM rollup_dirty d
	USING unnest(ms, ws, vs) AS s(minute, writer, version)
	WHERE d.minute = s.minute AND d.writer = s.writer
	  AND d.version = s.version;
END $$;

-- Rolls day d (ended, no gap left) from the 1 h tier and deletes the day
-- marks it read.
CREATE FUNCTION fleetprof_rollup_day(d timestamptz)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
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

-- Rolls up to max_hours hours with raw minutes not rolled up that ended at
-- or before `upto` (the collector passes now() - 2 min: its agents' last
-- flushes for a minute are in by then), oldest first, then up to max_hours
-- ended days. Returns how many hours it rolled; 0 also when another session
-- holds the roller's lock.
CREATE FUNCTION fleetprof_rollup(upto timestamptz, max_hours integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
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

-- Partitions and retention ---------------------------------------------------

CREATE OR REPLACE FUNCTION fleetprof_ensure_partition(parent text,
                                                      width_days integer,
                                                      day date)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	lo date := CASE WHEN width_days = 7 THEN date_trunc('week', day)::date
	                ELSE day END;
	hi date := lo + width_days;
	name text := parent || '_p' || to_char(lo, 'YYYYMMDD');
	-- Raw rows are updated in place through their bucket; the ledger and
	-- the rollup tier are written once: pack them.
	ff integer := CASE WHEN parent IN ('fn_stats', 'edge_stats',
	                                   'stack_stats') THEN 70 ELSE 100 END;
BEGIN
	IF to_regclass(name) IS NOT NULL THEN
		RETURN 0;
	END IF;
	BEGIN
		EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES '
		               'FROM (%L) TO (%L) WITH (fillfactor = %s)',
		               name, parent, lo::timestamptz, hi::timestamptz,
		               ff);
	EXCEPTION WHEN duplicate_table THEN
		RETURN 0; -- another collector made it first
	END;
	RETURN 1;
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

-- Raw partitions are dropped only once every hour in them is rolled up: the
-- rollup is then all that remains of them. Both rollup tiers keep
-- rollup_retention; their weekly partitions line up.
CREATE OR REPLACE FUNCTION fleetprof_maintain(raw_retention interval,
                                              rollup_retention interval)
RETURNS TABLE (created integer, dropped integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
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

-- Privileges -----------------------------------------------------------------

GRANT SELECT ON fn_stats_1h, edge_stats_1h, stack_stats_1h, rollup_dirty,
	rollup_cover, rollup_gaps, fn_stats_1d, edge_stats_1d, stack_stats_1d,
	rollup_dirty_1d TO fleetprof_reader;
GRANT SELECT, INSERT, UPDATE ON rollup_dirty TO fleetprof_writer;
GRANT EXECUTE ON FUNCTION fn_stats_span(bigint, bigint),
	edge_stats_span(bigint, bigint), stack_stats_span(bigint, bigint)
	TO fleetprof_reader;
REVOKE ALL ON FUNCTION fleetprof_rollup(timestamptz, integer),
	fleetprof_rollup_hour(timestamptz, timestamptz),
	fleetprof_rollup_day(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fleetprof_rollup(timestamptz, integer)
	TO fleetprof_writer;

-- No JIT for this database's sessions. The tier views' plans are costed over
-- jit_above_cost even on tiny tables, and PostgreSQL 15 then spends 0.5-1 s
-- compiling each query (measured: `fleetprof top --since 7d` 1.5 s -> 0.5 s,
-- a sum over fn_stats_1d in the tests 0.6 s -> 5 ms); these queries are
-- short and run once, so compiling never pays off. The roller's functions
-- set it themselves in case the database setting is not allowed.
DO $$
BEGIN
	EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
	RAISE NOTICE 'not the owner of database %: set jit = off for its '
	             'readers by hand', current_database();
END $$;
