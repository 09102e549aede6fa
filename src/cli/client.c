/* client.c - one HTTPS request over mutual TLS, and the response parser. */
#include "client.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/str.h"

#define RESP_MAX ((size_t)4 * 1024 * 1024)

static int inet_pton_any(const char *host, unsigned char buf[16])
{
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

void ztm_http_resp_init(struct ztm_http_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	ztm_buf_init(&r->body, RESP_MAX);
}

void ztm_http_resp_free(struct ztm_http_resp *r)
{
	if (r != NULL)
		ztm_buf_free(&r->body);
}

static const char *env_or(const char *v, const char *name)
{
	return v != NULL ? v : getenv(name);
}

int ztm_client_opts_env(struct ztm_client_opts *o, int need_cert, struct ztm_error *err)
{
	o->url = env_or(o->url, "ZTM_SERVER");
	o->ca_file = env_or(o->ca_file, "ZTM_CA");
	o->cert_file = env_or(o->cert_file, "ZTM_CERT");
	o->key_uri = env_or(o->key_uri, "ZTM_KEY");
	o->key_pass_file = env_or(o->key_pass_file, "ZTM_KEY_PASS_FILE");
	if (o->url == NULL)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "no server: give --server or set ZTM_SERVER");
	if (o->ca_file == NULL)
		return ztm_error_set(
		    err, ZTM_E_USAGE,
		    "no CA bundle: give --ca or set ZTM_CA (the ceremony's chain.pem)");
	if (need_cert && (o->cert_file == NULL || o->key_uri == NULL))
		return ztm_error_set(
		    err, ZTM_E_USAGE,
		    "no client credential: give --cert/--key or set ZTM_CERT/ZTM_KEY");
	return 0;
}

/* "https://host:port" -> host, port. IPv6 literals in brackets. */
static int split_url(const char *url, char *host, size_t hn, char *port, size_t pn,
                     struct ztm_error *err)
{
	const char *h, *end, *colon;

	if (strncmp(url, "https://", 8) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "server URL '%s' must start with https://",
		                     url);
	h = url + 8;
	end = h + strcspn(h, "/");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (rb == NULL)
			return ztm_error_set(err, ZTM_E_USAGE, "server URL '%s': bad IPv6", url);
		colon = rb[1] == ':' ? rb + 1 : NULL;
		h++;
		if ((size_t)(rb - h) >= hn)
			return ztm_error_set(err, ZTM_E_USAGE, "server URL: host too long");
		memcpy(host, h, (size_t)(rb - h));
		host[rb - h] = '\0';
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		const char *hend = colon != NULL ? colon : end;
		if ((size_t)(hend - h) >= hn || hend == h)
			return ztm_error_set(err, ZTM_E_USAGE, "server URL '%s': bad host", url);
		memcpy(host, h, (size_t)(hend - h));
		host[hend - h] = '\0';
	}
	if (colon == NULL) {
		ztm_strlcpy(port, "443", pn);
	} else {
		if ((size_t)(end - colon - 1) >= pn || end == colon + 1)
			return ztm_error_set(err, ZTM_E_USAGE, "server URL '%s': bad port", url);
		memcpy(port, colon + 1, (size_t)(end - colon - 1));
		port[end - colon - 1] = '\0';
	}
	return 0;
}

static SSL_CTX *client_ctx(const struct ztm_client_opts *o, struct ztm_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct ztm_key_opts kopts;
	struct ztm_buf pass;
	EVP_PKEY *key = NULL;

	ztm_buf_init(&pass, 4096);
	if (ctx == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "TLS context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "%s: cannot load CA bundle", o->ca_file);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (o->mem_cert != NULL && o->mem_key != NULL) {
		if (SSL_CTX_use_certificate(ctx, o->mem_cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, o->mem_key) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			ztm_error_ossl(err, ZTM_E_CONFIG, "client credential: key and certificate");
			goto fail;
		}
	} else if (o->cert_file != NULL && o->key_uri != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
			ztm_error_ossl(err, ZTM_E_CONFIG, "%s: cannot load certificate",
			               o->cert_file);
			goto fail;
		}
		memset(&kopts, 0, sizeof(kopts));
		if (o->key_pass_file != NULL) {
			if (ztm_secret_read(o->key_pass_file, &pass, err) != 0)
				goto fail;
			kopts.pass = (const char *)pass.data;
		}
		key = ztm_key_load(o->key_uri, &kopts, err);
		if (key == NULL)
			goto fail;
		if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
			ztm_error_ossl(err, ZTM_E_CONFIG, "%s does not match %s", o->key_uri,
			               o->cert_file);
			goto fail;
		}
	}
	EVP_PKEY_free(key);
	ztm_buf_free(&pass);
	return ctx;
fail:
	EVP_PKEY_free(key);
	ztm_buf_free(&pass);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Value of the first header `name` (case-insensitive) in the header block,
 * trimmed of OWS, into out. Returns how many lines carry that header (0 when
 * absent), or -1 when the first value does not fit in out. */
static int find_header(const char *hdrs, size_t n, const char *name, char *out, size_t outsize)
{
	size_t nl = strlen(name);
	const char *p = hdrs, *end = hdrs + n;
	int count = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len;
		if (eol == NULL)
			eol = end;
		len = (size_t)(eol - p);
		if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':' && count++ == 0) {
			const char *v = p + nl + 1;
			size_t vl;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vl = (size_t)(eol - v);
			while (vl > 0 &&
			       (v[vl - 1] == '\r' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= outsize)
				return -1;
			memcpy(out, v, vl);
			out[vl] = '\0';
		}
		p = eol + 1;
	}
	return count;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int ztm_http_parse_response(const uint8_t *p, size_t n, struct ztm_http_resp *resp,
                            struct ztm_error *err)
{
	const char *s = (const char *)p;
	const uint8_t *hend = NULL;
	size_t i, hlen, blen;
	char val[128];
	uint64_t clen;
	int status, rc;

	for (i = 0; i + 3 < n; i++) {
		if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
			hend = p + i + 4;
			break;
		}
	}
	if (hend == NULL)
		return ztm_error_set(err, ZTM_E_PARSE, "response has no complete header");
	hlen = (size_t)(hend - p);
	/* RFC 7230 §3.1.2: HTTP/1.x SP 3DIGIT SP reason-phrase CRLF. The reason
	 * may be empty, and some servers drop the SP before the CRLF. */
	if (hlen < 14 || memcmp(s, "HTTP/1.", 7) != 0 || !is_digit(s[7]) || s[8] != ' ' ||
	    s[9] < '1' || s[9] > '5' || !is_digit(s[10]) || !is_digit(s[11]) ||
	    (s[12] != ' ' && s[12] != '\r'))
		return ztm_error_set(err, ZTM_E_PARSE, "response has no HTTP/1.x status line");
	status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	resp->status = status;
	rc = find_header(s, hlen, "Transfer-Encoding", val, sizeof(val));
	if (rc != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "chunked responses are not expected");
	if (find_header(s, hlen, "Content-Type", resp->content_type, sizeof(resp->content_type)) <
	    0)
		return ztm_error_set(err, ZTM_E_PARSE, "Content-Type too long");
	rc = find_header(s, hlen, "Retry-After", val, sizeof(val));
	if (rc > 0) {
		int ra;
		/* Delay-seconds only; an HTTP-date leaves retry_after at -1. */
		if (ztm_parse_int(val, 0, 86400, &ra) == 0)
			resp->retry_after = ra;
	}
	blen = n - hlen;
	rc = find_header(s, hlen, "Content-Length", val, sizeof(val));
	if (rc < 0)
		return ztm_error_set(err, ZTM_E_PARSE, "bad Content-Length");
	/* RFC 7230 §3.3.2: several Content-Length lines make the framing
	 * ambiguous; refuse rather than pick one. */
	if (rc > 1)
		return ztm_error_set(err, ZTM_E_PARSE, "repeated Content-Length");
	if (rc > 0) {
		if (ztm_parse_u64(val, 0, RESP_MAX, &clen) != 0)
			return ztm_error_set(err, ZTM_E_PARSE, "bad Content-Length '%s'", val);
		if (clen > blen)
			return ztm_error_set(err, ZTM_E_PARSE, "response body truncated");
		/* Bytes past Content-Length are ignored: one request per
		 * connection (Connection: close), so nothing else can follow. */
		blen = (size_t)clen;
	}
	resp->body.len = 0;
	if (ztm_buf_append(&resp->body, hend, blen) != 0)
		return ztm_error_set(err, ZTM_E_TOOBIG, "response body too large");
	return 0;
}

int ztm_client_request(const struct ztm_client_opts *o, const char *method, const char *path,
                       const char *content_type, const char *extra_header, const void *body,
                       size_t len, struct ztm_http_resp *resp, struct ztm_error *err)
{
	char host[256], port[16], target[300];
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	BIO *bio = NULL;
	struct ztm_buf req, raw;
	size_t sent, piece = 0;
	int rc = -1, is_ip;
	unsigned char ipbuf[16];

	ztm_buf_init(&req, 1024 * 1024);
	ztm_buf_init(&raw, RESP_MAX + 16384);
	if (split_url(o->url, host, sizeof(host), port, sizeof(port), err) != 0)
		goto out;
	ctx = client_ctx(o, err);
	if (ctx == NULL)
		goto out;
	snprintf(target, sizeof(target), "%s:%s", host, port);
	bio = BIO_new_connect(target);
	if (bio == NULL || BIO_do_connect(bio) != 1) {
		ztm_error_ossl(err, ZTM_E_IO, "cannot connect to %s", target);
		goto out;
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "TLS session");
		goto out;
	}
	SSL_set_bio(ssl, bio, bio);
	bio = NULL;
	is_ip = inet_pton_any(host, ipbuf);
	if (is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
			ztm_error_ossl(err, ZTM_E_USAGE, "bad IP %s", host);
			goto out;
		}
	} else if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
		ztm_error_ossl(err, ZTM_E_USAGE, "bad host name %s", host);
		goto out;
	}
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			ztm_error_set(err, ZTM_E_AUTH, "%s: server certificate not trusted: %s",
			              target, X509_verify_cert_error_string(v));
		else
			ztm_error_ossl(err, ZTM_E_AUTH, "%s: TLS handshake failed", target);
		goto out;
	}
	if (ztm_buf_printf(&req,
	                   "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	                   "User-Agent: ztm/0.1\r\nContent-Length: %zu\r\n",
	                   method, path, host, len) != 0 ||
	    (content_type != NULL &&
	     ztm_buf_printf(&req, "Content-Type: %s\r\n", content_type) != 0) ||
	    (extra_header != NULL && ztm_buf_printf(&req, "%s\r\n", extra_header) != 0) ||
	    ztm_buf_append(&req, "\r\n", 2) != 0) {
		ztm_error_set(err, ZTM_E_TOOBIG, "request too large");
		goto out;
	}
	/* The head, then the body as it is (an uploaded image is not copied),
	 * in pieces SSL_write takes whole. */
	if (SSL_write(ssl, req.data, (int)req.len) != (int)req.len) {
		ztm_error_ossl(err, ZTM_E_IO, "%s: write failed", target);
		goto out;
	}
	for (sent = 0; sent < len; sent += piece) {
		piece = len - sent < (size_t)1 << 20 ? len - sent : (size_t)1 << 20;
		if (SSL_write(ssl, (const uint8_t *)body + sent, (int)piece) != (int)piece) {
			ztm_error_ossl(err, ZTM_E_IO, "%s: write failed", target);
			goto out;
		}
	}
	for (;;) {
		uint8_t *dst = ztm_buf_reserve(&raw, 16384);
		int r;
		if (dst == NULL) {
			ztm_error_set(err, ZTM_E_TOOBIG, "%s: response over %zu bytes", target,
			              RESP_MAX);
			goto out;
		}
		r = SSL_read(ssl, dst, 16384);
		if (r <= 0) {
			int e = SSL_get_error(ssl, r);
			if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
				break; /* closed (some servers skip close_notify) */
			if (raw.len > 0)
				break;
			ztm_error_ossl(err, ZTM_E_IO, "%s: read failed", target);
			goto out;
		}
		raw.len += (size_t)r;
	}
	ERR_clear_error();
	rc = ztm_http_parse_response(raw.data, raw.len, resp, err);
out:
	if (ssl != NULL)
		SSL_free(ssl);
	BIO_free_all(bio);
	SSL_CTX_free(ctx);
	ztm_buf_free(&req);
	ztm_buf_free(&raw);
	return rc;
}
