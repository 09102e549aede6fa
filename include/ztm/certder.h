/* ztm/certder.h - facts read from a certificate's DER without decoding it
 * into an X509 (OpenSSL 3.0's d2i_X509 costs ~100-300 us; this ~1 us). */
#ifndef ZTM_CERTDER_H
#define ZTM_CERTDER_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/err.h"

/* The validity of a DER certificate (RFC 5280 §4.1.2.5), as Unix seconds:
 * notBefore and notAfter, UTCTime or GeneralizedTime in the forms RFC 5280
 * allows (YYMMDDHHMMSSZ, YYYYMMDDHHMMSSZ), strictly framed up to the
 * validity (what follows it is not read). ZTM_E_PARSE otherwise. */
int ztm_cert_der_validity(const uint8_t *der, size_t len, int64_t *not_before, int64_t *not_after,
                          struct ztm_error *err);

#endif
