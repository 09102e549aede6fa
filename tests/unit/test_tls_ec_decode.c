/* test_tls_ec_decode.c - ztmd's window for OpenSSL's legacy EC key decoder
 * (src/server/ec_decode.c, tls.c): handshakes through ztmd's own SSL_CTX
 * over a BIO pair, with a P-256 client certificate, succeed; the window
 * opened for the client's Certificate and is closed once the handshake
 * call returns, whether it succeeded or failed, so keys made by name after
 * it take the provider path (EVP_PKEY_fromdata works). TLS 1.3 and 1.2
 * (whose ClientKeyExchange makes a P-256 key by name after the Certificate
 * message). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "server.h"
#include "ztm/key.h"

static char dir[64];
static EVP_PKEY *ca_key, *client_key, *stranger_key;
static X509 *ca, *client, *stranger;

static X509 *make_cert(const char *cn, EVP_PKEY *subject_key, X509 *issuer, EVP_PKEY *issuer_key,
                       int is_ca)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), is_ca ? 1 : 2), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	                                            (const unsigned char *)cn, -1, -1, 0),
	                 1);
	assert_int_equal(
	    X509_set_issuer_name(x, X509_get_subject_name(issuer != NULL ? issuer : x)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, subject_key), 1);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	                          is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
	                          is_ca ? "critical,keyCertSign,cRLSign,digitalSignature"
	                                : "critical,digitalSignature");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	if (x != NULL)
		assert_int_equal(PEM_write_X509(f, x), 1);
	if (k != NULL)
		assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static int setup(void **state)
{
	struct ztm_error err;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ztm-test-ecdec.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	ca_key = ztm_key_new(ZTM_KEY_P256, &err);
	client_key = ztm_key_new(ZTM_KEY_P256, &err);
	stranger_key = ztm_key_new(ZTM_KEY_P256, &err);
	if (ca_key == NULL || client_key == NULL || stranger_key == NULL)
		return -1;
	ca = make_cert("test CA and server", ca_key, NULL, ca_key, 1);
	client = make_cert("client", client_key, ca, ca_key, 0);
	/* Issued by a CA the server does not know: the handshake fails. */
	stranger = make_cert("stranger", stranger_key, client, client_key, 0);
	write_pem("server.crt", ca, NULL);
	write_pem("server.key", NULL, ca_key);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	X509_free(ca);
	X509_free(client);
	X509_free(stranger);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(client_key);
	EVP_PKEY_free(stranger_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static SSL_CTX *server_ctx(int tls12)
{
	static char cert[256], keyp[256];
	struct ztmd_settings s;
	struct ztm_error err;
	SSL_CTX *ctx;

	memset(&s, 0, sizeof(s));
	snprintf(cert, sizeof(cert), "%s/server.crt", dir);
	snprintf(keyp, sizeof(keyp), "%s/server.key", dir);
	s.tls_cert = cert;
	s.tls_client_ca = cert;
	s.tls_key = keyp;
	s.tls_min_12 = tls12;
	ctx = ztmd_tls_ctx_new(&s, NULL, &err);
	if (ctx == NULL)
		fail_msg("%s", err.msg);
	return ctx;
}

/* Runs the handshake over a BIO pair; 1 if both ends completed it. */
static int handshake(SSL_CTX *sctx, X509 *cert, EVP_PKEY *k, int tls12)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *c, *s;
	BIO *cb, *sb;
	int i, cdone = 0, sdone = 0, failed = 0;

	assert_non_null(cctx);
	if (tls12) {
		assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION), 1);
		assert_int_equal(SSL_CTX_set1_groups_list(cctx, "P-256"), 1);
	}
	assert_int_equal(SSL_CTX_use_certificate(cctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(cctx, k), 1);
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	assert_non_null(c);
	assert_non_null(s);
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < 50 && !failed && !(cdone && sdone); i++) {
		int rc, is_armed;
		unsigned long windows;

		if (!cdone) {
			rc = SSL_do_handshake(c);
			if (rc == 1)
				cdone = 1;
			else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
				failed = 1;
		}
		if (!sdone) {
			rc = SSL_do_handshake(s);
			if (rc == 1)
				sdone = 1;
			else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
				failed = 1;
		}
		/* Whatever the server's call did, the window is closed now. */
		ztmd_ec_decode_state(&is_armed, &windows);
		assert_int_equal(is_armed, 0);
	}
	if (cdone && sdone && !tls12)
		assert_int_equal(SSL_version(s), TLS1_3_VERSION);
	if (cdone && sdone && tls12)
		assert_int_equal(SSL_version(s), TLS1_2_VERSION);
	if (cdone && sdone)
		assert_int_equal(SSL_get_verify_result(s), X509_V_OK);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return cdone && sdone && !failed;
}

/* A P-256 key made by name after the handshake: the provider path, as if
 * the window never existed (the CSR decoder does exactly this). */
static void assert_provider_path(void)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;

	assert_non_null(c);
	assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
	EVP_PKEY_CTX_free(c);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(k);
	EVP_PKEY_free(k);
}

static void run(int tls12)
{
	SSL_CTX *sctx = server_ctx(tls12);
	unsigned long before, after;
	int is_armed, on = ztmd_ec_decode_init();

	ztmd_ec_decode_state(&is_armed, &before);
	assert_int_equal(handshake(sctx, client, client_key, tls12), 1);
	ztmd_ec_decode_state(&is_armed, &after);
	/* Opened for the Certificate (and, in 1.3, the CertificateVerify). */
	if (on)
		assert_true(after > before);
	else
		assert_true(after == before);
	assert_provider_path();

	assert_int_equal(handshake(sctx, stranger, stranger_key, tls12), 0);
	ztmd_ec_decode_state(&is_armed, &after);
	assert_int_equal(is_armed, 0);
	assert_provider_path();
	SSL_CTX_free(sctx);
}

static void test_tls13(void **state)
{
	(void)state;
	run(0);
}

static void test_tls12(void **state)
{
	(void)state;
	run(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls13),
	    cmocka_unit_test(test_tls12),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
