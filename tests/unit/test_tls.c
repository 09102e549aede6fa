/* test_tls.c - ztmd's TLS server key goes through the key-by-URI seam
 * (ztm/key.h): [tls] key as a bare path, a file: URI, a URI naming its own
 * passphrase file, [tls] key_pass_file; and each refusal names [tls] key or
 * key_pass_file with the reason. One row per case, real PEM files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "server.h"
#include "ztm/file.h"
#include "ztm/key.h"

#define PASS "tls test passphrase"

static char dir[64];
static EVP_PKEY *key; /* the key every good row must load */

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text, mode_t mode)
{
	char p[256];
	struct ztm_error err;

	path_of(p, sizeof(p), name);
	assert_int_equal(ztm_file_write(p, text, strlen(text), mode, 1, &err), 0);
}

/* A self-signed certificate for key: the server chain and the client CA of
 * the ztmd_tls_ctx_new case. */
static void write_cert(const char *name)
{
	char p[256];
	X509 *x = X509_new();
	FILE *f;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	                                            (const unsigned char *)"localhost", -1, -1, 0),
	                 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	path_of(p, sizeof(p), name);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	X509_free(x);
}

static int setup(void **state)
{
	char p[256];
	struct ztm_error err;
	EVP_PKEY *explicit_key;
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/ztm-test-tls.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	key = ztm_key_new(ZTM_KEY_P256, &err);
	if (key == NULL)
		return -1;
	path_of(p, sizeof(p), "plain.pem");
	if (ztm_key_save(key, p, NULL, &err) != 0)
		return -1;
	path_of(p, sizeof(p), "enc.pem");
	if (ztm_key_save(key, p, PASS, &err) != 0)
		return -1;
	write_file("good.pass", PASS "\n", 0600);
	write_file("wrong.pass", "not the passphrase\n", 0600);
	write_file("open.pass", PASS "\n", 0644);
	write_cert("server.crt");
	/* Explicit curve parameters (CurveBall) must be refused by the seam. */
	explicit_key = ztm_key_new(ZTM_KEY_P256, &err);
	if (explicit_key == NULL ||
	    EVP_PKEY_set_utf8_string_param(explicit_key, OSSL_PKEY_PARAM_EC_ENCODING,
	                                   OSSL_PKEY_EC_ENCODING_EXPLICIT) != 1)
		return -1;
	path_of(p, sizeof(p), "explicit.pem");
	f = fopen(p, "w");
	if (f == NULL || PEM_write_PrivateKey(f, explicit_key, NULL, NULL, 0, NULL, NULL) != 1)
		return -1;
	fclose(f);
	EVP_PKEY_free(explicit_key);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	EVP_PKEY_free(key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* In uri and pass, each "@" stands for the test directory. */
static void expand(const char *in, char *out, size_t n)
{
	size_t o = 0, dl = strlen(dir);

	for (; in != NULL && *in != '\0' && o + dl + 1 < n; in++) {
		if (*in == '@') {
			memcpy(out + o, dir, dl);
			o += dl;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static void test_load_key_table(void **state)
{
	static const struct {
		const char *uri, *pass_file;
		enum ztm_err code; /* ZTM_OK: the key loads */
		const char *says;
	} rows[] = {
	    {"@/plain.pem", NULL, ZTM_OK, NULL},
	    {"file:@/plain.pem", NULL, ZTM_OK, NULL},
	    {"file://@/plain.pem", NULL, ZTM_OK, NULL},
	    {"@/enc.pem", "@/good.pass", ZTM_OK, NULL},
	    {"file:@/enc.pem", "@/good.pass", ZTM_OK, NULL},
	    {"file:@/enc.pem?pass=file:@/good.pass", NULL, ZTM_OK, NULL},
	    /* The URI's own passphrase file wins over key_pass_file. */
	    {"file:@/enc.pem?pass=file:@/good.pass", "@/wrong.pass", ZTM_OK, NULL},
	    /* A plain key ignores a passphrase it does not need. */
	    {"@/plain.pem", "@/good.pass", ZTM_OK, NULL},
	    {"@/enc.pem", NULL, ZTM_E_AUTH, "set [tls] key_pass_file"},
	    {"@/enc.pem", "@/wrong.pass", ZTM_E_AUTH, "wrong passphrase"},
	    {"@/enc.pem", "@/open.pass", ZTM_E_CONFIG, "readable by others"},
	    {"@/enc.pem", "@/missing.pass", ZTM_E_CONFIG, "missing.pass"},
	    {"@/missing.pem", NULL, ZTM_E_NOTFOUND, "missing.pem"},
	    {"@/good.pass", NULL, ZTM_E_PARSE, "not a PEM private key"},
	    {"@/explicit.pem", NULL, ZTM_E_WEAKKEY, "explicit"},
	    {"pkcs11:token=ztm;object=tls?pin-value=1234", NULL, ZTM_E_USAGE, "pin-value refused"},
	    {"file:@/enc.pem?pin=1234", "@/good.pass", ZTM_E_USAGE, "unsupported query"},
	    {"", NULL, ZTM_E_USAGE, "empty"},
	};
	char uri[512], pass[512];
	struct ztm_error err;
	EVP_PKEY *k;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		expand(rows[i].uri, uri, sizeof(uri));
		expand(rows[i].pass_file, pass, sizeof(pass));
		memset(&err, 0, sizeof(err));
		k = ztmd_tls_load_key(uri, rows[i].pass_file != NULL ? pass : NULL, &err);
		if (rows[i].code == ZTM_OK) {
			if (k == NULL)
				fail_msg("row %zu (%s): %s", i, uri, err.msg);
			assert_int_equal(EVP_PKEY_eq(k, key), 1);
			EVP_PKEY_free(k);
			continue;
		}
		if (k != NULL)
			fail_msg("row %zu (%s): loaded, want %s", i, uri,
			         ztm_err_name(rows[i].code));
		if (err.code != rows[i].code || strncmp(err.msg, "[tls] key", 9) != 0 ||
		    strstr(err.msg, rows[i].says) == NULL)
			fail_msg("row %zu (%s): got %s \"%s\", want %s \"%s\"", i, uri,
			         ztm_err_name(err.code), err.msg, ztm_err_name(rows[i].code),
			         rows[i].says);
		/* The passphrase never reaches a message. */
		assert_null(strstr(err.msg, PASS));
	}
}

/* The whole server context takes a key URI with its passphrase file. */
static void test_ctx_with_key_uri(void **state)
{
	char cert[256], uri[512], pass[256];
	struct ztmd_settings s;
	struct ztm_error err;
	SSL_CTX *ctx;

	memset(&s, 0, sizeof(s));
	path_of(cert, sizeof(cert), "server.crt");
	snprintf(uri, sizeof(uri), "file:%s/enc.pem", dir);
	path_of(pass, sizeof(pass), "good.pass");
	s.tls_cert = cert;
	s.tls_client_ca = cert;
	s.tls_key = uri;
	s.tls_key_pass_file = pass;
	ctx = ztmd_tls_ctx_new(&s, NULL, &err);
	if (ctx == NULL)
		fail_msg("%s", err.msg);
	SSL_CTX_free(ctx);

	s.tls_key_pass_file = NULL;
	assert_null(ztmd_tls_ctx_new(&s, NULL, &err));
	assert_int_equal(err.code, ZTM_E_AUTH);
	assert_non_null(strstr(err.msg, "key_pass_file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_key_table),
	    cmocka_unit_test(test_ctx_with_key_uri),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
