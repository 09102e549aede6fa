/* test_ztmdev.c - the device library without a server: manufacturing (key,
 * bootstrap certificate), the key file with and without a passphrase, the
 * CSR, status, the state file's strictness, and the base64/PEM codecs.
 * Certificates and CSRs are checked with OpenSSL's own decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "zd_int.h"
#include "ztmdev/ztmdev.h"

static char *new_dir(char *tmpl)
{
	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static void rm_dir(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int mode_of(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	return (int)(st.st_mode & 0777);
}

static void test_init_names(void **state)
{
	static const struct {
		const char *serial, *product;
		int ok;
	} rows[] = {
	    {"SN-0001", "widget", 1},
	    {"a.b-C9", "Prod_1.x-2", 1},
	    {"12345678901234567890123456789012", "1234567890123456789012345678901", 1},
	    {"123456789012345678901234567890123", "w", 0}, /* serial 33 chars */
	    {"S", "12345678901234567890123456789012", 0},  /* product 32 chars */
	    {"", "w", 0},
	    {"S", "", 0},
	    {"SN_1", "w", 0}, /* '_' is not PrintableString */
	    {"SN 1", "w", 0},
	    {"SN/1", "w", 0},
	    {"S", "w/x", 0},
	    {"S", "w\n", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char tmpl[] = "/tmp/ztmdev-XXXXXX", sub[64];
		struct ztmdev *dev;
		int rc;

		snprintf(sub, sizeof(sub), "%s/d", new_dir(tmpl));
		dev = ztmdev_new(sub);
		rc = ztmdev_init(dev, rows[i].serial, rows[i].product);
		if (rc != (rows[i].ok ? 0 : -1))
			fail_msg("row %zu (%s, %s): rc %d: %s", i, rows[i].serial, rows[i].product,
			         rc, ztmdev_error(dev));
		if (!rows[i].ok) {
			assert_true(strstr(ztmdev_error(dev), "must be") != NULL);
			assert_int_equal(access(sub, F_OK), -1); /* nothing made */
		}
		ztmdev_free(dev);
		rm_dir(tmpl);
	}
}

/* Bootstrap certificate fields, read back with OpenSSL. */
static void check_bootstrap(struct ztmdev *dev, const char *cn, const char *serial)
{
	uint8_t der[4096], csr[4096];
	size_t len, clen;
	const unsigned char *p = der;
	X509 *x;
	X509_REQ *r;
	X509_NAME *n;
	char buf[128];
	int days = 0, secs = 0, idx;
	ASN1_STRING *sn;

	assert_int_equal(ztmdev_bootstrap_cert(dev, der, sizeof(der), &len), 0);
	assert_int_equal(ztmdev_bootstrap_cert(dev, der, 10, &len), -1);
	assert_non_null(strstr(ztmdev_error(dev), "too small"));
	assert_int_equal(ztmdev_bootstrap_cert(dev, der, sizeof(der), &len), 0);
	x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	assert_ptr_equal(p, der + len);
	/* Self-signed, verified with its own key. */
	assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
	assert_int_equal(X509_self_signed(x, 1), 1);
	n = X509_get_subject_name(x);
	assert_true(X509_NAME_get_text_by_NID(n, NID_commonName, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, cn);
	idx = X509_NAME_get_index_by_NID(n, NID_serialNumber, -1);
	assert_true(idx >= 0);
	sn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, idx));
	assert_int_equal(ASN1_STRING_type(sn), V_ASN1_PRINTABLESTRING);
	assert_int_equal(ASN1_STRING_length(sn), (int)strlen(serial));
	assert_memory_equal(ASN1_STRING_get0_data(sn), serial, strlen(serial));
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 1);
	assert_int_equal(X509_check_ca(x), 0);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 256);
	/* 20 years (plus leap days) after an hour of backdating. */
	assert_int_equal(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	assert_int_equal(days, 20 * 365 + 5);
	assert_int_equal(secs, 3600);
	/* The CSR: same key, signature valid, same subject. */
	assert_int_equal(ztmdev_csr(dev, csr, sizeof(csr), &clen), 0);
	p = csr;
	r = d2i_X509_REQ(NULL, &p, (long)clen);
	assert_non_null(r);
	assert_int_equal(X509_REQ_verify(r, X509_REQ_get0_pubkey(r)), 1);
	assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(r), X509_get0_pubkey(x)), 1);
	assert_int_equal(X509_NAME_cmp(X509_REQ_get_subject_name(r), n), 0);
	X509_REQ_free(r);
	X509_free(x);
}

static void test_init_and_reopen(void **state)
{
	static const struct {
		const char *pass;      /* at init */
		const char *open_pass; /* when reopening */
		const char *want;      /* NULL: opens */
	} rows[] = {
	    {NULL, NULL, NULL},
	    {"correct horse battery", "correct horse battery", NULL},
	    {"correct horse battery", "wrong passphrase!", "wrong passphrase"},
	    {"correct horse battery", NULL, "a passphrase is needed"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char tmpl[] = "/tmp/ztmdev-XXXXXX", key[256], head[64];
		struct ztmdev *dev, *again;
		struct ztmdev_status st;
		FILE *f;
		const char *dir = new_dir(tmpl);

		dev = ztmdev_new(dir);
		if (rows[i].pass != NULL)
			assert_int_equal(
			    ztmdev_set_passphrase(dev, rows[i].pass, strlen(rows[i].pass)), 0);
		assert_int_equal(ztmdev_init(dev, "SN-7", "gadget"), 0);
		check_bootstrap(dev, "gadget-SN-7", "SN-7");
		/* A second init never replaces the key. */
		assert_int_equal(ztmdev_init(dev, "SN-8", "gadget"), -1);
		assert_non_null(strstr(ztmdev_error(dev), "already holds a device"));
		assert_int_equal(mode_of(dir, "key.pem"), 0600);
		assert_int_equal(mode_of(dir, "state"), 0600);
		snprintf(key, sizeof(key), "%s/key.pem", dir);
		f = fopen(key, "r");
		assert_non_null(fgets(head, sizeof(head), f));
		fclose(f);
		assert_string_equal(head, rows[i].pass != NULL
		                              ? "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
		                              : "-----BEGIN PRIVATE KEY-----\n");
		again = ztmdev_new(dir);
		if (rows[i].open_pass != NULL)
			assert_int_equal(ztmdev_set_passphrase(again, rows[i].open_pass,
			                                       strlen(rows[i].open_pass)),
			                 0);
		/* Status needs no key. */
		assert_int_equal(ztmdev_status(again, &st), 0);
		assert_int_equal(st.state, ZTMDEV_STATE_MANUFACTURED);
		assert_string_equal(st.serial, "SN-7");
		assert_string_equal(st.product, "gadget");
		assert_int_equal(st.key_encrypted, rows[i].pass != NULL);
		assert_non_null(strstr(st.subject, "CN=gadget-SN-7"));
		assert_int_equal(strlen(st.cert_serial), 32);
		assert_true(st.not_after > (int64_t)time(NULL) + (int64_t)19 * 365 * 86400);
		if (rows[i].want == NULL) {
			if (ztmdev_open(again) != 0)
				fail_msg("row %zu: %s", i, ztmdev_error(again));
			check_bootstrap(again, "gadget-SN-7", "SN-7");
		} else {
			assert_int_equal(ztmdev_open(again), -1);
			if (strstr(ztmdev_error(again), rows[i].want) == NULL)
				fail_msg("row %zu: '%s'", i, ztmdev_error(again));
		}
		ztmdev_free(again);
		ztmdev_free(dev);
		rm_dir(tmpl);
	}
}

static void test_passphrase_rules(void **state)
{
	struct ztmdev *dev = ztmdev_new("/nonexistent/x");

	(void)state;
	assert_int_equal(ztmdev_set_passphrase(dev, "short", 5), -1);
	assert_non_null(strstr(ztmdev_error(dev), "shorter than 8"));
	assert_int_equal(ztmdev_set_passphrase(dev, "long enough", 11), 0);
	assert_int_equal(ztmdev_set_passphrase(dev, NULL, 0), 0);
	assert_int_equal(ztmdev_init(dev, "S", "p"), -1);
	assert_non_null(strstr(ztmdev_error(dev), "/nonexistent/x"));
	assert_int_equal(ztmdev_open(dev), -1);
	assert_non_null(strstr(ztmdev_error(dev), "no device here"));
	ztmdev_free(dev);
	dev = ztmdev_new("");
	assert_int_equal(ztmdev_open(dev), -1);
	assert_non_null(strstr(ztmdev_error(dev), "device directory"));
	ztmdev_free(dev);
	assert_string_equal(ztmdev_state_name(ZTMDEV_STATE_ACTIVE), "active");
	assert_string_equal(ztmdev_state_name((enum ztmdev_state)99), "unknown");
}

/* An init that fails half-way (here: the bootstrap certificate cannot be
 * written) leaves no key behind, so the next init can succeed. */
static void test_init_undone(void **state)
{
	char tmpl[] = "/tmp/ztmdev-XXXXXX", blocker[64];
	struct ztmdev *dev = ztmdev_new(new_dir(tmpl));

	(void)state;
	snprintf(blocker, sizeof(blocker), "%s/bootstrap.pem.tmp", tmpl);
	assert_int_equal(mkdir(blocker, 0700), 0);
	assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), -1);
	assert_non_null(strstr(ztmdev_error(dev), "bootstrap.pem.tmp"));
	assert_int_equal(access(tmpl, F_OK), 0);
	snprintf(blocker, sizeof(blocker), "%s/key.pem", tmpl);
	assert_int_equal(access(blocker, F_OK), -1);
	snprintf(blocker, sizeof(blocker), "%s/bootstrap.pem.tmp", tmpl);
	assert_int_equal(rmdir(blocker), 0);
	assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), 0);
	ztmdev_free(dev);
	rm_dir(tmpl);
}

/* A damaged state file is an error that names the problem. */
static void test_state_file(void **state)
{
	static const struct {
		const char *text;
		const char *want; /* NULL: reads */
	} rows[] = {
	    {"ztmdev-state 1\nserial=S\nproduct=p\nstate=active\nkey=file:key.pem\n"
	     "key_protection=none\n",
	     NULL},
	    {"ztmdev-state 1\nkey_protection=none\nstate=provisioned\nkey=file:key.pem\n"
	     "product=p\nserial=S\n",
	     NULL},
	    {"", "damaged"},
	    {"ztmdev-state 1\nserial=S", "damaged"},
	    {"ztmdev-state 2\nserial=S\n", "not a ztmdev state file"},
	    {"ztmdev-state 1\nserial=S\nproduct=p\nstate=active\nkey=file:key.pem\n",
	     "'key_protection' missing"},
	    {"ztmdev-state 1\nserial=S\nserial=T\n", "repeated or unknown field 'serial'"},
	    {"ztmdev-state 1\ncolour=blue\n", "unknown field 'colour'"},
	    {"ztmdev-state 1\nstate=none\n", "field 'state'"},
	    {"ztmdev-state 1\nstate=revoked\n", "field 'state'"},
	    {"ztmdev-state 1\nserial=S_1\n", "field 'serial'"},
	    {"ztmdev-state 1\nkey=file:/etc/shadow\n", "field 'key'"},
	    {"ztmdev-state 1\nkey_protection=maybe\n", "field 'key_protection'"},
	    {"ztmdev-state 1\nno equals sign\n", "no '='"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char tmpl[] = "/tmp/ztmdev-XXXXXX";
		struct ztmdev *dev = ztmdev_new(new_dir(tmpl));
		int rc;

		write_file(tmpl, "state", rows[i].text);
		rc = zd_state_read(dev);
		if (rows[i].want == NULL && rc != 0)
			fail_msg("row %zu: %s", i, ztmdev_error(dev));
		if (rows[i].want != NULL &&
		    (rc != -1 || strstr(ztmdev_error(dev), rows[i].want) == NULL))
			fail_msg("row %zu: rc %d '%s', want '%s'", i, rc, ztmdev_error(dev),
			         rows[i].want);
		ztmdev_free(dev);
		rm_dir(tmpl);
	}
}

static void test_base64(void **state)
{
	static const struct {
		const char *in, *out; /* out NULL: refused */
	} rows[] = {
	    {"", ""},
	    {"Zg==", "f"},
	    {"Zm8=", "fo"},
	    {"Zm9v", "foo"},
	    {"Zm9v\r\nYmFy", "foobar"},
	    {" Zm9v YmE= ", "fooba"},
	    {"Zg=", NULL},
	    {"Zg", NULL},
	    {"Z===", NULL},
	    {"Zh==", NULL},     /* non-zero pad bits */
	    {"Zm9=", NULL},     /* non-zero pad bits */
	    {"Zg==Zg==", NULL}, /* data after padding */
	    {"Zm9v!", NULL},
	    {"Zm-v", NULL}, /* base64url is not base64 */
	    {"Zm9v\x00", NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct zd_buf out, back;
		size_t n = strlen(rows[i].in) + (i == sizeof(rows) / sizeof(rows[0]) - 1);
		int rc;

		zd_buf_init(&out, 0);
		zd_buf_init(&back, 0);
		rc = zd_b64_decode((const uint8_t *)rows[i].in, n, &out);
		if (rows[i].out == NULL) {
			if (rc != -1)
				fail_msg("row %zu '%s' accepted", i, rows[i].in);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(out.len, strlen(rows[i].out));
			assert_memory_equal(out.p != NULL ? out.p : (uint8_t *)"", rows[i].out,
			                    out.len);
			assert_int_equal(zd_b64_encode(out.p, out.len, &back), 0);
			out.len = 0;
			assert_int_equal(zd_b64_decode(back.p, back.len, &out), 0);
			assert_int_equal(out.len, strlen(rows[i].out));
		}
		zd_buf_free(&out);
		zd_buf_free(&back);
	}
}

static void test_pem_and_caps(void **state)
{
	static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	struct zd_buf pem, b;
	struct zd_certs c;

	(void)state;
	zd_buf_init(&pem, 0);
	zd_certs_init(&c);
	assert_int_equal(zd_pem_cert_write(der, sizeof(der), &pem), 0);
	assert_int_equal(zd_pem_cert_write(der, sizeof(der), &pem), 0);
	assert_int_equal(zd_pem_certs(pem.p, pem.len, &c), 0);
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.der[1].p, der, sizeof(der));
	zd_certs_free(&c);
	zd_certs_init(&c);
	assert_int_equal(zd_pem_certs((const uint8_t *)"no pem", 6, &c), -1);
	assert_int_equal(
	    zd_pem_certs((const uint8_t *)"-----BEGIN CERTIFICATE-----\nMAMCAQU=\n", 38, &c), -1);
	zd_certs_free(&c);
	/* The cap holds: the buffer is unchanged by a refused append. */
	zd_buf_init(&b, 8);
	assert_int_equal(zd_buf_append(&b, "12345678", 8), 0);
	assert_int_equal(zd_buf_append(&b, "9", 1), -1);
	assert_int_equal(b.len, 8);
	zd_buf_free(&b);
	zd_buf_free(&pem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_names),   cmocka_unit_test(test_init_and_reopen),
	    cmocka_unit_test(test_init_undone),  cmocka_unit_test(test_passphrase_rules),
	    cmocka_unit_test(test_state_file),   cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_pem_and_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
