/* test_str.c - strict parsing, hex, base64 (RFC 4648 §10 vectors and refusals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ztm/str.h"

static void test_parse_u64(void **state)
{
	static const struct {
		const char *in;
		int ok;
		uint64_t want;
	} rows[] = {
	    {"0", 1, 0},  {"42", 1, 42}, {"100", 1, 100}, {"101", 0, 0}, {"", 0, 0},
	    {"-1", 0, 0}, {"1x", 0, 0},  {" 1", 0, 0},    {"+1", 0, 0},
	};
	size_t i;
	uint64_t v;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = ztm_parse_u64(rows[i].in, 0, 100, &v);
		assert_int_equal(rc == 0, rows[i].ok);
		if (rows[i].ok)
			assert_int_equal(v, rows[i].want);
	}
}

static void test_b64_vectors(void **state)
{
	static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	size_t i;

	for (i = 0; i < 7; i++) {
		struct ztm_buf b;
		ztm_buf_init(&b, 0);
		assert_int_equal(ztm_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), 0, &b),
		                 0);
		assert_int_equal(b.len, strlen(enc[i]));
		assert_memory_equal(b.data == NULL ? (uint8_t *)"" : b.data, enc[i], b.len);
		ztm_buf_reset(&b);
		assert_int_equal(ztm_b64_decode(enc[i], strlen(enc[i]), &b), 0);
		assert_int_equal(b.len, strlen(plain[i]));
		if (b.len)
			assert_memory_equal(b.data, plain[i], b.len);
		ztm_buf_free(&b);
	}
}

static void test_b64_refusals(void **state)
{
	static const char *bad[] = {
	    "Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zg==Zg==", "Zm9v!", "Zg=a", "=Zg="};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ztm_buf b;
		ztm_buf_init(&b, 0);
		assert_int_equal(ztm_b64_decode(bad[i], strlen(bad[i]), &b), -1);
		assert_int_equal(b.len, 0);
		ztm_buf_free(&b);
	}
}

static void test_b64_whitespace_and_wrap(void **state)
{
	uint8_t raw[100];
	struct ztm_buf e, d;
	size_t i;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7);
	ztm_buf_init(&e, 0);
	ztm_buf_init(&d, 0);
	assert_int_equal(ztm_b64_encode(raw, sizeof(raw), 64, &e), 0);
	assert_non_null(memchr(e.data, '\n', e.len));
	assert_int_equal(ztm_b64_decode((const char *)e.data, e.len, &d), 0);
	assert_int_equal(d.len, sizeof(raw));
	assert_memory_equal(d.data, raw, sizeof(raw));
	ztm_buf_free(&e);
	ztm_buf_free(&d);
}

static void test_buf_cap(void **state)
{
	struct ztm_buf b;

	ztm_buf_init(&b, 8);
	assert_int_equal(ztm_buf_append(&b, "12345678", 8), 0);
	assert_int_equal(ztm_buf_append(&b, "9", 1), -1);
	assert_int_equal(b.len, 8);
	ztm_buf_free(&b);
}

static void test_strlcpy(void **state)
{
	char d[4];

	assert_int_equal(ztm_strlcpy(d, "abc", sizeof(d)), 0);
	assert_string_equal(d, "abc");
	assert_int_equal(ztm_strlcpy(d, "abcd", sizeof(d)), -1);
	assert_string_equal(d, "abc");
}

/* ztm_unhex is ztm_hex's inverse; it takes lower-case only, stops at a
 * short string (never reads past its end) and refuses any other digit. */
static void test_unhex(void **state)
{
	const uint8_t bytes[] = {0x00, 0x9f, 0xa0, 0xff, 0x5e};
	char hex[11];
	uint8_t out[5];

	ztm_hex(bytes, sizeof(bytes), hex);
	assert_string_equal(hex, "009fa0ff5e");
	assert_int_equal(ztm_unhex(hex, sizeof(out), out), 0);
	assert_memory_equal(out, bytes, sizeof(bytes));
	assert_int_equal(ztm_unhex("", 0, out), 0);
	assert_int_equal(ztm_unhex("009FA0ff5e", 5, out), -1);
	assert_int_equal(ztm_unhex("009fa0ff5g", 5, out), -1);
	assert_int_equal(ztm_unhex("009fa0ff5", 5, out), -1);
	assert_int_equal(ztm_unhex("009fa0ff", 5, out), -1);
	assert_int_equal(ztm_unhex(" 09fa0ff5e", 5, out), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_u64),    cmocka_unit_test(test_b64_vectors),
	    cmocka_unit_test(test_b64_refusals), cmocka_unit_test(test_b64_whitespace_and_wrap),
	    cmocka_unit_test(test_buf_cap),      cmocka_unit_test(test_strlcpy),
	    cmocka_unit_test(test_unhex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
