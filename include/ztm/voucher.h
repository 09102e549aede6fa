/* ztm/voucher.h - ownership vouchers (docs/vouchers.md): a JSON voucher in
 * the spirit of RFC 8366 inside a CMS SignedData (RFC 5652) of content type
 * id-ct-animaJSONVoucher, signed by ztmd's voucher signer. The device side
 * (libztmdev, src/device/voucher.c) verifies and reads them. */
#ifndef ZTM_VOUCHER_H
#define ZTM_VOUCHER_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"

/* id-ct-animaJSONVoucher (RFC 8366 §8.3). */
#define ZTM_OID_CT_JSON_VOUCHER "1.2.840.113549.1.9.16.1.40"
/* id-kp-ztmVoucherSigning: the extendedKeyUsage a voucher signer must
 * carry; a UUID arc (ITU-T X.667), no registration needed. */
#define ZTM_OID_KP_VOUCHER_TEXT "2.25.224028085098781984838351753433500958948"

struct ztm_voucher {
	int64_t created_on, expires_on; /* Unix seconds, UTC */
	const char *serial;             /* the device's serial number */
	const uint8_t *pinned;          /* the owner's trust anchor, DER */
	size_t pinned_len;
	const char *spki_sha256; /* hex SHA-256 of the device's operational SPKI */
};

/* The voucher's JSON (compact, fields in the order of docs/vouchers.md). */
int ztm_voucher_json(const struct ztm_voucher *v, struct ztm_buf *out, struct ztm_error *err);
/* CMS SignedData over json with eContentType id-ct-animaJSONVoucher, signed
 * by key/cert (SHA-256), carrying cert and the chain (may be NULL) so a
 * device can build the path to its pinned root. DER appended to out. */
int ztm_voucher_sign(const uint8_t *json, size_t len, X509 *cert, EVP_PKEY *key,
                     STACK_OF(X509) * chain, struct ztm_buf *out, struct ztm_error *err);

#endif
