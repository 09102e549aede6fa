/* cbor.c - the strict CBOR reader of zd_cbor.h (RFC 8949 §3, §4.2.1). */
#include <string.h>

#include "zd_cbor.h"

static int fail(struct zd_cbor *r, const char *why)
{
	if (r->err == NULL || r->err[0] == '\0')
		r->err = why;
	return -1;
}

void zd_cbor_init(struct zd_cbor *r, const uint8_t *p, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->n = n;
	r->err = "";
}

int zd_cbor_head(struct zd_cbor *r, enum zd_cbor_major *major, uint64_t *arg)
{
	uint8_t ib, ai;
	size_t len, i;
	uint64_t v = 0;

	if (r->err[0] != '\0')
		return -1;
	if (r->off >= r->n)
		return fail(r, "truncated CBOR");
	ib = r->p[r->off];
	ai = ib & 0x1f;
	*major = (enum zd_cbor_major)(ib >> 5);
	if (*major == 7)
		return fail(r, "CBOR float or simple value (not in the format)");
	if (ai < 24) {
		r->off++;
		*arg = ai;
		return 0;
	}
	if (ai > 27) /* 28..30 reserved, 31 indefinite length (RFC 8949 §4.2.1) */
		return fail(r, "CBOR indefinite length or reserved head");
	len = (size_t)1 << (ai - 24);
	if (r->n - r->off - 1 < len)
		return fail(r, "truncated CBOR");
	for (i = 0; i < len; i++)
		v = v << 8 | r->p[r->off + 1 + i];
	/* Shortest form: the argument needs the width it was given. */
	if ((ai == 24 && v < 24) || (ai == 25 && v <= 0xff) || (ai == 26 && v <= 0xffff) ||
	    (ai == 27 && v <= 0xffffffffu))
		return fail(r, "CBOR integer or length not in its shortest form");
	r->off += 1 + len;
	*arg = v;
	return 0;
}

int zd_cbor_expect(struct zd_cbor *r, enum zd_cbor_major major, uint64_t *arg)
{
	enum zd_cbor_major m;

	if (zd_cbor_head(r, &m, arg) != 0)
		return -1;
	if (m != major)
		return fail(r, "unexpected CBOR type");
	return 0;
}

int zd_cbor_int(struct zd_cbor *r, int64_t *out)
{
	enum zd_cbor_major m;
	uint64_t v;

	if (zd_cbor_head(r, &m, &v) != 0)
		return -1;
	if ((m != ZD_CBOR_UINT && m != ZD_CBOR_NINT) || v > (uint64_t)INT64_MAX)
		return fail(r, "expected a CBOR integer (64-bit signed range)");
	*out = m == ZD_CBOR_UINT ? (int64_t)v : -1 - (int64_t)v;
	return 0;
}

int zd_cbor_str(struct zd_cbor *r, enum zd_cbor_major major, const uint8_t **p, size_t *len)
{
	uint64_t v;

	if (zd_cbor_expect(r, major, &v) != 0)
		return -1;
	if (v > r->n - r->off)
		return fail(r, "truncated CBOR string");
	*p = r->p + r->off;
	*len = (size_t)v;
	r->off += (size_t)v;
	return 0;
}

int zd_cbor_map(struct zd_cbor *r, uint64_t *count)
{
	if (zd_cbor_expect(r, ZD_CBOR_MAP, count) != 0)
		return -1;
	r->key = NULL;
	r->key_len = 0;
	return 0;
}

int zd_cbor_key(struct zd_cbor *r, int64_t *key)
{
	size_t start = r->off, len, min;
	int c;

	if (zd_cbor_int(r, key) != 0)
		return fail(r, "CBOR map key is not an integer");
	len = r->off - start;
	if (r->key != NULL) {
		min = len < r->key_len ? len : r->key_len;
		c = memcmp(r->key, r->p + start, min);
		if (c > 0 || (c == 0 && r->key_len >= len))
			return fail(r, "CBOR map keys not in ascending order or duplicated");
	}
	r->key = r->p + start;
	r->key_len = len;
	return 0;
}

int zd_cbor_end(struct zd_cbor *r)
{
	if (r->err[0] != '\0')
		return -1;
	if (r->off != r->n)
		return fail(r, "bytes after the CBOR item");
	return 0;
}

int zd_cbor_put_head(struct zd_buf *b, enum zd_cbor_major major, uint64_t arg)
{
	uint8_t h[9];
	size_t n, i;

	if (arg < 24) {
		h[0] = (uint8_t)(major << 5 | arg);
		return zd_buf_append(b, h, 1);
	}
	n = arg <= 0xff ? 1 : arg <= 0xffff ? 2 : arg <= 0xffffffffu ? 4 : 8;
	h[0] = (uint8_t)(major << 5 | (n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
	for (i = 0; i < n; i++)
		h[1 + i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
	return zd_buf_append(b, h, n + 1);
}

int zd_cbor_put_str(struct zd_buf *b, enum zd_cbor_major major, const uint8_t *p, size_t n)
{
	if (zd_cbor_put_head(b, major, n) != 0)
		return -1;
	return n > 0 ? zd_buf_append(b, p, n) : 0;
}
