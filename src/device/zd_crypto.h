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

#endif
