/*
 * Helpers for the collector's integration tests: start and stop a real
 * fleetprof-collector on free ports, send batches over nng REQ (plain or
 * TLS), read its HTTP endpoints and metrics, and wait for log lines.
 * Failures are cmocka test failures.
 */
#ifndef COLL_TEST_H
#define COLL_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "wire/batch.h"
#include "wire/reply.h"

struct coll {
	pid_t pid;
	int port;	  /* agents' port */
	int http_port;	  /* metrics port */
	char listen[128]; /* URL given to --listen */
	char log[256];	  /* stdout+stderr of the collector */
};

/*
 * Starts the collector: --listen scheme://127.0.0.1:<free port> (scheme
 * "tcp" or "tls+tcp"), --http on another free port, --db db (when not
 * NULL), then extra (NULL-terminated, may be NULL); env entries "K=V" (may
 * be NULL). Waits until both ports accept.
 */
void coll_start(struct coll *c, const char *scheme, const char *db,
		const char *const *extra, char *const *env);
/* SIGTERM, then the exit status (fp_test_wait) within timeout_ms. */
int coll_stop(struct coll *c, int timeout_ms);
/* coll_stop() that must end in exit status 0 within 15 s (else the log
 * is printed and the test fails). */
void coll_stop_ok(struct coll *c);
/* The exit status within timeout_ms, without sending a signal. */
int coll_wait(struct coll *c, int timeout_ms);
/*
 * Kills (SIGKILL) every collector started and not yet stopped: the
 * teardown of each test, so a failed test leaves no process behind.
 */
int coll_kill_all(void **state);

/* A batch of agent id byte `agent`, one function called 7 times, in a
 * recent minute; token may be NULL. Strings are static. */
void coll_batch(struct wire_batch *b, uint8_t agent, uint64_t seq,
		const char *token);

/*
 * Sends body to url and decodes the reply into *r. tls may be NULL.
 * Returns 0, or the nng error (NNG_ETIMEDOUT when no reply in timeout_ms).
 */
int coll_send_raw(const char *url, nng_tls_config *tls, const void *body,
		  size_t len, struct wire_reply *r, int timeout_ms);
int coll_send(const char *url, nng_tls_config *tls, const struct wire_batch *b,
	      struct wire_reply *r, int timeout_ms);

/* GET http://127.0.0.1:port/path; returns the body (malloc'd) and the
 * status; NULL when the server cannot be reached. */
char *coll_http_get(int port, const char *path, int *status);

/*
 * Value of the sample whose name-and-labels equals series exactly
 * (`fleetprof_collector_batches_rejected_total{reason="auth"}`); fails the
 * test when absent.
 */
double coll_metric(const char *body, const char *series);
/* Fetches /metrics and returns one value. */
double coll_metric_now(const struct coll *c, const char *series);

/* Copies the collector's log to stderr (for a failure's context). */
void coll_print_log(const struct coll *c);

/* 0 once the collector's log contains needle (within timeout_ms), else -1. */
int coll_log_wait(const struct coll *c, const char *needle, int timeout_ms);
/* 1 if the log contains needle now. */
int coll_log_has(const struct coll *c, const char *needle);

#endif
