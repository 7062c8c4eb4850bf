/*
 * The collector's HTTP side, on its own listener (nng's HTTP server):
 * /metrics (Prometheus text), /healthz (200 while the process serves) and
 * /readyz (200 only when agents can be served: listening, not draining,
 * database connected; else 503 and a one-line reason).
 */
#ifndef COLLECTOR_HTTP_H
#define COLLECTOR_HTTP_H

#include "collector.h"

/*
 * Starts serving c->opt.http_listen ("" = off: returns 0). Returns 0, or
 * FP_EINVAL (bad URL) / FP_ENNG (cannot listen, logged) / FP_ENOMEM.
 */
int collector_http_start(struct collector *c);
/* Stops the server and waits for running handlers; no-op if not started. */
void collector_http_stop(struct collector *c);

/* The /readyz decision: NULL when ready, else the reason. */
const char *collector_not_ready(struct collector *c);

#endif
