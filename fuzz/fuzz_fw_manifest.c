/* fuzz_fw_manifest.c - libFuzzer target for libztmdev's firmware manifest
 * reader (src/device/fw_manifest.c, fw_claims.c, cbor.c): the COSE_Sign1
 * manifest and its claims map, and the claims map on its own (the CMS
 * form carries it in an attribute). Both are read before any signature
 * check, so they face anything. Seeds in fuzz/corpus/fuzz_fw_manifest/:
 * manifests of the tests (ZTM_FUZZ_SEEDS=DIR build/tests/test_ztmdev_fw)
 * and claims maps.
 *
 * Invariants (__builtin_trap on violation): a parsed manifest has an alg
 * of ES256/ES384/EdDSA with a signature of its size, 1..8 certificates,
 * and protected header, payload and signature inside the input; its
 * Sig_structure builds; parsed claims have a 1..64-byte product and
 * version, size 1..2^40, channel 0 or 1; failure always says why. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zd_fw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	return p >= data && n <= size && (size_t)(p - data) <= size - n;
}

static void check_claims(struct ztmdev *dev, int rc, const struct zd_fw_claims *c)
{
	size_t pl, vl;

	if (rc != 0) {
		if (rc != -1 || ztmdev_error(dev)[0] == '\0')
			__builtin_trap();
		return;
	}
	pl = strnlen(c->product, sizeof(c->product));
	vl = strnlen(c->version, sizeof(c->version));
	if (pl == 0 || pl > ZTMDEV_FW_NAME_MAX || vl == 0 || vl > ZTMDEV_FW_NAME_MAX ||
	    c->size == 0 || c->size > ZD_FW_SIZE_MAX || c->channel > 1)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	struct zd_fw_manifest m;
	struct zd_fw_claims c;
	struct zd_buf tbs;
	int rc;

	if (dev == NULL)
		return 0;
	zd_fw_manifest_init(&m);
	zd_buf_init(&tbs, 2 * ZTMDEV_FW_MANIFEST_MAX);
	rc = zd_fw_manifest_parse(dev, data, size, &m);
	if (rc == 0) {
		size_t want = m.alg == ZD_COSE_ALG_ES384 ? 96 : 64;
		if ((m.alg != ZD_COSE_ALG_ES256 && m.alg != ZD_COSE_ALG_ES384 &&
		     m.alg != ZD_COSE_ALG_EDDSA) ||
		    m.sig_len != want || m.chain.n == 0 || m.chain.n > ZD_CERTS_MAX ||
		    !inside(m.protected_hdr, m.protected_len, data, size) ||
		    !inside(m.payload, m.payload_len, data, size) ||
		    !inside(m.sig, m.sig_len, data, size) || zd_fw_sig_structure(&m, &tbs) != 0 ||
		    tbs.len <= m.protected_len + m.payload_len)
			__builtin_trap();
		check_claims(dev, zd_fw_claims_parse(dev, m.payload, m.payload_len, &c), &c);
	} else if (rc != -1 || ztmdev_error(dev)[0] == '\0') {
		__builtin_trap();
	}
	/* The same bytes as a bare claims map. */
	check_claims(dev, zd_fw_claims_parse(dev, data, size, &c), &c);
	zd_buf_free(&tbs);
	zd_fw_manifest_free(&m);
	ztmdev_free(dev);
	return 0;
}
