-- fleetprof schema v1: dimensions, fact tables, exactly-once ledger.
--
-- Identities are 64-bit xxHash3 values computed by the collector (common/
-- hash.c): series.id, functions.id and stacks.id are the hash of what they
-- name. Interning is therefore an INSERT … ON CONFLICT DO NOTHING with no
-- round trip to learn an id, and several collectors agree on ids without
-- coordination. A 64-bit collision among a million functions has a
-- probability near 3e-8; it would merge two names, never lose counts.
--
-- Facts are keyed by bucket start (60 s buckets; the collector computes the
-- bucket from the batch window, which agents align to bucket boundaries).
-- All counters are sums: merging adds, and any coarser rollup is a sum too.

CREATE TABLE series (
	id         bigint PRIMARY KEY,          -- hash(host, service, clock, labels)
	host       text NOT NULL,
	service    text NOT NULL,
	clock      text NOT NULL CHECK (clock IN ('wall', 'cpu')),
	labels     jsonb NOT NULL DEFAULT '{}',
	first_seen timestamptz NOT NULL DEFAULT now()
);
-- text_pattern_ops: host globs become LIKE 'web-%' and can use the index.
CREATE INDEX series_host_idx ON series (host text_pattern_ops);
CREATE INDEX series_service_idx ON series (service);

CREATE TABLE functions (
	id     bigint PRIMARY KEY,              -- hash(name, file, line, module)
	name   text NOT NULL,
	file   text NOT NULL,
	line   integer NOT NULL,
	module text NOT NULL
);
CREATE INDEX functions_name_idx ON functions (name);

-- A call path root -> … -> fn, interned as (parent path, function).
CREATE TABLE stacks (
	id        bigint PRIMARY KEY,           -- hash(parent_id, fn_id)
	parent_id bigint,                       -- NULL at the root
	fn_id     bigint NOT NULL,
	depth     integer NOT NULL
);
CREATE INDEX stacks_parent_idx ON stacks (parent_id);
CREATE INDEX stacks_fn_idx ON stacks (fn_id);

CREATE TABLE fn_stats (
	bucket     timestamptz NOT NULL,
	series_id  bigint NOT NULL,
	fn_id      bigint NOT NULL,
	ncalls     bigint NOT NULL,
	pcalls     bigint NOT NULL,
	tottime_ns bigint NOT NULL,
	cumtime_ns bigint NOT NULL,
	PRIMARY KEY (bucket, series_id, fn_id)
);

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
);

CREATE TABLE stack_stats (
	bucket    timestamptz NOT NULL,
	series_id bigint NOT NULL,
	stack_id  bigint NOT NULL,
	ncalls    bigint NOT NULL,
	self_ns   bigint NOT NULL,
	total_ns  bigint NOT NULL,
	PRIMARY KEY (bucket, series_id, stack_id)
);

-- Exactly-once ledger: a batch is merged only in the transaction that inserts
-- its (agent_id, seq). Also the per-host record of what reported and what was
-- lost (dropped), so data loss is visible in queries.
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
	PRIMARY KEY (agent_id, seq)
);
CREATE INDEX ingested_batches_series_t1_idx ON ingested_batches (series_id, t1);
