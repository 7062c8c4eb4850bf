/*
 * An in-process collector stand-in for agent tests: a libnng REP socket on
 * a thread that decodes every batch with the collector's own decoder, hands
 * it to a callback and acks it. Not a mock of the collector's storage: it
 * checks what the agent puts on the wire.
 */
#ifndef REP_PEER_H
#define REP_PEER_H

#include "wire/batch.h"

typedef void (*rep_peer_fn)(const struct wire_batch *b, void *arg);

/* Listens on url (ipc:// or tcp://); returns 0 or -1. */
int rep_peer_start(const char *url, rep_peer_fn fn, void *arg);
/* Closes the socket and joins the thread. */
void rep_peer_stop(void);

#endif
