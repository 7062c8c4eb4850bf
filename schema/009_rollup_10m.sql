-- fleetprof schema v9: a 10 min rollup tier, for windows of 1 to 6 hours.
--
-- Why: such windows read the raw tier, 60 rows per series and function an
-- hour. On bench/query's fleet (20 hosts x 500 functions) a 1 h `top` read
-- 600,000 raw rows and took 550-670 ms; the 1 h tier cannot serve a window
-- that is not whole hours. With 10 min buckets it reads 6 or 7 rows per
-- series and function, plus the raw minutes the roller has not reached.
--
-- How it stays exact, on 006's roller and with its bookkeeping:
-- * fn_stats_rollup_10m (edge_, stack_) store whole 10 min buckets. The
--   roller writes them with the hour it rolls, in the same transaction:
--   when fleetprof_rollup_hour adds raw [lo, w) to an hour, it recomputes
--   from raw every whole 10 min bucket in [floor10(lo), floor10(w)), and
--   when it recomputes an hour whole it deletes the hour's 10 min rows
--   first. So an hour's stored 10 min rows are exactly its buckets before
--   floor10(upto) (every bucket once rolled whole), and they are stale
--   exactly when the hour is (rollup_gaps, 006).
-- * fn_stats_10m (edge_, stack_) are views, like the 1 h ones: stored rows
--   of hours that are not stale, plus raw of each gap from floor10(lo).
-- * Retention: with the raw tier (the tier only serves windows inside it).
-- * Existing rolled hours get their 10 min rows here, from raw.

SET LOCAL timezone = 'UTC';

-- No roller runs meanwhile (another collector may be on the old binary):
-- the backfill below reads each hour's cover once.
SELECT pg_advisory_xact_lock(hashtext('fleetprof_rollup'));

CREATE TABLE fn_stats_rollup_10m (LIKE fn_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);
CREATE TABLE edge_stats_rollup_10m (LIKE edge_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);
CREATE TABLE stack_stats_rollup_10m (LIKE stack_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);

-- Partitions: the 10 min tables by day, beside the others (007's list). --

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
		made := made + fleetprof_ensure_partition('fn_stats_raw', 1, d)
		             + fleetprof_ensure_partition('edge_stats_raw', 1, d)
		             + fleetprof_ensure_partition('stack_stats_raw', 1, d)
		             + fleetprof_ensure_partition('ingested_batches', 1, d)
		             + fleetprof_ensure_partition('fn_stats_rollup_10m', 1,
		                                          d)
		             + fleetprof_ensure_partition('edge_stats_rollup_10m',
		                                          1, d)
		             + fleetprof_ensure_partition('stack_stats_rollup_10m',
		                                          1, d)
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

-- The partitions a roller writes for a day: the rollup tiers only. (The
-- roller used fleetprof_ensure_partitions, which also made raw and ledger
-- partitions for old days it rolled; an empty ledger partition for a day
-- retention had dropped made that day look kept.)
CREATE FUNCTION fleetprof_ensure_rollup_partitions(day date)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
BEGIN
	RETURN fleetprof_ensure_partition('fn_stats_rollup_10m', 1, day)
	     + fleetprof_ensure_partition('edge_stats_rollup_10m', 1, day)
	     + fleetprof_ensure_partition('stack_stats_rollup_10m', 1, day)
	     + fleetprof_ensure_partition('fn_stats_rollup', 7, day)
	     + fleetprof_ensure_partition('edge_stats_rollup', 7, day)
	     + fleetprof_ensure_partition('stack_stats_rollup', 7, day)
	     + fleetprof_ensure_partition('fn_stats_rollup_1d', 7, day)
	     + fleetprof_ensure_partition('edge_stats_rollup_1d', 7, day)
	     + fleetprof_ensure_partition('stack_stats_rollup_1d', 7, day);
END $$;

-- The roller ------------------------------------------------------------------

-- The whole 10 min buckets in [a, b) (both on 10 min boundaries), from raw.
-- Makes its partitions: an hour may be rolled on in a later call (partly
-- rolled), and its day's 10 min partition must exist then too.
CREATE FUNCTION fleetprof_rollup_10m(a timestamptz, b timestamptz)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
BEGIN
	IF b <= a THEN
		RETURN;
	END IF;
	PERFORM fleetprof_ensure_rollup_partitions(a::date);
	IF (b - interval '1 microsecond')::date <> a::date THEN
		PERFORM fleetprof_ensure_rollup_partitions(
			(b - interval '1 microsecond')::date);
	END IF;
	DELETE FROM fn_stats_rollup_10m WHERE bucket >= a AND bucket < b;
	DELETE FROM edge_stats_rollup_10m WHERE bucket >= a AND bucket < b;
	DELETE FROM stack_stats_rollup_10m WHERE bucket >= a AND bucket < b;
	INSERT INTO fn_stats_rollup_10m
		SELECT date_bin('10 minutes', bucket,
		                timestamptz '2000-01-01 00:00+00'),
		       series_id, fn_id, sum(ncalls), sum(pcalls),
		       sum(tottime_ns), sum(cumtime_ns)
		FROM fn_stats_raw WHERE bucket >= a AND bucket < b
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
	INSERT INTO edge_stats_rollup_10m
		SELECT date_bin('10 minutes', bucket,
		                timestamptz '2000-01-01 00:00+00'),
		       series_id, caller_id, callee_id, sum(ncalls), sum(pcalls),
		       sum(tottime_ns), sum(cumtime_ns)
		FROM edge_stats_raw WHERE bucket >= a AND bucket < b
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
	INSERT INTO stack_stats_rollup_10m
		SELECT date_bin('10 minutes', bucket,
		                timestamptz '2000-01-01 00:00+00'),
		       series_id, stack_id, sum(ncalls), sum(self_ns),
		       sum(total_ns)
		FROM stack_stats_raw WHERE bucket >= a AND bucket < b
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
END $$;

-- 008's, with the 10 min buckets of what it rolls.
CREATE OR REPLACE FUNCTION fleetprof_rollup_hour(h timestamptz, w timestamptz)
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
	-- Then the oldest bucket in a delta slot, and no further: a merge
	-- that appends an older one after this commits its mark after the
	-- read above, so its minute stays marked and is done again.
	w := least(w, (SELECT min(min_bucket) FROM delta_slots));
	IF w <= h THEN
		RETURN;
	END IF;
	SELECT c.upto INTO lo FROM rollup_cover c WHERE c.hour = h;
	IF lo IS NOT NULL AND lo >= w AND NOT EXISTS (
	       SELECT 1 FROM rollup_dirty WHERE minute >= h AND minute < lo) THEN
		RETURN;
	END IF;
	IF lo IS NULL OR EXISTS (SELECT 1 FROM rollup_dirty
	                         WHERE minute >= h AND minute < lo) THEN
		lo := h; -- never rolled, fully rolled, or stale: whole
		PERFORM fleetprof_ensure_rollup_partitions(h::date);
		DELETE FROM fn_stats_rollup WHERE bucket = h;
		DELETE FROM edge_stats_rollup WHERE bucket = h;
		DELETE FROM stack_stats_rollup WHERE bucket = h;
		DELETE FROM fn_stats_rollup_10m
		WHERE bucket >= h AND bucket < h + interval '1 hour';
		DELETE FROM edge_stats_rollup_10m
		WHERE bucket >= h AND bucket < h + interval '1 hour';
		DELETE FROM stack_stats_rollup_10m
		WHERE bucket >= h AND bucket < h + interval '1 hour';
	END IF;
	INSERT INTO fn_stats_rollup AS t
		SELECT h, series_id, fn_id, sum(ncalls), sum(pcalls),
		       sum(tottime_ns), sum(cumtime_ns)
		FROM fn_stats_raw WHERE bucket >= lo AND bucket < w
		GROUP BY series_id, fn_id ORDER BY series_id, fn_id
	ON CONFLICT (bucket, series_id, fn_id) DO UPDATE SET
		ncalls = t.ncalls + EXCLUDED.ncalls,
		pcalls = t.pcalls + EXCLUDED.pcalls,
		tottime_ns = t.tottime_ns + EXCLUDED.tottime_ns,
		cumtime_ns = t.cumtime_ns + EXCLUDED.cumtime_ns;
	INSERT INTO edge_stats_rollup AS t
		SELECT h, series_id, caller_id, callee_id, sum(ncalls),
		       sum(pcalls), sum(tottime_ns), sum(cumtime_ns)
		FROM edge_stats_raw WHERE bucket >= lo AND bucket < w
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
		FROM stack_stats_raw WHERE bucket >= lo AND bucket < w
		GROUP BY series_id, stack_id ORDER BY series_id, stack_id
	ON CONFLICT (bucket, series_id, stack_id) DO UPDATE SET
		ncalls = t.ncalls + EXCLUDED.ncalls,
		self_ns = t.self_ns + EXCLUDED.self_ns,
		total_ns = t.total_ns + EXCLUDED.total_ns;
	-- The whole 10 min buckets with a minute of [lo, w): the one lo is in
	-- was partly covered before, so not stored yet.
	PERFORM fleetprof_rollup_10m(
		date_bin('10 minutes', lo, timestamptz '2000-01-01 00:00+00'),
		date_bin('10 minutes', w, timestamptz '2000-01-01 00:00+00'));
	IF w >= h + interval '1 hour' THEN
		DELETE FROM rollup_cover WHERE hour = h;
	ELSE
		INSERT INTO rollup_cover AS c (hour, upto) VALUES (h, w)
		ON CONFLICT (hour) DO UPDATE SET upto = EXCLUDED.upto;
	END IF;
	DELETE FROM rollup_dirty d
	USING unnest(ms, ws, vs) AS s(minute, writer, version)
	WHERE d.minute = s.minute AND d.writer = s.writer
	  AND d.version = s.version AND s.minute < w;
END $$;

-- The 10 min tier as readers see it ------------------------------------------

CREATE VIEW fn_stats_10m AS
	SELECT r.bucket, r.series_id, r.fn_id, r.ncalls, r.pcalls,
	       r.tottime_ns, r.cumtime_ns
	FROM fn_stats_rollup_10m r
	WHERE date_bin('1 hour', r.bucket, timestamptz '2000-01-01 00:00+00')
	      NOT IN (SELECT hour FROM rollup_gaps WHERE stale)
	UNION ALL
	SELECT date_bin('10 minutes', f.bucket,
	                timestamptz '2000-01-01 00:00+00'),
	       f.series_id, f.fn_id, f.ncalls, f.pcalls, f.tottime_ns,
	       f.cumtime_ns
	FROM rollup_gaps g
	CROSS JOIN LATERAL (
		SELECT * FROM fn_stats
		WHERE bucket >= date_bin('10 minutes', g.lo,
		                         timestamptz '2000-01-01 00:00+00')
		  AND bucket < g.hi OFFSET 0) f;

CREATE VIEW edge_stats_10m AS
	SELECT r.bucket, r.series_id, r.caller_id, r.callee_id, r.ncalls,
	       r.pcalls, r.tottime_ns, r.cumtime_ns
	FROM edge_stats_rollup_10m r
	WHERE date_bin('1 hour', r.bucket, timestamptz '2000-01-01 00:00+00')
	      NOT IN (SELECT hour FROM rollup_gaps WHERE stale)
	UNION ALL
	SELECT date_bin('10 minutes', e.bucket,
	                timestamptz '2000-01-01 00:00+00'),
	       e.series_id, e.caller_id, e.callee_id, e.ncalls, e.pcalls,
	       e.tottime_ns, e.cumtime_ns
	FROM rollup_gaps g
	CROSS JOIN LATERAL (
		SELECT * FROM edge_stats
		WHERE bucket >= date_bin('10 minutes', g.lo,
		                         timestamptz '2000-01-01 00:00+00')
		  AND bucket < g.hi OFFSET 0) e;

CREATE VIEW stack_stats_10m AS
	SELECT r.bucket, r.series_id, r.stack_id, r.ncalls, r.self_ns,
	       r.total_ns
	FROM stack_stats_rollup_10m r
	WHERE date_bin('1 hour', r.bucket, timestamptz '2000-01-01 00:00+00')
	      NOT IN (SELECT hour FROM rollup_gaps WHERE stale)
	UNION ALL
	SELECT date_bin('10 minutes', s.bucket,
	                timestamptz '2000-01-01 00:00+00'),
	       s.series_id, s.stack_id, s.ncalls, s.self_ns, s.total_ns
	FROM rollup_gaps g
	CROSS JOIN LATERAL (
		SELECT * FROM stack_stats
		WHERE bucket >= date_bin('10 minutes', g.lo,
		                         timestamptz '2000-01-01 00:00+00')
		  AND bucket < g.hi OFFSET 0) s;

COMMENT ON VIEW fn_stats_10m IS
'The 10 min rollup tier: fn_stats_rollup_10m plus the raw minutes it does '
'not hold yet (rollup_gaps). Always equal to the raw tier summed per 10 '
'minutes, for the time raw keeps.';

GRANT SELECT ON fn_stats_10m, edge_stats_10m, stack_stats_10m,
	fn_stats_rollup_10m, edge_stats_rollup_10m, stack_stats_rollup_10m
	TO fleetprof_reader;
REVOKE ALL ON FUNCTION fleetprof_rollup_10m(timestamptz, timestamptz),
	fleetprof_ensure_rollup_partitions(date) FROM PUBLIC;

-- How far back the ledger is whole --------------------------------------------
-- Readers take which hosts are in a window from the ledger where it holds
-- every batch: from the start of its oldest partition, but never before
-- the end of the last partition retention dropped (a partition made again
-- later for such a day, by a late batch, holds only that batch).

CREATE TABLE ledger_cover (
	one       boolean PRIMARY KEY DEFAULT true CHECK (one),
	kept_from timestamptz NOT NULL
);
COMMENT ON TABLE ledger_cover IS
	'The end of the newest ingested_batches partition retention dropped '
	'(schema 009): the ledger holds every batch from max(this, its oldest '
	'partition''s start) on.';
GRANT SELECT ON ledger_cover TO fleetprof_reader;

-- 002's, recording in ledger_cover what it drops of the ledger.
CREATE OR REPLACE FUNCTION fleetprof_drop_partitions(parent text,
                                                     before timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	p record;
	dropped integer := 0;
BEGIN
	FOR p IN
		SELECT c.relname,
		       (regexp_match(pg_get_expr(c.relpartbound, c.oid),
		                     'TO \(''([^'']+)''\)'))[1]::timestamptz AS hi
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = parent::regclass
	LOOP
		IF p.hi IS NOT NULL AND p.hi <= before THEN
			EXECUTE format('DROP TABLE %I', p.relname);
			dropped := dropped + 1;
			IF parent = 'ingested_batches' THEN
				INSERT INTO ledger_cover AS l (kept_from)
				VALUES (p.hi)
				ON CONFLICT (one) DO UPDATE
				SET kept_from = greatest(l.kept_from,
				                         EXCLUDED.kept_from);
			END IF;
		END IF;
	END LOOP;
	RETURN dropped;
END $$;

-- Retention: the 10 min tables with raw (007's, plus them). ----------------

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
	-- The 10 min tier with raw: the roller may still write a day raw
	-- is kept for (its hours have gaps).
	IF NOT EXISTS (SELECT 1 FROM rollup_gaps
	               WHERE hour < raw_cut + interval '1 day') THEN
		d := d + fleetprof_drop_partitions('fn_stats_raw', raw_cut)
		       + fleetprof_drop_partitions('edge_stats_raw', raw_cut)
		       + fleetprof_drop_partitions('stack_stats_raw', raw_cut)
		       + fleetprof_drop_partitions('fn_stats_rollup_10m', raw_cut)
		       + fleetprof_drop_partitions('edge_stats_rollup_10m',
		                                   raw_cut)
		       + fleetprof_drop_partitions('stack_stats_rollup_10m',
		                                   raw_cut);
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

-- The hours rolled before this migration: their 10 min rows from raw. ------

-- A 10 min partition for every day a raw partition covers, and the days
-- ahead.
DO $$
DECLARE
	d date;
BEGIN
	FOR d IN
		SELECT DISTINCT (regexp_match(pg_get_expr(c.relpartbound, c.oid),
		                              'FROM \(''([^'']+)''\)'))[1]
		                ::timestamptz::date
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent IN ('fn_stats_raw'::regclass,
		                      'edge_stats_raw'::regclass,
		                      'stack_stats_raw'::regclass)
	LOOP
		PERFORM fleetprof_ensure_partition('fn_stats_rollup_10m', 1, d);
		PERFORM fleetprof_ensure_partition('edge_stats_rollup_10m', 1, d);
		PERFORM fleetprof_ensure_partition('stack_stats_rollup_10m', 1,
		                                   d);
	END LOOP;
	PERFORM fleetprof_ensure_partitions(current_date, current_date + 2);
END $$;

-- Rolled minutes are the ones before each hour's cover (all of a rolled
-- hour, none of a stale one), whole 10 min buckets of them. In bucket
-- order: a window's rows then share pages (hash order spread a 1 h
-- window's 60,000 rows over 6,494 pages; bench/query's 1 h `top` took
-- 347 ms so, 180 ms in bucket order).
CREATE TEMP TABLE rolled_to ON COMMIT DROP AS
	SELECT hour, CASE WHEN stale THEN hour
	                  ELSE date_bin('10 minutes', lo,
	                                timestamptz '2000-01-01 00:00+00') END
	             AS upto
	FROM rollup_gaps;

INSERT INTO fn_stats_rollup_10m
	SELECT date_bin('10 minutes', f.bucket,
	                timestamptz '2000-01-01 00:00+00'),
	       f.series_id, f.fn_id, sum(f.ncalls), sum(f.pcalls),
	       sum(f.tottime_ns), sum(f.cumtime_ns)
	FROM fn_stats_raw f
	LEFT JOIN rolled_to r ON r.hour = date_bin('1 hour', f.bucket,
	                                           timestamptz '2000-01-01 00:00+00')
	WHERE r.hour IS NULL OR f.bucket < r.upto
	GROUP BY 1, 2, 3 ORDER BY 1;
INSERT INTO edge_stats_rollup_10m
	SELECT date_bin('10 minutes', e.bucket,
	                timestamptz '2000-01-01 00:00+00'),
	       e.series_id, e.caller_id, e.callee_id, sum(e.ncalls),
	       sum(e.pcalls), sum(e.tottime_ns), sum(e.cumtime_ns)
	FROM edge_stats_raw e
	LEFT JOIN rolled_to r ON r.hour = date_bin('1 hour', e.bucket,
	                                           timestamptz '2000-01-01 00:00+00')
	WHERE r.hour IS NULL OR e.bucket < r.upto
	GROUP BY 1, 2, 3, 4 ORDER BY 1;
INSERT INTO stack_stats_rollup_10m
	SELECT date_bin('10 minutes', s.bucket,
	                timestamptz '2000-01-01 00:00+00'),
	       s.series_id, s.stack_id, sum(s.ncalls), sum(s.self_ns),
	       sum(s.total_ns)
	FROM stack_stats_raw s
	LEFT JOIN rolled_to r ON r.hour = date_bin('1 hour', s.bucket,
	                                           timestamptz '2000-01-01 00:00+00')
	WHERE r.hour IS NULL OR s.bucket < r.upto
	GROUP BY 1, 2, 3 ORDER BY 1;
