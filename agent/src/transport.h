/*
 * The agent's link to the collectors: send one encoded batch, wait for its
 * reply. Kept this small on purpose so what sits behind it can change (see
 * DESIGN.md, "Fork trap"). Used by the flush thread only.
 */
#ifndef AGENT_TRANSPORT_H
#define AGENT_TRANSPORT_H

#include <stddef.h>

struct wire_reply;
struct agent_transport;

/* urls: comma-separated nng URLs. Dialing is asynchronous: a collector that
 * is down now is retried in the background. */
int agent_transport_create(const char *urls, struct agent_transport **out);
void agent_transport_destroy(struct agent_transport *t);

/*
 * Sends msg and waits up to timeout_ms for a reply. Returns 0 with *reply
 * filled, FP_ETIMEDOUT, or FP_ENNG / FP_EMALFORMED. msg stays the caller's.
 */
int agent_transport_request(struct agent_transport *t, const void *msg,
			    size_t len, int timeout_ms,
			    struct wire_reply *reply);

#endif
