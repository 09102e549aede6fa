/* ztm/csr.h - PKCS#10 certification requests (RFC 2986), parsed strictly.
 *
 * ztm_csr_parse caps the input (16 KiB) before looking at it, walks the DER
 * itself with a bounds-checked cursor (strict DER: minimal lengths, nothing
 * trailing anywhere), applies the key policy to the encoded
 * SubjectPublicKeyInfo, decodes the public key once and verifies the
 * self-signature with it. Nothing is re-encoded: the SPKI bytes are kept so
 * the certificate can carry them verbatim (PERFORMANCE.md: decoding and
 * re-encoding the key cost more than signing).
 */
#ifndef ZTM_CSR_H
#define ZTM_CSR_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"
#include "ztm/lint.h"

#define ZTM_CSR_MAX_DER (16 * 1024)
#define ZTM_CSR_MAX_SAN 16

struct ztm_csr_san {
	enum ztm_san_type type; /* ZTM_SAN_DNS or ZTM_SAN_URI */
	struct ztm_slice value; /* IA5String bytes, not NUL-terminated */
};

struct ztm_csr {
	struct ztm_buf der;       /* private copy: every slice points into it */
	struct ztm_slice cri;     /* CertificationRequestInfo TLV (signed bytes) */
	struct ztm_slice subject; /* subject Name TLV */
	struct ztm_slice spki;    /* SubjectPublicKeyInfo TLV, for the certificate */
	struct ztm_spki_info key_info;
	char spki_sha256[65]; /* lower-case hex SHA-256 of spki */
	struct ztm_csr_san san[ZTM_CSR_MAX_SAN];
	size_t n_san;
	/* challengePassword value bytes, or p == NULL. A secret: never log it;
	 * ztm_csr_free wipes it. */
	struct ztm_slice challenge;
	/* The id-ztm-tpmEvidence attribute's value, the whole SEQUENCE TLV
	 * (docs/attestation.md), or p == NULL. Holds an activated credential:
	 * never log it; wiped with the CSR. */
	struct ztm_slice tpm_evidence;
	EVP_PKEY *pkey; /* the verified public key, owned; NULL when pop_by_peer */
	/* 1: the self-signature was not verified because the caller proved
	 * possession of this very key otherwise (ztm_csr_parse_pop). */
	int pop_by_peer;
};

/* 0 and *out filled, or -1: ZTM_E_TOOBIG (over the cap), ZTM_E_PARSE
 * (malformed, with where), ZTM_E_WEAKKEY (key policy), ZTM_E_BADSIG. On
 * failure *out holds nothing to free (ztm_csr_free is still safe). */
int ztm_csr_parse(const uint8_t *der, size_t len, struct ztm_csr *out, struct ztm_error *err);
/* As ztm_csr_parse, except when proven is not NULL and the CSR's
 * SubjectPublicKeyInfo is byte for byte proven: then the caller already
 * holds proof of possession of that key (ztmd: the TLS client
 * certificate's key, proven by the handshake's CertificateVerify), and the
 * key is neither decoded nor the self-signature verified (csr->pop_by_peer
 * = 1, csr->pkey NULL). Every other check is the same; a CSR for any other
 * key is verified, and refused with ZTM_E_BADSIG when it does not. */
int ztm_csr_parse_pop(const uint8_t *der, size_t len, const struct ztm_slice *proven,
                      struct ztm_csr *out, struct ztm_error *err);
void ztm_csr_free(struct ztm_csr *csr);

/* Decodes the subject for display or policy (not on the issuance path:
 * ztm takes the subject from the vetted record, not from the CSR). The
 * caller frees the result with X509_NAME_free. */
X509_NAME *ztm_csr_subject_name(const struct ztm_csr *csr, struct ztm_error *err);
/* The subject as RFC 2253 text into out (replaces its contents). */
int ztm_csr_subject_text(const struct ztm_csr *csr, struct ztm_buf *out, struct ztm_error *err);

#endif
