-- fleetprof schema v6: the rollup tier is computed from the raw tier, once
-- per settled hour, instead of being upserted by every commit.
--
-- Why: upserting each commit's rows into the 1 h tier as well as the raw tier
-- doubled the collector's database work, and every writer updated the same
-- hot rollup rows (row-lock waits across writers). Measured with bench/ingest
-- (100 agents, saturated, 4 writers): 0.10x -> 0.30x of bare COPY.
--
-- How it stays exact at every moment:
-- * The rollup rows live in fn_stats_rollup, edge_stats_rollup and
--   stack_stats_rollup (the former fn_stats_1h ... tables, renamed).
-- * Every merge marks the hours it wrote raw rows for in rollup_dirty, in
--   its own transaction: one row per (hour, writing session), whose version
--   it bumps.
-- * fn_stats_1h, edge_stats_1h and stack_stats_1h are now views, the names
--   every reader already uses: rollup rows for clean hours, plus raw rows
--   re-bucketed to the hour for dirty ones (OFFSET 0 keeps each dirty
--   hour an index range scan of its raw rows: without it the planner
--   scanned all of raw). A reader's snapshot sees a
--   dirty mark exactly when the raw rows of that hour are newer than its
--   rollup rows.
-- * fleetprof_rollup() recomputes each settled dirty hour from raw
--   (DELETE + INSERT … GROUP BY) and deletes the marks it saw, and only
--   those: a mark bumped by a merge that committed after it read the raw
--   rows survives, so the hour is recomputed again.
-- Rollup buckets are UTC hours (date_bin), whatever the session's TimeZone.

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
	hour    timestamptz NOT NULL,  -- start of a UTC hour with new raw rows
	writer  integer NOT NULL,      -- pg_backend_pid() of the merging session
	version bigint NOT NULL,       -- bumped by each of its merges
	PRIMARY KEY (hour, writer)
);

-- The 1 h tier as readers see it ---------------------------------------------

CREATE VIEW fn_stats_1h AS
	SELECT r.bucket, r.series_id, r.fn_id, r.ncalls, r.pcalls,
	       r.tottime_ns, r.cumtime_ns
	FROM fn_stats_rollup r
	WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.hour = r.bucket)
	UNION ALL
	SELECT d.hour,
	       f.series_id, f.fn_id, f.ncalls, f.pcalls, f.tottime_ns,
	       f.cumtime_ns
	FROM (SELECT DISTINCT hour FROM rollup_dirty) d
	CROSS JOIN LATERAL (
		SELECT * FROM fn_stats
		WHERE bucket >= d.hour AND bucket < d.hour + interval '1 hour'
		OFFSET 0) f;

CREATE VIEW edge_stats_1h AS
	SELECT r.bucket, r.series_id, r.caller_id, r.callee_id, r.ncalls,
	       r.pcalls, r.tottime_ns, r.cumtime_ns
	FROM edge_stats_rollup r
	WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.hour = r.bucket)
	UNION ALL
	SELECT d.hour,
	       e.series_id, e.caller_id, e.callee_id, e.ncalls, e.pcalls,
	       e.tottime_ns, e.cumtime_ns
	FROM (SELECT DISTINCT hour FROM rollup_dirty) d
	CROSS JOIN LATERAL (
		SELECT * FROM edge_stats
		WHERE bucket >= d.hour AND bucket < d.hour + interval '1 hour'
		OFFSET 0) e;

CREATE VIEW stack_stats_1h AS
	SELECT r.bucket, r.series_id, r.stack_id, r.ncalls, r.self_ns,
	       r.total_ns
	FROM stack_stats_rollup r
	WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.hour = r.bucket)
	UNION ALL
	SELECT d.hour,
	       s.series_id, s.stack_id, s.ncalls, s.self_ns, s.total_ns
	FROM (SELECT DISTINCT hour FROM rollup_dirty) d
	CROSS JOIN LATERAL (
		SELECT * FROM stack_stats
		WHERE bucket >= d.hour AND bucket < d.hour + interval '1 hour'
		OFFSET 0) s;

COMMENT ON VIEW fn_stats_1h IS
'The rollup tier (1 h buckets): settled hours from fn_stats_rollup, hours '
'with newer raw rows from fn_stats. Always equal to the raw tier summed '
'per hour, for the hours both keep.';

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

-- The roller -----------------------------------------------------------------

-- Recomputes up to max_hours dirty hours that ended at or before `upto`,
-- oldest first. Returns how many it did; 0 also when another session holds
-- the roller's lock (it has them in hand).
CREATE FUNCTION fleetprof_rollup(upto timestamptz, max_hours integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	h timestamptz;
	ws integer[];
	vs bigint[];
	done integer := 0;
BEGIN
	IF NOT pg_try_advisory_xact_lock(hashtext('fleetprof_rollup')) THEN
		RETURN 0;
	END IF;
	FOR h IN
		SELECT DISTINCT hour FROM rollup_dirty
		WHERE hour + interval '1 hour' <= upto
		ORDER BY hour LIMIT max_hours
	LOOP
		-- The marks first: every merge they stand for has committed, so
		-- the statements below (each with a newer snapshot) see its rows.
		SELECT array_agg(writer), array_agg(version) INTO ws, vs
		FROM rollup_dirty WHERE hour = h;
		PERFORM fleetprof_ensure_partitions(h::date, h::date);
		DELETE FROM fn_stats_rollup WHERE bucket = h;
		INSERT INTO fn_stats_rollup
			SELECT h, series_id, fn_id, sum(ncalls), sum(pcalls),
			       sum(tottime_ns), sum(cumtime_ns)
			FROM fn_stats
			WHERE bucket >= h AND bucket < h + interval '1 hour'
			GROUP BY series_id, fn_id;
		DELETE FROM edge_stats_rollup WHERE bucket = h;
		INSERT INTO edge_stats_rollup
			SELECT h, series_id, caller_id, callee_id, sum(ncalls),
			       sum(pcalls), sum(tottime_ns), sum(cumtime_ns)
			FROM edge_stats
			WHERE bucket >= h AND bucket < h + interval '1 hour'
			GROUP BY series_id, caller_id, callee_id;
		DELETE FROM stack_stats_rollup WHERE bucket = h;
		INSERT INTO stack_stats_rollup
			SELECT h, series_id, stack_id, sum(ncalls), sum(self_ns),
			       sum(total_ns)
			FROM stack_stats
			WHERE bucket >= h AND bucket < h + interval '1 hour'
			GROUP BY series_id, stack_id;
		DELETE FROM rollup_dirty d
		USING unnest(ws, vs) AS s(writer, version)
		WHERE d.hour = h AND d.writer = s.writer
		  AND d.version = s.version;
		done := done + 1;
	END LOOP;
	RETURN done;
END $$;

-- Partitions and retention under the new names -------------------------------

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
		                                          d);
		d := d + 1;
	END LOOP;
	RETURN made;
END $$;

-- Raw partitions are dropped only once every dirty hour in them is rolled
-- up: the rollup is then all that remains of them.
CREATE OR REPLACE FUNCTION fleetprof_maintain(raw_retention interval,
                                              rollup_retention interval)
RETURNS TABLE (created integer, dropped integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	c integer;
	d integer := 0;
	raw_cut timestamptz := now() - raw_retention;
BEGIN
	c := fleetprof_ensure_partitions(current_date, current_date + 2);
	PERFORM fleetprof_rollup(raw_cut + interval '1 day', 10000);
	IF NOT EXISTS (SELECT 1 FROM rollup_dirty
	               WHERE hour < raw_cut + interval '1 day') THEN
		d := d + fleetprof_drop_partitions('fn_stats', raw_cut)
		       + fleetprof_drop_partitions('edge_stats', raw_cut)
		       + fleetprof_drop_partitions('stack_stats', raw_cut);
	END IF;
	d := d + fleetprof_drop_partitions('ingested_batches', raw_cut)
	       + fleetprof_drop_partitions('fn_stats_rollup',
	                                   now() - rollup_retention)
	       + fleetprof_drop_partitions('edge_stats_rollup',
	                                   now() - rollup_retention)
	       + fleetprof_drop_partitions('stack_stats_rollup',
	                                   now() - rollup_retention);
	RETURN QUERY SELECT c, d;
END $$;

-- Privileges -----------------------------------------------------------------

GRANT SELECT ON fn_stats_1h, edge_stats_1h, stack_stats_1h, rollup_dirty
	TO fleetprof_reader;
GRANT SELECT, INSERT, UPDATE ON rollup_dirty TO fleetprof_writer;
REVOKE ALL ON FUNCTION fleetprof_rollup(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fleetprof_rollup(timestamptz, integer)
	TO fleetprof_writer;
