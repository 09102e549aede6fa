/* pkcs7.c - certs-only SignedData as DER. Layout (RFC 5652 §5.1, with no
 * content and no signers; RFC 7030 calls it a "certs-only" message):
 *
 *   ContentInfo ::= SEQUENCE {
 *     contentType  OID 1.2.840.113549.1.7.2 (signedData),
 *     content [0] EXPLICIT SignedData ::= SEQUENCE {
 *       version INTEGER 1,
 *       digestAlgorithms SET {} ,
 *       encapContentInfo SEQUENCE { OID 1.2.840.113549.1.7.1 (data) },
 *       certificates [0] IMPLICIT SET OF Certificate,
 *       signerInfos SET {} } }
 */
#include "ztm/pkcs7.h"

#include <stdint.h>

static const uint8_t oid_signed_data[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                          0xf7, 0x0d, 0x01, 0x07, 0x02};
static const uint8_t oid_data[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                   0xf7, 0x0d, 0x01, 0x07, 0x01};

/* Size of a DER header (tag + length) for a body of len bytes. */
static size_t hdr_len(size_t len)
{
	size_t n = 2;

	if (len >= 0x80)
		for (; len > 0; len >>= 8)
			n++;
	return n;
}

static int put_hdr(struct ztm_buf *out, uint8_t tag, size_t len)
{
	uint8_t h[10];
	size_t n = 0, bytes = 0, t;
	int i;

	h[n++] = tag;
	if (len < 0x80) {
		h[n++] = (uint8_t)len;
	} else {
		for (t = len; t > 0; t >>= 8)
			bytes++;
		h[n++] = (uint8_t)(0x80 | bytes);
		for (i = (int)bytes - 1; i >= 0; i--)
			h[n++] = (uint8_t)(len >> (8 * i));
	}
	return ztm_buf_append(out, h, n);
}

int ztm_p7_certs_only(const struct ztm_slice *certs, size_t n, struct ztm_buf *out)
{
	static const uint8_t version[] = {0x02, 0x01, 0x01};
	static const uint8_t empty_set[] = {0x31, 0x00};
	size_t i, certs_len = 0, encap_len, sd_len, explicit_len, ci_len, start = out->len;

	for (i = 0; i < n; i++) {
		if (certs[i].len > SIZE_MAX / 4 - certs_len)
			return -1;
		certs_len += certs[i].len;
	}
	encap_len = sizeof(oid_data);
	sd_len = sizeof(version) + sizeof(empty_set) + hdr_len(encap_len) + encap_len +
	         hdr_len(certs_len) + certs_len + sizeof(empty_set);
	explicit_len = hdr_len(sd_len) + sd_len;
	ci_len = sizeof(oid_signed_data) + hdr_len(explicit_len) + explicit_len;

	if (put_hdr(out, 0x30, ci_len) != 0 ||
	    ztm_buf_append(out, oid_signed_data, sizeof(oid_signed_data)) != 0 ||
	    put_hdr(out, 0xa0, explicit_len) != 0 || put_hdr(out, 0x30, sd_len) != 0 ||
	    ztm_buf_append(out, version, sizeof(version)) != 0 ||
	    ztm_buf_append(out, empty_set, sizeof(empty_set)) != 0 ||
	    put_hdr(out, 0x30, encap_len) != 0 ||
	    ztm_buf_append(out, oid_data, sizeof(oid_data)) != 0 ||
	    put_hdr(out, 0xa0, certs_len) != 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (ztm_buf_append(out, certs[i].p, certs[i].len) != 0)
			goto fail;
	if (ztm_buf_append(out, empty_set, sizeof(empty_set)) != 0)
		goto fail;
	return 0;
fail:
	out->len = start;
	return -1;
}
