/* test_key.c - keys by URI, file: backend: generation, plain and encrypted
 * PKCS#8 round trips, refusals (wrong passphrase, unknown scheme, missing
 * file, overwrite, explicit EC parameters), file mode and content. */
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

#include "ztm/file.h"
#include "ztm/key.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/ztm-test-key.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static char *slurp(const char *path)
{
	struct ztm_buf b;
	struct ztm_error err;
	char *s;

	ztm_buf_init(&b, 0);
	assert_int_equal(ztm_file_read(path, 1 << 20, &b, &err), 0);
	s = strdup(ztm_buf_cstr(&b));
	ztm_buf_free(&b);
	return s;
}

static void test_alg_names(void **state)
{
	static const struct {
		const char *name;
		int ok;
		enum ztm_key_alg alg;
	} rows[] = {
	    {"p256", 1, ZTM_KEY_P256},       {"p384", 1, ZTM_KEY_P384},
	    {"ed25519", 1, ZTM_KEY_ED25519}, {"rsa3072", 1, ZTM_KEY_RSA3072},
	    {"rsa1024", 0, ZTM_KEY_P256},    {"", 0, ZTM_KEY_P256},
	    {"P256", 0, ZTM_KEY_P256},
	};
	size_t i;
	enum ztm_key_alg a;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(ztm_key_alg_parse(rows[i].name, &a) == 0, rows[i].ok);
		if (rows[i].ok) {
			assert_int_equal(a, rows[i].alg);
			assert_string_equal(ztm_key_alg_name(a), rows[i].name);
		}
	}
	assert_int_equal(ztm_key_alg_parse(NULL, &a), -1);
}

/* Each algorithm: generate into a file (plain and encrypted), load it back,
 * same key; bare path and file: URI both work. */
static void test_generate_load_each_alg(void **state)
{
	static const enum ztm_key_alg algs[] = {ZTM_KEY_P256, ZTM_KEY_P384, ZTM_KEY_ED25519,
	                                        ZTM_KEY_RSA3072};
	static const char *types[] = {"EC", "EC", "ED25519", "RSA"};
	size_t i;

	for (i = 0; i < 4; i++) {
		char p[256], uri[300];
		struct ztm_error err;
		struct ztm_key_opts enc = {"correct horse battery", 0};
		EVP_PKEY *k, *l;

		snprintf(p, sizeof(p), "%s/plain-%s.pem", dir, ztm_key_alg_name(algs[i]));
		k = ztm_key_generate(p, algs[i], NULL, &err);
		assert_non_null(k);
		assert_true(EVP_PKEY_is_a(k, types[i]));
		snprintf(uri, sizeof(uri), "file:%s", p);
		l = ztm_key_load(uri, NULL, &err);
		assert_non_null(l);
		assert_int_equal(EVP_PKEY_eq(k, l), 1);
		EVP_PKEY_free(k);
		EVP_PKEY_free(l);

		snprintf(p, sizeof(p), "%s/enc-%s.pem", dir, ztm_key_alg_name(algs[i]));
		k = ztm_key_generate(p, algs[i], &enc, &err);
		assert_non_null(k);
		l = ztm_key_load(p, &enc, &err);
		assert_non_null(l);
		assert_int_equal(EVP_PKEY_eq(k, l), 1);
		EVP_PKEY_free(k);
		EVP_PKEY_free(l);
	}
}

static void test_encrypted_file_content_and_mode(void **state)
{
	char p[256];
	struct ztm_error err;
	struct stat st;
	EVP_PKEY *k = ztm_key_new(ZTM_KEY_P256, &err);
	char *text;

	assert_non_null(k);
	path_of(p, sizeof(p), "content.pem");
	assert_int_equal(ztm_key_save(k, p, "a long passphrase", &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = slurp(p);
	assert_non_null(strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	assert_null(strstr(text, "BEGIN PRIVATE KEY"));
	assert_null(strstr(text, "BEGIN EC PRIVATE KEY"));
	free(text);

	path_of(p, sizeof(p), "plain.pem");
	assert_int_equal(ztm_key_save(k, p, NULL, &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = slurp(p);
	assert_non_null(strstr(text, "-----BEGIN PRIVATE KEY-----"));
	free(text);
	EVP_PKEY_free(k);
}

static void test_wrong_and_missing_passphrase(void **state)
{
	char p[256];
	struct ztm_error err;
	struct ztm_key_opts wrong = {"not the passphrase", 0};
	struct ztm_key_opts none = {NULL, 0};
	EVP_PKEY *k = ztm_key_new(ZTM_KEY_ED25519, &err);

	assert_non_null(k);
	path_of(p, sizeof(p), "wrong.pem");
	assert_int_equal(ztm_key_save(k, p, "the passphrase", &err), 0);
	assert_null(ztm_key_load(p, &wrong, &err));
	assert_int_equal(err.code, ZTM_E_AUTH);
	assert_non_null(strstr(err.msg, "wrong passphrase"));
	assert_non_null(strstr(err.msg, "wrong.pem"));
	assert_null(ztm_key_load(p, &none, &err));
	assert_int_equal(err.code, ZTM_E_AUTH);
	assert_non_null(strstr(err.msg, "no passphrase"));
	EVP_PKEY_free(k);
}

static void test_pass_from_uri(void **state)
{
	char p[256], pf[256], uri[600];
	struct ztm_error err;
	struct ztm_key_opts wrong = {"ignored when the URI names one", 0};
	EVP_PKEY *k = ztm_key_new(ZTM_KEY_P384, &err), *l;
	static const char secret[] = "passphrase from a file\n";

	assert_non_null(k);
	path_of(p, sizeof(p), "uri.pem");
	path_of(pf, sizeof(pf), "uri.pass");
	assert_int_equal(ztm_file_write(pf, secret, strlen(secret), 0600, 1, &err), 0);
	snprintf(uri, sizeof(uri), "file:%s?pass=file:%s", p, pf);
	assert_int_equal(ztm_key_save(k, uri, NULL, &err), 0);
	/* The file's first line, without its newline, is the passphrase. */
	{
		struct ztm_key_opts right = {"passphrase from a file", 0};
		l = ztm_key_load(p, &right, &err);
		assert_non_null(l);
		EVP_PKEY_free(l);
	}
	l = ztm_key_load(uri, &wrong, &err);
	assert_non_null(l);
	assert_int_equal(EVP_PKEY_eq(k, l), 1);
	EVP_PKEY_free(l);

	/* A group-readable passphrase file is refused. */
	assert_int_equal(chmod(pf, 0644), 0);
	assert_null(ztm_key_load(uri, NULL, &err));
	assert_int_equal(err.code, ZTM_E_POLICY);
	EVP_PKEY_free(k);
}

static void test_uri_refusals(void **state)
{
	static const struct {
		const char *uri;
		enum ztm_err code;
		const char *says;
	} rows[] = {
	    {"pkcs11:token=x;object=y?pin-value=1234", ZTM_E_USAGE, "pin-value refused"},
	    {"pkcs11:token=x", ZTM_E_USAGE, "needs object= or id="},
	    {"pkcs11:token=x;object=y?module-path=/nonexistent/p11.so", ZTM_E_CONFIG,
	     "cannot load"},
	    {"tpm:0x81000001", ZTM_E_USAGE, "unknown scheme"},
	    {"", ZTM_E_USAGE, "empty"},
	    {"file:", ZTM_E_USAGE, "empty"},
	    {"file:/tmp/x.pem?pin=1234", ZTM_E_USAGE, "unsupported query"},
	    {"/nonexistent/ztm/key.pem", ZTM_E_NOTFOUND, "/nonexistent/ztm/key.pem"},
	    {"file:///nonexistent/ztm/key.pem", ZTM_E_NOTFOUND, "/nonexistent/ztm/key.pem"},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error err;
		assert_null(ztm_key_load(rows[i].uri, NULL, &err));
		assert_int_equal(err.code, rows[i].code);
		assert_non_null(strstr(err.msg, rows[i].says));
	}
}

static void test_refuse_overwrite(void **state)
{
	char p[256];
	struct ztm_error err;
	EVP_PKEY *k = ztm_key_new(ZTM_KEY_P256, &err), *l;
	char *before, *after;

	assert_non_null(k);
	path_of(p, sizeof(p), "keep.pem");
	assert_int_equal(ztm_key_save(k, p, NULL, &err), 0);
	before = slurp(p);
	l = ztm_key_new(ZTM_KEY_P256, &err);
	assert_int_equal(ztm_key_save(l, p, NULL, &err), -1);
	assert_int_equal(err.code, ZTM_E_EXISTS);
	assert_null(ztm_key_generate(p, ZTM_KEY_P256, NULL, &err));
	assert_int_equal(err.code, ZTM_E_EXISTS);
	after = slurp(p);
	assert_string_equal(before, after);
	free(before);
	free(after);
	EVP_PKEY_free(k);
	EVP_PKEY_free(l);
}

/* A P-256 key written with explicit curve parameters must not load. */
static void test_refuse_explicit_ec(void **state)
{
	char p[256];
	struct ztm_error err;
	EVP_PKEY *k = ztm_key_new(ZTM_KEY_P256, &err);
	FILE *f;

	assert_non_null(k);
	assert_int_equal(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_ENCODING,
	                                                OSSL_PKEY_EC_ENCODING_EXPLICIT),
	                 1);
	path_of(p, sizeof(p), "explicit.pem");
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	assert_null(ztm_key_load(p, NULL, &err));
	assert_int_equal(err.code, ZTM_E_WEAKKEY);
	assert_non_null(strstr(err.msg, "explicit"));
	EVP_PKEY_free(k);
}

static void test_not_a_key(void **state)
{
	char p[256];
	struct ztm_error err;
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

	path_of(p, sizeof(p), "junk.pem");
	assert_int_equal(ztm_file_write(p, junk, strlen(junk), 0600, 1, &err), 0);
	assert_null(ztm_key_load(p, NULL, &err));
	assert_int_equal(err.code, ZTM_E_PARSE);
	assert_non_null(strstr(err.msg, "junk.pem"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alg_names),
	    cmocka_unit_test(test_generate_load_each_alg),
	    cmocka_unit_test(test_encrypted_file_content_and_mode),
	    cmocka_unit_test(test_wrong_and_missing_passphrase),
	    cmocka_unit_test(test_pass_from_uri),
	    cmocka_unit_test(test_uri_refusals),
	    cmocka_unit_test(test_refuse_overwrite),
	    cmocka_unit_test(test_refuse_explicit_ec),
	    cmocka_unit_test(test_not_a_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
