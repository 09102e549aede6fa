/* fuzz_ocsp_req.c - libFuzzer target for ztm_ocsp_req_parse, the reader of
 * every /ocsp request body (POST) and decoded GET path. Seed corpus:
 * requests written by `openssl ocsp -reqout` (fuzz/corpus/fuzz_ocsp_req/). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ztm/ocsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(struct ztm_slice s, const uint8_t *data, size_t size)
{
	return s.p >= data && s.len <= size && (size_t)(s.p - data) <= size - s.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztm_ocsp_req req;
	struct ztm_error err;
	size_t i;

	if (ztm_ocsp_req_parse(data, size, &req, &err) != 0) {
		/* A refusal says why and leaves nothing behind. */
		if ((err.code != ZTM_E_PARSE && err.code != ZTM_E_TOOBIG) || req.n_ids != 0 ||
		    req.nonce.len != 0 || err.msg[0] == '\0')
			__builtin_trap();
		return 0;
	}
	/* An accepted request: 1..8 CertIDs with hashes of their algorithm's
	 * length and serials of at most 20 octets (plus a sign octet), a nonce
	 * of 0..32 octets, every slice inside the input. */
	if (size > ZTM_OCSP_REQ_MAX || req.n_ids == 0 || req.n_ids > ZTM_OCSP_MAX_IDS ||
	    req.nonce.len > ZTM_OCSP_NONCE_MAX ||
	    (req.nonce.len > 0 && !inside(req.nonce, data, size)))
		__builtin_trap();
	for (i = 0; i < req.n_ids; i++) {
		const struct ztm_ocsp_certid *id = &req.ids[i];
		size_t hl = ztm_ocsp_hash_len(id->hash);
		if ((id->hash != ZTM_OCSP_SHA1 && id->hash != ZTM_OCSP_SHA256) ||
		    id->name_hash.len != hl || id->key_hash.len != hl || id->serial.len == 0 ||
		    id->serial.len > ZTM_OCSP_SERIAL_MAX + 1 ||
		    !inside(id->name_hash, data, size) || !inside(id->key_hash, data, size) ||
		    !inside(id->serial, data, size))
			__builtin_trap();
	}
	return 0;
}
