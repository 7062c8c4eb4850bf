/*
 * Reads the agent's configuration (see config.h and fleetprof.h for the
 * variables). Never fails the host: a bad value is logged once and the
 * default used.
 */
#include "config.h"
#include "flush.h"
#include "fleetprof/fleetprof.h"
#include "fp/error.h"
#include "fp/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

extern char *program_invocation_short_name;

static const char *pick(const char *user, const char *env)
{
	const char *v;
	if (user != NULL && user[0] != '\0')
		return user;
	v = getenv(env);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

static int64_t env_i64(const char *name, int64_t def, int64_t lo, int64_t hi)
{
	const char *v = getenv(name);
	char *end;
	long long x;
	if (v == NULL || v[0] == '\0')
		return def;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi) {
		fp_warn("agent: ignoring %s=%s (want %lld..%lld)", name, v,
			(long long)lo, (long long)hi);
		return def;
	}
	return x;
}

int agent_parse_labels(const char *s, struct agent_identity *id)
{
	size_t len = strlen(s);
	char *buf = malloc(len + 1), *p, *next;
	uint32_t n = 0;

	if (buf == NULL)
		return FP_ENOMEM;
	memcpy(buf, s, len + 1);
	for (p = buf; p != NULL && *p != '\0'; p = next) {
		char *eq;
		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		if (*p == '\0')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL || eq == p || n >= 64) {
			free(buf);
			return FP_ESYNTAX;
		}
		*eq = '\0';
		id->labels[n].key = p;
		id->labels[n].value = eq + 1;
		n++;
	}
	free(id->labels_storage);
	id->labels_storage = buf;
	id->nlabels = n;
	return 0;
}

void agent_identity_renew(struct agent_identity *id)
{
	id->pid = (uint32_t)getpid();
	if (getrandom(id->id, sizeof(id->id), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(id->id)) {
		/* Fall back to time and pid: unique enough per process. */
		uint64_t a = (uint64_t)id->pid * UINT64_C(0x9e3779b97f4a7c15);
		uint64_t b = (uint64_t)(uintptr_t)id ^ (uint64_t)clock() ^
			     (uint64_t)time(NULL) << 20;
		memcpy(id->id, &a, 8);
		memcpy(id->id + 8, &b, 8);
	}
}

void agent_identity_fini(struct agent_identity *id)
{
	free(id->labels_storage);
	id->labels_storage = NULL;
	id->nlabels = 0;
}

int agent_config_load(const struct fp_config *user, struct agent_config *cfg,
		      struct agent_identity *id)
{
	static const struct fp_config none;
	const char *v;
	double interval;

	if (user == NULL)
		user = &none;
	memset(cfg, 0, sizeof(*cfg));
	v = pick(user->collector, "FLEETPROF_COLLECTOR");
	copy_str(cfg->collector, sizeof(cfg->collector),
		 v ? v : "tcp://127.0.0.1:7450");

	interval = user->interval_s;
	if (interval <= 0 && (v = getenv("FLEETPROF_INTERVAL")) != NULL) {
		char *end;
		interval = strtod(v, &end);
		if (*end != '\0' || interval < 0.05 || interval > 3600) {
			fp_warn("agent: ignoring FLEETPROF_INTERVAL=%s", v);
			interval = 0;
		}
	}
	if (interval <= 0)
		interval = 10;
	cfg->interval_ns = (int64_t)(interval * 1e9);
	cfg->exit_timeout_ms =
		user->exit_timeout_ms > 0
			? user->exit_timeout_ms
			: (int)env_i64("FLEETPROF_EXIT_TIMEOUT_MS", 3000, 0,
				       600000);
	cfg->request_timeout_ms =
		(int)env_i64("FLEETPROF_REQUEST_TIMEOUT_MS", 2000, 50, 600000);
	cfg->max_nodes =
		(uint32_t)env_i64("FLEETPROF_MAX_NODES", 65536, 16, 1 << 24);
	cfg->max_depth =
		(uint32_t)env_i64("FLEETPROF_MAX_DEPTH", 512, 4, 65536);
	cfg->queue_batches =
		(uint32_t)env_i64("FLEETPROF_QUEUE_BATCHES", 64, 1, 100000);
	cfg->queue_bytes = (uint64_t)env_i64("FLEETPROF_QUEUE_BYTES", 64 << 20,
					     4096, INT64_C(1) << 40);

	memset(id, 0, sizeof(*id));
	v = pick(user->host, "FLEETPROF_HOST");
	if (v != NULL) {
		copy_str(id->host, sizeof(id->host), v);
	} else if (gethostname(id->host, sizeof(id->host) - 1) != 0) {
		copy_str(id->host, sizeof(id->host), "unknown");
	}
	v = pick(user->service, "FLEETPROF_SERVICE");
	copy_str(id->service, sizeof(id->service),
		 v ? v : program_invocation_short_name);
	v = pick(user->labels, "FLEETPROF_LABELS");
	if (v != NULL && agent_parse_labels(v, id) != 0)
		fp_warn("agent: ignoring FLEETPROF_LABELS (want k=v,k=v)");
	id->token = pick(NULL, "FLEETPROF_TOKEN");
	agent_identity_renew(id);
	return 0;
}
