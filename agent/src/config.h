/*
 * Agent configuration: struct fp_config fields, then FLEETPROF_* variables,
 * then defaults. Parsed once by fp_init; invalid values are logged to stderr
 * and replaced by the default (a guest must not refuse to start its host).
 */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdint.h>

struct fp_config;
struct agent_identity;

struct agent_config {
	char collector[1024];
	int64_t interval_ns;
	int exit_timeout_ms;
	int request_timeout_ms;
	uint32_t max_nodes;	/* per thread */
	uint32_t max_depth;	/* per thread */
	uint32_t queue_batches; /* unacked batches kept */
	uint64_t queue_bytes;
};

/* Fills cfg and the identity (host, service, labels, token, id, pid). */
int agent_config_load(const struct fp_config *user, struct agent_config *cfg,
		      struct agent_identity *id);
void agent_identity_fini(struct agent_identity *id);
/* A new random id and the current pid (a forked child). */
void agent_identity_renew(struct agent_identity *id);

/* Parses "k=v,k=v" into id->labels; returns FP_ESYNTAX on a bad item. */
int agent_parse_labels(const char *s, struct agent_identity *id);

#endif
