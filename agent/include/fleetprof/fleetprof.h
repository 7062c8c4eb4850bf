/*
 * fleetprof agent: times instrumented calls in this process and pushes the
 * aggregates to a fleetprof collector. The only header users include.
 *
 *	#include <fleetprof/fleetprof.h>
 *	int parse(…) { FP_FUNCTION(); … }          // times the whole function
 *	{ FP_SCOPE("load config"); … }             // times the rest of a block
 *	fp_init(NULL); … fp_shutdown();            // configured by FLEETPROF_*
 *
 * The agent is a guest: no call here aborts, blocks the caller for long, or
 * writes to stdout. fp_enter/fp_exit take no lock and, once a call path has
 * been seen, allocate nothing. Errors are negative FP_E* codes (see
 * fp_strerror).
 */
#ifndef FLEETPROF_FLEETPROF_H
#define FLEETPROF_FLEETPROF_H

#ifdef __cplusplus
extern "C" {
#endif

#define FP_API __attribute__((visibility("default")))

/* A call site: one static const instance per FP_FUNCTION/FP_SCOPE; its
 * address is its identity. */
struct fp_site {
	const char *name;
	const char *file;
	int line;
};

/*
 * Configuration; any NULL/0 field falls back to the environment, then to the
 * default. Environment variables:
 *   FLEETPROF_COLLECTOR  comma-separated nng URLs (tcp://127.0.0.1:7450)
 *   FLEETPROF_SERVICE    service name (the program's name)
 *   FLEETPROF_HOST       host name (gethostname())
 *   FLEETPROF_INTERVAL   seconds between flushes, decimals allowed (10)
 *   FLEETPROF_LABELS     k=v,k=v
 *   FLEETPROF_EXIT_TIMEOUT_MS  bounded wait for delivery at shutdown (3000)
 *   FLEETPROF_TOKEN      shared token sent with every batch
 *   FLEETPROF_LOG        agent log level on stderr (warning)
 *   FLEETPROF_CLOCK      wall (default) or cpu; see README, "Clocks"
 *   FLEETPROF_MAX_MEMORY bytes for trees and unsent batches (unlimited)
 *   FLEETPROF_MAX_DEPTH, FLEETPROF_MAX_NODES  per-thread limits (512, 65536)
 * With FLEETPROF_COLLECTOR set, the agent starts itself when the library
 * loads (linked or LD_PRELOADed); fp_init(NULL) is then a no-op.
 */
struct fp_config {
	const char *collector;
	const char *service;
	const char *host;
	const char *labels;
	double interval_s;
	int exit_timeout_ms;
};

/* Starts the agent (flush thread, transport). cfg may be NULL. Calling it
 * again is a no-op with cfg NULL (0) and FP_ESTATE otherwise. Calls timed
 * before fp_init are kept and sent. */
FP_API int fp_init(const struct fp_config *cfg);

/* Final flush of every thread's data, then waits at most the exit timeout
 * for the collector's acks; stops the flush thread. Registered with atexit()
 * by fp_init, so calling it is optional. Idempotent. */
FP_API int fp_shutdown(void);

/* Flush now (synchronously build a batch; delivery stays asynchronous). */
FP_API int fp_flush(void);

/*
 * Explicit enter/exit for code that cannot use the cleanup attribute. Every
 * fp_enter must be matched by one fp_exit on the same thread, in the same
 * function. fp_exit_site names the site that returns, which lets the agent
 * close frames a longjmp skipped even when they belong to the same stack
 * depth (FP_FUNCTION/FP_SCOPE use it).
 */
FP_API void fp_enter(const struct fp_site *site);
FP_API void fp_exit(void);
FP_API void fp_exit_site(const struct fp_site *site);

/*
 * For interpreters (the Python agent): like fp_enter/fp_exit_site, for calls
 * that are strictly nested but not on the C stack. Such a frame is never
 * closed by the longjmp check; each enter must be matched by one exit on the
 * same thread. site must stay valid for the process's life.
 */
FP_API void fp_enter_nested(const struct fp_site *site);
FP_API void fp_exit_nested(const struct fp_site *site);

FP_API const char *fp_strerror(int err);

/* Counters for tests and health checks (process-wide). */
struct fp_stats {
	unsigned long long batches_sent;    /* acked by a collector */
	unsigned long long batches_dropped; /* lost (queue full, rejected) */
	unsigned long long batches_queued;  /* waiting for an ack */
	unsigned long long events_dropped;  /* enters past depth/node limits */
	unsigned long long stack_repairs;   /* frames closed after longjmp */
	unsigned long long threads;	    /* threads with a call tree */
	unsigned long long memory_bytes;    /* trees + queue (see
					       FLEETPROF_MAX_MEMORY) */
};
FP_API void fp_get_stats(struct fp_stats *out);

static inline void fp_scope_cleanup_(const struct fp_site *const *site)
{
	fp_exit_site(*site);
}

#define FP_CONCAT2_(a, b) a##b
#define FP_CONCAT_(a, b) FP_CONCAT2_(a, b)

#ifndef FLEETPROF_DISABLE
/* Times the enclosing function from here until it returns. */
#define FP_FUNCTION() FP_SCOPE_NAMED_(__func__)
/* Times the rest of the enclosing block under `name` (a string literal). */
#define FP_SCOPE(name) FP_SCOPE_NAMED_(name)
#define FP_SCOPE_NAMED_(name)                                          \
	static const struct fp_site FP_CONCAT_(fp_site_, __LINE__) = { \
		(name), __FILE__, __LINE__};                           \
	const struct fp_site *const FP_CONCAT_(fp_scope_, __LINE__)    \
		__attribute__((cleanup(fp_scope_cleanup_), unused)) =  \
			(fp_enter(&FP_CONCAT_(fp_site_, __LINE__)),    \
			 &FP_CONCAT_(fp_site_, __LINE__))
#else
#define FP_FUNCTION() ((void)0)
#define FP_SCOPE(name) ((void)0)
#endif

#ifdef __cplusplus
}
#endif

#endif
