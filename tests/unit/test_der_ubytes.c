/* test_der_ubytes.c - ztm_der_ubytes (src/core/der.c), the INTEGER writer
 * ztm_p11_ec_sign_der frames a token's r||s with: an ECDSA-Sig-Value built
 * from r and s must be byte for byte what OpenSSL's i2d_ECDSA_SIG makes of
 * the same numbers (leading zero octets, a set high bit, zero, one octet),
 * and a real signature framed this way verifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../../src/core/der.h"

/* Our SEQUENCE { INTEGER r, INTEGER s } of two n-octet halves. */
static void ours(const uint8_t *r, const uint8_t *s, size_t n, struct ztm_buf *out)
{
	struct ztm_der w;
	size_t seq;

	ztm_der_init(&w, out);
	seq = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_ubytes(&w, r, n);
	ztm_der_ubytes(&w, s, n);
	ztm_der_end(&w, seq);
	assert_int_equal(w.failed, 0);
}

/* OpenSSL's encoding of the same numbers. */
static int theirs(const uint8_t *r, const uint8_t *s, size_t n, uint8_t *out)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(r, (int)n, NULL), *bs = BN_bin2bn(s, (int)n, NULL);
	unsigned char *p = out;
	int len;

	assert_non_null(sig);
	assert_int_equal(ECDSA_SIG_set0(sig, br, bs), 1);
	len = i2d_ECDSA_SIG(sig, &p);
	ECDSA_SIG_free(sig);
	return len;
}

static void same(const uint8_t *r, const uint8_t *s, size_t n)
{
	struct ztm_buf b;
	uint8_t ref[256];
	int len = theirs(r, s, n, ref);

	ztm_buf_init(&b, 0);
	ours(r, s, n, &b);
	assert_true(len > 0);
	assert_int_equal(b.len, (size_t)len);
	assert_memory_equal(b.data, ref, (size_t)len);
	ztm_buf_free(&b);
}

static void test_table(void **state)
{
	uint8_t r[32], s[32];
	size_t i;

	(void)state;
	memset(r, 0, sizeof(r));
	memset(s, 0, sizeof(s));
	same(r, s, 32); /* both zero: INTEGER 0 */
	r[31] = 1;
	s[31] = 0x80; /* one octet with the high bit: 00 80 */
	same(r, s, 32);
	for (i = 0; i < 32; i++) {
		r[i] = 0xff; /* the high bit set from the first octet */
		s[i] = (uint8_t)(i + 1);
	}
	same(r, s, 32);
	r[0] = 0;
	r[1] = 0;
	r[2] = 0x7f; /* two leading zeros dropped, no sign octet */
	s[0] = 0;
	s[1] = 0x80; /* one leading zero dropped, the sign octet put back */
	same(r, s, 32);
}

static void test_random(void **state)
{
	uint8_t r[66], s[66];
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		size_t n = i % 3 == 0 ? 32 : i % 3 == 1 ? 48 : 66;
		assert_int_equal(RAND_bytes(r, sizeof(r)), 1);
		assert_int_equal(RAND_bytes(s, sizeof(s)), 1);
		/* Leading zero octets are common in real r and s (1 in 256). */
		if (i % 5 == 0)
			r[0] = 0;
		if (i % 7 == 0)
			s[0] = s[1] = 0;
		same(r, s, n);
	}
}

/* A real P-256 signature taken apart into r||s and framed again verifies. */
static void test_verifies(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	const uint8_t msg[] = "tbs";
	uint8_t der[80], rs[64];
	const unsigned char *p = der;
	size_t len = sizeof(der);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	ECDSA_SIG *sig;
	struct ztm_buf b;

	(void)state;
	assert_non_null(k);
	assert_int_equal(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(c, der, &len, msg, sizeof(msg)), 1);
	sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	assert_non_null(sig);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32), 32);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32), 32);
	ztm_buf_init(&b, 0);
	ours(rs, rs + 32, 32, &b);
	assert_int_equal(EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestVerify(c, b.data, b.len, msg, sizeof(msg)), 1);
	b.data[b.len - 1] ^= 1;
	assert_int_not_equal(EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k), 0);
	assert_int_not_equal(EVP_DigestVerify(c, b.data, b.len, msg, sizeof(msg)), 1);
	ztm_buf_free(&b);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_verifies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
