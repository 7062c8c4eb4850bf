-- fleetprof schema v8: the oldest bucket each delta slot holds, so the
-- roller reads the raw tables only and never the delta tables.
--
-- Why: the roller used to read fn_stats, edge_stats and stack_stats (raw
-- UNION ALL delta, schema 007). The delta tables have no index, so every
-- roller pass scanned all of them (11 M rows a minute at 1,000 agents) and
-- held their locks for its whole transaction; a fold's TRUNCATE then waited
-- for it and fell back to DELETE, which costs seconds per million rows.
--
-- How it stays exact:
-- * delta_slots has a row per delta slot that holds rows: the oldest raw
--   bucket among them (or older). A merge that appends a bucket older than
--   its slot's row (or to a slot without one) upserts the row in the same
--   transaction, LEAST of the two; a fold deletes it in the transaction
--   that empties the slot. So every delta row's bucket is >= its slot's
--   min_bucket, in every snapshot.
-- * fleetprof_rollup rolls up to the oldest min_bucket at most, so every
--   minute it rolls is wholly in the raw tables, and fleetprof_rollup_hour
--   reads those. Minutes past it wait for their fold (a minute or so);
--   the 1 h views read them from fn_stats meanwhile, exact as before.
-- * fleetprof_rollup_hour reads an hour's dirty marks first and
--   delta_slots after them. A merge that appends an older bucket and
--   commits in between marks its minute in the same transaction, after the
--   roller's read: the minute stays marked and is rolled again on the next
--   pass, as in 006. Marks past the clamp are left for the next pass.

SET LOCAL timezone = 'UTC';

CREATE TABLE delta_slots (
	slot       integer PRIMARY KEY CHECK (slot >= 0 AND slot < 32),
	min_bucket timestamptz NOT NULL
);
COMMENT ON TABLE delta_slots IS
	'The oldest raw bucket each non-empty delta slot holds (schema 008).';
GRANT SELECT, INSERT, UPDATE, DELETE ON delta_slots TO fleetprof_writer;
GRANT SELECT ON delta_slots TO fleetprof_reader;

-- Rows already in delta slots (an upgrade with a writer's leftovers).
DO $$
DECLARE
	m timestamptz;
BEGIN
	FOR s IN 0..31 LOOP
		EXECUTE format('SELECT least((SELECT min(bucket) FROM '
		               'fn_stats_delta_%1$s), (SELECT min(bucket) FROM '
		               'edge_stats_delta_%1$s), (SELECT min(bucket) FROM '
		               'stack_stats_delta_%1$s))', s) INTO m;
		IF m IS NOT NULL THEN
			INSERT INTO delta_slots VALUES (s, m);
		END IF;
	END LOOP;
END $$;

-- The roller: as in 006, reading the raw tables, up to the oldest bucket
-- in a delta slot. ------------------------------------------------------------

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
		PERFORM fleetprof_ensure_partitions(h::date, h::date);
		DELETE FROM fn_stats_rollup WHERE bucket = h;
		DELETE FROM edge_stats_rollup WHERE bucket = h;
		DELETE FROM stack_stats_rollup WHERE bucket = h;
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

CREATE OR REPLACE FUNCTION fleetprof_rollup(upto timestamptz, max_hours integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
DECLARE
	-- Not past the oldest bucket a delta slot holds (LEAST ignores NULL):
	-- every minute rolled up is then wholly in the raw tables.
	settled timestamptz := least(date_bin('1 minute', upto,
	                                      timestamptz '2000-01-01 00:00+00'),
	                             (SELECT min(min_bucket) FROM delta_slots));
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
