/*
 * Configuration resolution (see config.h): one table describes every option
 * once — INI section and key, flag, environment variable, type, bounds —
 * and drives parsing, errors, --help, --check-config and reload.c's diff.
 * Sources are applied defaults, file, environment, flags; each value is
 * checked where it is read, so an error names the file line or the flag.
 * Invariant: cfg->opt owns every string and the token set it points to.
 */
#include "config.h"
#include "auth.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KIB ((size_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define NS_MIN (60 * FP_NS_PER_SEC)
#define NS_HOUR (60 * NS_MIN)
#define NS_DAY (24 * NS_HOUR)
#define NS_YEAR (365 * NS_DAY)

enum opt_type {
	T_STR,	    /* any string (the conninfo, checked by libpq) */
	T_URLS,	    /* comma-separated nng listen URLs */
	T_HTTP,	    /* "" or an http:// URL */
	T_PATH,	    /* a non-empty file name */
	T_INT,	    /* int */
	T_LONG,	    /* long */
	T_SIZE,	    /* size_t, with KiB/MiB/GiB suffixes */
	T_DURATION, /* int64_t ns, "30s", "7d" */
	T_LEVEL,    /* int, a log level name */
};

#define O_RELOAD 1u /* SIGHUP applies it */
#define O_SECRET 2u /* may hold a password: redact */

struct opt_def {
	const char *section;
	const char *key;
	const char *flag;
	const char *env; /* NULL: no environment variable */
	enum opt_type type;
	size_t off; /* in struct collector_options */
	int64_t lo, hi;
	unsigned flags;
	const char *metavar;
	const char *help;
};

#define OFF(f) offsetof(struct collector_options, f)

/* Indices into opts[], for the checks that involve several options. */
enum {
	I_LISTEN,
	I_CONTEXTS,
	I_COMMIT_MS,
	I_MAX_GROUP,
	I_MAX_ROWS,
	I_WRITERS,
	I_LOG_LEVEL,
	I_DRAIN,
	I_DB,
	I_HTTP,
	I_MAX_MSG,
	I_MAX_PENDING,
	I_TLS_CERT,
	I_TLS_KEY,
	I_TLS_CA,
	I_RAW_RET,
	I_ROLLUP_RET,
	I_ROLLUP_BUCKET,
	I_MAINT,
	I_FOLD,
	I_FOLD_DELAY,
	I_FOLD_ROWS,
	I_COUNT
};

static const struct opt_def opts[I_COUNT] = {
	[I_LISTEN] = {"collector", "listen", "--listen", "FLEETPROF_LISTEN",
		      T_URLS, OFF(listen), 0, 0, 0, "URLS",
		      "nng URL(s) for agents, comma-separated (tcp://, "
		      "tls+tcp://, ipc://)"},
	[I_CONTEXTS] = {"collector", "contexts", "--contexts", NULL, T_INT,
			OFF(contexts), 1, 4096, 0, "N",
			"requests in flight at once"},
	[I_COMMIT_MS] = {"collector", "commit_ms", "--commit-ms", NULL, T_INT,
			 OFF(commit_ms), 0, 60000, O_RELOAD, "MS",
			 "group commit: wait this long for more batches"},
	[I_MAX_GROUP] = {"collector", "max_group", "--max-group", NULL, T_INT,
			 OFF(max_group), 1, 100000, O_RELOAD, "N",
			 "batches per transaction"},
	[I_MAX_ROWS] = {"collector", "max_rows", "--max-rows", NULL, T_LONG,
			OFF(max_rows), 0, 1000000000, O_RELOAD, "N",
			"rows per transaction (0: no limit)"},
	[I_WRITERS] = {"collector", "writers", "--writers", NULL, T_INT,
		       OFF(writers), 1, COLLECTOR_MAX_WRITERS, 0, "N",
		       "database connections merging in parallel"},
	[I_LOG_LEVEL] = {"collector", "log_level", "--log-level",
			 "FLEETPROF_LOG_LEVEL", T_LEVEL, OFF(log_level), 0, 0,
			 O_RELOAD, "LEVEL", "err|warning|notice|info|debug"},
	[I_DRAIN] = {"collector", "drain_timeout", "--drain-timeout", NULL,
		     T_DURATION, OFF(drain_timeout_ns), FP_NS_PER_MS, NS_HOUR,
		     O_RELOAD, "DURATION",
		     "SIGTERM: longest wait for queued batches"},
	[I_DB] = {"database", "conninfo", "--db", "FLEETPROF_DB", T_STR,
		  OFF(conninfo), 0, 0, O_SECRET, "CONNINFO",
		  "libpq conninfo or URI (empty: libpq's PG* variables)"},
	[I_HTTP] = {"http", "listen", "--http", "FLEETPROF_HTTP_LISTEN", T_HTTP,
		    OFF(http_listen), 0, 0, 0, "URL",
		    "/metrics, /healthz, /readyz (empty: off)"},
	[I_MAX_MSG] = {"limits", "max_msg_bytes", "--max-msg", NULL, T_SIZE,
		       OFF(limits.max_msg_bytes), 1024, (int64_t)GIB, 0,
		       "BYTES", "largest accepted message"},
	[I_MAX_PENDING] = {"limits", "max_pending_bytes", "--max-pending-bytes",
			   NULL, T_SIZE, OFF(max_pending_bytes), 1,
			   (int64_t)(1024 * GIB), 0, "BYTES",
			   "received bytes not yet answered before receiving "
			   "pauses"},
	[I_TLS_CERT] = {"tls", "cert_file", "--tls-cert", NULL, T_PATH,
			OFF(tls_cert_file), 0, 0, 0, "FILE",
			"PEM certificate (chain) for tls+tcp://"},
	[I_TLS_KEY] = {"tls", "key_file", "--tls-key", NULL, T_PATH,
		       OFF(tls_key_file), 0, 0, 0, "FILE",
		       "PEM private key for tls+tcp://"},
	[I_TLS_CA] = {"tls", "ca_file", "--tls-ca", NULL, T_PATH,
		      OFF(tls_ca_file), 0, 0, 0, "FILE",
		      "PEM CA(s): require client certificates it signed"},
	[I_RAW_RET] = {"storage", "raw_retention", "--raw-retention", NULL,
		       T_DURATION, OFF(raw_retention_ns), NS_HOUR,
		       100 * NS_YEAR, O_RELOAD, "DURATION",
		       "keep raw buckets (and the dedup ledger) this long"},
	[I_ROLLUP_RET] = {"storage", "rollup_retention", "--rollup-retention",
			  NULL, T_DURATION, OFF(rollup_retention_ns), NS_HOUR,
			  100 * NS_YEAR, O_RELOAD, "DURATION",
			  "keep rollup buckets this long"},
	[I_ROLLUP_BUCKET] = {"storage", "rollup_bucket", "--rollup-bucket",
			     NULL, T_DURATION, OFF(rollup_bucket_ns), NS_MIN,
			     NS_DAY, 0, "DURATION",
			     "rollup bucket width (1h only)"},
	[I_MAINT] = {"storage", "maintenance_interval",
		     "--maintenance-interval", NULL, T_DURATION,
		     OFF(maintenance_interval_ns), FP_NS_PER_SEC, NS_DAY,
		     O_RELOAD, "DURATION",
		     "partitions ahead and retention, this often"},
	[I_FOLD] = {"storage", "fold_interval", "--fold-interval", NULL,
		    T_DURATION, OFF(fold_interval_ns), FP_NS_PER_MS, NS_HOUR,
		    O_RELOAD, "DURATION",
		    "fold appended rows into the raw tier this often"},
	[I_FOLD_DELAY] = {"storage", "fold_delay", "--fold-delay", NULL,
			  T_DURATION, OFF(fold_delay_ns), 0, NS_HOUR, O_RELOAD,
			  "DURATION",
			  "fold this long after each multiple of the "
			  "interval (the agents' flush interval and a margin)"},
	[I_FOLD_ROWS] = {"storage", "fold_max_rows", "--fold-max-rows", NULL,
			 T_LONG, OFF(fold_max_rows), 1000, 100000000, O_RELOAD,
			 "N", "or sooner, once a writer holds this many keys"},
};

static const char *const sections[] = {
	"collector", "database", "http", "limits", "tls", "tokens", "storage",
};

#define TOKENS_ENV "FLEETPROF_TOKENS"
#define CONFIG_ENV "FLEETPROF_COLLECTOR_CONFIG"

/* ---- small helpers ---- */

static void set_err(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static void *field(struct collector_options *o, int i)
{
	return (char *)o + opts[i].off;
}

static const void *cfield(const struct collector_options *o, int i)
{
	return (const char *)o + opts[i].off;
}

static bool is_string(enum opt_type t)
{
	return t == T_STR || t == T_URLS || t == T_HTTP || t == T_PATH;
}

static int set_string(struct collector_options *o, int i, const char *v)
{
	const char **slot = field(o, i);
	char *copy = NULL;
	if (v != NULL && (copy = strdup(v)) == NULL)
		return FP_ENOMEM;
	free((void *)*slot);
	*slot = copy;
	return 0;
}

static const char *level_name(int level)
{
	static const char *const names[] = {
		"0", "1", "2", "err", "warning", "notice", "info", "debug"};
	if (level >= 0 && level <= 7)
		return names[level];
	return "?";
}

/* "7d", "1h", "30s", "250ms": the largest unit that divides ns exactly. */
static void fmt_duration(int64_t ns, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {
		{"d", NS_DAY},	      {"h", NS_HOUR},  {"m", NS_MIN},
		{"s", FP_NS_PER_SEC}, {"ms", 1000000}, {"us", 1000},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ns != 0 && ns % units[i].ns == 0) {
			snprintf(buf, len, "%lld%s",
				 (long long)(ns / units[i].ns), units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%lldns", (long long)ns);
}

static void fmt_size(size_t v, char *buf, size_t len)
{
	if (v != 0 && v % GIB == 0)
		snprintf(buf, len, "%zuGiB", v / GIB);
	else if (v != 0 && v % MIB == 0)
		snprintf(buf, len, "%zuMiB", v / MIB);
	else if (v != 0 && v % KIB == 0)
		snprintf(buf, len, "%zuKiB", v / KIB);
	else
		snprintf(buf, len, "%zu", v);
}

/* "16MiB", "65536", "64 KiB"; FP_ESYNTAX or FP_ELIMIT. */
static int parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} sfx[] = {{"", 1}, {"B", 1}, {"KiB", KIB}, {"MiB", MIB}, {"GiB", GIB}};
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return FP_ESYNTAX;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return FP_ELIMIT;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if (strcmp(end, sfx[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / sfx[i].mult)
			return FP_ELIMIT;
		*out = v * sfx[i].mult;
		return 0;
	}
	return FP_ESYNTAX;
}

/* Copies libpq's message without its trailing newline. */
static void one_line(char *buf, size_t len, const char *msg)
{
	size_t n;
	snprintf(buf, len, "%s", msg ? msg : "unknown error");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
}

static bool url_supported(const char *scheme)
{
	static const char *const ok[] = {"tcp",	    "tcp4",	"tcp6",
					 "tls+tcp", "tls+tcp4", "tls+tcp6",
					 "ipc",	    "abstract"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(scheme, ok[i]) == 0)
			return true;
	return false;
}

/* Checks each URL of a comma-separated list; *has_tls if one is TLS. */
static int check_urls(const char *list, bool *has_tls, char *why, size_t len)
{
	char *copy = strdup(list), *url, *next;
	int n = 0, rc = 0;

	if (copy == NULL)
		return FP_ENOMEM;
	for (url = copy; url != NULL && rc == 0; url = next) {
		nng_url *u;
		next = strchr(url, ',');
		if (next != NULL)
			*next++ = '\0';
		while (*url == ' ')
			url++;
		if (*url == '\0')
			continue;
		n++;
		if (nng_url_parse(&u, url) != 0) {
			set_err(why, len, "'%s' is not a valid URL", url);
			rc = FP_EINVAL;
			break;
		}
		if (!url_supported(u->u_scheme)) {
			set_err(why, len,
				"unsupported scheme in '%s' (use tcp://, "
				"tls+tcp:// or ipc://)",
				url);
			rc = FP_EINVAL;
		} else if (strncmp(u->u_scheme, "tls+", 4) == 0) {
			*has_tls = true;
		}
		nng_url_free(u);
	}
	free(copy);
	if (rc == 0 && n == 0) {
		set_err(why, len, "needs at least one URL");
		rc = FP_EINVAL;
	}
	return rc;
}

/* ---- where a value came from ---- */

struct load {
	struct collector_config *cfg;
	char *err;
	size_t errlen;
	/* file */
	FILE *f;
	int lineno;
	bool at_line_start;
	int seen[I_COUNT]; /* line where the file set it, 0 = not */
	struct collector_tokens *file_tokens;
	int *token_lines;
	size_t ntoken_lines;
	int failed;
	/* command line */
	const char *flag_val[I_COUNT];
	struct collector_tokens *flag_tokens;
	struct collector_tokens *env_tokens;
};

/* "file:12: [collector] listen", "--listen", "environment FLEETPROF_X" */
static void origin(const struct collector_config *cfg, int i, char *buf,
		   size_t len)
{
	switch (cfg->src[i]) {
	case COLLECTOR_SRC_FILE:
		snprintf(buf, len, "%s:%d: [%s] %s", cfg->path, cfg->line[i],
			 opts[i].section, opts[i].key);
		break;
	case COLLECTOR_SRC_ENV:
		snprintf(buf, len, "environment %s", opts[i].env);
		break;
	case COLLECTOR_SRC_FLAG:
		snprintf(buf, len, "%s", opts[i].flag);
		break;
	default:
		snprintf(buf, len, "default [%s] %s", opts[i].section,
			 opts[i].key);
	}
}

/*
 * Parses v for option i and stores it, recording its source; on a bad
 * value writes "<where>: <why>" to the load's error.
 */
static int set_value(struct load *ld, int i, const char *v,
		     enum collector_source src, int line)
{
	struct collector_config *cfg = ld->cfg;
	const struct opt_def *d = &opts[i];
	char where[512], why[256], lo[32], hi[32];
	int rc = 0;

	cfg->src[i] = (unsigned char)src;
	cfg->line[i] = line;
	why[0] = '\0';
	switch (d->type) {
	case T_STR:
		if (v[0] != '\0') {
			char *perr = NULL;
			PQconninfoOption *o = PQconninfoParse(v, &perr);
			if (o == NULL) {
				char msg[200];
				one_line(msg, sizeof(msg),
					 perr ? perr : "out of memory");
				set_err(why, sizeof(why),
					"not a valid libpq conninfo or URI: "
					"%s",
					msg);
				rc = FP_EINVAL;
			}
			PQconninfoFree(o);
			PQfreemem(perr);
		}
		break;
	case T_URLS: {
		bool tls = false;
		rc = check_urls(v, &tls, why, sizeof(why));
		break;
	}
	case T_HTTP:
		if (v[0] != '\0') {
			nng_url *u;
			if (nng_url_parse(&u, v) != 0) {
				rc = FP_EINVAL;
			} else {
				if (strcmp(u->u_scheme, "http") != 0)
					rc = FP_EINVAL;
				nng_url_free(u);
			}
			if (rc != 0)
				set_err(why, sizeof(why),
					"must be an http:// URL, or empty "
					"to turn HTTP off, got '%s'",
					v);
		}
		break;
	case T_PATH:
		if (v[0] == '\0') {
			set_err(why, sizeof(why), "must name a file");
			rc = FP_EINVAL;
		}
		break;
	case T_INT:
	case T_LONG: {
		char *end;
		long long n;
		errno = 0;
		n = strtoll(v, &end, 10);
		if (v[0] == '\0' || *end != '\0' || errno != 0 || n < d->lo ||
		    n > d->hi) {
			set_err(why, sizeof(why),
				"must be an integer in %lld..%lld, got '%s'",
				(long long)d->lo, (long long)d->hi, v);
			rc = FP_EINVAL;
		} else if (d->type == T_INT) {
			*(int *)field(&cfg->opt, i) = (int)n;
		} else {
			*(long *)field(&cfg->opt, i) = (long)n;
		}
		break;
	}
	case T_SIZE: {
		uint64_t n = 0;
		int prc = parse_size(v, &n);
		if (prc != 0 || n < (uint64_t)d->lo || n > (uint64_t)d->hi) {
			fmt_size((size_t)d->lo, lo, sizeof(lo));
			fmt_size((size_t)d->hi, hi, sizeof(hi));
			set_err(why, sizeof(why),
				"must be a size from %s to %s (bytes, or "
				"with KiB, MiB, GiB), got '%s'",
				lo, hi, v);
			rc = FP_EINVAL;
		} else {
			*(size_t *)field(&cfg->opt, i) = (size_t)n;
		}
		break;
	}
	case T_DURATION: {
		int64_t ns = 0;
		int prc = fp_parse_duration(v, &ns);
		if (prc != 0 || ns < d->lo || ns > d->hi) {
			fmt_duration(d->lo, lo, sizeof(lo));
			fmt_duration(d->hi, hi, sizeof(hi));
			set_err(why, sizeof(why),
				"must be a duration from %s to %s (e.g. "
				"30s, 10m, 7d), got '%s'",
				lo, hi, v);
			rc = FP_EINVAL;
		} else {
			*(int64_t *)field(&cfg->opt, i) = ns;
		}
		break;
	}
	case T_LEVEL: {
		int l = fp_log_parse_level(v);
		if (l < 0) {
			set_err(why, sizeof(why),
				"must be err, warning, notice, info or "
				"debug, got '%s'",
				v);
			rc = FP_EINVAL;
		} else {
			*(int *)field(&cfg->opt, i) = l;
		}
		break;
	}
	}
	if (rc == 0 && is_string(d->type))
		rc = set_string(&cfg->opt, i, v);
	if (rc != 0) {
		origin(cfg, i, where, sizeof(where));
		if (rc == FP_ENOMEM)
			set_err(ld->err, ld->errlen, "out of memory");
		else
			set_err(ld->err, ld->errlen, "%s: %s", where, why);
	}
	return rc;
}

/* ---- the file ---- */

static int find_opt(const char *section, const char *key)
{
	for (int i = 0; i < I_COUNT; i++)
		if (strcmp(opts[i].section, section) == 0 &&
		    strcmp(opts[i].key, key) == 0)
			return i;
	return -1;
}

static bool known_section(const char *section)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(sections[i], section) == 0)
			return true;
	return false;
}

/* "listen, contexts, …" */
static void keys_of(const char *section, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < I_COUNT && n < len; i++) {
		if (strcmp(opts[i].section, section) != 0)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "",
				      opts[i].key);
	}
}

static char *read_line(char *str, int num, void *stream)
{
	struct load *ld = stream;
	char *s = fgets(str, num, ld->f);
	size_t n;
	if (s == NULL)
		return NULL;
	if (ld->at_line_start)
		ld->lineno++;
	n = strlen(s);
	ld->at_line_start = n > 0 && s[n - 1] == '\n';
	return s;
}

static int file_token(struct load *ld, const char *name, const char *value)
{
	const char *path = ld->cfg->path;
	int *lines, rc, j;

	if (ld->file_tokens == NULL &&
	    (ld->file_tokens = collector_tokens_create()) == NULL)
		return FP_ENOMEM;
	j = collector_tokens_find(ld->file_tokens, name);
	if (j >= 0) {
		set_err(ld->err, ld->errlen,
			"%s:%d: [tokens] %s: set twice (first on line %d)",
			path, ld->lineno, name, ld->token_lines[j]);
		return FP_EINVAL;
	}
	rc = collector_tokens_add(ld->file_tokens, name, value);
	if (rc == FP_EINVAL) {
		set_err(ld->err, ld->errlen,
			value[0] == '\0'
				? "%s:%d: [tokens] %s: empty token"
				: "%s:%d: [tokens] %s: token longer than "
				  "256 bytes",
			path, ld->lineno, name);
		return rc;
	}
	if (rc != 0)
		return rc;
	lines = realloc(ld->token_lines,
			(ld->ntoken_lines + 1) * sizeof(*lines));
	if (lines == NULL)
		return FP_ENOMEM;
	ld->token_lines = lines;
	lines[ld->ntoken_lines++] = ld->lineno;
	return 0;
}

static int on_ini(void *user, const char *section, const char *name,
		  const char *value)
{
	struct load *ld = user;
	const char *path = ld->cfg->path;
	char keys[256];
	int i, rc;

	if (section[0] == '\0') {
		set_err(ld->err, ld->errlen,
			"%s:%d: %s: key outside a [section]", path, ld->lineno,
			name);
		rc = FP_EINVAL;
	} else if (strcmp(section, "tokens") == 0) {
		rc = file_token(ld, name, value);
	} else if (!known_section(section)) {
		set_err(ld->err, ld->errlen,
			"%s:%d: [%s]: unknown section (known: collector, "
			"database, http, limits, tls, tokens, storage)",
			path, ld->lineno, section);
		rc = FP_EINVAL;
	} else if ((i = find_opt(section, name)) < 0) {
		keys_of(section, keys, sizeof(keys));
		set_err(ld->err, ld->errlen,
			"%s:%d: [%s] %s: unknown key (known: %s)", path,
			ld->lineno, section, name, keys);
		rc = FP_EINVAL;
	} else if (ld->seen[i] != 0) {
		set_err(ld->err, ld->errlen,
			"%s:%d: [%s] %s: set twice (first on line %d)", path,
			ld->lineno, section, name, ld->seen[i]);
		rc = FP_EINVAL;
	} else {
		ld->seen[i] = ld->lineno;
		rc = set_value(ld, i, value, COLLECTOR_SRC_FILE, ld->lineno);
	}
	if (rc != 0) {
		ld->failed = rc;
		return 0; /* stop (ini_stop_on_first_error) */
	}
	return 1;
}

static int load_file(struct load *ld)
{
	const char *path = ld->cfg->path;
	struct stat st;
	int rc;

	ld->f = fopen(path, "r");
	if (ld->f == NULL) {
		set_err(ld->err, ld->errlen, "cannot read config file %s: %s",
			path, strerror(errno));
		return FP_EIO;
	}
	if (fstat(fileno(ld->f), &st) != 0 || !S_ISREG(st.st_mode)) {
		set_err(ld->err, ld->errlen,
			"cannot read config file %s: not a regular file", path);
		fclose(ld->f);
		return FP_EIO;
	}
	/* Debian's libinih reads these at run time: lines of any length
	 * (conninfo, tokens), comments only on their own line so values may
	 * hold ';' and '#', no continuation lines, stop at the first error. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_initial_alloc = 256;
	ini_max_line = 16384;
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	ld->lineno = 0;
	ld->at_line_start = true;
	rc = ini_parse_stream(read_line, ld, on_ini, ld);
	fclose(ld->f);
	ld->f = NULL;
	if (ld->failed != 0)
		return ld->failed;
	if (rc == -2) {
		set_err(ld->err, ld->errlen, "out of memory");
		return FP_ENOMEM;
	}
	if (rc != 0) {
		set_err(ld->err, ld->errlen,
			"%s:%d: syntax error: expected '[section]' or "
			"'key = value'",
			path, ld->lineno);
		return FP_ESYNTAX;
	}
	return 0;
}

/* ---- environment and command line ---- */

/* "a,b , c" -> tokens env-1, env-2, env-3. */
static int env_tokens(struct load *ld, const char *list)
{
	char *copy = strdup(list), *p, *next;
	int n = 0, rc = 0;

	if (copy == NULL)
		return FP_ENOMEM;
	if ((ld->env_tokens = collector_tokens_create()) == NULL) {
		free(copy);
		return FP_ENOMEM;
	}
	for (p = copy; p != NULL && rc == 0; p = next) {
		char name[32], *end;
		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		while (*p == ' ')
			p++;
		end = p + strlen(p);
		while (end > p && end[-1] == ' ')
			*--end = '\0';
		snprintf(name, sizeof(name), "env-%d", ++n);
		rc = collector_tokens_add(ld->env_tokens, name, p);
		if (rc == FP_EINVAL)
			set_err(ld->err, ld->errlen,
				"environment %s: token %d is %s", TOKENS_ENV, n,
				p[0] == '\0' ? "empty"
					     : "longer than 256 bytes");
	}
	explicit_bzero(copy, strlen(list));
	free(copy);
	return rc;
}

static int flag_token(struct load *ld, const char *v)
{
	char name[32];
	int rc;
	if (ld->flag_tokens == NULL &&
	    (ld->flag_tokens = collector_tokens_create()) == NULL)
		return FP_ENOMEM;
	snprintf(name, sizeof(name), "flag-%zu", ld->flag_tokens->n + 1);
	rc = collector_tokens_add(ld->flag_tokens, name, v);
	if (rc == FP_EINVAL)
		set_err(ld->err, ld->errlen, "--token: %s",
			v[0] == '\0' ? "empty token"
				     : "token longer than 256 bytes");
	return rc;
}

/* First pass over argv: actions, --config, and the flag values. */
static int scan_args(struct load *ld, int argc, char *const *argv)
{
	struct collector_config *cfg = ld->cfg;

	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a], *val = NULL, *eq;
		char name[64];
		size_t nlen;
		int i;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			cfg->help = 1;
			continue;
		} else if (strcmp(arg, "--version") == 0) {
			cfg->version = 1;
			continue;
		} else if (strcmp(arg, "--migrate") == 0) {
			cfg->migrate = 1;
			continue;
		} else if (strcmp(arg, "--check-config") == 0) {
			cfg->check_config = 1;
			continue;
		}
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		if (strncmp(arg, "--", 2) != 0 || nlen >= sizeof(name)) {
			set_err(ld->err, ld->errlen, "unknown option '%s'",
				arg);
			return FP_EINVAL;
		}
		memcpy(name, arg, nlen);
		name[nlen] = '\0';
		for (i = 0; i < I_COUNT; i++)
			if (strcmp(opts[i].flag, name) == 0)
				break;
		if (i == I_COUNT && strcmp(name, "--config") != 0 &&
		    strcmp(name, "--token") != 0) {
			set_err(ld->err, ld->errlen, "unknown option '%s'",
				name);
			return FP_EINVAL;
		}
		if (eq != NULL) {
			val = eq + 1;
		} else if (a + 1 < argc) {
			val = argv[++a];
		} else {
			set_err(ld->err, ld->errlen, "option %s needs a value",
				name);
			return FP_EINVAL;
		}
		if (strcmp(name, "--config") == 0) {
			free(cfg->path);
			if ((cfg->path = strdup(val)) == NULL)
				return FP_ENOMEM;
		} else if (strcmp(name, "--token") == 0) {
			int rc = flag_token(ld, val);
			if (rc != 0)
				return rc;
		} else {
			ld->flag_val[i] = val;
		}
	}
	return 0;
}

/* ---- checks across options ---- */

static int cross_check(struct load *ld)
{
	struct collector_config *cfg = ld->cfg;
	struct collector_options *o = &cfg->opt;
	char where[512], a[32], b[32], why[256];
	bool tls = false;
	int64_t bucket = o->rollup_bucket_ns;

	check_urls(o->listen, &tls, why, sizeof(why));
	if (tls && (o->tls_cert_file == NULL || o->tls_key_file == NULL)) {
		origin(cfg, I_LISTEN, where, sizeof(where));
		set_err(ld->err, ld->errlen,
			"%s: tls+tcp:// needs [tls] cert_file and key_file",
			where);
		return FP_EINVAL;
	}
	if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL)) {
		int i = o->tls_cert_file ? I_TLS_CERT : I_TLS_KEY;
		origin(cfg, i, where, sizeof(where));
		set_err(ld->err, ld->errlen, "%s: needs [tls] %s too", where,
			o->tls_cert_file ? "key_file" : "cert_file");
		return FP_EINVAL;
	}
	if (o->tls_ca_file != NULL && o->tls_cert_file == NULL) {
		origin(cfg, I_TLS_CA, where, sizeof(where));
		set_err(ld->err, ld->errlen,
			"%s: needs [tls] cert_file and key_file too", where);
		return FP_EINVAL;
	}
	if (o->rollup_retention_ns < o->raw_retention_ns) {
		origin(cfg, I_ROLLUP_RET, where, sizeof(where));
		fmt_duration(o->rollup_retention_ns, a, sizeof(a));
		fmt_duration(o->raw_retention_ns, b, sizeof(b));
		set_err(ld->err, ld->errlen,
			"%s: %s is shorter than raw_retention (%s)", where, a,
			b);
		return FP_EINVAL;
	}
	if (o->fold_delay_ns >= o->fold_interval_ns) {
		origin(cfg, I_FOLD_DELAY, where, sizeof(where));
		fmt_duration(o->fold_delay_ns, a, sizeof(a));
		fmt_duration(o->fold_interval_ns, b, sizeof(b));
		set_err(ld->err, ld->errlen,
			"%s: %s is not shorter than fold_interval (%s)", where,
			a, b);
		return FP_EINVAL;
	}
	if (bucket != NS_HOUR) {
		/* Kept so that existing files still load: since schema 6 the
		 * rollup tier is computed in the database, in UTC hours. */
		origin(cfg, I_ROLLUP_BUCKET, where, sizeof(where));
		fmt_duration(bucket, a, sizeof(a));
		set_err(ld->err, ld->errlen,
			"%s: must be 1h (the rollup tier is kept in UTC "
			"hours), got %s",
			where, a);
		return FP_EINVAL;
	}
	return 0;
}

/* ---- public ---- */

static int set_defaults(struct collector_config *cfg)
{
	struct collector_options *o = &cfg->opt;
	memset(cfg, 0, sizeof(*cfg));
	if ((o->listen = strdup("tcp://127.0.0.1:7450")) == NULL ||
	    (o->conninfo = strdup("")) == NULL ||
	    (o->http_listen = strdup("http://127.0.0.1:7451")) == NULL)
		return FP_ENOMEM;
	o->contexts = 64;
	o->commit_ms = 20;
	o->max_group = 256;
	o->max_rows = 200000;
	o->writers = 2;
	o->log_level = FP_LOG_NOTICE;
	o->drain_timeout_ns = 30 * FP_NS_PER_SEC;
	wire_limits_default(&o->limits);
	o->max_pending_bytes = 256 * MIB;
	o->raw_retention_ns = 7 * NS_DAY;
	o->rollup_retention_ns = 90 * NS_DAY;
	o->rollup_bucket_ns = NS_HOUR;
	o->maintenance_interval_ns = 10 * NS_MIN;
	o->fold_interval_ns = 60 * FP_NS_PER_SEC;
	o->fold_delay_ns = 12 * FP_NS_PER_SEC;
	o->fold_max_rows = 2000000;
	return 0;
}

int collector_config_load(struct collector_config *cfg, int argc,
			  char *const *argv, char *err, size_t errlen)
{
	struct load ld;
	const char *env;
	int rc;

	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.err = err;
	ld.errlen = errlen;
	set_err(err, errlen, "out of memory");
	if ((rc = set_defaults(cfg)) != 0)
		goto out;
	if ((rc = scan_args(&ld, argc, argv)) != 0)
		goto out;
	if (cfg->help || cfg->version)
		goto out;
	env = getenv(CONFIG_ENV);
	if (cfg->path == NULL && env != NULL && env[0] != '\0' &&
	    (cfg->path = strdup(env)) == NULL) {
		rc = FP_ENOMEM;
		goto out;
	}
	if (cfg->path != NULL && (rc = load_file(&ld)) != 0)
		goto out;
	for (int i = 0; i < I_COUNT; i++) {
		if (opts[i].env == NULL)
			continue;
		env = getenv(opts[i].env);
		if (env != NULL && env[0] != '\0' &&
		    (rc = set_value(&ld, i, env, COLLECTOR_SRC_ENV, 0)) != 0)
			goto out;
	}
	env = getenv(TOKENS_ENV);
	if (env != NULL && env[0] != '\0' && (rc = env_tokens(&ld, env)) != 0)
		goto out;
	for (int i = 0; i < I_COUNT; i++)
		if (ld.flag_val[i] != NULL &&
		    (rc = set_value(&ld, i, ld.flag_val[i], COLLECTOR_SRC_FLAG,
				    0)) != 0)
			goto out;
	/* Tokens: the highest source that names any replaces the others. */
	if (ld.flag_tokens != NULL) {
		cfg->opt.tokens = ld.flag_tokens;
		ld.flag_tokens = NULL;
		cfg->tokens_src = COLLECTOR_SRC_FLAG;
	} else if (ld.env_tokens != NULL) {
		cfg->opt.tokens = ld.env_tokens;
		ld.env_tokens = NULL;
		cfg->tokens_src = COLLECTOR_SRC_ENV;
	} else if (ld.file_tokens != NULL) {
		cfg->opt.tokens = ld.file_tokens;
		ld.file_tokens = NULL;
		cfg->tokens_src = COLLECTOR_SRC_FILE;
	}
	if ((rc = cross_check(&ld)) != 0)
		goto out;
	cfg->max_group_at_start = cfg->opt.max_group;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
out:
	collector_tokens_destroy(ld.flag_tokens);
	collector_tokens_destroy(ld.env_tokens);
	collector_tokens_destroy(ld.file_tokens);
	free(ld.token_lines);
	return rc;
}

void collector_config_fini(struct collector_config *cfg)
{
	for (int i = 0; i < I_COUNT; i++)
		if (is_string(opts[i].type))
			set_string(&cfg->opt, i, NULL);
	collector_tokens_destroy(cfg->opt.tokens);
	cfg->opt.tokens = NULL;
	free(cfg->path);
	cfg->path = NULL;
}

int collector_config_source(const struct collector_config *cfg,
			    const char *section, const char *key)
{
	int i = find_opt(section, key);
	return i < 0 ? -1 : cfg->src[i];
}

/* libpq conninfo quoting: 'value' with \ and ' escaped. */
static size_t append_quoted(char *buf, size_t len, size_t n, const char *v)
{
	bool plain = v[0] != '\0';
	for (const char *p = v; *p; p++)
		if (*p == ' ' || *p == '\'' || *p == '\\' || *p == '=')
			plain = false;
	if (plain)
		return n + (size_t)snprintf(buf + n, n < len ? len - n : 0,
					    "%s", v);
	n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "'");
	for (const char *p = v; *p; p++)
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%c",
				      (*p == '\'' || *p == '\\') ? "\\" : "",
				      *p);
	return n + (size_t)snprintf(buf + n, n < len ? len - n : 0, "'");
}

/* The conninfo with password and sslpassword replaced by <redacted>. */
static void redact_conninfo(const char *ci, char *buf, size_t len)
{
	PQconninfoOption *o;
	bool secret = false;
	size_t n = 0;

	if (ci[0] == '\0' || (o = PQconninfoParse(ci, NULL)) == NULL) {
		snprintf(buf, len, "%s", ci[0] ? "<redacted>" : "");
		return;
	}
	for (PQconninfoOption *p = o; p->keyword != NULL; p++)
		if (p->val != NULL && (strcmp(p->keyword, "password") == 0 ||
				       strcmp(p->keyword, "sslpassword") == 0))
			secret = true;
	if (!secret) {
		snprintf(buf, len, "%s", ci);
		PQconninfoFree(o);
		return;
	}
	buf[0] = '\0';
	for (PQconninfoOption *p = o; p->keyword != NULL; p++) {
		if (p->val == NULL)
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
				      "%s%s=", n ? " " : "", p->keyword);
		if (strcmp(p->keyword, "password") == 0 ||
		    strcmp(p->keyword, "sslpassword") == 0)
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
					      "<redacted>");
		else
			n = append_quoted(buf, len, n, p->val);
	}
	PQconninfoFree(o);
}

/* The value of option i as the file would spell it. */
static void format_value(const struct collector_options *o, int i, bool redact,
			 char *buf, size_t len)
{
	const void *f = cfield(o, i);
	switch (opts[i].type) {
	case T_STR:
	case T_URLS:
	case T_HTTP:
	case T_PATH: {
		const char *s = *(const char *const *)f;
		if (s != NULL && redact && (opts[i].flags & O_SECRET))
			redact_conninfo(s, buf, len);
		else
			snprintf(buf, len, "%s", s ? s : "");
		break;
	}
	case T_INT:
		snprintf(buf, len, "%d", *(const int *)f);
		break;
	case T_LONG:
		snprintf(buf, len, "%ld", *(const long *)f);
		break;
	case T_SIZE:
		fmt_size(*(const size_t *)f, buf, len);
		break;
	case T_DURATION:
		fmt_duration(*(const int64_t *)f, buf, len);
		break;
	case T_LEVEL:
		snprintf(buf, len, "%s", level_name(*(const int *)f));
		break;
	}
}

static void print_source(const struct collector_config *cfg, int i, FILE *f)
{
	switch (cfg->src[i]) {
	case COLLECTOR_SRC_FILE:
		fprintf(f, "# from %s:%d\n", cfg->path, cfg->line[i]);
		break;
	case COLLECTOR_SRC_ENV:
		fprintf(f, "# from environment %s\n", opts[i].env);
		break;
	case COLLECTOR_SRC_FLAG:
		fprintf(f, "# from %s\n", opts[i].flag);
		break;
	default:
		break;
	}
}

void collector_config_print(const struct collector_config *cfg, FILE *f)
{
	const struct collector_tokens *t = cfg->opt.tokens;
	char v[1024];

	fprintf(f, "# fleetprof-collector: effective configuration\n"
		   "# precedence: command line > environment > config file "
		   "> defaults\n");
	if (cfg->path != NULL)
		fprintf(f, "# config file: %s\n", cfg->path);
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		fprintf(f, "\n[%s]\n", sections[s]);
		if (strcmp(sections[s], "tokens") == 0) {
			if (t == NULL || t->n == 0) {
				fprintf(f, "; none: any sender is accepted\n");
				continue;
			}
			if (cfg->tokens_src == COLLECTOR_SRC_FILE)
				fprintf(f, "# from %s\n", cfg->path);
			else if (cfg->tokens_src == COLLECTOR_SRC_ENV)
				fprintf(f, "# from environment %s\n",
					TOKENS_ENV);
			else
				fprintf(f, "# from --token\n");
			for (size_t k = 0; k < t->n; k++)
				fprintf(f, "%s = <redacted>\n", t->v[k].name);
			continue;
		}
		for (int i = 0; i < I_COUNT; i++) {
			if (strcmp(opts[i].section, sections[s]) != 0)
				continue;
			if (opts[i].type == T_PATH &&
			    *(const char *const *)cfield(&cfg->opt, i) ==
				    NULL) {
				fprintf(f, "; %s = (not set)\n", opts[i].key);
				continue;
			}
			format_value(&cfg->opt, i, true, v, sizeof(v));
			print_source(cfg, i, f);
			fprintf(f, "%s = %s\n", opts[i].key, v);
		}
	}
}

void collector_config_usage(FILE *f)
{
	struct collector_config def;
	char v[256], flag[64];

	fputs("usage: fleetprof-collector [options]\n"
	      "\n"
	      "Receives fleetprof agents' batches and merges them, exactly "
	      "once, into PostgreSQL.\n"
	      "Precedence: options > environment > config file > "
	      "defaults.\n"
	      "\n"
	      "  --config FILE                    INI file "
	      "($" CONFIG_ENV ")\n"
	      "  --check-config                   print the effective "
	      "configuration and exit\n"
	      "  --migrate                        apply schema migrations and "
	      "exit\n"
	      "  --token TOKEN                    accept batches carrying "
	      "TOKEN "
	      "(repeatable;\n"
	      "                                   $" TOKENS_ENV
	      " comma-separated, or [tokens])\n",
	      f);
	if (set_defaults(&def) != 0) {
		collector_config_fini(&def);
		return;
	}
	for (int i = 0; i < I_COUNT; i++) {
		snprintf(flag, sizeof(flag), "%s %s", opts[i].flag,
			 opts[i].metavar);
		if (opts[i].type == T_PATH)
			snprintf(v, sizeof(v), "none");
		else
			format_value(&def.opt, i, true, v, sizeof(v));
		fprintf(f, "  %-32s %s\n  %-32s [%s] %s, default '%s'%s%s\n",
			flag, opts[i].help, "", opts[i].section, opts[i].key, v,
			opts[i].env ? ", $" : "",
			opts[i].env ? opts[i].env : "");
	}
	fputs("  --version, --help\n"
	      "\n"
	      "Signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads the "
	      "config file.\n",
	      f);
	collector_config_fini(&def);
}

/* ---- the table, for reload.c ---- */

int collector_option_count(void)
{
	return I_COUNT;
}

int collector_option_index(const char *section, const char *key)
{
	return find_opt(section, key);
}

const char *collector_option_key(int i, const char **section)
{
	*section = opts[i].section;
	return opts[i].key;
}

int collector_option_reloadable(int i)
{
	return (opts[i].flags & O_RELOAD) != 0;
}

void collector_option_format(const struct collector_options *o, int i,
			     int redact, char *buf, size_t len)
{
	format_value(o, i, redact != 0, buf, len);
}

int collector_option_copy(struct collector_options *dst,
			  const struct collector_options *src, int i)
{
	size_t size;
	switch (opts[i].type) {
	case T_INT:
	case T_LEVEL:
		size = sizeof(int);
		break;
	case T_LONG:
		size = sizeof(long);
		break;
	case T_SIZE:
		size = sizeof(size_t);
		break;
	case T_DURATION:
		size = sizeof(int64_t);
		break;
	default:
		return FP_EINVAL; /* strings are owned: never copied */
	}
	memcpy(field(dst, i), cfield(src, i), size);
	return 0;
}
