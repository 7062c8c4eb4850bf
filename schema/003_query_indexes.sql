-- fleetprof schema v3: indexes for the query command.
--
-- `timeline FN` and `top --function FN` read one function over a window:
-- (fn_id, bucket) finds its rows without scanning every function's.
-- `callees FN` looks edges up by caller, as `callers FN` already does by
-- callee (002). Both tiers get them; each costs the collector one more
-- index entry per fact row, measured in bench/ingest.
CREATE INDEX fn_stats_fn_idx ON fn_stats (fn_id, bucket);
CREATE INDEX fn_stats_1h_fn_idx ON fn_stats_1h (fn_id, bucket);
CREATE INDEX edge_stats_caller_idx ON edge_stats (caller_id, bucket);
CREATE INDEX edge_stats_1h_caller_idx ON edge_stats_1h (caller_id, bucket);
