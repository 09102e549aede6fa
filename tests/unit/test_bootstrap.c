/* test_bootstrap.c - the host-made bootstrap certificate (ztm/bootstrap.h):
 * one row per key type, each held to the record check the server applies
 * (ztm_record_check_cert), to OpenSSL's strict self-signed client
 * verification and to the shape libztmdev writes; then one row per refusal,
 * and the shape's CA judgment held to OpenSSL's (X509_check_ca). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/x509v3.h>

#include "x509_fixture.h"
#include "ztm/batch.h"
#include "ztm/bootstrap.h"
#include "ztm/key.h"
#include "ztm/serial.h"
#include "ztm/str.h"

#define NOW ((int64_t)1750000000)

/* OpenSSL's own verdict: the certificate as its only trust anchor, strict
 * X.509, TLS client purpose (what ztmd's handshake asks of it). */
static int verifies_as_client(X509 *x)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(st);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(st, x), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, st, x, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT), 1);
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)NOW);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

static void subject_text(X509 *x, int nid, int *type, char *out, size_t n)
{
	X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	const ASN1_STRING *v;

	assert_true(i >= 0);
	assert_true(X509_NAME_get_index_by_NID(name, nid, i) < 0);
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	*type = ASN1_STRING_type(v);
	assert_true((size_t)ASN1_STRING_length(v) < n);
	memcpy(out, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
	out[ASN1_STRING_length(v)] = '\0';
}

static void test_key_types(void **state)
{
	static const struct {
		enum ztm_key_alg alg;
		int sig_nid;
	} rows[] = {
	    {ZTM_KEY_P256, NID_ecdsa_with_SHA256},
	    {ZTM_KEY_P384, NID_ecdsa_with_SHA384},
	    {ZTM_KEY_ED25519, NID_ED25519},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error e;
		struct ztm_record *r = calloc(1, sizeof(*r));
		EVP_PKEY *k = ztm_key_new(rows[i].alg, &e);
		X509 *x;
		unsigned char *p, *spki = NULL, md[32];
		const ASN1_INTEGER *sn;
		char text[80], hex[65];
		int type, n;

		assert_non_null(r);
		assert_non_null(k);
		x = ztm_bootstrap_cert(k, "SN-0001", "gizmo", NOW - 60, NOW + 86400, &e);
		if (x == NULL)
			fail_msg("%s: %s", ztm_key_alg_name(rows[i].alg), e.msg);
		/* What the record check (station and server) demands. */
		ztm_strlcpy(r->serial, "SN-0001", sizeof(r->serial));
		p = r->cert;
		n = i2d_X509(x, &p);
		assert_true(n > 0 && n <= ZTM_RECORD_MAX_CERT);
		r->cert_len = (size_t)n;
		if (ztm_record_check_cert(r, &e) != 0)
			fail_msg("%s: record check: %s", ztm_key_alg_name(rows[i].alg), e.msg);
		n = i2d_PUBKEY(k, &spki);
		assert_true(n > 0);
		assert_int_equal(EVP_Digest(spki, (size_t)n, md, NULL, EVP_sha256(), NULL), 1);
		OPENSSL_free(spki);
		ztm_hex(md, sizeof(md), hex);
		assert_string_equal(r->spki_sha256, hex);
		/* What ztmd's TLS handshake demands: self-signed, not a CA. */
		assert_int_equal(X509_self_signed(x, 1), 1);
		assert_int_equal(X509_check_ca(x), 0);
		if (verifies_as_client(x) != 1)
			fail_msg("%s: not a strict self-signed client certificate",
			         ztm_key_alg_name(rows[i].alg));
		/* libztmdev's shape: CN <product>-<serial> (UTF8String),
		 * serialNumber (PrintableString), KU digitalSignature, EKU
		 * clientAuth, the signature digest of the key size. */
		subject_text(x, NID_commonName, &type, text, sizeof(text));
		assert_string_equal(text, "gizmo-SN-0001");
		assert_int_equal(type, V_ASN1_UTF8STRING);
		subject_text(x, NID_serialNumber, &type, text, sizeof(text));
		assert_string_equal(text, "SN-0001");
		assert_int_equal(type, V_ASN1_PRINTABLESTRING);
		assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)),
		                 0);
		assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
		assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
		assert_non_null(X509_get0_subject_key_id(x));
		assert_int_equal(X509_get_signature_nid(x), rows[i].sig_nid);
		assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)(NOW - 60)),
		                 0);
		assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)(NOW + 86400)),
		                 0);
		/* A ztm serial: 17 octets behind the fixed prefix. */
		sn = X509_get0_serialNumber(x);
		assert_int_equal(ASN1_STRING_length(sn), ZTM_SERIAL_LEN);
		assert_int_equal(ASN1_STRING_get0_data(sn)[0], ZTM_SERIAL_PREFIX);
		X509_free(x);
		EVP_PKEY_free(k);
		free(r);
	}
}

/* Two calls: two serials (random), same subject. */
static void test_serials_differ(void **state)
{
	struct ztm_error e;
	EVP_PKEY *k = ztm_key_new(ZTM_KEY_P256, &e);
	X509 *a = ztm_bootstrap_cert(k, "SN-1", "gizmo", NOW, NOW + 60, &e);
	X509 *b = ztm_bootstrap_cert(k, "SN-1", "gizmo", NOW, NOW + 60, &e);

	assert_non_null(a);
	assert_non_null(b);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)),
	                     0);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(k);
}

static void test_refusals(void **state)
{
	struct ztm_error e;
	EVP_PKEY *k = ztm_key_new(ZTM_KEY_P256, &e);
	const char *long_product = "a-product-name-of-forty-characters-long.";
	const struct {
		const char *what;
		EVP_PKEY *key;
		const char *serial, *product;
		int64_t nb, na;
		const char *needle;
	} rows[] = {
	    {"no key", NULL, "SN-1", "gizmo", NOW, NOW + 60, "incomplete"},
	    {"no serial", k, NULL, "gizmo", NOW, NOW + 60, "incomplete"},
	    {"ends before it starts", k, "SN-1", "gizmo", NOW, NOW, "incomplete"},
	    {"serial with a space", k, "SN 1", "gizmo", NOW, NOW + 60, "not valid"},
	    {"serial with a slash", k, "../SN-1", "gizmo", NOW, NOW + 60, "not valid"},
	    {"product with a space", k, "SN-1", "giz mo", NOW, NOW + 60, "not valid"},
	    {"CN over 64", k, "SN-0123456789-0123456789", long_product, NOW, NOW + 60,
	     "longer than 64"},
	};
	size_t i;

	assert_non_null(k);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		X509 *x;
		memset(&e, 0, sizeof(e));
		x = ztm_bootstrap_cert(rows[i].key, rows[i].serial, rows[i].product, rows[i].nb,
		                       rows[i].na, &e);
		if (x != NULL)
			fail_msg("%s: accepted", rows[i].what);
		if (e.code != ZTM_E_USAGE || strstr(e.msg, rows[i].needle) == NULL)
			fail_msg("%s: %s: %s", rows[i].what, ztm_err_name(e.code), e.msg);
	}
	EVP_PKEY_free(k);
}

/* The shape refuses exactly what OpenSSL takes for a CA (X509_check_ca !=
 * 0), which ztmd's handshake refuses: a station must not record a device
 * that can never register. */
static void test_ca_like(void **state)
{
	static const char *const bc_false[] = {"basicConstraints", "critical,CA:FALSE", NULL};
	static const char *const bc_true[] = {"basicConstraints", "critical,CA:TRUE", NULL};
	static const char *const bc_true_ku_ds[] = {"basicConstraints", "CA:TRUE", "keyUsage",
	                                            "critical,digitalSignature", NULL};
	static const char *const ku_sign[] = {"keyUsage", "digitalSignature,keyCertSign", NULL};
	static const char *const ku_ds[] = {"keyUsage", "digitalSignature", NULL};
	static const char *const eku_only[] = {"extendedKeyUsage", "clientAuth", NULL};
	static const char *const ns_ca[] = {"nsCertType", "sslCA", NULL};
	static const char *const ns_client[] = {"nsCertType", "client", NULL};
	static const struct {
		const char *what;
		long version;
		const char *const *exts;
		int ca;
	} rows[] = {
	    {"v3 CA:FALSE", 2, bc_false, 0},
	    {"v3 CA:TRUE (openssl req -x509)", 2, bc_true, 1},
	    {"v3 CA:TRUE but keyUsage without keyCertSign", 2, bc_true_ku_ds, 0},
	    {"v3 keyUsage keyCertSign, no basicConstraints", 2, ku_sign, 1},
	    {"v3 keyUsage digitalSignature only", 2, ku_ds, 0},
	    {"v3 extendedKeyUsage only", 2, eku_only, 0},
	    {"v3 no extensions", 2, NULL, 0},
	    {"v1 (a v1 root to OpenSSL)", 0, NULL, 1},
	    {"v3 Netscape sslCA", 2, ns_ca, 1},
	    {"v3 Netscape client", 2, ns_client, 0},
	};
	struct ztm_error e;
	EVP_PKEY *k = ztm_key_new(ZTM_KEY_P256, &e);
	size_t i;

	assert_non_null(k);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_bootstrap_shape shape;
		uint8_t der[1024];
		const unsigned char *p = der;
		size_t n = fx_self_issued_der(k, rows[i].version, NOW - 60, NOW + 86400,
		                              rows[i].exts, der, sizeof(der));
		X509 *x = d2i_X509(NULL, &p, (long)n);
		int refused;

		assert_non_null(x);
		if ((X509_check_ca(x) != 0) != rows[i].ca)
			fail_msg("%s: the table disagrees with OpenSSL (X509_check_ca %d)",
			         rows[i].what, X509_check_ca(x));
		memset(&e, 0, sizeof(e));
		refused = ztm_bootstrap_shape(der, n, &shape, &e) != 0;
		if (refused != rows[i].ca)
			fail_msg("%s: shape %s (%s)", rows[i].what,
			         refused ? "refused" : "accepted", e.msg);
		if (refused && (e.code != ZTM_E_POLICY || strstr(e.msg, "CA certificate") == NULL))
			fail_msg("%s: %s: %s", rows[i].what, ztm_err_name(e.code), e.msg);
		X509_free(x);
	}
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_types),
	    cmocka_unit_test(test_serials_differ),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_ca_like),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
