-- fleetprof schema v2: time partitions, the rollup tier, retention, roles.
--
-- Raw facts (60 s buckets) and the ledger live in daily range partitions;
-- the rollup tier (fn_stats_1h, edge_stats_1h, stack_stats_1h; the bucket
-- width is the collector's rollup_bucket, 1 h by default) in weekly ones.
-- Retention drops whole partitions: no DELETE, no bloat. Partitions are made
-- ahead by fleetprof_maintain() (the collector calls it at start and every
-- few minutes) and on demand by fleetprof_ensure_partitions() for the days a
-- batch touches. Rollups are sums of the same rows, written in the same
-- transaction as the raw rows: they lose nothing but resolution.
--
-- ingested_batches gains t0 in its key: PostgreSQL requires the partition
-- key in a partitioned table's primary key, and t0 is part of the batch, so
-- a retry carries the same (agent_id, seq, t0) and is still caught.

-- Day boundaries are UTC whatever the session's TimeZone: partitions made by
-- collectors in different zones must line up.
SET LOCAL timezone = 'UTC';

-- Partition helpers ---------------------------------------------------------

-- Creates the partition of `parent` that holds `day` (width 1 or 7 days,
-- weeks starting on Monday). Returns 1 if it was created, 0 if it existed.
CREATE FUNCTION fleetprof_ensure_partition(parent text, width_days integer,
                                           day date)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	lo date := CASE WHEN width_days = 7 THEN date_trunc('week', day)::date
	                ELSE day END;
	hi date := lo + width_days;
	name text := parent || '_p' || to_char(lo, 'YYYYMMDD');
BEGIN
	IF to_regclass(name) IS NOT NULL THEN
		RETURN 0;
	END IF;
	BEGIN
		EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES '
		               'FROM (%L) TO (%L)', name, parent,
		               lo::timestamptz, hi::timestamptz);
	EXCEPTION WHEN duplicate_table THEN
		RETURN 0; -- another collector made it first
	END;
	RETURN 1;
END $$;

-- Every partition the days [from_day, to_day] need, in every table.
CREATE FUNCTION fleetprof_ensure_partitions(from_day date, to_day date)
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
		             + fleetprof_ensure_partition('fn_stats_1h', 7, d)
		             + fleetprof_ensure_partition('edge_stats_1h', 7, d)
		             + fleetprof_ensure_partition('stack_stats_1h', 7, d);
		d := d + 1;
	END LOOP;
	RETURN made;
END $$;

-- Drops partitions of `parent` whose whole range ends at or before `before`.
CREATE FUNCTION fleetprof_drop_partitions(parent text, before timestamptz)
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
		END IF;
	END LOOP;
	RETURN dropped;
END $$;

-- The periodic job: partitions for today and the next two days, retention
-- for each tier. Returns what it did, for the collector's log.
CREATE FUNCTION fleetprof_maintain(raw_retention interval,
                                   rollup_retention interval)
RETURNS TABLE (created integer, dropped integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
	c integer;
	d integer := 0;
BEGIN
	c := fleetprof_ensure_partitions(current_date, current_date + 2);
	d := d + fleetprof_drop_partitions('fn_stats', now() - raw_retention)
	       + fleetprof_drop_partitions('edge_stats', now() - raw_retention)
	       + fleetprof_drop_partitions('stack_stats', now() - raw_retention)
	       + fleetprof_drop_partitions('ingested_batches',
	                                   now() - raw_retention)
	       + fleetprof_drop_partitions('fn_stats_1h',
	                                   now() - rollup_retention)
	       + fleetprof_drop_partitions('edge_stats_1h',
	                                   now() - rollup_retention)
	       + fleetprof_drop_partitions('stack_stats_1h',
	                                   now() - rollup_retention);
	RETURN QUERY SELECT c, d;
END $$;

-- Partitioned tables ---------------------------------------------------------

ALTER TABLE fn_stats RENAME TO fn_stats_v1;
ALTER TABLE edge_stats RENAME TO edge_stats_v1;
ALTER TABLE stack_stats RENAME TO stack_stats_v1;
ALTER TABLE ingested_batches RENAME TO ingested_batches_v1;
ALTER INDEX fn_stats_pkey RENAME TO fn_stats_v1_pkey;
ALTER INDEX edge_stats_pkey RENAME TO edge_stats_v1_pkey;
ALTER INDEX stack_stats_pkey RENAME TO stack_stats_v1_pkey;
ALTER INDEX ingested_batches_pkey RENAME TO ingested_batches_v1_pkey;
ALTER INDEX ingested_batches_series_t1_idx
	RENAME TO ingested_batches_v1_series_t1_idx;

CREATE TABLE fn_stats (
	bucket     timestamptz NOT NULL,
	series_id  bigint NOT NULL,
	fn_id      bigint NOT NULL,
	ncalls     bigint NOT NULL,
	pcalls     bigint NOT NULL,
	tottime_ns bigint NOT NULL,
	cumtime_ns bigint NOT NULL,
	PRIMARY KEY (bucket, series_id, fn_id)
) PARTITION BY RANGE (bucket);

CREATE TABLE edge_stats (
	bucket     timestamptz NOT NULL,
	series_id  bigint NOT NULL,
	caller_id  bigint NOT NULL,
	callee_id  bigint NOT NULL,
	ncalls     bigint NOT NULL,
	pcalls     bigint NOT NULL,
	tottime_ns bigint NOT NULL,
	cumtime_ns bigint NOT NULL,
	PRIMARY KEY (bucket, series_id, caller_id, callee_id)
) PARTITION BY RANGE (bucket);

CREATE TABLE stack_stats (
	bucket    timestamptz NOT NULL,
	series_id bigint NOT NULL,
	stack_id  bigint NOT NULL,
	ncalls    bigint NOT NULL,
	self_ns   bigint NOT NULL,
	total_ns  bigint NOT NULL,
	PRIMARY KEY (bucket, series_id, stack_id)
) PARTITION BY RANGE (bucket);

CREATE TABLE fn_stats_1h (LIKE fn_stats INCLUDING ALL)
	PARTITION BY RANGE (bucket);
CREATE TABLE edge_stats_1h (LIKE edge_stats INCLUDING ALL)
	PARTITION BY RANGE (bucket);
CREATE TABLE stack_stats_1h (LIKE stack_stats INCLUDING ALL)
	PARTITION BY RANGE (bucket);

-- Callers/callees look edges up by either end.
CREATE INDEX edge_stats_callee_idx ON edge_stats (callee_id, bucket);
CREATE INDEX edge_stats_1h_callee_idx ON edge_stats_1h (callee_id, bucket);

CREATE TABLE ingested_batches (
	agent_id    bytea NOT NULL,
	seq         bigint NOT NULL,
	series_id   bigint NOT NULL,
	pid         integer NOT NULL,
	t0          timestamptz NOT NULL,
	t1          timestamptz NOT NULL,
	dropped     bigint NOT NULL,
	nfns        integer NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (agent_id, seq, t0)
) PARTITION BY RANGE (t0);
CREATE INDEX ingested_batches_series_t1_idx ON ingested_batches (series_id, t1);

-- Move what v1 stored, then drop the old tables.
SELECT fleetprof_ensure_partitions(
	coalesce(least((SELECT min(bucket) FROM fn_stats_v1),
	               (SELECT min(t0) FROM ingested_batches_v1))::date,
	         current_date),
	greatest(current_date + 2,
	         coalesce(greatest((SELECT max(bucket) FROM fn_stats_v1),
	                           (SELECT max(t0) FROM ingested_batches_v1))::date,
	                  current_date)));
INSERT INTO fn_stats SELECT * FROM fn_stats_v1;
INSERT INTO edge_stats SELECT * FROM edge_stats_v1;
INSERT INTO stack_stats SELECT * FROM stack_stats_v1;
INSERT INTO ingested_batches SELECT * FROM ingested_batches_v1;
INSERT INTO fn_stats_1h
	SELECT date_trunc('hour', bucket), series_id, fn_id, sum(ncalls),
	       sum(pcalls), sum(tottime_ns), sum(cumtime_ns)
	FROM fn_stats_v1 GROUP BY 1, 2, 3;
INSERT INTO edge_stats_1h
	SELECT date_trunc('hour', bucket), series_id, caller_id, callee_id,
	       sum(ncalls), sum(pcalls), sum(tottime_ns), sum(cumtime_ns)
	FROM edge_stats_v1 GROUP BY 1, 2, 3, 4;
INSERT INTO stack_stats_1h
	SELECT date_trunc('hour', bucket), series_id, stack_id, sum(ncalls),
	       sum(self_ns), sum(total_ns)
	FROM stack_stats_v1 GROUP BY 1, 2, 3;
DROP TABLE fn_stats_v1, edge_stats_v1, stack_stats_v1, ingested_batches_v1;

-- Roles ----------------------------------------------------------------------
-- Cluster-wide; created once, tolerant of a concurrent migration elsewhere.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleetprof_reader')
	THEN
		BEGIN
			CREATE ROLE fleetprof_reader NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN
			NULL;
		END;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleetprof_writer')
	THEN
		BEGIN
			CREATE ROLE fleetprof_writer NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN
			NULL;
		END;
	END IF;
END $$;

GRANT USAGE ON SCHEMA public TO fleetprof_reader, fleetprof_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO fleetprof_reader;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public
	TO fleetprof_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
	GRANT SELECT ON TABLES TO fleetprof_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
	GRANT SELECT, INSERT, UPDATE ON TABLES TO fleetprof_writer;
REVOKE ALL ON FUNCTION fleetprof_ensure_partition(text, integer, date),
	fleetprof_ensure_partitions(date, date),
	fleetprof_drop_partitions(text, timestamptz),
	fleetprof_maintain(interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fleetprof_ensure_partitions(date, date),
	fleetprof_maintain(interval, interval) TO fleetprof_writer;
