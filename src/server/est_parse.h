/* est_parse.h - the parsing half of an EST (RFC 7030) request, as pure
 * functions of plain inputs: a header string, a body slice, a path. No
 * request object, no store, no I/O, so unit tests and fuzz_est drive exactly
 * what ztmd runs. Every refusal is a ztm error naming the reason; caps are
 * checked before anything is decoded. */
#ifndef ZTMD_EST_PARSE_H
#define ZTMD_EST_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"

/* Caps on what a client may send, checked before decoding. A base64 body of
 * 24 KiB decodes to at most 18 KiB, above the 16 KiB CSR cap, so the CSR cap
 * still decides; 1 KiB of Basic credentials is far above any real code. */
#define EST_MAX_CSR_B64   (24 * 1024)
#define EST_MAX_BASIC_B64 1024

/* The operations of /.well-known/est/[<label>/]<operation>. */
enum est_opcode {
	EST_OP_CACERTS,
	EST_OP_CSRATTRS,
	EST_OP_SIMPLEENROLL,
	EST_OP_SIMPLEREENROLL,
	EST_OP_TPM_CHALLENGE, /* ztm's own: TPM key attestation (docs/attestation.md) */
	EST_OP_COUNT
};

/* No label in the path: the request is for the default (all CAs). */
#define EST_NO_LABEL (-1)

/* "cacerts", ...; "unknown" outside enum est_opcode. */
const char *est_op_name(int op);

/* Splits an already-decoded path (no query string) into label and
 * operation. The label, when present, is the name of one of ztmd's CAs
 * (enum app_ca_id: "device", "station", ...) and is returned as that index;
 * otherwise *label = EST_NO_LABEL. Exact matches only: no trailing slash, no
 * empty segment, no prefix of a name. Returns 0, or -1 with *label and *op
 * untouched when the path names no EST operation. */
int est_parse_path(const char *path, int *label, int *op);

/* HTTP Basic credentials (RFC 7617) from the Authorization header value
 * (NULL when the header is absent). The password is the one-time enrollment
 * code; the user-id is informational and ignored. On success code_hash holds
 * SHA-256 of the code bytes; the decoded credentials are wiped before
 * returning. Fails with ZTM_E_AUTH (and a zeroed code_hash) when the header
 * is missing, not Basic, over EST_MAX_BASIC_B64, not base64, has no ':' or
 * an empty code. */
int est_parse_basic(const char *authorization, uint8_t code_hash[32], struct ztm_error *err);

/* The body of simpleenroll/simplereenroll (RFC 7030 §4.2.1): a base64 DER
 * PKCS#10 with media type application/pkcs10 (parameters allowed).
 * content_type is the header value or NULL. On success the DER replaces the
 * contents of der. Fails with ZTM_E_PARSE (wrong or missing media type,
 * empty body, bad base64, nothing decoded) or ZTM_E_TOOBIG (body over
 * EST_MAX_CSR_B64, DER over ZTM_CSR_MAX_DER, or over der's own cap), leaving
 * der empty. */
int est_parse_csr_body(const char *content_type, struct ztm_slice body, struct ztm_buf *der,
                       struct ztm_error *err);

#endif
