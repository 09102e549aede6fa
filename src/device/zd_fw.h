/* zd_fw.h - the parsers of firmware verification (docs/firmware-manifest.md):
 * the claims map shared by both forms and the COSE_Sign1 manifest. Plain C
 * on the strict CBOR reader (zd_cbor.h); no crypto here. Exposed for the
 * tests and the fuzzers. */
#ifndef ZTMDEV_ZD_FW_H
#define ZTMDEV_ZD_FW_H

#include "zd_crypto.h"
#include "ztmdev/ztmdev_fw.h"

#define ZD_FW_CLAIMS_MAX ((size_t)1024)
#define ZD_FW_SIZE_MAX   ((uint64_t)1 << 40)

/* Claim keys (the table of docs/firmware-manifest.md). */
#define ZD_FW_CLAIMS(X)                                                                            \
	X(1, product)                                                                              \
	X(2, version)                                                                              \
	X(3, security_version)                                                                     \
	X(4, size)                                                                                 \
	X(5, digest_alg)                                                                           \
	X(6, digest)                                                                               \
	X(7, channel)                                                                              \
	X(8, release)                                                                              \
	X(9, signed_at)

struct zd_fw_claims {
	char product[ZTMDEV_FW_NAME_MAX + 1];
	char version[ZTMDEV_FW_NAME_MAX + 1];
	uint32_t security_version;
	uint64_t size;
	uint8_t digest[32];
	unsigned channel; /* 0 production, 1 test */
	uint64_t release;
	uint64_t signed_at;
};

/* The claims CBOR: one map, every key of the table exactly once in
 * ascending order, each value of its type and range, nothing after it. */
int zd_fw_claims_parse(struct ztmdev *dev, const uint8_t *p, size_t n, struct zd_fw_claims *c);

#define ZD_COSE_ALG_ES256  (-7)
#define ZD_COSE_ALG_ES384  (-35)
#define ZD_COSE_ALG_EDDSA  (-8)
#define ZD_FW_CONTENT_TYPE "application/ztm-fw-claims+cbor"

/* A COSE_Sign1 manifest; the pointers are into the parsed input. */
struct zd_fw_manifest {
	int64_t alg;
	const uint8_t *protected_hdr; /* the protected bstr's contents */
	size_t protected_len;
	const uint8_t *payload; /* the claims CBOR */
	size_t payload_len;
	const uint8_t *sig;
	size_t sig_len;
	struct zd_certs chain; /* x5chain: signer first */
};

void zd_fw_manifest_init(struct zd_fw_manifest *m);
void zd_fw_manifest_free(struct zd_fw_manifest *m);
/* Tag 18, [protected, {}, payload, signature], the protected map exactly
 * {1: alg, 3: content type, 33: [+ bstr]}, at most 16 KiB, nothing after
 * it; the signature of alg's size. The payload is not parsed here. */
int zd_fw_manifest_parse(struct ztmdev *dev, const uint8_t *p, size_t n, struct zd_fw_manifest *m);
/* Sig_structure1 = ["Signature1", protected, h'', payload] (RFC 9052 §4.4). */
int zd_fw_sig_structure(const struct zd_fw_manifest *m, struct zd_buf *out);

#endif
