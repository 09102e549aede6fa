/* ztmdev/ztmdev_fw.h - firmware verification on the device
 * (docs/device-firmware.md; the formats: docs/firmware-manifest.md).
 *
 * A streaming, default-fail verifier for a ztm firmware signature - the
 * COSE_Sign1 manifest (.ztmfw) or the detached CMS SignedData (.cms),
 * told apart by their first byte - over an image the caller streams in
 * pieces of any size; the image is never held whole:
 *
 *   fw = ztmdev_fw_begin(dev, sig, sig_len, &policy);  parse, chain to the
 *        pinned root, codeSigning EKU, signature, product, channel and
 *        security version: a bad signature fails here, before any image
 *   ztmdev_fw_update(fw, p, n) ...                      hashing; a stream
 *        longer than the signed size fails at once
 *   ztmdev_fw_final(fw, &result)                        size and digest
 *   (install the image)
 *   ztmdev_fw_commit_svn(fw)                            raise the counter
 *   ztmdev_fw_free(fw)
 *
 * Every call returns 0 or -1 (NULL from begin) with the reason in
 * ztmdev_error(dev). After any failure the context stays failed: only
 * ztmdev_fw_free is of use. Nothing counts as accepted before final
 * returns 0.
 */
#ifndef ZTMDEV_ZTMDEV_FW_H
#define ZTMDEV_ZTMDEV_FW_H

#include <stddef.h>
#include <stdint.h>

#include "ztmdev/ztmdev.h"

#define ZTMDEV_FW_SIG_MAX      ((size_t)64 * 1024) /* a CMS signature; a manifest is <= 16 KiB */
#define ZTMDEV_FW_MANIFEST_MAX ((size_t)16 * 1024)
#define ZTMDEV_FW_NAME_MAX     64 /* product and version claims, bytes */

struct ztmdev_fw;

/* The security-version counter lives where the device keeps monotonic
 * state (TPM NV index, OTP fuses, a file): read returns 0 and the value,
 * or -1 when it cannot be read (then every image is refused). write is
 * called only by ztmdev_fw_commit_svn, only with a higher value. */
typedef int (*ztmdev_svn_read_fn)(void *arg, uint32_t *out);
typedef int (*ztmdev_svn_write_fn)(void *arg, uint32_t value);

struct ztmdev_fw_policy {
	/* The pinned code-signing root(s): PEM (one or more certificates) or
	 * one DER certificate. Self-signed ones are the trust anchors. */
	const uint8_t *roots;
	size_t roots_len;
	const char *product;         /* must equal the claims' product */
	int test_device;             /* 0: production (refuses the test channel), 1: test */
	ztmdev_svn_read_fn svn_read; /* required */
	ztmdev_svn_write_fn svn_write;
	void *svn_arg;
};

enum ztmdev_fw_format {
	ZTMDEV_FW_MANIFEST = 1, /* COSE_Sign1 */
	ZTMDEV_FW_CMS,          /* detached CMS SignedData */
};

/* What was verified (the signed claims), filled by ztmdev_fw_final. */
struct ztmdev_fw_result {
	enum ztmdev_fw_format format;
	char product[ZTMDEV_FW_NAME_MAX + 1];
	char version[ZTMDEV_FW_NAME_MAX + 1];
	uint32_t security_version;
	uint32_t device_svn; /* the counter when begin read it */
	uint64_t size;
	uint8_t sha256[32];
	int channel; /* 0 production, 1 test */
	uint64_t release;
	uint64_t signed_at;
	char signer[256]; /* the signer certificate's subject, RFC 2253 */
};

/* Verifies the signature (manifest or CMS, sig_len bytes) against the
 * policy; the clock is the device's (ztmdev_set_clock). The device
 * directory is not read: the policy carries what is needed. */
struct ztmdev_fw *ztmdev_fw_begin(struct ztmdev *dev, const uint8_t *sig, size_t sig_len,
                                  const struct ztmdev_fw_policy *policy);
/* The next n bytes of the image. */
int ztmdev_fw_update(struct ztmdev_fw *fw, const uint8_t *p, size_t n);
/* The image ended: its size and digest must be the signed ones. result
 * (may be NULL) is filled only on success. */
int ztmdev_fw_final(struct ztmdev_fw *fw, struct ztmdev_fw_result *result);
/* After final accepted the image and the caller installed it: raises the
 * stored counter to the image's security version (never lowers it; no
 * write when equal). */
int ztmdev_fw_commit_svn(struct ztmdev_fw *fw);
/* NULL-safe. */
void ztmdev_fw_free(struct ztmdev_fw *fw);

#endif
