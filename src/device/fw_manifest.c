/* fw_manifest.c - the COSE_Sign1 firmware manifest (RFC 9052 §4.2,
 * docs/firmware-manifest.md "The manifest"): a strict reader for exactly
 * its shape, and the Sig_structure the signature covers. */
#include <string.h>

#include "zd_cbor.h"
#include "zd_fw.h"

#define COSE_TAG_SIGN1   18
#define COSE_HDR_ALG     1
#define COSE_HDR_CTYPE   3
#define COSE_HDR_X5CHAIN 33

void zd_fw_manifest_init(struct zd_fw_manifest *m)
{
	memset(m, 0, sizeof(*m));
	zd_certs_init(&m->chain);
}

void zd_fw_manifest_free(struct zd_fw_manifest *m)
{
	zd_certs_free(&m->chain);
}

/* {1: alg, 3: content type, 33: [+ bstr]}, exactly. */
static int protected_hdr(struct ztmdev *dev, struct zd_fw_manifest *m)
{
	static const int64_t want[] = {COSE_HDR_ALG, COSE_HDR_CTYPE, COSE_HDR_X5CHAIN};
	struct zd_cbor r;
	const uint8_t *p;
	uint64_t count, i, ncerts;
	size_t n;
	int64_t key;

	zd_cbor_init(&r, m->protected_hdr, m->protected_len);
	if (zd_cbor_map(&r, &count) != 0)
		return zd_err(dev, "manifest: protected header: %s", r.err);
	if (count != 3)
		return zd_err(dev, "manifest: protected header: not exactly alg, content type and "
		                   "x5chain");
	for (i = 0; i < count; i++) {
		if (zd_cbor_key(&r, &key) != 0)
			return zd_err(dev, "manifest: protected header: %s", r.err);
		if (key != want[i])
			return zd_err(dev, "manifest: protected header: unexpected label %lld",
			              (long long)key);
		if (key == COSE_HDR_ALG) {
			if (zd_cbor_int(&r, &m->alg) != 0)
				return zd_err(dev, "manifest: alg: %s", r.err);
			if (m->alg != ZD_COSE_ALG_ES256 && m->alg != ZD_COSE_ALG_ES384 &&
			    m->alg != ZD_COSE_ALG_EDDSA)
				return zd_err(dev,
				              "manifest: alg %lld is not ES256, ES384 or EdDSA",
				              (long long)m->alg);
		} else if (key == COSE_HDR_CTYPE) {
			if (zd_cbor_str(&r, ZD_CBOR_TSTR, &p, &n) != 0)
				return zd_err(dev, "manifest: content type: %s", r.err);
			if (n != strlen(ZD_FW_CONTENT_TYPE) ||
			    memcmp(p, ZD_FW_CONTENT_TYPE, n) != 0)
				return zd_err(dev, "manifest: content type is not %s",
				              ZD_FW_CONTENT_TYPE);
		} else {
			if (zd_cbor_expect(&r, ZD_CBOR_ARRAY, &ncerts) != 0)
				return zd_err(dev, "manifest: x5chain: not an array: %s", r.err);
			if (ncerts == 0 || ncerts > ZD_CERTS_MAX)
				return zd_err(dev, "manifest: x5chain: not 1-%d certificates",
				              ZD_CERTS_MAX);
			while (ncerts-- > 0) {
				if (zd_cbor_str(&r, ZD_CBOR_BSTR, &p, &n) != 0)
					return zd_err(dev, "manifest: x5chain: %s", r.err);
				if (n == 0 || zd_certs_add(&m->chain, p, n) != 0)
					return zd_err(dev, "manifest: x5chain: an empty or "
					                   "oversized certificate");
			}
		}
	}
	if (zd_cbor_end(&r) != 0)
		return zd_err(dev, "manifest: protected header: %s", r.err);
	return 0;
}

int zd_fw_manifest_parse(struct ztmdev *dev, const uint8_t *p, size_t n, struct zd_fw_manifest *m)
{
	struct zd_cbor r;
	uint64_t v;
	size_t want;

	if (n == 0 || n > ZTMDEV_FW_MANIFEST_MAX)
		return zd_err(dev, "manifest: empty or larger than %zu bytes",
		              ZTMDEV_FW_MANIFEST_MAX);
	zd_cbor_init(&r, p, n);
	if (zd_cbor_expect(&r, ZD_CBOR_TAG, &v) != 0 || v != COSE_TAG_SIGN1)
		return zd_err(dev, "manifest: not a tagged COSE_Sign1 (tag 18)%s%s",
		              r.err[0] ? ": " : "", r.err);
	if (zd_cbor_expect(&r, ZD_CBOR_ARRAY, &v) != 0 || v != 4)
		return zd_err(dev, "manifest: COSE_Sign1 is not an array of 4%s%s",
		              r.err[0] ? ": " : "", r.err);
	if (zd_cbor_str(&r, ZD_CBOR_BSTR, &m->protected_hdr, &m->protected_len) != 0)
		return zd_err(dev, "manifest: protected header: %s", r.err);
	if (zd_cbor_map(&r, &v) != 0 || v != 0)
		return zd_err(dev, "manifest: unprotected header is not an empty map%s%s",
		              r.err[0] ? ": " : "", r.err);
	if (zd_cbor_str(&r, ZD_CBOR_BSTR, &m->payload, &m->payload_len) != 0)
		return zd_err(dev, "manifest: payload: %s", r.err);
	if (zd_cbor_str(&r, ZD_CBOR_BSTR, &m->sig, &m->sig_len) != 0)
		return zd_err(dev, "manifest: signature: %s", r.err);
	if (zd_cbor_end(&r) != 0)
		return zd_err(dev, "manifest: %s", r.err);
	if (protected_hdr(dev, m) != 0)
		return -1;
	/* RFC 9053 §2.1: r || s, each the curve's size; Ed25519: 64 bytes. */
	want = m->alg == ZD_COSE_ALG_ES384 ? 96 : 64;
	if (m->sig_len != want)
		return zd_err(dev, "manifest: signature is %zu bytes, not %zu for its alg",
		              m->sig_len, want);
	return 0;
}

int zd_fw_sig_structure(const struct zd_fw_manifest *m, struct zd_buf *out)
{
	static const uint8_t context[] = "Signature1";

	if (zd_cbor_put_head(out, ZD_CBOR_ARRAY, 4) != 0 ||
	    zd_cbor_put_str(out, ZD_CBOR_TSTR, context, sizeof(context) - 1) != 0 ||
	    zd_cbor_put_str(out, ZD_CBOR_BSTR, m->protected_hdr, m->protected_len) != 0 ||
	    zd_cbor_put_str(out, ZD_CBOR_BSTR, NULL, 0) != 0 ||
	    zd_cbor_put_str(out, ZD_CBOR_BSTR, m->payload, m->payload_len) != 0)
		return -1;
	return 0;
}
