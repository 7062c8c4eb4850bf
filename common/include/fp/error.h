/*
 * fleetprof error codes: 0 is success, every failure a negative FP_E* value.
 * One X-macro table makes the enum, fp_strerror() and fp_errname(); the table
 * is append-only so codes stay stable across versions (they cross the wire in
 * collector replies).
 */
#ifndef FP_ERROR_H
#define FP_ERROR_H

#define FP_ERRNO_MAP(X)                                      \
	X(NOMEM, 1, "out of memory")                         \
	X(INVAL, 2, "invalid argument")                      \
	X(IO, 3, "input/output error")                       \
	X(TIMEDOUT, 4, "timed out")                          \
	X(CLOSED, 5, "closed")                               \
	X(FULL, 6, "queue full")                             \
	X(TRUNCATED, 7, "message truncated")                 \
	X(TYPE, 8, "wrong type")                             \
	X(COUNT, 9, "declared count exceeds the bytes left") \
	X(LIMIT, 10, "value exceeds a limit")                \
	X(RANGE, 11, "id out of range")                      \
	X(STRLEN, 12, "string too long")                     \
	X(MISSING, 13, "required field missing")             \
	X(VERSION, 14, "unsupported version")                \
	X(DEPTH, 15, "nesting too deep")                     \
	X(DUPLICATE, 16, "duplicate key or id")              \
	X(TRAILING, 17, "trailing bytes after message")      \
	X(MSGSIZE, 18, "message too large")                  \
	X(MALFORMED, 19, "malformed msgpack")                \
	X(DB, 20, "database error")                          \
	X(DBDOWN, 21, "database unavailable")                \
	X(NNG, 22, "transport error")                        \
	X(AUTH, 23, "authentication failed")                 \
	X(NOTFOUND, 24, "not found")                         \
	X(SYNTAX, 25, "syntax error")                        \
	X(REJECTED, 26, "rejected by the collector")         \
	X(STATE, 27, "invalid state")

enum fp_errno {
	FP_OK = 0,
#define FP_ERR_ENUM(name, num, msg) FP_E##name = -(num),
	FP_ERRNO_MAP(FP_ERR_ENUM)
#undef FP_ERR_ENUM
};

/* Human text for an error code; never NULL (unknown codes get a fixed text). */
__attribute__((visibility("default"))) const char *fp_strerror(int err);
/* Symbolic name ("FP_ETRUNCATED"); never NULL. */
const char *fp_errname(int err);

#endif
