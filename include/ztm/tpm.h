/* ztm/tpm.h - TPM 2.0 key attestation, the verifier's side
 * (docs/attestation.md).
 *
 * A device proves its key lives in a TPM and cannot leave it: an
 * attestation key (AK), bound to the TPM's endorsement key (EK) by
 * credential activation (MakeCredential here, ActivateCredential in the
 * TPM), certifies the device key with TPM2_Certify over a qualifyingData
 * that binds the request. The TPM structures are read with libtss2-mu (the
 * TSS's marshalling library, no crypto); every signature, digest, KDF and
 * cipher is OpenSSL's.
 */
#ifndef ZTM_TPM_H
#define ZTM_TPM_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"

#define ZTM_TPM_EVIDENCE_MAX  4096 /* DER of the CSR attribute's value */
#define ZTM_TPM_CRED_LEN      32   /* the credential (secret) MakeCredential wraps */
#define ZTM_TPM_NAME_MAX      66   /* nameAlg (2) + SHA-512 at most */
#define ZTM_TPM_EK_CERT_MAX   4096
#define ZTM_TPM_QUALIFY_LEN   32
#define ZTM_TPM_CHALLENGE_TTL 300 /* seconds a challenge may be answered */

#define ZTM_TPM_OID_EVIDENCE_TEXT "1.3.6.1.4.1.99999.2.1" /* the CSR attribute */

/* Every outcome of a verification, each its own refusal (X-macro: code,
 * wire name, text). */
#define ZTM_TPM_TABLE(X)                                                                           \
	X(ZTM_TPM_OK, "ok", "attested")                                                            \
	X(ZTM_TPM_MALFORMED, "attest_malformed", "the TPM evidence is malformed")                  \
	X(ZTM_TPM_AK_UNSUITABLE, "attest_ak_unsuitable",                                           \
	  "the attestation key is not a restricted, fixedTPM signing key")                         \
	X(ZTM_TPM_BAD_SIGNATURE, "attest_bad_signature",                                           \
	  "the certification is not signed by the attestation key")                                \
	X(ZTM_TPM_QUALIFYING_DATA, "attest_wrong_qualifying_data",                                 \
	  "the certification is not bound to this request (qualifyingData)")                       \
	X(ZTM_TPM_NAME_MISMATCH, "attest_name_mismatch",                                           \
	  "the certification names another object than the key public area sent")                  \
	X(ZTM_TPM_EXPORTABLE, "attest_key_exportable",                                             \
	  "the certified key may leave the TPM (fixedTPM, fixedParent, sensitiveDataOrigin)")      \
	X(ZTM_TPM_KEY_MISMATCH, "key_not_attested",                                                \
	  "the certified TPM key is not the request's key (a software key)")

enum ztm_tpm_verdict {
#define ZTM_TPM_X_ENUM(c, n, t) c,
	ZTM_TPM_TABLE(ZTM_TPM_X_ENUM)
#undef ZTM_TPM_X_ENUM
	    ZTM_TPM_VERDICT_COUNT
};

const char *ztm_tpm_verdict_name(enum ztm_tpm_verdict v);
const char *ztm_tpm_verdict_text(enum ztm_tpm_verdict v);

/* The fields of the evidence, slices into the caller's DER:
 *   ZtmTpmEvidence ::= SEQUENCE {
 *     version     INTEGER (1),
 *     credential  OCTET STRING (SIZE (32)),  -- activated secret: never log
 *     akPublic    OCTET STRING,  -- TPM2B_PUBLIC of the AK
 *     keyPublic   OCTET STRING,  -- TPM2B_PUBLIC of the certified key
 *     certifyInfo OCTET STRING,  -- TPMS_ATTEST the AK signed
 *     signature   OCTET STRING } -- TPMT_SIGNATURE over certifyInfo */
struct ztm_tpm_evidence {
	struct ztm_slice credential;
	struct ztm_slice ak_public;
	struct ztm_slice key_public;
	struct ztm_slice certify_info;
	struct ztm_slice signature;
};

/* Strict DER; 0 or -1 (ZTM_E_PARSE naming the field, ZTM_E_TOOBIG). */
int ztm_tpm_evidence_parse(const uint8_t *der, size_t len, struct ztm_tpm_evidence *out,
                           struct ztm_error *err);
/* The evidence DER for the fields of ev into out (tests, tools). */
int ztm_tpm_evidence_encode(const struct ztm_tpm_evidence *ev, struct ztm_buf *out,
                            struct ztm_error *err);

/* A TPM2B_PUBLIC (wire bytes, size prefix included): checked to be one
 * structure with nothing after it; its name (nameAlg || H(TPMT_PUBLIC))
 * into name/name_len, its key into *pkey (caller frees; may be NULL when
 * not wanted), its objectAttributes into *attrs. */
int ztm_tpm_public_read(struct ztm_slice tpm2b, uint8_t name[ZTM_TPM_NAME_MAX], size_t *name_len,
                        EVP_PKEY **pkey, uint32_t *attrs, struct ztm_error *err);
/* The AK: ztm_tpm_public_read and the attributes of an attestation key
 * (restricted signing, fixedTPM, fixedParent, sensitiveDataOrigin, not
 * decrypt). ZTM_E_POLICY when it is not one. */
int ztm_tpm_ak_check(struct ztm_slice ak_public, uint8_t name[ZTM_TPM_NAME_MAX], size_t *name_len,
                     struct ztm_error *err);

/* qualifyingData = SHA-256("ztm-tpm-attest-v1" 0x00 || credential || spki):
 * spki the request key's SubjectPublicKeyInfo DER. */
int ztm_tpm_qualifying_data(struct ztm_slice credential, struct ztm_slice spki,
                            uint8_t out[ZTM_TPM_QUALIFY_LEN]);

/* Verifies ev for a request whose key is spki (DER), in default-fail
 * order: AK, signature over certifyInfo, TPM_GENERATED + ST_ATTEST_CERTIFY,
 * qualifyingData, certified name = name of keyPublic, keyPublic's
 * attributes, keyPublic's key = spki. The AK's name lands in ak_name (for
 * the challenge lookup). err says why in words; the verdict is the code. */
enum ztm_tpm_verdict ztm_tpm_evidence_verify(const struct ztm_tpm_evidence *ev,
                                             struct ztm_slice spki,
                                             uint8_t ak_name[ZTM_TPM_NAME_MAX], size_t *ak_name_len,
                                             struct ztm_error *err);

/* The EKs MakeCredential can wrap to: the TCG EK Credential Profile's
 * default templates (nameAlg SHA-256, AES-128-CFB). */
enum ztm_tpm_ek_kind {
	ZTM_TPM_EK_UNSUPPORTED,
	ZTM_TPM_EK_RSA2048,  /* template L-1, persistent 0x81010001, cert NV 0x01c00002 */
	ZTM_TPM_EK_ECC_P256, /* template L-2, persistent 0x81010002, cert NV 0x01c0000a */
};
enum ztm_tpm_ek_kind ztm_tpm_ek_kind(EVP_PKEY *ek);

/* TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, Part 3 §12.6)
 * towards an EK of the TCG default templates: RSA-2048 (seed wrapped with
 * RSA-OAEP-SHA256 label "IDENTITY") or ECC P-256 (seed by ECDH with an
 * ephemeral key and KDFe = OpenSSL SSKDF; the secret is the ephemeral
 * point); KDFa = SP 800-108 counter-mode HMAC (OpenSSL KBKDF). Writes the
 * TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET wire bytes. */
int ztm_tpm_make_credential(EVP_PKEY *ek, const uint8_t *name, size_t name_len,
                            const uint8_t cred[ZTM_TPM_CRED_LEN], struct ztm_buf *id_object,
                            struct ztm_buf *enc_secret, struct ztm_error *err);

/* The TPM manufacturers' CAs ([attestation] ek_roots): a PEM file whose
 * self-signed certificates are trust anchors and the others
 * intermediates. */
struct ztm_tpm_roots;
struct ztm_tpm_roots *ztm_tpm_roots_load(const char *path, struct ztm_error *err);
void ztm_tpm_roots_free(struct ztm_tpm_roots *r);
/* Verifies an EK certificate (DER) against roots at time now; on success
 * its public key into *ek (caller frees). ZTM_E_PARSE when it does not
 * parse, ZTM_E_AUTH when it does not chain (a forged or foreign EK),
 * ZTM_E_WEAKKEY when its key is neither an RSA-2048 nor a P-256 EK. */
int ztm_tpm_ek_verify(const struct ztm_tpm_roots *roots, const uint8_t *der, size_t len,
                      int64_t now, EVP_PKEY **ek, struct ztm_error *err);

#endif
