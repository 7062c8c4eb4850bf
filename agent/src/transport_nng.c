/*
 * Transport over libnng's REQ protocol. One REQ socket dialed to every
 * configured collector; nng spreads requests across connected peers and
 * redials in the background. A request that times out is simply sent again
 * by the caller (same bytes, same seq): the collector's dedup makes that safe.
 */
#include "transport.h"
#include "fp/error.h"
#include "fp/log.h"
#include "wire/reply.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>

struct agent_transport {
	nng_socket sock;
};

int agent_transport_create(const char *urls, struct agent_transport **out)
{
	struct agent_transport *t = calloc(1, sizeof(*t));
	char *copy, *url, *next;
	int rc, ndial = 0;

	if (t == NULL)
		return FP_ENOMEM;
	if ((rc = nng_req0_open(&t->sock)) != 0) {
		fp_warn("agent: nng_req0_open: %s", nng_strerror(rc));
		free(t);
		return FP_ENNG;
	}
	/* We resend ourselves on timeout; keep nng from doing it too. */
	nng_socket_set_ms(t->sock, NNG_OPT_REQ_RESENDTIME,
			  NNG_DURATION_INFINITE);
	nng_socket_set_ms(t->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(t->sock, NNG_OPT_RECONNMAXT, 2000);
	nng_socket_set_size(t->sock, NNG_OPT_RECVMAXSZ, 64 * 1024);
	copy = strdup(urls);
	if (copy == NULL) {
		nng_close(t->sock);
		free(t);
		return FP_ENOMEM;
	}
	for (url = copy; url != NULL; url = next) {
		next = strchr(url, ',');
		if (next != NULL)
			*next++ = '\0';
		while (*url == ' ')
			url++;
		if (*url == '\0')
			continue;
		rc = nng_dial(t->sock, url, NULL, NNG_FLAG_NONBLOCK);
		if (rc != 0) {
			fp_warn("agent: cannot dial %s: %s", url,
				nng_strerror(rc));
			continue;
		}
		ndial++;
	}
	free(copy);
	if (ndial == 0) {
		nng_close(t->sock);
		free(t);
		return FP_EINVAL;
	}
	*out = t;
	return 0;
}

void agent_transport_destroy(struct agent_transport *t)
{
	if (t == NULL)
		return;
	nng_close(t->sock);
	free(t);
}

int agent_transport_request(struct agent_transport *t, const void *msg,
			    size_t len, int timeout_ms,
			    struct wire_reply *reply)
{
	nng_msg *m = NULL;
	int rc;

	nng_socket_set_ms(t->sock, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_ms(t->sock, NNG_OPT_RECVTIMEO, timeout_ms);
	if ((rc = nng_msg_alloc(&m, 0)) != 0)
		return FP_ENOMEM;
	if ((rc = nng_msg_append(m, msg, len)) != 0) {
		nng_msg_free(m);
		return FP_ENOMEM;
	}
	if ((rc = nng_sendmsg(t->sock, m, 0)) != 0) {
		nng_msg_free(m); /* on failure the message is still ours */
		return rc == NNG_ETIMEDOUT ? FP_ETIMEDOUT : FP_ENNG;
	}
	if ((rc = nng_recvmsg(t->sock, &m, 0)) != 0)
		return rc == NNG_ETIMEDOUT ? FP_ETIMEDOUT : FP_ENNG;
	rc = wire_reply_decode(nng_msg_body(m), nng_msg_len(m), reply);
	nng_msg_free(m);
	return rc;
}
