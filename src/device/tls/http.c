/* http.c - the TLS transport's HTTP/1.1 response parser: status line, the headers
 * the device needs, and a body framed by Content-Length or by the end of
 * the connection (the transport always asks for Connection: close). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ztmdev_tls.h"

#define HEADERS_MAX 16384

static int fail(char *err, size_t errsize, const char *msg)
{
	snprintf(err, errsize, "HTTP response: %s", msg);
	return -1;
}

/* A decimal number of at most 9 digits, the whole of s..e. */
static int number(const char *s, const char *e, long *out)
{
	long v = 0;

	if (s == e || e - s > 9)
		return -1;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

int ztmdev_tls_http_parse(const uint8_t *p, size_t n, struct ztmdev_response *resp, char *err,
                          size_t errsize)
{
	const char *s = (const char *)p, *end, *line, *eol;
	long status, clen = -1, v;
	size_t hlen, blen;
	const uint8_t *hend = NULL;
	size_t i;

	for (i = 0; i + 3 < n && i < HEADERS_MAX; i++)
		if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
			hend = p + i;
			break;
		}
	if (hend == NULL)
		return fail(err, errsize, "no end of headers (or headers over 16 KiB)");
	hlen = (size_t)(hend - p);
	end = s + hlen;
	if (hlen < 12 || strncmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') ||
	    s[8] != ' ' || number(s + 9, s + 12, &status) != 0 || status < 100 ||
	    (hlen > 12 && s[12] != ' ' && s[12] != '\r'))
		return fail(err, errsize, "bad status line");
	resp->status = (int)status;
	resp->retry_after = -1;
	resp->content_type[0] = '\0';
	for (line = memchr(s, '\n', hlen); line != NULL && line + 1 < end; line = eol) {
		const char *name = line + 1, *colon, *val, *vend;
		eol = memchr(name, '\n', (size_t)(end - name));
		if (eol == NULL)
			eol = end;
		vend = eol;
		while (vend > name && (vend[-1] == '\r' || vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		colon = memchr(name, ':', (size_t)(vend - name));
		if (colon == NULL)
			return fail(err, errsize, "header line without ':'");
		for (val = colon + 1; val < vend && (*val == ' ' || *val == '\t'); val++)
			;
#define IS(h) ((size_t)(colon - name) == sizeof(h) - 1 && strncasecmp(name, h, sizeof(h) - 1) == 0)
		if (IS("Content-Type")) {
			if ((size_t)(vend - val) >= sizeof(resp->content_type))
				return fail(err, errsize, "Content-Type too long");
			memcpy(resp->content_type, val, (size_t)(vend - val));
			resp->content_type[vend - val] = '\0';
		} else if (IS("Content-Length")) {
			if (clen >= 0 || number(val, vend, &clen) != 0)
				return fail(err, errsize, "bad or repeated Content-Length");
		} else if (IS("Retry-After")) {
			/* RFC 9110 §10.2.3: delay-seconds; an HTTP-date counts as
			 * absent (the library then waits its default). */
			if (number(val, vend, &v) == 0)
				resp->retry_after = v;
		} else if (IS("Transfer-Encoding")) {
			return fail(err, errsize, "Transfer-Encoding not supported");
		}
#undef IS
	}
	blen = n - hlen - 4;
	if (clen >= 0 && (size_t)clen != blen)
		return fail(err, errsize, "body length differs from Content-Length");
	if (blen > resp->body_cap)
		return fail(err, errsize, "body over the cap");
	if (blen > 0)
		memcpy(resp->body, hend + 4, blen);
	resp->body_len = blen;
	return 0;
}
