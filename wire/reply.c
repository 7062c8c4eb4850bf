/*
 * The collector's reply to a batch: encode (collector) and strict decode
 * (agent). The decoder trusts nothing: at most WIRE_REPLY_MAX_BYTES, the same
 * wire_prescan() as batches before msgpack-c unpacks, then types and values.
 * ok, seq, code and retry are required: a reply missing `retry` must not be
 * read as "drop the batch". Reentrant; out-params written only on success.
 */
#include "wire/reply.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

#include "fp/error.h"
#include "prescan.h"

#define WIRE_REPLY_MAX_BYTES 1024

#define PK(call)                          \
	do {                              \
		if ((call) != 0)          \
			return FP_ENOMEM; \
	} while (0)

enum reply_key { R_OK, R_SEQ, R_DUP, R_CODE, R_RETRY, R_MSG, R_NKEYS };

static const char *const reply_names[R_NKEYS] = {
	"ok", "seq", "dup", "code", "retry", "msg",
};

static int pack_key(msgpack_packer *pk, const char *key)
{
	size_t n = strlen(key);

	PK(msgpack_pack_str(pk, n));
	PK(msgpack_pack_str_body(pk, key, n));
	return 0;
}

static int pack_bool(msgpack_packer *pk, int v)
{
	PK(v ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
	return 0;
}

static int pack_reply(msgpack_packer *pk, const struct wire_reply *r)
{
	/* msg may fill the whole array unterminated: never read past it */
	size_t n = strnlen(r->msg, sizeof(r->msg) - 1);

	PK(msgpack_pack_map(pk, R_NKEYS));
	if (pack_key(pk, "ok") || pack_bool(pk, r->ok))
		return FP_ENOMEM;
	if (pack_key(pk, "seq"))
		return FP_ENOMEM;
	PK(msgpack_pack_uint64(pk, r->seq));
	if (pack_key(pk, "dup") || pack_bool(pk, r->dup))
		return FP_ENOMEM;
	if (pack_key(pk, "code"))
		return FP_ENOMEM;
	PK(msgpack_pack_int(pk, r->code));
	if (pack_key(pk, "retry") || pack_bool(pk, r->retry))
		return FP_ENOMEM;
	if (pack_key(pk, "msg"))
		return FP_ENOMEM;
	PK(msgpack_pack_str(pk, n));
	PK(msgpack_pack_str_body(pk, r->msg, n));
	return 0;
}

int wire_reply_encode(const struct wire_reply *r, void **out, size_t *len)
{
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
	int rc;

	if (!r || !out || !len)
		return FP_EINVAL;
	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	rc = pack_reply(&pk, r);
	if (rc != 0) {
		msgpack_sbuffer_destroy(&sbuf);
		return rc;
	}
	*len = sbuf.size;
	*out = msgpack_sbuffer_release(&sbuf);
	return 0;
}

static int get_bool(const msgpack_object *o, int *out)
{
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return FP_ETYPE;
	*out = o->via.boolean ? 1 : 0;
	return 0;
}

static int get_code(const msgpack_object *o, int *out)
{
	/* codes are 0 or negative FP_E* values */
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 != 0)
			return FP_ERANGE;
		*out = 0;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return FP_ETYPE;
	if (o->via.i64 < INT_MIN)
		return FP_ERANGE;
	*out = (int)o->via.i64;
	return 0;
}

static int fill_reply(const msgpack_object *root, struct wire_reply *r)
{
	const msgpack_object *v[R_NKEYS] = {NULL};
	uint32_t i;
	int k, rc;

	if (root->type != MSGPACK_OBJECT_MAP)
		return FP_ETYPE;
	for (i = 0; i < root->via.map.size; i++) {
		const msgpack_object_kv *kv = &root->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR)
			return FP_ETYPE;
		for (k = 0; k < R_NKEYS; k++) {
			size_t n = strlen(reply_names[k]);

			if (kv->key.via.str.size != n ||
			    memcmp(kv->key.via.str.ptr, reply_names[k], n))
				continue;
			if (v[k])
				return FP_EDUPLICATE;
			v[k] = &kv->val;
			break;
		}
	}
	if (!v[R_OK] || !v[R_SEQ] || !v[R_CODE] || !v[R_RETRY])
		return FP_EMISSING;
	if ((rc = get_bool(v[R_OK], &r->ok)) != 0 ||
	    (rc = get_bool(v[R_RETRY], &r->retry)) != 0 ||
	    (v[R_DUP] && (rc = get_bool(v[R_DUP], &r->dup)) != 0) ||
	    (rc = get_code(v[R_CODE], &r->code)) != 0)
		return rc;
	if (v[R_SEQ]->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return FP_ETYPE;
	r->seq = v[R_SEQ]->via.u64;
	/* an ack carries no error code, a refusal always one */
	if (r->ok != (r->code == 0) || (r->dup && !r->ok))
		return FP_EINVAL;
	if (v[R_MSG]) {
		const msgpack_object *m = v[R_MSG];

		if (m->type != MSGPACK_OBJECT_STR)
			return FP_ETYPE;
		if (m->via.str.size > sizeof(r->msg) - 1)
			return FP_ESTRLEN;
		if (m->via.str.size &&
		    memchr(m->via.str.ptr, '\0', m->via.str.size))
			return FP_EINVAL;
		if (m->via.str.size)
			memcpy(r->msg, m->via.str.ptr, m->via.str.size);
		r->msg[m->via.str.size] = '\0';
	}
	return 0;
}

int wire_reply_decode(const void *buf, size_t len, struct wire_reply *out)
{
	struct wire_reply r;
	msgpack_unpacked up;
	msgpack_unpack_return ur;
	size_t off = 0;
	int rc;

	if (!out || (!buf && len))
		return FP_EINVAL;
	if (len > WIRE_REPLY_MAX_BYTES)
		return FP_EMSGSIZE;
	rc = wire_prescan(buf, len, WIRE_PRESCAN_MAX_NESTING, NULL);
	if (rc != 0)
		return rc;
	msgpack_unpacked_init(&up);
	ur = msgpack_unpack_next(&up, buf, len, &off);
	if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
		rc = ur == MSGPACK_UNPACK_NOMEM_ERROR ? FP_ENOMEM
						      : FP_EMALFORMED;
		goto out_free_unpacked;
	}
	memset(&r, 0, sizeof(r));
	rc = fill_reply(&up.data, &r);
	if (rc == 0)
		*out = r;

out_free_unpacked:
	msgpack_unpacked_destroy(&up);
	return rc;
}
