/* test_p11.c - the pkcs11: key backend against SoftHSM2 (skipped, loudly,
 * when SoftHSM2 is not installed): keys generated inside a fresh token
 * (P-256, P-384, RSA-3072) sign through every path ztm uses (EVP_DigestSign,
 * ztm_signer, X509_sign) and verify with their public half; a key is found
 * again by URI; a wrong PIN, a second key with the same label and an import
 * are refused; the private key is sensitive and never extractable; a forked
 * child signs (ztmd's workers are forked after the keys are loaded); one
 * RSA key signs PKCS#1 v1.5 and PSS in turn; a key signs again after the
 * token closed every session behind ztm's back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>

#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/p11.h"
#include "ztm/signer.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"

static char dir[64], pinfile[128];

static int setup(void **state)
{
	char conf[128], cmd[512];
	struct ztm_error err;
	FILE *f;

	if (access(SOFTHSM, R_OK) != 0)
		return 0;
	snprintf(dir, sizeof(dir), "/tmp/ztm-test-p11.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\n", dir);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "mkdir %s/tokens", dir);
	if (system(cmd) != 0)
		return -1;
	setenv("SOFTHSM2_CONF", conf, 1);
	snprintf(cmd, sizeof(cmd),
	         "softhsm2-util --init-token --free --label ztm-unit --pin 1234 --so-pin 5678 "
	         ">/dev/null");
	if (system(cmd) != 0)
		return -1;
	snprintf(pinfile, sizeof(pinfile), "%s/pin", dir);
	if (ztm_file_write(pinfile, "1234\n", 5, 0600, 1, &err) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	if (dir[0] == '\0')
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void need_softhsm(void)
{
	if (access(SOFTHSM, R_OK) != 0) {
		fprintf(stderr,
		        "SKIPPED: SoftHSM2 (%s) is not installed: apt-get install "
		        "softhsm2\n",
		        SOFTHSM);
		skip();
	}
}

static void uri_of(char *out, size_t n, const char *label)
{
	snprintf(out, n, "pkcs11:token=ztm-unit;object=%s?pin-source=file:%s&module-path=" SOFTHSM,
	         label, pinfile);
}

/* The public half alone, as a relying party sees it (a provider key). */
static EVP_PKEY *pub_of(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_PUBKEY(k, &der);
	EVP_PKEY *pub;

	assert_true(n > 0);
	p = der;
	pub = d2i_PUBKEY(NULL, &p, n);
	OPENSSL_free(der);
	assert_non_null(pub);
	return pub;
}

static void sign_verify(EVP_PKEY *k)
{
	static const unsigned char msg[] = "a message the token signs";
	unsigned char sig[1024];
	size_t n = sizeof(sig);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY *pub = pub_of(k);
	struct ztm_signer *s;
	struct ztm_error err;
	X509 *x = X509_new();

	assert_int_equal(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(c, sig, &n, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(c);
	c = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_DigestVerify(c, sig, n, msg, sizeof(msg)), 1);
	/* A flipped message does not verify: the check above means something. */
	assert_int_equal(EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, pub), 1);
	assert_int_not_equal(EVP_DigestVerify(c, sig, n, msg, sizeof(msg) - 1), 1);
	EVP_MD_CTX_free(c);
	assert_int_equal(EVP_PKEY_eq(pub, k), 1);
	assert_int_equal(ztm_key_check_allowed(k, &err), 0);
	s = ztm_signer_new("p11", k, &err);
	assert_non_null(s);
	assert_int_equal(ztm_signer_check_pub(s, pub, &err), 0);
	ztm_signer_free(s);
	/* X509_sign: the root certificate of a ceremony is made this way. */
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(X509_verify(x, pub), 1);
	X509_free(x);
	EVP_PKEY_free(pub);
}

static void test_generate_sign_load(void **state)
{
	static const struct {
		const char *label;
		enum ztm_key_alg alg;
		int bits;
	} rows[] = {
	    {"k-p256", ZTM_KEY_P256, 256},
	    {"k-p384", ZTM_KEY_P384, 384},
	    {"k-rsa", ZTM_KEY_RSA3072, 3072},
	};
	size_t i;

	need_softhsm();
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char uri[600];
		struct ztm_error err;
		EVP_PKEY *k, *l;

		uri_of(uri, sizeof(uri), rows[i].label);
		k = ztm_key_generate(uri, rows[i].alg, NULL, &err);
		if (k == NULL)
			fail_msg("%s: %s", rows[i].label, err.msg);
		assert_int_equal(ztm_p11_is(k), 1);
		assert_int_equal(EVP_PKEY_get_bits(k), rows[i].bits);
		sign_verify(k);
		/* Found again by its URI: the same key. */
		l = ztm_key_load(uri, NULL, &err);
		if (l == NULL)
			fail_msg("%s: %s", rows[i].label, err.msg);
		assert_int_equal(EVP_PKEY_eq(k, l), 1);
		sign_verify(l);
		/* Never a second key under the same label. */
		assert_null(ztm_key_generate(uri, rows[i].alg, NULL, &err));
		assert_int_equal(err.code, ZTM_E_EXISTS);
		EVP_PKEY_free(l);
		EVP_PKEY_free(k);
	}
}

static void test_refusals(void **state)
{
	char uri[600], cmd[900];
	struct ztm_error err;
	struct ztm_key_opts wrong = {"9999", 0};
	EVP_PKEY *k, *soft;

	need_softhsm();
	uri_of(uri, sizeof(uri), "k-refuse");
	k = ztm_key_generate(uri, ZTM_KEY_P256, NULL, &err);
	assert_non_null(k);
	/* The PIN from the caller (key_pass_file) when the URI names none. A
	 * token's login is shared by a whole process (PKCS#11 §5.6), so the
	 * wrong PIN is tried in a fresh one. */
	snprintf(uri, sizeof(uri), "pkcs11:token=ztm-unit;object=k-refuse?module-path=" SOFTHSM);
	{
		pid_t pid = fork();
		int status = -1;
		assert_true(pid >= 0);
		if (pid == 0) {
			EVP_PKEY_free(k);
			k = ztm_key_load(uri, &wrong, &err);
			_exit(k == NULL && err.code == ZTM_E_AUTH &&
			              strstr(err.msg, "9999") == NULL &&
			              strstr(err.msg, "CKR_PIN_INCORRECT") != NULL
			          ? 0
			          : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	/* No such token, no such key. */
	snprintf(uri, sizeof(uri), "pkcs11:token=nope;object=k-refuse?module-path=" SOFTHSM);
	assert_null(ztm_key_load(uri, &wrong, &err));
	assert_int_equal(err.code, ZTM_E_NOTFOUND);
	uri_of(uri, sizeof(uri), "no-such-key");
	assert_null(ztm_key_load(uri, NULL, &err));
	assert_int_equal(err.code, ZTM_E_NOTFOUND);
	/* Ed25519 is not generated in tokens; keys are never imported. */
	assert_null(ztm_key_generate(uri, ZTM_KEY_ED25519, NULL, &err));
	assert_int_equal(err.code, ZTM_E_USAGE);
	soft = ztm_key_new(ZTM_KEY_P256, &err);
	assert_int_equal(ztm_key_save(soft, uri, NULL, &err), -1);
	assert_int_equal(err.code, ZTM_E_USAGE);
	/* pkcs11-tool, independent of ztm: sensitive, never extractable; the
	 * value cannot be read. */
	snprintf(cmd, sizeof(cmd),
	         "pkcs11-tool --module " SOFTHSM " --token-label ztm-unit --login --pin 1234 "
	         "--list-objects --type privkey 2>/dev/null | grep -A8 'label: *k-refuse' | "
	         "grep -q 'Access: *sensitive, always sensitive, never extractable'");
	assert_int_equal(system(cmd), 0);
	/* pkcs11-tool has no way to read a private key (it says so and exits
	 * 0); what matters is that nothing comes out. */
	snprintf(cmd, sizeof(cmd),
	         "pkcs11-tool --module " SOFTHSM " --token-label ztm-unit --login --pin 1234 "
	         "--read-object --type privkey --label k-refuse -o %s/out >/dev/null 2>&1; "
	         "test ! -s %s/out",
	         dir, dir);
	assert_int_equal(system(cmd), 0);
	EVP_PKEY_free(soft);
	EVP_PKEY_free(k);
}

/* ztmd loads keys in the master and forks its workers: a child signs. */
static void test_fork(void **state)
{
	char uri[600];
	struct ztm_error err;
	EVP_PKEY *k;
	pid_t pid;
	int status = -1;

	need_softhsm();
	uri_of(uri, sizeof(uri), "k-fork");
	k = ztm_key_generate(uri, ZTM_KEY_P256, NULL, &err);
	assert_non_null(k);
	sign_verify(k);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned char d[32] = {1}, sig[128];
		size_t n = sizeof(sig);
		_exit(ztm_p11_sign_raw(k, d, sizeof(d), sig, &n, &err) == 0 && n == 64 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sign_verify(k); /* and the parent still can */
	EVP_PKEY_free(k);
}

/* One signature of msg with padding pad (RSA_PKCS1_PADDING or
 * RSA_PKCS1_PSS_PADDING), verified with the public half. */
static void rsa_sign_verify(EVP_PKEY *k, EVP_PKEY *pub, int pad)
{
	static const unsigned char msg[] = "padding after padding";
	unsigned char sig[512];
	size_t n = sizeof(sig);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;

	assert_non_null(c);
	assert_int_equal(EVP_DigestSignInit(c, &pc, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, pad), 1);
	assert_int_equal(EVP_DigestSign(c, sig, &n, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(c);
	c = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(c, &pc, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, pad), 1);
	assert_int_equal(EVP_DigestVerify(c, sig, n, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(c);
}

/* The mechanism changes from one signature to the next on one key
 * (CKM_RSA_PKCS, CKM_RSA_X_509 for PSS), and the token closes every session
 * between two signatures (the session-loss path, p11.c). */
static void test_mechanisms_and_lost_sessions(void **state)
{
	static const int pads[] = {RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING, RSA_PKCS1_PSS_PADDING,
	                           RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING, RSA_PKCS1_PADDING};
	char uri[600];
	struct ztm_error err;
	EVP_PKEY *rsa, *ec, *pub;
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slots[8];
	CK_ULONG ns = 8, i;
	unsigned char d[32] = {7}, sig[128];
	size_t n;
	void *dl;

	need_softhsm();
	uri_of(uri, sizeof(uri), "k-mech-rsa");
	rsa = ztm_key_generate(uri, ZTM_KEY_RSA3072, NULL, &err);
	if (rsa == NULL)
		fail_msg("%s", err.msg);
	pub = pub_of(rsa);
	for (i = 0; i < sizeof(pads) / sizeof(pads[0]); i++)
		rsa_sign_verify(rsa, pub, pads[i]);

	/* The module ztm loaded (dlopen hands back the same one): close every
	 * session of the token. */
	uri_of(uri, sizeof(uri), "k-lost-ec");
	ec = ztm_key_generate(uri, ZTM_KEY_P256, NULL, &err);
	if (ec == NULL)
		fail_msg("%s", err.msg);
	n = sizeof(sig);
	assert_int_equal(ztm_p11_sign_raw(ec, d, sizeof(d), sig, &n, &err), 0);
	dl = dlopen(SOFTHSM, RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(dl);
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	assert_non_null(get);
	assert_int_equal(get(&f), CKR_OK);
	assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &ns), CKR_OK);
	for (i = 0; i < ns; i++)
		assert_int_equal(f->C_CloseAllSessions(slots[i]), CKR_OK);
	n = sizeof(sig);
	if (ztm_p11_sign_raw(ec, d, sizeof(d), sig, &n, &err) != 0)
		fail_msg("after the sessions were closed: %s", err.msg);
	assert_int_equal(n, 64);
	rsa_sign_verify(rsa, pub, RSA_PKCS1_PSS_PADDING);
	sign_verify(ec);
	dlclose(dl);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generate_sign_load),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_fork),
	    cmocka_unit_test(test_mechanisms_and_lost_sessions),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
