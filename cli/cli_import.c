/*
 * `fleetprof import FILE.prof`: a pstats file read by marshal_read.c, stored
 * through the collector's write path (storage_merge) as ONE batch whose
 * agent id is a hash of the file's bytes, host and service, with seq 1: the
 * database's exactly-once ledger makes a second import of the same file a
 * no-op. --force draws a random id instead, so the counts add up again.
 */
#include "cli_import.h"
#include "cli.h"
#include "marshal_read.h"
#include "fp/error.h"
#include "fp/hash.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "storage/storage.h"
#include "wire/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Seeds of the two halves of a file's agent id; never change them (a
 * change makes every file importable a second time). */
#define ID_SEED_LO UINT64_C(0x6670696d706f7274) /* "fpimport" */
#define ID_SEED_HI UINT64_C(0x7073746174733031) /* "pstats01" */

/* The writer's defaults (storage_writer_opts): what --at may be. */
#define RETENTION_NS (7 * 86400 * FP_NS_PER_SEC)
#define AHEAD_NS (86400 * FP_NS_PER_SEC)

const char cli_import_summary[] =
	"store a cProfile/profile .prof file (pstats) as one batch";

const char cli_import_usage[] =
	"usage: fleetprof import [options] FILE\n"
	"\n"
	"Store FILE, a .prof file written by cProfile, profile or pstats\n"
	"(python -m cProfile -o FILE, Stats.dump_stats), as if one process\n"
	"had reported it: its functions and callers with pstats' numbers\n"
	"(ncalls, primitive calls, tottime, cumtime). Importing the same\n"
	"file again for the same host and service stores nothing.\n"
	"\n"
	"options:\n"
	"  --service NAME     the service to file it under (required)\n"
	"  --host NAME        the host (default: this machine's name)\n"
	"  --at TIME          when it was recorded (default: now); RFC 3339,\n"
	"                     a date, or a time ago (2h, \"30m ago\"); within\n"
	"                     the last 7 days (the raw data's retention)\n"
	"  --clock wall|cpu   the clock the profiler used (default: wall;\n"
	"                     the profile module's default timer is cpu)\n"
	"  --force            store it again even if it was imported before\n"
	"                     (its counts then add up)\n"
	"\n"
	"connection:\n"
	"  --db CONNINFO      libpq conninfo or URL (default: $FLEETPROF_DB,\n"
	"                     then libpq's PG* variables); needs a role that\n"
	"                     may write, like the collector's\n"
	"  -v, --verbose      show the database's messages on errors\n"
	"  -h, --help         show this help and exit\n"
	"\n"
	"Exit status: 0 stored or already imported, 1 unreadable or invalid\n"
	"file, or a database error, 2 usage error.\n";

struct import_args {
	const char *file;
	const char *service;
	const char *host; /* NULL: gethostname() */
	const char *at;	  /* NULL: now */
	const char *db;
	int clock;
	int force;
	int verbose;
	int help;
};

static int usage_error(struct cli_error *e, const char *fmt, const char *arg)
{
	cli_error_set(e, fmt, arg);
	cli_error_hint(e, "run 'fleetprof import --help' for the options");
	return CLI_EXIT_USAGE;
}

/* Like the query commands: "--opt value" or "--opt=value"; a value never
 * starts with "--". Returns CLI_EXIT_OK or CLI_EXIT_USAGE with e filled. */
static int parse(int argc, char **argv, struct import_args *a,
		 struct cli_error *e)
{
	static const char *const valued[] = {"service", "host", "at", "clock",
					     "db"};
	memset(a, 0, sizeof(*a));
	a->clock = WIRE_CLOCK_WALL;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *v = NULL, *eq;
		size_t len, k;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			a->help = 1;
			return CLI_EXIT_OK;
		}
		if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
			a->verbose = 1;
			continue;
		}
		if (strcmp(arg, "--force") == 0) {
			a->force = 1;
			continue;
		}
		if (strcmp(arg, "--") == 0 && i + 1 < argc && a->file == NULL) {
			a->file = argv[++i];
			if (i + 1 < argc)
				return usage_error(e,
						   "unexpected argument "
						   "'%s'",
						   argv[i + 1]);
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (a->file != NULL)
				return usage_error(
					e, "unexpected argument '%s'", arg);
			a->file = arg;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			return usage_error(e, "unknown option '%s'", arg);
		eq = strchr(arg + 2, '=');
		len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			if (strlen(valued[k]) == len &&
			    memcmp(valued[k], arg + 2, len) == 0)
				break;
		if (k == sizeof(valued) / sizeof(valued[0]))
			return usage_error(e, "unknown option '%s'", arg);
		if (eq != NULL)
			v = eq + 1;
		else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
			v = argv[++i];
		else
			return usage_error(e, "option '%s' needs a value", arg);
		switch (k) {
		case 0:
			a->service = v;
			break;
		case 1:
			a->host = v;
			break;
		case 2:
			a->at = v;
			break;
		case 3:
			a->clock = wire_clock_parse(v, strlen(v));
			if (a->clock < 0) {
				cli_error_set(e, "unknown clock '%s'", v);
				cli_error_hint(e, "use wall or cpu");
				return CLI_EXIT_USAGE;
			}
			break;
		default:
			a->db = v;
			break;
		}
	}
	if (a->file == NULL || a->file[0] == '\0') {
		cli_error_set(e, "missing FILE");
		cli_error_hint(e, "usage: fleetprof import --service NAME "
				  "[options] FILE");
		return CLI_EXIT_USAGE;
	}
	if (a->service == NULL || a->service[0] == '\0') {
		cli_error_set(e, "missing --service");
		cli_error_hint(e, "name the service the profile belongs to, "
				  "e.g. --service api");
		return CLI_EXIT_USAGE;
	}
	if (a->host != NULL && a->host[0] == '\0')
		return usage_error(e, "empty host name%s", "");
	return CLI_EXIT_OK;
}

/* The whole file, at most CLI_MREAD_MAX_BYTES; CLI_EXIT_* with e filled. */
static int read_file(const char *path, unsigned char **out, size_t *len,
		     struct cli_error *e)
{
	const size_t max = CLI_MREAD_MAX_BYTES;
	size_t n = 0, cap = 0;
	unsigned char *buf = NULL;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		cli_error_set(e, "cannot open '%s': %s", path, strerror(errno));
		return CLI_EXIT_RUNTIME;
	}
	for (;;) {
		size_t got;
		if (n == cap) {
			unsigned char *b;
			cap = cap ? cap * 2 : 65536;
			if (cap > max + 1)
				cap = max + 1;
			if (n == cap)
				break; /* read max + 1 bytes: too large */
			b = realloc(buf, cap);
			if (b == NULL) {
				cli_error_set(e, "out of memory");
				goto err_close;
			}
			buf = b;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		cli_error_set(e, "cannot read '%s': %s", path, strerror(errno));
		goto err_close;
	}
	fclose(f);
	if (n > max) {
		free(buf);
		cli_error_set(e, "'%s' is too large: more than %zu bytes", path,
			      max);
		cli_error_hint(e, "a pstats file of 100,000 functions is "
				  "about 30 MiB");
		return CLI_EXIT_RUNTIME;
	}
	*out = buf;
	*len = n;
	return CLI_EXIT_OK;

err_close:
	fclose(f);
	free(buf);
	return CLI_EXIT_RUNTIME;
}

/* The agent id of (file bytes, host, service): the same every time. */
static int file_id(const unsigned char *buf, size_t len, const char *host,
		   const char *service, uint8_t id[WIRE_AGENT_ID_LEN])
{
	const uint64_t content = fp_hash64(buf, len, 0);
	const uint64_t seeds[2] = {ID_SEED_LO, ID_SEED_HI};

	for (int half = 0; half < 2; half++) {
		struct fp_hasher h;
		uint64_t v;
		if (fp_hasher_init(&h, seeds[half]) != 0)
			return FP_ENOMEM;
		fp_hasher_u64(&h, content);
		fp_hasher_u64(&h, (uint64_t)len);
		fp_hasher_str(&h, host, strlen(host));
		fp_hasher_str(&h, service, strlen(service));
		v = fp_hasher_digest(&h);
		fp_hasher_fini(&h);
		for (int k = 0; k < 8; k++)
			id[8 * half + k] = (uint8_t)(v >> (8 * k));
	}
	return 0;
}

static int random_id(uint8_t id[WIRE_AGENT_ID_LEN])
{
	size_t n = 0;

	while (n < WIRE_AGENT_ID_LEN) {
		ssize_t got = getrandom(id + n, WIRE_AGENT_ID_LEN - n, 0);
		if (got < 0 && errno != EINTR)
			return FP_EIO;
		if (got > 0)
			n += (size_t)got;
	}
	return 0;
}

/* --at (default now), within what the writer accepts. */
static int resolve_at(const char *at, int64_t now, int64_t *out,
		      struct cli_error *e)
{
	char when[32], limit[32];
	int64_t t = now;

	if (at != NULL && fp_parse_time(at, now, &t) != 0) {
		cli_error_set(e, "invalid time '%s' for --at", at);
		cli_error_hint(e, "use RFC 3339 (2026-11-24T10:00:00Z), a date "
				  "(2026-11-24), 'now' or a time ago (2h, "
				  "'30m ago')");
		return CLI_EXIT_USAGE;
	}
	fp_format_time(t, when, sizeof(when));
	if (t < now - RETENTION_NS) {
		fp_format_time(now - RETENTION_NS, limit, sizeof(limit));
		cli_error_set(e,
			      "--at %s is older than the raw data's "
			      "retention (7 days)",
			      when);
		cli_error_detail(e, "the oldest time accepted now is %s",
				 limit);
		cli_error_hint(e, "give a later --at, or leave it out to "
				  "file the profile under now");
		return CLI_EXIT_USAGE;
	}
	if (t > now + AHEAD_NS) {
		cli_error_set(e, "--at %s is more than a day ahead", when);
		cli_error_hint(e, "leave out --at to file the profile under "
				  "now");
		return CLI_EXIT_USAGE;
	}
	*out = t;
	return CLI_EXIT_OK;
}

static void db_hint(struct cli_error *e, int verbose)
{
	if (!verbose)
		cli_error_hint(e, "rerun with --verbose to see the "
				  "database's message");
}

/* Connects, checks the schema and the ledger, merges b; CLI_EXIT_* with e
 * filled. *prev_ns: when a file already imported was filed. */
static int store(const struct import_args *a, const struct wire_batch *b,
		 int *dup, int64_t *prev_ns, struct cli_error *e)
{
	struct storage_merge_item item = {b, 0, 0};
	struct storage_writer *w;
	PGconn *conn;
	char errbuf[512];
	int rc, applied = 0, known = 0;

	if (storage_connect(a->db, &conn, errbuf, sizeof(errbuf)) != 0) {
		cli_error_set(e, "cannot connect to the database");
		if (a->verbose)
			cli_error_detail(e, "%s", errbuf);
		cli_error_hint(e,
			       "give a libpq conninfo or URL with --db or "
			       "FLEETPROF_DB (postgresql://user@host/db)%s",
			       a->verbose ? "" : "; --verbose shows why");
		return CLI_EXIT_RUNTIME;
	}
	rc = storage_schema_version_applied(conn, &applied);
	if (rc == 0 && applied < storage_schema_version_built()) {
		cli_error_set(e,
			      "the database's schema is at version %d, "
			      "this fleetprof needs %d",
			      applied, storage_schema_version_built());
		cli_error_hint(e, "apply it once with 'fleetprof-collector "
				  "--migrate --db CONNINFO'");
		PQfinish(conn);
		return CLI_EXIT_RUNTIME;
	}
	if (rc == 0 && !a->force &&
	    (rc = storage_batch_known(conn, b->agent.id, 1, &known, prev_ns)) ==
		    0 &&
	    known) {
		PQfinish(conn);
		*dup = 1;
		return CLI_EXIT_OK;
	}
	/* On failure the writer does not take the connection. */
	if (rc != 0 || (rc = storage_writer_create(conn, &w)) != 0) {
		PQfinish(conn);
		cli_error_set(e, "cannot prepare the database for writing: %s",
			      fp_strerror(rc));
		db_hint(e, a->verbose);
		return CLI_EXIT_RUNTIME;
	}
	rc = storage_merge(w, &item, 1, NULL);
	storage_writer_destroy(w); /* closes conn */
	if (rc == FP_EDBDOWN) {
		cli_error_set(e, "lost the connection to the database");
		cli_error_detail(e, "whether the file was stored is unknown");
		cli_error_hint(e, "run the same import again: a file already "
				  "stored is never counted twice");
		return CLI_EXIT_RUNTIME;
	}
	if (rc != 0) {
		cli_error_set(e, "the database refused the data: %s",
			      fp_strerror(rc));
		db_hint(e, a->verbose);
		return CLI_EXIT_RUNTIME;
	}
	if (item.status != 0) {
		cli_error_set(e, "the database refused the time of the "
				 "profile");
		cli_error_detail(e, "it is outside the raw data's retention "
				    "window of the writer");
		cli_error_hint(e, "give a more recent --at");
		return CLI_EXIT_RUNTIME;
	}
	*dup = item.dup;
	*prev_ns = b->t0;
	return CLI_EXIT_OK;
}

static int import(const struct import_args *a, FILE *out, struct cli_error *e)
{
	char hostbuf[256], when[32];
	const char *host = a->host;
	unsigned char *buf = NULL;
	struct cli_pstats ps;
	struct cli_merror me;
	struct wire_batch b;
	size_t len = 0;
	int64_t at, prev = 0;
	int status, dup = 0;

	if (host == NULL) {
		if (gethostname(hostbuf, sizeof(hostbuf)) != 0) {
			cli_error_set(e, "cannot get this machine's name: %s",
				      strerror(errno));
			cli_error_hint(e, "give --host NAME");
			return CLI_EXIT_RUNTIME;
		}
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		host = hostbuf;
	}
	status = resolve_at(a->at, fp_wall_ns(), &at, e);
	if (status != CLI_EXIT_OK)
		return status;
	status = read_file(a->file, &buf, &len, e);
	if (status != CLI_EXIT_OK)
		return status;
	if (cli_pstats_read(buf, len, &ps, &me) != 0) {
		cli_error_set(e, "'%s' is not a valid pstats file", a->file);
		cli_error_detail(e, "%s", me.text);
		cli_error_hint(e, "give a file written by cProfile, profile "
				  "or pstats (python -m cProfile -o FILE)");
		free(buf);
		return CLI_EXIT_RUNTIME;
	}
	memset(&b, 0, sizeof(b));
	if (a->force ? random_id(b.agent.id) != 0
		     : file_id(buf, len, host, a->service, b.agent.id) != 0) {
		cli_error_set(e, "cannot make the batch's id");
		status = CLI_EXIT_RUNTIME;
		goto out_free;
	}
	if (ps.nfstats == 0) {
		cli_error_set(e, "'%s' holds no functions: nothing to import",
			      a->file);
		status = CLI_EXIT_RUNTIME;
		goto out_free;
	}
	b.version = WIRE_VERSION;
	b.agent.host = host;
	b.agent.service = a->service;
	b.agent.lang = "pstats";
	b.agent.start_ns = at;
	b.seq = 1;
	b.t0 = b.t1 = at;
	b.clock = a->clock;
	b.fns = ps.fns;
	b.nfns = ps.nfns;
	b.fstats = ps.fstats;
	b.nfstats = ps.nfstats;
	b.edges = ps.edges;
	b.nedges = ps.nedges;
	status = store(a, &b, &dup, &prev, e);
	if (status != CLI_EXIT_OK)
		goto out_free;
	fp_format_time(dup ? prev : at, when, sizeof(when));
	if (dup)
		fprintf(out,
			"%s was already imported (service %s, host %s, at %s): "
			"nothing stored; --force stores it again\n",
			a->file, a->service, host, when);
	else
		fprintf(out,
			"imported %s: %u functions, %u edges, %llu calls "
			"(service %s, host %s, at %s)\n",
			a->file, ps.nfstats, ps.nedges,
			(unsigned long long)ps.total_calls, a->service, host,
			when);
	if (fflush(out) != 0 || ferror(out)) {
		cli_error_set(e, "cannot write the output: %s",
			      strerror(errno));
		status = CLI_EXIT_RUNTIME;
	}
out_free:
	cli_pstats_fini(&ps);
	free(buf);
	return status;
}

int cli_import_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct import_args a;
	struct cli_error e;
	int status;

	cli_error_clear(&e);
	status = parse(argc, argv, &a, &e);
	if (status == CLI_EXIT_OK && a.help) {
		fputs(cli_import_usage, out);
		return CLI_EXIT_OK;
	}
	if (status == CLI_EXIT_OK) {
		/* The database's own text is shown only with --verbose. */
		fp_log_set_level(a.verbose ? FP_LOG_INFO : FP_LOG_ERR - 1);
		status = import(&a, out, &e);
	}
	if (status != CLI_EXIT_OK)
		cli_error_print(&e, err);
	return status;
}
