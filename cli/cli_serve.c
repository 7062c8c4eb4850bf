/*
 * `fleetprof serve` (see cli_serve.h). Design notes:
 * - Threads: nng's handler threads only route, check the Host header, parse
 *   the query and queue the request; SERVE_WORKERS threads of ours run the
 *   queries (cli_api_run: a connection and a snapshot per request, in the
 *   read-only role) and complete the request's aio, so a slow query never
 *   holds one of nng's threads. The queue is bounded: past it, 503.
 * - Signals: SIGINT and SIGTERM are blocked before any thread starts, so
 *   every thread inherits the mask; the calling thread takes them with
 *   sigwait(), then stops the server, lets the workers finish what they
 *   run (queued requests get 503) and joins them.
 * - Lifetime: nng may still call a handler just after the server stopped,
 *   so the state is reference-counted: one reference for the caller, one
 *   per registered handler (dropped by nng's handler destructor).
 * - Loopback: bound to loopback, the server answers only requests whose
 *   Host is a loopback name, so a web page elsewhere cannot reach it
 *   through a DNS name rebound to 127.0.0.1.
 */
#include "cli_serve.h"
#include "cli.h"
#include "cli_serve_api.h"
#include "cli_usage.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "storage/query.h"
#include "storage/storage.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SERVE_WORKERS 4
#define SERVE_QUEUE_MAX 64
#define SERVE_LOG_URI 300 /* bytes of a request's URI in the log */

/* The page's files, embedded at build time (cmake/embed.cmake). */
struct fp_embedded {
	const char *name;
	const char *data;
	size_t len;
};
extern const struct fp_embedded cli_web_files[];

const char cli_serve_summary[] =
	"the web page: hotspots, icicle graph, diff, timeline; JSON API";

const char cli_serve_usage[] =
	"usage: fleetprof serve [options]\n"
	"\n"
	"Serve a web page over the database: the hotspots as a sortable\n"
	"table (pstats' columns), every call path as an icicle graph (click\n"
	"to zoom), what got slower or faster than in a base window, and a\n"
	"function's timeline. A JSON API under /api/ backs it: /api/top,\n"
	"/api/flame, /api/diff, /api/timeline, /api/callers, /api/callees,\n"
	"/api/hosts and /api/services take the options of the command of\n"
	"the same name as parameters (/api/top?since=1h&host=web-*) and\n"
	"answer what it prints with --format json. The page and its scripts\n"
	"are built into the program; nothing is fetched from the network.\n"
	"\n"
	"options:\n"
	"  --listen URL       where to listen "
	"(default: " CLI_SERVE_DEFAULT_LISTEN ");\n"
	"                     http:// only. There is no authentication: keep\n"
	"                     it on loopback, or name another address\n"
	"                     knowingly\n"
	"  --db CONNINFO      libpq conninfo or URL (default: "
	"$FLEETPROF_DB,\n"
	"                     then libpq's PG* variables); every request\n"
	"                     assumes the read-only role fleetprof_reader\n"
	"                     when the login user is a member of it\n"
	"  -v, --verbose      log every request, and the database's messages\n"
	"  -h, --help         show this help and exit\n"
	"\n"
	"Stops on SIGINT (Ctrl-C) or SIGTERM. Exit status: 0 when stopped by\n"
	"a signal, 1 when it cannot listen, 2 usage error.\n";

struct serve;

/* What a handler serves; nng holds a pointer to it. */
struct route {
	struct serve *s;
	const struct fp_embedded *file; /* NULL: the API */
	const char *type;
};

struct job {
	struct job *next;
	nng_aio *aio;
	struct cli_api_call call;
	char line[SERVE_LOG_URI + 16]; /* "GET /api/top?…" for the log */
	int64_t t0;
};

struct serve {
	atomic_int refs;
	nng_http_server *http;
	const char *db; /* NULL: FLEETPROF_DB, then PG* */
	FILE *err;
	int verbose;
	int loopback; /* check the Host header */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail; /* FIFO, under mu */
	size_t queued;
	int stopping;
	pthread_t workers[SERVE_WORKERS];
	size_t nworkers;
	struct route *routes;
	size_t nroutes;
};

struct serve_args {
	const char *listen;
	const char *db;
	int verbose;
	int help;
};

static void serve_unref(struct serve *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->routes);
	free(s);
}

/* nng's destructor of a handler's data. */
static void route_release(void *arg)
{
	struct route *r = arg;
	serve_unref(r->s);
}

static const char *type_of(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{".html", "text/html; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".svg", "image/svg+xml"},
	};
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t k = strlen(types[i].ext);
		if (n > k && strcmp(name + n - k, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/*
 * Completes aio with a response. copy: the body is copied (else it must
 * outlive the response: embedded files). A page (HTML) gets a content
 * security policy that allows only this server's own files.
 */
static void respond(nng_aio *aio, uint16_t status, const char *type,
		    const void *body, size_t len, int copy)
{
	static const char csp[] =
		"default-src 'none'; script-src 'self'; style-src 'self'; "
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
		"form-action 'none'; frame-ancestors 'none'";
	const int html = strncmp(type, "text/html", 9) == 0;
	nng_http_res *res;
	int rv;

	if ((rv = nng_http_res_alloc(&res)) != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	if ((rv = nng_http_res_set_status(res, status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", type)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Cache-Control",
					  html || copy ? "no-store"
						       : "no-cache")) != 0 ||
	    (rv = nng_http_res_set_header(res, "X-Content-Type-Options",
					  "nosniff")) != 0 ||
	    (rv = nng_http_res_set_header(res, "Referrer-Policy",
					  "no-referrer")) != 0 ||
	    (html && (rv = nng_http_res_set_header(
			      res, "Content-Security-Policy", csp)) != 0) ||
	    (html && (rv = nng_http_res_set_header(res, "X-Frame-Options",
						   "DENY")) != 0) ||
	    (rv = copy ? nng_http_res_copy_data(res, body, len)
		       : nng_http_res_set_data(res, body, len)) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void respond_reply(nng_aio *aio, const struct cli_api_reply *r)
{
	static const char none[] = "{}\n";

	if (r->body == NULL)
		respond(aio, (uint16_t)r->status, "application/json", none,
			sizeof(none) - 1, 0);
	else
		respond(aio, (uint16_t)r->status, "application/json", r->body,
			r->len, 1);
}

/* Answers status with {"error": msg, "hint": hint}. */
static void respond_error(nng_aio *aio, int status, const char *msg,
			  const char *hint)
{
	struct cli_api_reply r;
	struct cli_error e;

	cli_error_clear(&e);
	cli_error_set(&e, "%s", msg);
	cli_error_hint(&e, "%s", hint);
	cli_api_error(&r, status, &e);
	respond_reply(aio, &r);
	cli_api_reply_fini(&r);
}

/* "METHOD URI" for the log, cut, control characters as '?'. */
static void log_line(char *buf, size_t len, const char *method, const char *uri)
{
	snprintf(buf, len, "%s %.*s", method, SERVE_LOG_URI, uri);
	for (char *p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void log_request(struct serve *s, const char *line, int status,
			int64_t t0)
{
	if (s->verbose)
		fprintf(s->err, "fleetprof: %s -> %d (%.1f ms)\n", line, status,
			(double)(fp_mono_ns() - t0) / 1e6);
}

/* 1 if host (an address or a name, without brackets) is loopback. */
static int is_loopback(const char *host)
{
	unsigned char a[16];

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
	return 0;
}

/* The Host header's name is loopback ("localhost:8080", "[::1]:80"). */
static int host_header_ok(const char *h)
{
	char name[256];
	const char *end;
	size_t n;

	if (h == NULL)
		return 1; /* HTTP/1.0: no browser sends it */
	if (h[0] == '[') {
		h++;
		end = strchr(h, ']');
	} else {
		end = strrchr(h, ':');
		if (end == NULL)
			end = h + strlen(h);
	}
	if (end == NULL || (n = (size_t)(end - h)) == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, h, n);
	name[n] = '\0';
	return is_loopback(name);
}

static int enqueue(struct serve *s, struct job *j)
{
	pthread_mutex_lock(&s->mu);
	if (s->stopping || s->queued >= SERVE_QUEUE_MAX) {
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	j->next = NULL;
	if (s->tail != NULL)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->queued++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void job_free(struct job *j)
{
	cli_api_call_fini(&j->call);
	free(j);
}

/* /api/…: checked and queued here, on nng's thread; run by a worker. */
static void on_api(struct serve *s, nng_aio *aio, const char *method,
		   const char *uri)
{
	const char *q = strchr(uri, '?'), *name = "";
	size_t plen = q != NULL ? (size_t)(q - uri) : strlen(uri);
	char ep[32];
	struct cli_api_reply r;
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	j->t0 = fp_mono_ns();
	log_line(j->line, sizeof(j->line), method, uri);
	/* "/api/<name>"; anything longer or deeper is no endpoint. */
	if (plen > 5 && plen - 5 < sizeof(ep) &&
	    strncmp(uri, "/api/", 5) == 0) {
		memcpy(ep, uri + 5, plen - 5);
		ep[plen - 5] = '\0';
		name = ep;
	}
	if (cli_api_prepare(name, q != NULL ? q + 1 : NULL, s->db, &j->call,
			    &r) != 0) {
		respond_reply(aio, &r);
		log_request(s, j->line, r.status, j->t0);
		cli_api_reply_fini(&r);
		job_free(j);
		return;
	}
	j->aio = aio;
	if (enqueue(s, j) != 0) {
		respond_error(aio, 503, "the server is busy or stopping",
			      "retry in a moment");
		log_request(s, j->line, 503, j->t0);
		job_free(j);
	}
}

/* Every handler's callback, on one of nng's threads. */
static void on_request(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct route *rt = nng_http_handler_get_data(h);
	struct serve *s = rt->s;
	const char *uri = nng_http_req_get_uri(req);
	const char *method = nng_http_req_get_method(req);

	/* An absolute-form target ("http://host/path"): keep the path. */
	if (strncasecmp(uri, "http://", 7) == 0)
		uri = strchr(uri + 7, '/') != NULL ? strchr(uri + 7, '/') : "/";
	if (s->loopback &&
	    !host_header_ok(nng_http_req_get_header(req, "Host"))) {
		respond_error(aio, 403,
			      "this server answers only to loopback "
			      "names",
			      "open it as http://127.0.0.1:PORT/ or "
			      "http://localhost:PORT/; to serve other names, "
			      "listen on another address with --listen");
		return;
	}
	if (rt->file != NULL) {
		char line[SERVE_LOG_URI + 16];
		respond(aio, 200, rt->type, rt->file->data, rt->file->len, 0);
		if (s->verbose) {
			log_line(line, sizeof(line), method, uri);
			fprintf(s->err, "fleetprof: %s -> 200\n", line);
		}
		return;
	}
	on_api(s, aio, method, uri);
}

static void *worker_main(void *arg)
{
	struct serve *s = arg;

	for (;;) {
		struct cli_api_reply r;
		struct job *j;
		int stopping;

		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		j = s->head;
		if (j != NULL) {
			s->head = j->next;
			if (s->head == NULL)
				s->tail = NULL;
			s->queued--;
		}
		stopping = s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (j == NULL)
			return NULL;
		if (stopping) {
			struct cli_error e;
			cli_error_clear(&e);
			cli_error_set(&e, "the server is stopping");
			cli_error_hint(&e, "retry when it is back");
			cli_api_error(&r, 503, &e);
		} else {
			cli_api_run(&j->call, &r);
		}
		respond_reply(j->aio, &r);
		log_request(s, j->line, r.status, j->t0);
		cli_api_reply_fini(&r);
		job_free(j);
	}
}

static int usage_error(struct cli_error *e, const char *fmt, const char *arg)
{
	cli_error_set(e, fmt, arg);
	cli_error_hint(e, "run 'fleetprof serve --help' for the options");
	return CLI_EXIT_USAGE;
}

static int parse(int argc, char **argv, struct serve_args *a,
		 struct cli_error *e)
{
	memset(a, 0, sizeof(*a));
	a->listen = CLI_SERVE_DEFAULT_LISTEN;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *v = NULL, *eq;
		size_t len;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			a->help = 1;
			return CLI_EXIT_OK;
		}
		if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
			a->verbose = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			return usage_error(e,
					   arg[0] == '-'
						   ? "unknown option '%s'"
						   : "unexpected argument "
						     "'%s'",
					   arg);
		eq = strchr(arg + 2, '=');
		len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		if (!((len == 6 && strncmp(arg + 2, "listen", 6) == 0) ||
		      (len == 2 && strncmp(arg + 2, "db", 2) == 0)))
			return usage_error(e, "unknown option '%s'", arg);
		if (eq != NULL)
			v = eq + 1;
		else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
			v = argv[++i];
		else
			return usage_error(e, "option '%s' needs a value", arg);
		if (len == 2)
			a->db = v;
		else
			a->listen = v;
	}
	return CLI_EXIT_OK;
}

/*
 * Checks the --listen URL: http://HOST:PORT with no path. Writes whether
 * HOST is loopback. CLI_EXIT_OK or CLI_EXIT_USAGE with e filled.
 */
static int check_listen(const char *listen, int *loopback, struct cli_error *e)
{
	nng_url *u;
	int rv, bad_path;

	if ((rv = nng_url_parse(&u, listen)) != 0) {
		cli_error_set(e, "invalid URL '%s' for --listen", listen);
		cli_error_hint(e, "give http://HOST:PORT, e.g. "
				  "http://127.0.0.1:8080");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(u->u_scheme, "http") != 0) {
		cli_error_set(e, "cannot serve '%s': only http:// URLs",
			      listen);
		cli_error_hint(e, "give http://HOST:PORT, e.g. "
				  "http://127.0.0.1:8080; for https, put a TLS "
				  "proxy in front");
		nng_url_free(u);
		return CLI_EXIT_USAGE;
	}
	bad_path = u->u_path[0] != '\0' && strcmp(u->u_path, "/") != 0;
	bad_path |= u->u_query != NULL || u->u_fragment != NULL;
	*loopback = is_loopback(u->u_hostname);
	nng_url_free(u);
	if (bad_path) {
		cli_error_set(e, "cannot serve '%s': the page is served at /",
			      listen);
		cli_error_hint(e, "give http://HOST:PORT without a path");
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* Connects once to say early when the database is not there. */
static void check_db(const struct serve_args *a, FILE *err)
{
	char errbuf[512];
	PGconn *c = NULL;
	int role = 0;

	if (storage_connect(a->db, &c, errbuf, sizeof(errbuf)) != 0) {
		fprintf(err,
			"fleetprof: warning: cannot connect to the database "
			"(yet): /api/ answers 503 until it can\n");
		if (a->verbose)
			fprintf(err, "detail: %s\n", errbuf);
		return;
	}
	if (storage_read_role(c, &role) == 0 && a->verbose)
		fprintf(err,
			role ? "fleetprof: connected as %s; requests run as "
			       "the read-only role fleetprof_reader\n"
			     : "fleetprof: connected as %s; role "
			       "fleetprof_reader is not available: requests "
			       "read in read-only transactions\n",
			PQuser(c));
	PQfinish(c);
}

/* Registers one handler for path; takes a reference for it. */
static int add_route(struct serve *s, const char *path, struct route *r,
		     int tree)
{
	nng_http_handler *h;
	int rv;

	if ((rv = nng_http_handler_alloc(&h, path, on_request)) != 0)
		return rv;
	if (tree && (rv = nng_http_handler_set_tree(h)) != 0) {
		nng_http_handler_free(h);
		return rv;
	}
	/* A request body is never read: refuse any. */
	if ((rv = nng_http_handler_collect_body(h, true, 0)) != 0 ||
	    (rv = nng_http_handler_set_data(h, r, route_release)) != 0) {
		nng_http_handler_free(h);
		return rv;
	}
	atomic_fetch_add(&s->refs, 1);
	if ((rv = nng_http_server_add_handler(s->http, h)) != 0) {
		nng_http_handler_free(h); /* drops the reference */
		return rv;
	}
	return 0;
}

/* Every route: "/" and each embedded file, then the API tree. */
static int add_routes(struct serve *s)
{
	const struct fp_embedded *index = NULL;
	size_t nfiles = 0, k = 0;
	char path[128];
	int rv;

	for (const struct fp_embedded *f = cli_web_files; f->name; f++) {
		nfiles++;
		if (strcmp(f->name, "index.html") == 0)
			index = f;
	}
	s->routes = calloc(nfiles + 2, sizeof(*s->routes));
	if (s->routes == NULL)
		return NNG_ENOMEM;
	for (size_t i = 0; i < nfiles + 2; i++)
		s->routes[i].s = s;
	if (index != NULL) {
		s->routes[k].file = index;
		s->routes[k].type = type_of(index->name);
		if ((rv = add_route(s, "/", &s->routes[k++], 0)) != 0)
			return rv;
	}
	for (const struct fp_embedded *f = cli_web_files; f->name; f++) {
		snprintf(path, sizeof(path), "/%s", f->name);
		s->routes[k].file = f;
		s->routes[k].type = type_of(f->name);
		if ((rv = add_route(s, path, &s->routes[k++], 0)) != 0)
			return rv;
	}
	return add_route(s, "/api", &s->routes[k], 1);
}

/* "http://HOST:PORT/" as bound (the port may have been 0). */
static void bound_url(struct serve *s, const char *listen, char *buf,
		      size_t len)
{
	nng_sockaddr sa;
	nng_url *u;
	int port = -1;

	if (nng_http_server_get_addr(s->http, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET)
			port = ntohs(sa.s_in.sa_port);
		else if (sa.s_family == NNG_AF_INET6)
			port = ntohs(sa.s_in6.sa_port);
	}
	if (nng_url_parse(&u, listen) != 0) {
		snprintf(buf, len, "%s", listen);
		return;
	}
	if (port <= 0 && u->u_port != NULL)
		port = (int)strtol(u->u_port, NULL, 10);
	snprintf(buf, len, "http://%s%s%s:%d/",
		 strchr(u->u_hostname, ':') != NULL ? "[" : "", u->u_hostname,
		 strchr(u->u_hostname, ':') != NULL ? "]" : "", port);
	nng_url_free(u);
}

static struct serve *serve_create(const struct serve_args *a, FILE *err,
				  int loopback)
{
	struct serve *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	s->db = a->db;
	s->err = err;
	s->verbose = a->verbose;
	s->loopback = loopback;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return NULL;
	}
	if (pthread_cond_init(&s->cv, NULL) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	return s;
}

/* Stops the workers: queued requests get 503, running ones finish. */
static void stop_workers(struct serve *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	s->nworkers = 0;
}

/* Serves until a signal in set arrives; CLI_EXIT_OK, or RUNTIME with e. */
static int run(const struct serve_args *a, int loopback, const sigset_t *set,
	       FILE *out, FILE *err, struct cli_error *e)
{
	struct serve *s = serve_create(a, err, loopback);
	char url[300];
	nng_url *u = NULL;
	int rv = 0, sig = 0, status = CLI_EXIT_RUNTIME;

	if (s == NULL) {
		cli_error_set(e, "out of memory");
		return CLI_EXIT_RUNTIME;
	}
	for (size_t i = 0; i < SERVE_WORKERS; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
			break;
		s->nworkers++;
	}
	if (s->nworkers == 0) {
		cli_error_set(e, "cannot start worker threads");
		goto out_unref;
	}
	if ((rv = nng_url_parse(&u, a->listen)) != 0 ||
	    (rv = nng_http_server_hold(&s->http, u)) != 0) {
		s->http = NULL;
		goto out_listen;
	}
	if ((rv = add_routes(s)) != 0 ||
	    (rv = nng_http_server_start(s->http)) != 0)
		goto out_listen;
	bound_url(s, a->listen, url, sizeof(url));
	fprintf(out, "fleetprof: serving %s (Ctrl-C stops)\n", url);
	fflush(out);
	if (!loopback)
		fprintf(err,
			"fleetprof: warning: listening on %s, not only on "
			"loopback: anyone who can reach it can read the "
			"profiles (there is no authentication)\n",
			url);
	check_db(a, err);
	while (sigwait(set, &sig) != 0)
		;
	if (a->verbose)
		fprintf(err, "fleetprof: stopping (%s)\n",
			sig == SIGINT ? "SIGINT" : "SIGTERM");
	status = CLI_EXIT_OK;
	goto out_stop;

out_listen:
	cli_error_set(e, "cannot listen on %s: %s", a->listen,
		      nng_strerror(rv));
	if (rv == NNG_EADDRINUSE)
		cli_error_hint(e, "another program uses that port; choose "
				  "another with --listen http://HOST:PORT");
	else
		cli_error_hint(e, "check the address in --listen");
out_stop:
	if (s->http != NULL)
		nng_http_server_stop(s->http);
	stop_workers(s);
	if (s->http != NULL)
		nng_http_server_release(s->http);
out_unref:
	stop_workers(s);
	if (u != NULL)
		nng_url_free(u);
	serve_unref(s);
	return status;
}

int cli_serve_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct timespec zero = {0, 0};
	struct serve_args a;
	struct cli_error e;
	sigset_t set, old;
	int status, loopback = 1;

	cli_error_clear(&e);
	status = parse(argc, argv, &a, &e);
	if (status == CLI_EXIT_OK && a.help) {
		fputs(cli_serve_usage, out);
		return CLI_EXIT_OK;
	}
	if (status != CLI_EXIT_OK) {
		cli_error_print(&e, err);
		return status;
	}
	/* Before any nng call or thread (nng's, the workers): all inherit
	 * the mask, and only sigwait() below takes these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	status = check_listen(a.listen, &loopback, &e);
	if (status == CLI_EXIT_OK) {
		/* The database's own text is logged only with --verbose. */
		fp_log_set_level(a.verbose ? FP_LOG_INFO : FP_LOG_ERR - 1);
		json_object_seed(0); /* jansson's hash seed, on one thread */
		/* A request never waits long for a database that does not
		 * answer; libpq reads this unless the conninfo sets
		 * connect_timeout. */
		if (getenv("PGCONNECT_TIMEOUT") == NULL)
			setenv("PGCONNECT_TIMEOUT", "10", 0);
		status = run(&a, loopback, &set, out, err, &e);
	}
	/* A second Ctrl-C while stopping must not kill us on unblocking. */
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (status != CLI_EXIT_OK)
		cli_error_print(&e, err);
	return status;
}
