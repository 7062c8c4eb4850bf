/*
 * TLS for tls+tcp:// listeners: one nng server TLS configuration built from
 * [tls] cert_file, key_file (PEM, separate files) and the optional ca_file
 * (then client certificates are required). Built once at start; the
 * listeners hold their own references.
 */
#ifndef COLLECTOR_TLS_H
#define COLLECTOR_TLS_H

#include <stddef.h>

#include "collector.h"

/*
 * On success *out is a configuration the caller releases with
 * nng_tls_config_free(). Returns 0, or FP_EIO (a file cannot be read),
 * FP_EINVAL (no TLS engine in libnng, or PEM data refused), FP_ENOMEM,
 * with a one-line reason in err.
 */
int collector_tls_load(const struct collector_options *o,
		       struct nng_tls_config **out, char *err, size_t len);

#endif
