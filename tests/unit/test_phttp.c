/* test_phttp.c - the public listener's request head reader (phttp_parse.c),
 * one row per case, and the HTTP date of its caching headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server.h"

static void test_parse_table(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *method, *target, *query;
		int close, has_length;
		uint64_t length;
	} rows[] = {
	    /* accepted */
	    {"GET /ocsp/MEQw HTTP/1.1\r\nHost: a\r\n\r\n", 1, "GET", "/ocsp/MEQw", NULL, 0, 0, 0},
	    {"POST /ocsp HTTP/1.1\r\nContent-Type: application/ocsp-request\r\n"
	     "Content-Length: 84\r\n\r\n",
	     1, "POST", "/ocsp", NULL, 0, 1, 84},
	    {"GET /crl/device/0.crl?x=1 HTTP/1.1\r\n\r\n", 1, "GET", "/crl/device/0.crl", "x=1", 0,
	     0, 0},
	    {"GET / HTTP/1.0\r\n\r\n", 1, "GET", "/", NULL, 1, 0, 0},
	    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, "GET", "/", NULL, 0, 0, 0},
	    {"GET / HTTP/1.1\r\nconnection: foo, close\r\n\r\n", 1, "GET", "/", NULL, 1, 0, 0},
	    {"GET / HTTP/1.1\r\ncontent-length:0 \r\n\r\n", 1, "GET", "/", NULL, 0, 1, 0},
	    {"GET / HTTP/1.1\r\nX: \t v\t \r\n\r\n", 1, "GET", "/", NULL, 0, 0, 0},
	    /* not complete yet */
	    {"GET / HTTP/1.1\r\nHost: a\r\n", 0, NULL, NULL, NULL, 0, 0, 0},
	    {"GET / HTTP/1.1\r\n\r", 0, NULL, NULL, NULL, 0, 0, 0},
	    {"", 0, NULL, NULL, NULL, 0, 0, 0},
	    /* refused */
	    {"GET / HTTP/1.1\nHost: a\n\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET / HTTP/2.0\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET HTTP://a:80/ocsp/x?y HTTP/1.1\r\n\r\n", 1, "GET", "/ocsp/x", "y", 0, 0, 0},
	    {"GET http://a HTTP/1.1\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET http://a?b/c HTTP/1.1\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET https://a/ocsp HTTP/1.1\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET ftp://a/ocsp HTTP/1.1\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET  / HTTP/1.1\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET / HTTP/1.1 \r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"G(T / HTTP/1.1\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0,
	     0},
	    {"GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	    {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", ZTMD_PHTTP_BAD,
	     NULL, NULL, NULL, 0, 0, 0},
	    {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0,
	     0},
	    {"GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0,
	     0, 0},
	    {"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", ZTMD_PHTTP_BAD, NULL,
	     NULL, NULL, 0, 0, 0},
	    {"POST /ocsp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", ZTMD_PHTTP_UNSUPPORTED,
	     NULL, NULL, NULL, 0, 0, 0},
	    {"POST /ocsp HTTP/1.1\r\nExpect: something\r\n\r\n", ZTMD_PHTTP_EXPECT, NULL, NULL,
	     NULL, 0, 0, 0},
	    {"GET / HTTP/1.1\n", ZTMD_PHTTP_BAD, NULL, NULL, NULL, 0, 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztmd_phttp_head h;
		char buf[256];
		size_t n = strlen(rows[i].in);
		int rc;

		memcpy(buf, rows[i].in, n + 1);
		rc = ztmd_phttp_parse(buf, n, &h);
		if (rc != rows[i].rc)
			fail_msg("row %zu: rc %d, want %d", i, rc, rows[i].rc);
		if (rc != 1)
			continue;
		assert_int_equal(h.head_len, n);
		assert_string_equal(h.method, rows[i].method);
		assert_string_equal(h.target, rows[i].target);
		assert_int_equal(h.target_len, strlen(rows[i].target));
		if (rows[i].query == NULL)
			assert_null(h.query);
		else
			assert_string_equal(h.query, rows[i].query);
		if (h.close != rows[i].close)
			fail_msg("row %zu: close %d", i, h.close);
		assert_int_equal(h.has_length, rows[i].has_length);
		assert_int_equal(h.content_length, rows[i].length);
	}
}

static void test_headers_and_body(void **state)
{
	struct ztmd_phttp_head h;
	char buf[] = "POST /ocsp HTTP/1.1\r\nContent-type:  application/ocsp-request  \r\n"
	             "Content-Length: 4\r\nExpect: 100-continue\r\n\r\nBODYnext";
	size_t n = strlen(buf);

	assert_int_equal(ztmd_phttp_parse(buf, n, &h), 1);
	assert_string_equal(ztmd_phttp_header(&h, "Content-Type"), "application/ocsp-request");
	assert_string_equal(ztmd_phttp_header(&h, "content-length"), "4");
	assert_null(ztmd_phttp_header(&h, "Content-Typ"));
	assert_int_equal(h.expect_continue, 1);
	/* The body and what follows are left as they were. */
	assert_memory_equal(buf + h.head_len, "BODYnext", 8);
}

static void test_too_many_headers(void **state)
{
	char buf[2048];
	struct ztmd_phttp_head h;
	size_t n = 0, i;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "GET / HTTP/1.1\r\n");
	for (i = 0; i <= ZTMD_PHTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%zu: v\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(ztmd_phttp_parse(buf, n, &h), ZTMD_PHTTP_TOOBIG);
}

static void test_http_date(void **state)
{
	static const struct {
		int64_t t;
		const char *want;
	} rows[] = {
	    {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
	    {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"}, /* RFC 9110 §5.6.7 */
	    {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
	    {4102444799, "Thu, 31 Dec 2099 23:59:59 GMT"},
	};
	char out[32];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_string_equal(ztmd_http_date(rows[i].t, out), rows[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_headers_and_body),
	    cmocka_unit_test(test_too_many_headers),
	    cmocka_unit_test(test_http_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
