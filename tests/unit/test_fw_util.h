/* test_fw_util.h - firmware signatures made in the test, independent of
 * the code under test (the server side is not on main yet): a small CBOR
 * encoder, the claims map, COSE_Sign1 manifests signed with the OpenSSL
 * EVP API and detached CMS made with OpenSSL's CMS API, under a real
 * PKI made here: root -> codesign CA -> signers (P-256, P-384, Ed25519,
 * test channel, no codeSigning EKU, no channel policy) and a foreign root
 * -> CA -> signer. Header-only; every helper aborts on error. */
#ifndef ZTM_TEST_FW_UTIL_H
#define ZTM_TEST_FW_UTIL_H

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x509_fixture.h"

#define TF_OID_FW      "2.25.89904570167144526415718935782041833074"
#define TF_POLICY_PROD TF_OID_FW ".1"
#define TF_POLICY_TEST TF_OID_FW ".2"
#define TF_OID_CLAIMS  TF_OID_FW ".3"
#define TF_CTYPE       "application/ztm-fw-claims+cbor"
#define TF_PRODUCT     "widget"

/* Growing bytes. */
struct tf_buf {
	uint8_t *p;
	size_t len, cap;
};

static FX_UNUSED void tf_put(struct tf_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static FX_UNUSED void tf_free(struct tf_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* The test's own CBOR encoder: heads in shortest form (RFC 8949 §3). */
static FX_UNUSED void tf_head(struct tf_buf *b, int major, uint64_t v)
{
	uint8_t h[9];
	size_t n = v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8, i;

	h[0] = (uint8_t)(major << 5 | (n == 0 ? v : n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
	for (i = 0; i < n; i++)
		h[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	tf_put(b, h, n + 1);
}

static FX_UNUSED void tf_int(struct tf_buf *b, int64_t v)
{
	if (v >= 0)
		tf_head(b, 0, (uint64_t)v);
	else
		tf_head(b, 1, (uint64_t)(-1 - v));
}

static FX_UNUSED void tf_bstr(struct tf_buf *b, const void *p, size_t n)
{
	tf_head(b, 2, n);
	tf_put(b, p, n);
}

static FX_UNUSED void tf_tstr(struct tf_buf *b, const char *s)
{
	tf_head(b, 3, strlen(s));
	tf_put(b, s, strlen(s));
}

struct tf_claims {
	const char *product, *version;
	uint64_t svn, size;
	uint8_t digest[32];
	uint64_t channel, release, signed_at;
	int extra_key; /* nonzero: one more claim with this key (value 0) */
};

static FX_UNUSED void tf_claims_encode(const struct tf_claims *c, struct tf_buf *out)
{
	tf_head(out, 5, c->extra_key ? 10 : 9);
	tf_int(out, 1), tf_tstr(out, c->product);
	tf_int(out, 2), tf_tstr(out, c->version);
	tf_int(out, 3), tf_int(out, (int64_t)c->svn);
	tf_int(out, 4), tf_int(out, (int64_t)c->size);
	tf_int(out, 5), tf_int(out, -16);
	tf_int(out, 6), tf_bstr(out, c->digest, 32);
	tf_int(out, 7), tf_int(out, (int64_t)c->channel);
	tf_int(out, 8), tf_int(out, (int64_t)c->release);
	tf_int(out, 9), tf_int(out, (int64_t)c->signed_at);
	if (c->extra_key)
		tf_int(out, c->extra_key), tf_int(out, 0);
}

/* --- the PKI ---------------------------------------------------------- */

static FX_UNUSED X509 *tf_issue(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key, const char *cn,
                                int ca, const char *eku, const char *policy)
{
	static long serial = 100;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_is_a(issuer_key, "ED25519") ? NULL : EVP_sha256();

	if (x == NULL || n == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"ztm test", -1,
	                               -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_set_subject_name(x, n) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		abort();
	fx_add_ext(issuer, x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	fx_add_ext(issuer, x, NID_key_usage,
	           ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	fx_add_ext(issuer, x, NID_subject_key_identifier, "hash");
	fx_add_ext(issuer, x, NID_authority_key_identifier, "keyid:always");
	if (eku != NULL)
		fx_add_ext(issuer, x, NID_ext_key_usage, eku);
	if (policy != NULL) {
		/* Built directly: the config-string parser of certificatePolicies
		 * does not take this long UUID arc. */
		CERTIFICATEPOLICIES *pols = sk_POLICYINFO_new_null();
		POLICYINFO *pi = POLICYINFO_new();
		if (pols == NULL || pi == NULL || (pi->policyid = OBJ_txt2obj(policy, 1)) == NULL ||
		    sk_POLICYINFO_push(pols, pi) <= 0 ||
		    X509_add1_ext_i2d(x, NID_certificate_policies, pols, 0, X509V3_ADD_DEFAULT) !=
		        1)
			abort();
		CERTIFICATEPOLICIES_free(pols);
	}
	if (X509_sign(x, issuer_key, md) <= 0)
		abort();
	X509_NAME_free(n);
	return x;
}

enum tf_signer {
	TF_P256 = 0,  /* production channel */
	TF_P384,      /* production channel */
	TF_ED25519,   /* production channel */
	TF_TEST,      /* P-256, test channel */
	TF_NO_EKU,    /* P-256, production policy, serverAuth instead of codeSigning */
	TF_NO_POLICY, /* P-256, codeSigning, no channel policy */
	TF_FOREIGN,   /* P-256, production, under a foreign root and CA */
	TF_SIGNERS
};

struct tf_pki {
	EVP_PKEY *root_key, *ca_key, *froot_key, *fca_key;
	X509 *root, *ca, *froot, *fca;
	EVP_PKEY *key[TF_SIGNERS];
	X509 *cert[TF_SIGNERS];
	char root_pem[8192];
};

static FX_UNUSED void tf_pki_make(struct tf_pki *k)
{
	static const struct {
		const char *kind, *cn, *eku, *policy;
		int foreign;
	} rows[TF_SIGNERS] = {
	    [TF_P256] = {"P-256", "fw p256", "codeSigning", TF_POLICY_PROD, 0},
	    [TF_P384] = {"P-384", "fw p384", "codeSigning", TF_POLICY_PROD, 0},
	    [TF_ED25519] = {"ED25519", "fw ed25519", "codeSigning", TF_POLICY_PROD, 0},
	    [TF_TEST] = {"P-256", "fw test", "codeSigning", TF_POLICY_TEST, 0},
	    [TF_NO_EKU] = {"P-256", "fw no eku", "serverAuth", TF_POLICY_PROD, 0},
	    [TF_NO_POLICY] = {"P-256", "fw no policy", "codeSigning", NULL, 0},
	    [TF_FOREIGN] = {"P-256", "fw foreign", "codeSigning", TF_POLICY_PROD, 1},
	};
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int i;

	memset(k, 0, sizeof(*k));
	k->root_key = fx_key("P-256");
	k->root = fx_root(k->root_key, "codesign root", 1, 3650);
	k->ca_key = fx_key("P-256");
	k->ca = tf_issue(k->root, k->root_key, k->ca_key, "codesign CA", 1, NULL, NULL);
	k->froot_key = fx_key("P-256");
	k->froot = fx_root(k->froot_key, "foreign root", 1, 3650);
	k->fca_key = fx_key("P-256");
	k->fca = tf_issue(k->froot, k->froot_key, k->fca_key, "codesign CA", 1, NULL, NULL);
	for (i = 0; i < TF_SIGNERS; i++) {
		k->key[i] = fx_key(rows[i].kind);
		k->cert[i] = tf_issue(rows[i].foreign ? k->fca : k->ca,
		                      rows[i].foreign ? k->fca_key : k->ca_key, k->key[i],
		                      rows[i].cn, 0, rows[i].eku, rows[i].policy);
	}
	if (b == NULL || PEM_write_bio_X509(b, k->root) != 1 ||
	    (n = BIO_get_mem_data(b, &p)) <= 0 || (size_t)n >= sizeof(k->root_pem))
		abort();
	memcpy(k->root_pem, p, (size_t)n);
	k->root_pem[n] = '\0';
	BIO_free(b);
}

static FX_UNUSED void tf_pki_free(struct tf_pki *k)
{
	int i;

	for (i = 0; i < TF_SIGNERS; i++) {
		EVP_PKEY_free(k->key[i]);
		X509_free(k->cert[i]);
	}
	EVP_PKEY_free(k->root_key);
	EVP_PKEY_free(k->ca_key);
	EVP_PKEY_free(k->froot_key);
	EVP_PKEY_free(k->fca_key);
	X509_free(k->root);
	X509_free(k->ca);
	X509_free(k->froot);
	X509_free(k->fca);
}

static FX_UNUSED void tf_der(X509 *x, struct tf_buf *out)
{
	unsigned char *d = NULL;
	int n = i2d_X509(x, &d);

	if (n <= 0)
		abort();
	tf_put(out, d, (size_t)n);
	OPENSSL_free(d);
}

/* A signature of msg: ECDSA as COSE r || s (raw = 1) or DER, EdDSA raw. */
static FX_UNUSED void tf_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, int raw,
                              struct tf_buf *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ed = EVP_PKEY_is_a(key, "ED25519");
	int bits = EVP_PKEY_get_bits(key);
	const char *md = ed ? NULL : bits > 256 ? "SHA384" : "SHA256";
	unsigned char sig[256], rs[96];
	const unsigned char *sp = sig;
	size_t n = sizeof(sig), half = bits > 256 ? 48 : 32;
	ECDSA_SIG *es;

	if (c == NULL || EVP_DigestSignInit_ex(c, NULL, md, NULL, NULL, key, NULL) != 1 ||
	    EVP_DigestSign(c, sig, &n, msg, len) != 1)
		abort();
	EVP_MD_CTX_free(c);
	if (ed || !raw) {
		tf_put(out, sig, n);
		return;
	}
	es = d2i_ECDSA_SIG(NULL, &sp, (long)n);
	if (es == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, (int)half) != (int)half ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + half, (int)half) != (int)half)
		abort();
	ECDSA_SIG_free(es);
	tf_put(out, rs, 2 * half);
}

/* A COSE_Sign1 manifest over claims, x5chain = certs (DER, signer first);
 * alg 0 = the key's own. */
static FX_UNUSED void tf_manifest(EVP_PKEY *key, X509 *const *certs, size_t ncerts, int64_t alg,
                                  const struct tf_buf *claims, struct tf_buf *out)
{
	struct tf_buf prot = {0}, tbs = {0}, sig = {0}, der = {0};
	size_t i;

	if (alg == 0)
		alg = EVP_PKEY_is_a(key, "ED25519") ? -8 : EVP_PKEY_get_bits(key) > 256 ? -35 : -7;
	tf_head(&prot, 5, 3);
	tf_int(&prot, 1), tf_int(&prot, alg);
	tf_int(&prot, 3), tf_tstr(&prot, TF_CTYPE);
	tf_int(&prot, 33), tf_head(&prot, 4, ncerts);
	for (i = 0; i < ncerts; i++) {
		der.len = 0;
		tf_der(certs[i], &der);
		tf_bstr(&prot, der.p, der.len);
	}
	tf_head(&tbs, 4, 4);
	tf_tstr(&tbs, "Signature1");
	tf_bstr(&tbs, prot.p, prot.len);
	tf_bstr(&tbs, NULL, 0);
	tf_bstr(&tbs, claims->p, claims->len);
	tf_sign(key, tbs.p, tbs.len, 1, &sig);
	tf_head(out, 6, 18);
	tf_head(out, 4, 4);
	tf_bstr(out, prot.p, prot.len);
	tf_head(out, 5, 0);
	tf_bstr(out, claims->p, claims->len);
	tf_bstr(out, sig.p, sig.len);
	tf_free(&prot);
	tf_free(&tbs);
	tf_free(&sig);
	tf_free(&der);
}

/* DER SET OF order (X.690 §11.6): encodings compared as octet strings,
 * the shorter padded with zeros. */
static FX_UNUSED int tf_der_cmp(const void *a, const void *b)
{
	const struct tf_buf *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	return c != 0 ? c : x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

/* Signs the signed attributes of si by hand, for a digest computed by the
 * caller: messageDigest and contentType added, the attributes DER-sorted
 * under a SET tag (RFC 5652 §5.4), signed, the signature put in. Needed
 * for Ed25519 (OpenSSL 3.0's CMS cannot sign with it: its EdDSA provider
 * refuses the SHA-512 CMS_final passes) and for images too large to hand
 * to CMS_final in memory (the benchmark). */
static FX_UNUSED void tf_cms_sign_attrs(CMS_SignerInfo *si, EVP_PKEY *key, const uint8_t *dig,
                                        size_t dlen)
{
	struct tf_buf enc[8], set = {0}, body = {0}, sig = {0};
	int ed = EVP_PKEY_is_a(key, "ED25519");
	int nid = ed                             ? NID_ED25519
	          : EVP_PKEY_get_bits(key) > 256 ? NID_ecdsa_with_SHA384
	                                         : NID_ecdsa_with_SHA256;
	X509_ALGOR *alg = NULL;
	int i, n;

	memset(enc, 0, sizeof(enc));
	CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &alg);
	if (alg == NULL || X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL) != 1)
		abort();
	if (CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, dig,
	                                (int)dlen) != 1 ||
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
	                                OBJ_nid2obj(NID_pkcs7_data), -1) != 1)
		abort();
	n = CMS_signed_get_attr_count(si);
	if (n <= 0 || n > 8)
		abort();
	for (i = 0; i < n; i++) {
		unsigned char *d = NULL;
		int l = i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i), &d);
		if (l <= 0)
			abort();
		tf_put(&enc[i], d, (size_t)l);
		OPENSSL_free(d);
	}
	qsort(enc, (size_t)n, sizeof(enc[0]), tf_der_cmp);
	for (i = 0; i < n; i++)
		tf_put(&body, enc[i].p, enc[i].len);
	/* SET, DER length in its shortest form. */
	if (body.len < 0x80)
		tf_put(&set, (uint8_t[]){0x31, (uint8_t)body.len}, 2);
	else if (body.len <= 0xff)
		tf_put(&set, (uint8_t[]){0x31, 0x81, (uint8_t)body.len}, 3);
	else
		tf_put(&set, (uint8_t[]){0x31, 0x82, (uint8_t)(body.len >> 8), (uint8_t)body.len},
		       4);
	tf_put(&set, body.p, body.len);
	tf_sign(key, set.p, set.len, 0, &sig);
	if (ASN1_STRING_set(CMS_SignerInfo_get0_signature(si), sig.p, (int)sig.len) != 1)
		abort();
	for (i = 0; i < n; i++)
		tf_free(&enc[i]);
	tf_free(&set);
	tf_free(&body);
	tf_free(&sig);
}

/* A detached CMS like tf_cms below, for an image whose digest (the
 * signer's: SHA-256, SHA-384 or SHA-512) the caller computed. */
static FX_UNUSED void tf_cms_digest(EVP_PKEY *key, X509 *cert, X509 *extra,
                                    const struct tf_buf *claims, const uint8_t *dig, size_t dlen,
                                    struct tf_buf *out)
{
	int flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	int ed = EVP_PKEY_is_a(key, "ED25519");
	const EVP_MD *md = ed                             ? EVP_sha512()
	                   : EVP_PKEY_get_bits(key) > 256 ? EVP_sha384()
	                                                  : EVP_sha256();
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
	ASN1_OBJECT *oid = OBJ_txt2obj(TF_OID_CLAIMS, 1);
	CMS_SignerInfo *si;
	unsigned char *der = NULL;
	int n;

	if (cms == NULL || oid == NULL || CMS_set_detached(cms, 1) != 1 ||
	    (si = CMS_add1_signer(cms, cert, key, md, flags)) == NULL ||
	    CMS_signed_add1_attr_by_OBJ(si, oid, V_ASN1_OCTET_STRING, claims->p,
	                                (int)claims->len) != 1 ||
	    (extra != NULL && CMS_add1_cert(cms, extra) != 1))
		abort();
	tf_cms_sign_attrs(si, key, dig, dlen);
	if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		abort();
	tf_put(out, der, (size_t)n);
	OPENSSL_free(der);
	ASN1_OBJECT_free(oid);
	CMS_ContentInfo_free(cms);
}

/* A detached CMS SignedData over image with the claims attribute; the
 * certificates: the signer's, then extra (the CA), as the format says. */
static FX_UNUSED void tf_cms(EVP_PKEY *key, X509 *cert, X509 *extra, const struct tf_buf *claims,
                             const uint8_t *image, size_t len, struct tf_buf *out)
{
	int flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	int ed = EVP_PKEY_is_a(key, "ED25519");
	const EVP_MD *md = ed                             ? EVP_sha512()
	                   : EVP_PKEY_get_bits(key) > 256 ? EVP_sha384()
	                                                  : EVP_sha256();
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
	CMS_SignerInfo *si;
	ASN1_OBJECT *oid = OBJ_txt2obj(TF_OID_CLAIMS, 1);
	BIO *in = BIO_new_mem_buf(image, (int)len);
	unsigned char *der = NULL;
	int n;

	if (cms == NULL || oid == NULL || in == NULL ||
	    (si = CMS_add1_signer(cms, cert, key, md, flags)) == NULL ||
	    CMS_signed_add1_attr_by_OBJ(si, oid, V_ASN1_OCTET_STRING, claims->p,
	                                (int)claims->len) != 1 ||
	    (extra != NULL && CMS_add1_cert(cms, extra) != 1))
		abort();
	if (ed) {
		unsigned char dig[64];
		unsigned dlen = 0;
		if (EVP_Digest(image, len, dig, &dlen, EVP_sha512(), NULL) != 1 ||
		    CMS_set_detached(cms, 1) != 1)
			abort();
		tf_cms_sign_attrs(si, key, dig, dlen);
	}
	if ((!ed && CMS_final(cms, in, NULL, flags) != 1) ||
	    (n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		ERR_print_errors_fp(stderr);
		abort();
	}
	tf_put(out, der, (size_t)n);
	OPENSSL_free(der);
	ASN1_OBJECT_free(oid);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
}

/* The security-version counter of the tests. */
struct tf_svn {
	uint32_t value;
	int fail_read, writes;
};

static FX_UNUSED int tf_svn_read(void *arg, uint32_t *out)
{
	struct tf_svn *s = arg;

	if (s->fail_read)
		return -1;
	*out = s->value;
	return 0;
}

static FX_UNUSED int tf_svn_write(void *arg, uint32_t v)
{
	struct tf_svn *s = arg;

	s->value = v;
	s->writes++;
	return 0;
}

#endif
