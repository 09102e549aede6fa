/* batch_json.c - the batch document (docs/records.md) read straight into a
 * struct ztm_batch, for the server.
 *
 * Why not jansson, which builds the batch everywhere else: its tree of ~30
 * allocations per record (an object, a hash table, every key and value)
 * was half of ztmd's time per record at ingest, ~11 us of ~23
 * (docs/benchmarks.md, "Record ingest"). This reader knows the one schema
 * and fills the records in place.
 *
 * It accepts exactly what the jansson path accepted: RFC 8259 JSON; every
 * member required, unknown and duplicate members refused; strings are
 * printable ASCII after their escapes are decoded (every string of a batch
 * is ASCII by its validator: names, serials, hex, base64), so control
 * characters, non-ASCII bytes and \u escapes outside 0x20..0x7e are refused
 * here; integers without fraction or exponent; then every record through
 * ztm_record_validate_shape. Nesting is fixed (a document, its station,
 * its records), so there is no recursion to bound.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "batch_int.h"
#include "ztm/str.h"

struct jp {
	const char *p, *start, *end;
	struct ztm_error *err;
};

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int syntax(struct jp *j, const char *what)
{
	return ztm_error_set(j->err, ZTM_E_PARSE, "batch JSON: %s (offset %zu)", what,
	                     (size_t)(j->p - j->start));
}

/* The next non-blank character is c: consumed. */
static int eat(struct jp *j, char c)
{
	skip_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return 1;
	}
	return 0;
}

static int peek(struct jp *j, char c)
{
	skip_ws(j);
	return j->p < j->end && *j->p == c;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string into out[cap] (NUL-terminated), *len its length. -1: not a
 * string (nothing consumed), -2: refused (err set), -3: longer than
 * cap - 1 (the rest is skipped, so the caller can name the member). */
static int jstr(struct jp *j, char *out, size_t cap, size_t *len)
{
	size_t n = 0;
	int too_long = 0;

	if (!peek(j, '"'))
		return -1;
	j->p++;
	for (;;) {
		unsigned char c;
		if (j->p >= j->end)
			return syntax(j, "unterminated string"), -2;
		c = (unsigned char)*j->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			int a, b, d, e;
			if (j->p >= j->end)
				return syntax(j, "unterminated string"), -2;
			c = (unsigned char)*j->p++;
			if (c == 'u') {
				if (j->end - j->p < 4 || (a = hexval(j->p[0])) < 0 ||
				    (b = hexval(j->p[1])) < 0 || (d = hexval(j->p[2])) < 0 ||
				    (e = hexval(j->p[3])) < 0)
					return syntax(j, "bad \\u escape"), -2;
				j->p += 4;
				if (a != 0 || b != 0 || d * 16 + e < 0x20 || d * 16 + e > 0x7e)
					return syntax(j, "a string holds a character outside "
					                 "printable ASCII"),
					       -2;
				c = (unsigned char)(d * 16 + e);
			} else if (c != '"' && c != '\\' && c != '/') {
				/* \b \f \n \r \t are control characters; others are not JSON. */
				return syntax(j, "a string holds a control character or a bad "
				                 "escape"),
				       -2;
			}
		} else if (c < 0x20 || c > 0x7e) {
			return syntax(j, "a string holds a character outside printable ASCII"), -2;
		}
		if (n + 1 < cap)
			out[n++] = (char)c;
		else
			too_long = 1;
	}
	out[n] = '\0';
	*len = n;
	return too_long ? -3 : 0;
}

/* A member's string value: the messages of ztm_json_str. */
static int str_member(struct jp *j, const char *key, char *out, size_t max)
{
	size_t len;
	int rc = jstr(j, out, max + 1, &len);

	if (rc == -1)
		return ztm_error_set(j->err, ZTM_E_PARSE, "%s: missing or not a string", key);
	if (rc == -3)
		return ztm_error_set(j->err, ZTM_E_PARSE, "%s: longer than %zu bytes", key, max);
	return rc == 0 ? 0 : -1;
}

/* An integer: -?(0|[1-9][0-9]*), within int64; a fraction or an exponent
 * makes it a real, refused as not an integer. -1 with err (naming key). */
static int int_member(struct jp *j, const char *key, int64_t *out)
{
	int neg = 0;
	uint64_t v = 0, lim;

	skip_ws(j);
	if (j->p < j->end && *j->p == '-') {
		neg = 1;
		j->p++;
	}
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return ztm_error_set(j->err, ZTM_E_PARSE, "%s: not an integer", key);
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
		return syntax(j, "a number with a leading zero");
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		unsigned d = (unsigned)(*j->p++ - '0');
		if (v > (lim - d) / 10)
			return ztm_error_set(j->err, ZTM_E_PARSE, "%s: out of range", key);
		v = v * 10 + d;
	}
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return ztm_error_set(j->err, ZTM_E_PARSE, "%s: not an integer", key);
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* A Unix time member (ztm_json_time). */
static int time_member(struct jp *j, const char *key, int64_t *out)
{
	if (int_member(j, key, out) != 0 || *out < 1 || *out > INT64_C(253402300799))
		return ztm_error_set(j->err, ZTM_E_PARSE, "%s: missing or not a Unix time", key);
	return 0;
}

/* Object framing: calls member(j, index of key in keys[], arg) for each
 * member; unknown and duplicate keys refused, every key required but those
 * whose bit is set in optional. */
typedef int (*member_fn)(struct jp *j, size_t k, void *arg);

static int object_opt(struct jp *j, const char *const *keys, size_t nkeys, uint32_t optional,
                      member_fn member, void *arg)
{
	char key[65];
	size_t len, k;
	uint32_t seen = 0;
	int rc;

	if (!eat(j, '{'))
		return ztm_error_set(j->err, ZTM_E_PARSE, "not a JSON object");
	if (!eat(j, '}')) {
		do {
			rc = jstr(j, key, sizeof(key), &len);
			if (rc == -1)
				return syntax(j, "a member name expected");
			if (rc == -2)
				return -1;
			for (k = 0; rc == 0 && k < nkeys; k++)
				if (strcmp(key, keys[k]) == 0)
					break;
			if (rc != 0 || k == nkeys)
				return ztm_error_set(j->err, ZTM_E_PARSE, "unknown member '%.64s'",
				                     key);
			if (seen & (1u << k))
				return ztm_error_set(j->err, ZTM_E_PARSE, "duplicate member '%s'",
				                     key);
			seen |= 1u << k;
			if (!eat(j, ':'))
				return syntax(j, "':' expected");
			if (member(j, k, arg) != 0)
				return -1;
		} while (eat(j, ','));
		if (!eat(j, '}'))
			return syntax(j, "',' or '}' expected");
	}
	for (k = 0; k < nkeys; k++)
		if (!(seen & (1u << k)) && !(optional & (1u << k)))
			return ztm_error_set(j->err, ZTM_E_PARSE, "%s: missing", keys[k]);
	return 0;
}

static int object(struct jp *j, const char *const *keys, size_t nkeys, member_fn member, void *arg)
{
	return object_opt(j, keys, nkeys, 0, member, arg);
}

/* Canonical base64 of one line (what ztm_b64_encode makes): a multiple of
 * four characters, padding only at the end, zero bits under it. */
static int b64v(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static int b64_cert(const char *s, size_t n, struct ztm_record *r)
{
	size_t i, o = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		int a = b64v(s[i]), b = b64v(s[i + 1]), c = b64v(s[i + 2]), d = b64v(s[i + 3]);
		int last = i + 4 == n;
		if (a < 0 || b < 0)
			return -1;
		if (last && s[i + 2] == '=' && s[i + 3] == '=') {
			if (b & 0x0f || o + 1 > sizeof(r->cert))
				return -1;
			r->cert[o++] = (uint8_t)(a << 2 | b >> 4);
		} else if (last && s[i + 3] == '=') {
			if (c < 0 || c & 0x03 || o + 2 > sizeof(r->cert))
				return -1;
			r->cert[o++] = (uint8_t)(a << 2 | b >> 4);
			r->cert[o++] = (uint8_t)(b << 4 | c >> 2);
		} else {
			if (c < 0 || d < 0 || o + 3 > sizeof(r->cert))
				return -1;
			r->cert[o++] = (uint8_t)(a << 2 | b >> 4);
			r->cert[o++] = (uint8_t)(b << 4 | c >> 2);
			r->cert[o++] = (uint8_t)(c << 6 | d);
		}
	}
	r->cert_len = o;
	return 0;
}

static const char *const rec_keys[] = {
    "serial",    "product",     "order",      "hw_rev",         "mac",         "fw_version",
    "fw_sha256", "test_result", "key_origin", "bootstrap_cert", "recorded_at", "kind",
};
#define REC_KIND_BIT (1u << 11) /* "kind" is optional: absent = new */

/* The bootstrap_cert text: one line of base64 up to ZTM_RECORD_MAX_CERT
 * bytes (as ztm_record_from_obj). */
#define B64_MAX ((ZTM_RECORD_MAX_CERT + 2) / 3 * 4)

static int record_member(struct jp *j, size_t k, void *arg)
{
	struct ztm_record *r = arg;
	char word[16], b64[B64_MAX + 1];
	size_t len;
	int rc;

	switch (k) {
	case 0:
		return str_member(j, "serial", r->serial, ZTM_RECORD_MAX_SERIAL);
	case 1:
		return str_member(j, "product", r->product, ZTM_RECORD_MAX_NAME);
	case 2:
		return str_member(j, "order", r->order, ZTM_RECORD_MAX_NAME);
	case 3:
		return str_member(j, "hw_rev", r->hw_rev, ZTM_RECORD_MAX_HWREV);
	case 4:
		return str_member(j, "mac", r->mac, sizeof(r->mac) - 1);
	case 5:
		return str_member(j, "fw_version", r->fw_version, ZTM_RECORD_MAX_FWVER);
	case 6:
		return str_member(j, "fw_sha256", r->fw_sha256, 64);
	case 7:
		rc = jstr(j, word, sizeof(word), &len);
		if (rc == -2)
			return -1;
		if (rc != 0 || ztm_test_result_parse(word, &r->test_result) != 0)
			return ztm_error_set(j->err, ZTM_E_PARSE,
			                     "test_result: not \"pass\" or \"fail\"");
		return 0;
	case 8:
		rc = jstr(j, word, sizeof(word), &len);
		if (rc == -2)
			return -1;
		if (rc != 0 || ztm_key_origin_parse(word, &r->key_origin) != 0)
			return ztm_error_set(j->err, ZTM_E_PARSE,
			                     "key_origin: not \"device\" or \"injected\"");
		return 0;
	case 9:
		rc = jstr(j, b64, sizeof(b64), &len);
		if (rc == -2)
			return -1;
		if (rc != 0 || len == 0)
			return ztm_error_set(
			    j->err, ZTM_E_PARSE,
			    "bootstrap_cert: not one line of base64 up to %d bytes",
			    ZTM_RECORD_MAX_CERT);
		if (b64_cert(b64, len, r) != 0)
			return ztm_error_set(j->err, ZTM_E_PARSE, "bootstrap_cert: bad base64");
		return 0;
	case 10:
		return time_member(j, "recorded_at", &r->recorded_at);
	default:
		rc = jstr(j, word, sizeof(word), &len);
		if (rc == -2)
			return -1;
		if (rc != 0 || ztm_record_kind_parse(word, &r->kind) != 0)
			return ztm_error_set(j->err, ZTM_E_PARSE,
			                     "kind: not \"new\" or \"replacement\"");
		return 0;
	}
}

struct doc {
	struct ztm_batch *b;
	size_t cap;
	int64_t version;
};

static int station_member(struct jp *j, size_t k, void *arg)
{
	struct ztm_batch *b = arg;

	if (k == 0)
		return str_member(j, "factory", b->factory, ZTM_RECORD_MAX_NAME);
	return str_member(j, "name", b->station, ZTM_RECORD_MAX_NAME);
}

static int records(struct jp *j, struct doc *d)
{
	static const char *const too_many = "records: not an array of 1..%d records";
	struct ztm_batch *b = d->b;
	struct ztm_record *nr;
	struct ztm_error e;

	if (!eat(j, '['))
		return ztm_error_set(j->err, ZTM_E_PARSE, too_many, ZTM_BATCH_MAX_RECORDS);
	if (eat(j, ']'))
		return ztm_error_set(j->err, ZTM_E_PARSE, too_many, ZTM_BATCH_MAX_RECORDS);
	do {
		if (b->n == ZTM_BATCH_MAX_RECORDS)
			return ztm_error_set(j->err, ZTM_E_TOOBIG, too_many, ZTM_BATCH_MAX_RECORDS);
		if (b->n == d->cap)
			return ztm_error_set(j->err, ZTM_E_PARSE,
			                     "records: more than the text holds");
		nr = &b->records[b->n];
		memset(nr, 0, offsetof(struct ztm_record, cert));
		nr->cert_len = 0;
		nr->spki_sha256[0] = '\0';
		{
			struct jp rj = *j;
			rj.err = &e;
			if (object_opt(&rj, rec_keys, sizeof(rec_keys) / sizeof(rec_keys[0]),
			               REC_KIND_BIT, record_member, nr) != 0 ||
			    ztm_record_validate_shape(nr, &e) != 0)
				return ztm_error_set(j->err, e.code, "record %zu: %s", b->n, e.msg);
			j->p = rj.p;
		}
		b->n++;
	} while (eat(j, ','));
	if (!eat(j, ']'))
		return syntax(j, "',' or ']' expected");
	return 0;
}

#define REC_MIN_TEXT 128

static const char *const doc_keys[] = {"version", "batch_id", "station", "created_at", "records"};

static int doc_member(struct jp *j, size_t k, void *arg)
{
	static const char *const skeys[] = {"factory", "name"};
	struct doc *d = arg;
	size_t i;

	switch (k) {
	case 0:
		if (int_member(j, "version", &d->version) != 0 || d->version != ZTM_BATCH_VERSION)
			return ztm_error_set(j->err, ZTM_E_PARSE, "version: not %d",
			                     ZTM_BATCH_VERSION);
		return 0;
	case 1:
		if (str_member(j, "batch_id", d->b->batch_id, 32) != 0)
			return -1;
		for (i = 0; i < 32; i++)
			if (!((d->b->batch_id[i] >= '0' && d->b->batch_id[i] <= '9') ||
			      (d->b->batch_id[i] >= 'a' && d->b->batch_id[i] <= 'f')))
				break;
		if (i != 32 || d->b->batch_id[32] != '\0')
			return ztm_error_set(j->err, ZTM_E_PARSE,
			                     "batch_id: not 32 lower-case hex digits");
		return 0;
	case 2:
		return object(j, skeys, 2, station_member, d->b);
	case 3:
		return time_member(j, "created_at", &d->b->created_at);
	default:
		return records(j, d);
	}
}

int ztm_batch_doc_parse(const char *text, size_t len, struct ztm_batch *b, struct ztm_error *err)
{
	struct jp j = {text, text, text + len, err};
	struct doc d = {b, 0, 0};

	/* One allocation for as many records as the text can hold: a record
	 * is more than REC_MIN_TEXT bytes of JSON (its eleven member names
	 * alone are 105). Growing the array by doubling copied ~40 MB per
	 * 5,000-record batch (a struct ztm_record holds 4 KiB for its
	 * certificate); pages of this one that no record reaches are never
	 * touched, so never faulted in. */
	d.cap = len / REC_MIN_TEXT + 1;
	if (d.cap > ZTM_BATCH_MAX_RECORDS)
		d.cap = ZTM_BATCH_MAX_RECORDS;
	b->records = malloc(d.cap * sizeof(*b->records));
	if (b->records == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "%zu records", d.cap);

	if (!peek(&j, '{'))
		return syntax(&j, "not a JSON object");
	if (object(&j, doc_keys, sizeof(doc_keys) / sizeof(doc_keys[0]), doc_member, &d) != 0)
		return -1;
	skip_ws(&j);
	if (j.p != j.end)
		return syntax(&j, "end of input expected");
	return 0;
}
