/* ztm/pkcs7.h - degenerate "certs-only" CMS SignedData (RFC 7030 §4.1.3,
 * §4.2.3: EST returns certificates this way), written directly as DER from
 * certificate DER bytes so no certificate is decoded again on the hot path. */
#ifndef ZTM_PKCS7_H
#define ZTM_PKCS7_H

#include <stddef.h>

#include "ztm/buf.h"

/* Appends ContentInfo{signedData, SignedData{v1, {}, {data}, certs, {}}}. */
int ztm_p7_certs_only(const struct ztm_slice *certs, size_t n, struct ztm_buf *out);

#endif
