/* crypto_openssl_fw.c - the firmware half of the OpenSSL backend
 * (zd_crypto.h): the one signature check, the signer chain and its usage,
 * streamed digests and the CMS parse. The checks of the claims and of the
 * policy are fw.c's, in plain C. */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "zd_ossl.h"
#include "ztmdev/ztmdev_fw.h"

#define SIG_MAX ((size_t)256)

/* id-ztm-fw (docs/firmware-manifest.md) arcs. */
#define OID_ZTM_FW       "2.25.89904570167144526415718935782041833074"
#define OID_CHANNEL_PROD OID_ZTM_FW ".1"
#define OID_CHANNEL_TEST OID_ZTM_FW ".2"
#define OID_CLAIMS_ATTR  OID_ZTM_FW ".3"

/* The key of a SubjectPublicKeyInfo: DER, nothing after it, and for EC a
 * named curve (CurveBall: explicit parameters are refused everywhere). */
static EVP_PKEY *spki_key(struct ztmdev *dev, const uint8_t *der, size_t len,
                          enum zd_key_type *type)
{
	const unsigned char *p = der;
	X509_PUBKEY *xp = d2i_X509_PUBKEY(NULL, &p, (long)len);
	const ASN1_OBJECT *aobj;
	const void *pval;
	X509_ALGOR *alg;
	EVP_PKEY *pk = NULL;
	char group[32];
	int ptype;

	*type = ZD_KEY_NONE;
	if (xp == NULL || p != der + len) {
		zd_ossl_err(dev, "public key: not one DER SubjectPublicKeyInfo");
		goto out;
	}
	if (X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, xp) != 1) {
		zd_ossl_err(dev, "public key");
		goto out;
	}
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	if ((pk = X509_PUBKEY_get(xp)) == NULL) {
		zd_ossl_err(dev, "public key: unsupported or damaged");
		goto out;
	}
	if (EVP_PKEY_is_a(pk, "ED25519")) {
		*type = ZD_KEY_ED25519;
	} else if (EVP_PKEY_is_a(pk, "EC") && ptype == V_ASN1_OBJECT &&
	           EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1) {
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			*type = ZD_KEY_P256;
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			*type = ZD_KEY_P384;
	}
	if (*type == ZD_KEY_NONE) {
		zd_err(dev, "public key: not P-256, P-384 (named curve) or Ed25519");
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	X509_PUBKEY_free(xp);
	ERR_clear_error();
	return pk;
}

/* COSE r || s (RFC 9053 §2.1) as the DER Ecdsa-Sig-Value OpenSSL takes. */
static int raw_to_der(struct ztmdev *dev, const uint8_t *sig, size_t len, size_t half,
                      unsigned char **der, int *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
	BIGNUM *s = BN_bin2bn(sig + half, (int)half, NULL);

	*der = NULL;
	if (len != 2 * half) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		return zd_err(dev, "signature: %zu bytes, not %zu (r || s)", len, 2 * half);
	}
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		return zd_ossl_err(dev, "signature");
	}
	*der_len = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	if (*der_len <= 0)
		return zd_ossl_err(dev, "signature");
	return 0;
}

int zd_sig_verify(struct ztmdev *dev, enum zd_sig_alg alg, const uint8_t *spki, size_t spki_len,
                  const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	static const struct {
		enum zd_sig_alg alg;
		enum zd_key_type key;
		const char *md; /* NULL: PureEdDSA */
		size_t half;    /* raw r || s: each this size; 0: DER or EdDSA */
		const char *name;
	} algs[] = {
	    {ZD_SIG_ES256, ZD_KEY_P256, "SHA256", 32, "ES256"},
	    {ZD_SIG_ES384, ZD_KEY_P384, "SHA384", 48, "ES384"},
	    {ZD_SIG_ED25519, ZD_KEY_ED25519, NULL, 0, "Ed25519"},
	    {ZD_SIG_ES256_DER, ZD_KEY_P256, "SHA256", 0, "ecdsa-with-SHA256"},
	    {ZD_SIG_ES384_DER, ZD_KEY_P384, "SHA384", 0, "ecdsa-with-SHA384"},
	};
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pk = NULL;
	unsigned char *der = NULL;
	const unsigned char *s = sig;
	int der_len = 0, ok = 0; /* default fail (STYLE.md 6) */
	enum zd_key_type type;
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].alg == alg)
			break;
	if (i == sizeof(algs) / sizeof(algs[0]))
		return zd_err(dev, "signature: unknown algorithm");
	/* Lengths before any crypto. */
	if (sig_len == 0 || sig_len > SIG_MAX || (alg == ZD_SIG_ED25519 && sig_len != 64))
		return zd_err(dev, "signature: wrong length for %s", algs[i].name);
	if ((pk = spki_key(dev, spki, spki_len, &type)) == NULL)
		return -1;
	if (type != algs[i].key) {
		zd_err(dev, "signature: the key does not match the algorithm %s", algs[i].name);
		goto out;
	}
	if (algs[i].half != 0) {
		if (raw_to_der(dev, sig, sig_len, algs[i].half, &der, &der_len) != 0)
			goto out;
		s = der;
		sig_len = (size_t)der_len;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(mctx, NULL, algs[i].md, NULL, NULL, pk, NULL) != 1) {
		zd_ossl_err(dev, "signature: verifier");
		goto out;
	}
	if (EVP_DigestVerify(mctx, s, sig_len, msg, msg_len) == 1)
		ok = 1;
	else
		zd_err(dev, "the %s signature does not verify", algs[i].name);
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pk);
	return ok ? 0 : -1;
}

void zd_fw_signer_init(struct zd_fw_signer *s)
{
	memset(s, 0, sizeof(*s));
	zd_buf_init(&s->spki, 4096);
}

void zd_fw_signer_free(struct zd_fw_signer *s)
{
	zd_buf_free(&s->spki);
}

static int has_eku(X509 *x, int nid)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	int i, found = 0;

	for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid)
			found = 1;
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

/* The channel policies of certificatePolicies (docs/firmware-manifest.md
 * "Object identifiers"). */
static int channels(struct ztmdev *dev, X509 *x, struct zd_fw_signer *out)
{
	ASN1_OBJECT *prod = OBJ_txt2obj(OID_CHANNEL_PROD, 1);
	ASN1_OBJECT *test = OBJ_txt2obj(OID_CHANNEL_TEST, 1);
	CERTIFICATEPOLICIES *pol;
	int i, crit = 0, rc = 0;

	if (prod == NULL || test == NULL) {
		ASN1_OBJECT_free(prod);
		ASN1_OBJECT_free(test);
		return zd_ossl_err(dev, "signer: policy OIDs");
	}
	pol = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
	if (pol == NULL && crit != -1)
		rc = zd_err(dev, "signer: damaged or repeated certificatePolicies");
	for (i = 0; pol != NULL && i < sk_POLICYINFO_num(pol); i++) {
		const ASN1_OBJECT *id = sk_POLICYINFO_value(pol, i)->policyid;
		if (OBJ_cmp(id, prod) == 0)
			out->channel_production = 1;
		else if (OBJ_cmp(id, test) == 0)
			out->channel_test = 1;
	}
	CERTIFICATEPOLICIES_free(pol);
	ASN1_OBJECT_free(prod);
	ASN1_OBJECT_free(test);
	ERR_clear_error();
	return rc;
}

static void subject_of(X509 *x, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	out[0] = '\0';
	if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(b, &p)) >= 0)
		snprintf(out, cap, "%.*s", (int)n, p);
	BIO_free(b);
}

int zd_fw_signer_verify(struct ztmdev *dev, const struct zd_certs *chain,
                        const struct zd_certs *roots, int64_t at, struct zd_fw_signer *out)
{
	STACK_OF(X509) *mid = sk_X509_new_null();
	X509 *x = NULL, *y;
	unsigned char *der = NULL;
	int n, rc = -1;
	size_t i;
	EVP_PKEY *pk;

	if (mid == NULL)
		return zd_err(dev, "signer: out of memory");
	if (chain->n == 0) {
		zd_err(dev, "signer: no certificate");
		goto out;
	}
	if ((x = zd_ossl_decode(dev, chain->der[0].p, chain->der[0].len)) == NULL)
		goto out;
	for (i = 1; i < chain->n; i++) {
		if ((y = zd_ossl_decode(dev, chain->der[i].p, chain->der[i].len)) == NULL)
			goto out;
		if (sk_X509_push(mid, y) <= 0) {
			X509_free(y);
			zd_err(dev, "signer: out of memory");
			goto out;
		}
	}
	if (!X509_up_ref(x)) {
		zd_err(dev, "signer: out of memory");
		goto out;
	}
	/* Takes one reference of x and mid. */
	n = zd_ossl_chain_verify(dev, x, mid, roots, at, 0);
	mid = NULL;
	if (n != 0) {
		char why[sizeof(dev->err)];
		memcpy(why, dev->err, sizeof(why));
		zd_err(dev, "firmware signer: %s", why);
		goto out;
	}
	/* docs/firmware-manifest.md "What a device checks" 3. */
	if (!has_eku(x, NID_code_sign)) {
		zd_err(dev, "firmware signer: no id-kp-codeSigning extendedKeyUsage");
		goto out;
	}
	if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE)) {
		zd_err(dev, "firmware signer: keyUsage without digitalSignature");
		goto out;
	}
	if ((pk = X509_get0_pubkey(x)) == NULL) {
		zd_ossl_err(dev, "firmware signer: public key");
		goto out;
	}
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (n <= 0 || zd_buf_append(&out->spki, der, (size_t)n) != 0) {
		zd_ossl_err(dev, "firmware signer: public key");
		goto out;
	}
	{
		/* The key type, and a named curve (spki_key's rules). */
		EVP_PKEY *k = spki_key(dev, out->spki.p, out->spki.len, &out->key);
		if (k == NULL) {
			char why[sizeof(dev->err)];
			memcpy(why, dev->err, sizeof(why));
			zd_err(dev, "firmware signer: %s", why);
			goto out;
		}
		EVP_PKEY_free(k);
	}
	if (channels(dev, x, out) != 0)
		goto out;
	subject_of(x, out->subject, sizeof(out->subject));
	rc = 0;
out:
	OPENSSL_free(der);
	sk_X509_pop_free(mid, X509_free);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

struct zd_md {
	EVP_MD_CTX *c;
};

struct zd_md *zd_md_new(struct ztmdev *dev, enum zd_md_alg alg)
{
	struct zd_md *m = OPENSSL_zalloc(sizeof(*m));
	const EVP_MD *md = alg == ZD_MD_SHA256   ? EVP_sha256()
	                   : alg == ZD_MD_SHA384 ? EVP_sha384()
	                                         : EVP_sha512();

	if (m == NULL || (m->c = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(m->c, md, NULL) != 1) {
		zd_md_free(m);
		zd_ossl_err(dev, "digest");
		return NULL;
	}
	return m;
}

int zd_md_update(struct zd_md *m, const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	return EVP_DigestUpdate(m->c, p, n) == 1 ? 0 : -1;
}

int zd_md_final(struct ztmdev *dev, struct zd_md *m, uint8_t *out, size_t *len)
{
	unsigned n = 0;

	if (EVP_DigestFinal_ex(m->c, out, &n) != 1)
		return zd_ossl_err(dev, "digest");
	*len = n;
	return 0;
}

void zd_md_free(struct zd_md *m)
{
	if (m == NULL)
		return;
	EVP_MD_CTX_free(m->c);
	OPENSSL_free(m);
}

void zd_fw_cms_init(struct zd_fw_cms *c)
{
	memset(c, 0, sizeof(*c));
	zd_certs_init(&c->chain);
	zd_buf_init(&c->tbs, 8192);
	zd_buf_init(&c->sig, SIG_MAX);
	zd_buf_init(&c->claims, 4096);
}

void zd_fw_cms_free(struct zd_fw_cms *c)
{
	zd_certs_free(&c->chain);
	zd_buf_free(&c->tbs);
	zd_buf_free(&c->sig);
	zd_buf_free(&c->claims);
}

static int add_cert(struct ztmdev *dev, X509 *x, struct zd_certs *out)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der), rc = 0;

	if (n <= 0 || zd_certs_add(out, der, (size_t)n) != 0)
		rc = zd_err(dev, "CMS: more than %d certificates or a damaged one", ZD_CERTS_MAX);
	OPENSSL_free(der);
	return rc;
}

/* The signed attributes as the signature covers them (RFC 5652 §5.4): the
 * DER of each attribute in the order received, under a SET tag (not the
 * [0] IMPLICIT of the message), as OpenSSL's own CMS verification does. */
static int signed_attrs(struct ztmdev *dev, CMS_SignerInfo *si, struct zd_buf *out)
{
	struct zd_buf body;
	uint8_t hdr[6];
	size_t h = 0;
	int i, n, rc = -1;

	zd_buf_init(&body, out->max);
	for (i = 0; i < CMS_signed_get_attr_count(si); i++) {
		unsigned char *der = NULL;
		n = i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i), &der);
		if (n <= 0 || zd_buf_append(&body, der, (size_t)n) != 0) {
			OPENSSL_free(der);
			zd_err(dev, "CMS: signed attributes damaged or too large");
			goto out;
		}
		OPENSSL_free(der);
	}
	hdr[h++] = 0x31; /* SET */
	if (body.len < 0x80) {
		hdr[h++] = (uint8_t)body.len;
	} else if (body.len <= 0xff) {
		hdr[h++] = 0x81;
		hdr[h++] = (uint8_t)body.len;
	} else if (body.len <= 0xffff) {
		hdr[h++] = 0x82;
		hdr[h++] = (uint8_t)(body.len >> 8);
		hdr[h++] = (uint8_t)body.len;
	} else {
		zd_err(dev, "CMS: signed attributes too large");
		goto out;
	}
	if (zd_buf_append(out, hdr, h) != 0 || zd_buf_append(out, body.p, body.len) != 0) {
		zd_err(dev, "CMS: signed attributes too large");
		goto out;
	}
	rc = 0;
out:
	zd_buf_free(&body);
	return rc;
}

/* One attribute of this type with exactly one value of ASN.1 type. */
static const ASN1_STRING *one_attr(CMS_SignerInfo *si, const ASN1_OBJECT *oid, int type)
{
	return CMS_signed_get0_data_by_OBJ(si, oid, -3, type);
}

int zd_fw_cms_parse(struct ztmdev *dev, const uint8_t *der, size_t len, struct zd_fw_cms *out)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *certs = NULL;
	CMS_SignerInfo *si;
	ASN1_OBJECT *claims_oid = OBJ_txt2obj(OID_CLAIMS_ATTR, 1);
	const ASN1_OBJECT *obj;
	const ASN1_STRING *md, *claims;
	const ASN1_OBJECT *ct;
	ASN1_OCTET_STRING *sig, **pos;
	X509_ALGOR *dig_alg = NULL, *sig_alg = NULL;
	X509 *signer = NULL;
	int i, dig_nid, sig_nid, rc = -1;
	size_t want;

	if (claims_oid == NULL) {
		zd_ossl_err(dev, "CMS: claims OID");
		goto out;
	}
	if (len == 0 || len > ZTMDEV_FW_SIG_MAX) {
		zd_err(dev, "CMS: empty or larger than %zu bytes", ZTMDEV_FW_SIG_MAX);
		goto out;
	}
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL) {
		zd_ossl_err(dev, "CMS: not a DER ContentInfo");
		goto out;
	}
	if (p != der + len) {
		zd_err(dev, "CMS: bytes after the ContentInfo");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
		zd_err(dev, "CMS: not SignedData of content type id-data");
		goto out;
	}
	pos = CMS_get0_content(cms);
	if (pos == NULL || *pos != NULL) {
		zd_err(dev, "CMS: not a detached signature (the image is embedded)");
		goto out;
	}
	if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1) {
		zd_err(dev, "CMS: not exactly one SignerInfo");
		goto out;
	}
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	/* The signer's certificate first, then the others (intermediates). */
	certs = CMS_get1_certs(cms);
	for (i = 0; certs != NULL && i < sk_X509_num(certs); i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0) {
			if (signer != NULL) {
				zd_err(dev, "CMS: the signer's certificate is there twice");
				goto out;
			}
			signer = sk_X509_value(certs, i);
		}
	if (signer == NULL) {
		zd_err(dev, "CMS: the signer's certificate is not in the message");
		goto out;
	}
	if (add_cert(dev, signer, &out->chain) != 0)
		goto out;
	for (i = 0; i < sk_X509_num(certs); i++)
		if (sk_X509_value(certs, i) != signer &&
		    add_cert(dev, sk_X509_value(certs, i), &out->chain) != 0)
			goto out;
	/* digestAlgorithm and signatureAlgorithm (the table of the format). */
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig_alg, &sig_alg);
	X509_ALGOR_get0(&obj, NULL, NULL, dig_alg);
	dig_nid = OBJ_obj2nid(obj);
	X509_ALGOR_get0(&obj, NULL, NULL, sig_alg);
	sig_nid = OBJ_obj2nid(obj);
	if (dig_nid == NID_sha256 && sig_nid == NID_ecdsa_with_SHA256) {
		out->md = ZD_MD_SHA256;
		out->sig_alg = ZD_SIG_ES256_DER;
		want = 32;
	} else if (dig_nid == NID_sha384 && sig_nid == NID_ecdsa_with_SHA384) {
		out->md = ZD_MD_SHA384;
		out->sig_alg = ZD_SIG_ES384_DER;
		want = 48;
	} else if (dig_nid == NID_sha512 && sig_nid == NID_ED25519) {
		out->md = ZD_MD_SHA512;
		out->sig_alg = ZD_SIG_ED25519;
		want = 64;
	} else {
		zd_err(dev,
		       "CMS: digest and signature algorithms are not SHA-256/ecdsa-with-SHA256, "
		       "SHA-384/ecdsa-with-SHA384 or SHA-512/Ed25519");
		goto out;
	}
	if (CMS_signed_get_attr_count(si) <= 0) {
		zd_err(dev, "CMS: no signed attributes");
		goto out;
	}
	ct = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_contentType), -3, V_ASN1_OBJECT);
	if (ct == NULL || OBJ_obj2nid(ct) != NID_pkcs7_data) {
		zd_err(dev, "CMS: the contentType attribute is not one id-data");
		goto out;
	}
	md = one_attr(si, OBJ_nid2obj(NID_pkcs9_messageDigest), V_ASN1_OCTET_STRING);
	if (md == NULL || (size_t)ASN1_STRING_length(md) != want) {
		zd_err(dev, "CMS: not one messageDigest attribute of the digest's size");
		goto out;
	}
	memcpy(out->message_digest, ASN1_STRING_get0_data(md), want);
	out->message_digest_len = want;
	claims = one_attr(si, claims_oid, V_ASN1_OCTET_STRING);
	if (claims == NULL || ASN1_STRING_length(claims) <= 0 ||
	    zd_buf_append(&out->claims, ASN1_STRING_get0_data(claims),
	                  (size_t)ASN1_STRING_length(claims)) != 0) {
		zd_err(dev, "CMS: not one id-aa-ztmFirmwareClaims attribute (OCTET STRING)");
		goto out;
	}
	if (signed_attrs(dev, si, &out->tbs) != 0)
		goto out;
	sig = CMS_SignerInfo_get0_signature(si);
	if (sig == NULL || ASN1_STRING_length(sig) <= 0 ||
	    zd_buf_append(&out->sig, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig)) !=
	        0) {
		zd_err(dev, "CMS: signature empty or too large");
		goto out;
	}
	rc = 0;
out:
	ASN1_OBJECT_free(claims_oid);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}
