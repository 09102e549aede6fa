/* fw.c - streaming firmware verification (ztmdev/ztmdev_fw.h): the checks
 * of docs/firmware-manifest.md "What a device checks", in its order, on
 * the parsers of fw_manifest.c / fw_claims.c and the backend's signature,
 * chain and digest. Default-fail: the context's state starts failed-or-
 * streaming and only final moves it to accepted. */
#include <stdlib.h>
#include <string.h>

#include "zd_fw.h"

enum fw_state {
	FW_FAILED = 0, /* the zero value: a half-built context is a failed one */
	FW_STREAMING,
	FW_ACCEPTED,
	FW_COMMITTED,
};

struct ztmdev_fw {
	struct ztmdev *dev;
	enum fw_state state;
	enum ztmdev_fw_format format;
	struct zd_fw_claims claims;
	uint32_t device_svn;
	char signer[256];
	ztmdev_svn_read_fn svn_read;
	ztmdev_svn_write_fn svn_write;
	void *svn_arg;
	uint64_t seen;
	struct zd_md *sha256;
	/* CMS only: the messageDigest and, when its algorithm is not SHA-256
	 * (P-384, Ed25519 signers), a second digest over the stream. */
	uint8_t cms_digest[64];
	size_t cms_digest_len;
	struct zd_md *cms_md;
};

/* Where the pinned roots come from: PEM text (one or more) or one DER. */
static int load_roots(struct ztmdev *dev, const struct ztmdev_fw_policy *pol,
                      struct zd_certs *roots)
{
	if (pol->roots == NULL || pol->roots_len == 0)
		return zd_err(dev, "firmware policy: no pinned code-signing root");
	if (pol->roots[0] == 0x30) {
		if (zd_certs_add(roots, pol->roots, pol->roots_len) != 0)
			return zd_err(dev, "firmware policy: root certificate too large");
		return 0;
	}
	if (zd_pem_certs(pol->roots, pol->roots_len, roots) != 0)
		return zd_err(dev, "firmware policy: the pinned root is neither DER nor PEM "
		                   "certificates");
	return 0;
}

/* Checks 2-4 for a manifest: the chain from x5chain, then the COSE alg
 * against the signer's key, then the signature over the Sig_structure. */
static int begin_manifest(struct ztmdev_fw *fw, const uint8_t *sig, size_t len,
                          const struct zd_certs *roots, struct zd_fw_signer *signer)
{
	struct ztmdev *dev = fw->dev;
	struct zd_fw_manifest m;
	struct zd_buf tbs;
	enum zd_sig_alg alg;
	int rc = -1;

	zd_fw_manifest_init(&m);
	zd_buf_init(&tbs, 2 * ZTMDEV_FW_MANIFEST_MAX);
	if (zd_fw_manifest_parse(dev, sig, len, &m) != 0 ||
	    zd_fw_claims_parse(dev, m.payload, m.payload_len, &fw->claims) != 0)
		goto out;
	if (zd_fw_signer_verify(dev, &m.chain, roots, zd_now(dev), signer) != 0)
		goto out;
	alg = m.alg == ZD_COSE_ALG_ES256   ? ZD_SIG_ES256
	      : m.alg == ZD_COSE_ALG_ES384 ? ZD_SIG_ES384
	                                   : ZD_SIG_ED25519;
	if ((alg == ZD_SIG_ES256 && signer->key != ZD_KEY_P256) ||
	    (alg == ZD_SIG_ES384 && signer->key != ZD_KEY_P384) ||
	    (alg == ZD_SIG_ED25519 && signer->key != ZD_KEY_ED25519)) {
		zd_err(dev, "manifest: alg %lld does not match the signer's key", (long long)m.alg);
		goto out;
	}
	if (zd_fw_sig_structure(&m, &tbs) != 0) {
		zd_err(dev, "manifest: Sig_structure too large");
		goto out;
	}
	if (zd_sig_verify(dev, alg, signer->spki.p, signer->spki.len, tbs.p, tbs.len, m.sig,
	                  m.sig_len) != 0) {
		char why[sizeof(dev->err)];
		memcpy(why, dev->err, sizeof(why));
		zd_err(dev, "manifest: %s", why);
		goto out;
	}
	rc = 0;
out:
	zd_buf_free(&tbs);
	zd_fw_manifest_free(&m);
	return rc;
}

/* The same for CMS: parse, claims, chain from the certificates, signature
 * over the signed attributes; the messageDigest waits for final. */
static int begin_cms(struct ztmdev_fw *fw, const uint8_t *sig, size_t len,
                     const struct zd_certs *roots, struct zd_fw_signer *signer)
{
	struct ztmdev *dev = fw->dev;
	struct zd_fw_cms c;
	int rc = -1;

	zd_fw_cms_init(&c);
	if (zd_fw_cms_parse(dev, sig, len, &c) != 0 ||
	    zd_fw_claims_parse(dev, c.claims.p, c.claims.len, &fw->claims) != 0)
		goto out;
	if (zd_fw_signer_verify(dev, &c.chain, roots, zd_now(dev), signer) != 0)
		goto out;
	if (zd_sig_verify(dev, c.sig_alg, signer->spki.p, signer->spki.len, c.tbs.p, c.tbs.len,
	                  c.sig.p, c.sig.len) != 0) {
		char why[sizeof(dev->err)];
		memcpy(why, dev->err, sizeof(why));
		zd_err(dev, "CMS: %s", why);
		goto out;
	}
	memcpy(fw->cms_digest, c.message_digest, c.message_digest_len);
	fw->cms_digest_len = c.message_digest_len;
	if (c.md != ZD_MD_SHA256 && (fw->cms_md = zd_md_new(dev, c.md)) == NULL)
		goto out;
	rc = 0;
out:
	zd_fw_cms_free(&c);
	return rc;
}

/* Checks 5-7: product, channel (claim and certificate), counter. */
static int policy_checks(struct ztmdev_fw *fw, const struct ztmdev_fw_policy *pol,
                         const struct zd_fw_signer *signer)
{
	struct ztmdev *dev = fw->dev;
	const struct zd_fw_claims *c = &fw->claims;

	if (strcmp(c->product, pol->product) != 0)
		return zd_err(dev, "firmware is for product \"%s\", this device is \"%s\"",
		              c->product, pol->product);
	/* The format says a signer carries exactly one channel policy. */
	if (signer->channel_production == signer->channel_test)
		return zd_err(dev, "firmware signer: not exactly one channel policy "
		                   "(id-ztm-fw-channel-production or -test)");
	if (!pol->test_device) {
		if (c->channel != 0)
			return zd_err(dev, "a production device refuses test-channel firmware "
			                   "(channel claim 1)");
		if (!signer->channel_production)
			return zd_err(dev, "a production device refuses firmware signed under the "
			                   "test channel (signer certificate policy)");
	}
	if (fw->svn_read(fw->svn_arg, &fw->device_svn) != 0)
		return zd_err(dev, "security version counter: cannot be read");
	if (c->security_version < fw->device_svn)
		return zd_err(dev,
		              "firmware security version %lu is below the device's %lu "
		              "(rollback)",
		              (unsigned long)c->security_version, (unsigned long)fw->device_svn);
	return 0;
}

struct ztmdev_fw *ztmdev_fw_begin(struct ztmdev *dev, const uint8_t *sig, size_t sig_len,
                                  const struct ztmdev_fw_policy *pol)
{
	struct ztmdev_fw *fw;
	struct zd_certs roots;
	struct zd_fw_signer signer;
	int rc = -1;

	if (dev == NULL)
		return NULL;
	dev->err[0] = '\0';
	if (sig == NULL || sig_len == 0 || pol == NULL || pol->product == NULL ||
	    pol->svn_read == NULL) {
		zd_err(dev, "firmware: missing signature, product or security-version reader");
		return NULL;
	}
	if (sig_len > ZTMDEV_FW_SIG_MAX) {
		zd_err(dev, "firmware signature larger than %zu bytes", ZTMDEV_FW_SIG_MAX);
		return NULL;
	}
	if ((fw = calloc(1, sizeof(*fw))) == NULL) {
		zd_err(dev, "firmware: out of memory");
		return NULL;
	}
	fw->dev = dev;
	fw->svn_read = pol->svn_read;
	fw->svn_write = pol->svn_write;
	fw->svn_arg = pol->svn_arg;
	zd_certs_init(&roots);
	zd_fw_signer_init(&signer);
	if (load_roots(dev, pol, &roots) != 0)
		goto out;
	/* The first byte tells the forms apart: a tagged COSE_Sign1 starts
	 * with 0xd2 (tag 18), a DER ContentInfo with 0x30 (SEQUENCE). */
	if (sig[0] == 0xd2) {
		fw->format = ZTMDEV_FW_MANIFEST;
		if (begin_manifest(fw, sig, sig_len, &roots, &signer) != 0)
			goto out;
	} else if (sig[0] == 0x30) {
		fw->format = ZTMDEV_FW_CMS;
		if (begin_cms(fw, sig, sig_len, &roots, &signer) != 0)
			goto out;
	} else {
		zd_err(dev, "firmware signature is neither a COSE_Sign1 manifest nor a DER CMS");
		goto out;
	}
	if (policy_checks(fw, pol, &signer) != 0)
		goto out;
	if ((fw->sha256 = zd_md_new(dev, ZD_MD_SHA256)) == NULL)
		goto out;
	memcpy(fw->signer, signer.subject, sizeof(fw->signer));
	fw->state = FW_STREAMING;
	rc = 0;
out:
	zd_fw_signer_free(&signer);
	zd_certs_free(&roots);
	if (rc != 0) {
		ztmdev_fw_free(fw);
		return NULL;
	}
	return fw;
}

int ztmdev_fw_update(struct ztmdev_fw *fw, const uint8_t *p, size_t n)
{
	if (fw == NULL)
		return -1;
	if (fw->state != FW_STREAMING)
		return zd_err(fw->dev, "firmware: the verification already failed or ended");
	/* A stream longer than the signed size fails at once. */
	if (n > fw->claims.size - fw->seen) {
		fw->state = FW_FAILED;
		return zd_err(fw->dev, "firmware image is longer than its signed size %llu",
		              (unsigned long long)fw->claims.size);
	}
	if (zd_md_update(fw->sha256, p, n) != 0 ||
	    (fw->cms_md != NULL && zd_md_update(fw->cms_md, p, n) != 0)) {
		fw->state = FW_FAILED;
		return zd_err(fw->dev, "firmware: digest failed");
	}
	fw->seen += n;
	return 0;
}

/* Constant time over n bytes (STYLE.md 6). */
static int same(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int ztmdev_fw_final(struct ztmdev_fw *fw, struct ztmdev_fw_result *res)
{
	struct ztmdev *dev;
	uint8_t sha[64], other[64];
	size_t n = 0, m = 0;

	if (fw == NULL)
		return -1;
	dev = fw->dev;
	if (fw->state != FW_STREAMING)
		return zd_err(dev, "firmware: the verification already failed or ended");
	fw->state = FW_FAILED;
	if (fw->seen != fw->claims.size)
		return zd_err(dev,
		              "firmware image is %llu bytes, its signed size is %llu "
		              "(truncated)",
		              (unsigned long long)fw->seen, (unsigned long long)fw->claims.size);
	if (zd_md_final(dev, fw->sha256, sha, &n) != 0)
		return -1;
	if (n != sizeof(fw->claims.digest) || !same(sha, fw->claims.digest, n))
		return zd_err(dev, "firmware image SHA-256 differs from the signed digest");
	if (fw->format == ZTMDEV_FW_CMS) {
		if (fw->cms_md != NULL) {
			if (zd_md_final(dev, fw->cms_md, other, &m) != 0)
				return -1;
		} else {
			memcpy(other, sha, n);
			m = n;
		}
		if (m != fw->cms_digest_len || !same(other, fw->cms_digest, m))
			return zd_err(dev, "firmware image digest differs from the CMS "
			                   "messageDigest");
	}
	if (res != NULL) {
		memset(res, 0, sizeof(*res));
		res->format = fw->format;
		memcpy(res->product, fw->claims.product, sizeof(res->product));
		memcpy(res->version, fw->claims.version, sizeof(res->version));
		res->security_version = fw->claims.security_version;
		res->device_svn = fw->device_svn;
		res->size = fw->claims.size;
		memcpy(res->sha256, sha, sizeof(res->sha256));
		res->channel = (int)fw->claims.channel;
		res->release = fw->claims.release;
		res->signed_at = fw->claims.signed_at;
		memcpy(res->signer, fw->signer, sizeof(res->signer));
	}
	fw->state = FW_ACCEPTED;
	return 0;
}

int ztmdev_fw_commit_svn(struct ztmdev_fw *fw)
{
	struct ztmdev *dev;
	uint32_t cur;

	if (fw == NULL)
		return -1;
	dev = fw->dev;
	if (fw->state != FW_ACCEPTED)
		return zd_err(dev, "security version: only an accepted image raises the counter");
	if (fw->svn_write == NULL)
		return zd_err(dev, "security version: no counter writer in the policy");
	/* Read again: another update may have raised it meanwhile. */
	if (fw->svn_read(fw->svn_arg, &cur) != 0)
		return zd_err(dev, "security version counter: cannot be read");
	if (fw->claims.security_version > cur &&
	    fw->svn_write(fw->svn_arg, fw->claims.security_version) != 0)
		return zd_err(dev, "security version counter: cannot be written");
	fw->state = FW_COMMITTED;
	return 0;
}

void ztmdev_fw_free(struct ztmdev_fw *fw)
{
	if (fw == NULL)
		return;
	zd_md_free(fw->sha256);
	zd_md_free(fw->cms_md);
	free(fw);
}
