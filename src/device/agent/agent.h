/* agent.h - ztm-device internals: the HTTPS transport and its response
 * parser (the library itself does no networking). */
#ifndef ZTMDEV_AGENT_H
#define ZTMDEV_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "ztmdev/ztmdev.h"

struct agent_tls {
	const char *url;     /* https://host[:port] */
	const char *ca_file; /* verifies the server */
	const char *dir;     /* device directory: key.pem, bootstrap.pem, device.pem */
	const char *pass;    /* key passphrase or NULL */
	size_t pass_len;
	int timeout; /* seconds per connect/read/write */
};

/* The ztmdev_transport_fn: one request over TLS 1.3 with the credential the
 * library names as client certificate. arg is a struct agent_tls. */
int agent_transport(void *arg, const struct ztmdev_request *req, struct ztmdev_response *resp,
                    char *err, size_t errsize);

/* Parses a whole HTTP/1.1 response (status line, headers, body) into resp;
 * the body is copied into resp->body (resp->body_cap). -1 + err when
 * malformed or too large. */
int agent_http_parse(const uint8_t *p, size_t n, struct ztmdev_response *resp, char *err,
                     size_t errsize);

#endif
