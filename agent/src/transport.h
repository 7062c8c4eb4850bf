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

/*
 * urls: comma-separated collector URLs, tcp://host:port (host a name, an
 * IPv4 address or [IPv6]) or ipc:///path. Nothing is connected yet: the
 * first request dials. FP_EINVAL (logged) if a URL is not one of those,
 * FP_ENOMEM; *out is written only on success.
 */
int agent_transport_create(const char *urls, struct agent_transport **out);
/* Closes the connection and frees t. NULL is a no-op. */
void agent_transport_destroy(struct agent_transport *t);
/*
 * For a child forked (without exec) from the process that created t: closes
 * the inherited descriptors and frees t without sending or receiving, so the
 * parent's connection is left as it was. NULL is a no-op.
 */
void agent_transport_forget(struct agent_transport *t);

/*
 * Sends msg and waits for its reply, connecting first if needed; the whole
 * call ends within timeout_ms (name resolution aside). Returns 0 with *reply
 * filled; FP_ETIMEDOUT; FP_ENNG / FP_EIO (connection or protocol failure:
 * the connection is closed and the next call dials the next URL);
 * FP_EMSGSIZE (reply over 64 KiB, connection closed); or an error of
 * wire_reply_decode(). msg stays the caller's.
 */
int agent_transport_request(struct agent_transport *t, const void *msg,
			    size_t len, int timeout_ms,
			    struct wire_reply *reply);

#endif
