/* p11uri.c - the RFC 7512 PKCS#11 URI parser (include/ztm/p11uri.h).
 *
 * A table of attributes, each with where it may appear (path or query), how
 * its value is read (text, binary, number, keyword, path) and where it goes.
 * Errors name the attribute, never the URI: a URI may carry a PIN. */
#include "ztm/p11uri.h"

#include <stdio.h>
#include <string.h>

#define SCHEME "pkcs11:"

enum part { PATH, QUERY };
enum kind { TEXT, BINARY, NUMBER, TYPE, FILEPATH, REFUSED };

struct attr {
	const char *name;
	enum part part;
	enum kind kind;
	size_t off;      /* where in struct ztm_p11_uri */
	size_t max;      /* decoded bytes, text without its NUL */
	const char *why; /* REFUSED: the reason */
};

#define F(field) offsetof(struct ztm_p11_uri, field)

static const struct attr attrs[] = {
    {"token", PATH, TEXT, F(token), ZTM_P11_TOKEN_MAX, NULL},
    {"manufacturer", PATH, TEXT, F(manufacturer), ZTM_P11_TOKEN_MAX, NULL},
    {"serial", PATH, TEXT, F(serial), ZTM_P11_TOKEN_MAX, NULL},
    {"model", PATH, TEXT, F(model), ZTM_P11_TOKEN_MAX, NULL},
    {"object", PATH, TEXT, F(object), ZTM_P11_OBJECT_MAX, NULL},
    {"id", PATH, BINARY, F(id), ZTM_P11_ID_MAX, NULL},
    {"type", PATH, TYPE, F(type), 16, NULL},
    {"slot-id", PATH, NUMBER, F(slot_id), 20, NULL},
    {"pin-source", QUERY, FILEPATH, F(pin_source), ZTM_P11_PATH_MAX - 1, NULL},
    {"module-path", QUERY, FILEPATH, F(module_path), ZTM_P11_PATH_MAX - 1, NULL},
    {"pin-value", QUERY, REFUSED, 0, 0,
     "a PIN in a URI ends up in files, histories and logs; use pin-source=file:/path, "
     "key_pass_file or ZTM_PKCS11_PIN"},
    {"module-name", QUERY, REFUSED, 0, 0, "name the module with module-path"},
};

static const struct {
	const char *name;
	enum ztm_p11_type type;
} types[] = {
    {"private", ZTM_P11_TYPE_PRIVATE}, {"public", ZTM_P11_TYPE_PUBLIC},
    {"cert", ZTM_P11_TYPE_CERT},       {"secret-key", ZTM_P11_TYPE_SECRET},
    {"data", ZTM_P11_TYPE_DATA},
};

static int is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 7512 §2.3: pk11-res-avail, plus "&" in the path and "/" "?" "|" in
 * the query. */
static int is_literal(unsigned char c, enum part p)
{
	if (is_unreserved(c) || strchr(":[]@!$'()*+,=", c) != NULL)
		return c != '\0';
	if (p == PATH)
		return c == '&';
	return c == '/' || c == '?' || c == '|';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes). Returns the decoded length,
 * or -1 (bad escape, forbidden character), or -2 (too long). */
static long decode(const char *s, size_t n, enum part p, uint8_t *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return -1;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (!is_literal(c, p)) {
			return -1;
		}
		if (o == cap)
			return -2;
		out[o++] = c;
	}
	return (long)o;
}

static const struct attr *find_attr(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (strlen(attrs[i].name) == n && memcmp(attrs[i].name, name, n) == 0)
			return &attrs[i];
	return NULL;
}

static int set_value(const struct attr *a, const uint8_t *v, size_t n, struct ztm_p11_uri *u,
                     struct ztm_error *err)
{
	char *dst = (char *)u + a->off;
	size_t i;

	switch (a->kind) {
	case TEXT:
		if (memchr(v, '\0', n) != NULL)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "PKCS#11 URI: %s: a NUL byte in a text value",
			                     a->name);
		memcpy(dst, v, n);
		dst[n] = '\0';
		return 0;
	case BINARY:
		memcpy(u->id, v, n);
		u->id_len = n;
		u->has_id = 1;
		return 0;
	case NUMBER: {
		unsigned long x = 0;
		for (i = 0; i < n; i++) {
			if (v[i] < '0' || v[i] > '9' || x > (~0UL - 9) / 10)
				return ztm_error_set(err, ZTM_E_USAGE,
				                     "PKCS#11 URI: %s: not a decimal number",
				                     a->name);
			x = x * 10 + (unsigned long)(v[i] - '0');
		}
		u->slot_id = x;
		u->has_slot_id = 1;
		return 0;
	}
	case TYPE:
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strlen(types[i].name) == n && memcmp(types[i].name, v, n) == 0) {
				u->type = types[i].type;
				return 0;
			}
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "PKCS#11 URI: type: unknown (private, public, cert, "
		                     "secret-key, data)");
	case FILEPATH: {
		/* RFC 7512 §2.3: pin-source is a URI, a bare value a file name.
		 * Only local files: no "|command", no other scheme. */
		const uint8_t *p = v;
		size_t m = n;
		if (m >= 5 && memcmp(p, "file:", 5) == 0) {
			p += 5;
			m -= 5;
			if (m >= 2 && p[0] == '/' && p[1] == '/') {
				p += 2;
				m -= 2;
			}
		}
		if (m == 0 || p[0] != '/' || memchr(p, '\0', m) != NULL)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "PKCS#11 URI: %s: an absolute file path is required",
			                     a->name);
		memcpy(dst, p, m);
		dst[m] = '\0';
		return 0;
	}
	case REFUSED:
	default:
		return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: %s refused: %s", a->name,
		                     a->why);
	}
}

/* One "name=value" of the path or the query. seen: bit i for attrs[i]. */
static int parse_attr(const char *s, size_t n, enum part p, unsigned *seen, struct ztm_p11_uri *u,
                      struct ztm_error *err)
{
	const char *eq = memchr(s, '=', n);
	const struct attr *a;
	uint8_t v[ZTM_P11_PATH_MAX];
	long m;
	unsigned bit;

	if (eq == NULL || eq == s)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "PKCS#11 URI: an attribute without a name or '=' (%s part)",
		                     p == PATH ? "path" : "query");
	a = find_attr(s, (size_t)(eq - s));
	if (a == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: unknown attribute '%.*s'",
		                     (int)(eq - s > 32 ? 32 : eq - s), s);
	if (a->part != p)
		return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: %s belongs in the %s", a->name,
		                     a->part == PATH ? "path" : "query (after '?')");
	if (a->kind == REFUSED)
		return set_value(a, NULL, 0, u, err);
	bit = 1u << (unsigned)(a - attrs);
	if (*seen & bit)
		return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: %s given twice", a->name);
	*seen |= bit;
	m = decode(eq + 1, n - (size_t)(eq + 1 - s), p, v, a->max);
	if (m == -2)
		return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: %s: longer than %zu bytes",
		                     a->name, a->max);
	if (m < 0)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "PKCS#11 URI: %s: bad percent-encoding or a character "
		                     "that must be percent-encoded",
		                     a->name);
	if (m == 0)
		return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: %s: empty value", a->name);
	return set_value(a, v, (size_t)m, u, err);
}

static int parse_list(const char *s, size_t n, char sep, enum part p, unsigned *seen,
                      struct ztm_p11_uri *u, struct ztm_error *err)
{
	size_t i = 0, j;

	while (i < n) {
		for (j = i; j < n && s[j] != sep; j++)
			;
		if (j == i)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "PKCS#11 URI: an empty attribute (doubled '%c')", sep);
		if (parse_attr(s + i, j - i, p, seen, u, err) != 0)
			return -1;
		i = j + 1;
		if (j + 1 == n && j < n)
			return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: a trailing '%c'", sep);
	}
	return 0;
}

int ztm_p11_uri_parse(const char *uri, struct ztm_p11_uri *u, struct ztm_error *err)
{
	const char *rest, *q;
	size_t len, plen;
	unsigned seen = 0;

	memset(u, 0, sizeof(*u));
	if (uri == NULL || strncmp(uri, SCHEME, strlen(SCHEME)) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: must start with pkcs11:");
	rest = uri + strlen(SCHEME);
	len = strlen(rest);
	if (len > 8192)
		return ztm_error_set(err, ZTM_E_USAGE, "PKCS#11 URI: longer than 8 KiB");
	q = memchr(rest, '?', len);
	plen = q != NULL ? (size_t)(q - rest) : len;
	if (parse_list(rest, plen, ';', PATH, &seen, u, err) != 0)
		goto fail;
	if (q != NULL && parse_list(q + 1, len - plen - 1, '&', QUERY, &seen, u, err) != 0)
		goto fail;
	return 0;
fail:
	memset(u, 0, sizeof(*u));
	return -1;
}

void ztm_p11_uri_describe(const struct ztm_p11_uri *u, char *out, size_t n)
{
	size_t i, o;

	if (n == 0)
		return;
	o = (size_t)snprintf(out, n, "pkcs11 token '%s'", u->token[0] ? u->token : "*");
	if (o < n && u->object[0] != '\0')
		o += (size_t)snprintf(out + o, n - o, " object '%s'", u->object);
	if (o < n && u->has_id) {
		o += (size_t)snprintf(out + o, n - o, " id ");
		for (i = 0; i < u->id_len && o + 3 < n; i++)
			o += (size_t)snprintf(out + o, n - o, "%02x", u->id[i]);
	}
	/* Labels are the token's bytes: nothing unprintable reaches a log. */
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
}

int ztm_p11_uri_compose(const char *uri, const char *object, int keep_query, char *out, size_t n,
                        struct ztm_error *err)
{
	const char *q = strchr(uri, '?'), *a, *e;
	size_t plen = q != NULL ? (size_t)(q - uri) : strlen(uri), o;
	int first = 1;

	if (strncmp(uri, "pkcs11:", 7) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "%s: not a pkcs11: URI", uri);
	if (plen + 1 > n)
		return ztm_error_set(err, ZTM_E_USAGE, "key URI too long");
	memcpy(out, uri, plen);
	o = plen;
	if (object != NULL) {
		int w = snprintf(out + o, n - o, "%sobject=%s", plen > 7 ? ";" : "", object);
		if (w < 0 || (size_t)w >= n - o)
			return ztm_error_set(err, ZTM_E_USAGE, "key URI too long");
		o += (size_t)w;
	}
	out[o] = '\0';
	/* The query: module-path always; pin-source only when asked (it names
	 * where this machine keeps the PIN, not where the next one will). */
	for (a = q; a != NULL && *a != '\0'; a = e) {
		size_t len;
		a++;
		e = strchr(a, '&');
		len = e != NULL ? (size_t)(e - a) : strlen(a);
		if (strncmp(a, "module-path=", 12) != 0 &&
		    !(keep_query && strncmp(a, "pin-source=", 11) == 0))
			continue;
		if (o + len + 2 > n)
			return ztm_error_set(err, ZTM_E_USAGE, "key URI too long");
		out[o++] = first ? '?' : '&';
		memcpy(out + o, a, len);
		o += len;
		out[o] = '\0';
		first = 0;
	}
	return 0;
}
