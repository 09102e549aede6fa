/* zd_crypto.h - the crypto seam of libztmdev. Exactly one backend per build
 * implements these functions (crypto_openssl.c today; an mbedTLS or wolfSSL
 * file can replace it for microcontrollers). Everything crosses the seam as
 * DER or PEM bytes, so no backend type leaks into the rest of the library.
 *
 * The key-origin seam: zd_key_generate/zd_key_read make a struct zd_key from
 * a software key; a TPM or PKCS#11 origin adds a constructor for the same
 * struct (the backend signs through it, the library never sees key bytes).
 * Every function sets dev->err on failure and returns -1.
 */
#ifndef ZTMDEV_ZD_CRYPTO_H
#define ZTMDEV_ZD_CRYPTO_H

#include "zd_int.h"

/* The subject of the bootstrap certificate and the CSR. */
struct zd_subject {
	const char *cn;     /* <product>-<serial> */
	const char *serial; /* X520 serialNumber (PrintableString) */
};

/* A new EC P-256 key from the backend's CSPRNG. */
int zd_key_generate(struct ztmdev *dev, struct zd_key **out);
void zd_key_free(struct zd_key *k);
/* PKCS#8 PEM: encrypted (PBES2, AES-256-CBC) when passlen > 0, else plain. */
int zd_key_write(struct ztmdev *dev, const struct zd_key *k, const uint8_t *pass, size_t passlen,
                 struct zd_buf *pem);
int zd_key_read(struct ztmdev *dev, const uint8_t *pem, size_t len, const uint8_t *pass,
                size_t passlen, struct zd_key **out);
/* The key's SubjectPublicKeyInfo DER. */
int zd_key_spki(struct ztmdev *dev, const struct zd_key *k, struct zd_buf *out);

/* --- the TPM 2.0 key origin (crypto_openssl_tpm.c, docs/tpm.md) ------- */

/* The backend's session with the TPM, opened on first use and kept in
 * dev->tpm until ztmdev_free: one connection per context, because a TPM
 * without a resource manager (swtpm, /dev/tpm0) serves one at a time. */
struct zd_tpm;
void zd_tpm_free(struct zd_tpm *t);
/* A new EC P-256 signing key generated inside the TPM, under the storage
 * primary key of the owner hierarchy; its private part never leaves it
 * (fixedTPM, fixedParent, sensitiveDataOrigin). */
int zd_tpm_key_generate(struct ztmdev *dev, struct zd_key **out);
/* The key's TPM blob as "TSS2 PRIVATE KEY" PEM: its public area and its
 * private area encrypted by the TPM's storage key, so only that TPM can
 * load it. */
int zd_tpm_key_write(struct ztmdev *dev, const struct zd_key *k, struct zd_buf *pem);
int zd_tpm_key_read(struct ztmdev *dev, const uint8_t *pem, size_t len, struct zd_key **out);

/* A self-signed end-entity certificate (clientAuth, digitalSignature) for
 * the key, valid from not_before to not_after, with a random serial. */
int zd_cert_self_signed(struct ztmdev *dev, const struct zd_key *k, const struct zd_subject *s,
                        int64_t not_before, int64_t not_after, struct zd_buf *der);
int zd_csr_make(struct ztmdev *dev, const struct zd_key *k, const struct zd_subject *s,
                struct zd_buf *der);

/* The certificates of a certs-only PKCS#7 SignedData (DER). */
int zd_p7_certs(struct ztmdev *dev, const uint8_t *der, size_t len, struct zd_certs *out);
/* The certificate's SubjectPublicKeyInfo DER. */
int zd_cert_spki(struct ztmdev *dev, const uint8_t *der, size_t len, struct zd_buf *out);
/* leaf chains, through the untrusted certificates, to a self-signed
 * certificate of anchors (the others there count as untrusted), for TLS
 * client authentication, at time `at`. */
int zd_chain_verify(struct ztmdev *dev, const struct zd_buf *leaf, const struct zd_certs *untrusted,
                    const struct zd_certs *anchors, int64_t at);
/* An ownership voucher (docs/vouchers.md): a CMS SignedData (DER, nothing
 * trailing) of content type id-ct-animaJSONVoucher with embedded content
 * and exactly one signer, whose signature verifies, whose certificate
 * chains (through the message's certificates and the anchors'
 * intermediates) to a self-signed root of anchors at time `at`, and
 * carries extendedKeyUsage id-kp-ztmVoucherSigning. Only then is the signed
 * content appended to content. */
int zd_voucher_open(struct ztmdev *dev, const uint8_t *der, size_t len,
                    const struct zd_certs *anchors, int64_t at, struct zd_buf *content);
int zd_sha256(struct ztmdev *dev, const uint8_t *p, size_t n, uint8_t out[32]);

/* Subject, serial and expiry for ztmdev_status. */
int zd_cert_info(struct ztmdev *dev, const struct zd_buf *der, struct ztmdev_status *st);

/* --- firmware verification (fw.c, docs/firmware-manifest.md) ----------- */

/* Signature algorithms of the firmware path. The raw forms are COSE's
 * (r || s, each the curve's size, RFC 9053 §2.1), converted to the
 * backend's form inside zd_sig_verify; the DER forms are CMS's. */
enum zd_sig_alg {
	ZD_SIG_ES256 = 1, /* ECDSA P-256 SHA-256, raw r || s (64 bytes) */
	ZD_SIG_ES384,     /* ECDSA P-384 SHA-384, raw r || s (96 bytes) */
	ZD_SIG_ED25519,   /* PureEdDSA Ed25519 (64 bytes) */
	ZD_SIG_ES256_DER, /* ECDSA P-256 SHA-256, DER Ecdsa-Sig-Value */
	ZD_SIG_ES384_DER, /* ECDSA P-384 SHA-384, DER Ecdsa-Sig-Value */
};

/* The one signature check of firmware verification (both forms, and the
 * Wycheproof test): spki (SubjectPublicKeyInfo DER, named curve only) must
 * be the key type of alg; 0 only when sig is a valid signature of msg. */
int zd_sig_verify(struct ztmdev *dev, enum zd_sig_alg alg, const uint8_t *spki, size_t spki_len,
                  const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len);

enum zd_key_type { ZD_KEY_NONE = 0, ZD_KEY_P256, ZD_KEY_P384, ZD_KEY_ED25519 };

/* A firmware signer as zd_fw_signer_verify found it. */
struct zd_fw_signer {
	struct zd_buf spki; /* DER */
	enum zd_key_type key;
	int channel_production; /* certificatePolicies has id-ztm-fw-channel-production */
	int channel_test;       /* ... id-ztm-fw-channel-test */
	char subject[256];      /* RFC 2253 */
};

void zd_fw_signer_init(struct zd_fw_signer *s);
void zd_fw_signer_free(struct zd_fw_signer *s);
/* chain[0] (the signer) chains through chain[1..] to a self-signed
 * certificate of roots at time at (X509_V_FLAG_X509_STRICT), carries
 * extendedKeyUsage id-kp-codeSigning and keyUsage digitalSignature, and
 * has a P-256, P-384 or Ed25519 key; its key and channel policies go to
 * out. The chain error comes before the usage error (the check order of
 * docs/firmware-manifest.md). */
int zd_fw_signer_verify(struct ztmdev *dev, const struct zd_certs *chain,
                        const struct zd_certs *roots, int64_t at, struct zd_fw_signer *out);

/* A streamed digest. */
enum zd_md_alg { ZD_MD_SHA256 = 1, ZD_MD_SHA384, ZD_MD_SHA512 };
struct zd_md;
struct zd_md *zd_md_new(struct ztmdev *dev, enum zd_md_alg alg);
int zd_md_update(struct zd_md *m, const uint8_t *p, size_t n);
/* out holds at least 64 bytes; *len is the digest's size. */
int zd_md_final(struct ztmdev *dev, struct zd_md *m, uint8_t *out, size_t *len);
void zd_md_free(struct zd_md *m);

/* A detached CMS firmware signature as the backend parsed it: everything
 * the checks need, none of them done yet except the structure. */
struct zd_fw_cms {
	struct zd_certs chain; /* the signer's certificate first, then the others */
	enum zd_md_alg md;     /* digestAlgorithm */
	uint8_t message_digest[64];
	size_t message_digest_len;
	enum zd_sig_alg sig_alg; /* from signatureAlgorithm (and md) */
	struct zd_buf tbs;       /* the signed attributes, DER SET OF (RFC 5652 §5.4) */
	struct zd_buf sig;
	struct zd_buf claims; /* id-aa-ztmFirmwareClaims: the claims CBOR */
};

void zd_fw_cms_init(struct zd_fw_cms *c);
void zd_fw_cms_free(struct zd_fw_cms *c);
/* DER ContentInfo of SignedData, nothing trailing, detached (no
 * eContent), eContentType id-data, exactly one SignerInfo whose
 * certificate is in the message, signed attributes with contentType
 * id-data, one messageDigest of the digest's size and one claims
 * attribute. */
int zd_fw_cms_parse(struct ztmdev *dev, const uint8_t *der, size_t len, struct zd_fw_cms *out);

#endif
