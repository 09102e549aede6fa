/* test_ztmdev_fw_cli.c - `ztm-device fw-verify` as a user runs it: files
 * written by the test (test_fw_util.h), the agent run as a process
 * (ZTM_BIN), its exit status and its one line checked; --commit raises the
 * counter file; a device directory supplies product, root and counter.
 * Also: `openssl cms -verify` accepts the test's CMS and refuses it for
 * one flipped image byte (the CMS the device checks is the standard one). */
#define _GNU_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_fw_util.h"
#include "ztmdev/ztmdev.h"

#define IMAGE_LEN 100000

static struct tf_pki K;
static char dir[64];
static uint8_t image[IMAGE_LEN];

static void write_file(const char *name, const void *p, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *name, char *out, size_t cap)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	n = fread(out, 1, cap - 1, f);
	fclose(f);
	out[n] = '\0';
	return out;
}

/* Runs the agent with args (after "fw-verify"); the exit status, the
 * first line of stdout in out. */
static int agent(const char *args, char *out, size_t cap)
{
	const char *bin = getenv("ZTM_BIN");
	char cmd[2048];
	FILE *p;
	int st;

	assert_non_null(bin);
	snprintf(cmd, sizeof(cmd), "cd %s && %s/src/device/ztm-device fw-verify %s 2>&1", dir, bin,
	         args);
	p = popen(cmd, "r");
	assert_non_null(p);
	out[0] = '\0';
	if (fgets(out, (int)cap, p) == NULL)
		out[0] = '\0';
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void sign_files(void)
{
	struct tf_buf claims = {0}, m = {0}, cms = {0};
	struct tf_claims c;
	X509 *chain[2] = {K.cert[TF_P256], K.ca};
	unsigned len = 0;

	memset(&c, 0, sizeof(c));
	c.product = TF_PRODUCT;
	c.version = "2.0.1";
	c.svn = 7;
	c.size = IMAGE_LEN;
	assert_int_equal(EVP_Digest(image, IMAGE_LEN, c.digest, &len, EVP_sha256(), NULL), 1);
	c.release = 3;
	c.signed_at = 1760000000;
	tf_claims_encode(&c, &claims);
	tf_manifest(K.key[TF_P256], chain, 2, 0, &claims, &m);
	tf_cms(K.key[TF_P256], K.cert[TF_P256], K.ca, &claims, image, IMAGE_LEN, &cms);
	write_file("fw.bin", image, IMAGE_LEN);
	image[10] ^= 1;
	write_file("fw-bad.bin", image, IMAGE_LEN);
	image[10] ^= 1;
	write_file("fw.ztmfw", m.p, m.len);
	write_file("fw.cms", cms.p, cms.len);
	write_file("root.pem", K.root_pem, strlen(K.root_pem));
	tf_free(&claims);
	tf_free(&m);
	tf_free(&cms);
}

static void test_cli(void **state)
{
	char out[1024], txt[64];
	const char *common = "--root root.pem --product " TF_PRODUCT " --svn-file svn";

	(void)state;
	sign_files();
	/* --help: the usage on stdout, status 0; an unknown option: status 2. */
	assert_int_equal(agent("--help", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "usage: ztm-device fw-verify --image F"));
	assert_int_equal(agent("--bogus x", out, sizeof(out)), 2);
	assert_non_null(strstr(out, "unknown option or missing value: --bogus"));
	/* Manifest and CMS accepted; the counter file absent = 0. */
	{
		char args[512];
		snprintf(args, sizeof(args), "--image fw.bin --sig fw.ztmfw %s", common);
		assert_int_equal(agent(args, out, sizeof(out)), 0);
		assert_non_null(strstr(out, "fw-verify: OK: widget 2.0.1, security version 7"));
		assert_non_null(strstr(out, "manifest signed by"));
		snprintf(args, sizeof(args), "--image fw.bin --sig fw.cms %s", common);
		assert_int_equal(agent(args, out, sizeof(out)), 0);
		assert_non_null(strstr(out, "CMS signed by"));
		assert_null(read_text("svn", txt, sizeof(txt))); /* no commit, no file */
		/* One flipped byte: refused with the reason, exit 1. */
		snprintf(args, sizeof(args), "--image fw-bad.bin --sig fw.ztmfw %s", common);
		assert_int_equal(agent(args, out, sizeof(out)), 1);
		assert_non_null(strstr(out, "fw-verify: REFUSED: firmware image SHA-256 differs"));
		/* Another product. */
		snprintf(args, sizeof(args),
		         "--image fw.bin --sig fw.cms --root root.pem --product gadget "
		         "--svn-file svn");
		assert_int_equal(agent(args, out, sizeof(out)), 1);
		assert_non_null(strstr(out, "REFUSED: firmware is for product \"widget\""));
		/* --commit raises the counter; then a counter above refuses. */
		snprintf(args, sizeof(args), "--image fw.bin --sig fw.ztmfw %s --commit", common);
		assert_int_equal(agent(args, out, sizeof(out)), 0);
		assert_non_null(strstr(out, "(device 0, raised)"));
		assert_string_equal(read_text("svn", txt, sizeof(txt)), "7\n");
		write_file("svn", "8\n", 2);
		snprintf(args, sizeof(args), "--image fw.bin --sig fw.ztmfw %s", common);
		assert_int_equal(agent(args, out, sizeof(out)), 1);
		assert_non_null(strstr(out, "REFUSED: firmware security version 7 is below"));
		/* A damaged counter file refuses everything. */
		write_file("svn", "seven\n", 6);
		assert_int_equal(agent(args, out, sizeof(out)), 1);
		assert_non_null(strstr(out, "cannot be read"));
		/* Misuse: exit 2. */
		assert_int_equal(agent("--image fw.bin", out, sizeof(out)), 2);
		assert_int_equal(agent("--image fw.bin --sig fw.cms", out, sizeof(out)), 2);
	}
}

/* Defaults from a device directory: its product, fw-root.pem, fw-svn. */
static void test_cli_device_dir(void **state)
{
	char out[1024], txt[64], sub[128];
	struct ztmdev *dev;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/dev", dir);
	dev = ztmdev_new(sub);
	assert_non_null(dev);
	assert_int_equal(ztmdev_init(dev, "SN-1", TF_PRODUCT), 0);
	ztmdev_free(dev);
	write_file("dev/fw-root.pem", K.root_pem, strlen(K.root_pem));
	assert_int_equal(agent("--image fw.bin --sig fw.cms --dir dev --commit", out, sizeof(out)),
	                 0);
	assert_non_null(strstr(out, "OK: widget 2.0.1"));
	assert_string_equal(read_text("dev/fw-svn", txt, sizeof(txt)), "7\n");
	/* A test-channel signer on this production device. */
	{
		struct tf_buf claims = {0}, m = {0};
		struct tf_claims c;
		X509 *chain[2] = {K.cert[TF_TEST], K.ca};
		unsigned len = 0;
		memset(&c, 0, sizeof(c));
		c.product = TF_PRODUCT;
		c.version = "2.0.2-test";
		c.svn = 7;
		c.size = IMAGE_LEN;
		c.channel = 1;
		assert_int_equal(EVP_Digest(image, IMAGE_LEN, c.digest, &len, EVP_sha256(), NULL),
		                 1);
		tf_claims_encode(&c, &claims);
		tf_manifest(K.key[TF_TEST], chain, 2, 0, &claims, &m);
		write_file("fw-test.ztmfw", m.p, m.len);
		tf_free(&claims);
		tf_free(&m);
	}
	assert_int_equal(agent("--image fw.bin --sig fw-test.ztmfw --dir dev", out, sizeof(out)),
	                 1);
	assert_non_null(strstr(out, "production device refuses test-channel"));
	assert_int_equal(
	    agent("--image fw.bin --sig fw-test.ztmfw --dir dev --test-device", out, sizeof(out)),
	    0);
	assert_non_null(strstr(out, "test channel"));
}

/* The test's CMS is what `openssl cms -verify` accepts (P-256). */
static void test_openssl_cms_verify(void **state)
{
	char cmd[1024];

	(void)state;
	snprintf(cmd, sizeof(cmd),
	         "cd %s && openssl cms -verify -binary -inform DER -in fw.cms -content %s "
	         "-CAfile root.pem -purpose any -out /dev/null 2>/dev/null",
	         dir, "fw.bin");
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
	         "cd %s && openssl cms -verify -binary -inform DER -in fw.cms -content %s "
	         "-CAfile root.pem -purpose any -out /dev/null 2>/dev/null",
	         dir, "fw-bad.bin");
	assert_int_not_equal(system(cmd), 0);
}

static int setup(void **state)
{
	size_t i;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ztm-fwcli-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	for (i = 0; i < IMAGE_LEN; i++)
		image[i] = (uint8_t)(i * 13 + 1);
	tf_pki_make(&K);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	tf_pki_free(&K);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cli),
	    cmocka_unit_test(test_cli_device_dir),
	    cmocka_unit_test(test_openssl_cms_verify),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
