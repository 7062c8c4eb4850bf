/*
 * See rep_peer.h. One thread, one socket; the callback runs on that thread.
 */
#include "rep_peer.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fp/error.h"
#include "wire/reply.h"

static nng_socket rep;
static pthread_t thread;
static rep_peer_fn callback;
static void *callback_arg;

static void *peer_main(void *arg)
{
	(void)arg;
	for (;;) {
		nng_msg *m;
		struct wire_batch *b = NULL;
		struct wire_reply r;
		void *out;
		size_t len;
		int rc;

		if (nng_recvmsg(rep, &m, 0) != 0)
			return NULL; /* closed */
		memset(&r, 0, sizeof(r));
		rc = wire_decode(nng_msg_body(m), nng_msg_len(m), NULL, &b,
				 NULL);
		if (rc == 0) {
			callback(b, callback_arg);
			r.ok = 1;
			r.seq = b->seq;
			wire_batch_destroy(b);
		} else {
			r.code = rc;
		}
		nng_msg_clear(m);
		if (wire_reply_encode(&r, &out, &len) == 0) {
			nng_msg_append(m, out, len);
			free(out);
		}
		if (nng_sendmsg(rep, m, 0) != 0)
			nng_msg_free(m);
	}
}

int rep_peer_start(const char *url, rep_peer_fn fn, void *arg)
{
	callback = fn;
	callback_arg = arg;
	if (nng_rep0_open(&rep) != 0)
		return -1;
	if (nng_listen(rep, url, NULL, 0) != 0) {
		nng_close(rep);
		return -1;
	}
	if (pthread_create(&thread, NULL, peer_main, NULL) != 0) {
		nng_close(rep);
		return -1;
	}
	return 0;
}

void rep_peer_stop(void)
{
	nng_close(rep);
	pthread_join(thread, NULL);
}
