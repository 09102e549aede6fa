/* client.h - the `ztm` side of mutual TLS: one HTTPS request per call to
 * ztmd, verifying the server against the ztm CA bundle and presenting the
 * operator's or station's certificate. */
#ifndef ZTM_CLI_CLIENT_H
#define ZTM_CLI_CLIENT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "ztm/buf.h"
#include "ztm/err.h"

struct ztm_client_opts {
	const char *url;       /* https://host:port */
	const char *ca_file;   /* PEM bundle the server must chain to */
	const char *cert_file; /* client certificate (PEM), or NULL */
	const char *key_uri;   /* its key (ztm key URI), or NULL */
	const char *key_pass_file;
	/* An in-memory credential instead of cert_file/key_uri (borrowed):
	 * `ztm station inject` registers with a bootstrap certificate whose
	 * key never touches the disk. */
	X509 *mem_cert;
	EVP_PKEY *mem_key;
};

struct ztm_http_resp {
	int status;
	char content_type[128];
	int retry_after; /* seconds, -1 if absent */
	struct ztm_buf body;
};

/* Fills unset fields from the environment: ZTM_SERVER, ZTM_CA, ZTM_CERT,
 * ZTM_KEY, ZTM_KEY_PASS_FILE. Fails naming what is still missing. */
int ztm_client_opts_env(struct ztm_client_opts *o, int need_cert, struct ztm_error *err);

void ztm_http_resp_init(struct ztm_http_resp *r);
void ztm_http_resp_free(struct ztm_http_resp *r);

/* extra_header: one full header line without CRLF (e.g. "Authorization:
 * Basic ..."), or NULL. The response body is capped at 4 MiB. */
int ztm_client_request(const struct ztm_client_opts *o, const char *method, const char *path,
                       const char *content_type, const char *extra_header, const void *body,
                       size_t len, struct ztm_http_resp *resp, struct ztm_error *err);

/* Parses a complete HTTP/1.1 response (status line, headers, body by
 * Content-Length or to the end). Exposed for the fuzz target. */
int ztm_http_parse_response(const uint8_t *p, size_t n, struct ztm_http_resp *resp,
                            struct ztm_error *err);

#endif
