/* buf.c - capped growable buffers and a bounds-checked reading cursor. */
#include "ztm/buf.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t buf_max(const struct ztm_buf *b)
{
	return b->max != 0 ? b->max : ZTM_BUF_DEFAULT_MAX;
}

void ztm_buf_init(struct ztm_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

uint8_t *ztm_buf_reserve(struct ztm_buf *b, size_t n)
{
	size_t need, ncap;
	uint8_t *nd;

	/* +1 keeps room for the NUL that ztm_buf_cstr adds. */
	if (n > buf_max(b) || b->len > buf_max(b) - n)
		return NULL;
	need = b->len + n + 1;
	if (need <= b->cap)
		return b->data + b->len;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > buf_max(b) + 1)
		ncap = buf_max(b) + 1;
	/* Not realloc: the old block may hold secrets and must be wiped. */
	nd = malloc(ncap);
	if (nd == NULL)
		return NULL;
	if (b->data != NULL) {
		memcpy(nd, b->data, b->len);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = nd;
	b->cap = ncap;
	return b->data + b->len;
}

int ztm_buf_append(struct ztm_buf *b, const void *p, size_t n)
{
	uint8_t *dst;

	if (n == 0)
		return 0;
	dst = ztm_buf_reserve(b, n);
	if (dst == NULL)
		return -1;
	memcpy(dst, p, n);
	b->len += n;
	return 0;
}

int ztm_buf_append_str(struct ztm_buf *b, const char *s)
{
	return ztm_buf_append(b, s, strlen(s));
}

int ztm_buf_printf(struct ztm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	uint8_t *dst;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	dst = ztm_buf_reserve(b, (size_t)n);
	if (dst == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

const char *ztm_buf_cstr(struct ztm_buf *b)
{
	if (ztm_buf_reserve(b, 0) == NULL)
		return NULL;
	b->data[b->len] = '\0';
	return (const char *)b->data;
}

void ztm_buf_reset(struct ztm_buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	b->len = 0;
}

void ztm_buf_free(struct ztm_buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

struct ztm_slice ztm_buf_slice(const struct ztm_buf *b)
{
	struct ztm_slice s = {b->data, b->len};
	return s;
}

void ztm_cursor_init(struct ztm_cursor *c, const void *p, size_t len)
{
	c->p = p;
	c->len = p != NULL ? len : 0;
	c->off = 0;
}

size_t ztm_cursor_left(const struct ztm_cursor *c)
{
	return c->len - c->off;
}

int ztm_cursor_bytes(struct ztm_cursor *c, size_t n, struct ztm_slice *out)
{
	if (ztm_cursor_left(c) < n)
		return -1;
	out->p = c->p + c->off;
	out->len = n;
	c->off += n;
	return 0;
}

static int cursor_be(struct ztm_cursor *c, size_t n, uint64_t *out)
{
	struct ztm_slice s;
	uint64_t v = 0;
	size_t i;

	if (ztm_cursor_bytes(c, n, &s) != 0)
		return -1;
	for (i = 0; i < n; i++)
		v = (v << 8) | s.p[i];
	*out = v;
	return 0;
}

int ztm_cursor_u8(struct ztm_cursor *c, uint8_t *out)
{
	uint64_t v;
	if (cursor_be(c, 1, &v) != 0)
		return -1;
	*out = (uint8_t)v;
	return 0;
}

int ztm_cursor_be16(struct ztm_cursor *c, uint16_t *out)
{
	uint64_t v;
	if (cursor_be(c, 2, &v) != 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int ztm_cursor_be32(struct ztm_cursor *c, uint32_t *out)
{
	uint64_t v;
	if (cursor_be(c, 4, &v) != 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int ztm_cursor_be64(struct ztm_cursor *c, uint64_t *out)
{
	return cursor_be(c, 8, out);
}
