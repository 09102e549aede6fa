/* issue.c - the to-be-signed certificate encoder and the issuance path.
 *
 * Why our own DER writer rather than the X509 API: the API route decodes the
 * public key and encodes it again (X509_set_pubkey, 175 us of the 490 us
 * measured, PERFORMANCE.md), builds every extension as an ASN.1 object and
 * re-encodes the whole tree to sign it. Here the SPKI, the issuer name and
 * the signature AlgorithmIdentifier are copied as bytes, the extensions are
 * a few fixed shapes, and the only costly calls left are one SHA-256 for
 * the key identifier and the signature itself. The writer does framing only
 * (der.c); the lint runs on the same struct the writer reads.
 */
#include "ztm/issue.h"

#include <openssl/evp.h>
#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "der.h"
#include "ztm/crl.h"
#include "mdcache.h"
#include "ztm/profile.h"

static size_t ext_begin(struct ztm_der *w, const char *oid, size_t oid_len, int critical,
                        size_t *outer)
{
	*outer = ztm_der_begin(w, ZTM_DER_SEQUENCE);
	ztm_der_tlv(w, ZTM_DER_OID, oid, oid_len);
	if (critical)
		ztm_der_tlv(w, ZTM_DER_BOOLEAN, "\xff", 1);
	return ztm_der_begin(w, ZTM_DER_OCTETSTR);
}

static void ext_end(struct ztm_der *w, size_t inner, size_t outer)
{
	ztm_der_end(w, inner);
	ztm_der_end(w, outer);
}

#define EXT_BEGIN(w, o, crit, outer) ext_begin((w), (o), ZTM_OID_LEN(o), (crit), (outer))

static void put_name(struct ztm_der *w, const struct ztm_name_attr *a, size_t n)
{
	static const struct {
		const char *oid;
		size_t len;
	} oids[ZTM_ATTR_COUNT] = {
	    [ZTM_ATTR_CN] = {ZTM_OID_AT_CN, 3}, [ZTM_ATTR_SERIAL] = {ZTM_OID_AT_SERIAL, 3},
	    [ZTM_ATTR_C] = {ZTM_OID_AT_C, 3},   [ZTM_ATTR_ST] = {ZTM_OID_AT_ST, 3},
	    [ZTM_ATTR_L] = {ZTM_OID_AT_L, 3},   [ZTM_ATTR_O] = {ZTM_OID_AT_O, 3},
	    [ZTM_ATTR_OU] = {ZTM_OID_AT_OU, 3},
	};
	size_t name = ztm_der_begin(w, ZTM_DER_SEQUENCE), i, set, atv;

	for (i = 0; i < n; i++) {
		if ((unsigned)a[i].type >= ZTM_ATTR_COUNT || a[i].value == NULL) {
			w->failed = 1;
			return;
		}
		set = ztm_der_begin(w, ZTM_DER_SET);
		atv = ztm_der_begin(w, ZTM_DER_SEQUENCE);
		ztm_der_tlv(w, ZTM_DER_OID, oids[a[i].type].oid, oids[a[i].type].len);
		/* RFC 5280 App. A: countryName and serialNumber are
		 * PrintableString; the rest DirectoryString, UTF8String per
		 * §4.1.2.6. */
		ztm_der_tlv(w,
		            a[i].type == ZTM_ATTR_C || a[i].type == ZTM_ATTR_SERIAL
		                ? ZTM_DER_PRINTABLE
		                : ZTM_DER_UTF8,
		            a[i].value, strlen(a[i].value));
		ztm_der_end(w, atv);
		ztm_der_end(w, set);
	}
	ztm_der_end(w, name);
}

/* keyUsage as a DER BIT STRING: named bit i is bit (7 - i%8) of octet i/8;
 * trailing zero bits are dropped and counted in the first octet (X.690
 * §11.2.2). */
static void put_key_usage(struct ztm_der *w, unsigned ku)
{
	uint8_t v[3] = {0, 0, 0};
	int top = -1, i;

	for (i = 0; i < 9; i++)
		if (ku & (1u << i)) {
			v[1 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
			top = i;
		}
	if (top < 0) {
		w->failed = 1;
		return;
	}
	v[0] = (uint8_t)(7 - top % 8);
	ztm_der_tlv(w, ZTM_DER_BITSTRING, v, (size_t)(2 + top / 8));
}

static void put_sans(struct ztm_der *w, const struct ztm_tbs *t)
{
	uint8_t oid[64];
	size_t i, oid_len, gn, ex, hw;

	for (i = 0; i < t->n_san; i++) {
		const struct ztm_san *s = &t->san[i];
		switch (s->type) {
		case ZTM_SAN_DNS:
			ztm_der_tlv(w, ZTM_DER_CTX(2), s->value, strlen(s->value));
			break;
		case ZTM_SAN_URI:
			ztm_der_tlv(w, ZTM_DER_CTX(6), s->value, strlen(s->value));
			break;
		case ZTM_SAN_IP: {
			uint8_t ip[16];
			if (inet_pton(AF_INET, s->value, ip) == 1) {
				ztm_der_tlv(w, ZTM_DER_CTX(7), ip, 4);
			} else if (inet_pton(AF_INET6, s->value, ip) == 1) {
				ztm_der_tlv(w, ZTM_DER_CTX(7), ip, 16);
			} else {
				w->failed = 1;
				return;
			}
			break;
		}
		case ZTM_SAN_HWMODULE:
			/* RFC 4108 §5: otherName { id-on-hardwareModuleName,
			 * [0] EXPLICIT HardwareModuleName { hwType, hwSerialNum } } */
			if (ztm_der_oid_text(s->hw_type, oid, sizeof(oid), &oid_len) != 0) {
				w->failed = 1;
				return;
			}
			gn = ztm_der_begin(w, ZTM_DER_CTX_CONS(0));
			ZTM_DER_PUT_OID(w, ZTM_OID_HW_MODULE);
			ex = ztm_der_begin(w, ZTM_DER_CTX_CONS(0));
			hw = ztm_der_begin(w, ZTM_DER_SEQUENCE);
			ztm_der_tlv(w, ZTM_DER_OID, oid, oid_len);
			ztm_der_tlv(w, ZTM_DER_OCTETSTR, s->value, strlen(s->value));
			ztm_der_end(w, hw);
			ztm_der_end(w, ex);
			ztm_der_end(w, gn);
			break;
		default:
			w->failed = 1;
			return;
		}
	}
}

static void put_extensions(struct ztm_der *w, const struct ztm_tbs *t)
{
	size_t x3 = ztm_der_begin(w, ZTM_DER_CTX_CONS(3));
	size_t exts = ztm_der_begin(w, ZTM_DER_SEQUENCE);
	size_t o, in, s, d;

	/* basicConstraints, critical (RFC 5280 §4.2.1.9: MUST in CAs). */
	in = EXT_BEGIN(w, ZTM_OID_BC, 1, &o);
	s = ztm_der_begin(w, ZTM_DER_SEQUENCE);
	if (t->ca)
		ztm_der_tlv(w, ZTM_DER_BOOLEAN, "\xff", 1);
	if (t->ca && t->pathlen >= 0)
		ztm_der_uint(w, (uint64_t)t->pathlen);
	ztm_der_end(w, s);
	ext_end(w, in, o);

	in = EXT_BEGIN(w, ZTM_OID_KU, 1, &o);
	put_key_usage(w, t->key_usage);
	ext_end(w, in, o);

	if (t->eku != 0) {
		in = EXT_BEGIN(w, ZTM_OID_EKU, 0, &o);
		s = ztm_der_begin(w, ZTM_DER_SEQUENCE);
		if (t->eku & ZTM_EKU_SERVER_AUTH)
			ZTM_DER_PUT_OID(w, ZTM_OID_KP_SERVER);
		if (t->eku & ZTM_EKU_CLIENT_AUTH)
			ZTM_DER_PUT_OID(w, ZTM_OID_KP_CLIENT);
		if (t->eku & ZTM_EKU_CODE_SIGN)
			ZTM_DER_PUT_OID(w, ZTM_OID_KP_CODE);
		if (t->eku & ZTM_EKU_OCSP_SIGN)
			ZTM_DER_PUT_OID(w, ZTM_OID_KP_OCSP);
		if (t->eku & ZTM_EKU_VOUCHER_SIGN)
			ZTM_DER_PUT_OID(w, ZTM_OID_KP_VOUCHER);
		ztm_der_end(w, s);
		ext_end(w, in, o);
	}

	in = EXT_BEGIN(w, ZTM_OID_SKI, 0, &o);
	ztm_der_tlv(w, ZTM_DER_OCTETSTR, t->ski, t->ski_len);
	ext_end(w, in, o);

	in = EXT_BEGIN(w, ZTM_OID_AKI, 0, &o);
	s = ztm_der_begin(w, ZTM_DER_SEQUENCE);
	ztm_der_tlv(w, ZTM_DER_CTX(0), t->aki, t->aki_len);
	ztm_der_end(w, s);
	ext_end(w, in, o);

	if (t->n_san > 0) {
		/* RFC 5280 §4.2.1.6: critical when the subject is empty. */
		in = EXT_BEGIN(w, ZTM_OID_SAN, t->n_subject == 0, &o);
		s = ztm_der_begin(w, ZTM_DER_SEQUENCE);
		put_sans(w, t);
		ztm_der_end(w, s);
		ext_end(w, in, o);
	}

	if (t->aia_ocsp != NULL || t->aia_issuers != NULL) {
		in = EXT_BEGIN(w, ZTM_OID_AIA, 0, &o);
		s = ztm_der_begin(w, ZTM_DER_SEQUENCE);
		if (t->aia_ocsp != NULL) {
			d = ztm_der_begin(w, ZTM_DER_SEQUENCE);
			ZTM_DER_PUT_OID(w, ZTM_OID_AD_OCSP);
			ztm_der_tlv(w, ZTM_DER_CTX(6), t->aia_ocsp, strlen(t->aia_ocsp));
			ztm_der_end(w, d);
		}
		if (t->aia_issuers != NULL) {
			d = ztm_der_begin(w, ZTM_DER_SEQUENCE);
			ZTM_DER_PUT_OID(w, ZTM_OID_AD_ISSUERS);
			ztm_der_tlv(w, ZTM_DER_CTX(6), t->aia_issuers, strlen(t->aia_issuers));
			ztm_der_end(w, d);
		}
		ztm_der_end(w, s);
		ext_end(w, in, o);
	}

	if (t->cdp != NULL) {
		size_t dp, dpn, full;
		/* CRLDistributionPoints { DistributionPoint { distributionPoint
		 * [0] { fullName [0] { [6] URI } } } } */
		in = EXT_BEGIN(w, ZTM_OID_CDP, 0, &o);
		s = ztm_der_begin(w, ZTM_DER_SEQUENCE);
		dp = ztm_der_begin(w, ZTM_DER_SEQUENCE);
		dpn = ztm_der_begin(w, ZTM_DER_CTX_CONS(0));
		full = ztm_der_begin(w, ZTM_DER_CTX_CONS(0));
		ztm_der_tlv(w, ZTM_DER_CTX(6), t->cdp, strlen(t->cdp));
		ztm_der_end(w, full);
		ztm_der_end(w, dpn);
		ztm_der_end(w, dp);
		ztm_der_end(w, s);
		ext_end(w, in, o);
	}

	if (t->policy != ZTM_POLICY_NONE) {
		size_t pi;
		/* certificatePolicies { PolicyInformation { policyIdentifier } },
		 * not critical (RFC 5280 §4.2.1.4): a verifier that does not know
		 * the channel policies still checks the chain; ztm's does. */
		in = EXT_BEGIN(w, ZTM_OID_CERT_POLICIES, 0, &o);
		s = ztm_der_begin(w, ZTM_DER_SEQUENCE);
		pi = ztm_der_begin(w, ZTM_DER_SEQUENCE);
		if (t->policy == ZTM_POLICY_FW_PRODUCTION)
			ZTM_DER_PUT_OID(w, ZTM_OID_FW_PRODUCTION);
		else if (t->policy == ZTM_POLICY_FW_TEST)
			ZTM_DER_PUT_OID(w, ZTM_OID_FW_TEST);
		else
			w->failed = 1;
		ztm_der_end(w, pi);
		ztm_der_end(w, s);
		ext_end(w, in, o);
	}

	if (t->ocsp_nocheck) {
		in = EXT_BEGIN(w, ZTM_OID_OCSP_NOCHECK, 0, &o);
		ztm_der_tlv(w, ZTM_DER_NULL, NULL, 0);
		ext_end(w, in, o);
	}
	ztm_der_end(w, exts);
	ztm_der_end(w, x3);
}

static void put_tbs(struct ztm_der *w, const struct ztm_ca *ca, const struct ztm_tbs *t)
{
	struct ztm_slice alg = ztm_ca_sig_alg(ca), issuer = ztm_ca_subject_der(ca);
	size_t tbs = ztm_der_begin(w, ZTM_DER_SEQUENCE), v;

	v = ztm_der_begin(w, ZTM_DER_CTX_CONS(0));
	ztm_der_uint(w, 2); /* v3 */
	ztm_der_end(w, v);
	ztm_der_tlv(w, ZTM_DER_INTEGER, t->serial, t->serial_len);
	ztm_der_raw(w, alg.p, alg.len);
	ztm_der_raw(w, issuer.p, issuer.len);
	v = ztm_der_begin(w, ZTM_DER_SEQUENCE);
	ztm_der_time(w, t->not_before);
	ztm_der_time(w, t->not_after);
	ztm_der_end(w, v);
	put_name(w, t->subject, t->n_subject);
	ztm_der_raw(w, t->spki.p, t->spki.len);
	put_extensions(w, t);
	ztm_der_end(w, tbs);
}

int ztm_issue_prepare(const struct ztm_ca *ca, const struct ztm_issue_req *req, struct ztm_tbs *t,
                      struct ztm_error *err)
{
	const struct ztm_profile *p;
	const struct ztm_ca_urls *urls;
	struct ztm_spki_info ki;
	struct ztm_slice aki;
	struct ztm_error ignore;
	uint8_t digest[32];

	memset(t, 0, sizeof(*t));
	if (ca == NULL || req == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "issue: CA and request are required");
	p = ztm_profile_get(req->profile);
	if (p == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "issue: unknown profile '%s'",
		                     req->profile != NULL ? req->profile : "(null)");
	t->profile = p;
	memcpy(t->serial, req->serial, ZTM_SERIAL_LEN);
	t->serial_len = ZTM_SERIAL_LEN;
	t->not_before = req->not_before != 0 ? req->not_before : (int64_t)time(NULL);
	t->lifetime = req->lifetime != 0 ? req->lifetime : p->lifetime;
	t->not_after = t->not_before + t->lifetime - 1;
	t->ca = p->is_ca;
	t->pathlen = p->is_ca ? p->pathlen : -1;
	t->key_usage = p->key_usage;
	/* The lint ("eku") decides whether the profile lets a request choose. */
	t->eku = req->eku != 0 ? req->eku : p->eku;
	t->ocsp_nocheck = p->ocsp_nocheck;
	t->policy = p->policy;
	t->spki = req->spki;
	t->subject = req->subject;
	t->n_subject = req->n_subject;
	t->san = req->san;
	t->n_san = req->n_san;
	/* The key policy verdict is the lint's to give ("key" rule); here only
	 * the key bits are needed. RFC 7093 §2 method 1: the leftmost 160 bits
	 * of the SHA-256 of subjectPublicKey. */
	if (ztm_spki_check(req->spki.p, req->spki.len, &ki, &ignore) == 0 ||
	    ki.public_key.p != NULL) {
		if (ztm_md_sha256() == NULL || EVP_Digest(ki.public_key.p, ki.public_key.len,
		                                          digest, NULL, ztm_md_sha256(), NULL) != 1)
			return ztm_error_ossl(err, ZTM_E_CRYPTO, "issue: key identifier");
		memcpy(t->ski, digest, ZTM_KEYID_LEN);
		t->ski_len = ZTM_KEYID_LEN;
	}
	aki = ztm_ca_ski(ca);
	if (aki.len <= sizeof(t->aki)) {
		memcpy(t->aki, aki.p, aki.len);
		t->aki_len = aki.len;
	}
	urls = ztm_ca_urls(ca);
	t->aia_issuers = urls->ca_issuers;
	t->aia_ocsp = urls->ocsp;
	t->crl_shard = req->crl_shard;
	if (urls->crl != NULL) {
		if (ztm_crl_shard_url(urls->crl, req->crl_shard, t->cdp_buf, sizeof(t->cdp_buf)) !=
		    0)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "issue: CRL URL of shard %lld too long",
			                     (long long)req->crl_shard);
		t->cdp = t->cdp_buf;
	}
	return 0;
}

int ztm_issue_tbs(const struct ztm_ca *ca, const struct ztm_tbs *t, struct ztm_buf *der_out,
                  struct ztm_error *err)
{
	struct ztm_der w;
	struct ztm_buf sig;
	size_t start = der_out->len, cert, tbs_at, bits;
	struct ztm_slice alg;
	int rc = -1;

	/* The lint is the gate: nothing below runs unless it passes. */
	if (ztm_lint_tbs(t, ca, err) != 0)
		return -1;
	ztm_buf_init(&sig, 0);
	/* One allocation for the whole certificate (a device certificate is
	 * ~600 - 900 bytes) rather than growing through 256 and 512; only a
	 * hint: a buffer with a lower cap grows as needed. */
	(void)ztm_buf_reserve(der_out, 1024);
	ztm_der_init(&w, der_out);
	cert = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	tbs_at = der_out->len;
	put_tbs(&w, ca, t);
	if (w.failed) {
		ztm_error_set(err, ZTM_E_TOOBIG, "issue: certificate encoding failed");
		goto out;
	}
	if (ztm_ca_sign(ca, der_out->data + tbs_at, der_out->len - tbs_at, &sig, err) != 0)
		goto out;
	alg = ztm_ca_sig_alg(ca);
	ztm_der_raw(&w, alg.p, alg.len);
	bits = ztm_der_begin(&w, ZTM_DER_BITSTRING);
	ztm_der_raw(&w, "", 1); /* no unused bits */
	ztm_der_raw(&w, sig.data, sig.len);
	ztm_der_end(&w, bits);
	ztm_der_end(&w, cert);
	if (w.failed) {
		ztm_error_set(err, ZTM_E_TOOBIG, "issue: certificate encoding failed");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		der_out->len = start;
	ztm_buf_free(&sig);
	return rc;
}

int ztm_issue(const struct ztm_ca *ca, const struct ztm_issue_req *req, struct ztm_buf *der_out,
              struct ztm_error *err)
{
	struct ztm_tbs t;

	if (ztm_issue_prepare(ca, req, &t, err) != 0)
		return -1;
	if (t.profile->is_ca)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "issue: profile %s is a CA profile (use ztm_issue_ca_cert)",
		                     t.profile->name);
	return ztm_issue_tbs(ca, &t, der_out, err);
}

int ztm_issue_ca_cert(const struct ztm_ca *root, const struct ztm_issue_req *req,
                      struct ztm_buf *der_out, struct ztm_error *err)
{
	struct ztm_issue_req r;
	struct ztm_tbs t;

	if (req == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "issue CA: no request");
	r = *req;
	if (r.profile == NULL)
		r.profile = "issuing-ca";
	if (strcmp(r.profile, "issuing-ca") != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "issue CA: profile %s is not issuing-ca",
		                     r.profile);
	if (ztm_issue_prepare(root, &r, &t, err) != 0)
		return -1;
	return ztm_issue_tbs(root, &t, der_out, err);
}
