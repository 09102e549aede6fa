/* der.h - private: a strict DER reader and a small DER writer for libztm's
 * X.509 engine (csr.c, issue.c, keypolicy.c). Not crypto: only tag/length
 * framing. Single-octet tags only; everything ztm reads or writes fits that.
 */
#ifndef ZTM_CORE_DER_H
#define ZTM_CORE_DER_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"

#define ZTM_DER_BOOLEAN     0x01
#define ZTM_DER_INTEGER     0x02
#define ZTM_DER_BITSTRING   0x03
#define ZTM_DER_OCTETSTR    0x04
#define ZTM_DER_NULL        0x05
#define ZTM_DER_OID         0x06
#define ZTM_DER_UTF8        0x0c
#define ZTM_DER_PRINTABLE   0x13
#define ZTM_DER_T61         0x14
#define ZTM_DER_IA5         0x16
#define ZTM_DER_UTCTIME     0x17
#define ZTM_DER_GENTIME     0x18
#define ZTM_DER_BMP         0x1e
#define ZTM_DER_SEQUENCE    0x30
#define ZTM_DER_SET         0x31
#define ZTM_DER_CTX(n)      (0x80 | (n)) /* [n] IMPLICIT, primitive */
#define ZTM_DER_CTX_CONS(n) (0xa0 | (n)) /* [n] constructed */

/* OID contents (without tag and length), as string literals so their size is
 * known at compile time: use ZTM_OID_LEN(x). */
#define ZTM_OID_LEN(o)       (sizeof(o) - 1)
#define ZTM_OID_EC_PUBKEY    "\x2a\x86\x48\xce\x3d\x02\x01"
#define ZTM_OID_P256         "\x2a\x86\x48\xce\x3d\x03\x01\x07"
#define ZTM_OID_P384         "\x2b\x81\x04\x00\x22"
#define ZTM_OID_ED25519      "\x2b\x65\x70"
#define ZTM_OID_RSA          "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
#define ZTM_OID_RSA_SHA256   "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"
#define ZTM_OID_RSA_SHA384   "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c"
#define ZTM_OID_RSA_SHA512   "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d"
#define ZTM_OID_ECDSA_SHA256 "\x2a\x86\x48\xce\x3d\x04\x03\x02"
#define ZTM_OID_ECDSA_SHA384 "\x2a\x86\x48\xce\x3d\x04\x03\x03"
#define ZTM_OID_ECDSA_SHA512 "\x2a\x86\x48\xce\x3d\x04\x03\x04"
#define ZTM_OID_CHALLENGE    "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x07"
#define ZTM_OID_EXT_REQ      "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e"
#define ZTM_OID_SKI          "\x55\x1d\x0e"
#define ZTM_OID_KU           "\x55\x1d\x0f"
#define ZTM_OID_SAN          "\x55\x1d\x11"
#define ZTM_OID_BC           "\x55\x1d\x13"
#define ZTM_OID_CDP          "\x55\x1d\x1f"
#define ZTM_OID_AKI          "\x55\x1d\x23"
#define ZTM_OID_EKU          "\x55\x1d\x25"
#define ZTM_OID_AIA          "\x2b\x06\x01\x05\x05\x07\x01\x01"
#define ZTM_OID_AD_OCSP      "\x2b\x06\x01\x05\x05\x07\x30\x01"
#define ZTM_OID_AD_ISSUERS   "\x2b\x06\x01\x05\x05\x07\x30\x02"
#define ZTM_OID_OCSP_NOCHECK "\x2b\x06\x01\x05\x05\x07\x30\x01\x05"
#define ZTM_OID_KP_SERVER    "\x2b\x06\x01\x05\x05\x07\x03\x01"
#define ZTM_OID_KP_CLIENT    "\x2b\x06\x01\x05\x05\x07\x03\x02"
#define ZTM_OID_KP_CODE      "\x2b\x06\x01\x05\x05\x07\x03\x03"
#define ZTM_OID_KP_OCSP      "\x2b\x06\x01\x05\x05\x07\x03\x09"
/* 2.25.224028085098781984838351753433500958948 (ZTM_OID_KP_VOUCHER_TEXT) */
#define ZTM_OID_KP_VOUCHER                                                                         \
	"\x69\x82\xd1\x8a\x9e\xd8\x83\x86\xa2\xac\xdd\xb1\xc4\x86\x95\xc3\xcd\xc5\x81\x64"
/* id-ztm-fw = 2.25.89904570167144526415718935782041833074 (docs/firmware-
 * manifest.md): .1 production channel policy, .2 test channel policy, .3 the
 * CMS signed attribute id-aa-ztmFirmwareClaims. */
#define ZTM_OID_FW_ARC                                                                             \
	"\x69\x81\x87\xa2\xfe\xe2\xb6\x85\xfa\x91\xbb\x93\xb4\xf5\xdd\xd1\x86\x9f\x9c\x72"
#define ZTM_OID_FW_PRODUCTION ZTM_OID_FW_ARC "\x01"
#define ZTM_OID_FW_TEST       ZTM_OID_FW_ARC "\x02"
#define ZTM_OID_FW_CLAIMS     ZTM_OID_FW_ARC "\x03"
/* id-ztm-tpmEvidence 1.3.6.1.4.1.99999.2.1, the CSR attribute carrying TPM key
 * attestation (docs/attestation.md); the demo's private arc, a placeholder
 * until the OEM registers its own. */
#define ZTM_OID_TPM_EVIDENCE  "\x2b\x06\x01\x04\x01\x86\x8d\x1f\x02\x01"
#define ZTM_OID_CERT_POLICIES "\x55\x1d\x20"
#define ZTM_OID_HW_MODULE     "\x2b\x06\x01\x05\x05\x07\x08\x04"
#define ZTM_OID_AT_CN         "\x55\x04\x03"
#define ZTM_OID_AT_SERIAL     "\x55\x04\x05"
#define ZTM_OID_AT_C          "\x55\x04\x06"
#define ZTM_OID_AT_L          "\x55\x04\x07"
#define ZTM_OID_AT_ST         "\x55\x04\x08"
#define ZTM_OID_AT_O          "\x55\x04\x0a"
#define ZTM_OID_AT_OU         "\x55\x04\x0b"

/* Reads one TLV whose tag is `tag` at the cursor. Strict DER: definite,
 * minimal length; the value must fit in what is left. `content` gets the
 * value, `whole` (may be NULL) the full TLV. -1 on any mismatch, cursor
 * unchanged. */
int ztm_der_get(struct ztm_cursor *c, uint8_t tag, struct ztm_slice *content,
                struct ztm_slice *whole);
/* The tag at the cursor, or -1 at the end. */
int ztm_der_peek(const struct ztm_cursor *c);
/* 1 if the slice equals the OID contents o/n. */
int ztm_der_oid_is(struct ztm_slice s, const char *o, size_t n);
#define ZTM_DER_OID_IS(s, o) ztm_der_oid_is((s), (o), ZTM_OID_LEN(o))

/* Dotted OID text ("1.3.6.1.4.1.99999.1") to OID contents. Refuses fewer
 * than two arcs, a first arc above 2, a second arc >= 40 under arcs 0 and 1,
 * leading zeros and arcs above 2^32-1. */
int ztm_der_oid_text(const char *s, uint8_t *out, size_t cap, size_t *len);

/* Writer into a ztm_buf. Errors are sticky: check `failed` once at the end
 * instead of after every call. */
struct ztm_der {
	struct ztm_buf *b;
	int failed;
};

void ztm_der_init(struct ztm_der *w, struct ztm_buf *b);
/* Opens a constructed TLV; returns the mark to give to ztm_der_end. The
 * length is written at the end (minimal DER form), moving the contents. */
size_t ztm_der_begin(struct ztm_der *w, uint8_t tag);
void ztm_der_end(struct ztm_der *w, size_t mark);
void ztm_der_raw(struct ztm_der *w, const void *p, size_t n);
void ztm_der_tlv(struct ztm_der *w, uint8_t tag, const void *p, size_t n);
#define ZTM_DER_PUT_OID(w, o) ztm_der_tlv((w), ZTM_DER_OID, (o), ZTM_OID_LEN(o))
/* Non-negative INTEGER. */
void ztm_der_uint(struct ztm_der *w, uint64_t v);
/* Non-negative INTEGER from n big-endian octets (an ECDSA r or s): leading
 * zero octets dropped, one zero octet put back before a set high bit; n == 0
 * or all zeros is 0. */
void ztm_der_ubytes(struct ztm_der *w, const uint8_t *p, size_t n);
/* RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
void ztm_der_time(struct ztm_der *w, int64_t t);

#endif
