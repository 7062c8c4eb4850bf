/*
 * Ledger lookups outside the merge path: whether an (agent id, seq) was
 * ever committed, whatever its t0 (the ledger's key also holds t0 because it
 * is partitioned by it). Used by `fleetprof import` to make re-imports of
 * one file no-ops. SQL parameterised; results cleared here.
 */
#include "storage/storage.h"
#include "fp/error.h"
#include "fp/log.h"
#include "fp/timeutil.h"
#include "wire/batch.h"

#include <stdio.h>
#include <stdlib.h>

int storage_batch_known(PGconn *conn, const uint8_t id[16], uint64_t seq,
			int *known, int64_t *t0_ns)
{
	char lock[16];
	const char *lp[1] = {lock};
	char seqbuf[24];
	const char *ip[2] = {(const char *)id, seqbuf};
	const int ilen[2] = {WIRE_AGENT_ID_LEN, 0}, ifmt[2] = {1, 0};
	PGresult *r;
	int rc = 0;

	snprintf(seqbuf, sizeof(seqbuf), "%llu", (unsigned long long)seq);
	snprintf(lock, sizeof(lock), "%ld",
		 (long)(((uint32_t)id[0] | (uint32_t)id[1] << 8 |
			 (uint32_t)id[2] << 16 | (uint32_t)id[3] << 24) &
			INT32_MAX));
	r = PQexecParams(conn,
			 "SELECT pg_advisory_lock(1718642032, $1::integer)", 1,
			 NULL, lp, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = FP_EDB;
	PQclear(r);
	if (rc != 0)
		return rc;
	r = PQexecParams(
		conn,
		"SELECT floor(extract(epoch FROM t0))::bigint "
		"FROM ingested_batches WHERE agent_id = $1 AND seq = $2 "
		"LIMIT 1",
		2, NULL, ip, ilen, ifmt, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fp_info("storage: ledger lookup: %s", PQresultErrorMessage(r));
		PQclear(r);
		return FP_EDB;
	}
	*known = PQntuples(r) > 0;
	if (*known)
		*t0_ns = strtoll(PQgetvalue(r, 0, 0), NULL, 10) * FP_NS_PER_SEC;
	PQclear(r);
	return 0;
}
