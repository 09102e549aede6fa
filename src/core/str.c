/* str.c - bounded strings, strict number parsing, hex and base64. */
#include "ztm/str.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

int ztm_strlcpy(char *dst, const char *src, size_t dstsize)
{
	size_t n = strlen(src);

	if (dstsize == 0)
		return -1;
	if (n >= dstsize) {
		memcpy(dst, src, dstsize - 1);
		dst[dstsize - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int ztm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end = NULL;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int ztm_parse_int(const char *s, int min, int max, int *out)
{
	long v;
	char *end = NULL;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

void ztm_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int ztm_unhex(const char *s, size_t n, uint8_t *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hi < 0 ? -1 : hex_digit(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int ztm_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int ztm_b64_encode(const uint8_t *p, size_t n, size_t wrap, struct ztm_buf *out)
{
	size_t i, col = 0;
	char q[4];
	uint32_t v;
	int k, emit;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		emit = i + 2 < n ? 4 : (i + 1 < n ? 3 : 2);
		for (k = 0; k < 4; k++)
			q[k] = k < emit ? b64_alphabet[(v >> (18 - 6 * k)) & 0x3f] : '=';
		for (k = 0; k < 4; k++) {
			if (wrap != 0 && col == wrap) {
				if (ztm_buf_append(out, "\n", 1) != 0)
					return -1;
				col = 0;
			}
			if (ztm_buf_append(out, &q[k], 1) != 0)
				return -1;
			col++;
		}
	}
	if (wrap != 0 && n != 0 && ztm_buf_append(out, "\n", 1) != 0)
		return -1;
	return 0;
}

static int b64_value(char c)
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

int ztm_b64_decode(const char *s, size_t n, struct ztm_buf *out)
{
	size_t i, start = out->len;
	uint32_t acc = 0;
	int nq = 0, pad = 0, v;
	uint8_t bytes[3];

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			/* Padding only in the last two places of a quantum. */
			if (nq < 2)
				goto bad;
			pad++;
			acc <<= 6;
			nq++;
		} else {
			v = b64_value(c);
			if (v < 0 || pad != 0)
				goto bad;
			acc = (acc << 6) | (uint32_t)v;
			nq++;
		}
		if (nq == 4) {
			bytes[0] = (uint8_t)(acc >> 16);
			bytes[1] = (uint8_t)(acc >> 8);
			bytes[2] = (uint8_t)acc;
			/* Canonical encoding: the bits under the padding are zero. */
			if ((pad == 1 && bytes[2] != 0) || (pad == 2 && (bytes[1] | bytes[2]) != 0))
				goto bad;
			if (ztm_buf_append(out, bytes, 3 - (size_t)pad) != 0)
				goto bad;
			if (pad != 0) {
				/* Nothing but white space may follow the padding. */
				for (i++; i < n; i++)
					if (s[i] != '\r' && s[i] != '\n' && s[i] != ' ' &&
					    s[i] != '\t')
						goto bad;
				return 0;
			}
			acc = 0;
			nq = 0;
		}
	}
	if (nq != 0)
		goto bad;
	return 0;
bad:
	if (out->data != NULL)
		OPENSSL_cleanse(out->data + start, out->len - start);
	out->len = start;
	return -1;
}
