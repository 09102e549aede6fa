/* test_csr.c - ztm_csr_parse: good CSRs for every allowed key type, and one
 * row per refusal (key policy, signature, framing, caps); ztm_csr_parse_pop's
 * two branches. CSRs are made with
 * OpenSSL's X509_REQ API, independent of the parser under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x509_fixture.h"
#include "ztm/csr.h"
#include "ztm/tpm.h"
#include "ztm/file.h"
#include "ztm/str.h"

static void test_good_keys(void **state)
{
	static const struct {
		const char *key;
		enum ztm_key_kind kind;
		unsigned bits;
	} rows[] = {
	    {"P-256", ZTM_KK_P256, 256},      {"P-384", ZTM_KK_P384, 384},
	    {"ED25519", ZTM_KK_ED25519, 256}, {"RSA2048", ZTM_KK_RSA, 2048},
	    {"RSA3072", ZTM_KK_RSA, 3072},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		EVP_PKEY *k = fx_key(rows[i].key);
		struct ztm_buf der, spki;
		struct ztm_csr csr;
		struct ztm_error e;
		uint8_t digest[32];
		char hex[65];

		ztm_buf_init(&der, 0);
		ztm_buf_init(&spki, 0);
		fx_csr(k, "dev-0001", "DNS:dev-0001.example,URI:urn:ztm:dev:0001", "s3cret", &der);
		fx_spki(k, &spki);
		if (ztm_csr_parse(der.data, der.len, &csr, &e) != 0)
			fail_msg("%s: %s", rows[i].key, e.msg);
		assert_int_equal(csr.key_info.kind, rows[i].kind);
		assert_int_equal(csr.key_info.bits, rows[i].bits);
		/* The SPKI is the key's own encoding, byte for byte. */
		assert_int_equal(csr.spki.len, spki.len);
		assert_memory_equal(csr.spki.p, spki.data, spki.len);
		assert_int_equal(EVP_Digest(spki.data, spki.len, digest, NULL, EVP_sha256(), NULL),
		                 1);
		ztm_hex(digest, 32, hex);
		assert_string_equal(csr.spki_sha256, hex);
		assert_int_equal(EVP_PKEY_eq(csr.pkey, k), 1);
		assert_int_equal(csr.n_san, 2);
		assert_int_equal(csr.san[0].type, ZTM_SAN_DNS);
		assert_int_equal(csr.san[0].value.len, strlen("dev-0001.example"));
		assert_memory_equal(csr.san[0].value.p, "dev-0001.example", 16);
		assert_int_equal(csr.san[1].type, ZTM_SAN_URI);
		assert_memory_equal(csr.san[1].value.p, "urn:ztm:dev:0001", 16);
		assert_non_null(csr.challenge.p);
		assert_int_equal(csr.challenge.len, 6);
		assert_memory_equal(csr.challenge.p, "s3cret", 6);
		{
			struct ztm_buf t;
			ztm_buf_init(&t, 0);
			assert_int_equal(ztm_csr_subject_text(&csr, &t, &e), 0);
			assert_string_equal(ztm_buf_cstr(&t), "CN=dev-0001");
			ztm_buf_free(&t);
		}
		ztm_csr_free(&csr);
		ztm_csr_free(&csr); /* idempotent */
		ztm_buf_free(&der);
		ztm_buf_free(&spki);
		EVP_PKEY_free(k);
	}
}

/* A CSR with an id-ztm-tpmEvidence attribute holding value (DER) n times
 * (n > 1: one attribute, several values; OpenSSL refuses to write the same
 * attribute twice). */
static void csr_with_evidence(EVP_PKEY *k, const uint8_t *value, size_t len, int n,
                              struct ztm_buf *der)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_OBJECT *oid = OBJ_txt2obj(ZTM_TPM_OID_EVIDENCE_TEXT, 1);
	X509_ATTRIBUTE *a;
	unsigned char *out = NULL;
	int i, dl;

	assert_non_null(r);
	assert_non_null(oid);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"dev", -1, -1,
	                           0);
	X509_REQ_set_subject_name(r, name);
	X509_REQ_set_pubkey(r, k);
	a = X509_ATTRIBUTE_create_by_OBJ(NULL, oid, V_ASN1_SEQUENCE, value, (int)len);
	assert_non_null(a);
	for (i = 1; i < n; i++)
		assert_int_equal(X509_ATTRIBUTE_set1_data(a, V_ASN1_SEQUENCE, value, (int)len), 1);
	assert_int_equal(X509_REQ_add1_attr(r, a), 1);
	X509_ATTRIBUTE_free(a);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	dl = i2d_X509_REQ(r, &out);
	assert_true(dl > 0);
	ztm_buf_reset(der);
	assert_int_equal(ztm_buf_append(der, out, (size_t)dl), 0);
	OPENSSL_free(out);
	ASN1_OBJECT_free(oid);
	X509_NAME_free(name);
	X509_REQ_free(r);
}

/* docs/attestation.md: the evidence attribute is found, whole; two values or
 * not a SEQUENCE is malformed. */
static void test_tpm_evidence_attr(void **state)
{
	static const uint8_t seq[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	static const uint8_t notseq[] = {0x04, 0x01, 0x00};
	EVP_PKEY *k = fx_key("P-256");
	struct ztm_buf der;
	struct ztm_csr csr;
	struct ztm_error e;

	(void)state;
	ztm_buf_init(&der, 0);
	csr_with_evidence(k, seq, sizeof(seq), 1, &der);
	assert_int_equal(ztm_csr_parse(der.data, der.len, &csr, &e), 0);
	assert_non_null(csr.tpm_evidence.p);
	assert_int_equal(csr.tpm_evidence.len, sizeof(seq));
	assert_memory_equal(csr.tpm_evidence.p, seq, sizeof(seq));
	ztm_csr_free(&csr);
	csr_with_evidence(k, seq, sizeof(seq), 2, &der);
	assert_int_equal(ztm_csr_parse(der.data, der.len, &csr, &e), -1);
	assert_int_equal(e.code, ZTM_E_PARSE);
	csr_with_evidence(k, notseq, sizeof(notseq), 1, &der);
	assert_int_equal(ztm_csr_parse(der.data, der.len, &csr, &e), -1);
	assert_int_equal(e.code, ZTM_E_PARSE);
	ztm_buf_free(&der);
	EVP_PKEY_free(k);
}

static void test_no_attributes(void **state)
{
	EVP_PKEY *k = fx_key("P-256");
	struct ztm_buf der;
	struct ztm_csr csr;
	struct ztm_error e;

	ztm_buf_init(&der, 0);
	fx_csr(k, "plain", NULL, NULL, &der);
	assert_int_equal(ztm_csr_parse(der.data, der.len, &csr, &e), 0);
	assert_int_equal(csr.n_san, 0);
	assert_null(csr.challenge.p);
	assert_null(csr.tpm_evidence.p);
	ztm_csr_free(&csr);
	ztm_buf_free(&der);
	EVP_PKEY_free(k);
}

enum mutation { NONE, FLIP_SIG, FLIP_CN, TRUNCATE, TRAILING, OVERSIZE, EMPTY, BAD_LEN, OFF_CURVE };

/* Offset of the first occurrence of needle in hay, or abort. */
static size_t find(const struct ztm_buf *hay, const void *needle, size_t n)
{
	size_t i;

	for (i = 0; i + n <= hay->len; i++)
		if (memcmp(hay->data + i, needle, n) == 0)
			return i;
	fail_msg("needle not found");
	return 0;
}

static void test_refusals(void **state)
{
	static const struct {
		const char *name, *key;
		enum mutation m;
		enum ztm_err want;
		const char *msg;
	} rows[] = {
	    {"RSA-1024", "RSA1024", NONE, ZTM_E_WEAKKEY, "RSA 1024 bits < 2048"},
	    {"RSA e=3", "RSA2048e3", NONE, ZTM_E_WEAKKEY, "exponent"},
	    {"explicit EC params", "P-256-explicit", NONE, ZTM_E_WEAKKEY, "explicit"},
	    {"P-192", "P-192", NONE, ZTM_E_WEAKKEY, "prime192v1 not allowed"},
	    {"secp256k1", "secp256k1", NONE, ZTM_E_WEAKKEY, "secp256k1 not allowed"},
	    {"P-521", "P-521", NONE, ZTM_E_WEAKKEY, "secp521r1 not allowed"},
	    {"bad signature", "P-256", FLIP_SIG, ZTM_E_BADSIG, "self-signature"},
	    {"bad signature ed25519", "ED25519", FLIP_SIG, ZTM_E_BADSIG, "self-signature"},
	    {"bad signature rsa", "RSA2048", FLIP_SIG, ZTM_E_BADSIG, "self-signature"},
	    {"subject changed", "P-256", FLIP_CN, ZTM_E_BADSIG, "self-signature"},
	    {"truncated", "P-256", TRUNCATE, ZTM_E_PARSE, "malformed"},
	    {"trailing garbage", "P-256", TRAILING, ZTM_E_PARSE, "trailing"},
	    {"oversize", "P-256", OVERSIZE, ZTM_E_TOOBIG, "cap"},
	    {"empty", "P-256", EMPTY, ZTM_E_PARSE, "empty"},
	    {"non-minimal length", "P-256", BAD_LEN, ZTM_E_PARSE, "malformed"},
	    {"point off the curve", "P-256", OFF_CURVE, ZTM_E_PARSE, "does not decode"},
	    {"point off the curve P-384", "P-384", OFF_CURVE, ZTM_E_PARSE, "does not decode"},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		EVP_PKEY *k = fx_key(rows[i].key);
		struct ztm_buf der;
		struct ztm_csr csr;
		struct ztm_error e;
		uint8_t *p;
		size_t len;
		int rc;

		ztm_buf_init(&der, 64 * 1024);
		fx_csr(k, "dev-0001", "DNS:a.example", NULL, &der);
		len = der.len;
		switch (rows[i].m) {
		case FLIP_SIG:
			der.data[der.len - 8] ^= 0x01;
			break;
		case FLIP_CN:
			p = der.data + find(&der, "dev-0001", 8);
			p[7] = '2';
			break;
		case TRUNCATE:
			len = der.len - 1;
			break;
		case TRAILING:
			assert_int_equal(ztm_buf_append(&der, "\0\0", 2), 0);
			len = der.len;
			break;
		case OVERSIZE:
			while (der.len <= ZTM_CSR_MAX_DER)
				assert_int_equal(ztm_buf_append(&der, "xxxxxxxx", 8), 0);
			len = der.len;
			break;
		case EMPTY:
			len = 0;
			break;
		case BAD_LEN: {
			/* Re-encode the outer length in a longer form than
			 * needed: 30 8n L.. -> 30 8(n+1) 00 L.. */
			struct ztm_buf b;
			uint8_t hdr[3] = {0x30, 0, 0};
			assert_true(der.data[1] == 0x81 || der.data[1] == 0x82);
			hdr[1] = (uint8_t)(der.data[1] + 1);
			ztm_buf_init(&b, 0);
			assert_int_equal(ztm_buf_append(&b, hdr, 3), 0);
			assert_int_equal(ztm_buf_append(&b, der.data + 2, der.len - 2), 0);
			ztm_buf_free(&der);
			der = b;
			len = der.len;
			break;
		}
		case OFF_CURVE: {
			/* Change Y: the point leaves the curve; the key must not
			 * decode (before any signature is checked). */
			uint8_t pub[133];
			size_t publen = 0;
			assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY,
			                                                 pub, sizeof(pub), &publen),
			                 1);
			p = der.data + find(&der, pub, publen);
			p[publen - 1] ^= 0x01;
			break;
		}
		case NONE:
			break;
		}
		memset(&e, 0, sizeof(e));
		rc = ztm_csr_parse(der.data, len, &csr, &e);
		if (rc == 0 || e.code != rows[i].want || strstr(e.msg, rows[i].msg) == NULL)
			fail_msg("%s: rc=%d code=%s msg=%s", rows[i].name, rc, ztm_err_name(e.code),
			         e.msg);
		/* Nothing to free after a refusal, and freeing is still safe. */
		assert_null(csr.pkey);
		ztm_csr_free(&csr);
		ztm_buf_free(&der);
		EVP_PKEY_free(k);
	}
}

/* Every prefix of a good CSR is refused without a crash (bounds). */
static void test_all_truncations(void **state)
{
	EVP_PKEY *k = fx_key("P-256");
	struct ztm_buf der;
	struct ztm_csr csr;
	struct ztm_error e;
	size_t n;

	ztm_buf_init(&der, 0);
	fx_csr(k, "dev", "DNS:a.example,URI:urn:x", "pw", &der);
	for (n = 0; n < der.len; n++)
		assert_int_equal(ztm_csr_parse(der.data, n, &csr, &e), -1);
	assert_int_equal(ztm_csr_parse(der.data, der.len, &csr, &e), 0);
	ztm_csr_free(&csr);
	ztm_buf_free(&der);
	EVP_PKEY_free(k);
}

/* CSRs made by the openssl command line (the fuzz seed corpus). */
static void test_openssl_cli_csrs(void **state)
{
	static const struct {
		const char *file;
		enum ztm_err want;
		int challenge, n_san;
	} rows[] = {
	    {"p256.der", ZTM_OK, 0, 2},           {"p384.der", ZTM_OK, 0, 0},
	    {"ed25519.der", ZTM_OK, 0, 0},        {"rsa2048.der", ZTM_OK, 0, 0},
	    {"p256-challenge.der", ZTM_OK, 1, 0}, {"p256-explicit.der", ZTM_E_WEAKKEY, 0, 0},
	};
	const char *src = getenv("ZTM_SRC");
	size_t i;

	if (src == NULL)
		skip();
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char path[512];
		struct ztm_buf der;
		struct ztm_csr csr;
		struct ztm_error e;
		int rc;

		snprintf(path, sizeof(path), "%s/fuzz/corpus/fuzz_csr/%s", src, rows[i].file);
		ztm_buf_init(&der, 0);
		if (ztm_file_read(path, ZTM_CSR_MAX_DER, &der, &e) != 0)
			fail_msg("%s: %s", path, e.msg);
		memset(&e, 0, sizeof(e));
		rc = ztm_csr_parse(der.data, der.len, &csr, &e);
		if ((rc == 0 ? ZTM_OK : e.code) != rows[i].want)
			fail_msg("%s: rc=%d %s", rows[i].file, rc, e.msg);
		if (rc == 0) {
			assert_int_equal(csr.challenge.p != NULL, rows[i].challenge);
			assert_int_equal(csr.n_san, rows[i].n_san);
		}
		ztm_csr_free(&csr);
		ztm_buf_free(&der);
	}
}

/* ztm_csr_parse_pop: the self-signature is skipped only when the CSR's
 * SPKI is byte for byte the proven key; a CSR with a bad signature is still
 * refused when its key differs (or nothing is proven), and the other
 * checks (key policy, framing) hold on both branches. */
static void test_pop(void **state)
{
	static const struct {
		const char *name;
		int bad_sig; /* flip a signature bit */
		int proven;  /* 0: NULL, 1: the CSR's key, 2: another key, 3: prefix */
		int weak;    /* RSA-1024 CSR */
		enum ztm_err want;
		int by_peer;
	} rows[] = {
	    {"same key, good signature", 0, 1, 0, ZTM_OK, 1},
	    {"same key, bad signature (proven by TLS)", 1, 1, 0, ZTM_OK, 1},
	    {"other key, good signature", 0, 2, 0, ZTM_OK, 0},
	    {"other key, bad signature", 1, 2, 0, ZTM_E_BADSIG, 0},
	    {"SPKI prefix proven, bad signature", 1, 3, 0, ZTM_E_BADSIG, 0},
	    {"nothing proven, bad signature", 1, 0, 0, ZTM_E_BADSIG, 0},
	    {"same weak key proven", 0, 1, 1, ZTM_E_WEAKKEY, 0},
	};
	EVP_PKEY *other = fx_key("P-256");
	struct ztm_buf other_spki;
	size_t i;

	ztm_buf_init(&other_spki, 0);
	fx_spki(other, &other_spki);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		EVP_PKEY *k = fx_key(rows[i].weak ? "RSA1024" : "P-256");
		struct ztm_buf der, spki;
		struct ztm_slice proven;
		struct ztm_csr csr;
		struct ztm_error e;
		int rc;

		ztm_buf_init(&der, 0);
		ztm_buf_init(&spki, 0);
		fx_csr(k, "dev-0001", NULL, NULL, &der);
		fx_spki(k, &spki);
		if (rows[i].bad_sig)
			der.data[der.len - 8] ^= 0x01;
		proven = rows[i].proven == 2 ? ztm_buf_slice(&other_spki) : ztm_buf_slice(&spki);
		if (rows[i].proven == 3)
			proven.len--;
		memset(&e, 0, sizeof(e));
		rc = ztm_csr_parse_pop(der.data, der.len, rows[i].proven != 0 ? &proven : NULL,
		                       &csr, &e);
		if ((rc == 0 ? ZTM_OK : e.code) != rows[i].want)
			fail_msg("%s: rc=%d %s %s", rows[i].name, rc, ztm_err_name(e.code), e.msg);
		assert_int_equal(csr.pop_by_peer, rows[i].by_peer);
		if (rc == 0) {
			/* Either way the SPKI and its hash are the CSR's. */
			assert_int_equal(csr.spki.len, spki.len);
			assert_memory_equal(csr.spki.p, spki.data, spki.len);
			assert_int_equal(strlen(csr.spki_sha256), 64);
			if (rows[i].by_peer)
				assert_null(csr.pkey);
			else
				assert_int_equal(EVP_PKEY_eq(csr.pkey, k), 1);
		}
		ztm_csr_free(&csr);
		ztm_buf_free(&der);
		ztm_buf_free(&spki);
		EVP_PKEY_free(k);
	}
	ztm_buf_free(&other_spki);
	EVP_PKEY_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_keys),
	    cmocka_unit_test(test_no_attributes),
	    cmocka_unit_test(test_tpm_evidence_attr),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_all_truncations),
	    cmocka_unit_test(test_openssl_cli_csrs),
	    cmocka_unit_test(test_pop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
