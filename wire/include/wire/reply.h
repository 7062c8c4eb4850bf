/*
 * The collector's reply to one batch, msgpack-encoded as a map:
 * {"ok": bool, "seq": uint, "dup": bool, "code": int, "retry": bool,
 *  "msg": str}. ok=true is an ack: the batch is committed (dup=true if it had
 * been committed before). ok=false carries an FP_E* code and a reason; retry
 * tells the agent whether resending the same batch later can succeed
 * (database down: yes; malformed batch: no, drop it and count it).
 * ok, seq, code and retry are required on the wire (a missing retry must not
 * read as "drop"); dup and msg are optional. ok is true exactly when code is
 * 0; dup only with ok. msg is at most 159 bytes without NUL.
 */
#ifndef WIRE_REPLY_H
#define WIRE_REPLY_H

#include <stddef.h>
#include <stdint.h>

struct wire_reply {
	int ok;
	int dup;
	int retry;
	int code;
	uint64_t seq;
	char msg[160];
};

/*
 * *out is malloc'd, caller frees; nothing written on failure (FP_ENOMEM,
 * FP_EINVAL). msg is sent up to its first NUL, at most 159 bytes.
 */
int wire_reply_encode(const struct wire_reply *r, void **out, size_t *len);
/*
 * Strict decode of a reply (limits: 1 KiB); unknown keys ignored. *out is
 * written only on success. Codes: FP_EMSGSIZE, FP_ETRUNCATED, FP_ECOUNT,
 * FP_ETRAILING, FP_EMALFORMED, FP_EDEPTH, FP_ETYPE, FP_EMISSING,
 * FP_EDUPLICATE, FP_ERANGE (code > 0 or beyond int), FP_ESTRLEN,
 * FP_EINVAL (ok/code/dup disagree, NUL in msg), FP_ENOMEM.
 */
int wire_reply_decode(const void *buf, size_t len, struct wire_reply *out);

#endif
