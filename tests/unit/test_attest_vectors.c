/* test_attest_vectors.c - the attestation verifier on committed evidence from a
 * real TPM (swtpm; fuzz/corpus/fuzz_tpm_evidence/swtpm_certify, written by
 * ZTM_TPM_DUMP with test_tpm_attest), without a TPM: the good evidence
 * verifies, and every single-bit flip of it is refused, or changes the AK
 * name (a part of the AK public area its key does not cover, such as its
 * authPolicy): then the challenge lookup refuses it, as the challenge was
 * made for the AK's true name (docs/attestation.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ztm/tpm.h"

static uint8_t seed[8192];
static size_t seed_len;

static void load(void)
{
	const char *src = getenv("ZTM_SRC");
	char path[1024];
	FILE *f;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/fuzz/corpus/fuzz_tpm_evidence/swtpm_certify", src);
	f = fopen(path, "rb");
	assert_non_null(f);
	seed_len = fread(seed, 1, sizeof(seed), f);
	fclose(f);
	assert_true(seed_len > 100);
}

static uint8_t good_name[ZTM_TPM_NAME_MAX];
static size_t good_len;

static enum ztm_tpm_verdict run_name(const uint8_t *b, size_t n, uint8_t *name, size_t *name_len);

static enum ztm_tpm_verdict run(const uint8_t *b, size_t n)
{
	uint8_t name[ZTM_TPM_NAME_MAX];
	size_t nl = 0;
	enum ztm_tpm_verdict v = run_name(b, n, name, &nl);

	/* Verified for another AK than the challenge's: refused there. */
	if (v == ZTM_TPM_OK && good_len != 0 &&
	    (nl != good_len || memcmp(name, good_name, nl) != 0))
		return ZTM_TPM_AK_UNSUITABLE;
	return v;
}

static enum ztm_tpm_verdict run_name(const uint8_t *b, size_t n, uint8_t *name, size_t *name_len)
{
	size_t sl = ((size_t)b[0] << 8) | b[1], nl = 0;
	struct ztm_tpm_evidence ev;
	struct ztm_error err;
	enum ztm_tpm_verdict v;

	if (sl > n - 2)
		return ZTM_TPM_MALFORMED;
	if (ztm_tpm_evidence_parse(b + 2 + sl, n - 2 - sl, &ev, &err) != 0) {
		assert_true(err.msg[0] != '\0');
		return ZTM_TPM_MALFORMED;
	}
	v = ztm_tpm_evidence_verify(&ev, (struct ztm_slice){b + 2, sl}, name, &nl, &err);
	if (v != ZTM_TPM_OK)
		assert_true(err.msg[0] != '\0');
	*name_len = nl;
	return v;
}

static void test_good(void **state)
{
	(void)state;
	load();
	assert_int_equal(run_name(seed, seed_len, good_name, &good_len), ZTM_TPM_OK);
	assert_int_equal(good_len, 34);
	/* Trailing bytes after the evidence. */
	seed[seed_len] = 0;
	assert_int_equal(run(seed, seed_len + 1), ZTM_TPM_MALFORMED);
}

static void test_bit_flips(void **state)
{
	size_t i;
	int b;

	(void)state;
	load();
	/* Every bit of the SPKI and the evidence (the 2-byte length too). */
	for (i = 0; i < seed_len; i++)
		for (b = 0; b < 8; b++) {
			seed[i] ^= (uint8_t)(1u << b);
			if (run(seed, seed_len) == ZTM_TPM_OK)
				fail_msg("bit %d of byte %zu flipped still verifies", b, i);
			seed[i] ^= (uint8_t)(1u << b);
		}
	assert_int_equal(run(seed, seed_len), ZTM_TPM_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bit_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
