/* fuzz_tpm_evidence.c - libFuzzer target for the TPM key attestation
 * verifier (docs/attestation.md): ztm_tpm_evidence_parse (the DER envelope
 * of the CSR attribute), then ztm_tpm_evidence_verify (libtss2-mu's
 * TPM2B_PUBLIC, TPMS_ATTEST and TPMT_SIGNATURE readers, the name, the AK
 * and key checks, the signature) for the request key given in front.
 *
 * Framing: a 2-byte big-endian length n, n bytes of SubjectPublicKeyInfo
 * DER (the request's key), then the evidence DER. Seeds in
 * fuzz/corpus/fuzz_tpm_evidence/ come from a real TPM (swtpm):
 * ZTM_TPM_DUMP=DIR build/tests/test_tpm_attest writes DIR/fuzz_seed.
 *
 * Invariants (__builtin_trap on violation): a verdict is one of the table;
 * every refusal says why; the AK name, when set, is nameAlg + a digest. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ztm/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztm_tpm_evidence ev;
	struct ztm_error err;
	struct ztm_slice spki;
	uint8_t name[ZTM_TPM_NAME_MAX];
	size_t n, nl = 0;
	enum ztm_tpm_verdict v;

	if (size < 2)
		return 0;
	n = ((size_t)data[0] << 8) | data[1];
	if (n > size - 2)
		return 0;
	spki.p = data + 2;
	spki.len = n;
	memset(&err, 0, sizeof(err));
	if (ztm_tpm_evidence_parse(data + 2 + n, size - 2 - n, &ev, &err) != 0) {
		if (err.msg[0] == '\0')
			__builtin_trap();
		return 0;
	}
	v = ztm_tpm_evidence_verify(&ev, spki, name, &nl, &err);
	if ((unsigned)v >= ZTM_TPM_VERDICT_COUNT || (v != ZTM_TPM_OK && err.msg[0] == '\0') ||
	    (nl != 0 && nl != 34 && nl != 50 && nl != 66))
		__builtin_trap();
	/* The AK public area alone, as the challenge endpoint reads it. */
	(void)ztm_tpm_ak_check(ev.ak_public, name, &nl, &err);
	return 0;
}
