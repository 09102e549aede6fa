/* test_key_tpm_forms.c - the parsing around TPM keys that needs no TPM:
 * tpm2: key URIs (src/core/tpmkey.c), one table of good and one of bad
 * forms; and the device state file's key fields (src/device/state.c):
 * key=tpm2:key.tpm goes with key_protection=tpm and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ztm/key.h"
#include "ztm/tpmkey.h"
#include "ztmdev/ztmdev.h"

static void test_uri_good(void **state)
{
	static const struct {
		const char *uri, *path;
	} rows[] = {
	    {"tpm2:/var/lib/ztm/station.tpm", "/var/lib/ztm/station.tpm"},
	    {"tpm2:station.tpm", "station.tpm"},
	    {"tpm2:./a b/c.tpm", "./a b/c.tpm"},
	};
	char path[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error err = {0};
		assert_int_equal(ztm_tpm_uri_path(rows[i].uri, path, sizeof(path), &err), 0);
		assert_string_equal(path, rows[i].path);
	}
}

static void test_uri_bad(void **state)
{
	static const struct {
		const char *uri, *why;
	} rows[] = {
	    {"tpm2:", "no blob path"},
	    {"tpm:/x", "not a tpm2: URI"},
	    {"file:/x", "not a tpm2: URI"},
	    {"tpm2:/x?pass=file:/p", "no query or fragment"},
	    {"tpm2:/x#frag", "no query or fragment"},
	    {"tpm2:/x\n", "control character"},
	    {"tpm2:/0123456789012345678901234567890123456789012345678901234567890123456789",
	     "too long"},
	};
	char path[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error err = {0};
		assert_int_equal(ztm_tpm_uri_path(rows[i].uri, path, sizeof(path), &err), -1);
		assert_int_equal(err.code, ZTM_E_USAGE);
		if (strstr(err.msg, rows[i].why) == NULL)
			fail_msg("%s: '%s' does not name '%s'", rows[i].uri, err.msg, rows[i].why);
	}
}

/* Through the key seam: a bad tpm2: URI is refused before any TPM is
 * touched (this test runs where no TPM is), and a missing blob is
 * ZTM_E_NOTFOUND, which the EST client's retry logic relies on. */
static void test_seam(void **state)
{
	struct ztm_error err = {0};

	(void)state;
	assert_null(ztm_key_load("tpm2:/x?pass=file:/p", NULL, &err));
	assert_int_equal(err.code, ZTM_E_USAGE);
	memset(&err, 0, sizeof(err));
	assert_null(ztm_key_load("tpm2:/nonexistent/ztm-test.tpm", NULL, &err));
	assert_int_equal(err.code, ZTM_E_NOTFOUND);
	memset(&err, 0, sizeof(err));
	assert_null(ztm_key_generate("tpm2:/nonexistent/k.tpm", ZTM_KEY_ED25519, NULL, &err));
	assert_int_equal(err.code, ZTM_E_USAGE);
	memset(&err, 0, sizeof(err));
	assert_int_equal(ztm_key_save(NULL, "tpm2:/x", NULL, &err), -1);
}

/* A device directory with a state file of the given key lines; the
 * bootstrap certificate is needed by status, so it comes from init. */
static void test_state_key_fields(void **state)
{
	static const struct {
		const char *key, *prot;
		int ok;
		enum ztmdev_key_storage storage;
	} rows[] = {
	    {"file:key.pem", "none", 1, ZTMDEV_KEY_SOFTWARE},
	    {"file:key.pem", "passphrase", 1, ZTMDEV_KEY_SOFTWARE},
	    {"tpm2:key.tpm", "tpm", 1, ZTMDEV_KEY_TPM},
	    {"tpm2:key.tpm", "none", 0, 0},
	    {"tpm2:key.tpm", "passphrase", 0, 0},
	    {"file:key.pem", "tpm", 0, 0},
	    {"tpm2:key.pem", "tpm", 0, 0},
	    {"tpm2:/etc/key.tpm", "tpm", 0, 0},
	    {"pkcs11:object=k", "none", 0, 0},
	};
	char dir[] = "/tmp/ztm-test-tpmstate.XXXXXX", path[128];
	struct ztmdev *dev;
	struct ztmdev_status st;
	size_t i;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d", dir);
	dev = ztmdev_new(path);
	assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), 0);
	ztmdev_free(dev);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(path, sizeof(path), "%s/d/state", dir);
		f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f,
		        "ztmdev-state 1\nserial=SN-1\nproduct=widget\nstate=manufactured\n"
		        "key=%s\nkey_protection=%s\n",
		        rows[i].key, rows[i].prot);
		fclose(f);
		snprintf(path, sizeof(path), "%s/d", dir);
		dev = ztmdev_new(path);
		if (rows[i].ok) {
			assert_int_equal(ztmdev_status(dev, &st), 0);
			assert_int_equal(st.key_storage, rows[i].storage);
		} else if (ztmdev_status(dev, &st) != -1) {
			fail_msg("key=%s key_protection=%s accepted", rows[i].key, rows[i].prot);
		}
		ztmdev_free(dev);
	}
	/* The storage is fixed at init: not changeable on an opened device. */
	snprintf(path, sizeof(path), "%s/d/state", dir);
	f = fopen(path, "w");
	fprintf(f, "ztmdev-state 1\nserial=SN-1\nproduct=widget\nstate=manufactured\n"
	           "key=file:key.pem\nkey_protection=none\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/d", dir);
	dev = ztmdev_new(path);
	assert_int_equal(ztmdev_open(dev), 0);
	assert_int_equal(ztmdev_set_key_storage(dev, ZTMDEV_KEY_TPM), -1);
	assert_int_equal(ztmdev_set_key_storage(dev, (enum ztmdev_key_storage)7), -1);
	ztmdev_free(dev);
	assert_string_equal(ztmdev_key_storage_name(ZTMDEV_KEY_TPM), "tpm");
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uri_good),
	    cmocka_unit_test(test_uri_bad),
	    cmocka_unit_test(test_seam),
	    cmocka_unit_test(test_state_key_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
