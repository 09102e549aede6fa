/* fw_claims.c - the firmware claims map (docs/firmware-manifest.md "The
 * claims"), shared by the manifest and the CMS form. Every key is required:
 * a claim the device cannot check must not be skipped, and a missing one
 * cannot be checked either. */
#include <string.h>

#include "zd_cbor.h"
#include "zd_fw.h"

enum {
#define X(num, name) CLAIM_##name = num,
	ZD_FW_CLAIMS(X)
#undef X
	    CLAIM_COUNT = 9
};

static const char *const claim_names[] = {"",
#define X(num, name) #name,
                                          ZD_FW_CLAIMS(X)
#undef X
};

/* tstr of 1..64 bytes; version also limited to A-Z a-z 0-9 . _ - + ~. */
static int name_claim(struct zd_cbor *r, char *out, int version)
{
	const uint8_t *p;
	size_t n, i;

	if (zd_cbor_str(r, ZD_CBOR_TSTR, &p, &n) != 0)
		return -1;
	if (n == 0 || n > ZTMDEV_FW_NAME_MAX) {
		r->err = "not 1-64 bytes";
		return -1;
	}
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '+' ||
		         c == '~';
		/* product: printable ASCII without controls (names in ztm are
		 * narrower still; an exact compare with the device's follows). */
		if (!version)
			ok = c > 0x20 && c < 0x7f;
		if (!ok) {
			r->err = "a byte outside the allowed characters";
			return -1;
		}
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int uint_claim(struct zd_cbor *r, uint64_t min, uint64_t max, uint64_t *out)
{
	if (zd_cbor_expect(r, ZD_CBOR_UINT, out) != 0)
		return -1;
	if (*out < min || *out > max) {
		r->err = "out of range";
		return -1;
	}
	return 0;
}

static int claim(struct zd_cbor *r, int64_t key, struct zd_fw_claims *c)
{
	const uint8_t *p;
	size_t n;
	int64_t alg;
	uint64_t v;

	switch (key) {
	case CLAIM_product:
		return name_claim(r, c->product, 0);
	case CLAIM_version:
		return name_claim(r, c->version, 1);
	case CLAIM_security_version:
		if (uint_claim(r, 0, UINT32_MAX, &v) != 0)
			return -1;
		c->security_version = (uint32_t)v;
		return 0;
	case CLAIM_size:
		return uint_claim(r, 1, ZD_FW_SIZE_MAX, &c->size);
	case CLAIM_digest_alg:
		if (zd_cbor_int(r, &alg) != 0)
			return -1;
		if (alg != -16) { /* COSE SHA-256, the only one today */
			r->err = "not -16 (SHA-256)";
			return -1;
		}
		return 0;
	case CLAIM_digest:
		if (zd_cbor_str(r, ZD_CBOR_BSTR, &p, &n) != 0)
			return -1;
		if (n != sizeof(c->digest)) {
			r->err = "not 32 bytes";
			return -1;
		}
		memcpy(c->digest, p, n);
		return 0;
	case CLAIM_channel:
		if (uint_claim(r, 0, 1, &v) != 0)
			return -1;
		c->channel = (unsigned)v;
		return 0;
	case CLAIM_release:
		return uint_claim(r, 0, UINT64_MAX, &c->release);
	case CLAIM_signed_at:
		return uint_claim(r, 0, UINT64_MAX, &c->signed_at);
	}
	r->err = "unknown claim key";
	return -1;
}

int zd_fw_claims_parse(struct ztmdev *dev, const uint8_t *p, size_t n, struct zd_fw_claims *c)
{
	struct zd_cbor r;
	uint64_t count, i;
	int64_t key = 0;
	unsigned seen = 0;

	memset(c, 0, sizeof(*c));
	if (n == 0 || n > ZD_FW_CLAIMS_MAX)
		return zd_err(dev, "firmware claims: empty or larger than %zu bytes",
		              ZD_FW_CLAIMS_MAX);
	zd_cbor_init(&r, p, n);
	if (zd_cbor_map(&r, &count) != 0)
		return zd_err(dev, "firmware claims: not a CBOR map: %s", r.err);
	/* More keys than the table's: an unknown key or a duplicate, which
	 * the loop names. */
	if (count > 2 * CLAIM_COUNT)
		return zd_err(dev, "firmware claims: %llu keys, the format has %d",
		              (unsigned long long)count, CLAIM_COUNT);
	for (i = 0; i < count; i++) {
		if (zd_cbor_key(&r, &key) != 0)
			return zd_err(dev, "firmware claims: %s", r.err);
		if (key < 1 || key > CLAIM_COUNT)
			return zd_err(dev, "firmware claims: unknown claim key %lld",
			              (long long)key);
		if (claim(&r, key, c) != 0)
			return zd_err(dev, "firmware claims: %s: %s", claim_names[key], r.err);
		seen |= 1u << key;
	}
	/* Nine distinct ascending keys in 1..9: all present. */
	if (seen != ((1u << (CLAIM_COUNT + 1)) - 2))
		return zd_err(dev, "firmware claims: a required claim is missing");
	if (zd_cbor_end(&r) != 0)
		return zd_err(dev, "firmware claims: %s", r.err);
	return 0;
}
