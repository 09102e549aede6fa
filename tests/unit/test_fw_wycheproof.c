/* test_fw_wycheproof.c - Project Wycheproof signature vectors through the
 * one signature check of firmware verification, zd_sig_verify (the path
 * both the manifest and the CMS form take): ECDSA P-256 with DER and with
 * raw r || s (the COSE form) signatures, ECDSA P-384 (DER) and Ed25519.
 * Every "valid" must verify and every "invalid" must fail; an
 * "acceptable" must carry a flag of the table below, which states how the
 * device treats it and why. The files are read in place from
 * ../shared/vectors/wycheproof (ZTM_VECTORS_DIR); when that folder is
 * absent the test is skipped with a loud message, never passed silently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "zd_crypto.h"

#ifndef ZTM_VECTORS_DIR
#error "ZTM_VECTORS_DIR must name ../shared/vectors (tests/CMakeLists.txt)"
#endif

/* How the device treats each flag Wycheproof marks "acceptable": refuse
 * (0) or accept (1), and why. An acceptable vector whose flags are not
 * here fails the test: each needs a stated reason. */
static const struct {
	const char *flag;
	int accept;
	const char *reason;
} acceptable[] = {
    {"BerEncodedSignature", 0, "CMS signatures must be DER (X.690 §10): a BER form is malleable"},
    {"MissingZero", 0, "an INTEGER without its leading zero is not DER"},
    {"SignatureMalleability", 0, "Ed25519: S >= L is refused (RFC 8032 §5.1.7)"},
    {"SignatureSize", 0, "COSE r || s must be exactly twice the curve size (RFC 9053 §2.1)"},
    {"WeakHash", 0, "the firmware path pins SHA-256/SHA-384 to the curve"},
    {"SmallRandS", 1, "mathematically valid signatures; refusing them gains nothing"},
    {"EdgeCasePublicKey", 1, "a valid point on the curve is a valid key"},
};

struct counts {
	int valid, invalid, acc, acc_ok, acc_refused, seen, expected;
	int flag_seen[sizeof(acceptable) / sizeof(acceptable[0])];
};

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = strlen(h) / 2, i;
	unsigned v;

	if (strlen(h) % 2 != 0 || n > cap)
		fail_msg("bad hex in a vector");
	for (i = 0; i < n; i++) {
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			fail_msg("bad hex in a vector");
		out[i] = (uint8_t)v;
	}
	return n;
}

static int vectors_present(void)
{
	struct stat st;

	if (stat(ZTM_VECTORS_DIR "/wycheproof", &st) == 0 && S_ISDIR(st.st_mode))
		return 1;
	fprintf(stderr,
	        "\n*** SKIPPED: Wycheproof vectors not found at %s/wycheproof ***\n"
	        "*** the signature path is NOT checked against them ***\n\n",
	        ZTM_VECTORS_DIR);
	return 0;
}

static void run_file(const char *name, enum zd_sig_alg alg, const char *sha)
{
	static uint8_t msg[65536], sig[16384], spki[1024];
	char path[1024];
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	struct counts c;
	json_error_t jerr;
	json_t *root, *groups, *g, *tests, *t, *flags;
	size_t gi, ti, fi, k, ml, sl, kl;
	const char *result;
	int ok, listed;

	if (!vectors_present())
		skip();
	memset(&c, 0, sizeof(c));
	snprintf(path, sizeof(path), "%s/wycheproof/%s", ZTM_VECTORS_DIR, name);
	root = json_load_file(path, 0, &jerr);
	if (root == NULL)
		fail_msg("%s: %s", path, jerr.text);
	c.expected = (int)json_integer_value(json_object_get(root, "numberOfTests"));
	groups = json_object_get(root, "testGroups");
	assert_true(json_is_array(groups));
	json_array_foreach(groups, gi, g)
	{
		if (sha != NULL)
			assert_string_equal(json_string_value(json_object_get(g, "sha")), sha);
		kl = unhex(json_string_value(json_object_get(g, "publicKeyDer")), spki,
		           sizeof(spki));
		tests = json_object_get(g, "tests");
		json_array_foreach(tests, ti, t)
		{
			ml = unhex(json_string_value(json_object_get(t, "msg")), msg, sizeof(msg));
			sl = unhex(json_string_value(json_object_get(t, "sig")), sig, sizeof(sig));
			result = json_string_value(json_object_get(t, "result"));
			ok = zd_sig_verify(dev, alg, spki, kl, msg, ml, sig, sl) == 0;
			c.seen++;
			if (strcmp(result, "valid") == 0) {
				c.valid++;
				if (!ok)
					fail_msg("%s tcId %lld: valid, refused: %s", name,
					         json_integer_value(json_object_get(t, "tcId")),
					         ztmdev_error(dev));
			} else if (strcmp(result, "invalid") == 0) {
				c.invalid++;
				if (ok)
					fail_msg("%s tcId %lld: invalid, accepted (%s)", name,
					         json_integer_value(json_object_get(t, "tcId")),
					         json_string_value(json_object_get(t, "comment")));
			} else {
				assert_string_equal(result, "acceptable");
				c.acc++;
				ok ? c.acc_ok++ : c.acc_refused++;
				flags = json_object_get(t, "flags");
				listed = 0;
				for (fi = 0; fi < json_array_size(flags); fi++)
					for (k = 0; k < sizeof(acceptable) / sizeof(acceptable[0]);
					     k++)
						if (strcmp(json_string_value(
						               json_array_get(flags, fi)),
						           acceptable[k].flag) == 0) {
							listed = 1;
							c.flag_seen[k]++;
							if (acceptable[k].accept != ok)
								fail_msg(
								    "%s tcId %lld: flag %s: "
								    "%s, the table says %s",
								    name,
								    json_integer_value(
								        json_object_get(t, "tcId")),
								    acceptable[k].flag,
								    ok ? "accepted" : "refused",
								    acceptable[k].accept
								        ? "accept"
								        : "refuse");
						}
				if (!listed)
					fail_msg("%s tcId %lld: acceptable with no stated reason "
					         "for its "
					         "flags",
					         name,
					         json_integer_value(json_object_get(t, "tcId")));
			}
		}
	}
	printf("wycheproof %s: %d tests (file says %d): %d valid verified, %d invalid refused, "
	       "%d acceptable (%d accepted, %d refused)\n",
	       name, c.seen, c.expected, c.valid, c.invalid, c.acc, c.acc_ok, c.acc_refused);
	for (k = 0; k < sizeof(acceptable) / sizeof(acceptable[0]); k++)
		if (c.flag_seen[k] > 0)
			printf("  acceptable %s x%d: %s - %s\n", acceptable[k].flag, c.flag_seen[k],
			       acceptable[k].accept ? "accepted" : "refused", acceptable[k].reason);
	/* All tests seen, some of each kind. */
	assert_int_equal(c.seen, c.expected);
	assert_true(c.valid > 0);
	assert_true(c.invalid > 0);
	assert_int_equal(c.valid + c.invalid + c.acc, c.seen);
	json_decref(root);
	ztmdev_free(dev);
}

static void test_p256_der(void **state)
{
	(void)state;
	run_file("ecdsa_secp256r1_sha256_test.json", ZD_SIG_ES256_DER, "SHA-256");
}

static void test_p256_p1363(void **state)
{
	(void)state;
	run_file("ecdsa_secp256r1_sha256_p1363_test.json", ZD_SIG_ES256, "SHA-256");
}

static void test_p384_der(void **state)
{
	(void)state;
	run_file("ecdsa_secp384r1_sha384_test.json", ZD_SIG_ES384_DER, "SHA-384");
}

static void test_ed25519(void **state)
{
	(void)state;
	run_file("ed25519_test.json", ZD_SIG_ED25519, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_p256_der),
	    cmocka_unit_test(test_p256_p1363),
	    cmocka_unit_test(test_p384_der),
	    cmocka_unit_test(test_ed25519),
	};
	size_t k;

	printf("acceptable vectors: how the device treats each flag\n");
	for (k = 0; k < sizeof(acceptable) / sizeof(acceptable[0]); k++)
		printf("  %-22s %s: %s\n", acceptable[k].flag,
		       acceptable[k].accept ? "accept" : "refuse", acceptable[k].reason);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
