/* ztm/batch.h - the station's manufacturing records and the signed batch
 * that carries them to ztmd (DESIGN.md 3 step 3; fields in docs/records.md).
 *
 * A record is what a station knows about one device it built. A batch is a
 * CMS SignedData (RFC 5652) whose signer is the station certificate and
 * whose encapsulated id-data content is a JSON document holding the
 * records. The server verifies the exact bytes it received, however long
 * they sat in the station's offline queue, and an outside party can check
 * the same bytes with `openssl cms -verify`.
 *
 * One set of validators serves both sides: `ztm station record` refuses a
 * malformed field before it reaches the queue, and ztm_batch_verify refuses
 * the whole batch (naming the record index) if any record is malformed.
 */
#ifndef ZTM_BATCH_H
#define ZTM_BATCH_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"
#include "ztm/record_kind.h"

/* Caps (docs/records.md). */
#define ZTM_BATCH_MAX_DER     ((size_t)16 * 1024 * 1024)
#define ZTM_BATCH_MAX_RECORDS 10000
/* What one upload may be by default: ztmd's [server] max_batch_bytes and
 * `ztm station sync --max-bytes`. The default --max (records per batch)
 * fits it with typical records (~1.1 KB of JSON each with a P-256
 * bootstrap certificate); larger records make the station split further. */
#define ZTM_BATCH_DEFAULT_BYTES   ((size_t)8 * 1024 * 1024)
#define ZTM_BATCH_DEFAULT_RECORDS 5000
#define ZTM_BATCH_VERSION         1
#define ZTM_RECORD_MAX_NAME       64 /* product, order, factory, station */
#define ZTM_RECORD_MAX_SERIAL     64 /* X.520 ub-serial-number */
#define ZTM_RECORD_MAX_HWREV      32
#define ZTM_RECORD_MAX_FWVER      64
#define ZTM_RECORD_MAX_CERT       4096 /* bootstrap certificate DER */
#define ZTM_RECORD_MAX_JSON       8192 /* one record as JSON (queue file) */

struct ztm_record {
	char serial[ZTM_RECORD_MAX_SERIAL + 1];
	char product[ZTM_RECORD_MAX_NAME + 1];
	char order[ZTM_RECORD_MAX_NAME + 1];
	char hw_rev[ZTM_RECORD_MAX_HWREV + 1];
	char mac[18]; /* aa:bb:cc:dd:ee:ff */
	char fw_version[ZTM_RECORD_MAX_FWVER + 1];
	char fw_sha256[65]; /* lower-case hex */
	enum ztm_test_result test_result;
	enum ztm_key_origin key_origin;
	enum ztm_record_kind kind; /* optional member "kind", absent = new */
	int64_t recorded_at;       /* station clock, Unix seconds */
	/* The device's self-signed bootstrap certificate, DER. */
	uint8_t cert[ZTM_RECORD_MAX_CERT];
	size_t cert_len;
	/* Filled by ztm_record_check_cert: SHA-256 of the certificate's
	 * SubjectPublicKeyInfo (lower-case hex), the key vetting compares with
	 * the CSR's (csr.h spki_sha256). */
	char spki_sha256[65];
};

/* Field validators (1 valid, 0 not). Names: 1-64 of A-Z a-z 0-9 . _ -
 * (the admin API's alphabet). Serial: 1-64 of A-Z a-z 0-9 . -, first
 * character a letter or digit (PrintableString, and safe as a file name). */
int ztm_record_valid_name(const char *s);
int ztm_record_valid_serial(const char *s);
int ztm_record_valid_hw_rev(const char *s);
int ztm_record_valid_fw_version(const char *s);
int ztm_record_valid_mac(const char *s);
int ztm_record_valid_sha256(const char *s);
int ztm_test_result_parse(const char *s, enum ztm_test_result *out);
int ztm_key_origin_parse(const char *s, enum ztm_key_origin *out);
const char *ztm_test_result_name(enum ztm_test_result t);
const char *ztm_key_origin_name(enum ztm_key_origin k);
int ztm_record_kind_parse(const char *s, enum ztm_record_kind *out);
const char *ztm_record_kind_name(enum ztm_record_kind k);

/* The server's check of the bootstrap certificate in r->cert, from its
 * DER alone (no OpenSSL decoding, no signature): strict DER framing of the
 * certificate and its TBS, nothing trailing, both signature algorithms
 * equal, issuer == subject byte for byte (self-issued), the key passes the
 * key policy (ztm_spki_check), the subject's one serialNumber (2.5.4.5) is
 * exactly r->serial. Fills r->spki_sha256 (SHA-256 of the SPKI DER).
 * ZTM_E_TOOBIG / ZTM_E_PARSE / ZTM_E_WEAKKEY / ZTM_E_POLICY.
 *
 * It does not verify the self-signature: at ingest that check protects
 * nothing the batch signature and registration do not (docs/records.md,
 * "Checks at ingest"), and it cost ~85% of the server's time per record. */
int ztm_record_check_cert_shape(struct ztm_record *r, struct ztm_error *err);
/* The station's check: ztm_record_check_cert_shape, then the certificate
 * through OpenSSL (d2i_X509), self-issued (X509_self_signed) and its
 * self-signature verifies with its own key; ZTM_E_BADSIG when not. */
int ztm_record_check_cert(struct ztm_record *r, struct ztm_error *err);
/* Every field but the certificate (a station checks what it was told
 * before it makes a key for it). */
int ztm_record_validate_fields(const struct ztm_record *r, struct ztm_error *err);
/* Every field, then the certificate (ztm_record_check_cert): what
 * `ztm station record` and ztm_batch_sign require. */
int ztm_record_validate(struct ztm_record *r, struct ztm_error *err);
/* Every field, then ztm_record_check_cert_shape: what the server requires
 * of each record of a batch (ztm_batch_verify, ztm_batch_parse_json). */
int ztm_record_validate_shape(struct ztm_record *r, struct ztm_error *err);

/* One record as a compact JSON object (appended to out). Validates first. */
int ztm_record_to_json(struct ztm_record *r, struct ztm_buf *out, struct ztm_error *err);
/* Parses and validates one record JSON object (a queue file): duplicate
 * and unknown members refused, every field required. */
int ztm_record_from_json(const uint8_t *p, size_t n, struct ztm_record *out, struct ztm_error *err);

struct ztm_batch {
	char batch_id[33]; /* 128 random bits, lower-case hex */
	char factory[ZTM_RECORD_MAX_NAME + 1];
	char station[ZTM_RECORD_MAX_NAME + 1];
	int64_t created_at;
	struct ztm_record *records; /* n records, owned */
	size_t n;
	char sha256[65]; /* SHA-256 of the whole DER received: the dedup key */
};

/* Signs records[0..n) as one batch: a fresh random batch_id, the station
 * identity from the signer certificate's subject (CN = station, OU =
 * factory), created_at as given. key may live in any provider (file, HSM,
 * TPM). DER appended to out; batch_id (33 bytes) returned if not NULL.
 * Fails with ZTM_E_TOOBIG past the caps, nothing appended. */
int ztm_batch_sign(struct ztm_record *records, size_t n, int64_t created_at, X509 *cert,
                   EVP_PKEY *key, struct ztm_buf *out, char *batch_id, struct ztm_error *err);

/* The server side. Caps the size before parsing; checks the envelope
 * (ContentInfo signedData, eContentType id-data, content attached, exactly
 * one signer, nothing trailing); verifies the signature and the signer's
 * chain to one of `trusted` (the station CA certificates, taken as trust
 * anchors even when not self-signed); the signer must be a leaf whose
 * subject matches the batch's station; then the JSON strictly and every
 * record (ztm_record_validate_shape). All or nothing: on any failure *out is empty and err names
 * the reason (and the record index). On success the caller owns out (free with ztm_batch_free) and
 * *signer (X509_free) when signer != NULL. */
int ztm_batch_verify(const uint8_t *der, size_t len, STACK_OF(X509) * trusted,
                     struct ztm_batch *out, X509 **signer, struct ztm_error *err);
void ztm_batch_free(struct ztm_batch *b);
/* The JSON content alone, strictly, every record validated as the server
 * does (ztm_record_validate_shape); no signature
 * and no station binding (that is ztm_batch_verify's). All or nothing.
 * Exposed for the fuzz target and for tools that read stored batches. */
int ztm_batch_parse_json(const uint8_t *p, size_t n, struct ztm_batch *out, struct ztm_error *err);

#endif
