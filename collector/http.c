/*
 * /metrics, /healthz and /readyz on nng's HTTP server (see http.h).
 * Handlers run on nng's threads and only read atomics (and the server's
 * lock-free counters), so a scrape never waits for the writer or the
 * database. Each response is built in a heap buffer and handed to nng.
 */
#include "http.h"
#include "fp/error.h"
#include "fp/log.h"
#include "metrics.h"

#include <nng/supplemental/http/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX (64 * 1024)

const char *collector_not_ready(struct collector *c)
{
	if (!atomic_load(&c->listening))
		return "not listening (starting or draining)";
	if (!atomic_load(&c->db_up))
		return "database unavailable";
	return NULL;
}

/* Completes the handler's aio with a text response. */
static void respond(nng_aio *aio, uint16_t status, const char *type,
		    const char *body, size_t len)
{
	nng_http_res *res;
	int rv;

	if ((rv = nng_http_res_alloc(&res)) != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	if ((rv = nng_http_res_set_status(res, status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", type)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Cache-Control", "no-store")) !=
		    0 ||
	    (rv = nng_http_res_copy_data(res, body, len)) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static struct collector *handler_collector(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	return nng_http_handler_get_data(h);
}

static void on_metrics(nng_aio *aio)
{
	struct collector *c = handler_collector(aio);
	char *buf = malloc(METRICS_MAX);
	size_t len;

	if (buf == NULL) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	len = collector_metrics_render(c, buf, METRICS_MAX);
	if (len == 0) {
		static const char msg[] = "metrics exceed the buffer\n";
		respond(aio, 500, "text/plain; charset=utf-8", msg,
			sizeof(msg) - 1);
	} else {
		respond(aio, 200, "text/plain; version=0.0.4; charset=utf-8",
			buf, len);
	}
	free(buf);
}

static void on_healthz(nng_aio *aio)
{
	static const char ok[] = "ok\n";
	respond(aio, 200, "text/plain; charset=utf-8", ok, sizeof(ok) - 1);
}

static void on_readyz(nng_aio *aio)
{
	struct collector *c = handler_collector(aio);
	const char *why = collector_not_ready(c);
	char body[160];
	int n;

	if (why == NULL) {
		n = snprintf(body, sizeof(body), "ready\n");
		respond(aio, 200, "text/plain; charset=utf-8", body, (size_t)n);
		return;
	}
	n = snprintf(body, sizeof(body), "not ready: %s\n", why);
	respond(aio, 503, "text/plain; charset=utf-8", body, (size_t)n);
}

int collector_http_start(struct collector *c)
{
	static const struct {
		const char *path;
		void (*cb)(nng_aio *);
	} routes[] = {
		{"/metrics", on_metrics},
		{"/healthz", on_healthz},
		{"/readyz", on_readyz},
	};
	const char *listen = c->opt.http_listen;
	nng_url *url;
	int rv;

	if (listen == NULL || listen[0] == '\0')
		return 0;
	if ((rv = nng_url_parse(&url, listen)) != 0) {
		fp_err("bad HTTP URL %s: %s", listen, nng_strerror(rv));
		return FP_EINVAL;
	}
	rv = nng_http_server_hold(&c->http, url);
	nng_url_free(url);
	if (rv != 0) {
		fp_err("cannot serve HTTP on %s: %s", listen, nng_strerror(rv));
		c->http = NULL;
		return FP_ENNG;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		nng_http_handler *h;
		if ((rv = nng_http_handler_alloc(&h, routes[i].path,
						 routes[i].cb)) != 0)
			goto err_release;
		if ((rv = nng_http_handler_set_data(h, c, NULL)) != 0 ||
		    (rv = nng_http_server_add_handler(c->http, h)) != 0) {
			nng_http_handler_free(h);
			goto err_release;
		}
	}
	if ((rv = nng_http_server_start(c->http)) != 0)
		goto err_release;
	fp_notice("serving /metrics, /healthz, /readyz on %s", listen);
	return 0;

err_release:
	fp_err("cannot serve HTTP on %s: %s", listen, nng_strerror(rv));
	nng_http_server_release(c->http);
	c->http = NULL;
	return rv == NNG_ENOMEM ? FP_ENOMEM : FP_ENNG;
}

void collector_http_stop(struct collector *c)
{
	if (c->http == NULL)
		return;
	nng_http_server_stop(c->http);
	nng_http_server_release(c->http);
	c->http = NULL;
}
