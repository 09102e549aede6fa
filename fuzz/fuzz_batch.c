/* fuzz_batch.c - libFuzzer target for the station batch format
 * (ztm/batch.h): the same input goes to
 *   1. ztm_batch_verify, trusting a station CA made at start-up: the
 *      envelope checks (size cap, strict DER head, CMS framing, signers);
 *   2. ztm_batch_parse_json: the batch document and every record;
 *   3. ztm_record_from_json: one record as a station queue file.
 * Seeds in fuzz/corpus/fuzz_batch/ are written by tests/unit/test_batch.c
 * and test_batch_doc.c
 * (ZTM_FUZZ_SEEDS=DIR): signed batches, a batch document, a record.
 *
 * Invariants (__builtin_trap on violation): nothing verifies against a CA
 * whose key never signed anything; a refusal leaves no records behind; a
 * parsed document holds 1..10000 records, each valid by the server's check
 * (ztm_record_validate_shape) on its own, serials
 * unique; a parsed record re-encodes and parses back to the same fields. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ztm/batch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static STACK_OF(X509) * trusted;

static void add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ex = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (ex == NULL || X509_add_ext(x, ex, -1) != 1)
		__builtin_trap();
	X509_EXTENSION_free(ex);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	trusted = sk_X509_new_null();
	if (k == NULL || x == NULL || n == NULL || trusted == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	                               (const unsigned char *)"fuzz station CA", -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL || X509_set_pubkey(x, k) != 1)
		__builtin_trap();
	add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, NID_key_usage, "critical,keyCertSign");
	add_ext(x, NID_subject_key_identifier, "hash");
	if (X509_sign(x, k, EVP_sha256()) <= 0 || sk_X509_push(trusted, x) == 0)
		__builtin_trap();
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	return 0;
}

static void check_batch(const struct ztm_batch *b)
{
	size_t i, j;

	if (b->n < 1 || b->n > ZTM_BATCH_MAX_RECORDS || b->records == NULL)
		__builtin_trap();
	for (i = 0; i < b->n; i++) {
		struct ztm_record r = b->records[i];
		struct ztm_error e;
		if (ztm_record_validate_shape(&r, &e) != 0 ||
		    strcmp(r.spki_sha256, b->records[i].spki_sha256))
			__builtin_trap();
		for (j = i + 1; j < b->n && j < i + 64; j++)
			if (strcmp(b->records[i].serial, b->records[j].serial) == 0)
				__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ztm_record rec, back;
	struct ztm_batch b;
	struct ztm_error e;
	struct ztm_buf js;
	X509 *signer = NULL;

	if (ztm_batch_verify(data, size, trusted, &b, &signer, &e) == 0)
		__builtin_trap(); /* the trusted CA's key signed nothing */
	if (b.records != NULL || b.n != 0 || signer != NULL)
		__builtin_trap();

	if (ztm_batch_parse_json(data, size, &b, &e) == 0) {
		check_batch(&b);
		ztm_batch_free(&b);
	} else if (b.records != NULL || b.n != 0) {
		__builtin_trap();
	}

	if (ztm_record_from_json(data, size, &rec, &e) == 0) {
		ztm_buf_init(&js, ZTM_RECORD_MAX_JSON);
		if (ztm_record_to_json(&rec, &js, &e) != 0 ||
		    ztm_record_from_json(js.data, js.len, &back, &e) != 0 ||
		    strcmp(back.serial, rec.serial) != 0 || back.cert_len != rec.cert_len ||
		    memcmp(back.cert, rec.cert, rec.cert_len) != 0 ||
		    back.recorded_at != rec.recorded_at || back.test_result != rec.test_result ||
		    back.kind != rec.kind)
			__builtin_trap();
		ztm_buf_free(&js);
	}
	return 0;
}
