/* test_tpm_util.h - the TPM unit tests run against the swtpm of the tpm/start
 * fixture (tests/tpm/swtpm_start.sh): its TCTI from ZTM_TEST_TPM_DIR/tcti.
 * Without the fixture (no swtpm) they exit 77: CTest reports them skipped. */
#ifndef TEST_TPM_UTIL_H
#define TEST_TPM_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tpm_fixture_env(void)
{
	const char *dir = getenv("ZTM_TEST_TPM_DIR");
	char path[512], tcti[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tcti", dir != NULL ? dir : "");
	f = dir != NULL ? fopen(path, "r") : NULL;
	if (f == NULL || fgets(tcti, sizeof(tcti), f) == NULL) {
		fprintf(stderr, "SKIP: no swtpm fixture (ZTM_TEST_TPM_DIR/tcti)\n");
		exit(77);
	}
	fclose(f);
	tcti[strcspn(tcti, "\n")] = '\0';
	setenv("TPM2OPENSSL_TCTI", tcti, 1);
	setenv("TPM2TOOLS_TCTI", tcti, 1);
}

#endif
