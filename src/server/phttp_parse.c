/* phttp_parse.c - the request head reader of the public plain-HTTP listener
 * (phttp.c): an HTTP/1.1 request line and header fields (RFC 9112 §3, §5),
 * parsed in place, nothing allocated.
 *
 * It accepts only what relying parties send for OCSP and CRLs: origin-form
 * targets, HTTP/1.0 or 1.1, a Content-Length body. Anything it does not
 * understand is refused rather than guessed at (a request smuggled past one
 * reader is read differently by the next): obsolete line folding, a field
 * name with a space before the colon, two Content-Length fields, control
 * characters, any Transfer-Encoding (RFC 9112 §6.1: a server that does not
 * understand it answers 501).
 */
#define _GNU_SOURCE /* memmem */
#include <string.h>
#include <strings.h>

#include "server.h"

static int is_tchar(unsigned char c)
{
	/* RFC 9110 §5.6.2 token characters. */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* a[0..n) equals lower, ignoring ASCII case; lower is n characters. */
static int lower_eq(const char *a, size_t n, const char *lower)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (lower[i] == '\0' || c != lower[i])
			return 0;
	}
	return lower[n] == '\0';
}

/* A comma-separated list (Connection) holds token, case-insensitively. */
static int list_has(const char *v, size_t n, const char *token)
{
	size_t i = 0, tl = strlen(token);

	while (i < n) {
		size_t s, e;
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && lower_eq(v + s, e - s, token))
			return 1;
	}
	return 0;
}

static int parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 15)
		return -1; /* 15 digits: far past any cap, far from overflow */
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

/* The request line: METHOD SP request-target SP HTTP/1.x. The target is
 * origin-form ("/ocsp"), or absolute-form ("http://host/ocsp", RFC 9112
 * §3.2.2: a server must accept it) of which the path is kept. */
static int request_line(char *p, size_t n, struct ztmd_phttp_head *h)
{
	size_t i = 0, s;

	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return ZTMD_PHTTP_BAD;
	h->method = p;
	h->method_len = i;
	p[i++] = '\0';
	s = i;
	/* Visible ASCII only. */
	while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
		i++;
	if (i == s || i >= n || p[i] != ' ')
		return ZTMD_PHTTP_BAD;
	if (p[s] != '/') {
		const char *path;
		if (i - s <= 7 || !lower_eq(p + s, 7, "http://"))
			return ZTMD_PHTTP_BAD;
		/* The authority is not looked at: one host serves all. */
		path = memchr(p + s + 7, '/', i - s - 7);
		if (path == NULL || memchr(p + s + 7, '?', (size_t)(path - (p + s + 7))) != NULL)
			return ZTMD_PHTTP_BAD;
		s = (size_t)(path - p);
	}
	h->target = p + s;
	h->target_len = i - s;
	p[i++] = '\0';
	{
		char *q = memchr(p + s, '?', h->target_len);
		if (q != NULL) {
			*q = '\0';
			h->query = q + 1;
			h->target_len = (size_t)(q - h->target);
		}
	}
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 || (p[i + 7] != '0' && p[i + 7] != '1'))
		return ZTMD_PHTTP_BAD;
	h->minor = p[i + 7] - '0';
	return 0;
}

static int field(char *p, size_t n, struct ztmd_phttp_head *h, int *keep_alive)
{
	size_t i = 0, vs, ve;
	char *name = p, *value;

	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	/* RFC 9112 §5.1: no whitespace between the name and the colon. */
	if (i == 0 || i >= n || p[i] != ':')
		return ZTMD_PHTTP_BAD;
	vs = i + 1;
	while (vs < n && (p[vs] == ' ' || p[vs] == '\t'))
		vs++;
	ve = n;
	while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
		ve--;
	for (i = vs; i < ve; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return ZTMD_PHTTP_BAD;
	}
	value = p + vs;
	if (lower_eq(name, (size_t)(strchr(name, ':') - name), "content-length")) {
		if (h->has_length || parse_length(value, ve - vs, &h->content_length) != 0)
			return ZTMD_PHTTP_BAD;
		h->has_length = 1;
	} else if (lower_eq(name, (size_t)(strchr(name, ':') - name), "transfer-encoding")) {
		return ZTMD_PHTTP_UNSUPPORTED;
	} else if (lower_eq(name, (size_t)(strchr(name, ':') - name), "connection")) {
		if (list_has(value, ve - vs, "close"))
			h->close = 1;
		if (list_has(value, ve - vs, "keep-alive"))
			*keep_alive = 1;
	} else if (lower_eq(name, (size_t)(strchr(name, ':') - name), "expect")) {
		if (ve - vs == 12 && lower_eq(value, 12, "100-continue"))
			h->expect_continue = 1;
		else
			return ZTMD_PHTTP_EXPECT;
	}
	if (h->n_headers == ZTMD_PHTTP_MAX_HEADERS)
		return ZTMD_PHTTP_TOOBIG;
	name[strchr(name, ':') - name] = '\0';
	p[ve] = '\0';
	h->headers[h->n_headers].name = name;
	h->headers[h->n_headers].value = value;
	h->n_headers++;
	return 0;
}

size_t ztmd_phttp_head_end(const char *p, size_t n)
{
	const char *e = memmem(p, n, "\r\n\r\n", 4);

	return e != NULL ? (size_t)(e - p) + 4 : 0;
}

int ztmd_phttp_parse(char *p, size_t n, struct ztmd_phttp_head *h)
{
	size_t i, line, end;
	int keep_alive = 0, rc;

	memset(h, 0, sizeof(*h));
	/* The head ends with an empty line; until it is in, wait for more. */
	end = ztmd_phttp_head_end(p, n);
	if (end == 0) {
		/* Refuse a NUL or a bare LF early: no head can hold them. */
		for (i = 0; i < n; i++)
			if (p[i] == '\0' || (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')))
				return ZTMD_PHTTP_BAD;
		return ZTMD_PHTTP_MORE;
	}
	for (i = 0; i < end; i++)
		if (p[i] == '\0' || (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) ||
		    (p[i] == '\r' && p[i + 1] != '\n'))
			return ZTMD_PHTTP_BAD;
	/* Lines [line, i) without their CRLF. */
	line = 0;
	for (i = 0; p[i] != '\r'; i++)
		;
	if ((rc = request_line(p, i, h)) != 0)
		return rc;
	for (;;) {
		line = i + 2;
		for (i = line; p[i] != '\r'; i++)
			;
		if (i == line)
			break; /* the empty line */
		/* RFC 9112 §5.2: obs-fold is refused with 400. */
		if (p[line] == ' ' || p[line] == '\t')
			return ZTMD_PHTTP_BAD;
		p[i] = '\0';
		if ((rc = field(p + line, i - line, h, &keep_alive)) != 0)
			return rc;
	}
	h->head_len = end;
	/* RFC 9112 §9.3: 1.0 closes unless asked to keep alive. */
	if (h->minor == 0 && !keep_alive)
		h->close = 1;
	return 1;
}

const char *ztmd_phttp_header(const struct ztmd_phttp_head *h, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < h->n_headers; i++)
		if (strlen(h->headers[i].name) == n &&
		    strncasecmp(h->headers[i].name, name, n) == 0)
			return h->headers[i].value;
	return NULL;
}
