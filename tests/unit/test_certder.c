/* test_certder.c - a certificate's validity read from its DER
 * (ztm/certder.h), held to OpenSSL's reading of the same certificates;
 * then one row per refusal (framing, time forms RFC 5280 does not allow,
 * impossible dates), each made by editing a real certificate's bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "x509_fixture.h"
#include "ztm/certder.h"

/* A self-signed P-256 certificate valid from nb to na (Unix seconds), DER. */
static size_t make_cert(int64_t nb, int64_t na, uint8_t *out, size_t cap)
{
	EVP_PKEY *k = fx_key("P-256");
	size_t n = fx_self_issued_der(k, 2, nb, na, NULL, out, cap);

	EVP_PKEY_free(k);
	return n;
}

static void test_validity(void **state)
{
	static const struct {
		int64_t nb, na;
	} rows[] = {
	    {1700000000, 1700086400}, /* UTCTime both */
	    {0, 1},                   /* 1970 */
	    {2524607999, 2524608000}, /* 2049-12-31T23:59:59Z, then 2050 (GeneralizedTime) */
	    {1700000000, INT64_C(253402300799)}, /* 9999-12-31T23:59:59Z (RFC 5280 "no expiry") */
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t der[1024];
		size_t n = make_cert(rows[i].nb, rows[i].na, der, sizeof(der));
		struct ztm_error e;
		int64_t nb = -1, na = -1;

		if (ztm_cert_der_validity(der, n, &nb, &na, &e) != 0)
			fail_msg("row %zu: %s", i, e.msg);
		assert_int_equal(nb, rows[i].nb);
		assert_int_equal(na, rows[i].na);
	}
}

/* The first occurrence of needle in hay (the time strings are unique in a
 * certificate). */
static uint8_t *find(uint8_t *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return hay + i;
	fail_msg("'%s' not in the certificate", needle);
	return NULL;
}

static void test_refusals(void **state)
{
	/* 1700000000 = 2023-11-14T22:13:20Z: "231114221320Z" */
	static const struct {
		const char *what, *from, *to;
	} rows[] = {
	    {"February 30", "231114221320Z", "230230221320Z"},
	    {"month 13", "231114221320Z", "231314221320Z"},
	    {"hour 24", "231114221320Z", "231114241320Z"},
	    {"not a digit", "231114221320Z", "2311142213x0Z"},
	    {"an offset, not Z", "231114221320Z", "2311142213+0"},
	};
	uint8_t good[1024];
	size_t n = make_cert(1700000000, 1700086400, good, sizeof(good)), i;
	struct ztm_error e;
	int64_t nb, na;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t der[1024];
		memcpy(der, good, n);
		memcpy(find(der, n, rows[i].from), rows[i].to, strlen(rows[i].to));
		memset(&e, 0, sizeof(e));
		if (ztm_cert_der_validity(der, n, &nb, &na, &e) == 0)
			fail_msg("%s: accepted", rows[i].what);
		assert_int_equal(e.code, ZTM_E_PARSE);
	}
	/* Framing: truncated, trailing byte, empty, NULL. */
	assert_int_equal(ztm_cert_der_validity(good, n - 1, &nb, &na, &e), -1);
	{
		uint8_t der[1025];
		memcpy(der, good, n);
		der[n] = 0;
		assert_int_equal(ztm_cert_der_validity(der, n + 1, &nb, &na, &e), -1);
	}
	assert_int_equal(ztm_cert_der_validity(good, 0, &nb, &na, &e), -1);
	assert_int_equal(ztm_cert_der_validity(NULL, 10, &nb, &na, &e), -1);
	/* A UTCTime tag on a GeneralizedTime body (the length says which). */
	{
		uint8_t der[1024];
		uint8_t *t;
		memcpy(der, good, n);
		t = find(der, n, "231114221320Z");
		t[-2] = 0x18; /* GeneralizedTime with 13 bytes */
		assert_int_equal(ztm_cert_der_validity(der, n, &nb, &na, &e), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validity),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
