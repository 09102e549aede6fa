/* voucher.c - transfer of ownership on the device (docs/vouchers.md): the
 * strict reader of the voucher's JSON, and ztmdev_voucher_install.
 *
 * The reader is deliberately not a general JSON parser (libztmdev has no
 * JSON library, and a device should not need one): it accepts exactly the
 * shape ztmd writes, RFC 8366's {"ietf-voucher:voucher": {...}} with string
 * and boolean members, and refuses everything else by name. Strings carry
 * no escapes (no value ztm writes needs one), so what is compared is what
 * was signed. Plain C over a cursor: it runs on every backend. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zd_crypto.h"
#include "zd_int.h"

#define STRING_MAX  ((size_t)16 * 1024) /* a base64 anchor of ZD_CERT_MAX fits */
#define VOUCHER_MAX ((size_t)64 * 1024) /* the CMS message */

/* The members a voucher may have, and which it must. */
enum member { M_CREATED, M_EXPIRES, M_ASSERTION, M_SERIAL, M_PINNED, M_REVCHECK, M_SPKI, M_COUNT };
static const char *const member_names[M_COUNT] = {
    "created-on",
    "expires-on",
    "assertion",
    "serial-number",
    "pinned-domain-cert",
    "domain-cert-revocation-checks",
    "ztm-voucher:device-spki-sha256",
};
#define REQUIRED (((1u << M_COUNT) - 1) & ~(1u << M_REVCHECK))

struct cursor {
	struct ztmdev *dev;
	const uint8_t *p;
	size_t n, i;
};

void zd_voucher_init(struct zd_voucher *v)
{
	memset(v, 0, sizeof(*v));
	zd_buf_init(&v->pinned, ZD_CERT_MAX);
}

void zd_voucher_free(struct zd_voucher *v)
{
	if (v != NULL)
		zd_buf_free(&v->pinned);
}

static void ws(struct cursor *c)
{
	while (c->i < c->n && (c->p[c->i] == ' ' || c->p[c->i] == '\t' || c->p[c->i] == '\r' ||
	                       c->p[c->i] == '\n'))
		c->i++;
}

static int expect(struct cursor *c, char ch, const char *where)
{
	ws(c);
	if (c->i >= c->n || c->p[c->i] != (uint8_t)ch)
		return zd_err(c->dev, "voucher: expected '%c' %s at byte %zu", ch, where, c->i);
	c->i++;
	return 0;
}

/* A string without escapes: *s and *len point into the input. */
static int string(struct cursor *c, const char **s, size_t *len, const char *where)
{
	size_t start;

	if (expect(c, '"', where) != 0)
		return -1;
	start = c->i;
	for (; c->i < c->n && c->p[c->i] != '"'; c->i++) {
		uint8_t b = c->p[c->i];
		if (b == '\\')
			return zd_err(c->dev,
			              "voucher: escape in a string at byte %zu (not used in "
			              "vouchers)",
			              c->i);
		if (b < 0x20 || b > 0x7e)
			return zd_err(c->dev, "voucher: byte 0x%02x in a string at byte %zu", b,
			              c->i);
		if (c->i - start >= STRING_MAX)
			return zd_err(c->dev, "voucher: string longer than %zu bytes", STRING_MAX);
	}
	if (c->i >= c->n)
		return zd_err(c->dev, "voucher: unterminated string");
	*s = (const char *)c->p + start;
	*len = c->i - start;
	c->i++;
	return 0;
}

static int equals(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int digits(const char *s, size_t n, int *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*out = *out * 10 + (s[i] - '0');
	}
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without libc's
 * timegm, which is not standard C. */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SSZ" only: RFC 3339 in UTC, whole seconds. */
static int rfc3339(const char *s, size_t n, int64_t *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, leap, dim;

	if (n != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
	    s[19] != 'Z')
		return -1;
	if (digits(s, 4, &y) != 0 || digits(s + 5, 2, &mo) != 0 || digits(s + 8, 2, &d) != 0 ||
	    digits(s + 11, 2, &h) != 0 || digits(s + 14, 2, &mi) != 0 ||
	    digits(s + 17, 2, &sec) != 0)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59)
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	dim = mdays[mo - 1] + (mo == 2 && leap);
	if (d < 1 || d > dim)
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* One member's value into v. */
static int member_value(struct cursor *c, enum member m, struct zd_voucher *v)
{
	const char *name = member_names[m], *s;
	size_t n, i;

	ws(c);
	if (m == M_REVCHECK) {
		if (c->n - c->i >= 4 && memcmp(c->p + c->i, "true", 4) == 0) {
			v->revocation_checks = 1;
			c->i += 4;
			return 0;
		}
		if (c->n - c->i >= 5 && memcmp(c->p + c->i, "false", 5) == 0) {
			c->i += 5;
			return 0;
		}
		return zd_err(c->dev, "voucher: %s: true or false", name);
	}
	if (string(c, &s, &n, name) != 0)
		return -1;
	switch (m) {
	case M_CREATED:
	case M_EXPIRES:
		if (rfc3339(s, n, m == M_CREATED ? &v->created_on : &v->expires_on) != 0)
			return zd_err(c->dev, "voucher: %s: want YYYY-MM-DDTHH:MM:SSZ", name);
		return 0;
	case M_ASSERTION:
		if (n == 0 || n >= sizeof(v->assertion))
			return zd_err(c->dev, "voucher: %s: unknown value", name);
		memcpy(v->assertion, s, n);
		v->assertion[n] = '\0';
		return 0;
	case M_SERIAL:
		if (n == 0 || n >= sizeof(v->serial))
			return zd_err(c->dev, "voucher: %s: 1..%zu characters", name,
			              sizeof(v->serial) - 1);
		memcpy(v->serial, s, n);
		v->serial[n] = '\0';
		return 0;
	case M_PINNED:
		if (n == 0 || zd_b64_decode((const uint8_t *)s, n, &v->pinned) != 0)
			return zd_err(c->dev, "voucher: %s: not base64 of a certificate", name);
		return 0;
	case M_SPKI:
		if (n != 64)
			return zd_err(c->dev, "voucher: %s: want 64 lower-case hex digits", name);
		for (i = 0; i < 32; i++) {
			int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return zd_err(c->dev, "voucher: %s: want 64 lower-case hex digits",
				              name);
			v->spki_sha256[i] = (uint8_t)(hi << 4 | lo);
		}
		return 0;
	default:
		return zd_err(c->dev, "voucher: %s: unexpected", name);
	}
}

int zd_voucher_parse(struct ztmdev *dev, const uint8_t *json, size_t len, struct zd_voucher *v)
{
	struct cursor c = {dev, json, len, 0};
	unsigned seen = 0;
	const char *key;
	size_t n, m;

	if (len == 0 || len > ZD_VOUCHER_JSON_MAX)
		return zd_err(dev, "voucher: content empty or larger than %zu bytes",
		              ZD_VOUCHER_JSON_MAX);
	if (expect(&c, '{', "at the start") != 0 || string(&c, &key, &n, "voucher") != 0)
		return -1;
	if (!equals(key, n, "ietf-voucher:voucher"))
		return zd_err(dev, "voucher: the object is not ietf-voucher:voucher");
	if (expect(&c, ':', "after ietf-voucher:voucher") != 0 ||
	    expect(&c, '{', "opening the voucher") != 0)
		return -1;
	for (;;) {
		if (string(&c, &key, &n, "member name") != 0)
			return -1;
		for (m = 0; m < M_COUNT; m++)
			if (equals(key, n, member_names[m]))
				break;
		if (m == M_COUNT)
			return zd_err(dev, "voucher: unknown member '%.*s'", (int)(n > 64 ? 64 : n),
			              key);
		if (seen & (1u << m))
			return zd_err(dev, "voucher: member %s twice", member_names[m]);
		seen |= 1u << m;
		if (expect(&c, ':', member_names[m]) != 0 ||
		    member_value(&c, (enum member)m, v) != 0)
			return -1;
		ws(&c);
		if (c.i < c.n && c.p[c.i] == ',') {
			c.i++;
			continue;
		}
		if (expect(&c, '}', "closing the voucher") != 0)
			return -1;
		break;
	}
	if (expect(&c, '}', "at the end") != 0)
		return -1;
	ws(&c);
	if (c.i != c.n)
		return zd_err(dev, "voucher: bytes after the JSON object at byte %zu", c.i);
	for (m = 0; m < M_COUNT; m++)
		if ((REQUIRED & (1u << m)) && !(seen & (1u << m)))
			return zd_err(dev, "voucher: member %s missing", member_names[m]);
	return 0;
}

/* Equal in time independent of where they differ. */
static int same32(const uint8_t *a, const uint8_t *b)
{
	unsigned d = 0;
	size_t i;

	for (i = 0; i < 32; i++)
		d |= (unsigned)(a[i] ^ b[i]);
	return d == 0;
}

/* The checks against this device, in default-fail style: every one must
 * pass for ok to be set. */
static int check_voucher(struct ztmdev *dev, const struct zd_voucher *v, int64_t now)
{
	struct zd_buf spki, anchor_spki;
	uint8_t md[32];
	int ok = 0;

	zd_buf_init(&spki, 0);
	zd_buf_init(&anchor_spki, 0);
	if (strcmp(v->assertion, "verified") != 0) {
		zd_err(dev, "voucher: assertion '%s' (only 'verified' transfers ownership)",
		       v->assertion);
		goto out;
	}
	if (strcmp(v->serial, dev->serial) != 0) {
		zd_err(dev, "voucher: for serial %s, this device is %s", v->serial, dev->serial);
		goto out;
	}
	/* The key is the operational certificate's: a voucher for the device's
	 * earlier or a cloned identity does not match. */
	if (zd_cert_spki(dev, dev->oper.der[0].p, dev->oper.der[0].len, &spki) != 0 ||
	    zd_sha256(dev, spki.p, spki.len, md) != 0)
		goto out;
	if (!same32(md, v->spki_sha256)) {
		zd_err(dev, "voucher: for another key than this device's operational key");
		goto out;
	}
	if (v->expires_on <= v->created_on) {
		zd_err(dev, "voucher: expires-on is not after created-on");
		goto out;
	}
	if (now < v->created_on) {
		zd_err(dev, "voucher: not yet valid (created-on is %lld seconds ahead)",
		       (long long)(v->created_on - now));
		goto out;
	}
	if (now >= v->expires_on) {
		zd_err(dev, "voucher: expired %lld seconds ago", (long long)(now - v->expires_on));
		goto out;
	}
	if (zd_cert_spki(dev, v->pinned.p, v->pinned.len, &anchor_spki) != 0) {
		zd_err(dev, "voucher: pinned-domain-cert is not a certificate");
		goto out;
	}
	ok = 1;
out:
	zd_buf_free(&spki);
	zd_buf_free(&anchor_spki);
	return ok ? 0 : -1;
}

/* A voucher older than the installed one is a replay: an earlier owner's
 * voucher, still unexpired, must not take the device back. The installed
 * voucher's created-on is kept beside it (ZD_FILE_VOUCHER_ON); the same
 * voucher again (a power cut mid-install) is not a replay. No file: no
 * voucher installed yet (or one installed by a library before this
 * check). */
static int check_newer(struct ztmdev *dev, const struct zd_voucher *v, const uint8_t *der,
                       size_t len)
{
	struct zd_buf on, cur;
	char text[24], *end;
	long long prev;
	int rc = -1;

	zd_buf_init(&on, 0);
	zd_buf_init(&cur, 0);
	if (!zd_file_exists(dev, ZD_FILE_VOUCHER_ON)) {
		rc = 0;
		goto out;
	}
	if (zd_file_read(dev, ZD_FILE_VOUCHER_ON, sizeof(text) - 1, &on) != 0)
		goto out;
	memcpy(text, on.p, on.len);
	text[on.len] = '\0';
	errno = 0;
	prev = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\n') {
		zd_err(dev, "%s: not a time", ZD_FILE_VOUCHER_ON);
		goto out;
	}
	if (v->created_on > (int64_t)prev) {
		rc = 0;
		goto out;
	}
	/* Not newer: only the very voucher installed (a retry) passes. */
	if (v->created_on == (int64_t)prev && zd_file_exists(dev, ZD_FILE_VOUCHER) &&
	    zd_file_read(dev, ZD_FILE_VOUCHER, VOUCHER_MAX, &cur) == 0 && cur.len == len &&
	    memcmp(cur.p, der, len) == 0) {
		rc = 0;
		goto out;
	}
	zd_err(dev,
	       "voucher: created %lld, not after the installed voucher's %lld (an older "
	       "voucher cannot take the device back)",
	       (long long)v->created_on, prev);
out:
	zd_buf_free(&on);
	zd_buf_free(&cur);
	return rc;
}

int ztmdev_voucher_install(struct ztmdev *dev, const uint8_t *der, size_t len)
{
	char on[24];
	int n;
	struct zd_buf content, pem;
	struct zd_voucher v;
	int64_t now;
	int rc = -1;

	zd_buf_init(&content, ZD_VOUCHER_JSON_MAX);
	zd_buf_init(&pem, 0);
	zd_voucher_init(&v);
	if (zd_ensure_open(dev) != 0)
		goto out;
	dev->err[0] = '\0';
	if (dev->state != ZTMDEV_STATE_PROVISIONED && dev->state != ZTMDEV_STATE_ACTIVE) {
		zd_err(dev, "voucher: the device is %s; it needs its operational certificate first",
		       ztmdev_state_name(dev->state));
		goto out;
	}
	if (dev->anchors.n == 0) {
		zd_err(dev, "no trust anchor set (ztmdev_set_anchor)");
		goto out;
	}
	if (der == NULL || len == 0 || len > VOUCHER_MAX) {
		zd_err(dev, "voucher: empty or larger than %zu bytes", VOUCHER_MAX);
		goto out;
	}
	now = zd_now(dev);
	if (zd_voucher_open(dev, der, len, &dev->anchors, now, &content) != 0 ||
	    zd_voucher_parse(dev, content.p, content.len, &v) != 0 ||
	    check_voucher(dev, &v, now) != 0 || check_newer(dev, &v, der, len) != 0)
		goto out;
	if (zd_pem_cert_write(v.pinned.p, v.pinned.len, &pem) != 0) {
		zd_err(dev, "voucher: encoding the owner's anchor");
		goto out;
	}
	/* The voucher first, then its time, then the anchor: a power cut
	 * anywhere leaves the old anchor or the new one, and installing the
	 * same voucher again finishes (check_newer lets the same bytes by). */
	n = snprintf(on, sizeof(on), "%lld\n", (long long)v.created_on);
	if (zd_file_write(dev, ZD_FILE_VOUCHER, der, len, 0644) != 0 ||
	    zd_file_write(dev, ZD_FILE_VOUCHER_ON, (const uint8_t *)on, (size_t)n, 0644) != 0 ||
	    zd_file_write(dev, ZD_FILE_OWNER, pem.p, pem.len, 0644) != 0)
		goto out;
	rc = 0;
out:
	zd_voucher_free(&v);
	zd_buf_free(&content);
	zd_buf_free(&pem);
	return rc;
}
