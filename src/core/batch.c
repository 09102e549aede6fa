/* batch.c - the signed batch: CMS SignedData (RFC 5652) over a JSON
 * document of records, signed by the station (docs/records.md).
 *
 * Why CMS and not a home-made signature: an auditor holding the station CA
 * can check any stored batch with `openssl cms -verify`, and the signature
 * covers the exact bytes the station queued, so a batch re-sent after a
 * crash or a week offline is the same bytes (the server dedups by SHA-256).
 */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "batch_int.h"
#include "der.h"
#include "ztm/str.h"

/* The one entry of attribute nid in the subject as UTF-8, 1..64 bytes. */
static int subject_entry(X509 *x, int nid, char *out, size_t outsize)
{
	const X509_NAME *name = X509_get_subject_name(x);
	unsigned char *u = NULL;
	int i = X509_NAME_get_index_by_NID(name, nid, -1), n;

	if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0)
		return -1;
	n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n <= 0 || (size_t)n >= outsize || memchr(u, 0, (size_t)n) != NULL) {
		OPENSSL_free(u);
		return -1;
	}
	memcpy(out, u, (size_t)n);
	out[n] = '\0';
	OPENSSL_free(u);
	return 0;
}

/* Station identity from its certificate: CN = station, OU = factory (the
 * station profile, docs/profiles.md). */
static int station_of(X509 *x, char *factory, char *station, struct ztm_error *err)
{
	if (subject_entry(x, NID_commonName, station, ZTM_RECORD_MAX_NAME + 1) != 0 ||
	    subject_entry(x, NID_organizationalUnitName, factory, ZTM_RECORD_MAX_NAME + 1) != 0 ||
	    !ztm_record_valid_name(station) || !ztm_record_valid_name(factory))
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "signer certificate is not a station's (one CN and one OU, "
		                     "each a valid name)");
	return 0;
}

int ztm_batch_sign(struct ztm_record *records, size_t n, int64_t created_at, X509 *cert,
                   EVP_PKEY *key, struct ztm_buf *out, char *batch_id, struct ztm_error *err)
{
	char factory[ZTM_RECORD_MAX_NAME + 1], station[ZTM_RECORD_MAX_NAME + 1], id[33];
	uint8_t rnd[16];
	json_t *doc = NULL, *arr = NULL, *o;
	char *text = NULL;
	BIO *in = NULL;
	CMS_ContentInfo *cms = NULL;
	unsigned char *der = NULL;
	int len, rc = -1;
	size_t i;

	if (n == 0)
		return ztm_error_set(err, ZTM_E_USAGE, "a batch needs at least one record");
	if (n > ZTM_BATCH_MAX_RECORDS)
		return ztm_error_set(err, ZTM_E_TOOBIG, "%zu records: at most %d per batch", n,
		                     ZTM_BATCH_MAX_RECORDS);
	if (created_at < 1 || created_at > INT64_C(253402300799))
		return ztm_error_set(err, ZTM_E_USAGE, "created_at out of range");
	if (station_of(cert, factory, station, err) != 0)
		return -1;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "random batch id");
	ztm_hex(rnd, sizeof(rnd), id);
	arr = json_array();
	if (arr == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		struct ztm_error e;
		o = ztm_record_obj(&records[i], &e);
		if (o == NULL) {
			ztm_error_set(err, e.code, "record %zu: %s", i, e.msg);
			goto out;
		}
		if (json_array_append_new(arr, o) != 0)
			goto nomem;
	}
	doc = json_pack("{s:i,s:s,s:{s:s,s:s},s:I,s:O}", "version", ZTM_BATCH_VERSION, "batch_id",
	                id, "station", "factory", factory, "name", station, "created_at",
	                (json_int_t)created_at, "records", arr);
	if (doc == NULL)
		goto nomem;
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		goto nomem;
	if (strlen(text) > ZTM_BATCH_MAX_DER) {
		ztm_error_set(err, ZTM_E_TOOBIG, "batch content over %zu bytes", ZTM_BATCH_MAX_DER);
		goto out;
	}
	in = BIO_new_mem_buf(text, (int)strlen(text));
	if (in == NULL)
		goto nomem;
	/* CMS_BINARY: sign the bytes as they are, no MIME canonicalisation.
	 * No S/MIME capabilities: they say nothing here. */
	cms = CMS_sign(cert, key, NULL, in, CMS_BINARY | CMS_NOSMIMECAP);
	if (cms == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "signing the batch");
		goto out;
	}
	len = i2d_CMS_ContentInfo(cms, &der);
	if (len <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "encoding the batch");
		goto out;
	}
	if ((size_t)len > ZTM_BATCH_MAX_DER) {
		ztm_error_set(err, ZTM_E_TOOBIG, "batch of %d bytes: at most %zu", len,
		              ZTM_BATCH_MAX_DER);
		goto out;
	}
	if (ztm_buf_append(out, der, (size_t)len) != 0) {
		ztm_error_set(err, ZTM_E_TOOBIG, "batch does not fit the output buffer");
		goto out;
	}
	if (batch_id != NULL)
		memcpy(batch_id, id, sizeof(id));
	rc = 0;
	goto out;
nomem:
	ztm_error_set(err, ZTM_E_NOMEM, "building the batch");
out:
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	free(text);
	json_decref(doc);
	json_decref(arr);
	return rc;
}

void ztm_batch_free(struct ztm_batch *b)
{
	if (b == NULL)
		return;
	free(b->records);
	memset(b, 0, sizeof(*b));
}

#define OID_SIGNED_DATA "\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02"

/* The head of the envelope in strict DER, read before OpenSSL sees it:
 * OpenSSL accepts BER and ignores SignedData.version and digestAlgorithms,
 * so without this the same signed batch could arrive as different bytes.
 * RFC 5652 §5.1: version 1 here (id-data, issuerAndSerialNumber, no
 * attribute certificates); digestAlgorithms must then be exactly the
 * signer's digest algorithm (checked against the SignerInfo later). */
static int check_head(const uint8_t *der, size_t len, struct ztm_slice *digest_alg,
                      struct ztm_error *err)
{
	struct ztm_cursor c, ci, ex, sd, set;
	struct ztm_slice v, oid;

	ztm_cursor_init(&c, der, len);
	if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &v, NULL) != 0)
		goto bad;
	if (ztm_cursor_left(&c) != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "%zu bytes after the CMS ContentInfo",
		                     ztm_cursor_left(&c));
	ztm_cursor_init(&ci, v.p, v.len);
	if (ztm_der_get(&ci, ZTM_DER_OID, &oid, NULL) != 0)
		goto bad;
	if (!ztm_der_oid_is(oid, OID_SIGNED_DATA, ZTM_OID_LEN(OID_SIGNED_DATA)))
		return ztm_error_set(err, ZTM_E_PARSE, "batch is not SignedData (unsigned)");
	if (ztm_der_get(&ci, ZTM_DER_CTX_CONS(0), &v, NULL) != 0 || ztm_cursor_left(&ci) != 0)
		goto bad;
	ztm_cursor_init(&ex, v.p, v.len);
	if (ztm_der_get(&ex, ZTM_DER_SEQUENCE, &v, NULL) != 0 || ztm_cursor_left(&ex) != 0)
		goto bad;
	ztm_cursor_init(&sd, v.p, v.len);
	if (ztm_der_get(&sd, ZTM_DER_INTEGER, &v, NULL) != 0 || v.len != 1 || v.p[0] != 1)
		return ztm_error_set(err, ZTM_E_PARSE, "batch SignedData version is not 1");
	if (ztm_der_get(&sd, ZTM_DER_SET, &v, NULL) != 0)
		goto bad;
	ztm_cursor_init(&set, v.p, v.len);
	if (ztm_der_get(&set, ZTM_DER_SEQUENCE, NULL, digest_alg) != 0 ||
	    ztm_cursor_left(&set) != 0)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "batch digestAlgorithms is not exactly one algorithm");
	return 0;
bad:
	return ztm_error_set(err, ZTM_E_PARSE, "batch is not a DER CMS SignedData");
}

/* digestAlgorithms names the one algorithm the signer used, byte for byte. */
static int check_digest_alg(CMS_ContentInfo *cms, struct ztm_slice want, struct ztm_error *err)
{
	X509_ALGOR *alg = NULL;
	unsigned char *enc = NULL;
	int n, rc;

	CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0), NULL, NULL,
	                         &alg, NULL);
	n = alg != NULL ? i2d_X509_ALGOR(alg, &enc) : -1;
	rc = n > 0 && (size_t)n == want.len && memcmp(enc, want.p, want.len) == 0;
	OPENSSL_free(enc);
	if (!rc)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "batch digestAlgorithms differs from the signer's");
	return 0;
}

/* The envelope, before any signature work: what RFC 5652 allows but a
 * station batch never is gets refused by name. */
static CMS_ContentInfo *parse_envelope(const uint8_t *der, size_t len, struct ztm_error *err)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms;
	ASN1_OCTET_STRING **content;
	struct ztm_slice digest_alg;

	if (len == 0) {
		ztm_error_set(err, ZTM_E_PARSE, "empty batch");
		return NULL;
	}
	if (len > ZTM_BATCH_MAX_DER) {
		ztm_error_set(err, ZTM_E_TOOBIG, "batch of %zu bytes: at most %zu", len,
		              ZTM_BATCH_MAX_DER);
		return NULL;
	}
	if (check_head(der, len, &digest_alg, err) != 0)
		return NULL;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL) {
		ztm_error_ossl(err, ZTM_E_PARSE, "batch is not a CMS ContentInfo");
		return NULL;
	}
	if (p != der + len) {
		ztm_error_set(err, ZTM_E_PARSE, "%zu bytes after the CMS ContentInfo",
		              (size_t)(der + len - p));
		goto bad;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		ztm_error_set(err, ZTM_E_PARSE, "batch is not SignedData (unsigned)");
		goto bad;
	}
	if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
		ztm_error_set(err, ZTM_E_PARSE, "batch content type is not id-data");
		goto bad;
	}
	content = CMS_get0_content(cms);
	if (content == NULL || *content == NULL) {
		ztm_error_set(err, ZTM_E_PARSE, "batch has no encapsulated content (detached)");
		goto bad;
	}
	if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1) {
		ztm_error_set(err, ZTM_E_BADSIG, "batch has %d signers, not exactly one",
		              sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)));
		goto bad;
	}
	if (check_digest_alg(cms, digest_alg, err) != 0)
		goto bad;
	return cms;
bad:
	CMS_ContentInfo_free(cms);
	return NULL;
}

static X509_STORE *trust_store(STACK_OF(X509) * trusted, struct ztm_error *err)
{
	X509_STORE *st = X509_STORE_new();
	int i;

	if (st == NULL || sk_X509_num(trusted) < 1)
		goto fail;
	for (i = 0; i < sk_X509_num(trusted); i++)
		if (X509_STORE_add_cert(st, sk_X509_value(trusted, i)) != 1)
			goto fail;
	/* PARTIAL_CHAIN: the station CA is the anchor even though it chains to
	 * the root. Trusting the root instead would let a certificate of any
	 * other ztm CA (operator, device) sign batches.
	 * PURPOSE_ANY: the station certificate is a TLS client certificate
	 * (EKU clientAuth), and CMS would otherwise demand S/MIME signing. */
	if (X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT) != 1 ||
	    X509_STORE_set_purpose(st, X509_PURPOSE_ANY) != 1)
		goto fail;
	return st;
fail:
	ztm_error_ossl(err, ZTM_E_CONFIG, "batch trust store (no station CA given?)");
	X509_STORE_free(st);
	return NULL;
}

static int cmp_serial(const void *a, const void *b)
{
	const struct ztm_record *const *x = a, *const *y = b;
	int c = strcmp((*x)->serial, (*y)->serial);

	return c != 0 ? c : (*x < *y ? -1 : *x > *y);
}

/* A device appears once per batch: two records of one serial would make
 * "the record" for vetting ambiguous. Sorting keeps this O(n log n). */
static int check_unique(struct ztm_batch *b, struct ztm_error *err)
{
	const struct ztm_record **v = calloc(b->n, sizeof(*v));
	size_t i;
	int rc = 0;

	if (v == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "batch records");
	for (i = 0; i < b->n; i++)
		v[i] = &b->records[i];
	qsort(v, b->n, sizeof(*v), cmp_serial);
	for (i = 1; i < b->n && rc == 0; i++)
		if (strcmp(v[i - 1]->serial, v[i]->serial) == 0)
			rc = ztm_error_set(err, ZTM_E_PARSE,
			                   "record %zu: serial '%s' repeats record %zu",
			                   (size_t)(v[i] - b->records), v[i]->serial,
			                   (size_t)(v[i - 1] - b->records));
	free(v);
	return rc;
}

/* The JSON document inside a verified envelope (batch_json.c), then no
 * serial twice. */
static int parse_doc(const char *text, size_t len, struct ztm_batch *b, struct ztm_error *err)
{
	if (ztm_batch_doc_parse(text, len, b, err) != 0)
		return -1;
	return check_unique(b, err);
}

int ztm_batch_parse_json(const uint8_t *p, size_t n, struct ztm_batch *out, struct ztm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (n > ZTM_BATCH_MAX_DER)
		return ztm_error_set(err, ZTM_E_TOOBIG, "batch content over %zu bytes",
		                     ZTM_BATCH_MAX_DER);
	if (parse_doc((const char *)p, n, out, err) != 0) {
		ztm_batch_free(out);
		return -1;
	}
	return 0;
}

int ztm_batch_verify(const uint8_t *der, size_t len, STACK_OF(X509) * trusted,
                     struct ztm_batch *out, X509 **signer, struct ztm_error *err)
{
	CMS_ContentInfo *cms = NULL;
	X509_STORE *store = NULL;
	BIO *content = NULL;
	STACK_OF(X509) *signers = NULL;
	X509 *s = NULL;
	char factory[ZTM_RECORD_MAX_NAME + 1], station[ZTM_RECORD_MAX_NAME + 1];
	unsigned char md[32];
	char *text;
	long tlen;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (signer != NULL)
		*signer = NULL;
	cms = parse_envelope(der, len, err);
	if (cms == NULL)
		goto out;
	store = trust_store(trusted, err);
	content = BIO_new(BIO_s_mem());
	if (store == NULL || content == NULL) {
		if (content == NULL)
			ztm_error_set(err, ZTM_E_NOMEM, "batch content");
		goto out;
	}
	if (CMS_verify(cms, NULL, store, NULL, content, CMS_BINARY) != 1) {
		ztm_error_ossl(err, ZTM_E_BADSIG, "batch signature or signer chain");
		goto out;
	}
	signers = CMS_get0_signers(cms);
	if (sk_X509_num(signers) != 1) {
		ztm_error_set(err, ZTM_E_BADSIG, "batch signer not found");
		goto out;
	}
	s = sk_X509_value(signers, 0);
	if (X509_check_ca(s) != 0) {
		ztm_error_set(err, ZTM_E_POLICY, "batch signer is a CA, not a station");
		goto out;
	}
	if (station_of(s, factory, station, err) != 0)
		goto out;
	tlen = BIO_get_mem_data(content, &text);
	if (tlen <= 0) {
		ztm_error_set(err, ZTM_E_PARSE, "batch content is empty");
		goto out;
	}
	if (parse_doc(text, (size_t)tlen, out, err) != 0)
		goto fail_doc;
	if (strcmp(out->factory, factory) != 0 || strcmp(out->station, station) != 0) {
		ztm_error_set(err, ZTM_E_POLICY,
		              "batch names station %s/%s but is signed by station %s/%s",
		              out->factory, out->station, factory, station);
		goto fail_doc;
	}
	if (EVP_Digest(der, len, md, NULL, EVP_sha256(), NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "SHA-256");
		goto fail_doc;
	}
	ztm_hex(md, sizeof(md), out->sha256);
	if (signer != NULL) {
		if (X509_up_ref(s) != 1) {
			ztm_error_set(err, ZTM_E_INTERNAL, "signer reference");
			goto fail_doc;
		}
		*signer = s;
	}
	rc = 0;
	goto out;
fail_doc:
	ztm_batch_free(out);
out:
	sk_X509_free(signers);
	BIO_free(content);
	X509_STORE_free(store);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}
