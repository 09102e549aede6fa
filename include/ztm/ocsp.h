/* ztm/ocsp.h - OCSP (RFC 6960) for ztmd: a strict DER reader for requests
 * and a writer for signed responses.
 *
 * The reader is the hot path of /ocsp: it walks the request with the DER
 * cursor (no OpenSSL decoding, no allocation) and fills slices that point
 * into the caller's bytes. What it accepts (docs/ocsp.md):
 *   - at most ZTM_OCSP_REQ_MAX bytes, 1..ZTM_OCSP_MAX_IDS CertIDs;
 *   - CertID hash algorithms SHA-1 and SHA-256 (parameters NULL or absent),
 *     hashes of the right length, serials of 1..20 octets in minimal DER;
 *   - the nonce extension (RFC 8954: 1..32 octets; 0 or more is
 *     malformedRequest), other non-critical extensions ignored, a critical
 *     one not understood refused, duplicates refused;
 *   - requestorName and optionalSignature are skipped after checking their
 *     framing: the signature is not verified and grants nothing, because
 *     every answer is public (RFC 6960 §4.1.2 leaves signing optional).
 * The writer builds an OCSPResponse with one BasicOCSPResponse, responderID
 * byKey, the responder certificate in certs, signed by a ztm_signer.
 */
#ifndef ZTM_OCSP_H
#define ZTM_OCSP_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"
#include "ztm/signer.h"

#define ZTM_OCSP_REQ_MAX    4096 /* request bytes (RFC 5019 §5: GET URLs under 255) */
#define ZTM_OCSP_MAX_IDS    8    /* CertIDs per request */
#define ZTM_OCSP_NONCE_MAX  32   /* RFC 8954 §2.1 */
#define ZTM_OCSP_SERIAL_MAX 20   /* RFC 5280 §4.1.2.2 */

enum ztm_ocsp_hash { ZTM_OCSP_SHA1, ZTM_OCSP_SHA256, ZTM_OCSP_HASH_COUNT };

/* OCSPResponseStatus (RFC 6960 §4.2.1); 4 is not used. */
enum ztm_ocsp_resp_status {
	ZTM_OCSP_SUCCESSFUL = 0,
	ZTM_OCSP_MALFORMED = 1,
	ZTM_OCSP_INTERNAL_ERROR = 2,
	ZTM_OCSP_TRY_LATER = 3,
	ZTM_OCSP_SIG_REQUIRED = 5,
	ZTM_OCSP_UNAUTHORIZED = 6,
};

struct ztm_ocsp_certid {
	enum ztm_ocsp_hash hash;
	struct ztm_slice name_hash, key_hash; /* 20 or 32 octets */
	struct ztm_slice serial;              /* INTEGER contents, minimal DER */
};

struct ztm_ocsp_req {
	struct ztm_ocsp_certid ids[ZTM_OCSP_MAX_IDS];
	size_t n_ids;
	struct ztm_slice nonce; /* the nonce octets; len 0 when absent */
	int has_signature;      /* optionalSignature present (not verified) */
};

/* Parses one DER OCSPRequest. On failure: -1 with ZTM_E_TOOBIG (over
 * ZTM_OCSP_REQ_MAX) or ZTM_E_PARSE and a message naming the field; every
 * refusal maps to malformedRequest. *out borrows from p. */
int ztm_ocsp_req_parse(const uint8_t *p, size_t len, struct ztm_ocsp_req *out,
                       struct ztm_error *err);

/* The issuerNameHash and issuerKeyHash of a CA for one hash algorithm
 * (RFC 6960 §4.1.1: over the subject Name DER and over the subjectPublicKey
 * BIT STRING value). name and key get ztm_ocsp_hash_len(h) octets. */
int ztm_ocsp_issuer_hashes(X509 *ca, enum ztm_ocsp_hash h, uint8_t name[32], uint8_t key[32],
                           struct ztm_error *err);
size_t ztm_ocsp_hash_len(enum ztm_ocsp_hash h);

enum ztm_ocsp_cert_status { ZTM_OCSP_GOOD, ZTM_OCSP_REVOKED, ZTM_OCSP_UNKNOWN };

/* RFC 5280 §5.3.1 CRLReason; ZTM_OCSP_NO_REASON omits the field. */
#define ZTM_OCSP_NO_REASON (-1)

struct ztm_ocsp_single {
	struct ztm_ocsp_certid id;
	enum ztm_ocsp_cert_status status;
	int64_t revoked_at;               /* Unix seconds, ZTM_OCSP_REVOKED only */
	int reason;                       /* 0..10 except 7, or ZTM_OCSP_NO_REASON */
	int64_t this_update, next_update; /* next_update 0: omitted */
};

/* A delegated responder: its certificate and a signer for its key. */
struct ztm_ocsp_responder;

/* Checks that key belongs to cert (by signing and verifying) and that cert
 * carries id-kp-OCSPSigning; prepares responderID byKey. Takes its own
 * references. */
struct ztm_ocsp_responder *ztm_ocsp_responder_new(X509 *cert, EVP_PKEY *key, struct ztm_error *err);
void ztm_ocsp_responder_free(struct ztm_ocsp_responder *r);
X509 *ztm_ocsp_responder_cert(const struct ztm_ocsp_responder *r);

/* Appends a successful OCSPResponse to out: n SingleResponses, producedAt,
 * the nonce extension when nonce.len > 0, signed by the responder. On
 * failure out is unchanged. */
int ztm_ocsp_resp_build(const struct ztm_ocsp_responder *r, const struct ztm_ocsp_single *s,
                        size_t n, struct ztm_slice nonce, int64_t produced_at, struct ztm_buf *out,
                        struct ztm_error *err);
/* Appends an unsigned OCSPResponse with status st (not SUCCESSFUL). */
int ztm_ocsp_resp_status(enum ztm_ocsp_resp_status st, struct ztm_buf *out);

#endif
