/* tls.c - the TLS transport: one HTTPS request per connection
 * over TLS 1.3, the server verified against the given CA and host name, the
 * device presenting the credential the library asks for. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>

#include "ztmdev/ztmdev_ossl.h"
#include "ztmdev_tls.h"

#define RESPONSE_MAX ((size_t)128 * 1024)

static int fail(char *err, size_t errsize, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[160] = "";

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(err, errsize, "%s%s%s", what, reason[0] != '\0' ? ": " : "", reason);
	return -1;
}

/* "https://host[:port][/]" -> "host:port" for BIO_set_conn_hostname and the
 * bare host for verification (brackets stripped from an IPv6 literal). */
static int split_url(const char *url, char *hostport, size_t hpn, char *host, size_t hn)
{
	const char *h, *e;
	size_t len;

	if (strncmp(url, "https://", 8) != 0)
		return -1;
	h = url + 8;
	e = h + strcspn(h, "/");
	if (e[0] == '/' && e[1] != '\0')
		return -1; /* the library supplies the paths */
	len = (size_t)(e - h);
	if (len == 0 || len >= hpn || len >= hn)
		return -1;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', len);
		if (rb == NULL)
			return -1;
		snprintf(host, hn, "%.*s", (int)(rb - h - 1), h + 1);
		if (rb + 1 == e)
			snprintf(hostport, hpn, "%.*s:443", (int)len, h);
		else
			snprintf(hostport, hpn, "%.*s", (int)len, h);
	} else {
		const char *colon = memchr(h, ':', len);
		snprintf(host, hn, "%.*s", (int)((colon != NULL ? colon : e) - h), h);
		if (colon == NULL)
			snprintf(hostport, hpn, "%.*s:443", (int)len, h);
		else
			snprintf(hostport, hpn, "%.*s", (int)len, h);
	}
	return host[0] != '\0' ? 0 : -1;
}

struct pass_arg {
	const char *p;
	size_t n;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	const struct pass_arg *a = u;

	(void)rwflag;
	if (a->n == 0 || a->n > (size_t)size)
		return -1;
	memcpy(buf, a->p, a->n);
	return (int)a->n;
}

static SSL_CTX *make_ctx(const struct ztmdev_tls *t, enum ztmdev_cred cred, char *err,
                         size_t errsize)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct pass_arg pa = {t->pass, t->pass_len};
	char path[600];
	EVP_PKEY *key = NULL;
	BIO *b = NULL;

	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
		fail(err, errsize, "TLS context");
		goto bad;
	}
	if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
		snprintf(path, sizeof(path), "%s: cannot load CA certificates", t->ca_file);
		fail(err, errsize, path);
		goto bad;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	snprintf(path, sizeof(path), "%s/%s", t->dir,
	         cred == ZTMDEV_CRED_OPERATIONAL ? "device.pem" : "bootstrap.pem");
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
		char what[700];
		snprintf(what, sizeof(what), "%s: cannot load client certificate", path);
		fail(err, errsize, what);
		goto bad;
	}
	if (t->dev != NULL) {
		/* The library's key object: a TPM key signs in the library's
		 * TPM session (ztmdev_ossl.h). */
		key = ztmdev_ossl_key(t->dev);
		if (key == NULL || EVP_PKEY_up_ref(key) != 1) {
			snprintf(err, errsize, "device key: %s", ztmdev_error(t->dev));
			key = NULL;
			goto bad;
		}
		if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
			fail(err, errsize, "the device key does not match its client certificate");
			goto bad;
		}
		EVP_PKEY_free(key);
		return ctx;
	}
	snprintf(path, sizeof(path), "%s/key.pem", t->dir);
	b = BIO_new_file(path, "r");
	if (b == NULL ||
	    (key = PEM_read_bio_PrivateKey_ex(b, NULL, pass_cb, &pa, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		char what[700];
		snprintf(what, sizeof(what), "%s: cannot load the device key (passphrase?)", path);
		fail(err, errsize, what);
		goto bad;
	}
	BIO_free(b);
	EVP_PKEY_free(key);
	return ctx;
bad:
	BIO_free(b);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

static int send_all(BIO *b, const void *p, size_t n)
{
	size_t done;

	while (n > 0) {
		if (BIO_write_ex(b, p, n, &done) != 1)
			return -1;
		p = (const uint8_t *)p + done;
		n -= done;
	}
	return 0;
}

int ztmdev_tls_transport(void *arg, const struct ztmdev_request *req, struct ztmdev_response *resp,
                         char *err, size_t errsize)
{
	const struct ztmdev_tls *t = arg;
	char hostport[300], host[260], head[1024];
	unsigned char probe[16];
	uint8_t *in = NULL;
	size_t inlen = 0, got;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	BIO *b = NULL;
	struct timeval tv = {t->timeout > 0 ? t->timeout : 30, 0};
	int fd, n, rc = -1;

	if (split_url(t->url, hostport, sizeof(hostport), host, sizeof(host)) != 0) {
		snprintf(err, errsize, "server URL '%s': want https://host[:port]", t->url);
		return -1;
	}
	if ((ctx = make_ctx(t, req->cred, err, errsize)) == NULL)
		return -1;
	b = BIO_new_ssl_connect(ctx);
	if (b == NULL || BIO_get_ssl(b, &ssl) != 1 || ssl == NULL) {
		fail(err, errsize, "TLS connection");
		goto out;
	}
	/* Verify the server's name: an IP literal against its iPAddress SAN,
	 * a name against its DNS SAN (and send it as SNI). */
	if (inet_pton(AF_INET, host, probe) == 1 || inet_pton(AF_INET6, host, probe) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
			fail(err, errsize, "server address");
			goto out;
		}
	} else if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1) {
		fail(err, errsize, "server name");
		goto out;
	}
	BIO_set_conn_hostname(b, hostport);
	if (BIO_do_connect(b) != 1) {
		char what[400];
		/* BIO_do_connect also runs the handshake: the reason tells. */
		snprintf(what, sizeof(what), "TLS connection to %s", hostport);
		fail(err, errsize, what);
		goto out;
	}
	if (BIO_get_fd(b, &fd) >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (BIO_do_handshake(b) != 1) {
		fail(err, errsize, "TLS handshake");
		goto out;
	}
	n = snprintf(head, sizeof(head),
	             "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	             "Content-Length: %zu\r\n%s%s%s\r\n",
	             req->method, req->path, hostport, req->body_len,
	             req->content_type != NULL ? "Content-Type: " : "",
	             req->content_type != NULL ? req->content_type : "",
	             req->content_type != NULL ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head)) {
		snprintf(err, errsize, "request head too long");
		goto out;
	}
	if (send_all(b, head, (size_t)n) != 0 ||
	    (req->body_len > 0 && send_all(b, req->body, req->body_len) != 0) ||
	    BIO_flush(b) != 1) {
		/* The server may have refused the client certificate and
		 * closed: read its alert so the reason names it. */
		uint8_t alert[64];
		ERR_clear_error();
		(void)BIO_read_ex(b, alert, sizeof(alert), &got);
		fail(err, errsize, "no response (TLS)");
		goto out;
	}
	in = OPENSSL_malloc(RESPONSE_MAX);
	if (in == NULL) {
		snprintf(err, errsize, "out of memory");
		goto out;
	}
	for (;;) {
		if (inlen == RESPONSE_MAX) {
			snprintf(err, errsize, "response larger than %zu bytes", RESPONSE_MAX);
			goto out;
		}
		if (BIO_read_ex(b, in + inlen, RESPONSE_MAX - inlen, &got) != 1)
			break; /* the server closed, or TLS failed: see below */
		inlen += got;
	}
	/* In TLS 1.3 the server judges the client certificate after the
	 * client's handshake is done: its refusal arrives as an alert here. */
	if (inlen == 0) {
		fail(err, errsize, "no response (TLS)");
		goto out;
	}
	ERR_clear_error();
	rc = ztmdev_tls_http_parse(in, inlen, resp, err, errsize);
out:
	OPENSSL_free(in);
	BIO_free_all(b);
	SSL_CTX_free(ctx);
	return rc;
}
