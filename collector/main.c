/*
 * fleetprof-collector: receives agents' batches over nng and merges them,
 * exactly once, into PostgreSQL. Thin: configuration in config.c, the work
 * in server.c, writer.c and http.c. The main thread owns the configuration
 * and handles signals: SIGHUP reloads, SIGTERM/SIGINT drain (commit and
 * reply what is queued, bounded by drain_timeout) and exit 0.
 */
#include "collector.h"
#include "config.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "http.h"
#include "sdnotify.h"
#include "storage/storage.h"
#include "tls.h"

#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef FP_VERSION
#define FP_VERSION "0"
#endif

/* --check-config: the TLS files are loaded too, as the server would. */
static int check_config(const struct collector_config *cfg)
{
	nng_tls_config *tls = NULL;
	char err[512];

	if (cfg->opt.tls_cert_file != NULL) {
		if (collector_tls_load(&cfg->opt, &tls, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "fleetprof-collector: error: %s\n",
				err);
			return 2;
		}
		nng_tls_config_free(tls);
	}
	collector_config_print(cfg, stdout);
	return 0;
}

static int migrate(const struct collector_config *cfg)
{
	PGconn *conn;
	char err[256];
	int rc;

	rc = storage_connect(cfg->opt.conninfo, &conn, err, sizeof(err));
	if (rc != 0) {
		fp_err("cannot connect to the database: %s", err);
		return 1;
	}
	rc = storage_migrate(conn);
	PQfinish(conn);
	if (rc != 0) {
		fp_err("migration failed: %s", fp_strerror(rc));
		return 1;
	}
	fp_notice("schema is at version %d", storage_schema_version_built());
	return 0;
}

static void notify(const char *state)
{
	if (collector_sd_notify(state) != 0)
		fp_warn("cannot notify systemd (%s)", state);
}

static void log_stopped(struct collector *c)
{
	fp_notice("stopped: %llu acked, %llu duplicate, %llu rejected",
		  (unsigned long long)atomic_load(&c->stats.acked),
		  (unsigned long long)atomic_load(&c->stats.duplicates),
		  (unsigned long long)atomic_load(&c->stats.rejected));
}

/*
 * libnng 1.5.2 (Debian 12) can deadlock in nng_close() when peers are still
 * connected and sending (nanomsg/nng#1543, #1813): seen here about once in
 * 15 stops under load. Shutdown runs only after the drain, when every batch
 * is committed and answered, so the watchdog may end the process: after
 * SHUTDOWN_BOUND_S it logs what hung and exits 0 with nothing lost.
 */
#define SHUTDOWN_BOUND_S 5

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;
static pthread_t wd_thr;
static int wd_done;    /* the main thread finished shutdown */
static int wd_expired; /* the watchdog took over */

static void *watchdog_main(void *arg)
{
	struct collector *c = arg;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += SHUTDOWN_BOUND_S;
	pthread_mutex_lock(&wd_lock);
	while (!wd_done)
		if (pthread_cond_timedwait(&wd_cond, &wd_lock, &ts) != 0)
			break;
	if (!wd_done) {
		wd_expired = 1;
		pthread_mutex_unlock(&wd_lock);
		fp_warn("shutdown: closing the nng socket did not finish in "
			"%d s (a known libnng 1.5 deadlock); every batch was "
			"answered, exiting",
			SHUTDOWN_BOUND_S);
		log_stopped(c);
		_exit(0);
	}
	pthread_mutex_unlock(&wd_lock);
	return NULL;
}

static void watchdog_start(struct collector *c)
{
	if (pthread_create(&wd_thr, NULL, watchdog_main, c) != 0)
		wd_thr = pthread_self(); /* unguarded, as before */
}

/* Returns nonzero when the watchdog has already taken over. */
static int watchdog_stop(void)
{
	int expired;

	pthread_mutex_lock(&wd_lock);
	wd_done = 1;
	expired = wd_expired;
	pthread_cond_broadcast(&wd_cond);
	pthread_mutex_unlock(&wd_lock);
	if (!expired && !pthread_equal(wd_thr, pthread_self()))
		pthread_join(wd_thr, NULL);
	return expired;
}

/* Serves until SIGTERM/SIGINT; returns the exit status. */
static int serve(struct collector_config *cfg, int argc, char **argv)
{
	static struct collector c;
	sigset_t set;
	char state[64];
	int rc, sig;

	/* Signals go to the main thread only (sigwait below). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	collector_init(&c);
	c.opt = cfg->opt; /* strings stay owned by cfg */
	if ((rc = collector_writer_start(&c)) != 0) {
		fp_err("cannot start the writer: %s", fp_strerror(rc));
		return 1;
	}
	if ((rc = collector_server_start(&c)) != 0) {
		collector_writer_stop(&c);
		return 1;
	}
	/* The default HTTP port may be taken (another collector on the
	 * host): serve without it. A port asked for must work. */
	if (collector_http_start(&c) != 0) {
		if (collector_config_source(cfg, "http", "listen") !=
		    COLLECTOR_SRC_DEFAULT) {
			collector_server_stop(&c);
			collector_writer_stop(&c);
			return 1;
		}
		fp_warn("continuing without /metrics, /healthz and /readyz: "
			"set [http] listen to a free port");
	}
	notify("READY=1\nSTATUS=serving");
	fp_notice("ready");
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		snprintf(state, sizeof(state),
			 "RELOADING=1\nMONOTONIC_USEC=%lld",
			 (long long)(fp_mono_ns() / 1000));
		notify(state);
		fp_notice("SIGHUP: reloading the configuration");
		collector_reload(&c, cfg, argc, argv);
		notify("READY=1\nSTATUS=serving");
	}
	notify("STOPPING=1");
	fp_notice("draining (signal %d)", sig);
	collector_server_drain(&c);
	if (collector_server_drain_wait(
		    &c, fp_mono_ns() + c.opt.drain_timeout_ns) != 0) {
		/* Unanswered batches are not lost: their senders resend,
		 * and any that did commit become duplicates. */
		fp_err("drain timed out: %llu batch(es) not answered; "
		       "exiting anyway",
		       (unsigned long long)atomic_load(
			       &c.stats.pending_batches));
		_exit(1);
	}
	/* Drained: every batch is committed and answered, so from here on
	 * nothing can be lost, and the rest of shutdown is bounded. */
	watchdog_start(&c);
	collector_writer_stop(&c);
	collector_server_stop(&c);
	collector_http_stop(&c);
	if (watchdog_stop() != 0)
		for (;;)
			pause(); /* the watchdog is ending the process */
	log_stopped(&c);
	collector_fini(&c);
	return 0;
}

int main(int argc, char **argv)
{
	static struct collector_config cfg;
	char err[1024];
	int rc;

	fp_log_set_ident("fleetprof-collector");
	rc = collector_config_load(&cfg, argc, argv, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr,
			"fleetprof-collector: error: %s\n"
			"hint: see fleetprof-collector --help\n",
			err);
		rc = 2;
	} else if (cfg.help) {
		collector_config_usage(stdout);
	} else if (cfg.version) {
		printf("fleetprof-collector %s\n", FP_VERSION);
	} else if (cfg.check_config) {
		rc = check_config(&cfg);
	} else {
		fp_log_set_level(cfg.opt.log_level);
		rc = cfg.migrate ? migrate(&cfg) : serve(&cfg, argc, argv);
	}
	collector_config_fini(&cfg);
	return rc;
}
