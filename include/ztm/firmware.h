/* ztm/firmware.h - the signing side of firmware releases (issue 5): the
 * claims as deterministic CBOR, the COSE_Sign1 manifest and the detached CMS
 * SignedData, exactly as docs/firmware-manifest.md lays them out. ztmd signs
 * from the image's SHA-256 alone: it never needs the image.
 *
 * Verification on devices is libztmdev's (src/device); `ztm firmware verify`
 * checks the CMS form with OpenSSL on the operator's side.
 */
#ifndef ZTM_FIRMWARE_H
#define ZTM_FIRMWARE_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"

/* docs/firmware-manifest.md "Object identifiers". */
#define ZTM_FW_OID_TEXT            "2.25.89904570167144526415718935782041833074"
#define ZTM_FW_OID_PRODUCTION_TEXT ZTM_FW_OID_TEXT ".1"
#define ZTM_FW_OID_TEST_TEXT       ZTM_FW_OID_TEXT ".2"
#define ZTM_FW_OID_CLAIMS_TEXT     ZTM_FW_OID_TEXT ".3"

#define ZTM_FW_CONTENT_TYPE "application/ztm-fw-claims+cbor"
#define ZTM_FW_MANIFEST_MAX (16 * 1024)
#define ZTM_FW_SIZE_MAX     ((uint64_t)1 << 40)
#define ZTM_FW_SVN_MAX      UINT64_C(0xffffffff)
#define ZTM_FW_NAME_MAX     64

/* The claim's channel value (key 7). */
enum ztm_fw_channel { ZTM_FW_PRODUCTION = 0, ZTM_FW_TEST = 1 };

/* "production" / "test" <-> enum; -1 if unknown. */
int ztm_fw_channel_parse(const char *name, enum ztm_fw_channel *out);
const char *ztm_fw_channel_name(enum ztm_fw_channel c);

struct ztm_fw_claims {
	char product[ZTM_FW_NAME_MAX + 1]; /* 1-64 bytes */
	char version[ZTM_FW_NAME_MAX + 1]; /* 1-64 of A-Z a-z 0-9 . _ - + ~ */
	uint64_t security_version;         /* 0 .. 2^32-1 */
	uint64_t size;                     /* 1 .. 2^40 */
	uint8_t digest[32];                /* SHA-256 of the image */
	enum ztm_fw_channel channel;
	uint64_t release;   /* ztmd's release id */
	uint64_t signed_at; /* Unix time */
};

/* 1 when v is a valid version string (1-64 of A-Z a-z 0-9 . _ - + ~). */
int ztm_fw_version_valid(const char *v);
/* Every field within its documented range; ZTM_E_USAGE naming the field. */
int ztm_fw_claims_check(const struct ztm_fw_claims *c, struct ztm_error *err);

/* Appends the claims map in deterministic CBOR (RFC 8949 §4.2.1). */
int ztm_fw_claims_encode(const struct ztm_fw_claims *c, struct ztm_buf *out, struct ztm_error *err);

/* Appends the COSE_Sign1 manifest signed by key (P-256: ES256), with
 * x5chain = signer, then chain[0..n_chain) (the codesign CA; never the root). */
int ztm_fw_manifest_sign(const struct ztm_fw_claims *c, EVP_PKEY *key, X509 *signer,
                         X509 *const *chain, size_t n_chain, struct ztm_buf *out,
                         struct ztm_error *err);

/* Appends the DER ContentInfo of a detached SignedData over the image whose
 * SHA-256 is c->digest: signed attributes contentType, messageDigest (that
 * digest), signingTime (c->signed_at) and id-aa-ztmFirmwareClaims (the CBOR
 * claims); certificates signer then chain. P-256 signer keys only. */
int ztm_fw_cms_sign(const struct ztm_fw_claims *c, EVP_PKEY *key, X509 *signer, X509 *const *chain,
                    size_t n_chain, struct ztm_buf *out, struct ztm_error *err);

#endif
