/* keypolicy.c - which public keys ztm certifies or accepts (ztm/key.h
 * ztm_key_check_allowed, ztm/lint.h ztm_spki_check).
 *
 * The policy is read from the encoded SubjectPublicKeyInfo, not from the
 * decoded key object: OpenSSL maps explicit EC parameters that equal a named
 * curve back to that curve's name, so asking the key for its group name would
 * let a CurveBall key (CVE-2020-0601: explicit parameters with a chosen
 * generator) pass as P-256. The DER says what the peer actually sent.
 */
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "der.h"
#include "ztm/key.h"
#include "ztm/lint.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

/* Bits in an unsigned big-endian INTEGER content (leading zero allowed
 * only where DER needs it). -1 if negative or not minimal. */
static int uint_bits(struct ztm_slice v)
{
	size_t i = 0;
	unsigned top, n = 0;

	if (v.len == 0 || (v.p[0] & 0x80))
		return -1;
	if (v.p[0] == 0) {
		if (v.len == 1)
			return 0;
		if (!(v.p[1] & 0x80))
			return -1;
		i = 1;
	}
	top = v.p[i];
	while (top) {
		n++;
		top >>= 1;
	}
	if (v.len - i - 1 > 4096)
		return -1;
	return (int)((v.len - i - 1) * 8 + n);
}

static void oid_text(struct ztm_slice oid, char *out, size_t n)
{
	uint8_t tmp[64];
	const unsigned char *p = tmp;
	ASN1_OBJECT *obj = NULL;

	snprintf(out, n, "?");
	if (oid.len + 2 > sizeof(tmp))
		return;
	tmp[0] = ZTM_DER_OID;
	tmp[1] = (uint8_t)oid.len;
	memcpy(tmp + 2, oid.p, oid.len);
	obj = d2i_ASN1_OBJECT(NULL, &p, (long)(oid.len + 2));
	if (obj != NULL && OBJ_obj2txt(out, (int)n, obj, 0) <= 0)
		snprintf(out, n, "?");
	ASN1_OBJECT_free(obj);
}

static int check_rsa(struct ztm_slice key, struct ztm_spki_info *info, struct ztm_error *err)
{
	struct ztm_cursor c, s;
	struct ztm_slice seq, n, e;
	int bits;

	ztm_cursor_init(&c, key.p, key.len);
	if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &seq, NULL) != 0 || ztm_cursor_left(&c) != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "RSA public key: malformed RSAPublicKey");
	ztm_cursor_init(&s, seq.p, seq.len);
	if (ztm_der_get(&s, ZTM_DER_INTEGER, &n, NULL) != 0 ||
	    ztm_der_get(&s, ZTM_DER_INTEGER, &e, NULL) != 0 || ztm_cursor_left(&s) != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "RSA public key: malformed RSAPublicKey");
	bits = uint_bits(n);
	if (bits < 0)
		return ztm_error_set(err, ZTM_E_PARSE, "RSA public key: bad modulus encoding");
	info->bits = (unsigned)bits;
	if (bits < RSA_MIN_BITS)
		return ztm_error_set(err, ZTM_E_WEAKKEY, "RSA %d bits < %d", bits, RSA_MIN_BITS);
	if (bits > RSA_MAX_BITS)
		return ztm_error_set(err, ZTM_E_WEAKKEY, "RSA %d bits > %d", bits, RSA_MAX_BITS);
	if (!(e.len == 3 && memcmp(e.p, "\x01\x00\x01", 3) == 0))
		return ztm_error_set(err, ZTM_E_WEAKKEY, "RSA public exponent is not 65537");
	return 0;
}

int ztm_spki_check(const uint8_t *spki, size_t len, struct ztm_spki_info *info,
                   struct ztm_error *err)
{
	struct ztm_cursor c, s, a;
	struct ztm_slice seq, alg, oid, params = {NULL, 0}, bits;
	struct ztm_spki_info tmp;
	int ptag;
	char txt[80];

	if (info == NULL)
		info = &tmp;
	memset(info, 0, sizeof(*info));
	ztm_cursor_init(&c, spki, len);
	if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &seq, NULL) != 0 || ztm_cursor_left(&c) != 0)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "public key: malformed SubjectPublicKeyInfo");
	ztm_cursor_init(&s, seq.p, seq.len);
	if (ztm_der_get(&s, ZTM_DER_SEQUENCE, &alg, NULL) != 0 ||
	    ztm_der_get(&s, ZTM_DER_BITSTRING, &bits, NULL) != 0 || ztm_cursor_left(&s) != 0 ||
	    bits.len < 2 || bits.p[0] != 0)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "public key: malformed SubjectPublicKeyInfo");
	info->public_key.p = bits.p + 1;
	info->public_key.len = bits.len - 1;
	ztm_cursor_init(&a, alg.p, alg.len);
	if (ztm_der_get(&a, ZTM_DER_OID, &oid, NULL) != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "public key: malformed algorithm");
	ptag = ztm_der_peek(&a);
	if (ptag >= 0 && ztm_der_get(&a, (uint8_t)ptag, &params, NULL) != 0)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "public key: malformed algorithm parameters");
	if (ztm_cursor_left(&a) != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "public key: trailing algorithm data");

	if (ZTM_DER_OID_IS(oid, ZTM_OID_EC_PUBKEY)) {
		size_t coord;
		if (ptag == ZTM_DER_SEQUENCE) {
			info->ec_explicit = 1;
			return ztm_error_set(err, ZTM_E_WEAKKEY,
			                     "EC key with explicit curve parameters (named "
			                     "curves only)");
		}
		if (ptag != ZTM_DER_OID)
			return ztm_error_set(err, ZTM_E_WEAKKEY, "EC key without a named curve");
		if (ZTM_DER_OID_IS(params, ZTM_OID_P256)) {
			info->kind = ZTM_KK_P256;
			info->bits = 256;
			coord = 32;
		} else if (ZTM_DER_OID_IS(params, ZTM_OID_P384)) {
			info->kind = ZTM_KK_P384;
			info->bits = 384;
			coord = 48;
		} else {
			oid_text(params, txt, sizeof(txt));
			return ztm_error_set(err, ZTM_E_WEAKKEY,
			                     "EC curve %s not allowed (P-256, P-384 only)", txt);
		}
		/* SEC 1 §2.3.3: uncompressed 04||X||Y or compressed 02/03||X. */
		if (!((info->public_key.len == 1 + 2 * coord && info->public_key.p[0] == 4) ||
		      (info->public_key.len == 1 + coord &&
		       (info->public_key.p[0] == 2 || info->public_key.p[0] == 3))))
			return ztm_error_set(err, ZTM_E_PARSE, "EC public key: bad point length");
		return 0;
	}
	if (ZTM_DER_OID_IS(oid, ZTM_OID_ED25519)) {
		/* RFC 8410 §3: parameters MUST be absent. */
		if (ptag >= 0)
			return ztm_error_set(err, ZTM_E_PARSE, "Ed25519 key with parameters");
		if (info->public_key.len != 32)
			return ztm_error_set(err, ZTM_E_PARSE, "Ed25519 public key not 32 bytes");
		info->kind = ZTM_KK_ED25519;
		info->bits = 256;
		return 0;
	}
	if (ZTM_DER_OID_IS(oid, ZTM_OID_RSA)) {
		/* RFC 3279 §2.3.1: parameters MUST be NULL. */
		if (ptag != ZTM_DER_NULL || params.len != 0)
			return ztm_error_set(err, ZTM_E_PARSE, "RSA key parameters not NULL");
		info->kind = ZTM_KK_RSA;
		return check_rsa(info->public_key, info, err);
	}
	oid_text(oid, txt, sizeof(txt));
	return ztm_error_set(err, ZTM_E_WEAKKEY, "key algorithm %s not allowed", txt);
}

int ztm_key_check_allowed(const EVP_PKEY *pub, struct ztm_error *err)
{
	unsigned char *der = NULL;
	int n, rc;

	if (pub == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "key policy: no key");
	/* Encode to the SPKI the peer would see and judge that (see top). */
	n = i2d_PUBKEY(pub, &der);
	if (n <= 0)
		return ztm_error_ossl(err, ZTM_E_WEAKKEY, "key policy: key cannot be encoded");
	rc = ztm_spki_check(der, (size_t)n, NULL, err);
	OPENSSL_free(der);
	return rc;
}
