/* test_der_time.c - ztm_der_time (src/core/der.c), the validity times of
 * every certificate and CRL: its own calendar arithmetic must give what
 * gmtime_r gives, as UTCTime through 2049 and GeneralizedTime from 2050
 * (RFC 5280 §4.1.2.5), at the edges and for random instants; times outside
 * 1950 - 9999 fail the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "../../src/core/der.h"

/* What the writer should make of t, from the C library's calendar. */
static size_t expected(int64_t t, uint8_t *out)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int n, y;

	assert_non_null(gmtime_r(&tt, &tm));
	y = tm.tm_year + 1900;
	if (y < 2050)
		n = snprintf((char *)out + 2, 32, "%02d%02d%02d%02d%02d%02dZ", y % 100,
		             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		n = snprintf((char *)out + 2, 32, "%04d%02d%02d%02d%02d%02dZ", y, tm.tm_mon + 1,
		             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	out[0] = y < 2050 ? 0x17 : 0x18;
	out[1] = (uint8_t)n;
	return (size_t)n + 2;
}

static void check(int64_t t)
{
	uint8_t want[40];
	size_t n = expected(t, want);
	struct ztm_buf b;
	struct ztm_der w;

	ztm_buf_init(&b, 0);
	ztm_der_init(&w, &b);
	ztm_der_time(&w, t);
	if (w.failed || b.len != n || memcmp(b.data, want, n) != 0)
		fail_msg("t=%lld: got '%.*s', want '%.*s'", (long long)t,
		         b.len > 2 ? (int)b.len - 2 : 0, b.len > 2 ? (char *)b.data + 2 : "",
		         (int)n - 2, (char *)want + 2);
	ztm_buf_free(&b);
}

static void test_edges(void **state)
{
	/* t, then what it is. */
	static const int64_t at[] = {
	    -631152000,   /* 1950-01-01T00:00:00Z, the first UTCTime instant */
	    -631151999,   /* a second later */
	    -1,           /* 1969-12-31T23:59:59Z */
	    0,            /* the epoch */
	    86399,        /* 1970-01-01T23:59:59Z */
	    86400,        /* 1970-01-02 */
	    951782400,    /* 2000-02-29 (2000 is a leap year) */
	    951868800,    /* 2000-03-01 */
	    1709164800,   /* 2024-02-29 */
	    2524607999,   /* 2049-12-31T23:59:59Z, the last UTCTime */
	    2524608000,   /* 2050-01-01, the first GeneralizedTime */
	    4107542399,   /* 2100-02-28T23:59:59Z */
	    4107542400,   /* 2100-03-01 (2100 is not a leap year) */
	    13574563200,  /* 2400-02-29 (2400 is) */
	    253402300799, /* 9999-12-31T23:59:59Z */
	};
	size_t i;

	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		check(at[i]);
}

static void test_random(void **state)
{
	const int64_t lo = -631152000, span = 253402300799 - lo + 1;
	uint64_t r[4096];
	size_t i, round;

	for (round = 0; round < 25; round++) {
		assert_int_equal(RAND_bytes((unsigned char *)r, sizeof(r)), 1);
		for (i = 0; i < sizeof(r) / sizeof(r[0]); i++)
			check(lo + (int64_t)(r[i] % (uint64_t)span));
	}
	/* Every second of a day that crosses a leap day, and of 1969-12-31. */
	for (i = 0; i < 86400; i += 7) {
		check(951782400 + (int64_t)i);
		check(-86400 + (int64_t)i);
	}
}

static void test_out_of_range(void **state)
{
	static const int64_t at[] = {-631152001, 253402300800, INT64_MIN, INT64_MAX};
	size_t i;

	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		struct ztm_buf b;
		struct ztm_der w;

		ztm_buf_init(&b, 0);
		ztm_der_init(&w, &b);
		ztm_der_time(&w, at[i]);
		assert_int_equal(w.failed, 1);
		assert_int_equal(b.len, 0);
		ztm_buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
