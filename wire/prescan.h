/*
 * Structural pre-scan of one msgpack message, run before msgpack-c sees it.
 * msgpack-c reserves memory for the element count a message claims, so every
 * declared length is checked here against the bytes actually present; after a
 * successful scan, unpacking allocates at most a small multiple of len.
 * Pure function over its input: allocates nothing, safe from any thread.
 */
#ifndef WIRE_PRESCAN_H
#define WIRE_PRESCAN_H

#include <stddef.h>

#include "wire/batch.h"

/* Hard cap on container nesting; v1 batches need 3 levels. */
#define WIRE_PRESCAN_MAX_NESTING 8

/*
 * Checks that buf[0, len) holds exactly one complete msgpack object, whose
 * containers nest at most max_nesting levels (capped at
 * WIRE_PRESCAN_MAX_NESTING) and whose every declared array, map, str, bin and
 * ext length fits in the bytes left (an array element needs at least one
 * byte, a map entry two). Returns 0, or on failure FP_ETRUNCATED (input ends
 * inside a value), FP_ECOUNT (a declared length exceeds the bytes left),
 * FP_EDEPTH, FP_EMALFORMED (byte 0xc1) or FP_ETRAILING, and fills err (which
 * may be NULL) with the offset and reason.
 */
int wire_prescan(const void *buf, size_t len, unsigned max_nesting,
		 struct wire_error *err);

#endif
