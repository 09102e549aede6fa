/* zd_tpm.h - the device's half of TPM key attestation (docs/attestation.md),
 * on the TSS's ESAPI (libtss2-esys): read the EK certificate, make an
 * attestation key, activate the server's credential with the EK, certify
 * the device key with the AK.
 *
 * A separate library (ztmdevtpm) so libztmdev stays OpenSSL + libc: hosts
 * with a TPM link it next to ztmdevtls. Every call returns 0 or -1 with a
 * reason in err. No secret is kept beyond the call that needs it. */
#ifndef ZTMDEV_ZD_TPM_H
#define ZTMDEV_ZD_TPM_H

#include <stddef.h>
#include <stdint.h>

#define ZD_TPM_EK_HANDLE       0x81010001u /* TCG: the RSA-2048 EK (L-1), persistent */
#define ZD_TPM_EK_NV_INDEX     0x01c00002u /* TCG: its certificate */
#define ZD_TPM_EK_ECC_HANDLE   0x81010002u /* TCG: the ECC P-256 EK (L-2), persistent */
#define ZD_TPM_EK_ECC_NV_INDEX 0x01c0000au /* TCG: its certificate */
#define ZD_TPM_BLOB_MAX        4096

/* Which endorsement key activates the credential. AUTO (the default): the
 * RSA EK when its certificate is in NV, else the ECC P-256 one. */
enum zd_tpm_ek { ZD_TPM_EK_AUTO, ZD_TPM_EK_RSA, ZD_TPM_EK_ECC };

struct zd_tpm;

/* Bytes out of the TPM, caller-allocated. */
struct zd_tpm_blob {
	uint8_t p[ZD_TPM_BLOB_MAX];
	size_t len;
};

/* tcti: a TCTI configuration ("swtpm:host=127.0.0.1,port=2321", "device:/dev/tpmrm0");
 * NULL = the TSS default. */
int zd_tpm_open(struct zd_tpm **out, const char *tcti, char *err, size_t errsize);
void zd_tpm_close(struct zd_tpm *t);
/* Chooses the EK before zd_tpm_ak (tests; a host that knows its TPM). */
int zd_tpm_use_ek(struct zd_tpm *t, enum zd_tpm_ek which);
/* The EK zd_tpm_ak took (RSA or ECC; AUTO before it). */
enum zd_tpm_ek zd_tpm_ek_in_use(const struct zd_tpm *t);

/* The EK certificate (DER, from NV: the RSA EK's or the ECC EK's, as
 * zd_tpm_use_ek says; the certificate tells the server the key type) and a
 * fresh attestation key: an ECC
 * P-256 restricted signing primary in the endorsement hierarchy, kept loaded
 * in t; its TPM2B_PUBLIC wire bytes into ak_public. */
int zd_tpm_ak(struct zd_tpm *t, struct zd_tpm_blob *ek_cert, struct zd_tpm_blob *ak_public,
              char *err, size_t errsize);
/* TPM2_ActivateCredential with the AK and the EK of the certificate
 * zd_tpm_ak read (policy: PolicySecret of the endorsement hierarchy): the
 * 32-byte credential into cred. The EK is the persistent one, or, when the
 * handle is empty, made from its TCG template for the call and flushed
 * after; either way it must hold the certificate's public key. */
int zd_tpm_activate(struct zd_tpm *t, const uint8_t *id_object, size_t id_len,
                    const uint8_t *enc_secret, size_t es_len, uint8_t cred[32], char *err,
                    size_t errsize);
/* TPM2_Certify of the key at persistent handle key_handle by the AK over
 * qualifying data qual: the key's TPM2B_PUBLIC, the TPMS_ATTEST and the
 * TPMT_SIGNATURE as wire bytes. */
int zd_tpm_certify(struct zd_tpm *t, uint32_t key_handle, const uint8_t *qual, size_t qual_len,
                   struct zd_tpm_blob *key_public, struct zd_tpm_blob *attest,
                   struct zd_tpm_blob *sig, char *err, size_t errsize);
/* The same for the device key of `ztm-device init --key tpm`: its TSS2
 * PRIVATE KEY blob file (docs/tpm.md), loaded under its parent for the
 * call and flushed after. */
int zd_tpm_certify_blob(struct zd_tpm *t, const char *blob_path, const uint8_t *qual,
                        size_t qual_len, struct zd_tpm_blob *key_public, struct zd_tpm_blob *attest,
                        struct zd_tpm_blob *sig, char *err, size_t errsize);
/* The TPM2B_PUBLIC of such a blob (no TPM needed). */
int zd_tpm_blob_public(const char *blob_path, struct zd_tpm_blob *key_public, char *err,
                       size_t errsize);
/* qualifyingData = SHA-256("ztm-tpm-attest-v1" 0x00 || cred || SPKI), the
 * SPKI DER of the ECC key whose TPM2B_PUBLIC is key_public (the CSR's key). */
int zd_tpm_qualifying_data(const uint8_t cred[32], const struct zd_tpm_blob *key_public,
                           uint8_t out[32], char *err, size_t errsize);
/* The ZtmTpmEvidence DER (docs/attestation.md) of the CSR attribute. */
int zd_tpm_evidence(const uint8_t cred[32], const struct zd_tpm_blob *ak_public,
                    const struct zd_tpm_blob *key_public, const struct zd_tpm_blob *attest,
                    const struct zd_tpm_blob *sig, struct zd_tpm_blob *out, char *err,
                    size_t errsize);

#endif
