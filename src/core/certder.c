/* certder.c - facts read from a certificate's DER (ztm/certder.h). */
#include "ztm/certder.h"

#include <openssl/asn1.h>
#include <string.h>
#include <time.h>

#include "der.h"

/* One Time (UTCTime / GeneralizedTime, RFC 5280 forms only) to Unix
 * seconds; OpenSSL checks the digits and the calendar. */
static int time_of(struct ztm_cursor *c, int64_t *out)
{
	struct ztm_slice v;
	ASN1_TIME *t;
	struct tm tm;
	time_t sec;
	int tag = ztm_der_peek(c), ok;

	if ((tag != ZTM_DER_UTCTIME && tag != ZTM_DER_GENTIME) ||
	    ztm_der_get(c, (uint8_t)tag, &v, NULL) != 0)
		return -1;
	if (v.len != (tag == ZTM_DER_UTCTIME ? 13u : 15u) || v.p[v.len - 1] != 'Z')
		return -1;
	t = ASN1_STRING_type_new(tag == ZTM_DER_UTCTIME ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME);
	if (t == NULL)
		return -1;
	ok = ASN1_STRING_set(t, v.p, (int)v.len) == 1 && ASN1_TIME_to_tm(t, &tm) == 1;
	ASN1_TIME_free(t);
	if (!ok)
		return -1;
	sec = timegm(&tm);
	if (sec == (time_t)-1)
		return -1;
	*out = (int64_t)sec;
	return 0;
}

int ztm_cert_der_validity(const uint8_t *der, size_t len, int64_t *not_before, int64_t *not_after,
                          struct ztm_error *err)
{
	struct ztm_cursor c, tbs, val;
	struct ztm_slice v;

	ztm_cursor_init(&c, der, len);
	/* Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... };
	 * TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber,
	 * signature, issuer, validity, ... } */
	if (der == NULL || ztm_der_get(&c, ZTM_DER_SEQUENCE, &v, NULL) != 0 ||
	    ztm_cursor_left(&c) != 0)
		goto bad;
	ztm_cursor_init(&c, v.p, v.len);
	if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &v, NULL) != 0)
		goto bad;
	ztm_cursor_init(&tbs, v.p, v.len);
	if ((ztm_der_peek(&tbs) == ZTM_DER_CTX_CONS(0) &&
	     ztm_der_get(&tbs, ZTM_DER_CTX_CONS(0), NULL, NULL) != 0) ||
	    ztm_der_get(&tbs, ZTM_DER_INTEGER, NULL, NULL) != 0 ||
	    ztm_der_get(&tbs, ZTM_DER_SEQUENCE, NULL, NULL) != 0 ||
	    ztm_der_get(&tbs, ZTM_DER_SEQUENCE, NULL, NULL) != 0 ||
	    ztm_der_get(&tbs, ZTM_DER_SEQUENCE, &v, NULL) != 0)
		goto bad;
	ztm_cursor_init(&val, v.p, v.len);
	if (time_of(&val, not_before) != 0 || time_of(&val, not_after) != 0 ||
	    ztm_cursor_left(&val) != 0)
		goto bad;
	return 0;
bad:
	return ztm_error_set(err, ZTM_E_PARSE, "certificate: no readable validity");
}
