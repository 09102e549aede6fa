/* test_batch.c - station records and signed batches (ztm/batch.h): a good
 * batch round trip, one row per refused record field, per refused
 * bootstrap certificate, per refused JSON document and per refused
 * envelope (tampered byte, foreign signer, CA signer, unsigned, detached,
 * two signers, empty, over the cap). The PKI is made here with OpenSSL's
 * X509 API, independent of the code under test: root -> station CA ->
 * station, and root -> operator CA -> operator, plus a foreign CA.
 *
 * With ZTM_FUZZ_SEEDS=DIR set it also writes seeds for fuzz/fuzz_batch.c. */
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
static X509 *issue(X509 *issuer, EVP_PKEY *ikey, EVP_PKEY *key, const char *cn, const char *ou,
                   int ca)
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
static X509 *boot(EVP_PKEY *key, EVP_PKEY *sign_key, const char *attr, const char *issuer_cn)
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

static void set_cert(struct ztm_record *r, X509 *x)
{
	unsigned char *p = r->cert;
	int n = i2d_X509(x, NULL);

	if (n <= 0 || n > ZTM_RECORD_MAX_CERT || i2d_X509(x, &p) != n)
		abort();
	r->cert_len = (size_t)n;
}

static void make_record(struct ztm_record *r, int i, EVP_PKEY *key)
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

static int setup(void **state)
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

static int teardown(void **state)
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

static void write_seed(const char *name, const void *p, size_t n)
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

static void expect_verify_fails(const char *what, const struct ztm_buf *der, enum ztm_err code,
                                const char *needle)
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

static void test_round_trip(void **state)
{
	struct ztm_record recs[N_GOOD];
	struct ztm_buf der;
	struct ztm_batch b;
	struct ztm_error e;
	char id[33];
	X509 *signer = NULL;
	uint8_t md[32];
	char hex[65];
	size_t i;

	memcpy(recs, fx.good, sizeof(recs));
	ztm_buf_init(&der, 0);
	if (ztm_batch_sign(recs, N_GOOD, 1700000100, fx.st, fx.st_key, &der, id, &e) != 0)
		fail_msg("sign: %s", e.msg);
	if (ztm_batch_verify(der.data, der.len, fx.trusted, &b, &signer, &e) != 0)
		fail_msg("verify: %s", e.msg);
	assert_string_equal(b.batch_id, id);
	assert_int_equal(strlen(id), 32);
	assert_string_equal(b.factory, "acme-shenzhen");
	assert_string_equal(b.station, "line-1");
	assert_int_equal(b.created_at, 1700000100);
	assert_int_equal(b.n, N_GOOD);
	assert_int_equal(X509_cmp(signer, fx.st), 0);
	assert_int_equal(EVP_Digest(der.data, der.len, md, NULL, EVP_sha256(), NULL), 1);
	ztm_hex(md, 32, hex);
	assert_string_equal(b.sha256, hex);
	for (i = 0; i < N_GOOD; i++) {
		const struct ztm_record *g = &fx.good[i], *r = &b.records[i];
		uint8_t smd[32];
		unsigned char *spki = NULL;
		int n = i2d_PUBKEY(fx.dev_key[i], &spki);
		assert_string_equal(r->serial, g->serial);
		assert_string_equal(r->product, g->product);
		assert_string_equal(r->order, g->order);
		assert_string_equal(r->hw_rev, g->hw_rev);
		assert_string_equal(r->mac, g->mac);
		assert_string_equal(r->fw_version, g->fw_version);
		assert_string_equal(r->fw_sha256, g->fw_sha256);
		assert_int_equal(r->test_result, g->test_result);
		assert_int_equal(r->key_origin, g->key_origin);
		assert_int_equal(r->recorded_at, g->recorded_at);
		assert_int_equal(r->cert_len, g->cert_len);
		assert_memory_equal(r->cert, g->cert, g->cert_len);
		/* The key vetting compares: SHA-256 of the device's SPKI. */
		assert_true(n > 0);
		assert_int_equal(EVP_Digest(spki, (size_t)n, smd, NULL, EVP_sha256(), NULL), 1);
		ztm_hex(smd, 32, hex);
		assert_string_equal(r->spki_sha256, hex);
		OPENSSL_free(spki);
	}
	write_seed("good.der", der.data, der.len);
	ztm_batch_free(&b);
	X509_free(signer);

	/* Signing twice gives another batch_id (the server dedups by bytes;
	 * the station re-sends the stored bytes, never re-signs). */
	der.len = 0;
	assert_int_equal(ztm_batch_sign(recs, 1, 1700000100, fx.st, fx.st_key, &der, hex, &e), 0);
	assert_string_not_equal(hex, id);
	write_seed("one-record.der", der.data, der.len);
	ztm_buf_free(&der);
}

static char *field_of(struct ztm_record *r, const char *name, size_t *n)
{
	static const struct {
		const char *name;
		size_t off, size;
	} f[] = {
	    {"serial", offsetof(struct ztm_record, serial), sizeof(r->serial)},
	    {"product", offsetof(struct ztm_record, product), sizeof(r->product)},
	    {"order", offsetof(struct ztm_record, order), sizeof(r->order)},
	    {"hw_rev", offsetof(struct ztm_record, hw_rev), sizeof(r->hw_rev)},
	    {"mac", offsetof(struct ztm_record, mac), sizeof(r->mac)},
	    {"fw_version", offsetof(struct ztm_record, fw_version), sizeof(r->fw_version)},
	    {"fw_sha256", offsetof(struct ztm_record, fw_sha256), sizeof(r->fw_sha256)},
	};
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (strcmp(f[i].name, name) == 0) {
			*n = f[i].size;
			return (char *)r + f[i].off;
		}
	}
	abort();
}

/* Each row changes one field of a good record; validate must refuse it
 * and name the field. */
static void test_record_field_refusals(void **state)
{
	static const struct {
		const char *field, *value;
	} rows[] = {
	    {"serial", ""},
	    {"serial", "-SN1"},
	    {"serial", ".hidden"},
	    {"serial", "SN/../x"},
	    {"serial", "SN 1"},
	    {"serial", "SN_1"},
	    {"serial", "S\xc3\xa9rie"},
	    {"product", ""},
	    {"product", "a b"},
	    {"product", "p;drop"},
	    {"order", ""},
	    {"order", "WO#1"},
	    {"hw_rev", ""},
	    {"hw_rev", "rev 2"},
	    {"mac", ""},
	    {"mac", "02:00:5E:10:00:01"},
	    {"mac", "02-00-5e-10-00-01"},
	    {"mac", "02:00:5e:10:00"},
	    {"mac", "0200.5e10.0001..."},
	    {"mac", "g2:00:5e:10:00:01"},
	    {"fw_version", ""},
	    {"fw_version", "1.0 beta"},
	    {"fw_version", "1.0\n"},
	    {"fw_sha256", ""},
	    {"fw_sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	    {"fw_sha256", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	};
	struct ztm_record r;
	struct ztm_error e;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t dn;
		char *dst;
		r = fx.good[0];
		dst = field_of(&r, rows[i].field, &dn);
		assert_true(strlen(rows[i].value) < dn);
		memset(dst, 0, dn);
		memcpy(dst, rows[i].value, strlen(rows[i].value));
		memset(&e, 0, sizeof(e));
		if (ztm_record_validate(&r, &e) == 0)
			fail_msg("row %zu (%s='%s'): accepted", i, rows[i].field, rows[i].value);
		if (e.code != ZTM_E_PARSE || strncmp(e.msg, rows[i].field, strlen(rows[i].field)))
			fail_msg("row %zu: %s: %s", i, ztm_err_name(e.code), e.msg);
	}
	r = fx.good[0];
	r.test_result = (enum ztm_test_result)7;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	r.key_origin = (enum ztm_key_origin)7;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	r.recorded_at = 0;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	assert_non_null(strstr(e.msg, "recorded_at"));
	/* The enums' text forms. */
	{
		enum ztm_test_result t;
		enum ztm_key_origin k;
		assert_int_equal(ztm_test_result_parse("pass", &t), 0);
		assert_int_equal(t, ZTM_TEST_PASS);
		assert_int_equal(ztm_test_result_parse("PASS", &t), -1);
		assert_int_equal(ztm_test_result_parse("ok", &t), -1);
		assert_int_equal(ztm_key_origin_parse("injected", &k), 0);
		assert_int_equal(k, ZTM_KEY_ORIGIN_INJECTED);
		assert_int_equal(ztm_key_origin_parse("station", &k), -1);
	}
}

/* Bootstrap certificates that must be refused. */
static void test_bootstrap_refusals(void **state)
{
	EVP_PKEY *k = fx_key("P-256"), *other = fx_key("P-256"), *weak = fx_key("RSA1024");
	EVP_PKEY *expl = fx_key("P-256-explicit");
	struct {
		const char *what;
		X509 *x;
		enum ztm_err code;
		const char *needle;
	} rows[] = {
	    {"no serialNumber", boot(k, k, NULL, NULL), ZTM_E_POLICY, "no subject serialNumber"},
	    {"other serialNumber", boot(k, k, "SN-9999", NULL), ZTM_E_POLICY, "is not 'SN-0000'"},
	    {"prefix serialNumber", boot(k, k, "SN-00001", NULL), ZTM_E_POLICY, "is not"},
	    {"signed by another key", boot(k, other, "SN-0000", NULL), ZTM_E_BADSIG,
	     "self-signature"},
	    {"issued by someone else", boot(k, other, "SN-0000", "Some CA"), ZTM_E_POLICY,
	     "not self-issued"},
	    {"RSA-1024 key", boot(weak, weak, "SN-0000", NULL), ZTM_E_WEAKKEY, ""},
	    {"explicit EC parameters", boot(expl, expl, "SN-0000", NULL), ZTM_E_WEAKKEY, ""},
	};
	struct ztm_record r;
	struct ztm_error e;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		r = fx.good[0];
		set_cert(&r, rows[i].x);
		memset(&e, 0, sizeof(e));
		if (ztm_record_validate(&r, &e) == 0)
			fail_msg("%s: accepted", rows[i].what);
		if (e.code != rows[i].code || strstr(e.msg, rows[i].needle) == NULL)
			fail_msg("%s: %s: %s", rows[i].what, ztm_err_name(e.code), e.msg);
		/* The server's check refuses the same, for the same reason, but
		 * for the self-signature, which it leaves to the station and to
		 * registration (docs/records.md, "Checks at ingest"). */
		memset(&e, 0, sizeof(e));
		if (rows[i].code == ZTM_E_BADSIG) {
			if (ztm_record_validate_shape(&r, &e) != 0)
				fail_msg("%s: refused by the server's check: %s", rows[i].what,
				         e.msg);
		} else if (ztm_record_validate_shape(&r, &e) == 0 || e.code != rows[i].code ||
		           strstr(e.msg, rows[i].needle) == NULL) {
			fail_msg("%s: server's check: %s: %s", rows[i].what, ztm_err_name(e.code),
			         e.msg);
		}
		X509_free(rows[i].x);
	}
	/* Framing: empty, trailing byte, truncated, not DER, over the cap. */
	r = fx.good[0];
	r.cert_len = 0;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	r.cert[r.cert_len++] = 0;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	assert_int_equal(e.code, ZTM_E_PARSE);
	r = fx.good[0];
	r.cert_len--;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	memset(r.cert, 0x30, 40);
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	r.cert_len = ZTM_RECORD_MAX_CERT + 1;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	assert_int_equal(e.code, ZTM_E_TOOBIG);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(expl);
}

/* The record's JSON form (the station queue file): round trip, then one
 * row per malformed document. */
static void test_record_json(void **state)
{
	static const struct {
		const char *what, *key, *value; /* value: JSON text; NULL = delete */
	} rows[] = {
	    {"missing serial", "serial", NULL},
	    {"serial a number", "serial", "42"},
	    {"unknown member", "colour", "\"red\""},
	    {"test_result other", "test_result", "\"ok\""},
	    {"test_result bool", "test_result", "true"},
	    {"key_origin other", "key_origin", "\"station\""},
	    {"recorded_at float", "recorded_at", "1700000000.5"},
	    {"recorded_at string", "recorded_at", "\"1700000000\""},
	    {"recorded_at negative", "recorded_at", "-5"},
	    {"recorded_at past 9999", "recorded_at", "253402300800"},
	    {"cert with a line break", "bootstrap_cert", "\"MIIB\\nAAAA\""},
	    {"cert not base64", "bootstrap_cert", "\"!!!!\""},
	    {"cert empty", "bootstrap_cert", "\"\""},
	    {"cert a number", "bootstrap_cert", "1"},
	    {"mac upper case", "mac", "\"02:00:5E:10:00:00\""},
	    {"serial of 65 characters", "serial",
	     "\"X1234567890123456789012345678901234567890123456789012345678901234\""},
	    {"product of 65 characters", "product",
	     "\"P1234567890123456789012345678901234567890123456789012345678901234\""},
	    {"hw_rev of 33 characters", "hw_rev", "\"R12345678901234567890123456789012\""},
	    {"mac of 7 octets", "mac", "\"02:00:5e:10:00:01:02\""},
	    {"fw_sha256 of 65 digits", "fw_sha256",
	     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""},
	    {"kind other", "kind", "\"repair\""},
	    {"kind a number", "kind", "1"},
	};
	struct ztm_record r = fx.good[1], back;
	struct ztm_buf js;
	struct ztm_error e;
	size_t i;

	ztm_buf_init(&js, 0);
	if (ztm_record_to_json(&r, &js, &e) != 0)
		fail_msg("%s", e.msg);
	if (ztm_record_from_json(js.data, js.len, &back, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(back.serial, r.serial);
	assert_int_equal(back.key_origin, ZTM_KEY_ORIGIN_INJECTED);
	assert_memory_equal(back.cert, r.cert, r.cert_len);
	assert_int_equal(back.kind, ZTM_RECORD_NEW);
	assert_null(strstr(ztm_buf_cstr(&js), "\"kind\""));
	write_seed("record.json", js.data, js.len);
	/* A replacement carries "kind" and reads back as one. */
	{
		struct ztm_buf rj;
		r.kind = ZTM_RECORD_REPLACEMENT;
		ztm_buf_init(&rj, 0);
		if (ztm_record_to_json(&r, &rj, &e) != 0)
			fail_msg("%s", e.msg);
		assert_non_null(strstr(ztm_buf_cstr(&rj), "\"kind\":\"replacement\""));
		if (ztm_record_from_json(rj.data, rj.len, &back, &e) != 0)
			fail_msg("%s", e.msg);
		assert_int_equal(back.kind, ZTM_RECORD_REPLACEMENT);
		ztm_buf_free(&rj);
		r.kind = ZTM_RECORD_NEW;
	}

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *j = json_loadb((const char *)js.data, js.len, 0, NULL);
		char *s;
		assert_non_null(j);
		if (rows[i].value == NULL)
			json_object_del(j, rows[i].key);
		else
			json_object_set_new(j, rows[i].key,
			                    json_loads(rows[i].value, JSON_DECODE_ANY, NULL));
		s = json_dumps(j, JSON_COMPACT);
		if (ztm_record_from_json((const uint8_t *)s, strlen(s), &back, &e) == 0)
			fail_msg("%s: accepted", rows[i].what);
		assert_int_equal(e.code, ZTM_E_PARSE);
		free(s);
		json_decref(j);
	}
	/* Duplicate member, not JSON, over the cap. */
	{
		static const char dup[] = "{\"serial\":\"a\",\"serial\":\"b\"}";
		static uint8_t big[ZTM_RECORD_MAX_JSON + 1];
		assert_int_equal(ztm_record_from_json((const uint8_t *)dup, strlen(dup), &back, &e),
		                 -1);
		assert_non_null(strstr(e.msg, "duplicate"));
		assert_int_equal(ztm_record_from_json((const uint8_t *)"[1]", 3, &back, &e), -1);
		assert_int_equal(ztm_record_from_json(big, sizeof(big), &back, &e), -1);
		assert_int_equal(e.code, ZTM_E_TOOBIG);
	}
	ztm_buf_free(&js);
}

/* A CMS SignedData over arbitrary content, made with OpenSSL directly (the
 * signer need not be honest). */
static void sign_raw(const char *content, size_t len, X509 *cert, EVP_PKEY *key, unsigned flags,
                     struct ztm_buf *out)
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
static char *rec_json(int i)
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

static void doc_with(struct ztm_buf *doc, const char *head, const char *records)
{
	doc->len = 0;
	assert_int_equal(ztm_buf_printf(doc, "{%s\"records\":[%s]}", head, records), 0);
}

#define HEAD_OK                                                                                    \
	"\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","                         \
	"\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},\"created_at\":"          \
	"1700000100,"

/* Documents signed correctly by the right station but wrong inside. */
static void test_document_refusals(void **state)
{
	char *r0 = rec_json(0), *r1 = rec_json(1), *r2 = rec_json(2);
	struct ztm_buf recs, bad2, doc, der;
	json_t *j;
	char *s;
	static const struct {
		const char *what, *head;
		int bad_rec; /* 1: third record has a bad MAC; 2: repeats record 0 */
		enum ztm_err code;
		const char *needle;
	} rows[] = {
	    {"version 2",
	     "\"version\":2,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "version"},
	    {"short batch_id",
	     "\"version\":1,\"batch_id\":\"0011\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "batch_id"},
	    {"upper-case batch_id",
	     "\"version\":1,\"batch_id\":\"00112233445566778899AABBCCDDEEFF\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "batch_id"},
	    {"no station",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "station"},
	    {"station of another factory",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"other\",\"name\":\"line-1\"},\"created_at\":1700000100,",
	     0, ZTM_E_POLICY, "signed by station acme-shenzhen/line-1"},
	    {"another station",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-2\"},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_POLICY, "names station acme-shenzhen/line-2"},
	    {"station extra member",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\",\"x\":1},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "unknown member"},
	    {"created_at missing",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},",
	     0, ZTM_E_PARSE, "created_at"},
	    {"duplicate member", HEAD_OK "\"version\":1,", 0, ZTM_E_PARSE, "duplicate"},
	    {"record 2 bad", HEAD_OK, 1, ZTM_E_PARSE, "record 2: mac"},
	    {"record 2 repeats record 0", HEAD_OK, 2, ZTM_E_PARSE,
	     "record 2: serial 'SN-0000' repeats record 0"},
	};
	size_t i;

	ztm_buf_init(&recs, 0);
	ztm_buf_init(&bad2, 0);
	ztm_buf_init(&doc, 0);
	ztm_buf_init(&der, 0);
	assert_int_equal(ztm_buf_printf(&recs, "%s,%s,%s", r0, r1, r2), 0);
	j = json_loads(r2, 0, NULL);
	json_object_set_new(j, "mac", json_string("02:00:5e:10:00"));
	s = json_dumps(j, JSON_COMPACT);
	assert_int_equal(ztm_buf_printf(&bad2, "%s,%s,%s", r0, r1, s), 0);
	free(s);
	json_decref(j);

	/* The hand-made good document verifies: the rows below fail for
	 * their one reason only. */
	doc_with(&doc, HEAD_OK, ztm_buf_cstr(&recs));
	sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, 0, &der);
	{
		struct ztm_batch b;
		struct ztm_error e;
		if (ztm_batch_verify(der.data, der.len, fx.trusted, &b, NULL, &e) != 0)
			fail_msg("hand-made good document: %s", e.msg);
		assert_int_equal(b.n, 3);
		ztm_batch_free(&b);
		write_seed("content.json", doc.data, doc.len);
	}
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *rs = rows[i].bad_rec == 1 ? ztm_buf_cstr(&bad2) : ztm_buf_cstr(&recs);
		struct ztm_buf dup;
		ztm_buf_init(&dup, 0);
		if (rows[i].bad_rec == 2) {
			assert_int_equal(ztm_buf_printf(&dup, "%s,%s,%s", r0, r1, r0), 0);
			rs = ztm_buf_cstr(&dup);
		}
		doc_with(&doc, rows[i].head, rs);
		sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, 0, &der);
		expect_verify_fails(rows[i].what, &der, rows[i].code, rows[i].needle);
		ztm_buf_free(&dup);
	}
	/* Empty records, not JSON, a JSON array. */
	doc_with(&doc, HEAD_OK, "");
	sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, 0, &der);
	expect_verify_fails("no records", &der, ZTM_E_PARSE, "records");
	sign_raw("not json", 8, fx.st, fx.st_key, 0, &der);
	expect_verify_fails("not JSON", &der, ZTM_E_PARSE, "batch JSON");
	sign_raw("[1,2]", 5, fx.st, fx.st_key, 0, &der);
	expect_verify_fails("JSON array", &der, ZTM_E_PARSE, "not a JSON object");
	free(r0);
	free(r1);
	free(r2);
	ztm_buf_free(&recs);
	ztm_buf_free(&bad2);
	ztm_buf_free(&doc);
	ztm_buf_free(&der);
}

/* Envelopes: tampering, wrong signers, unsigned, framing, caps. */
static void test_envelope_refusals(void **state)
{
	struct ztm_record recs[N_GOOD];
	struct ztm_buf good, der;
	struct ztm_error e;
	uint8_t *hit;
	size_t i;

	memcpy(recs, fx.good, sizeof(recs));
	ztm_buf_init(&good, 0);
	ztm_buf_init(&der, ZTM_BATCH_MAX_DER + 16);
	assert_int_equal(ztm_batch_sign(recs, 3, 1700000100, fx.st, fx.st_key, &good, NULL, &e), 0);

	/* One byte of the content changed: SN-0001 -> SN-0009. */
	ztm_buf_append(&der, good.data, good.len);
	for (hit = NULL, i = 0; hit == NULL && i + 7 <= der.len; i++)
		if (memcmp(der.data + i, "SN-0001", 7) == 0)
			hit = der.data + i;
	assert_non_null(hit);
	hit[6] = '9';
	expect_verify_fails("tampered content byte", &der, ZTM_E_BADSIG, "signature");
	/* The last byte (inside the signature value) flipped. */
	der.len = 0;
	ztm_buf_append(&der, good.data, good.len);
	der.data[der.len - 1] ^= 0x01;
	expect_verify_fails("tampered signature byte", &der, ZTM_E_BADSIG, "signature");

	/* Every single-byte change in the first 64 bytes (the framing) fails. */
	for (i = 0; i < 64; i++) {
		struct ztm_batch b;
		der.len = 0;
		ztm_buf_append(&der, good.data, good.len);
		der.data[i] ^= 0x20;
		if (ztm_batch_verify(der.data, der.len, fx.trusted, &b, NULL, &e) == 0)
			fail_msg("byte %zu changed: verified", i);
	}

	der.len = 0;
	assert_int_equal(ztm_batch_sign(recs, 3, 1700000100, fx.fst, fx.fst_key, &der, NULL, &e),
	                 0);
	expect_verify_fails("foreign CA's station", &der, ZTM_E_BADSIG, "signer chain");
	der.len = 0;
	assert_int_equal(ztm_batch_sign(recs, 3, 1700000100, fx.op, fx.op_key, &der, NULL, &e), 0);
	expect_verify_fails("operator CA's leaf (same root)", &der, ZTM_E_BADSIG, "signer chain");
	/* The station CA itself, with a station-like subject, signing. */
	{
		EVP_PKEY *ck = fx_key("P-256");
		X509 *cacert = issue(fx.sca, fx.sca_key, ck, "line-1", "acme-shenzhen", 1);
		STACK_OF(X509) *t2 = sk_X509_new_null();
		struct ztm_batch b;
		sk_X509_push(t2, fx.sca);
		sk_X509_push(t2, cacert);
		der.len = 0;
		assert_int_equal(ztm_batch_sign(recs, 1, 1700000100, cacert, ck, &der, NULL, &e),
		                 0);
		assert_int_equal(ztm_batch_verify(der.data, der.len, t2, &b, NULL, &e), -1);
		assert_int_equal(e.code, ZTM_E_POLICY);
		assert_non_null(strstr(e.msg, "is a CA"));
		sk_X509_free(t2);
		X509_free(cacert);
		EVP_PKEY_free(ck);
	}
	/* Trusting nothing verifies nothing. */
	{
		STACK_OF(X509) *none = sk_X509_new_null();
		struct ztm_batch b;
		assert_int_equal(ztm_batch_verify(good.data, good.len, none, &b, NULL, &e), -1);
		sk_X509_free(none);
	}

	/* Unsigned: certs-only SignedData; and plain id-data. */
	{
		struct ztm_slice sl;
		unsigned char *cd = NULL;
		int n = i2d_X509(fx.st, &cd);
		BIO *in = BIO_new_mem_buf("{}", 2);
		CMS_ContentInfo *data = CMS_data_create(in, CMS_BINARY);
		sl.p = cd;
		sl.len = (size_t)n;
		der.len = 0;
		assert_int_equal(ztm_p7_certs_only(&sl, 1, &der), 0);
		expect_verify_fails("certs-only, no signer", &der, ZTM_E_PARSE, "digestAlgorithms");
		OPENSSL_free(cd);
		cd = NULL;
		n = i2d_CMS_ContentInfo(data, &cd);
		der.len = 0;
		ztm_buf_append(&der, cd, (size_t)n);
		expect_verify_fails("id-data, unsigned", &der, ZTM_E_PARSE, "not SignedData");
		OPENSSL_free(cd);
		CMS_ContentInfo_free(data);
		BIO_free(in);
	}
	/* Detached signature; two signers. */
	{
		char *r0 = rec_json(0);
		struct ztm_buf doc;
		BIO *in;
		CMS_ContentInfo *cms;
		unsigned char *cd = NULL;
		int n;
		ztm_buf_init(&doc, 0);
		doc_with(&doc, HEAD_OK, r0);
		sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, CMS_DETACHED, &der);
		expect_verify_fails("detached", &der, ZTM_E_PARSE, "detached");
		in = BIO_new_mem_buf(doc.data, (int)doc.len);
		cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_BINARY | CMS_PARTIAL);
		assert_non_null(cms);
		assert_non_null(CMS_add1_signer(cms, fx.st, fx.st_key, NULL, 0));
		assert_non_null(CMS_add1_signer(cms, fx.st2, fx.st_key, NULL, 0));
		assert_int_equal(CMS_final(cms, in, NULL, CMS_BINARY), 1);
		n = i2d_CMS_ContentInfo(cms, &cd);
		der.len = 0;
		ztm_buf_append(&der, cd, (size_t)n);
		expect_verify_fails("two signers", &der, ZTM_E_BADSIG, "2 signers");
		OPENSSL_free(cd);
		CMS_ContentInfo_free(cms);
		BIO_free(in);
		ztm_buf_free(&doc);
		free(r0);
	}

	/* The same signed content in other framings: SignedData version 3,
	 * digestAlgorithms naming SHA-384, BER with indefinite lengths. */
	der.len = 0;
	ztm_buf_append(&der, good.data, good.len);
	assert_int_equal(der.data[25], 1);
	der.data[25] = 3;
	expect_verify_fails("SignedData version 3", &der, ZTM_E_PARSE, "version is not 1");
	der.data[25] = 1;
	assert_int_equal(der.data[40], 1); /* last octet of the SHA-256 OID */
	der.data[40] = 2;
	expect_verify_fails("digestAlgorithms SHA-384", &der, ZTM_E_PARSE, "digestAlgorithms");
	{
		char *r0 = rec_json(0);
		struct ztm_buf doc;
		BIO *in, *mem = BIO_new(BIO_s_mem());
		CMS_ContentInfo *cms;
		char *p;
		long n;
		ztm_buf_init(&doc, 0);
		doc_with(&doc, HEAD_OK, r0);
		in = BIO_new_mem_buf(doc.data, (int)doc.len);
		cms = CMS_sign(fx.st, fx.st_key, NULL, in, CMS_BINARY | CMS_STREAM);
		assert_non_null(cms);
		assert_int_equal(i2d_CMS_bio_stream(mem, cms, in, CMS_BINARY | CMS_STREAM), 1);
		n = BIO_get_mem_data(mem, &p);
		der.len = 0;
		ztm_buf_append(&der, p, (size_t)n);
		expect_verify_fails("BER, indefinite lengths", &der, ZTM_E_PARSE, "not a DER");
		CMS_ContentInfo_free(cms);
		BIO_free(in);
		BIO_free(mem);
		ztm_buf_free(&doc);
		free(r0);
	}

	/* Framing and caps. */
	der.len = 0;
	expect_verify_fails("empty", &der, ZTM_E_PARSE, "empty batch");
	ztm_buf_append(&der, good.data, good.len);
	ztm_buf_append(&der, "", 1);
	expect_verify_fails("trailing byte", &der, ZTM_E_PARSE, "after the CMS");
	der.len = good.len / 2;
	memcpy(der.data, good.data, der.len);
	expect_verify_fails("truncated", &der, ZTM_E_PARSE, "not a DER CMS");
	der.len = 0;
	assert_non_null(ztm_buf_reserve(&der, ZTM_BATCH_MAX_DER + 1));
	memcpy(der.data, good.data, good.len);
	memset(der.data + good.len, 0, ZTM_BATCH_MAX_DER + 1 - good.len);
	der.len = ZTM_BATCH_MAX_DER + 1;
	expect_verify_fails("over 16 MiB", &der, ZTM_E_TOOBIG, "at most");

	ztm_buf_free(&good);
	ztm_buf_free(&der);
}

/* Signing refuses what it must not produce. */
static void test_sign_refusals(void **state)
{
	struct ztm_record recs[2];
	struct ztm_buf der;
	struct ztm_error e;

	ztm_buf_init(&der, 0);
	memcpy(recs, fx.good, sizeof(recs));
	assert_int_equal(ztm_batch_sign(recs, 0, 1700000100, fx.st, fx.st_key, &der, NULL, &e), -1);
	assert_int_equal(e.code, ZTM_E_USAGE);
	assert_int_equal(ztm_batch_sign(recs, ZTM_BATCH_MAX_RECORDS + 1, 1700000100, fx.st,
	                                fx.st_key, &der, NULL, &e),
	                 -1);
	assert_int_equal(e.code, ZTM_E_TOOBIG);
	recs[1].mac[0] = 'X';
	assert_int_equal(ztm_batch_sign(recs, 2, 1700000100, fx.st, fx.st_key, &der, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "record 1: mac"));
	/* The signer must look like a station (CN and OU). */
	assert_int_equal(ztm_batch_sign(recs, 1, 1700000100, fx.sca, fx.sca_key, &der, NULL, &e),
	                 -1);
	assert_int_equal(e.code, ZTM_E_POLICY);
	assert_int_equal(der.len, 0);
	ztm_buf_free(&der);
}

/* The server's document reader (batch_json.c) against jansson's view of
 * the same text: every record refusal of test_record_json, made inside a
 * document, is refused too; the good document is accepted however jansson
 * lays it out; and the JSON corners the reader handles itself. */
static void test_doc_reader(void **state)
{
	static const struct {
		const char *what, *key, *value; /* value: JSON text; NULL = delete */
	} rec_rows[] = {
	    {"missing serial", "serial", NULL},
	    {"serial a number", "serial", "42"},
	    {"unknown member", "colour", "\"red\""},
	    {"test_result bool", "test_result", "true"},
	    {"key_origin other", "key_origin", "\"station\""},
	    {"recorded_at float", "recorded_at", "1700000000.5"},
	    {"recorded_at exponent", "recorded_at", "17e8"},
	    {"recorded_at string", "recorded_at", "\"1700000000\""},
	    {"recorded_at negative", "recorded_at", "-5"},
	    {"recorded_at past 9999", "recorded_at", "253402300800"},
	    {"recorded_at past int64", "recorded_at", "92233720368547758080"},
	    {"cert with a line break", "bootstrap_cert", "\"MIIB\\nAAAA\""},
	    {"cert not base64", "bootstrap_cert", "\"!!!!\""},
	    {"cert empty", "bootstrap_cert", "\"\""},
	    {"cert a number", "bootstrap_cert", "1"},
	    {"cert with bits under the padding", "bootstrap_cert", "\"QUJ=\""},
	    {"mac upper case", "mac", "\"02:00:5E:10:00:00\""},
	    {"serial of 65 characters", "serial",
	     "\"X1234567890123456789012345678901234567890123456789012345678901234\""},
	    {"mac of 7 octets", "mac", "\"02:00:5e:10:00:01:02\""},
	    {"serial non-ASCII", "serial", "\"SN-\\u00e9\""},
	    {"serial NUL", "serial", "\"SN\\u0000\""},
	    {"kind other", "kind", "\"repair\""},
	    {"kind a number", "kind", "1"},
	    {"kind null", "kind", "null"},
	};
	/* Whole documents: pre, record 0, post. */
	static const struct {
		const char *what, *pre, *post;
		int ok;
	} doc_rows[] = {
	    {"as made", "{" HEAD_OK "\"records\":[", "]}", 1},
	    {"blanks everywhere", " \r\n{ " HEAD_OK " \"records\" : [ ", " ] }\n\t", 1},
	    {"escaped names", "{" HEAD_OK "\"rec\\u006frds\":[", "]}", 1},
	    {"trailing comma in records", "{" HEAD_OK "\"records\":[", ",]}", 0},
	    {"trailing comma in document", "{" HEAD_OK "\"records\":[", "],}", 0},
	    {"two documents", "{" HEAD_OK "\"records\":[", "]}{}", 0},
	    {"unterminated", "{" HEAD_OK "\"records\":[", "]", 0},
	    {"records an object", "{" HEAD_OK "\"records\":{\"a\":", "}}", 0},
	    {"version 01", "{\"version\":01," HEAD_OK "\"records\":[", "]}", 0},
	};
	/* The optional "kind" member of a record, as the reader takes it. */
	static const struct {
		const char *kind; /* JSON text */
		int ok;
		enum ztm_record_kind want;
	} kind_rows[] = {
	    {"\"new\"", 1, ZTM_RECORD_NEW},
	    {"\"replacement\"", 1, ZTM_RECORD_REPLACEMENT},
	    {"\"Replacement\"", 0, ZTM_RECORD_NEW},
	};
	char *r0 = rec_json(0), *r1 = rec_json(1);
	struct ztm_record g;
	struct ztm_buf doc;
	struct ztm_batch b;
	struct ztm_error e;
	json_t *j;
	char *s;
	size_t i;

	(void)state;
	ztm_buf_init(&doc, 0);
	for (i = 0; i < sizeof(rec_rows) / sizeof(rec_rows[0]); i++) {
		j = json_loads(r1, 0, NULL);
		assert_non_null(j);
		if (rec_rows[i].value == NULL)
			json_object_del(j, rec_rows[i].key);
		s = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		doc.len = 0;
		/* The value is spliced in as text, so that texts jansson would
		 * not make (a number past int64, \u escapes) reach the reader. */
		if (rec_rows[i].value != NULL) {
			const char *k = strstr(s, rec_rows[i].key);
			if (k == NULL)
				assert_int_equal(
				    ztm_buf_printf(
				        &doc, "{" HEAD_OK "\"records\":[%s,%.*s\"%s\":%s}]}", r0,
				        (int)strlen(s) - 1, s, rec_rows[i].key, rec_rows[i].value),
				    0);
			else {
				const char *v = k + strlen(rec_rows[i].key) + 2, *end = v;
				if (*v == '"')
					end = strchr(v + 1, '"') + 1;
				else
					while (*end != ',' && *end != '}')
						end++;
				assert_int_equal(
				    ztm_buf_printf(&doc, "{" HEAD_OK "\"records\":[%s,%.*s%s%s]}",
				                   r0, (int)(v - s), s, rec_rows[i].value, end),
				    0);
			}
		} else {
			assert_int_equal(
			    ztm_buf_printf(&doc, "{" HEAD_OK "\"records\":[%s,%s]}", r0, s), 0);
		}
		free(s);
		if (ztm_batch_parse_json(doc.data, doc.len, &b, &e) == 0)
			fail_msg("%s: accepted: %s", rec_rows[i].what, ztm_buf_cstr(&doc));
		if (e.code != ZTM_E_PARSE || strstr(e.msg, "record 1: ") != e.msg)
			fail_msg("%s: %s: %s", rec_rows[i].what, ztm_err_name(e.code), e.msg);
	}
	for (i = 0; i < sizeof(doc_rows) / sizeof(doc_rows[0]); i++) {
		doc.len = 0;
		assert_int_equal(
		    ztm_buf_printf(&doc, "%s%s%s", doc_rows[i].pre, r0, doc_rows[i].post), 0);
		if ((ztm_batch_parse_json(doc.data, doc.len, &b, &e) == 0) != doc_rows[i].ok)
			fail_msg("%s: %s", doc_rows[i].what, doc_rows[i].ok ? e.msg : "accepted");
		if (doc_rows[i].ok) {
			assert_int_equal(b.n, 1);
			assert_string_equal(b.records[0].serial, fx.good[0].serial);
			assert_memory_equal(b.records[0].cert, fx.good[0].cert,
			                    fx.good[0].cert_len);
			ztm_batch_free(&b);
		}
	}
	for (i = 0; i < sizeof(kind_rows) / sizeof(kind_rows[0]); i++) {
		doc.len = 0;
		assert_int_equal(ztm_buf_printf(&doc,
		                                "{" HEAD_OK "\"records\":[%.*s,\"kind\":%s}]}",
		                                (int)strlen(r0) - 1, r0, kind_rows[i].kind),
		                 0);
		if ((ztm_batch_parse_json(doc.data, doc.len, &b, &e) == 0) != kind_rows[i].ok)
			fail_msg("kind %s: %s", kind_rows[i].kind,
			         kind_rows[i].ok ? e.msg : "accepted");
		if (kind_rows[i].ok) {
			assert_int_equal(b.records[0].kind, kind_rows[i].want);
			ztm_batch_free(&b);
		}
	}
	/* jansson's own layouts of a good document: indented, and with every
	 * '/' of the base64 escaped as "\/" (JSON_ESCAPE_SLASH). */
	doc.len = 0;
	assert_int_equal(ztm_buf_printf(&doc, "{" HEAD_OK "\"records\":[%s,%s]}", r0, r1), 0);
	j = json_loadb((const char *)doc.data, doc.len, 0, NULL);
	assert_non_null(j);
	/* The SPKI hash from the DER walk is the one OpenSSL's re-encoding gives. */
	g = fx.good[1];
	assert_int_equal(ztm_record_validate(&g, &e), 0);
	for (i = 0; i < 2; i++) {
		s = json_dumps(j, i == 0 ? JSON_INDENT(3) : JSON_ESCAPE_SLASH);
		if (ztm_batch_parse_json((const uint8_t *)s, strlen(s), &b, &e) != 0)
			fail_msg("layout %zu: %s", i, e.msg);
		assert_int_equal(b.n, 2);
		assert_memory_equal(b.records[1].cert, fx.good[1].cert, fx.good[1].cert_len);
		assert_int_equal(b.records[1].cert_len, fx.good[1].cert_len);
		assert_string_equal(b.records[1].spki_sha256, g.spki_sha256);
		ztm_batch_free(&b);
		free(s);
	}
	json_decref(j);
	free(r0);
	free(r1);
	ztm_buf_free(&doc);
}

/* Over the record cap in a signed document: refused as too big when the
 * 10,001st record starts (the records are read as they come; the body cap
 * bounds the work before it). Valid records, so that nothing else stops
 * the reader first (their serials repeat, which is checked only after). */
static void test_record_cap(void **state)
{
	struct ztm_buf doc, der, recs;
	char *r0 = rec_json(0);
	size_t i;

	ztm_buf_init(&recs, 0);
	ztm_buf_init(&doc, 0);
	ztm_buf_init(&der, 0);
	for (i = 0; i <= ZTM_BATCH_MAX_RECORDS; i++)
		assert_int_equal(ztm_buf_printf(&recs, "%s%s", i ? "," : "", r0), 0);
	free(r0);
	doc_with(&doc, HEAD_OK, ztm_buf_cstr(&recs));
	sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, 0, &der);
	expect_verify_fails("10,001 records", &der, ZTM_E_TOOBIG, "1..10000");
	ztm_buf_free(&recs);
	ztm_buf_free(&doc);
	ztm_buf_free(&der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),         cmocka_unit_test(test_record_field_refusals),
	    cmocka_unit_test(test_bootstrap_refusals), cmocka_unit_test(test_record_json),
	    cmocka_unit_test(test_document_refusals),  cmocka_unit_test(test_envelope_refusals),
	    cmocka_unit_test(test_sign_refusals),      cmocka_unit_test(test_record_cap),
	    cmocka_unit_test(test_doc_reader),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
