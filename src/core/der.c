/* der.c - strict DER framing reader and a small writer (see der.h). */
#include "der.h"

#include <string.h>

int ztm_der_peek(const struct ztm_cursor *c)
{
	if (ztm_cursor_left(c) == 0)
		return -1;
	return c->p[c->off];
}

int ztm_der_get(struct ztm_cursor *c, uint8_t tag, struct ztm_slice *content,
                struct ztm_slice *whole)
{
	struct ztm_cursor t = *c;
	uint8_t got, lb;
	size_t len = 0, i, nlen;
	struct ztm_slice v;

	if (ztm_cursor_u8(&t, &got) != 0 || got != tag || (got & 0x1f) == 0x1f)
		return -1;
	if (ztm_cursor_u8(&t, &lb) != 0)
		return -1;
	if (lb < 0x80) {
		len = lb;
	} else {
		/* 0x80 is the BER indefinite form; more than 4 length octets
		 * cannot describe anything under our caps. */
		nlen = lb & 0x7f;
		if (nlen == 0 || nlen > 4)
			return -1;
		for (i = 0; i < nlen; i++) {
			uint8_t o;
			if (ztm_cursor_u8(&t, &o) != 0)
				return -1;
			/* X.690 §10.1: the fewest octets; no leading zero. */
			if (i == 0 && o == 0)
				return -1;
			len = (len << 8) | o;
		}
		if (len < 0x80)
			return -1;
	}
	if (ztm_cursor_bytes(&t, len, &v) != 0)
		return -1;
	if (content != NULL)
		*content = v;
	if (whole != NULL) {
		whole->p = c->p + c->off;
		whole->len = t.off - c->off;
	}
	*c = t;
	return 0;
}

int ztm_der_oid_is(struct ztm_slice s, const char *o, size_t n)
{
	return s.len == n && memcmp(s.p, o, n) == 0;
}

void ztm_der_init(struct ztm_der *w, struct ztm_buf *b)
{
	w->b = b;
	w->failed = 0;
}

/* Room for n more bytes. The writer's hot path (a certificate is ~150
 * small writes) stays here while the buffer has room; ztm_buf_reserve
 * grows it and keeps the cap. The test matches ztm_buf_reserve's own
 * (len + n + 1 <= cap, the +1 for the NUL ztm_buf_cstr may add). */
static uint8_t *room(struct ztm_der *w, size_t n)
{
	struct ztm_buf *b = w->b;
	uint8_t *dst;

	if (w->failed)
		return NULL;
	if (b->data != NULL && n < b->cap && b->len < b->cap - n)
		return b->data + b->len;
	dst = ztm_buf_reserve(b, n);
	if (dst == NULL)
		w->failed = 1;
	return dst;
}

void ztm_der_raw(struct ztm_der *w, const void *p, size_t n)
{
	uint8_t *dst;

	if (n == 0 || (dst = room(w, n)) == NULL)
		return;
	memcpy(dst, p, n);
	w->b->len += n;
}

size_t ztm_der_begin(struct ztm_der *w, uint8_t tag)
{
	uint8_t *dst = room(w, 1);

	if (dst != NULL) {
		*dst = tag;
		w->b->len++;
	}
	return w->b->len;
}

void ztm_der_end(struct ztm_der *w, size_t mark)
{
	uint8_t hdr[5];
	size_t len, hl, i;
	uint8_t *dst;

	if (w->failed)
		return;
	len = w->b->len - mark;
	if (len < 0x80) {
		hdr[0] = (uint8_t)len;
		hl = 1;
	} else {
		size_t n = 0, v = len;
		while (v != 0) {
			n++;
			v >>= 8;
		}
		hdr[0] = (uint8_t)(0x80 | n);
		for (i = 0; i < n; i++)
			hdr[1 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
		hl = 1 + n;
	}
	/* The contents were written first because their length was unknown;
	 * shift them up to make room for the length octets. A few hundred
	 * bytes per certificate: cheaper than a second encoding pass. */
	dst = room(w, hl);
	if (dst == NULL)
		return;
	memmove(w->b->data + mark + hl, w->b->data + mark, len);
	memcpy(w->b->data + mark, hdr, hl);
	w->b->len += hl;
}

void ztm_der_tlv(struct ztm_der *w, uint8_t tag, const void *p, size_t n)
{
	size_t m = ztm_der_begin(w, tag);
	ztm_der_raw(w, p, n);
	ztm_der_end(w, m);
}

void ztm_der_uint(struct ztm_der *w, uint64_t v)
{
	uint8_t tmp[9];
	size_t n = 0, i;

	tmp[0] = 0;
	do {
		n++;
	} while (n < 8 && (v >> (8 * n)) != 0);
	for (i = 0; i < n; i++)
		tmp[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	/* A set high bit would read as negative: prefix a zero octet. */
	if (tmp[1] & 0x80)
		ztm_der_tlv(w, ZTM_DER_INTEGER, tmp, n + 1);
	else
		ztm_der_tlv(w, ZTM_DER_INTEGER, tmp + 1, n);
}

void ztm_der_ubytes(struct ztm_der *w, const uint8_t *p, size_t n)
{
	static const uint8_t zero = 0;
	size_t mark;

	while (n > 0 && p[0] == 0) {
		p++;
		n--;
	}
	if (n == 0) {
		ztm_der_tlv(w, ZTM_DER_INTEGER, &zero, 1);
		return;
	}
	mark = ztm_der_begin(w, ZTM_DER_INTEGER);
	if (p[0] & 0x80)
		ztm_der_raw(w, &zero, 1);
	ztm_der_raw(w, p, n);
	ztm_der_end(w, mark);
}

/* Days since 1970-01-01 to the proleptic Gregorian date: the calendar
 * counted in 400-year eras of 146,097 days, years starting on 1 March so
 * that the leap day ends a year. */
static void civil_date(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468; /* days from 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;                                    /* March = 0 */

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *digits2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

/* Issuance writes two times per certificate: no gmtime_r, no snprintf. */
void ztm_der_time(struct ztm_der *w, int64_t t)
{
	int64_t days, y;
	unsigned m, d, sec;
	char s[16], *p = s;

	/* Outside 1950 - 9999 neither UTCTime nor a 4-digit GeneralizedTime
	 * says it; also keeps the arithmetic far from overflow. */
	if (t < -631152000 || t > 253402300799) {
		w->failed = 1;
		return;
	}
	days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	sec = (unsigned)(t - days * 86400);
	civil_date(days, &y, &m, &d);
	if (y >= 2050)
		p = digits2(p, (unsigned)(y / 100));
	p = digits2(p, (unsigned)(y % 100));
	p = digits2(p, m);
	p = digits2(p, d);
	p = digits2(p, sec / 3600);
	p = digits2(p, sec / 60 % 60);
	p = digits2(p, sec % 60);
	*p++ = 'Z';
	ztm_der_tlv(w, y < 2050 ? ZTM_DER_UTCTIME : ZTM_DER_GENTIME, s, (size_t)(p - s));
}

static int put_arc(uint64_t v, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t tmp[10];
	size_t n = 0, i;

	do {
		tmp[n++] = (uint8_t)(v & 0x7f);
		v >>= 7;
	} while (v != 0);
	if (*len + n > cap)
		return -1;
	/* X.690 §8.19.2: base 128, high bit set on all but the last octet. */
	for (i = 0; i < n; i++)
		out[*len + i] = (uint8_t)(tmp[n - 1 - i] | (i + 1 < n ? 0x80 : 0));
	*len += n;
	return 0;
}

int ztm_der_oid_text(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	uint64_t arcs[2] = {0, 0}, v = 0;
	size_t narcs = 0, digits = 0;
	const char *p;

	*len = 0;
	if (s == NULL || *s == '\0')
		return -1;
	for (p = s;; p++) {
		if (*p >= '0' && *p <= '9') {
			if (digits > 0 && v == 0)
				return -1; /* leading zero */
			v = v * 10 + (uint64_t)(*p - '0');
			if (++digits > 10 || v > 0xffffffffu)
				return -1;
			continue;
		}
		if ((*p != '.' && *p != '\0') || digits == 0)
			return -1;
		if (narcs < 2) {
			arcs[narcs] = v;
		} else {
			if (narcs == 2 && put_arc(arcs[0] * 40 + arcs[1], out, cap, len) != 0)
				return -1;
			if (put_arc(v, out, cap, len) != 0)
				return -1;
		}
		narcs++;
		v = 0;
		digits = 0;
		if (*p == '\0')
			break;
	}
	if (narcs < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] >= 40))
		return -1;
	if (narcs == 2 && put_arc(arcs[0] * 40 + arcs[1], out, cap, len) != 0)
		return -1;
	return 0;
}
