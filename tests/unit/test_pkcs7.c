/* test_pkcs7.c - the certs-only DER parses with OpenSSL and holds the same
 * certificates, in order, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ztm/pkcs7.h"

static X509 *make_cert(const char *cn, int pad)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	char big[400];

	memset(big, 'a', sizeof(big) - 1);
	big[pad ? sizeof(big) - 1 : 8] = '\0';
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)big, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	return x;
}

static void check_roundtrip(size_t ncerts)
{
	X509 *xs[3];
	unsigned char *ders[3];
	struct ztm_slice sl[3];
	struct ztm_buf out;
	const unsigned char *p;
	PKCS7 *p7;
	STACK_OF(X509) * got;
	size_t i;

	for (i = 0; i < ncerts; i++) {
		xs[i] = make_cert(i == 0 ? "one" : "two", (int)i);
		ders[i] = NULL;
		sl[i].len = (size_t)i2d_X509(xs[i], &ders[i]);
		sl[i].p = ders[i];
	}
	ztm_buf_init(&out, 0);
	assert_int_equal(ztm_p7_certs_only(sl, ncerts, &out), 0);
	p = out.data;
	p7 = d2i_PKCS7(NULL, &p, (long)out.len);
	assert_non_null(p7);
	assert_ptr_equal(p, out.data + out.len);
	assert_true(PKCS7_type_is_signed(p7));
	got = p7->d.sign->cert;
	assert_int_equal(ncerts == 0 ? 0 : sk_X509_num(got), ncerts);
	for (i = 0; i < ncerts; i++)
		assert_int_equal(X509_cmp(sk_X509_value(got, (int)i), xs[i]), 0);
	PKCS7_free(p7);
	for (i = 0; i < ncerts; i++) {
		OPENSSL_free(ders[i]);
		X509_free(xs[i]);
	}
	ztm_buf_free(&out);
}

static void test_one(void **state)
{
	check_roundtrip(1);
}

static void test_two_long_lengths(void **state)
{
	check_roundtrip(3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one),
	    cmocka_unit_test(test_two_long_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
