/* crl.c - streaming X.509 v2 CRL writer (ztm/crl.h, RFC 5280 §5).
 *
 * CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signature }
 * TBSCertList ::= SEQUENCE { version v2, signature, issuer, thisUpdate,
 *   nextUpdate, revokedCertificates SEQUENCE OF ... OPTIONAL,
 *   crlExtensions [0] EXPLICIT Extensions }
 *
 * An entry is at most 2 + 23 + 17 + 14 bytes and is written in one append
 * with its lengths computed up front: the general DER writer (der.c) would
 * shift every entry's contents once per nesting level, and its time
 * encoding goes through gmtime_r and snprintf. At a million entries that
 * is most of the cost; here an entry is a few dozen byte stores. */
#include "ztm/crl.h"

#include <stdio.h>
#include <string.h>

#include "der.h"
#include "ztm/str.h"

#define OID_CRL_NUMBER "\x55\x1d\x14"
#define OID_REASON     "\x55\x1d\x15"
#define OID_IDP        "\x55\x1d\x1c"

int ztm_crl_shard_url(const char *base, int64_t shard, char *out, size_t n)
{
	size_t bl;
	int k;

	if (base == NULL || shard < 0)
		return -1;
	bl = strlen(base);
	k = snprintf(out, n, "%.*s/%lld.crl", (int)(bl > 0 && base[bl - 1] == '/' ? bl - 1 : bl),
	             base, (long long)shard);
	return k > 0 && (size_t)k < n ? 0 : -1;
}

/* Days since 1970-01-01 -> civil date (H. Hinnant's algorithm, public
 * domain): exact for the whole proleptic Gregorian calendar. */
static void civil(int64_t days, int *y, int *m, int *d)
{
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static uint8_t *two(uint8_t *p, int v)
{
	p[0] = (uint8_t)('0' + v / 10);
	p[1] = (uint8_t)('0' + v % 10);
	return p + 2;
}

/* RFC 5280 §5.1.2.6 / §4.1.2.5: UTCTime through 2049, GeneralizedTime
 * from 2050. Writes the whole TLV; returns its length, 0 if out of range. */
static size_t put_time(uint8_t *out, int64_t t)
{
	int64_t days = (t >= 0 ? t : t - 86399) / 86400, secs = t - days * 86400;
	int y, m, d;
	uint8_t *p = out + 2;

	civil(days, &y, &m, &d);
	if (y < 1950 || y > 9999)
		return 0;
	if (y < 2050) {
		out[0] = ZTM_DER_UTCTIME;
		out[1] = 13;
		p = two(p, y % 100);
	} else {
		out[0] = ZTM_DER_GENTIME;
		out[1] = 15;
		p = two(two(p, y / 100), y % 100);
	}
	p = two(two(two(two(two(p, m), d), (int)(secs / 3600)), (int)(secs / 60 % 60)),
	        (int)(secs % 60));
	*p++ = 'Z';
	return (size_t)(p - out);
}

static void fail(struct ztm_crl_writer *w, enum ztm_err code, const char *what)
{
	if (!w->failed)
		ztm_error_set(&w->err, code, "CRL: %s", what);
	w->failed = 1;
}

int ztm_crl_begin(struct ztm_crl_writer *w, const struct ztm_ca *ca, const struct ztm_crl_params *p,
                  struct ztm_buf *out, struct ztm_error *err)
{
	struct ztm_der d;
	struct ztm_slice alg, issuer;
	size_t v;

	memset(w, 0, sizeof(*w));
	if (ca == NULL || p == NULL || out == NULL)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "CRL: CA, parameters and output are required");
	if (p->number < 1 || p->this_update < 1 || p->next_update <= p->this_update)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "CRL: number must be >= 1 and nextUpdate after thisUpdate");
	w->ca = ca;
	w->p = *p;
	w->out = out;
	w->start = out->len;
	alg = ztm_ca_sig_alg(ca);
	issuer = ztm_ca_subject_der(ca);
	ztm_der_init(&d, out);
	w->list_at = ztm_der_begin(&d, ZTM_DER_SEQUENCE);
	w->tbs_at = ztm_der_begin(&d, ZTM_DER_SEQUENCE);
	ztm_der_uint(&d, 1); /* v2: needed for the extensions */
	ztm_der_raw(&d, alg.p, alg.len);
	ztm_der_raw(&d, issuer.p, issuer.len);
	ztm_der_time(&d, p->this_update);
	ztm_der_time(&d, p->next_update);
	v = ztm_der_begin(&d, ZTM_DER_SEQUENCE);
	w->revoked_at = v;
	if (d.failed) {
		out->len = w->start;
		return ztm_error_set(err, ZTM_E_TOOBIG, "CRL: header encoding failed");
	}
	return 0;
}

void ztm_crl_add_hex(struct ztm_crl_writer *w, const char *serial_hex, int64_t revoked_at,
                     int reason)
{
	uint8_t e[2 + 2 + 21 + 17 + 14], *p;
	size_t hl = serial_hex != NULL ? strlen(serial_hex) : 0, sl, tl, body;
	int pad;

	if (w->failed)
		return;
	if (hl < 2 || hl > 40 || hl % 2 != 0) {
		fail(w, ZTM_E_USAGE, "a serial is not 1..20 octets of hex");
		return;
	}
	sl = hl / 2;
	/* Keep the INTEGER positive: a first digit of 8-9 or a-f (anything
	 * else that sorts there is refused by ztm_unhex). */
	pad = serial_hex[0] >= '8';
	p = e + 2 + 2 + pad;
	if (ztm_unhex(serial_hex, sl, p) != 0) {
		fail(w, ZTM_E_USAGE, "a serial is not lower-case hex");
		return;
	}
	e[2] = ZTM_DER_INTEGER;
	e[3] = (uint8_t)(sl + (size_t)pad);
	if (pad)
		e[4] = 0;
	p += sl;
	tl = put_time(p, revoked_at);
	if (tl == 0) {
		fail(w, ZTM_E_USAGE, "a revocation time is outside 1950..9999");
		return;
	}
	p += tl;
	/* RFC 5280 §5.3.1: reasonCode absent rather than unspecified. */
	if (reason != 0) {
		static const uint8_t ext[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55,
		                              0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01};
		if (reason < 0 || reason > 10 || reason == 7) {
			fail(w, ZTM_E_USAGE, "a reason is not an RFC 5280 CRLReason");
			return;
		}
		memcpy(p, ext, sizeof(ext));
		p += sizeof(ext);
		*p++ = (uint8_t)reason;
	}
	body = (size_t)(p - e) - 2;
	e[0] = ZTM_DER_SEQUENCE;
	e[1] = (uint8_t)body; /* at most 54: short form */
	if (ztm_buf_append(w->out, e, body + 2) != 0) {
		fail(w, ZTM_E_TOOBIG, "the CRL outgrew its buffer");
		return;
	}
	w->entries++;
}

/* One extension: SEQUENCE { OID, [critical TRUE], OCTET STRING { value } },
 * the value written by the caller between ext_begin and ext_end. */
static size_t ext_begin(struct ztm_der *d, const char *oid, size_t oid_len, int critical,
                        size_t *octets)
{
	size_t e = ztm_der_begin(d, ZTM_DER_SEQUENCE);

	ztm_der_tlv(d, ZTM_DER_OID, oid, oid_len);
	if (critical)
		ztm_der_tlv(d, ZTM_DER_BOOLEAN, "\xff", 1);
	*octets = ztm_der_begin(d, ZTM_DER_OCTETSTR);
	return e;
}

static void ext_end(struct ztm_der *d, size_t e, size_t octets)
{
	ztm_der_end(d, octets);
	ztm_der_end(d, e);
}

static void put_extensions(struct ztm_der *d, const struct ztm_crl_writer *w)
{
	struct ztm_slice ski = ztm_ca_ski(w->ca);
	size_t x0, exts, e, o, s, a, b;

	x0 = ztm_der_begin(d, ZTM_DER_CTX_CONS(0));
	exts = ztm_der_begin(d, ZTM_DER_SEQUENCE);
	/* §5.2.1: conforming CRL issuers MUST use the AKI. */
	e = ext_begin(d, ZTM_OID_AKI, ZTM_OID_LEN(ZTM_OID_AKI), 0, &o);
	s = ztm_der_begin(d, ZTM_DER_SEQUENCE);
	ztm_der_tlv(d, ZTM_DER_CTX(0), ski.p, ski.len);
	ztm_der_end(d, s);
	ext_end(d, e, o);
	/* §5.2.3: MUST include the CRL number, monotonically increasing. */
	e = ext_begin(d, OID_CRL_NUMBER, ZTM_OID_LEN(OID_CRL_NUMBER), 0, &o);
	ztm_der_uint(d, (uint64_t)w->p.number);
	ext_end(d, e, o);
	/* §5.2.5: a critical IDP names the partition this CRL covers; it
	 * must equal the distributionPoint of the certificates it covers. */
	if (w->p.idp_url != NULL) {
		e = ext_begin(d, OID_IDP, ZTM_OID_LEN(OID_IDP), 1, &o);
		s = ztm_der_begin(d, ZTM_DER_SEQUENCE);
		a = ztm_der_begin(d, ZTM_DER_CTX_CONS(0)); /* distributionPoint */
		b = ztm_der_begin(d, ZTM_DER_CTX_CONS(0)); /* fullName */
		ztm_der_tlv(d, ZTM_DER_CTX(6), w->p.idp_url, strlen(w->p.idp_url));
		ztm_der_end(d, b);
		ztm_der_end(d, a);
		ztm_der_end(d, s);
		ext_end(d, e, o);
	}
	ztm_der_end(d, exts);
	ztm_der_end(d, x0);
}

int ztm_crl_finish(struct ztm_crl_writer *w, struct ztm_error *err)
{
	struct ztm_der d;
	struct ztm_buf sig;
	struct ztm_slice alg;
	size_t bits;
	int rc = -1;

	ztm_buf_init(&sig, 0);
	if (w->failed) {
		*err = w->err;
		goto out;
	}
	ztm_der_init(&d, w->out);
	/* §5.1.2.6: with no entries the list is absent, not empty. */
	if (w->entries == 0)
		w->out->len = w->revoked_at - 1; /* the mark is just past the tag */
	else
		ztm_der_end(&d, w->revoked_at);
	put_extensions(&d, w);
	ztm_der_end(&d, w->tbs_at);
	if (d.failed) {
		ztm_error_set(err, ZTM_E_TOOBIG, "CRL: encoding failed");
		goto out;
	}
	/* The mark is just past the tag: the TBS TLV starts one byte before. */
	if (ztm_ca_sign(w->ca, w->out->data + w->tbs_at - 1, w->out->len - w->tbs_at + 1, &sig,
	                err) != 0)
		goto out;
	alg = ztm_ca_sig_alg(w->ca);
	ztm_der_raw(&d, alg.p, alg.len);
	bits = ztm_der_begin(&d, ZTM_DER_BITSTRING);
	ztm_der_raw(&d, "", 1); /* no unused bits */
	ztm_der_raw(&d, sig.data, sig.len);
	ztm_der_end(&d, bits);
	ztm_der_end(&d, w->list_at);
	if (d.failed) {
		ztm_error_set(err, ZTM_E_TOOBIG, "CRL: encoding failed");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		w->out->len = w->start;
	ztm_buf_free(&sig);
	return rc;
}
