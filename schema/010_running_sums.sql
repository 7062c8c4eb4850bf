-- fleetprof schema v10: running sums within days and weeks, so that a
-- window of hours or days reads a handful of slices instead of one per
-- hour (or day).
--
-- Why: a window of 6 h or more reads the 1 h tier, one row per series and
-- function and hour (and 006's span, for 3 days and more, whole days plus
-- the hours at both ends). On bench/query's fleet (20 hosts x 500
-- functions) a 24 h `top` read 240,000 rows and a 7 d one 310,000; `diff`
-- reads two windows. PostgreSQL's executor spends 0.5-1 us a row.
--
-- How: C(t), for an hour boundary t inside UTC day d, is the sum of the
-- day's 1 h rows in [d, t); W(t), for a day boundary t in (w, w + 7 d],
-- w a Monday, the sum of the week's 1 d rows in [w, t) (W(w + 7 d) is the
-- week's total). Then for a window [a, b) on hour boundaries, with da, db
-- the days a and b lie in:
--     sum [a, b) = D[da, db) + C(b) - C(a)
-- and D[da, db), per week it touches, is W(y) - W(x) for the part [x, y)
-- inside the week (W of a week's start and C of a day's start are empty).
-- C(t) is taken as C(p) + the 1 h rows of [p, t), p the latest point
-- stored at or before t (the current hour is never whole, so C(b) of
-- "until now" is C(start of this hour) + this hour). A 24 h window so
-- reads 3 or 4 slices, a 7 d one 4 or 5, each at most about a week of
-- keys; where reading the hours (or days) directly is fewer slices, they
-- are read instead. The sums are integers: the subtraction is exact, and a
-- key whose slices cancel sums to zero, which the readers drop (in these
-- tiers, a key with no calls and no time in a window is not listed).
--
-- Why it stays exact, on 006's bookkeeping:
-- * fn_stats_running (edge_, stack_) store C(t) and W(t) for t in
--   running_points (C at hour boundaries inside days, W at day
--   boundaries: they never share a bucket). A point is stored only when
--   no hour of [d, t) is a gap (rollup_gaps), or for W no day of [w, t)
--   is unclean (marked in rollup_dirty_1d, or with a gap), from the stored
--   1 h (1 d) rows, which are then exactly raw's.
-- * Every roller transaction that changes an hour's stored rows deletes
--   the day's points after that hour and stores them again, forward from
--   the latest one before it, up to the day's first gap (fleetprof_rollup
--   calls fleetprof_rollup_running when an hour's gap changed); one that
--   rolls a day does the same for the week's day points after it
--   (fleetprof_rollup_running_days). So a stored point is always the sum
--   of the stored rows before it, and between the latest point and the
--   first gap (unclean day) there are no rows.
-- * Readers (fn_stats_sum etc., via fleetprof_sum_plan) use a point only
--   if no hour (day) before it is a gap (unclean) in their snapshot: a
--   late batch that makes an hour stale makes the day's later points and
--   the week's later day points unusable at once (the 1 h and 1 d views
--   read that hour from raw) until the roller has redone the hour, the
--   day and the points after them.
-- * Retention: with the 1 h tier; a week's total, kept in the next week's
--   partition, goes with the week's days. The points of existing rolled
--   days and weeks are computed here.

SET LOCAL timezone = 'UTC';

-- No roller runs meanwhile: the backfill reads each day's gaps once.
SELECT pg_advisory_xact_lock(hashtext('fleetprof_rollup'));

CREATE TABLE fn_stats_running (LIKE fn_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);
CREATE TABLE edge_stats_running (LIKE edge_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);
CREATE TABLE stack_stats_running (LIKE stack_stats_rollup INCLUDING ALL)
	PARTITION BY RANGE (bucket);
COMMENT ON TABLE fn_stats_running IS
	'Running sums at the times in running_points (schema 010), per series '
	'and function; bucket is the time t. Inside a UTC day: its 1 h rows '
	'before t. On a day boundary: the 1 d rows of t''s week (from Monday; '
	'for a Monday, the week before) before t.';

CREATE TABLE running_points (
	at timestamptz PRIMARY KEY  -- where running sums are stored
);

-- The roller -----------------------------------------------------------------

-- The three fact tables: name, key, values (the helpers below).
CREATE FUNCTION fleetprof_fact_tables()
RETURNS TABLE (tab text, keys text, vals text) LANGUAGE sql IMMUTABLE AS $$
	VALUES ('fn_stats', 'series_id, fn_id',
	        'ncalls, pcalls, tottime_ns, cumtime_ns'),
	       ('edge_stats', 'series_id, caller_id, callee_id',
	        'ncalls, pcalls, tottime_ns, cumtime_ns'),
	       ('stack_stats', 'series_id, stack_id', 'ncalls, self_ns, total_ns')
$$;

-- Where points stop being usable, for the roller and the readers alike:
-- the first gap hour of day d (a point at t needs none before t), and the
-- first unclean day of week w: dirty for the 1 d tier, or with a gap (a day
-- point at t needs none before t). 'infinity' when there is none.
CREATE FUNCTION fleetprof_first_gap(d timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE SET search_path = public AS $$
	SELECT coalesce(min(hour), 'infinity') FROM rollup_gaps
	WHERE hour >= d AND hour < d + interval '1 day'
$$;

CREATE FUNCTION fleetprof_first_unclean(w timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE SET search_path = public AS $$
	SELECT coalesce(min(z), 'infinity') FROM (
		SELECT day AS z FROM rollup_dirty_1d
		WHERE day >= w AND day < w + interval '7 days'
		UNION ALL
		SELECT date_bin('1 day', hour, timestamptz '2000-01-03 00:00+00')
		FROM rollup_gaps
		WHERE hour >= w AND hour < w + interval '7 days') u
$$;

-- Whether the 1 h (src '') or 1 d (src '_1d') rollup has rows at bucket.
CREATE FUNCTION fleetprof_rollup_has(at_bucket timestamptz, src text)
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public AS $$
DECLARE
	k record;
	found_one boolean;
BEGIN
	FOR k IN SELECT * FROM fleetprof_fact_tables() LOOP
		EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE bucket = $1)',
		               k.tab || '_rollup' || src)
		INTO found_one USING at_bucket;
		IF found_one THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END $$;

-- Stores the running sums at t, for the three fact tables: those at p
-- (NULL: none) plus the 1 h (src '') or 1 d (src '_1d') rollup's rows of
-- [lo, t); and t as a point.
CREATE FUNCTION fleetprof_running_store(t timestamptz, p timestamptz,
                                        lo timestamptz, src text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
DECLARE
	k record;
BEGIN
	FOR k IN SELECT * FROM fleetprof_fact_tables() LOOP
		EXECUTE format(
			'INSERT INTO %1$I SELECT $1, %2$s, %3$s FROM ('
			'SELECT %2$s, %4$s FROM %1$I WHERE bucket = $2 '
			'UNION ALL SELECT %2$s, %4$s FROM %5$I '
			'WHERE bucket >= $3 AND bucket < $1) x '
			'GROUP BY %2$s ORDER BY %2$s',
			k.tab || '_running', k.keys,
			(SELECT string_agg(format('sum(%s)', v), ', ')
			 FROM unnest(string_to_array(k.vals, ', ')) v),
			k.vals, k.tab || '_rollup' || src)
		USING t, p, lo;
	END LOOP;
	INSERT INTO running_points VALUES (t);
END $$;

-- Hour h's stored rows changed (or its gap did): the points of h's day
-- after h are stored again, from the latest one before, while no hour
-- before them is a gap. Returns how many it stored.
CREATE FUNCTION fleetprof_rollup_running(h timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
DECLARE
	d timestamptz := date_bin('1 day', h, timestamptz '2000-01-01 00:00+00');
	e timestamptz := d + interval '1 day';
	stop timestamptz;
	p timestamptz;
	t timestamptz;
	made integer := 0;
BEGIN
	DELETE FROM running_points WHERE at > h AND at < e;
	DELETE FROM fn_stats_running WHERE bucket > h AND bucket < e;
	DELETE FROM edge_stats_running WHERE bucket > h AND bucket < e;
	DELETE FROM stack_stats_running WHERE bucket > h AND bucket < e;
	-- A point at t needs [d, t) free of gaps; none at the day's end (that
	-- sum is the 1 d tier's).
	stop := least(fleetprof_first_gap(d), e - interval '1 hour');
	SELECT max(at) INTO p FROM running_points WHERE at > d AND at <= h;
	t := date_bin('1 hour', h, timestamptz '2000-01-01 00:00+00')
	     + interval '1 hour';
	IF t > stop THEN
		RETURN 0;
	END IF;
	PERFORM fleetprof_ensure_partition('fn_stats_running', 7, d::date);
	PERFORM fleetprof_ensure_partition('edge_stats_running', 7, d::date);
	PERFORM fleetprof_ensure_partition('stack_stats_running', 7, d::date);
	WHILE t <= stop LOOP
		-- Only after an hour with rows: an empty hour adds nothing, and
		-- readers add the hours after the point they take.
		IF fleetprof_rollup_has(t - interval '1 hour', '') THEN
			PERFORM fleetprof_running_store(t, p, coalesce(p, d), '');
			p := t;
			made := made + 1;
		END IF;
		t := t + interval '1 hour';
	END LOOP;
	RETURN made;
END $$;

-- Day d's 1 d rows changed (fleetprof_rollup_day): the day points of d's
-- week after d are stored again, W(t) for day boundaries t in (week, week
-- + 7 d] (the last one is the week's total, in the next week's partition),
-- while no day before t is unclean: dirty (rollup_dirty_1d) or with a gap.
-- Weeks start on Mondays. d at a week's start redoes the whole week.
CREATE FUNCTION fleetprof_rollup_running_days(d timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public SET timezone = 'UTC' SET jit = off AS $$
DECLARE
	o constant timestamptz := timestamptz '2000-01-03 00:00+00'; -- Monday
	ws timestamptz := date_bin('7 days', d, o);
	we timestamptz := ws + interval '7 days';
	day0 timestamptz := date_bin('1 day', d, o);
	pts timestamptz[];
	stop timestamptz;
	p timestamptz;
	t timestamptz;
	made integer := 0;
BEGIN
	-- Day boundaries only: the points inside days are the hours'.
	pts := ARRAY(SELECT generate_series(day0 + interval '1 day', we,
	                                    interval '1 day'));
	DELETE FROM running_points WHERE at = ANY (pts);
	DELETE FROM fn_stats_running WHERE bucket = ANY (pts);
	DELETE FROM edge_stats_running WHERE bucket = ANY (pts);
	DELETE FROM stack_stats_running WHERE bucket = ANY (pts);
	stop := least(fleetprof_first_unclean(ws), we);
	SELECT max(at) INTO p FROM running_points
	WHERE at > ws AND at <= day0 AND at = date_bin('1 day', at, o);
	t := day0 + interval '1 day';
	IF t > stop THEN
		RETURN 0;
	END IF;
	PERFORM fleetprof_ensure_partition('fn_stats_running', 7, ws::date);
	PERFORM fleetprof_ensure_partition('edge_stats_running', 7, ws::date);
	PERFORM fleetprof_ensure_partition('stack_stats_running', 7, ws::date);
	PERFORM fleetprof_ensure_partition('fn_stats_running', 7, we::date);
	PERFORM fleetprof_ensure_partition('edge_stats_running', 7, we::date);
	PERFORM fleetprof_ensure_partition('stack_stats_running', 7, we::date);
	WHILE t <= stop LOOP
		IF fleetprof_rollup_has(t - interval '1 day', '_1d') THEN
			PERFORM fleetprof_running_store(t, p, coalesce(p, ws),
			                                '_1d');
			p := t;
			made := made + 1;
		END IF;
		t := t + interval '1 day';
	END LOOP;
	RETURN made;
END $$;

-- 006's, calling fleetprof_rollup_running for each hour whose gap the
-- hour's roll changed (not for one it left as it was: a delta slot held
-- it back, or it was covered already), and fleetprof_rollup_running_days
-- for each day it rolls.
CREATE OR REPLACE FUNCTION fleetprof_rollup(upto timestamptz, max_hours integer)
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
		SELECT hour, lo, hi, stale FROM rollup_gaps
		WHERE lo < least(hi, settled)
		ORDER BY hour LIMIT max_hours
	LOOP
		PERFORM fleetprof_rollup_hour(g.hour, least(g.hi, settled));
		IF NOT EXISTS (SELECT 1 FROM rollup_gaps r
		               WHERE r.hour = g.hour AND r.lo = g.lo
		                 AND r.stale = g.stale) THEN
			PERFORM fleetprof_rollup_running(g.hour);
		END IF;
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
		PERFORM fleetprof_rollup_running_days(g.hour);
	END LOOP;
	RETURN done;
END $$;

-- Retention: the running sums with the 1 h tier (009's, plus them). ---------

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
	       + fleetprof_drop_partitions('stack_stats_rollup_1d', cut)
	       + fleetprof_drop_partitions('fn_stats_running', cut)
	       + fleetprof_drop_partitions('edge_stats_running', cut)
	       + fleetprof_drop_partitions('stack_stats_running', cut);
	-- Week totals of weeks whose days are gone (they are kept in the
	-- next week's partition), and points whose rows went with their
	-- partition.
	DELETE FROM running_points r
	WHERE r.at <= (SELECT min((regexp_match(pg_get_expr(k.relpartbound,
	                                                    k.oid),
	                                        'FROM \(''([^'']+)''\)'))[1]
	                          ::timestamptz)
	               FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
	               WHERE i.inhparent = 'fn_stats_rollup_1d'::regclass);
	DELETE FROM running_points r
	WHERE NOT EXISTS (
		SELECT 1 FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
		WHERE i.inhparent = 'fn_stats_running'::regclass
		  AND r.at >= (regexp_match(pg_get_expr(k.relpartbound, k.oid),
		                            'FROM \(''([^'']+)''\)'))[1]
		              ::timestamptz
		  AND r.at < (regexp_match(pg_get_expr(k.relpartbound, k.oid),
		                           'TO \(''([^'']+)''\)'))[1]
		             ::timestamptz);
	DELETE FROM rollup_dirty_1d WHERE day + interval '1 day' <= cut;
	RETURN QUERY SELECT c, d;
END $$;

-- Readers --------------------------------------------------------------------

-- Which slices make [from_s, until_s) (epoch seconds, rounded out to whole
-- hours): the 1 d tier for the days in `days`, the running sums at
-- pos_pts added and at neg_pts subtracted, the 1 h tier of [neg_lo,
-- neg_hi) subtracted and of [h1_lo, h1_hi) and [h2_lo, h2_hi) added (NULL
-- bounds: no slice). The fewest slices that are exact in this snapshot.
CREATE FUNCTION fleetprof_sum_plan(from_s bigint, until_s bigint)
RETURNS TABLE (days timestamptz[], pos_pts timestamptz[],
               neg_pts timestamptz[], neg_lo timestamptz,
               neg_hi timestamptz, h1_lo timestamptz, h1_hi timestamptz,
               h2_lo timestamptz, h2_hi timestamptz)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
	o constant timestamptz := timestamptz '2000-01-03 00:00+00'; -- Monday
	a timestamptz := to_timestamp(from_s - (from_s % 3600 + 3600) % 3600);
	b timestamptz := to_timestamp(until_s
	                              + (3600 - until_s % 3600) % 3600);
	da timestamptz;
	db timestamptz;
	pa timestamptz;
	pb timestamptz;
	gap_a timestamptz;
	gap_b timestamptz;
	lo timestamptz;
	hi timestamptz;
	w timestamptz;
	x timestamptz;
	y timestamptz;
	bad timestamptz;
	px timestamptz;
	py timestamptz;
	prefix_cost double precision;
	direct_cost double precision;
BEGIN
	days := '{}';
	pos_pts := '{}';
	neg_pts := '{}';
	IF b <= a THEN
		RETURN; -- no row: no slice
	END IF;
	da := date_bin('1 day', a, o);
	db := date_bin('1 day', b, o);
	-- The latest usable point at or before a (and b) in its day: stored,
	-- and no gap in [day, point).
	gap_a := fleetprof_first_gap(da);
	gap_b := fleetprof_first_gap(db);
	SELECT max(at) INTO pa FROM running_points
	WHERE at > da AND at <= a AND at <= gap_a;
	SELECT max(at) INTO pb FROM running_points
	WHERE at > db AND at <= b AND at <= gap_b;
	-- Slices (each about as big): sum [a, b) = D[da, db) + S(db, b) -
	-- S(da, a), S(d, t) = C(p) + hours [p, t); or the hours of a's day
	-- from a directly. Before the day's first gap, the hours [p, t) are
	-- empty (the roller stores a point after every hour with rows): no
	-- slice, though they are still read. D[da, db) counts as one slice
	-- per week here.
	prefix_cost := ceil(extract(epoch FROM db - da) / (7 * 86400.0))
		+ CASE WHEN pa IS NULL THEN 0 ELSE 1 END
		+ CASE WHEN a <= gap_a THEN 0
		       ELSE extract(epoch FROM a - coalesce(pa, da)) / 3600 END;
	direct_cost := extract(epoch FROM least(b, da + interval '1 day') - a)
		/ 3600 + ceil(greatest(extract(epoch FROM db - da) / 86400 - 1, 0)
		              / 7.0);
	IF b > db THEN
		IF pb IS NOT NULL THEN
			pos_pts := pos_pts || pb;
		END IF;
		h1_lo := coalesce(pb, db);
		h1_hi := b;
	END IF;
	IF prefix_cost <= direct_cost THEN
		lo := da;
		hi := db;
		IF a > da THEN
			IF pa IS NOT NULL THEN
				neg_pts := neg_pts || pa;
			END IF;
			neg_lo := coalesce(pa, da);
			neg_hi := a;
		END IF;
	ELSE
		h2_lo := a;
		h2_hi := least(b, da + interval '1 day');
		lo := da + interval '1 day';
		hi := db;
		IF db = da THEN
			-- [a, b) within a's day: the hours, nothing else.
			pos_pts := '{}';
			h1_lo := NULL;
			h1_hi := NULL;
		END IF;
	END IF;
	-- The days [lo, hi), week by week: a week's part [x, y) is W(y) -
	-- W(x), W(t) the running sum of the week's days before t (none at
	-- the week's start), where no day of [week, y) is unclean (dirty, or
	-- with a gap; the 1 d views read those from the hours). W(t) is the
	-- latest day point at or before t: the days between hold no rows.
	w := date_bin('7 days', lo, o);
	WHILE w < hi LOOP
		x := greatest(lo, w);
		y := least(hi, w + interval '7 days');
		bad := fleetprof_first_unclean(w);
		SELECT max(at) INTO px FROM running_points
		WHERE at > w AND at <= x AND at = date_bin('1 day', at, o);
		SELECT max(at) INTO py FROM running_points
		WHERE at > w AND at <= y AND at = date_bin('1 day', at, o);
		IF y <= bad AND (CASE WHEN px IS NULL THEN 0 ELSE 1 END
		                 + CASE WHEN py IS NULL THEN 0 ELSE 1 END)
		                < extract(epoch FROM y - x) / 86400 THEN
			IF py IS NOT NULL THEN
				pos_pts := pos_pts || py;
			END IF;
			IF px IS NOT NULL THEN
				neg_pts := neg_pts || px;
			END IF;
		ELSE
			days := days || ARRAY(SELECT generate_series(x,
				y - interval '1 day', interval '1 day'));
		END IF;
		w := w + interval '7 days';
	END LOOP;
	RETURN NEXT;
END $$;

-- The window [from_s, until_s) as signed rows (bucket: to_timestamp(from_s)),
-- to be summed per key; keys whose sums are all zero had nothing in it.
CREATE FUNCTION fn_stats_sum(from_s bigint, until_s bigint)
RETURNS SETOF fn_stats_1h LANGUAGE sql STABLE AS $$
	WITH k AS MATERIALIZED (SELECT * FROM fleetprof_sum_plan(from_s, until_s))
	SELECT to_timestamp(from_s), f.series_id, f.fn_id, f.ncalls, f.pcalls,
	       f.tottime_ns, f.cumtime_ns
	FROM fn_stats_1d f WHERE f.bucket = ANY ((SELECT days FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), f.series_id, f.fn_id, f.ncalls, f.pcalls,
	       f.tottime_ns, f.cumtime_ns
	FROM fn_stats_running f WHERE f.bucket = ANY ((SELECT pos_pts FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), f.series_id, f.fn_id, -f.ncalls, -f.pcalls,
	       -f.tottime_ns, -f.cumtime_ns
	FROM fn_stats_running f WHERE f.bucket = ANY ((SELECT neg_pts FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), f.series_id, f.fn_id, -f.ncalls, -f.pcalls,
	       -f.tottime_ns, -f.cumtime_ns
	FROM fn_stats_1h f
	WHERE f.bucket >= (SELECT neg_lo FROM k)
	  AND f.bucket < (SELECT neg_hi FROM k)
	UNION ALL
	SELECT to_timestamp(from_s), f.series_id, f.fn_id, f.ncalls, f.pcalls,
	       f.tottime_ns, f.cumtime_ns
	FROM fn_stats_1h f
	WHERE f.bucket >= (SELECT h1_lo FROM k)
	  AND f.bucket < (SELECT h1_hi FROM k)
	UNION ALL
	SELECT to_timestamp(from_s), f.series_id, f.fn_id, f.ncalls, f.pcalls,
	       f.tottime_ns, f.cumtime_ns
	FROM fn_stats_1h f
	WHERE f.bucket >= (SELECT h2_lo FROM k)
	  AND f.bucket < (SELECT h2_hi FROM k)
$$;

CREATE FUNCTION edge_stats_sum(from_s bigint, until_s bigint)
RETURNS SETOF edge_stats_1h LANGUAGE sql STABLE AS $$
	WITH k AS MATERIALIZED (SELECT * FROM fleetprof_sum_plan(from_s, until_s))
	SELECT to_timestamp(from_s), e.series_id, e.caller_id, e.callee_id,
	       e.ncalls, e.pcalls, e.tottime_ns, e.cumtime_ns
	FROM edge_stats_1d e WHERE e.bucket = ANY ((SELECT days FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), e.series_id, e.caller_id, e.callee_id,
	       e.ncalls, e.pcalls, e.tottime_ns, e.cumtime_ns
	FROM edge_stats_running e WHERE e.bucket = ANY ((SELECT pos_pts FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), e.series_id, e.caller_id, e.callee_id,
	       -e.ncalls, -e.pcalls, -e.tottime_ns, -e.cumtime_ns
	FROM edge_stats_running e WHERE e.bucket = ANY ((SELECT neg_pts FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), e.series_id, e.caller_id, e.callee_id,
	       -e.ncalls, -e.pcalls, -e.tottime_ns, -e.cumtime_ns
	FROM edge_stats_1h e
	WHERE e.bucket >= (SELECT neg_lo FROM k)
	  AND e.bucket < (SELECT neg_hi FROM k)
	UNION ALL
	SELECT to_timestamp(from_s), e.series_id, e.caller_id, e.callee_id,
	       e.ncalls, e.pcalls, e.tottime_ns, e.cumtime_ns
	FROM edge_stats_1h e
	WHERE e.bucket >= (SELECT h1_lo FROM k)
	  AND e.bucket < (SELECT h1_hi FROM k)
	UNION ALL
	SELECT to_timestamp(from_s), e.series_id, e.caller_id, e.callee_id,
	       e.ncalls, e.pcalls, e.tottime_ns, e.cumtime_ns
	FROM edge_stats_1h e
	WHERE e.bucket >= (SELECT h2_lo FROM k)
	  AND e.bucket < (SELECT h2_hi FROM k)
$$;

CREATE FUNCTION stack_stats_sum(from_s bigint, until_s bigint)
RETURNS SETOF stack_stats_1h LANGUAGE sql STABLE AS $$
	WITH k AS MATERIALIZED (SELECT * FROM fleetprof_sum_plan(from_s, until_s))
	SELECT to_timestamp(from_s), s.series_id, s.stack_id, s.ncalls,
	       s.self_ns, s.total_ns
	FROM stack_stats_1d s WHERE s.bucket = ANY ((SELECT days FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), s.series_id, s.stack_id, s.ncalls,
	       s.self_ns, s.total_ns
	FROM stack_stats_running s WHERE s.bucket = ANY ((SELECT pos_pts FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), s.series_id, s.stack_id, -s.ncalls,
	       -s.self_ns, -s.total_ns
	FROM stack_stats_running s WHERE s.bucket = ANY ((SELECT neg_pts FROM k)::timestamptz[])
	UNION ALL
	SELECT to_timestamp(from_s), s.series_id, s.stack_id, -s.ncalls,
	       -s.self_ns, -s.total_ns
	FROM stack_stats_1h s
	WHERE s.bucket >= (SELECT neg_lo FROM k)
	  AND s.bucket < (SELECT neg_hi FROM k)
	UNION ALL
	SELECT to_timestamp(from_s), s.series_id, s.stack_id, s.ncalls,
	       s.self_ns, s.total_ns
	FROM stack_stats_1h s
	WHERE s.bucket >= (SELECT h1_lo FROM k)
	  AND s.bucket < (SELECT h1_hi FROM k)
	UNION ALL
	SELECT to_timestamp(from_s), s.series_id, s.stack_id, s.ncalls,
	       s.self_ns, s.total_ns
	FROM stack_stats_1h s
	WHERE s.bucket >= (SELECT h2_lo FROM k)
	  AND s.bucket < (SELECT h2_hi FROM k)
$$;

GRANT SELECT ON fn_stats_running, edge_stats_running, stack_stats_running,
	running_points TO fleetprof_reader;
GRANT EXECUTE ON FUNCTION fleetprof_sum_plan(bigint, bigint),
	fleetprof_first_gap(timestamptz), fleetprof_first_unclean(timestamptz),
	fn_stats_sum(bigint, bigint), edge_stats_sum(bigint, bigint),
	stack_stats_sum(bigint, bigint) TO fleetprof_reader;
REVOKE ALL ON FUNCTION fleetprof_rollup_running(timestamptz),
	fleetprof_rollup_running_days(timestamptz),
	fleetprof_running_store(timestamptz, timestamptz, timestamptz, text),
	fleetprof_rollup_has(timestamptz, text) FROM PUBLIC;

-- The days rolled before this migration: their points. ----------------------

DO $$
DECLARE
	d timestamptz;
BEGIN
	FOR d IN
		SELECT DISTINCT date_bin('1 day', bucket,
		                         timestamptz '2000-01-01 00:00+00')
		FROM fn_stats_rollup ORDER BY 1
	LOOP
		PERFORM fleetprof_rollup_running(d);
	END LOOP;
	FOR d IN
		SELECT DISTINCT date_bin('7 days', bucket,
		                         timestamptz '2000-01-03 00:00+00')
		FROM fn_stats_rollup_1d ORDER BY 1
	LOOP
		PERFORM fleetprof_rollup_running_days(d);
	END LOOP;
END $$;
