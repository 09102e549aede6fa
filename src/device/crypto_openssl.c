/* crypto_openssl.c - the OpenSSL 3 backend of the crypto seam (zd_crypto.h).
 * Every call is checked; a failure turns the OpenSSL error queue into the
 * context's error string and clears the queue (STYLE.md 8). Key PEM goes
 * through secure-memory BIOs so it is wiped when freed. */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "zd_ossl.h"
#include "ztmdev/ztmdev_ossl.h"

int zd_ossl_err(struct ztmdev *dev, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[160];

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "failed");
	ERR_clear_error();
	return zd_err(dev, "%s: %s", what, reason);
}

static int bio_to_buf(struct ztmdev *dev, BIO *b, struct zd_buf *out, const char *what)
{
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);

	if (n <= 0 || zd_buf_append(out, p, (size_t)n) != 0)
		return zd_err(dev, "%s: too large or empty", what);
	return 0;
}

int zd_key_generate(struct ztmdev *dev, struct zd_key **out)
{
	struct zd_key *k = OPENSSL_zalloc(sizeof(*k));

	if (k == NULL)
		return zd_err(dev, "key generation: out of memory");
	k->pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k->pk == NULL) {
		OPENSSL_free(k);
		return zd_ossl_err(dev, "key generation (EC P-256)");
	}
	*out = k;
	return 0;
}

void zd_key_free(struct zd_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pk);
	EVP_PKEY_free(k->tpm);
	OPENSSL_free(k);
}

int zd_key_write(struct ztmdev *dev, const struct zd_key *k, const uint8_t *pass, size_t passlen,
                 struct zd_buf *pem)
{
	BIO *b = BIO_new(BIO_s_secmem());
	int rc = -1;

	if (b == NULL || passlen > 1024)
		return zd_ossl_err(dev, "key encoding");
	/* PKCS#8 with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC): what OpenSSL 3
	 * writes for a cipher given here, readable by any PKCS#8 reader. */
	if (PEM_write_bio_PKCS8PrivateKey(b, k->pk, passlen > 0 ? EVP_aes_256_cbc() : NULL,
	                                  (const char *)pass, (int)passlen, NULL, NULL) != 1) {
		zd_ossl_err(dev, "key encoding");
		goto out;
	}
	rc = bio_to_buf(dev, b, pem, "key encoding");
out:
	BIO_free(b);
	return rc;
}

struct pass_arg {
	const uint8_t *p;
	size_t n;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	const struct pass_arg *a = u;

	(void)rwflag;
	if (a->n == 0 || a->n > (size_t)size)
		return -1;
	memcpy(buf, a->p, a->n);
	return (int)a->n;
}

int zd_key_read(struct ztmdev *dev, const uint8_t *pem, size_t len, const uint8_t *pass,
                size_t passlen, struct zd_key **out)
{
	struct pass_arg a = {pass, passlen};
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = NULL;
	char group[32];
	struct zd_key *k;

	if (b == NULL || len > 65536)
		return zd_err(dev, "key: out of memory or too large");
	pk = PEM_read_bio_PrivateKey_ex(b, NULL, pass_cb, &a, NULL, NULL);
	BIO_free(b);
	if (pk == NULL)
		return zd_ossl_err(dev, passlen > 0 ? "key: wrong passphrase or damaged key file"
		                                    : "key: damaged key file");
	if (!EVP_PKEY_is_a(pk, "EC") ||
	    EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
	    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
		EVP_PKEY_free(pk);
		ERR_clear_error();
		return zd_err(dev, "key: not an EC P-256 key");
	}
	k = OPENSSL_zalloc(sizeof(*k));
	if (k == NULL) {
		EVP_PKEY_free(pk);
		return zd_err(dev, "key: out of memory");
	}
	k->pk = pk;
	*out = k;
	return 0;
}

int zd_key_spki(struct ztmdev *dev, const struct zd_key *k, struct zd_buf *out)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k->pk, &der);
	int rc = 0;

	if (n <= 0)
		return zd_ossl_err(dev, "public key encoding");
	if (zd_buf_append(out, der, (size_t)n) != 0)
		rc = zd_err(dev, "public key encoding: too large");
	OPENSSL_free(der);
	return rc;
}

static int add_ext(X509 *issuer, X509 *subj, X509_REQ *req, STACK_OF(X509_EXTENSION) * sk, int nid,
                   const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx(&ctx, issuer, subj, req, NULL, 0);
	ex = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (ex == NULL)
		return -1;
	ok = subj != NULL ? X509_add_ext(subj, ex, -1) == 1 : sk_X509_EXTENSION_push(sk, ex) > 0;
	if (!ok || subj != NULL)
		X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

static X509_NAME *make_name(const struct zd_subject *s)
{
	X509_NAME *n = X509_NAME_new();

	/* serialNumber is a PrintableString (RFC 5280 X520SerialNumber): the
	 * serial alphabet ([A-Za-z0-9.-]) fits it, and MBSTRING_ASC lets the
	 * attribute table choose that type. */
	if (n == NULL ||
	    X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	                               (const unsigned char *)s->cn, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_serialNumber, MBSTRING_ASC,
	                               (const unsigned char *)s->serial, -1, -1, 0) != 1) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

/* 16 CSPRNG bytes, positive and with no leading zero byte (DER minimal). */
static int random_serial(X509 *x)
{
	unsigned char s[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (RAND_bytes(s, sizeof(s)) != 1)
		return -1;
	s[0] = (unsigned char)((s[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(s, sizeof(s), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

/* Takes der (from an i2d_* call made before this one: argument evaluation
 * order is unspecified, so never call i2d_* in the argument list). */
static int append_der(struct ztmdev *dev, int n, unsigned char *der, struct zd_buf *out,
                      const char *what)
{
	int rc = 0;

	if (n <= 0)
		return zd_ossl_err(dev, what);
	if (zd_buf_append(out, der, (size_t)n) != 0)
		rc = zd_err(dev, "%s: too large", what);
	OPENSSL_free(der);
	return rc;
}

int zd_cert_self_signed(struct ztmdev *dev, const struct zd_key *k, const struct zd_subject *s,
                        int64_t not_before, int64_t not_after, struct zd_buf *der)
{
	X509 *x = X509_new();
	X509_NAME *n = make_name(s);
	unsigned char *p = NULL;
	int len, rc = -1;

	if (x == NULL || n == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    random_serial(x) != 0 || X509_set_subject_name(x, n) != 1 ||
	    X509_set_issuer_name(x, n) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) == NULL ||
	    X509_set_pubkey(x, k->pk) != 1 ||
	    add_ext(x, x, NULL, NULL, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(x, x, NULL, NULL, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(x, x, NULL, NULL, NID_ext_key_usage, "clientAuth") != 0 ||
	    add_ext(x, x, NULL, NULL, NID_subject_key_identifier, "hash") != 0 ||
	    X509_sign(x, k->pk, EVP_sha256()) <= 0) {
		zd_ossl_err(dev, "bootstrap certificate");
		goto out;
	}
	len = i2d_X509(x, &p);
	rc = append_der(dev, len, p, der, "bootstrap certificate");
out:
	X509_NAME_free(n);
	X509_free(x);
	return rc;
}

/* The id-ztm-tpmEvidence attribute (docs/attestation.md): one value, the
 * ZtmTpmEvidence SEQUENCE as its DER (an ASN1_TYPE of type SEQUENCE holds
 * the whole encoding). */
static int evidence_attr(X509_REQ *r, const struct zd_buf *ev)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(ZD_OID_TPM_EVIDENCE, 1);
	int ok = oid != NULL && ev->len <= INT_MAX &&
	         X509_REQ_add1_attr_by_OBJ(r, oid, V_ASN1_SEQUENCE, ev->p, (int)ev->len) == 1;

	ASN1_OBJECT_free(oid);
	return ok ? 1 : 0;
}

int zd_csr_make(struct ztmdev *dev, const struct zd_key *k, const struct zd_subject *s,
                struct zd_buf *der)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = make_name(s);
	unsigned char *p = NULL;
	int len, rc = -1;

	if (r == NULL || n == NULL || X509_REQ_set_version(r, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(r, n) != 1 || X509_REQ_set_pubkey(r, k->pk) != 1 ||
	    (dev->tpm_evidence.len > 0 && evidence_attr(r, &dev->tpm_evidence) != 1) ||
	    X509_REQ_sign(r, k->pk, EVP_sha256()) <= 0) {
		zd_ossl_err(dev, "CSR");
		goto out;
	}
	len = i2d_X509_REQ(r, &p);
	rc = append_der(dev, len, p, der, "CSR");
out:
	X509_NAME_free(n);
	X509_REQ_free(r);
	return rc;
}

int zd_p7_certs(struct ztmdev *dev, const uint8_t *der, size_t len, struct zd_certs *out)
{
	const unsigned char *p = der;
	PKCS7 *p7;
	STACK_OF(X509) *certs = NULL;
	int i, rc = -1;

	if (len == 0 || len > 65536)
		return zd_err(dev, "reply: PKCS#7 empty or larger than 64 KiB");
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 == NULL)
		return zd_ossl_err(dev, "reply: not a PKCS#7 structure");
	if (p != der + len) {
		zd_err(dev, "reply: bytes after the PKCS#7 structure");
		goto out;
	}
	if (!PKCS7_type_is_signed(p7) || p7->d.sign == NULL || (certs = p7->d.sign->cert) == NULL ||
	    sk_X509_num(certs) == 0) {
		zd_err(dev, "reply: PKCS#7 is not certs-only SignedData with certificates");
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		unsigned char *c = NULL;
		int n = i2d_X509(sk_X509_value(certs, i), &c);
		if (n <= 0 || zd_certs_add(out, c, (size_t)n) != 0) {
			OPENSSL_free(c);
			zd_err(dev, "reply: more than %d certificates or a damaged one",
			       ZD_CERTS_MAX);
			goto out;
		}
		OPENSSL_free(c);
	}
	rc = 0;
out:
	PKCS7_free(p7);
	ERR_clear_error();
	return rc;
}

X509 *zd_ossl_decode(struct ztmdev *dev, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x == NULL) {
		zd_ossl_err(dev, "certificate: not DER X.509");
		return NULL;
	}
	if (p != der + len) {
		X509_free(x);
		zd_err(dev, "certificate: bytes after the certificate");
		return NULL;
	}
	return x;
}

int zd_cert_spki(struct ztmdev *dev, const uint8_t *der, size_t len, struct zd_buf *out)
{
	X509 *x = zd_ossl_decode(dev, der, len);
	unsigned char *p = NULL;
	int n, rc;

	if (x == NULL)
		return -1;
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &p);
	rc = append_der(dev, n, p, out, "certificate public key");
	X509_free(x);
	return rc;
}

static int push_decoded(struct ztmdev *dev, STACK_OF(X509) * sk, const struct zd_buf *b)
{
	X509 *x = zd_ossl_decode(dev, b->p, b->len);

	if (x == NULL)
		return -1;
	if (sk_X509_push(sk, x) <= 0) {
		X509_free(x);
		return zd_err(dev, "chain: out of memory");
	}
	return 0;
}

/* leaf (taken) chains through mid (taken) to a self-signed certificate of
 * anchors (the others there join mid) at time `at`, under
 * X509_V_FLAG_X509_STRICT; for TLS client authentication when client is
 * set, else for no purpose OpenSSL knows (the voucher signer's EKU is
 * checked by the caller). */
int zd_ossl_chain_verify(struct ztmdev *dev, X509 *x, STACK_OF(X509) * mid,
                         const struct zd_certs *anchors, int64_t at, int client)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *a;
	size_t i, roots = 0;
	int ok = 0; /* default fail (STYLE.md 6) */

	if (st == NULL || ctx == NULL || mid == NULL || x == NULL) {
		zd_err(dev, "chain: out of memory");
		goto out;
	}
	for (i = 0; i < anchors->n; i++) {
		if ((a = zd_ossl_decode(dev, anchors->der[i].p, anchors->der[i].len)) == NULL)
			goto out;
		if (X509_self_signed(a, 1) == 1) {
			if (X509_STORE_add_cert(st, a) != 1) {
				X509_free(a);
				zd_ossl_err(dev, "chain: trust anchor");
				goto out;
			}
			roots++;
			X509_free(a);
		} else if (sk_X509_push(mid, a) <= 0) {
			X509_free(a);
			zd_err(dev, "chain: out of memory");
			goto out;
		}
	}
	if (roots == 0) {
		zd_err(dev, "chain: the trust anchor holds no self-signed root");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, st, x, mid) != 1 ||
	    (client && X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1)) {
		zd_ossl_err(dev, "chain");
		goto out;
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)at);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) == 1)
		ok = 1;
	else
		zd_err(dev, "the certificate does not chain to the pinned root: %s",
		       X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	ERR_clear_error();
	X509_free(x);
	sk_X509_pop_free(mid, X509_free);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok ? 0 : -1;
}

int zd_chain_verify(struct ztmdev *dev, const struct zd_buf *leaf, const struct zd_certs *untrusted,
                    const struct zd_certs *anchors, int64_t at)
{
	STACK_OF(X509) *mid = sk_X509_new_null();
	size_t i;

	if (mid == NULL)
		return zd_err(dev, "chain: out of memory");
	for (i = 0; i < untrusted->n; i++)
		if (push_decoded(dev, mid, &untrusted->der[i]) != 0) {
			sk_X509_pop_free(mid, X509_free);
			return -1;
		}
	return zd_ossl_chain_verify(dev, zd_ossl_decode(dev, leaf->p, leaf->len), mid, anchors, at,
	                            1);
}

/* id-ct-animaJSONVoucher (RFC 8366 §8.3) and id-kp-ztmVoucherSigning
 * (docs/vouchers.md), as DER contents. */
static const unsigned char oid_ct_voucher[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                               0x01, 0x09, 0x10, 0x01, 0x28};
static const unsigned char oid_kp_voucher[] = {0x69, 0x82, 0xd1, 0x8a, 0x9e, 0xd8, 0x83,
                                               0x86, 0xa2, 0xac, 0xdd, 0xb1, 0xc4, 0x86,
                                               0x95, 0xc3, 0xcd, 0xc5, 0x81, 0x64};

static int oid_is(const ASN1_OBJECT *o, const unsigned char *der, size_t n)
{
	return o != NULL && OBJ_length(o) == n && memcmp(OBJ_get0_data(o), der, n) == 0;
}

/* The signer must carry id-kp-ztmVoucherSigning, and digitalSignature when
 * it has a keyUsage. */
static int voucher_signer_ok(struct ztmdev *dev, X509 *x)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	int i, found = 0;

	for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
		if (oid_is(sk_ASN1_OBJECT_value(eku, i), oid_kp_voucher, sizeof(oid_kp_voucher)))
			found = 1;
	EXTENDED_KEY_USAGE_free(eku);
	ERR_clear_error();
	if (!found)
		return zd_err(dev, "voucher: the signer is not a voucher signer (no "
		                   "id-kp-ztmVoucherSigning extendedKeyUsage)");
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
		return zd_err(dev, "voucher: the signer's keyUsage forbids signatures");
	return 0;
}

int zd_voucher_open(struct ztmdev *dev, const uint8_t *der, size_t len,
                    const struct zd_certs *anchors, int64_t at, struct zd_buf *content)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *signers = NULL, *certs = NULL;
	ASN1_OCTET_STRING **pos;
	BIO *out = BIO_new(BIO_s_mem());
	X509 *signer;
	char *data;
	long n;
	int rc = -1;

	if (out == NULL) {
		zd_err(dev, "voucher: out of memory");
		goto out;
	}
	if (len == 0 || len > 65536) {
		zd_err(dev, "voucher: empty or larger than 64 KiB");
		goto out;
	}
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL) {
		zd_ossl_err(dev, "voucher: not a CMS structure");
		goto out;
	}
	if (p != der + len) {
		zd_err(dev, "voucher: bytes after the CMS structure");
		goto out;
	}
	/* Lengths and types before any signature work (STYLE.md 6). */
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    !oid_is(CMS_get0_eContentType(cms), oid_ct_voucher, sizeof(oid_ct_voucher))) {
		zd_err(dev, "voucher: not SignedData of content type id-ct-animaJSONVoucher");
		goto out;
	}
	pos = CMS_get0_content(cms);
	if (pos == NULL || *pos == NULL || ASN1_STRING_length(*pos) <= 0) {
		zd_err(dev, "voucher: no embedded content");
		goto out;
	}
	if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1) {
		zd_err(dev, "voucher: not exactly one signer");
		goto out;
	}
	/* The signature over the content (and its signed attributes) with the
	 * signer's certificate from the message; the chain is ours to check
	 * below, for a purpose OpenSSL's S/MIME defaults do not know. */
	if (CMS_verify(cms, NULL, NULL, NULL, out, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		zd_ossl_err(dev, "voucher: the signature does not verify");
		goto out;
	}
	signers = CMS_get0_signers(cms);
	if (signers == NULL || sk_X509_num(signers) != 1 ||
	    (signer = sk_X509_value(signers, 0)) == NULL) {
		zd_err(dev, "voucher: no signer certificate");
		goto out;
	}
	if (voucher_signer_ok(dev, signer) != 0)
		goto out;
	certs = CMS_get1_certs(cms);
	if (certs == NULL && (certs = sk_X509_new_null()) == NULL) {
		zd_err(dev, "voucher: out of memory");
		goto out;
	}
	if (!X509_up_ref(signer)) {
		zd_err(dev, "voucher: out of memory");
		goto out;
	}
	/* chain_verify takes both. */
	rc = zd_ossl_chain_verify(dev, signer, certs, anchors, at, 0);
	certs = NULL;
	if (rc != 0) {
		char why[sizeof(dev->err)];
		memcpy(why, dev->err, sizeof(why));
		zd_err(dev, "voucher: signer: %s", why);
		rc = -1;
		goto out;
	}
	rc = -1;
	n = BIO_get_mem_data(out, &data);
	if (n <= 0 || zd_buf_append(content, data, (size_t)n) != 0) {
		zd_err(dev, "voucher: content empty or too large");
		goto out;
	}
	rc = 0;
out:
	sk_X509_free(signers);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	BIO_free(out);
	ERR_clear_error();
	return rc;
}

int zd_sha256(struct ztmdev *dev, const uint8_t *p, size_t n, uint8_t out[32])
{
	unsigned len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return zd_ossl_err(dev, "SHA-256");
	return 0;
}

int zd_cert_info(struct ztmdev *dev, const struct zd_buf *der, struct ztmdev_status *st)
{
	X509 *x = zd_ossl_decode(dev, der->p, der->len);
	BIO *b = BIO_new(BIO_s_mem());
	ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
	BIGNUM *bn = NULL;
	char *hex = NULL, *p = NULL;
	int days = 0, secs = 0, rc = -1;
	long n;
	size_t i;

	if (x == NULL)
		goto out;
	if (b == NULL || epoch == NULL) {
		zd_ossl_err(dev, "certificate details");
		goto out;
	}
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0 ||
	    (n = BIO_get_mem_data(b, &p)) < 0 ||
	    (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL ||
	    ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(x)) != 1) {
		zd_ossl_err(dev, "certificate details");
		goto out;
	}
	snprintf(st->subject, sizeof(st->subject), "%.*s", (int)n, p);
	snprintf(st->cert_serial, sizeof(st->cert_serial), "%s", hex);
	for (i = 0; st->cert_serial[i] != '\0'; i++)
		if (st->cert_serial[i] >= 'A' && st->cert_serial[i] <= 'F')
			st->cert_serial[i] = (char)(st->cert_serial[i] - 'A' + 'a');
	st->not_after = (int64_t)days * 86400 + secs;
	rc = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ASN1_TIME_free(epoch);
	BIO_free(b);
	X509_free(x);
	return rc;
}

EVP_PKEY *ztmdev_ossl_key(struct ztmdev *dev)
{
	if (zd_ensure_open(dev) != 0)
		return NULL;
	return dev->key->pk;
}
