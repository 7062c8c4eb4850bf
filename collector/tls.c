/*
 * Server TLS configuration (see tls.h). nng's file helper wants certificate
 * and key in one file; operators keep them apart (the key readable by the
 * service only), so both are read here, bounded, and passed as PEM text.
 * The key's copy is wiped before it is freed.
 */
#include "tls.h"
#include "fp/error.h"

#include <errno.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PEM_MAX (1024 * 1024)

/* Reads path into a NUL-terminated malloc'd buffer (*size bytes). */
static int read_pem(const char *what, const char *path, char **out,
		    size_t *size, char *err, size_t len)
{
	struct stat st;
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(err, len, "[tls] %s %s: %s", what, path,
			 strerror(errno));
		return FP_EIO;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || st.st_size > PEM_MAX) {
		snprintf(err, len,
			 "[tls] %s %s: not a regular file of 1 byte to 1 MiB",
			 what, path);
		fclose(f);
		return FP_EIO;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, len, "out of memory");
		return FP_ENOMEM;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	buf[n] = '\0';
	if (n != (size_t)st.st_size || strlen(buf) != n) {
		snprintf(err, len, "[tls] %s %s: short read or NUL byte", what,
			 path);
		explicit_bzero(buf, n);
		free(buf);
		return FP_EIO;
	}
	*out = buf;
	*size = n;
	return 0;
}

int collector_tls_load(const struct collector_options *o,
		       struct nng_tls_config **out, char *err, size_t len)
{
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	int rv, rc;

	if (strcmp(nng_tls_engine_name(), "none") == 0) {
		snprintf(err, len,
			 "this libnng was built without a TLS engine");
		return FP_EINVAL;
	}
	if ((rc = read_pem("cert_file", o->tls_cert_file, &cert, &cert_len, err,
			   len)) != 0)
		return rc;
	if ((rc = read_pem("key_file", o->tls_key_file, &key, &key_len, err,
			   len)) != 0)
		goto err_free_cert;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
		snprintf(err, len, "TLS: %s", nng_strerror(rv));
		rc = rv == NNG_ENOMEM ? FP_ENOMEM : FP_EINVAL;
		goto err_free_key;
	}
	if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
		snprintf(err, len,
			 "[tls] cert_file %s with key_file %s refused: %s",
			 o->tls_cert_file, o->tls_key_file, nng_strerror(rv));
		rc = FP_EINVAL;
		goto err_free_cfg;
	}
	if (o->tls_ca_file != NULL &&
	    ((rv = nng_tls_config_ca_file(cfg, o->tls_ca_file)) != 0 ||
	     (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) !=
		     0)) {
		snprintf(err, len, "[tls] ca_file %s refused: %s",
			 o->tls_ca_file, nng_strerror(rv));
		rc = FP_EINVAL;
		goto err_free_cfg;
	}
	explicit_bzero(key, key_len);
	free(key);
	free(cert);
	*out = cfg;
	return 0;

err_free_cfg:
	nng_tls_config_free(cfg);
err_free_key:
	explicit_bzero(key, key_len);
	free(key);
err_free_cert:
	free(cert);
	return rc;
}
