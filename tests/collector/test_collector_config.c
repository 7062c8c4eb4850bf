/*
 * The collector's configuration (collector/config.c): defaults, precedence
 * flags > environment > file > defaults, every error message exactly as an
 * operator reads it (file:line, key), durations and sizes, redaction in
 * --check-config's output, and SIGHUP applying only what may change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "config.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "fp_test.h"

#define DAY (86400 * FP_NS_PER_SEC)

static char dir[64];
static char path[128];
static char err[1024];
static struct collector_config cfg;

static const char *const env_vars[] = {
	"FLEETPROF_LISTEN",    "FLEETPROF_DB",
	"FLEETPROF_TOKENS",    "FLEETPROF_HTTP_LISTEN",
	"FLEETPROF_LOG_LEVEL", "FLEETPROF_COLLECTOR_CONFIG",
};

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Loads with argv {"fleetprof-collector", args..., NULL}. */
static int load_args(const char *const *args)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = "fleetprof-collector";
	for (int i = 0; args != NULL && args[i] != NULL; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	collector_config_fini(&cfg);
	return collector_config_load(&cfg, argc, argv, err, sizeof(err));
}

/* Loads `text` as the config file (plus args). */
static int load_text(const char *text, const char *const *args)
{
	const char *a[32] = {"--config", path};
	int n = 2;
	write_file(text);
	for (int i = 0; args != NULL && args[i] != NULL; i++)
		a[n++] = args[i];
	a[n] = NULL;
	return load_args(a);
}

/* The file must be refused with exactly "<path>:<rest>". */
static void expect_file_error(const char *text, const char *rest)
{
	char want[1024];
	snprintf(want, sizeof(want), "%s:%s", path, rest);
	assert_int_not_equal(load_text(text, NULL), 0);
	assert_string_equal(err, want);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fp_cfg_test_%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/collector.ini", dir);
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	collector_config_fini(&cfg);
	unlink(path);
	rmdir(dir);
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	return 0;
}

static void test_defaults(void **state)
{
	const struct collector_options *o = &cfg.opt;
	(void)state;
	assert_int_equal(load_args(NULL), 0);
	assert_string_equal(o->listen, "tcp://127.0.0.1:7450");
	assert_string_equal(o->conninfo, "");
	assert_string_equal(o->http_listen, "http://127.0.0.1:7451");
	assert_int_equal(o->contexts, 64);
	assert_int_equal(o->commit_ms, 20);
	assert_int_equal(o->max_group, 256);
	assert_int_equal(o->max_rows, 200000);
	assert_int_equal(o->log_level, FP_LOG_NOTICE);
	assert_int_equal(o->drain_timeout_ns, 30 * FP_NS_PER_SEC);
	assert_int_equal(o->limits.max_msg_bytes, 16 << 20);
	assert_int_equal(o->max_pending_bytes, 256 << 20);
	assert_null(o->tls_cert_file);
	assert_null(o->tls_key_file);
	assert_null(o->tls_ca_file);
	assert_null(o->tokens);
	assert_int_equal(o->raw_retention_ns, 7 * DAY);
	assert_int_equal(o->rollup_retention_ns, 90 * DAY);
	assert_int_equal(o->rollup_bucket_ns, 3600 * FP_NS_PER_SEC);
	assert_int_equal(o->maintenance_interval_ns, 600 * FP_NS_PER_SEC);
	assert_int_equal(o->fold_interval_ns, 60 * FP_NS_PER_SEC);
	assert_int_equal(o->fold_delay_ns, 12 * FP_NS_PER_SEC);
	assert_int_equal(o->fold_max_rows, 2000000);
	assert_null(cfg.path);
	assert_int_equal(cfg.max_group_at_start, 256);
	assert_int_equal(collector_config_source(&cfg, "collector", "listen"),
			 COLLECTOR_SRC_DEFAULT);
	assert_int_equal(collector_config_source(&cfg, "collector", "nope"),
			 -1);
}

static const char precedence_file[] = "[collector]\n"
				      "listen = tcp://127.0.0.1:1001\n"
				      "log_level = info\n"
				      "contexts = 8\n"
				      "[database]\n"
				      "conninfo = dbname=from_file\n"
				      "[tokens]\n"
				      "web = file-token\n";

static void test_precedence(void **state)
{
	static const char *const flags[] = {
		"--listen",   "tcp://127.0.0.1:3003",  "--token",
		"flag-token", "--db=dbname=from_flag", NULL};
	const struct collector_options *o = &cfg.opt;
	(void)state;

	/* File over defaults. */
	assert_int_equal(load_text(precedence_file, NULL), 0);
	assert_string_equal(o->listen, "tcp://127.0.0.1:1001");
	assert_string_equal(o->conninfo, "dbname=from_file");
	assert_int_equal(o->log_level, FP_LOG_INFO);
	assert_int_equal(o->contexts, 8);
	assert_int_equal(o->tokens->n, 1);
	assert_string_equal(o->tokens->v[0].name, "web");
	assert_true(collector_tokens_match(o->tokens, "file-token"));
	assert_int_equal(collector_config_source(&cfg, "collector", "listen"),
			 COLLECTOR_SRC_FILE);
	assert_int_equal(cfg.line[0], 2);

	/* Environment over the file. */
	setenv("FLEETPROF_LISTEN", "tcp://127.0.0.1:2002", 1);
	setenv("FLEETPROF_DB", "dbname=from_env", 1);
	setenv("FLEETPROF_TOKENS", "env-a, env-b", 1);
	setenv("FLEETPROF_LOG_LEVEL", "debug", 1);
	assert_int_equal(load_text(precedence_file, NULL), 0);
	assert_string_equal(o->listen, "tcp://127.0.0.1:2002");
	assert_string_equal(o->conninfo, "dbname=from_env");
	assert_int_equal(o->log_level, FP_LOG_DEBUG);
	assert_int_equal(o->contexts, 8); /* no variable: the file's */
	assert_int_equal(o->tokens->n, 2);
	assert_string_equal(o->tokens->v[1].name, "env-2");
	assert_true(collector_tokens_match(o->tokens, "env-b"));
	assert_false(collector_tokens_match(o->tokens, "file-token"));
	assert_int_equal(collector_config_source(&cfg, "collector", "listen"),
			 COLLECTOR_SRC_ENV);

	/* Flags over everything. */
	assert_int_equal(load_text(precedence_file, flags), 0);
	assert_string_equal(o->listen, "tcp://127.0.0.1:3003");
	assert_string_equal(o->conninfo, "dbname=from_flag");
	assert_int_equal(o->log_level, FP_LOG_DEBUG);
	assert_int_equal(o->tokens->n, 1);
	assert_true(collector_tokens_match(o->tokens, "flag-token"));
	assert_false(collector_tokens_match(o->tokens, "env-a"));
	assert_int_equal(collector_config_source(&cfg, "collector", "listen"),
			 COLLECTOR_SRC_FLAG);

	/* The file named by the environment when there is no --config. */
	unsetenv("FLEETPROF_LISTEN");
	setenv("FLEETPROF_COLLECTOR_CONFIG", path, 1);
	assert_int_equal(load_args(NULL), 0);
	assert_string_equal(cfg.path, path);
	assert_string_equal(o->listen, "tcp://127.0.0.1:1001");
}

static void test_values(void **state)
{
	const struct collector_options *o = &cfg.opt;
	char longci[400];
	char text[1024];
	(void)state;

	assert_int_equal(load_text("[storage]\n"
				   "raw_retention = 14d\n"
				   "rollup_retention = 3w\n"
				   "rollup_bucket = 60m\n"
				   "maintenance_interval = 1h30m\n"
				   "[limits]\n"
				   "max_pending_bytes = 64 KiB\n"
				   "max_msg_bytes = 2MiB\n"
				   "[collector]\n"
				   "drain_timeout = 250ms\n"
				   "max_rows = 0\n"
				   "log_level = 4\n"
				   "listen = tcp://127.0.0.1:1, ipc:///tmp/x\n"
				   "[http]\n"
				   "listen =\n",
				   NULL),
			 0);
	assert_int_equal(o->raw_retention_ns, 14 * DAY);
	assert_int_equal(o->rollup_retention_ns, 21 * DAY);
	assert_int_equal(o->rollup_bucket_ns, 3600 * FP_NS_PER_SEC);
	assert_int_equal(o->maintenance_interval_ns, 5400 * FP_NS_PER_SEC);
	assert_int_equal(o->max_pending_bytes, 64 * 1024);
	assert_int_equal(o->limits.max_msg_bytes, 2 << 20);
	assert_int_equal(o->drain_timeout_ns, 250 * FP_NS_PER_MS);
	assert_int_equal(o->max_rows, 0);
	assert_int_equal(o->log_level, FP_LOG_WARNING);
	assert_string_equal(o->http_listen, "");

	/* Whole-line comments only: ';' and '#' stay in values; lines
	 * longer than libinih's default 200 bytes are read whole. */
	memset(longci, 'x', sizeof(longci));
	longci[sizeof(longci) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "# comment\n; comment\n[database]\n"
		 "conninfo = application_name=%s password=a;b#c\n"
		 "[tokens]\nweb = t;o#k\n",
		 longci);
	assert_int_equal(load_text(text, NULL), 0);
	assert_non_null(strstr(o->conninfo, "password=a;b#c"));
	assert_int_equal(strlen(o->conninfo),
			 strlen("application_name=") + 399 +
				 strlen(" password=a;b#c"));
	assert_true(collector_tokens_match(o->tokens, "t;o#k"));
}

static void test_file_errors(void **state)
{
	(void)state;
	expect_file_error("[collector]\nlisen = x\n",
			  "2: [collector] lisen: unknown key (known: listen, "
			  "contexts, commit_ms, max_group, max_rows, "
			  "writers, log_level, drain_timeout)");
	expect_file_error("\n[colector]\nlisten = x\n",
			  "3: [colector]: unknown section (known: collector, "
			  "database, http, limits, tls, tokens, storage)");
	expect_file_error("listen = x\n", "1: listen: key outside a [section]");
	expect_file_error("[collector]\ncontexts = lots\n",
			  "2: [collector] contexts: must be an integer in "
			  "1..4096, got 'lots'");
	expect_file_error("[collector]\ncontexts = 0\n",
			  "2: [collector] contexts: must be an integer in "
			  "1..4096, got '0'");
	expect_file_error("[collector]\ncommit_ms = 20ms\n",
			  "2: [collector] commit_ms: must be an integer in "
			  "0..60000, got '20ms'");
	expect_file_error("[collector]\nlog_level = loud\n",
			  "2: [collector] log_level: must be err, warning, "
			  "notice, info or debug, got 'loud'");
	expect_file_error("[collector]\ncontexts = 1\n\ncontexts = 2\n",
			  "4: [collector] contexts: set twice (first on line "
			  "2)");
	expect_file_error("[collector\n", "1: syntax error: expected "
					  "'[section]' or 'key = value'");
	expect_file_error("[collector]\ncontexts = 1\njunk\n",
			  "3: syntax error: expected '[section]' or 'key = "
			  "value'");
	expect_file_error("[storage]\nraw_retention = 7 days\n",
			  "2: [storage] raw_retention: must be a duration "
			  "from 1h to 36500d (e.g. 30s, 10m, 7d), got '7 "
			  "days'");
	expect_file_error("[storage]\nraw_retention = 30m\n",
			  "2: [storage] raw_retention: must be a duration "
			  "from 1h to 36500d (e.g. 30s, 10m, 7d), got '30m'");
	expect_file_error("[storage]\nraw_retention = 30d\n"
			  "rollup_retention = 7d\n",
			  "3: [storage] rollup_retention: 7d is shorter than "
			  "raw_retention (30d)");
	expect_file_error("[storage]\nfold_interval = 30s\n"
			  "fold_delay = 30s\n",
			  "3: [storage] fold_delay: 30s is not shorter than "
			  "fold_interval (30s)");
	expect_file_error("[storage]\nrollup_bucket = 15m\n",
			  "2: [storage] rollup_bucket: must be 1h (the rollup "
			  "tier is kept in UTC hours), got 15m");
	expect_file_error("[limits]\nmax_pending_bytes = 1TB\n",
			  "2: [limits] max_pending_bytes: must be a size from "
			  "1 to 1024GiB (bytes, or with KiB, MiB, GiB), got "
			  "'1TB'");
	expect_file_error("[limits]\nmax_msg_bytes = 100\n",
			  "2: [limits] max_msg_bytes: must be a size from "
			  "1KiB to 1GiB (bytes, or with KiB, MiB, GiB), got "
			  "'100'");
	expect_file_error("[collector]\nlisten = http://127.0.0.1:1\n",
			  "2: [collector] listen: unsupported scheme in "
			  "'http://127.0.0.1:1' (use tcp://, tls+tcp:// or "
			  "ipc://)");
	expect_file_error("[collector]\nlisten = ,\n",
			  "2: [collector] listen: needs at least one URL");
	expect_file_error("[http]\nlisten = tcp://127.0.0.1:1\n",
			  "2: [http] listen: must be an http:// URL, or empty "
			  "to turn HTTP off, got 'tcp://127.0.0.1:1'");
	expect_file_error("[database]\nconninfo = host\n",
			  "2: [database] conninfo: not a valid libpq conninfo "
			  "or URI: missing \"=\" after \"host\" in connection "
			  "info string");
	expect_file_error("[tls]\ncert_file =\n",
			  "2: [tls] cert_file: must name a file");
	expect_file_error("[tls]\ncert_file = /x.pem\n",
			  "2: [tls] cert_file: needs [tls] key_file too");
	expect_file_error("[tls]\nca_file = /ca.pem\n",
			  "2: [tls] ca_file: needs [tls] cert_file and "
			  "key_file too");
	expect_file_error("[collector]\nlisten = tls+tcp://127.0.0.1:1\n",
			  "2: [collector] listen: tls+tcp:// needs [tls] "
			  "cert_file and key_file");
	expect_file_error("[tokens]\nweb =\n", "2: [tokens] web: empty token");
	expect_file_error("[tokens]\na = x\nb = y\na = z\n",
			  "4: [tokens] a: set twice (first on line 2)");
	{
		char text[400] = "[tokens]\nbig = ";
		size_t n = strlen(text);
		memset(text + n, 'k', 257);
		text[n + 257] = '\n';
		text[n + 258] = '\0';
		expect_file_error(text,
				  "2: [tokens] big: token longer than 256 "
				  "bytes");
	}
}

static void test_other_errors(void **state)
{
	static const char *const missing[] = {"--config", "/nonexistent.ini",
					      NULL};
	static const char *const dir_cfg[] = {"--config", "/tmp", NULL};
	static const char *const unknown[] = {"--nope", NULL};
	static const char *const novalue[] = {"--listen", NULL};
	static const char *const badflag[] = {"--contexts", "0", NULL};
	static const char *const emptytok[] = {"--token", "", NULL};
	static const char *const positional[] = {"extra", NULL};
	(void)state;

	assert_int_equal(load_args(missing), FP_EIO);
	assert_string_equal(err, "cannot read config file /nonexistent.ini: "
				 "No such file or directory");
	assert_int_equal(load_args(dir_cfg), FP_EIO);
	assert_string_equal(err, "cannot read config file /tmp: not a regular "
				 "file");
	assert_int_equal(load_args(unknown), FP_EINVAL);
	assert_string_equal(err, "unknown option '--nope'");
	assert_int_equal(load_args(positional), FP_EINVAL);
	assert_string_equal(err, "unknown option 'extra'");
	assert_int_equal(load_args(novalue), FP_EINVAL);
	assert_string_equal(err, "option --listen needs a value");
	assert_int_equal(load_args(badflag), FP_EINVAL);
	assert_string_equal(err, "--contexts: must be an integer in 1..4096, "
				 "got '0'");
	assert_int_equal(load_args(emptytok), FP_EINVAL);
	assert_string_equal(err, "--token: empty token");

	setenv("FLEETPROF_LOG_LEVEL", "loud", 1);
	assert_int_equal(load_args(NULL), FP_EINVAL);
	assert_string_equal(err, "environment FLEETPROF_LOG_LEVEL: must be "
				 "err, warning, notice, info or debug, got "
				 "'loud'");
	unsetenv("FLEETPROF_LOG_LEVEL");
	setenv("FLEETPROF_TOKENS", "a,,b", 1);
	assert_int_equal(load_args(NULL), FP_EINVAL);
	assert_string_equal(err, "environment FLEETPROF_TOKENS: token 2 is "
				 "empty");
	unsetenv("FLEETPROF_TOKENS");
	/* A bad file value is an error even when a flag overrides it. */
	{
		static const char *const over[] = {"--contexts", "4", NULL};
		char want[256];
		assert_int_not_equal(
			load_text("[collector]\ncontexts = x\n", over), 0);
		snprintf(want, sizeof(want),
			 "%s:2: [collector] contexts: must be an integer in "
			 "1..4096, got 'x'",
			 path);
		assert_string_equal(err, want);
	}
}

static char *print_config(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	collector_config_print(&cfg, f);
	fclose(f);
	return out;
}

/* Drops the lines that start with '#' (sources differ between runs). */
static void strip_comments(char *s)
{
	char *w = s;
	for (char *r = s; *r != '\0';) {
		char *nl = strchr(r, '\n');
		size_t n = nl ? (size_t)(nl - r) + 1 : strlen(r);
		if (r[0] != '#') {
			memmove(w, r, n);
			w += n;
		}
		r += n;
	}
	*w = '\0';
}

static void test_check_config_redacts(void **state)
{
	static const char *const flags[] = {"--commit-ms", "5", NULL};
	char *out, *again;
	(void)state;

	setenv("FLEETPROF_LOG_LEVEL", "info", 1);
	assert_int_equal(
		load_text("[database]\n"
			  "conninfo = postgresql://writer:hunter2@db.example:"
			  "5433/fleetprof?sslpassword=pem-secret\n"
			  "[tokens]\n"
			  "web = s3cr3t-web\n"
			  "jobs = s3cr3t-jobs\n"
			  "[storage]\n"
			  "raw_retention = 14d\n",
			  flags),
		0);
	out = print_config();
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "pem-secret"));
	assert_null(strstr(out, "s3cr3t"));
	assert_non_null(strstr(out, "\n[tokens]\n# from "));
	assert_non_null(strstr(out, "\nweb = <redacted>\njobs = <redacted>\n"));
	assert_non_null(strstr(out, "\nconninfo = user=writer "
				    "password=<redacted> "
				    "dbname=fleetprof host=db.example "
				    "port=5433 sslpassword=<redacted>\n"));
	assert_non_null(strstr(out, "\n# from --commit-ms\ncommit_ms = 5\n"));
	assert_non_null(strstr(out, "\n# from environment FLEETPROF_LOG_LEVEL"
				    "\nlog_level = info\n"));
	{
		char want[256];
		snprintf(want, sizeof(want),
			 "\n# from %s:7\nraw_retention = "
			 "14d\n",
			 path);
		assert_non_null(strstr(out, want));
	}
	assert_non_null(strstr(out, "\nrollup_retention = 90d\n"));
	assert_non_null(strstr(out, "\nmax_pending_bytes = 256MiB\n"));
	assert_non_null(strstr(out, "\n; cert_file = (not set)\n"));

	/* What it prints is a configuration the collector accepts, with the
	 * same values (flags and environment given again). */
	write_file(out);
	{
		static const char *const again_args[] = {
			"--config", NULL, "--commit-ms", "5", NULL};
		const char *a[5];
		memcpy(a, again_args, sizeof(a));
		a[1] = path;
		assert_int_equal(load_args(a), 0);
	}
	again = print_config();
	strip_comments(out);
	strip_comments(again);
	assert_string_equal(again, out);
	assert_int_equal(cfg.opt.raw_retention_ns, 14 * DAY);
	assert_int_equal(cfg.opt.tokens->n, 2);
	free(out);
	free(again);
	unsetenv("FLEETPROF_LOG_LEVEL");
}

/* SIGHUP: reloadable options change in both copies, others do not. */
static void test_reload(void **state)
{
	static struct collector c;
	const char *args[] = {"fleetprof-collector", "--config", path, NULL};
	(void)state;

	write_file("[collector]\nlog_level = notice\ncommit_ms = 20\n"
		   "max_group = 100\ncontexts = 4\n"
		   "[tokens]\na = tok-a\n");
	collector_config_fini(&cfg);
	assert_int_equal(
		collector_config_load(&cfg, 3, (char **)args, err, sizeof(err)),
		0);
	memset(&c, 0, sizeof(c));
	collector_init(&c);
	c.opt = cfg.opt;
	fp_log_set_level(cfg.opt.log_level);

	write_file("[collector]\nlog_level = info\ncommit_ms = 5\n"
		   "max_group = 50\ncontexts = 8\n"
		   "[storage]\nraw_retention = 2d\n"
		   "[tokens]\nb = tok-b\n");
	assert_int_equal(collector_reload(&c, &cfg, 3, (char **)args), 0);
	assert_int_equal(fp_log_get_level(), FP_LOG_INFO);
	assert_int_equal(c.opt.commit_ms, 5);
	assert_int_equal(cfg.opt.commit_ms, 5);
	assert_int_equal(c.opt.max_group, 50);
	assert_int_equal(c.opt.raw_retention_ns, 2 * DAY);
	assert_int_equal(c.opt.contexts, 4); /* restart */
	assert_int_equal(c.opt.rollup_bucket_ns, 3600 * FP_NS_PER_SEC);
	assert_ptr_equal(c.opt.tokens, cfg.opt.tokens);
	assert_int_equal(collector_auth_check(&c, "tok-b"), 0);
	assert_int_equal(collector_auth_check(&c, "tok-a"), FP_EAUTH);

	/* max_group may not grow past its value at start (the writer's
	 * arrays are sized by it); an invalid file changes nothing. */
	write_file("[collector]\nlog_level = info\ncommit_ms = 5\n"
		   "max_group = 101\n[tokens]\nb = tok-b\n");
	assert_int_equal(collector_reload(&c, &cfg, 3, (char **)args), 0);
	assert_int_equal(c.opt.max_group, 50);
	write_file("[collector]\nlog_level = debug\ncommit_ms = x\n");
	assert_int_equal(collector_reload(&c, &cfg, 3, (char **)args),
			 FP_EINVAL);
	assert_int_equal(fp_log_get_level(), FP_LOG_INFO);
	assert_int_equal(c.opt.commit_ms, 5);
	assert_int_equal(collector_auth_check(&c, "tok-b"), 0);

	/* No tokens any more: anyone may send. */
	write_file("[collector]\nlog_level = notice\n");
	assert_int_equal(collector_reload(&c, &cfg, 3, (char **)args), 0);
	assert_null(c.opt.tokens);
	assert_int_equal(collector_auth_check(&c, NULL), 0);
	assert_int_equal(fp_log_get_level(), FP_LOG_NOTICE);
	collector_fini(&c);
}

/* The binary: --check-config exits 0 and prints, or 2 and says why. */
static void test_check_config_exit_status(void **state)
{
	char cmd[1024], want[512];
	char *out;
	int st;
	(void)state;

	write_file("[collector]\nlisten = tcp://127.0.0.1:1\n"
		   "[tokens]\nweb = s3cr3t\n");
	snprintf(cmd, sizeof(cmd), "%s --config %s --check-config 2>&1",
		 fp_test_bin("fleetprof-collector"), path);
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "\nlisten = tcp://127.0.0.1:1\n"));
	assert_non_null(strstr(out, "\nweb = <redacted>\n"));
	assert_null(strstr(out, "s3cr3t"));
	free(out);

	write_file("[collector]\ncontexts = many\n");
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 2);
	snprintf(want, sizeof(want),
		 "fleetprof-collector: error: %s:2: [collector] contexts: must "
		 "be an integer in 1..4096, got 'many'\n",
		 path);
	assert_non_null(strstr(out, want));
	free(out);

	/* The TLS files are loaded as the server would. */
	write_file("[tls]\ncert_file = /nonexistent/c.pem\n"
		   "key_file = /nonexistent/k.pem\n");
	out = fp_test_run(cmd, &st);
	assert_int_equal(st, 2);
	assert_non_null(strstr(out, "fleetprof-collector: error: [tls] "
				    "cert_file /nonexistent/c.pem: No such "
				    "file or directory\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precedence, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_other_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_check_config_redacts,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_config_exit_status,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
