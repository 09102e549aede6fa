/* ceremony_cert.c - the only place the ceremony makes certificates, and every
 * one goes through the issuance engine's profiles and pre-issuance lint
 * (docs/profiles.md), so nothing is signed that the lint has not passed:
 *   issuing CA : ztm_issue_ca_cert by the root (profile "issuing-ca"), with
 *                the EKU its leaves will carry (EKU chaining)
 *   admin      : ztm_issue by the operator CA (profile "operator")
 *   root       : profile "root", self-signed. The engine signs only as a
 *                ztm_ca, which needs the certificate that does not exist yet,
 *                so the root is described as a struct ztm_tbs, held to the
 *                lint by ztm_lint_root, and only then written from that
 *                struct with the OpenSSL X509 API and signed.
 */
#include "ceremony.h"

#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "ztm/issue.h"
#include "ztm/profile.h"
#include "ztm/serial.h"

static const struct {
	const char *name; /* OpenSSL's short name, as `openssl x509` prints it */
	unsigned bit;
	int nid;
} eku_names[] = {
    {"serverAuth", ZTM_EKU_SERVER_AUTH, NID_server_auth},
    {"clientAuth", ZTM_EKU_CLIENT_AUTH, NID_client_auth},
    {"codeSigning", ZTM_EKU_CODE_SIGN, NID_code_sign},
    {"OCSPSigning", ZTM_EKU_OCSP_SIGN, NID_OCSP_sign},
};

int cer_eku_parse(const char *s, unsigned *out)
{
	size_t i, n;

	*out = 0;
	if (s == NULL || s[0] == '\0')
		return -1;
	while (*s != '\0') {
		n = strcspn(s, ",");
		for (i = 0; i < sizeof(eku_names) / sizeof(eku_names[0]); i++)
			if (strlen(eku_names[i].name) == n && strncmp(s, eku_names[i].name, n) == 0)
				break;
		if (i == sizeof(eku_names) / sizeof(eku_names[0]))
			return -1;
		*out |= eku_names[i].bit;
		s += n;
		if (*s == ',' && *++s == '\0')
			return -1; /* trailing comma */
	}
	return 0;
}

int cer_spki(EVP_PKEY *k, struct ztm_buf *out, struct ztm_error *err)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	int rc;

	if (n <= 0)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "encoding a public key");
	rc = ztm_buf_append(out, der, (size_t)n);
	OPENSSL_free(der);
	if (rc != 0)
		return ztm_error_set(err, ZTM_E_NOMEM, "public key buffer");
	return 0;
}

static const EVP_MD *sign_md(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "ED25519"))
		return NULL; /* pure EdDSA: no pre-hash */
	if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

/* The root's fields from its profile, as ztm_issue_prepare would fill them
 * for an issued certificate. spki must outlive t. */
static int root_tbs(const struct cer_cert_req *r, const struct ztm_name_attr *subj, size_t n,
                    struct ztm_slice spki, struct ztm_tbs *t, struct ztm_error *err)
{
	const struct ztm_profile *p = ztm_profile_get("root");
	struct ztm_spki_info ki;
	struct ztm_error ignore;
	uint8_t digest[32];

	memset(t, 0, sizeof(*t));
	if (p == NULL)
		return ztm_error_set(err, ZTM_E_INTERNAL, "profile root is missing");
	t->profile = p;
	if (ztm_serial_new(t->serial, err) != 0)
		return -1;
	t->serial_len = ZTM_SERIAL_LEN;
	t->not_before = (int64_t)r->not_before;
	t->lifetime = r->lifetime;
	t->not_after = t->not_before + t->lifetime - 1;
	t->ca = p->is_ca;
	t->pathlen = p->pathlen;
	t->key_usage = p->key_usage;
	t->eku = p->eku;
	t->ocsp_nocheck = p->ocsp_nocheck;
	t->spki = spki;
	t->subject = subj;
	t->n_subject = n;
	/* The key identifier the engine gives issued certificates (RFC 7093 §2
	 * method 1), so the root's SKI and its children's AKI agree in kind.
	 * A key the policy refuses gets none; the lint names the reason. */
	if (ztm_spki_check(spki.p, spki.len, &ki, &ignore) == 0) {
		if (EVP_Digest(ki.public_key.p, ki.public_key.len, digest, NULL, EVP_sha256(),
		               NULL) != 1)
			return ztm_error_ossl(err, ZTM_E_CRYPTO, "root key identifier");
		memcpy(t->ski, digest, ZTM_KEYID_LEN);
		t->ski_len = ZTM_KEYID_LEN;
	}
	return 0;
}

static int name_nid(enum ztm_attr a)
{
	static const int nids[ZTM_ATTR_COUNT] = {
	    [ZTM_ATTR_CN] = NID_commonName,
	    [ZTM_ATTR_SERIAL] = NID_serialNumber,
	    [ZTM_ATTR_C] = NID_countryName,
	    [ZTM_ATTR_ST] = NID_stateOrProvinceName,
	    [ZTM_ATTR_L] = NID_localityName,
	    [ZTM_ATTR_O] = NID_organizationName,
	    [ZTM_ATTR_OU] = NID_organizationalUnitName,
	};
	return (unsigned)a < ZTM_ATTR_COUNT ? nids[a] : NID_undef;
}

/* Writes the subject as issue.c does: one attribute per RDN, in order,
 * PrintableString for C and serialNumber, UTF8String otherwise. */
static int root_name(X509_NAME *n, const struct ztm_tbs *t)
{
	size_t i;

	for (i = 0; i < t->n_subject; i++) {
		enum ztm_attr a = t->subject[i].type;
		int type = a == ZTM_ATTR_C || a == ZTM_ATTR_SERIAL ? V_ASN1_PRINTABLESTRING
		                                                   : V_ASN1_UTF8STRING;
		if (name_nid(a) == NID_undef ||
		    X509_NAME_add_entry_by_NID(n, name_nid(a), type,
		                               (const unsigned char *)t->subject[i].value, -1, -1,
		                               0) != 1)
			return -1;
	}
	return 0;
}

static int root_extensions(X509 *x, const struct ztm_tbs *t)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	int i, ok = 0;

	if (bc == NULL || ku == NULL || ski == NULL)
		goto out;
	bc->ca = t->ca ? 0xff : 0;
	if (t->pathlen >= 0 && ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
	                        ASN1_INTEGER_set(bc->pathlen, t->pathlen) != 1))
		goto out;
	/* Named bit i of keyUsage is ZTM_KU bit i (RFC 5280 §4.2.1.3). */
	for (i = 0; i < 9; i++)
		if ((t->key_usage & (1u << i)) && ASN1_BIT_STRING_set_bit(ku, i, 1) != 1)
			goto out;
	if (ASN1_OCTET_STRING_set(ski, t->ski, (int)t->ski_len) != 1)
		goto out;
	ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1 &&
	     X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1 &&
	     X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) == 1;
out:
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	ASN1_OCTET_STRING_free(ski);
	return ok ? 0 : -1;
}

/* Writes t (already linted) as a certificate signed by key, whose public
 * half t->spki must be. Fields this writer does not produce are refused
 * rather than dropped, so the certificate never differs from what the lint
 * passed. */
static X509 *root_build(const struct ztm_tbs *t, EVP_PKEY *key, struct ztm_error *err)
{
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	unsigned char *spki = NULL;
	int n, ok = 0;

	if (t->eku != 0 || t->ocsp_nocheck || t->n_san != 0 || t->aki_len != 0 ||
	    t->aia_issuers != NULL || t->aia_ocsp != NULL || t->cdp != NULL) {
		ztm_error_set(err, ZTM_E_INTERNAL,
		              "root: a field the root writer does not support");
		return NULL;
	}
	x = X509_new();
	bn = BN_bin2bn(t->serial, (int)t->serial_len, NULL);
	if (x == NULL || bn == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    root_name(X509_get_subject_name(x), t) != 0 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)t->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)t->not_after) == NULL ||
	    X509_set_pubkey(x, key) != 1 || root_extensions(x, t) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "root: building the certificate");
		goto out;
	}
	/* The key the lint judged must be the key that goes in. */
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	if (n <= 0 || (size_t)n != t->spki.len || memcmp(spki, t->spki.p, t->spki.len) != 0) {
		ztm_error_set(err, ZTM_E_INTERNAL, "root: public key differs from the linted one");
		goto out;
	}
	if (X509_sign(x, key, sign_md(key)) <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "root: signing the certificate");
		goto out;
	}
	ok = 1;
out:
	OPENSSL_free(spki);
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *issue_root(const struct cer_cert_req *r, const struct ztm_name_attr *subj, size_t n,
                        struct ztm_error *err)
{
	struct ztm_buf spki;
	struct ztm_tbs t;
	X509 *x = NULL;

	ztm_buf_init(&spki, 0);
	if (r->root_key == NULL) {
		ztm_error_set(err, ZTM_E_USAGE, "root: no key");
		goto out;
	}
	if (cer_spki(r->root_key, &spki, err) != 0 ||
	    root_tbs(r, subj, n, ztm_buf_slice(&spki), &t, err) != 0 || ztm_lint_root(&t, err) != 0)
		goto out;
	x = root_build(&t, r->root_key, err);
out:
	ztm_buf_free(&spki);
	return x;
}

static X509 *issue_by_ca(const struct cer_cert_req *r, const struct ztm_name_attr *subj, size_t n,
                         struct ztm_error *err)
{
	struct ztm_issue_req q;
	struct ztm_buf der;
	const unsigned char *p;
	X509 *x = NULL;
	int rc;

	ztm_buf_init(&der, 0);
	memset(&q, 0, sizeof(q));
	q.profile = r->profile;
	q.subject = subj;
	q.n_subject = n;
	q.spki = r->spki;
	q.not_before = (int64_t)r->not_before;
	q.lifetime = r->lifetime;
	q.eku = r->eku;
	if (ztm_serial_new(q.serial, err) != 0)
		goto out;
	if (strcmp(r->profile, "issuing-ca") == 0)
		rc = ztm_issue_ca_cert(r->issuer, &q, &der, err);
	else
		rc = ztm_issue(r->issuer, &q, &der, err);
	if (rc != 0)
		goto out;
	p = der.data;
	x = d2i_X509(NULL, &p, (long)der.len);
	if (x == NULL || p != der.data + der.len) {
		ztm_error_ossl(err, ZTM_E_INTERNAL, "decoding the issued certificate");
		X509_free(x);
		x = NULL;
	}
out:
	ztm_buf_free(&der);
	return x;
}

X509 *cer_cert_issue(const struct cer_cert_req *r, struct ztm_error *err)
{
	struct ztm_name_attr subj[2];
	struct ztm_error e;
	size_t n = 0;
	X509 *x;

	if (r->profile == NULL || r->cn == NULL ||
	    (strcmp(r->profile, "root") != 0 && r->issuer == NULL)) {
		ztm_error_set(err, ZTM_E_USAGE, "certificate request: incomplete");
		return NULL;
	}
	/* O then CN, one RDN each, as the ceremony has always written them. */
	if (r->org != NULL && r->org[0] != '\0')
		subj[n++] = (struct ztm_name_attr){ZTM_ATTR_O, r->org};
	subj[n++] = (struct ztm_name_attr){ZTM_ATTR_CN, r->cn};
	memset(&e, 0, sizeof(e));
	x = strcmp(r->profile, "root") == 0 ? issue_root(r, subj, n, &e)
	                                    : issue_by_ca(r, subj, n, &e);
	/* Name the certificate: "lint subject: ..." alone does not say which. */
	if (x == NULL)
		ztm_error_set(err, e.code, "certificate '%s' (profile %s): %s", r->cn, r->profile,
		              e.msg);
	return x;
}
