/* fuzz_csr.c - libFuzzer target for ztm_csr_parse, directly on DER and
 * through the base64 body decoder EST uses (RFC 7030 §4.2: the CSR arrives
 * as base64 in an application/pkcs10 body). Seed corpus: real CSRs made
 * with openssl (fuzz/corpus/fuzz_csr/). */
#include <stddef.h>
#include <stdint.h>

#include "ztm/csr.h"
#include "ztm/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztm_csr csr;
	struct ztm_error err;
	struct ztm_buf b64, body;

	if (ztm_csr_parse(data, size, &csr, &err) == 0) {
		/* A CSR that parses has a verified key and a hashed SPKI. */
		if (csr.pkey == NULL || csr.spki.len == 0 || csr.spki_sha256[64] != '\0')
			__builtin_trap();
		ztm_csr_free(&csr);
	}

	/* Same bytes as an EST body: base64, then DER. */
	ztm_buf_init(&b64, 0);
	ztm_buf_init(&body, ZTM_CSR_MAX_DER * 2);
	if (ztm_b64_encode(data, size, 64, &b64) == 0 &&
	    ztm_b64_decode((const char *)b64.data, b64.len, &body) == 0) {
		if (body.len != size)
			__builtin_trap(); /* round trip must be exact */
		if (ztm_csr_parse(body.data, body.len, &csr, &err) == 0)
			ztm_csr_free(&csr);
	}
	ztm_buf_reset(&body);
	/* And the raw bytes taken as a (probably bad) base64 body. */
	if (ztm_b64_decode((const char *)data, size, &body) == 0 &&
	    ztm_csr_parse(body.data, body.len, &csr, &err) == 0)
		ztm_csr_free(&csr);
	ztm_buf_free(&b64);
	ztm_buf_free(&body);
	return 0;
}
