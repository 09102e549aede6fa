/* b64.c - RFC 4648 base64 and PEM certificate blocks (RFC 7468), in plain C
 * so every crypto backend shares them. */
#include <string.h>

#include "zd_int.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int zd_b64_encode(const uint8_t *p, size_t n, struct zd_buf *out)
{
	uint8_t q[4];
	size_t i;

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;
		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		q[0] = (uint8_t)alphabet[(v >> 18) & 63];
		q[1] = (uint8_t)alphabet[(v >> 12) & 63];
		q[2] = left > 1 ? (uint8_t)alphabet[(v >> 6) & 63] : '=';
		q[3] = left > 2 ? (uint8_t)alphabet[v & 63] : '=';
		if (zd_buf_append(out, q, 4) != 0)
			return -1;
	}
	return 0;
}

/* Groups of four symbols; '=' only at the end of the last group, with the
 * unused bits zero (a canonical encoding, so one body has one meaning). */
int zd_b64_decode(const uint8_t *p, size_t n, struct zd_buf *out)
{
	uint8_t q[4], o[3];
	size_t i, k = 0, pad = 0;
	int done = 0;

	for (i = 0; i < n; i++) {
		uint8_t c = p[i];
		int v;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (done)
			return -1; /* data after the padded group */
		if (c == '=') {
			if (k < 2)
				return -1;
			q[k++] = 0;
			pad++;
		} else {
			if (pad > 0 || (v = b64_value(c)) < 0)
				return -1;
			q[k++] = (uint8_t)v;
		}
		if (k == 4) {
			uint32_t w = (uint32_t)q[0] << 18 | (uint32_t)q[1] << 12 |
			             (uint32_t)q[2] << 6 | q[3];
			o[0] = (uint8_t)(w >> 16);
			o[1] = (uint8_t)(w >> 8);
			o[2] = (uint8_t)w;
			if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0))
				return -1;
			if (zd_buf_append(out, o, 3 - pad) != 0)
				return -1;
			k = 0;
			done = pad > 0;
		}
	}
	return k == 0 ? 0 : -1;
}

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

static const uint8_t *find(const uint8_t *p, const uint8_t *end, const char *s)
{
	size_t sl = strlen(s);

	while ((size_t)(end - p) >= sl) {
		if (memcmp(p, s, sl) == 0)
			return p;
		p++;
	}
	return NULL;
}

int zd_pem_certs(const uint8_t *text, size_t n, struct zd_certs *out)
{
	const uint8_t *p = text, *end = text + n, *b, *e;
	struct zd_buf der;
	int rc = -1;

	zd_buf_init(&der, ZD_CERT_MAX);
	while ((b = find(p, end, pem_begin)) != NULL) {
		b += strlen(pem_begin);
		e = find(b, end, pem_end);
		if (e == NULL)
			goto out;
		der.len = 0;
		if (zd_b64_decode(b, (size_t)(e - b), &der) != 0 ||
		    zd_certs_add(out, der.p, der.len) != 0)
			goto out;
		p = e + strlen(pem_end);
	}
	rc = out->n > 0 ? 0 : -1;
out:
	zd_buf_free(&der);
	return rc;
}

int zd_pem_cert_write(const uint8_t *der, size_t len, struct zd_buf *out)
{
	struct zd_buf b64;
	size_t i;
	int rc = -1;

	zd_buf_init(&b64, 0);
	if (zd_b64_encode(der, len, &b64) != 0 ||
	    zd_buf_append(out, pem_begin, strlen(pem_begin)) || zd_buf_append(out, "\n", 1) != 0)
		goto out;
	for (i = 0; i < b64.len; i += 64) {
		size_t l = b64.len - i < 64 ? b64.len - i : 64;
		if (zd_buf_append(out, b64.p + i, l) != 0 || zd_buf_append(out, "\n", 1) != 0)
			goto out;
	}
	if (zd_buf_append(out, pem_end, strlen(pem_end)) != 0 || zd_buf_append(out, "\n", 1) != 0)
		goto out;
	rc = 0;
out:
	zd_buf_free(&b64);
	return rc;
}
