/* buf.c - capped byte buffers, certificate lists and the context's error
 * string. Buffers may hold key material, so every free wipes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zd_int.h"

#define ZD_BUF_DEFAULT_MAX ((size_t)1024 * 1024)

/* memset through a volatile pointer: not optimised away (no libc
 * dependency on explicit_bzero, which some embedded libcs lack). */
static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n-- > 0)
		*v++ = 0;
}

void zd_buf_init(struct zd_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max != 0 ? max : ZD_BUF_DEFAULT_MAX;
}

/* Grows by copying into a fresh block (never realloc) so the old bytes can
 * be wiped: the buffer may hold a key. */
int zd_buf_append(struct zd_buf *b, const void *p, size_t n)
{
	size_t want, ncap;
	uint8_t *np;

	if (n > b->max || b->len > b->max - n)
		return -1;
	want = b->len + n;
	if (want + 1 > b->cap) {
		ncap = b->cap != 0 ? b->cap : 256;
		while (ncap < want + 1)
			ncap *= 2;
		if (ncap > b->max + 1)
			ncap = b->max + 1;
		np = malloc(ncap);
		if (np == NULL)
			return -1;
		if (b->len > 0)
			memcpy(np, b->p, b->len);
		if (b->p != NULL) {
			wipe(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len = want;
	b->p[b->len] = 0; /* always a C string too */
	return 0;
}

int zd_buf_reserve(struct zd_buf *b, size_t n)
{
	size_t len = b->len;

	/* Grow through append (one growth path), then take the bytes back. */
	if (n <= b->len || b->cap > n)
		return 0;
	while (b->len < n) {
		static const uint8_t zero[256];
		size_t k = n - b->len < sizeof(zero) ? n - b->len : sizeof(zero);
		if (zd_buf_append(b, zero, k) != 0) {
			b->len = len;
			return -1;
		}
	}
	b->len = len;
	return 0;
}

void zd_buf_free(struct zd_buf *b)
{
	if (b == NULL)
		return;
	if (b->p != NULL) {
		wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

void zd_certs_init(struct zd_certs *c)
{
	size_t i;

	for (i = 0; i < ZD_CERTS_MAX; i++)
		zd_buf_init(&c->der[i], ZD_CERT_MAX);
	c->n = 0;
}

int zd_certs_add(struct zd_certs *c, const uint8_t *der, size_t len)
{
	if (c->n == ZD_CERTS_MAX || len == 0 || len > ZD_CERT_MAX)
		return -1;
	c->der[c->n].len = 0;
	if (zd_buf_append(&c->der[c->n], der, len) != 0)
		return -1;
	c->n++;
	return 0;
}

void zd_certs_free(struct zd_certs *c)
{
	size_t i;

	for (i = 0; i < ZD_CERTS_MAX; i++)
		zd_buf_free(&c->der[i]);
	c->n = 0;
}

int zd_err(struct ztmdev *dev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->err, sizeof(dev->err), fmt, ap);
	va_end(ap);
	return -1;
}

int64_t zd_now(struct ztmdev *dev)
{
	if (dev->now != NULL)
		return dev->now(dev->clock_arg);
	return (int64_t)time(NULL);
}
