/* ztmdev_tls.h - a ready transport for libztmdev on hosts with OpenSSL:
 * one HTTPS request per connection over TLS 1.3, presenting the credential
 * the library names. The library itself does no networking (ztmdev.h); this
 * is what `ztm-device` and `ztm demo` plug into it. A microcontroller port
 * brings its own transport instead. */
#ifndef ZTMDEV_TLS_H
#define ZTMDEV_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "ztmdev/ztmdev.h"

struct ztmdev_tls {
	const char *url;     /* https://host[:port] */
	const char *ca_file; /* verifies the server */
	const char *dir;     /* device directory: key.pem, bootstrap.pem, device.pem */
	/* The device context whose key signs the handshake (ztmdev_ossl_key):
	 * needed for a TPM key. NULL: the transport reads dir/key.pem itself,
	 * with pass. */
	struct ztmdev *dev;
	const char *pass; /* key passphrase or NULL */
	size_t pass_len;
	int timeout; /* seconds per connect/read/write */
};

/* The ztmdev_transport_fn: one request over TLS 1.3 with the credential the
 * library names as client certificate. arg is a struct ztmdev_tls. */
int ztmdev_tls_transport(void *arg, const struct ztmdev_request *req, struct ztmdev_response *resp,
                         char *err, size_t errsize);

/* Parses a whole HTTP/1.1 response (status line, headers, body) into resp;
 * the body is copied into resp->body (resp->body_cap). -1 + err when
 * malformed or too large. */
int ztmdev_tls_http_parse(const uint8_t *p, size_t n, struct ztmdev_response *resp, char *err,
                          size_t errsize);

#endif
