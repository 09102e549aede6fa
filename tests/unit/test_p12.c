/* test_p12.c - the key-injection bundle (ztm/p12.h): it opens with its
 * passphrase and with nothing else, gives back the key, the certificate
 * and the chain with their friendlyNames, and is protected exactly as
 * docs/injection.md says (PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC for both
 * bags, HMAC-SHA-256 MAC, 600,000 iterations each), read from the DER
 * rather than trusted from the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/pkcs12.h>

#include "x509_fixture.h"
#include "ztm/bootstrap.h"
#include "ztm/p12.h"

#define PASS "a bundle passphrase"

static struct {
	EVP_PKEY *key, *ca_key, *root_key;
	X509 *cert, *ca, *root;
	STACK_OF(X509) * chain;
	PKCS12 *p12; /* of cert, key and chain: 600,000 iterations cost, make it once */
} fx;

static PKCS12 *make(STACK_OF(X509) * chain);

static int setup(void **state)
{
	struct ztm_error e;

	fx.key = fx_key("P-256");
	fx.cert = ztm_bootstrap_cert(fx.key, "SN-1", "gizmo", 1700000000, 1800000000, &e);
	fx.ca_key = fx_key("P-256");
	fx.ca = fx_root(fx.ca_key, "Device CA", 1, 30);
	fx.root_key = fx_key("P-256");
	fx.root = fx_root(fx.root_key, "Root", 1, 30);
	fx.chain = sk_X509_new_null();
	if (fx.cert == NULL || fx.chain == NULL || sk_X509_push(fx.chain, fx.ca) <= 0 ||
	    sk_X509_push(fx.chain, fx.root) <= 0)
		return -1;
	fx.p12 = make(fx.chain);
	return 0;
}

static int teardown(void **state)
{
	PKCS12_free(fx.p12);
	sk_X509_free(fx.chain);
	X509_free(fx.cert);
	X509_free(fx.ca);
	X509_free(fx.root);
	EVP_PKEY_free(fx.key);
	EVP_PKEY_free(fx.ca_key);
	EVP_PKEY_free(fx.root_key);
	return 0;
}

static PKCS12 *make(STACK_OF(X509) * chain)
{
	struct ztm_buf b;
	struct ztm_error e;
	const unsigned char *p;
	PKCS12 *p12;

	ztm_buf_init(&b, 0);
	if (ztm_p12_bundle(fx.key, fx.cert, chain, "gizmo-SN-1", PASS, &b, &e) != 0)
		fail_msg("bundle: %s", e.msg);
	p = b.data;
	p12 = d2i_PKCS12(NULL, &p, (long)b.len);
	assert_non_null(p12);
	assert_ptr_equal(p, b.data + b.len);
	ztm_buf_free(&b);
	return p12;
}

static void test_round_trip(void **state)
{
	PKCS12 *p12 = fx.p12;
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	STACK_OF(X509) *ca = NULL;

	assert_int_equal(PKCS12_verify_mac(p12, PASS, -1), 1);
	assert_int_equal(PKCS12_verify_mac(p12, "another passphrase", -1), 0);
	assert_int_equal(PKCS12_verify_mac(p12, "", 0), 0);
	assert_int_equal(PKCS12_verify_mac(p12, NULL, 0), 0);
	assert_int_equal(PKCS12_parse(p12, "another passphrase", &k, &c, &ca), 0);
	assert_null(k);
	assert_int_equal(PKCS12_parse(p12, PASS, &k, &c, &ca), 1);
	assert_int_equal(EVP_PKEY_eq(k, fx.key), 1);
	assert_int_equal(X509_cmp(c, fx.cert), 0);
	assert_string_equal((const char *)X509_alias_get0(c, NULL), "gizmo-SN-1");
	assert_int_equal(sk_X509_num(ca), 2);
	assert_int_equal(X509_cmp(sk_X509_value(ca, 0), fx.ca), 0);
	assert_int_equal(X509_cmp(sk_X509_value(ca, 1), fx.root), 0);
	assert_string_equal((const char *)X509_alias_get0(sk_X509_value(ca, 0), NULL), "Device CA");
	assert_string_equal((const char *)X509_alias_get0(sk_X509_value(ca, 1), NULL), "Root");
	/* The caller's chain is not touched (aliases went on copies). */
	assert_null(X509_alias_get0(fx.ca, NULL));
	EVP_PKEY_free(k);
	X509_free(c);
	sk_X509_pop_free(ca, X509_free);
}

/* PBES2 with PBKDF2-HMAC-SHA256, AES-256-CBC, ZTM_P12_ITER iterations. */
static void check_pbes2(const X509_ALGOR *alg, const char *what)
{
	const ASN1_OBJECT *oid;
	const void *pv;
	int ptype;
	PBE2PARAM *pbe2;
	PBKDF2PARAM *kdf;

	X509_ALGOR_get0(&oid, &ptype, &pv, alg);
	if (OBJ_obj2nid(oid) != NID_pbes2)
		fail_msg("%s: not PBES2", what);
	pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
	assert_non_null(pbe2);
	assert_int_equal(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
	assert_int_equal(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
	kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
	assert_non_null(kdf);
	if (ASN1_INTEGER_get(kdf->iter) != ZTM_P12_ITER)
		fail_msg("%s: %ld iterations", what, ASN1_INTEGER_get(kdf->iter));
	/* Absent prf = HMAC-SHA1 (RFC 8018); it must be named SHA-256. */
	assert_non_null(kdf->prf);
	assert_int_equal(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
	PBKDF2PARAM_free(kdf);
	PBE2PARAM_free(pbe2);
}

static void test_protection(void **state)
{
	PKCS12 *p12 = fx.p12;
	const ASN1_OBJECT *macoid;
	const X509_ALGOR *macalg;
	const ASN1_OCTET_STRING *salt;
	const ASN1_INTEGER *iter;
	STACK_OF(PKCS7) * safes;
	int i, j, key_bags = 0, cert_bags = 0, encrypted = 0;
	ASN1_OCTET_STRING *key_id = NULL, *cert_id = NULL;

	PKCS12_get0_mac(NULL, &macalg, &salt, &iter, p12);
	X509_ALGOR_get0(&macoid, NULL, NULL, macalg);
	assert_int_equal(OBJ_obj2nid(macoid), NID_sha256);
	assert_int_equal(ASN1_INTEGER_get(iter), ZTM_P12_ITER);
	assert_true(ASN1_STRING_length(salt) >= 8);
	safes = PKCS12_unpack_authsafes(p12);
	assert_non_null(safes);
	for (i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) * bags;
		if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
			/* The certificates' EncryptedData. */
			check_pbes2(p7->d.encrypted->enc_data->algorithm, "certificate bags");
			bags = PKCS12_unpack_p7encdata(p7, PASS, -1);
			encrypted++;
		} else {
			assert_int_equal(OBJ_obj2nid(p7->type), NID_pkcs7_data);
			bags = PKCS12_unpack_p7data(p7);
		}
		assert_non_null(bags);
		for (j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
			const X509_ALGOR *alg;
			char *name = PKCS12_get_friendlyname(bag);
			switch (PKCS12_SAFEBAG_get_nid(bag)) {
			case NID_pkcs8ShroudedKeyBag:
				/* Never a plain keyBag, never outside the key bag. */
				assert_int_equal(OBJ_obj2nid(p7->type), NID_pkcs7_data);
				X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
				check_pbes2(alg, "key bag");
				assert_string_equal(name, "gizmo-SN-1");
				key_id = ASN1_OCTET_STRING_dup(
				    PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID)
				        ->value.octet_string);
				key_bags++;
				break;
			case NID_certBag:
				assert_int_equal(OBJ_obj2nid(p7->type), NID_pkcs7_encrypted);
				if (PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID) != NULL) {
					assert_string_equal(name, "gizmo-SN-1");
					cert_id = ASN1_OCTET_STRING_dup(
					    PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID)
					        ->value.octet_string);
				}
				cert_bags++;
				break;
			default:
				fail_msg("unexpected bag %d", PKCS12_SAFEBAG_get_nid(bag));
			}
			OPENSSL_free(name);
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	assert_int_equal(encrypted, 1);
	assert_int_equal(key_bags, 1);
	assert_int_equal(cert_bags, 3);
	/* localKeyID pairs the key with its certificate. */
	assert_non_null(key_id);
	assert_non_null(cert_id);
	assert_int_equal(ASN1_STRING_cmp(key_id, cert_id), 0);
	ASN1_OCTET_STRING_free(key_id);
	ASN1_OCTET_STRING_free(cert_id);
	sk_PKCS7_pop_free(safes, PKCS7_free);
}

static void test_no_chain(void **state)
{
	PKCS12 *p12 = make(NULL);
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	STACK_OF(X509) *ca = NULL;

	assert_int_equal(PKCS12_parse(p12, PASS, &k, &c, &ca), 1);
	assert_int_equal(EVP_PKEY_eq(k, fx.key), 1);
	assert_null(ca); /* PKCS12_parse's way of saying none */
	EVP_PKEY_free(k);
	X509_free(c);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
}

static void test_refusals(void **state)
{
	EVP_PKEY *other = fx_key("P-256");
	struct ztm_buf b;
	struct ztm_error e;

	ztm_buf_init(&b, 0);
	/* A short passphrase. */
	assert_int_equal(ztm_p12_bundle(fx.key, fx.cert, NULL, "n", "eleven char", &b, &e), -1);
	assert_int_equal(e.code, ZTM_E_POLICY);
	assert_int_equal(b.len, 0);
	/* A key that is not the certificate's. */
	assert_int_equal(ztm_p12_bundle(other, fx.cert, NULL, "n", PASS, &b, &e), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(ztm_p12_bundle(NULL, fx.cert, NULL, "n", PASS, &b, &e), -1);
	assert_int_equal(e.code, ZTM_E_USAGE);
	assert_int_equal(ztm_p12_bundle(fx.key, fx.cert, NULL, "n", NULL, &b, &e), -1);
	assert_int_equal(b.len, 0);
	/* Past the output's cap: nothing appended. */
	ztm_buf_free(&b);
	ztm_buf_init(&b, 100);
	assert_int_equal(ztm_p12_bundle(fx.key, fx.cert, NULL, "n", PASS, &b, &e), -1);
	assert_int_equal(e.code, ZTM_E_TOOBIG);
	assert_int_equal(b.len, 0);
	ztm_buf_free(&b);
	EVP_PKEY_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_protection),
	    cmocka_unit_test(test_no_chain),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
