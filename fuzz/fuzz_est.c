/* fuzz_est.c - libFuzzer target for EST request parsing (src/server/est_parse.c)
 * and the CSR parser behind it, driven as ztmd drives them for one request.
 *
 * Input framing (the seeds in fuzz/corpus/fuzz_est/ use it):
 *
 *   offset  size  field
 *   0       1     flags: bit 0 = Authorization header present,
 *                        bit 1 = Content-Type header present; other bits ignored
 *   1       ...   Authorization value, up to the first NUL
 *   ...     ...   Content-Type value, up to the next NUL
 *   ...     ...   path (decoded, no query), up to the next NUL
 *   ...     rest  body, any bytes (NULs included)
 *
 * A missing NUL ends the input early: the remaining fields are empty. Header
 * values cannot hold NUL on the wire, so NUL is a safe separator; an absent
 * header (flag clear) is distinct from an empty one. A seed is made with e.g.
 *   printf '\003Basic bGluZS0xOmNvZGU=\0application/pkcs10\0/.well-known/est/simpleenroll\0'
 * followed by the base64 CSR.
 *
 * Invariants checked (__builtin_trap on violation): a parsed path names a
 * known operation and label and re-assembles to the same string; a refused
 * Basic header leaves the hash zeroed; a refused body leaves the DER empty;
 * every refusal carries a message; a CSR that parses has a verified key. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app_int.h"
#include "est_parse.h"
#include "ztm/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Next NUL-terminated field as a C string copy in out (capped by the input
 * itself); advances *off past the NUL. */
static const char *field(const uint8_t *data, size_t size, size_t *off, struct ztm_buf *out)
{
	const uint8_t *nul = NULL;
	const char *s;
	size_t n = 0;

	ztm_buf_reset(out);
	if (*off < size) {
		nul = memchr(data + *off, '\0', size - *off);
		n = nul != NULL ? (size_t)(nul - (data + *off)) : size - *off;
		if (ztm_buf_append(out, data + *off, n) != 0)
			__builtin_trap();
		*off += n + (nul != NULL ? 1 : 0);
	}
	s = ztm_buf_cstr(out);
	if (s == NULL)
		__builtin_trap(); /* out of memory in the harness itself */
	return s;
}

static void check_path(const char *path)
{
	char again[256];
	int label = -7, op = -7;

	if (est_parse_path(path, &label, &op) != 0) {
		if (label != -7 || op != -7)
			__builtin_trap(); /* refused: outputs untouched */
		return;
	}
	if (op < 0 || op >= EST_OP_COUNT || label < EST_NO_LABEL || label >= APP_CA_COUNT)
		__builtin_trap();
	if (label == EST_NO_LABEL)
		snprintf(again, sizeof(again), "/.well-known/est/%s", est_op_name(op));
	else
		snprintf(again, sizeof(again), "/.well-known/est/%s/%s",
		         app_ca_name((enum app_ca_id)label), est_op_name(op));
	if (strcmp(again, path) != 0)
		__builtin_trap(); /* only exact paths are accepted */
}

static void check_basic(const char *auth)
{
	static const uint8_t zero[32];
	struct ztm_error err;
	uint8_t hash[32];

	memset(hash, 0xa5, sizeof(hash));
	err.msg[0] = '\0';
	if (est_parse_basic(auth, hash, &err) != 0 &&
	    (memcmp(hash, zero, sizeof(hash)) != 0 || err.code != ZTM_E_AUTH || err.msg[0] == '\0'))
		__builtin_trap();
}

static void check_body(const char *ct, struct ztm_slice body)
{
	struct ztm_error err;
	struct ztm_buf der;
	struct ztm_csr csr;

	ztm_buf_init(&der, ZTM_CSR_MAX_DER);
	err.msg[0] = '\0';
	if (est_parse_csr_body(ct, body, &der, &err) != 0) {
		if (der.len != 0 || err.msg[0] == '\0' ||
		    (err.code != ZTM_E_PARSE && err.code != ZTM_E_TOOBIG))
			__builtin_trap();
		goto out;
	}
	if (der.len == 0 || der.len > ZTM_CSR_MAX_DER || body.len > EST_MAX_CSR_B64)
		__builtin_trap();
	/* What est_op_new does next with the decoded body. */
	if (ztm_csr_parse(der.data, der.len, &csr, &err) == 0) {
		if (csr.pkey == NULL || csr.spki.len == 0 || csr.spki_sha256[64] != '\0')
			__builtin_trap();
		ztm_csr_free(&csr);
	} else if (err.msg[0] == '\0') {
		__builtin_trap();
	}
out:
	ztm_buf_free(&der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztm_buf auth, ct, path;
	struct ztm_slice body;
	size_t off = 1;
	unsigned flags;
	const char *a, *c, *p;

	if (size == 0)
		return 0;
	flags = data[0];
	ztm_buf_init(&auth, 0);
	ztm_buf_init(&ct, 0);
	ztm_buf_init(&path, 0);
	a = field(data, size, &off, &auth);
	c = field(data, size, &off, &ct);
	p = field(data, size, &off, &path);
	body.p = off < size ? data + off : NULL;
	body.len = off < size ? size - off : 0;

	check_path(p);
	check_basic((flags & 1) != 0 ? a : NULL);
	check_body((flags & 2) != 0 ? c : NULL, body);

	ztm_buf_free(&auth);
	ztm_buf_free(&ct);
	ztm_buf_free(&path);
	return 0;
}
