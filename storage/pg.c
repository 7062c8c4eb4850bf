/*
 * Connection set-up, identities and schema migrations. Migrations are the
 * files of schema/ compiled into the binary (storage_schema.c, generated), so
 * a deployed collector needs no source tree. Applying them is serialised by a
 * transaction-level advisory lock.
 */
#include "storage/storage.h"
#include "pgutil.h"
#include "fp/error.h"
#include "fp/hash.h"
#include "fp/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fp_embedded {
	const char *name;
	const char *data;
	size_t len;
};
extern const struct fp_embedded storage_schema_files[];

/* Seeds separate the identity spaces; persisted, never change them. */
#define SEED_SERIES UINT64_C(0x5e51e5)
#define SEED_FUNCTION UINT64_C(0xf0c7)
#define SEED_STACK UINT64_C(0x57ac)
/* Advisory lock key for migrations: "fleetprf" as a 64-bit integer. */
#define MIGRATE_LOCK_KEY "7380385375773028966"

const char *storage_conninfo(const char *explicit_value)
{
	const char *env;
	if (explicit_value != NULL && explicit_value[0] != '\0')
		return explicit_value;
	env = getenv("FLEETPROF_DB");
	if (env != NULL && env[0] != '\0')
		return env;
	return "";
}

void storage_one_line(char *buf, size_t len, const char *msg)
{
	size_t i;
	if (buf == NULL || len == 0)
		return;
	size_t o = 0;
	if (msg == NULL)
		msg = "";
	for (i = 0; msg[i] != '\0' && o + 1 < len; i++) {
		char ch = msg[i] == '\n' || msg[i] == '\t' ? ' ' : msg[i];
		if (ch == ' ' && (o == 0 || buf[o - 1] == ' '))
			continue;
		buf[o++] = ch;
	}
	while (o > 0 && buf[o - 1] == ' ')
		o--;
	buf[o] = '\0';
}

int storage_connect(const char *conninfo, PGconn **out, char *errbuf,
		    size_t errlen)
{
	PGconn *c = PQconnectdb(storage_conninfo(conninfo));
	if (c == NULL) {
		storage_one_line(errbuf, errlen, "out of memory");
		return FP_ENOMEM;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		storage_one_line(errbuf, errlen, PQerrorMessage(c));
		PQfinish(c);
		return FP_EDBDOWN;
	}
	/* Quiet NOTICEs (e.g. "relation already exists, skipping"); buckets
	 * and partitions are UTC. */
	PQclear(PQexec(c, "SET client_min_messages = warning; "
			  "SET timezone = 'UTC'"));
	*out = c;
	return 0;
}

int64_t storage_series_id(const char *host, const char *service, int clock,
			  const char *labels_json)
{
	struct fp_hasher h;
	uint64_t v;
	if (fp_hasher_init(&h, SEED_SERIES) != 0)
		return 0;
	fp_hasher_str(&h, host, strlen(host));
	fp_hasher_str(&h, service, strlen(service));
	fp_hasher_u64(&h, (uint64_t)clock);
	fp_hasher_str(&h, labels_json, strlen(labels_json));
	v = fp_hasher_digest(&h);
	fp_hasher_fini(&h);
	return fp_hash_to_i64(v);
}

int64_t storage_function_id(const char *name, const char *file, uint32_t line,
			    const char *module)
{
	struct fp_hasher h;
	uint64_t v;
	if (fp_hasher_init(&h, SEED_FUNCTION) != 0)
		return 0;
	fp_hasher_str(&h, name, strlen(name));
	fp_hasher_str(&h, file, strlen(file));
	fp_hasher_u64(&h, line);
	fp_hasher_str(&h, module, strlen(module));
	v = fp_hasher_digest(&h);
	fp_hasher_fini(&h);
	return fp_hash_to_i64(v);
}

int64_t storage_stack_id(int64_t parent_stack_id, int64_t fn_id)
{
	uint64_t in[2] = {(uint64_t)parent_stack_id, (uint64_t)fn_id};
	unsigned char b[16];
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 8; i++)
			b[k * 8 + i] = (unsigned char)(in[k] >> (8 * i));
	return fp_hash_to_i64(fp_hash64(b, sizeof(b), SEED_STACK));
}

/* Runs a statement without parameters; logs and maps failure. */
static int exec_cmd(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];
		storage_one_line(msg, sizeof(msg), PQresultErrorMessage(r));
		fp_err("storage: %s", msg);
		rc = PQstatus(c) == CONNECTION_OK ? FP_EDB : FP_EDBDOWN;
	}
	PQclear(r);
	return rc;
}

/* "003_rollup.sql" -> 3; -1 if the name has no numeric prefix. */
static int migration_version(const char *name)
{
	int v = 0, digits = 0;
	while (name[digits] >= '0' && name[digits] <= '9') {
		v = v * 10 + (name[digits] - '0');
		digits++;
	}
	return digits > 0 && name[digits] == '_' ? v : -1;
}

int storage_schema_version_built(void)
{
	int max = 0;
	for (const struct fp_embedded *e = storage_schema_files; e->name; e++)
		if (migration_version(e->name) > max)
			max = migration_version(e->name);
	return max;
}

int storage_schema_version_applied(PGconn *conn, int *out)
{
	PGresult *r = PQexec(conn, "SELECT coalesce(max(version), 0) "
				   "FROM schema_migrations");
	int rc = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		/* No table yet: nothing applied. */
		rc = PQstatus(conn) == CONNECTION_OK ? 0 : FP_EDBDOWN;
		if (rc == 0)
			*out = 0;
	} else {
		*out = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	}
	PQclear(r);
	return rc;
}

static int apply_one(PGconn *c, const struct fp_embedded *e, int version)
{
	char vbuf[16];
	const char *params[2] = {vbuf, e->name};
	PGresult *r;
	int rc, applied;

	if ((rc = exec_cmd(c, "BEGIN")) != 0)
		return rc;
	snprintf(vbuf, sizeof(vbuf), "%d", version);
	if ((rc = exec_cmd(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY
			      ")")) != 0)
		goto err_rollback;
	r = PQexecParams(c,
			 "SELECT 1 FROM schema_migrations WHERE version = $1",
			 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fp_err("storage: %s", PQresultErrorMessage(r));
		PQclear(r);
		rc = FP_EDB;
		goto err_rollback;
	}
	applied = PQntuples(r) > 0;
	PQclear(r);
	if (applied)
		return exec_cmd(c, "COMMIT");
	if ((rc = exec_cmd(c, e->data)) != 0) {
		fp_err("storage: migration %s failed", e->name);
		goto err_rollback;
	}
	r = PQexecParams(c,
			 "INSERT INTO schema_migrations (version, name) "
			 "VALUES ($1, $2)",
			 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fp_err("storage: %s", PQresultErrorMessage(r));
		PQclear(r);
		rc = FP_EDB;
		goto err_rollback;
	}
	PQclear(r);
	if ((rc = exec_cmd(c, "COMMIT")) != 0)
		return rc;
	fp_notice("storage: applied migration %s", e->name);
	return 0;

err_rollback:
	PQclear(PQexec(c, "ROLLBACK"));
	return rc;
}

int storage_migrate(PGconn *conn)
{
	int rc, built = storage_schema_version_built();

	rc = exec_cmd(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			    "version integer PRIMARY KEY, name text NOT NULL, "
			    "applied_at timestamptz NOT NULL DEFAULT now())");
	if (rc != 0)
		return rc;
	/* Apply in version order whatever the embedding order was. */
	for (int v = 1; v <= built; v++) {
		for (const struct fp_embedded *e = storage_schema_files;
		     e->name; e++) {
			if (migration_version(e->name) != v)
				continue;
			if ((rc = apply_one(conn, e, v)) != 0)
				return rc;
		}
	}
	return 0;
}
