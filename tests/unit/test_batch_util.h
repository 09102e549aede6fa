/* test_batch_util.h - the PKI and records test_batch.c and test_batch_doc.c share:
 * root -> station CA -> station, root -> operator CA -> operator and a foreign
 * CA, made with OpenSSL's X509 API independent of the code under test, plus
 * N_GOOD good device records and helpers for hand-made batches. */
#ifndef ZTM_TEST_BATCH_UTIL_H
#define ZTM_TEST_BATCH_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/cms.h>
#include <openssl/rand.h>

#include "x509_fixture.h"
#include "ztm/batch.h"
#include "ztm/file.h"
#include "ztm/pkcs7.h"
#include "ztm/str.h"

#define N_GOOD 5

static struct {
	EVP_PKEY *root_key, *sca_key, *st_key, *oca_key, *op_key, *fca_key, *fst_key;
	X509 *root, *sca, *st, *oca, *op, *fca, *fst, *st2;
	STACK_OF(X509) * trusted;
	EVP_PKEY *dev_key[N_GOOD];
	struct ztm_record good[N_GOOD];
} fx;

/* A certificate for key, issued by (issuer, ikey); CN and optional OU. */
static FX_UNUSED X509 *issue(X509 *issuer, EVP_PKEY *ikey, EVP_PKEY *key, const char *cn,
                             const char *ou, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_is_a(ikey, "ED25519") ? NULL : EVP_sha256();
	uint8_t serial[8];

	if (RAND_bytes(serial, sizeof(serial)) != 1)
		abort();
	serial[0] &= 0x7f;
	if (x == NULL || n == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), 0x1000 + serial[1]) != 1 ||
	    (ou != NULL && X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8,
	                                              (const unsigned char *)ou, -1, -1, 0) != 1) ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_set_subject_name(x, n) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL || X509_set_pubkey(x, key) != 1)
		abort();
	fx_add_ext(issuer, x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	fx_add_ext(issuer, x, NID_key_usage,
	           ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	if (!ca)
		fx_add_ext(issuer, x, NID_ext_key_usage, "clientAuth");
	fx_add_ext(issuer, x, NID_subject_key_identifier, "hash");
	fx_add_ext(issuer, x, NID_authority_key_identifier, "keyid");
	if (X509_sign(x, ikey, md) <= 0)
		abort();
	X509_NAME_free(n);
	return x;
}

/* A device bootstrap certificate: subject CN=serial + serialNumber attr
 * (NULL: none), self-issued, signed with sign_key (the device key when
 * honest). */
static FX_UNUSED X509 *boot(EVP_PKEY *key, EVP_PKEY *sign_key, const char *attr,
                            const char *issuer_cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new(), *in = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_is_a(sign_key, "ED25519") ? NULL : EVP_sha256();

	if (x == NULL || n == NULL || in == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"device", -1,
	                               -1, 0) != 1 ||
	    (attr != NULL &&
	     X509_NAME_add_entry_by_txt(n, "serialNumber", MBSTRING_ASC,
	                                (const unsigned char *)attr, -1, -1, 0) != 1) ||
	    X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_UTF8,
	                               (const unsigned char *)(issuer_cn ? issuer_cn : "device"),
	                               -1, -1, 0) != 1 ||
	    (issuer_cn == NULL && attr != NULL &&
	     X509_NAME_add_entry_by_txt(in, "serialNumber", MBSTRING_ASC,
	                                (const unsigned char *)attr, -1, -1, 0) != 1) ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, in) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 3650L) == NULL ||
	    X509_set_pubkey(x, key) != 1 || X509_sign(x, sign_key, md) <= 0)
		abort();
	X509_NAME_free(n);
	X509_NAME_free(in);
	return x;
}

static FX_UNUSED void set_cert(struct ztm_record *r, X509 *x)
{
	unsigned char *p = r->cert;
	int n = i2d_X509(x, NULL);

	if (n <= 0 || n > ZTM_RECORD_MAX_CERT || i2d_X509(x, &p) != n)
		abort();
	r->cert_len = (size_t)n;
}

static FX_UNUSED void make_record(struct ztm_record *r, int i, EVP_PKEY *key)
{
	X509 *x;

	memset(r, 0, sizeof(*r));
	snprintf(r->serial, sizeof(r->serial), "SN-%04d", i);
	ztm_strlcpy(r->product, "sensor-v2", sizeof(r->product));
	ztm_strlcpy(r->order, "WO-2024.001", sizeof(r->order));
	ztm_strlcpy(r->hw_rev, "B1", sizeof(r->hw_rev));
	snprintf(r->mac, sizeof(r->mac), "02:00:5e:10:00:%02x", i);
	ztm_strlcpy(r->fw_version, "1.4.2+build~7", sizeof(r->fw_version));
	memset(r->fw_sha256, 'a', 64);
	r->test_result = ZTM_TEST_PASS;
	r->key_origin = i % 2 ? ZTM_KEY_ORIGIN_INJECTED : ZTM_KEY_ORIGIN_DEVICE;
	r->recorded_at = 1700000000 + i;
	x = boot(key, key, r->serial, NULL);
	set_cert(r, x);
	X509_free(x);
}

static FX_UNUSED int setup(void **state)
{
	int i;

	fx.root_key = fx_key("P-256");
	fx.root = fx_root(fx.root_key, "Test Root", 1, 30);
	fx.sca_key = fx_key("P-256");
	fx.sca = issue(fx.root, fx.root_key, fx.sca_key, "Station CA", NULL, 1);
	fx.st_key = fx_key("P-256");
	fx.st = issue(fx.sca, fx.sca_key, fx.st_key, "line-1", "acme-shenzhen", 0);
	fx.st2 = issue(fx.sca, fx.sca_key, fx.st_key, "line-2", "acme-shenzhen", 0);
	fx.oca_key = fx_key("P-256");
	fx.oca = issue(fx.root, fx.root_key, fx.oca_key, "Operator CA", NULL, 1);
	fx.op_key = fx_key("P-256");
	fx.op = issue(fx.oca, fx.oca_key, fx.op_key, "line-1", "acme-shenzhen", 0);
	fx.fca_key = fx_key("P-256");
	fx.fca = fx_root(fx.fca_key, "Foreign CA", 1, 30);
	fx.fst_key = fx_key("P-256");
	fx.fst = issue(fx.fca, fx.fca_key, fx.fst_key, "line-1", "acme-shenzhen", 0);
	fx.trusted = sk_X509_new_null();
	if (fx.trusted == NULL || sk_X509_push(fx.trusted, fx.sca) == 0)
		abort();
	for (i = 0; i < N_GOOD; i++) {
		fx.dev_key[i] = fx_key(i == 3 ? "ED25519" : "P-256");
		make_record(&fx.good[i], i, fx.dev_key[i]);
	}
	return 0;
}

static FX_UNUSED int teardown(void **state)
{
	int i;

	sk_X509_free(fx.trusted);
	X509_free(fx.root);
	X509_free(fx.sca);
	X509_free(fx.st);
	X509_free(fx.st2);
	X509_free(fx.oca);
	X509_free(fx.op);
	X509_free(fx.fca);
	X509_free(fx.fst);
	EVP_PKEY_free(fx.root_key);
	EVP_PKEY_free(fx.sca_key);
	EVP_PKEY_free(fx.st_key);
	EVP_PKEY_free(fx.oca_key);
	EVP_PKEY_free(fx.op_key);
	EVP_PKEY_free(fx.fca_key);
	EVP_PKEY_free(fx.fst_key);
	for (i = 0; i < N_GOOD; i++)
		EVP_PKEY_free(fx.dev_key[i]);
	return 0;
}

static FX_UNUSED void write_seed(const char *name, const void *p, size_t n)
{
	const char *dir = getenv("ZTM_FUZZ_SEEDS");
	char path[512];
	struct ztm_error e;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (ztm_file_write(path, p, n, 0644, 0, &e) != 0)
		fail_msg("%s", e.msg);
}

static FX_UNUSED void expect_verify_fails(const char *what, const struct ztm_buf *der,
                                          enum ztm_err code, const char *needle)
{
	struct ztm_batch b;
	struct ztm_error e;
	X509 *signer = (X509 *)1;

	memset(&e, 0, sizeof(e));
	if (ztm_batch_verify(der->data, der->len, fx.trusted, &b, &signer, &e) == 0)
		fail_msg("%s: verified", what);
	assert_null(b.records);
	assert_int_equal(b.n, 0);
	assert_null(signer);
	if (e.code != code || strstr(e.msg, needle) == NULL)
		fail_msg("%s: got %s '%s', want %s '%s'", what, ztm_err_name(e.code), e.msg,
		         ztm_err_name(code), needle);
}

/* A CMS SignedData over arbitrary content, made with OpenSSL directly (the
 * signer need not be honest). */
static FX_UNUSED void sign_raw(const char *content, size_t len, X509 *cert, EVP_PKEY *key,
                               unsigned flags, struct ztm_buf *out)
{
	BIO *in = BIO_new_mem_buf(content, (int)len);
	CMS_ContentInfo *cms = CMS_sign(cert, key, NULL, in, CMS_BINARY | flags);
	unsigned char *der = NULL;
	int n;

	assert_non_null(cms);
	n = i2d_CMS_ContentInfo(cms, &der);
	assert_true(n > 0);
	out->len = 0;
	assert_int_equal(ztm_buf_append(out, der, (size_t)n), 0);
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
}

/* The JSON of good record i, for hand-made documents. */
static FX_UNUSED char *rec_json(int i)
{
	struct ztm_buf b;
	struct ztm_error e;
	struct ztm_record r = fx.good[i];
	char *s;

	ztm_buf_init(&b, 0);
	if (ztm_record_to_json(&r, &b, &e) != 0)
		fail_msg("%s", e.msg);
	s = strdup(ztm_buf_cstr(&b));
	ztm_buf_free(&b);
	return s;
}

static FX_UNUSED void doc_with(struct ztm_buf *doc, const char *head, const char *records)
{
	doc->len = 0;
	assert_int_equal(ztm_buf_printf(doc, "{%s\"records\":[%s]}", head, records), 0);
}

#define HEAD_OK                                                                                    \
	"\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","                         \
	"\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},\"created_at\":"          \
	"1700000100,"

#endif
