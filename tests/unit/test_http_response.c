/* test_http_response.c - the client's HTTP/1.1 response parser
 * (ztm_http_parse_response), one row per response: status line forms,
 * framing by Content-Length or to the end, refusals, Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"

#define OKH "HTTP/1.1 200 OK\r\n"

static void test_response_table(void **state)
{
	static const struct {
		const char *raw;
		int ok;
		int status;
		const char *body;  /* expected body when ok */
		const char *ctype; /* expected Content-Type ("" when absent) */
		int retry_after;
		const char *why; /* a word of the refusal */
	} rows[] = {
	    /* status line forms */
	    {OKH "Content-Length: 2\r\n\r\nhi", 1, 200, "hi", "", -1, NULL},
	    {"HTTP/1.0 404 Not Found\r\n\r\n", 1, 404, "", "", -1, NULL},
	    {"HTTP/1.1 204 \r\n\r\n", 1, 204, "", "", -1, NULL},
	    {"HTTP/1.1 500\r\n\r\n", 1, 500, "", "", -1, NULL},
	    {"HTTP/1.1 599 Whatever\r\n\r\n", 1, 599, "", "", -1, NULL},
	    {"HTTP/1.1 100 Continue\r\n\r\n", 1, 100, "", "", -1, NULL},
	    {"HTTP/2 200 OK\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"HTTP/1.x 200 OK\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"HTTP/1.1 2000 OK\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"HTTP/1.1 20 OK\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"HTTP/1.1 600 Nope\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"HTTP/1.1 099 Nope\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"HTTP/1.1  200 OK\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"http/1.1 200 OK\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"HTTP/1.1 2x0 OK\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"ICY 200 OK\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    {"\r\n\r\n", 0, 0, NULL, NULL, -1, "status line"},
	    /* Content-Length against the body */
	    {OKH "Content-Length: 5\r\n\r\nhello", 1, 200, "hello", "", -1, NULL},
	    {OKH "Content-Length: 3\r\n\r\nhello", 1, 200, "hel", "", -1, NULL},
	    {OKH "Content-Length: 0\r\n\r\nhello", 1, 200, "", "", -1, NULL},
	    {OKH "content-length:   5  \r\n\r\nhello", 1, 200, "hello", "", -1, NULL},
	    {OKH "Content-Length: 6\r\n\r\nhello", 0, 0, NULL, NULL, -1, "truncated"},
	    {OKH "Content-Length: 99999999\r\n\r\nhello", 0, 0, NULL, NULL, -1, "Content-Length"},
	    {OKH "Content-Length: -1\r\n\r\nhello", 0, 0, NULL, NULL, -1, "Content-Length"},
	    {OKH "Content-Length: 5x\r\n\r\nhello", 0, 0, NULL, NULL, -1, "Content-Length"},
	    {OKH "Content-Length: \r\n\r\nhello", 0, 0, NULL, NULL, -1, "Content-Length"},
	    {OKH "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 0, 0, NULL, NULL, -1,
	     "repeated"},
	    {OKH "Content-Length: 5\r\nContent-Length: 3\r\n\r\nhello", 0, 0, NULL, NULL, -1,
	     "repeated"},
	    /* no Content-Length: the body runs to the end (Connection: close) */
	    {OKH "Content-Type: text/plain\r\n\r\nto the end", 1, 200, "to the end", "text/plain",
	     -1, NULL},
	    /* a header named like Content-Length is not it */
	    {OKH "X-Content-Length: 1\r\n\r\nabc", 1, 200, "abc", "", -1, NULL},
	    {OKH "Content-Lengthy: 1\r\n\r\nabc", 1, 200, "abc", "", -1, NULL},
	    /* the header block must end */
	    {"", 0, 0, NULL, NULL, -1, "complete header"},
	    {OKH, 0, 0, NULL, NULL, -1, "complete header"},
	    {OKH "Content-Length: 2\r\n", 0, 0, NULL, NULL, -1, "complete header"},
	    {OKH "Content-Length: 2\n\nhi", 0, 0, NULL, NULL, -1, "complete header"},
	    {"HTTP/1.1 200 OK", 0, 0, NULL, NULL, -1, "complete header"},
	    /* chunked and any other transfer coding are refused */
	    {OKH "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, 0, NULL, NULL, -1,
	     "chunked"},
	    {OKH "transfer-encoding: gzip\r\nContent-Length: 1\r\n\r\nx", 0, 0, NULL, NULL, -1,
	     "chunked"},
	    /* Content-Type */
	    {OKH "Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n\r\n", 1, 200, "",
	     "application/pkcs7-mime; smime-type=certs-only", -1, NULL},
	    {OKH "Content-Type:\tapplication/json\t\r\n\r\n{}", 1, 200, "{}", "application/json",
	     -1, NULL},
	    {OKH "Content-Type: "
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "\r\n\r\n",
	     0, 0, NULL, NULL, -1, "Content-Type"},
	    /* Retry-After: delay-seconds within a day, else ignored */
	    {"HTTP/1.1 202 Accepted\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n", 1, 202, "", "",
	     5, NULL},
	    {"HTTP/1.1 202 Accepted\r\nretry-after:0\r\n\r\n", 1, 202, "", "", 0, NULL},
	    {"HTTP/1.1 503 Busy\r\nRetry-After: 86400\r\n\r\n", 1, 503, "", "", 86400, NULL},
	    {"HTTP/1.1 503 Busy\r\nRetry-After: 86401\r\n\r\n", 1, 503, "", "", -1, NULL},
	    {"HTTP/1.1 503 Busy\r\nRetry-After: -5\r\n\r\n", 1, 503, "", "", -1, NULL},
	    {"HTTP/1.1 503 Busy\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n\r\n", 1, 503, "",
	     "", -1, NULL},
	    {"HTTP/1.1 503 Busy\r\nRetry-After: 10s\r\n\r\n", 1, 503, "", "", -1, NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_http_resp resp;
		struct ztm_error err;
		int rc;

		ztm_http_resp_init(&resp);
		ztm_error_clear(&err);
		rc = ztm_http_parse_response((const uint8_t *)rows[i].raw, strlen(rows[i].raw),
		                             &resp, &err);
		if ((rc == 0) != rows[i].ok)
			fail_msg("row %zu: rc %d (%s)", i, rc, err.msg);
		if (rows[i].ok) {
			assert_int_equal(resp.status, rows[i].status);
			assert_int_equal(resp.body.len, strlen(rows[i].body));
			if (resp.body.len > 0)
				assert_memory_equal(resp.body.data, rows[i].body, resp.body.len);
			assert_string_equal(resp.content_type, rows[i].ctype);
			assert_int_equal(resp.retry_after, rows[i].retry_after);
		} else {
			assert_int_equal(err.code, ZTM_E_PARSE);
			if (strstr(err.msg, rows[i].why) == NULL)
				fail_msg("row %zu: '%s' does not say '%s'", i, err.msg,
				         rows[i].why);
		}
		ztm_http_resp_free(&resp);
	}
}

/* The body may hold any bytes, NUL and CRLFCRLF included: only the first
 * header end counts. */
static void test_binary_body(void **state)
{
	static const uint8_t raw[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n\0\r\n\r\n\xff\0z";
	struct ztm_http_resp resp;
	struct ztm_error err;

	ztm_http_resp_init(&resp);
	assert_int_equal(ztm_http_parse_response(raw, sizeof(raw) - 1, &resp, &err), 0);
	assert_int_equal(resp.body.len, 8);
	assert_memory_equal(resp.body.data, "\0\r\n\r\n\xff\0z", 8);
	ztm_http_resp_free(&resp);
}

/* A second parse into the same response replaces the body, not appends. */
static void test_reuse(void **state)
{
	static const char a[] = OKH "Content-Length: 3\r\n\r\nabc";
	static const char b[] = OKH "Content-Length: 2\r\n\r\nxy";
	struct ztm_http_resp resp;
	struct ztm_error err;

	ztm_http_resp_init(&resp);
	assert_int_equal(ztm_http_parse_response((const uint8_t *)a, sizeof(a) - 1, &resp, &err),
	                 0);
	assert_int_equal(ztm_http_parse_response((const uint8_t *)b, sizeof(b) - 1, &resp, &err),
	                 0);
	assert_int_equal(resp.body.len, 2);
	assert_memory_equal(resp.body.data, "xy", 2);
	ztm_http_resp_free(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_response_table),
	    cmocka_unit_test(test_binary_body),
	    cmocka_unit_test(test_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
