/* test_issue.c - issuance end to end: CSR in, certificate out, checked by
 * OpenSSL's own decoder and verifier (X509_verify, X509_verify_cert) and by
 * the real `openssl verify` command; issuing-CA certificates; serials. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/pem.h>

#include "x509_fixture.h"
#include "ztm/csr.h"
#include "ztm/issue.h"
#include "ztm/serial.h"

static X509 *decode(const struct ztm_buf *der)
{
	const unsigned char *p = der->data;
	X509 *x = d2i_X509(NULL, &p, (long)der->len);

	assert_non_null(x);
	assert_ptr_equal(p, der->data + der->len); /* nothing trailing */
	return x;
}

/* Chain check by OpenSSL's verifier with the given purpose. */
static int chain_ok(X509 *root, X509 *mid, X509 *leaf, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *c = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int ok;

	assert_non_null(st);
	assert_non_null(c);
	assert_int_equal(X509_STORE_add_cert(st, root), 1);
	if (mid != NULL)
		sk_X509_push(untrusted, mid);
	assert_int_equal(X509_STORE_CTX_init(c, st, leaf, untrusted), 1);
	X509_STORE_CTX_set_purpose(c, purpose);
	ok = X509_verify_cert(c);
	if (ok != 1)
		fprintf(stderr, "verify: %s\n",
		        X509_verify_cert_error_string(X509_STORE_CTX_get_error(c)));
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(c);
	X509_STORE_free(st);
	return ok;
}

static void write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
}

static int64_t validity_seconds(X509 *x)
{
	int days = 0, secs = 0;
	assert_int_equal(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	return (int64_t)days * 86400 + secs;
}

static const struct ztm_ca_urls urls = {"http://ca.example/ca.crt", "http://ca.example/ocsp",
                                        "http://ca.example/ca.crl"};

static void test_profiles_and_ca_keys(void **state)
{
	static const struct {
		const char *ca_key, *profile;
		uint32_t xku;
		int purpose;
	} rows[] = {
	    {"P-256", "device", XKU_SSL_CLIENT, X509_PURPOSE_SSL_CLIENT},
	    {"P-256", "station", XKU_SSL_CLIENT, X509_PURPOSE_SSL_CLIENT},
	    {"P-256", "operator", XKU_SSL_CLIENT, X509_PURPOSE_SSL_CLIENT},
	    {"P-256", "ocsp", XKU_OCSP_SIGN, X509_PURPOSE_OCSP_HELPER},
	    {"P-256", "codesign", XKU_CODE_SIGN, X509_PURPOSE_ANY},
	    {"P-384", "device", XKU_SSL_CLIENT, X509_PURPOSE_SSL_CLIENT},
	    {"RSA2048", "device", XKU_SSL_CLIENT, X509_PURPOSE_SSL_CLIENT},
	    {"ED25519", "device", XKU_SSL_CLIENT, X509_PURPOSE_SSL_CLIENT},
	};
	static const struct ztm_name_attr subj[] = {
	    {ZTM_ATTR_C, "DE"},
	    {ZTM_ATTR_O, "Acme Devices"},
	    {ZTM_ATTR_CN, "dev-0001"},
	    {ZTM_ATTR_SERIAL, "SN0001"},
	};
	static const struct ztm_san sans[] = {
	    {ZTM_SAN_DNS, "dev-0001.example", NULL},
	    {ZTM_SAN_URI, "urn:ztm:dev:0001", NULL},
	    {ZTM_SAN_HWMODULE, "SN0001", "1.3.6.1.4.1.99999.1"},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		EVP_PKEY *ck = fx_key(rows[i].ca_key), *lk = fx_key("P-256");
		X509 *root = fx_root(ck, "Test Root", 1, 3650), *leaf;
		struct ztm_ca *ca = fx_ca(ck, root, &urls);
		const struct ztm_profile *p = ztm_profile_get(rows[i].profile);
		struct ztm_buf csrder, out;
		struct ztm_csr csr;
		struct ztm_issue_req req;
		struct ztm_error e;
		const ASN1_INTEGER *sn;
		ASN1_OCTET_STRING *aki_der;
		AUTHORITY_KEYID *aki;
		GENERAL_NAMES *gens;
		uint8_t want[ZTM_SERIAL_LEN];
		int crit = -1;

		ztm_buf_init(&csrder, 0);
		ztm_buf_init(&out, 0);
		fx_csr(lk, "ignored", NULL, NULL, &csrder);
		assert_int_equal(ztm_csr_parse(csrder.data, csrder.len, &csr, &e), 0);
		memset(&req, 0, sizeof(req));
		req.profile = rows[i].profile;
		req.subject = subj;
		req.n_subject = 4;
		/* Only the SAN types the profile allows. */
		req.san = sans;
		req.n_san = p->san_allowed == 0                           ? 0
		            : (p->san_allowed & ZTM_SAN_BIT(ZTM_SAN_DNS)) ? 3
		                                                          : 0;
		req.spki = csr.spki;
		assert_int_equal(ztm_serial_new(req.serial, &e), 0);
		memcpy(want, req.serial, sizeof(want));
		if (ztm_issue(ca, &req, &out, &e) != 0)
			fail_msg("%s/%s: %s", rows[i].ca_key, rows[i].profile, e.msg);
		leaf = decode(&out);

		assert_int_equal(X509_verify(leaf, X509_get0_pubkey(root)), 1);
		assert_int_equal(chain_ok(root, NULL, leaf, rows[i].purpose), 1);
		assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), lk), 1);
		assert_int_equal(X509_get_version(leaf), 2);
		assert_int_equal(X509_check_ca(leaf), 0);
		assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
		assert_int_equal(X509_get_extended_key_usage(leaf), rows[i].xku);
		assert_int_equal(
		    X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(root)), 0);
		/* 17-octet positive serial, the one asked for. */
		sn = X509_get0_serialNumber(leaf);
		assert_int_equal(sn->type, V_ASN1_INTEGER);
		assert_int_equal(sn->length, ZTM_SERIAL_LEN);
		assert_memory_equal(sn->data, want, ZTM_SERIAL_LEN);
		/* notAfter = notBefore + lifetime - 1. */
		assert_int_equal(validity_seconds(leaf), p->lifetime - 1);
		/* AKI = the CA's SKI; SKI present. */
		assert_non_null(X509_get0_subject_key_id(leaf));
		aki = X509_get_ext_d2i(leaf, NID_authority_key_identifier, &crit, NULL);
		assert_non_null(aki);
		aki_der = aki->keyid;
		assert_int_equal(ASN1_OCTET_STRING_cmp(aki_der, X509_get0_subject_key_id(root)), 0);
		AUTHORITY_KEYID_free(aki);
		/* AIA and CDP carry the CA's URLs. */
		{
			AUTHORITY_INFO_ACCESS *aia =
			    X509_get_ext_d2i(leaf, NID_info_access, &crit, NULL);
			CRL_DIST_POINTS *cdp =
			    X509_get_ext_d2i(leaf, NID_crl_distribution_points, &crit, NULL);
			assert_non_null(aia);
			assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 2);
			assert_non_null(cdp);
			assert_int_equal(sk_DIST_POINT_num(cdp), 1);
			AUTHORITY_INFO_ACCESS_free(aia);
			CRL_DIST_POINTS_free(cdp);
		}
		gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
		if (req.n_san > 0) {
			assert_non_null(gens);
			assert_int_equal(sk_GENERAL_NAME_num(gens), 3);
			assert_int_equal(sk_GENERAL_NAME_value(gens, 0)->type, GEN_DNS);
			assert_int_equal(sk_GENERAL_NAME_value(gens, 1)->type, GEN_URI);
			assert_int_equal(sk_GENERAL_NAME_value(gens, 2)->type, GEN_OTHERNAME);
			assert_int_equal(crit, 0);
		} else {
			assert_null(gens);
		}
		GENERAL_NAMES_free(gens);
		if (getenv("ZTM_TEST_DUMP") != NULL)
			X509_print_fp(stdout, leaf);
		if (p->ocsp_nocheck)
			assert_true(X509_get_ext_by_NID(leaf, NID_id_pkix_OCSP_noCheck, -1) >= 0);

		X509_free(leaf);
		ztm_csr_free(&csr);
		ztm_buf_free(&csrder);
		ztm_buf_free(&out);
		ztm_ca_free(ca);
		X509_free(root);
		EVP_PKEY_free(ck);
		EVP_PKEY_free(lk);
	}
}

/* Root -> issuing CA (from an SPKI only) -> device, checked by OpenSSL's
 * verifier and by the `openssl verify` command. */
static void test_issuing_ca_chain(void **state)
{
	static const struct ztm_name_attr ca_subj[] = {{ZTM_ATTR_O, "Acme"},
	                                               {ZTM_ATTR_CN, "Acme Device CA 1"}};
	static const struct ztm_name_attr dev_subj[] = {{ZTM_ATTR_SERIAL, "SN42"}};
	static const struct ztm_san dev_san[] = {{ZTM_SAN_URI, "urn:ztm:dev:42", NULL}};
	EVP_PKEY *rk = fx_key("P-384"), *ik = fx_key("P-256"), *dk = fx_key("ED25519");
	X509 *root = fx_root(rk, "Acme Root", 1, 7300), *mid, *leaf;
	struct ztm_ca *rca = fx_ca(rk, root, NULL), *ica;
	struct ztm_buf spki, out, out2;
	struct ztm_issue_req req;
	struct ztm_error e;
	char dir[] = "/tmp/ztm-issue-XXXXXX", cmd[512], path[128];
	int crit;
	BASIC_CONSTRAINTS *bc;

	ztm_buf_init(&spki, 0);
	ztm_buf_init(&out, 0);
	ztm_buf_init(&out2, 0);
	fx_spki(ik, &spki);
	memset(&req, 0, sizeof(req));
	req.subject = ca_subj;
	req.n_subject = 2;
	req.spki = ztm_buf_slice(&spki);
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	/* The leaf path refuses a CA profile, and the CA path a leaf one. */
	req.profile = "issuing-ca";
	assert_int_equal(ztm_issue(rca, &req, &out, &e), -1);
	assert_int_equal(e.code, ZTM_E_USAGE);
	req.profile = "device";
	assert_int_equal(ztm_issue_ca_cert(rca, &req, &out, &e), -1);
	assert_int_equal(e.code, ZTM_E_USAGE);
	req.profile = "no-such";
	assert_int_equal(ztm_issue(rca, &req, &out, &e), -1);
	assert_int_equal(e.code, ZTM_E_USAGE);
	assert_int_equal(out.len, 0);
	req.profile = NULL;
	if (ztm_issue_ca_cert(rca, &req, &out, &e) != 0)
		fail_msg("issuing CA: %s", e.msg);
	mid = decode(&out);
	assert_int_equal(X509_check_ca(mid), 1);
	bc = X509_get_ext_d2i(mid, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_true(bc->ca);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(mid),
	                 KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN);

	ica = fx_ca(ik, mid, &urls);
	memset(&req, 0, sizeof(req));
	req.profile = "device";
	req.subject = dev_subj;
	req.n_subject = 1;
	req.san = dev_san;
	req.n_san = 1;
	fx_spki(dk, &spki); /* appended: slice the new tail */
	req.spki.p = spki.data + (spki.len - (size_t)i2d_PUBKEY(dk, NULL));
	req.spki.len = (size_t)i2d_PUBKEY(dk, NULL);
	req.lifetime = 90 * 86400;
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	if (ztm_issue(ica, &req, &out2, &e) != 0)
		fail_msg("device: %s", e.msg);
	leaf = decode(&out2);
	assert_int_equal(validity_seconds(leaf), 90 * 86400 - 1);
	assert_int_equal(chain_ok(root, mid, leaf, X509_PURPOSE_SSL_CLIENT), 1);

	/* The real command line verifier agrees. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/root.pem", dir);
	write_pem(path, root);
	snprintf(path, sizeof(path), "%s/mid.pem", dir);
	write_pem(path, mid);
	snprintf(path, sizeof(path), "%s/leaf.pem", dir);
	write_pem(path, leaf);
	snprintf(cmd, sizeof(cmd),
	         "openssl verify -x509_strict -purpose sslclient -CAfile %s/root.pem "
	         "-untrusted %s/mid.pem %s/leaf.pem >/dev/null",
	         dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);

	X509_free(leaf);
	X509_free(mid);
	ztm_ca_free(ica);
	ztm_ca_free(rca);
	X509_free(root);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(dk);
	ztm_buf_free(&spki);
	ztm_buf_free(&out);
	ztm_buf_free(&out2);
}

/* An issuing CA may carry the EKU its request asks for (EKU chaining): it is
 * written, and OpenSSL then holds the CA's leaves to it. A leaf profile may
 * not choose its EKU. */
static void test_issuing_ca_eku(void **state)
{
	static const struct ztm_name_attr ca_subj[] = {{ZTM_ATTR_O, "Acme"},
	                                               {ZTM_ATTR_CN, "Acme TLS CA"}};
	static const struct ztm_name_attr dev_subj[] = {{ZTM_ATTR_SERIAL, "SN7"}};
	static const struct {
		unsigned eku;
		uint32_t xku; /* what OpenSSL must decode */
	} rows[] = {
	    {ZTM_EKU_SERVER_AUTH, XKU_SSL_SERVER},
	    {ZTM_EKU_CLIENT_AUTH, XKU_SSL_CLIENT},
	    {ZTM_EKU_OCSP_SIGN, XKU_OCSP_SIGN},
	    {ZTM_EKU_CODE_SIGN, XKU_CODE_SIGN},
	    {ZTM_EKU_SERVER_AUTH | ZTM_EKU_CLIENT_AUTH, XKU_SSL_SERVER | XKU_SSL_CLIENT},
	};
	EVP_PKEY *rk = fx_key("P-256"), *ik = fx_key("P-256"), *dk = fx_key("P-256");
	X509 *root = fx_root(rk, "Acme Root", 1, 7300), *mid, *leaf;
	struct ztm_ca *rca = fx_ca(rk, root, NULL), *ica;
	struct ztm_buf spki, dspki, out;
	struct ztm_issue_req req;
	struct ztm_error e;
	size_t i;

	ztm_buf_init(&spki, 0);
	ztm_buf_init(&dspki, 0);
	fx_spki(ik, &spki);
	fx_spki(dk, &dspki);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ztm_buf_init(&out, 0);
		memset(&req, 0, sizeof(req));
		req.subject = ca_subj;
		req.n_subject = 2;
		req.spki = ztm_buf_slice(&spki);
		req.eku = rows[i].eku;
		assert_int_equal(ztm_serial_new(req.serial, &e), 0);
		if (ztm_issue_ca_cert(rca, &req, &out, &e) != 0)
			fail_msg("row %zu: %s", i, e.msg);
		mid = decode(&out);
		assert_true(X509_get_extension_flags(mid) & EXFLAG_XKUSAGE);
		assert_int_equal(X509_get_extended_key_usage(mid), rows[i].xku);
		assert_int_equal(X509_check_ca(mid), 1);
		X509_free(mid);
		ztm_buf_free(&out);
	}

	/* A serverAuth CA: its clientAuth device fails the sslclient purpose. */
	ztm_buf_init(&out, 0);
	memset(&req, 0, sizeof(req));
	req.subject = ca_subj;
	req.n_subject = 2;
	req.spki = ztm_buf_slice(&spki);
	req.eku = ZTM_EKU_SERVER_AUTH;
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	assert_int_equal(ztm_issue_ca_cert(rca, &req, &out, &e), 0);
	mid = decode(&out);
	ica = fx_ca(ik, mid, NULL);
	ztm_buf_free(&out);
	ztm_buf_init(&out, 0);
	memset(&req, 0, sizeof(req));
	req.profile = "device";
	req.subject = dev_subj;
	req.n_subject = 1;
	req.spki = ztm_buf_slice(&dspki);
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	assert_int_equal(ztm_issue(ica, &req, &out, &e), 0);
	leaf = decode(&out);
	assert_int_equal(chain_ok(root, mid, leaf, X509_PURPOSE_SSL_CLIENT), 0);
	X509_free(leaf);
	ztm_buf_free(&out);

	/* A leaf cannot pick its purposes: the lint refuses, nothing signed. */
	ztm_buf_init(&out, 0);
	req.eku = ZTM_EKU_SERVER_AUTH;
	assert_int_equal(ztm_issue(ica, &req, &out, &e), -1);
	assert_int_equal(e.code, ZTM_E_LINT);
	assert_non_null(strstr(e.msg, "lint eku:"));
	assert_int_equal(out.len, 0);

	X509_free(mid);
	ztm_ca_free(ica);
	ztm_ca_free(rca);
	X509_free(root);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(dk);
	ztm_buf_free(&spki);
	ztm_buf_free(&dspki);
	ztm_buf_free(&out);
}

static void test_ca_refusals(void **state)
{
	EVP_PKEY *k = fx_key("P-256"), *other = fx_key("P-256");
	X509 *notca = fx_root(k, "not a CA", 0, 30), *ca = fx_root(k, "CA", 1, 30);
	struct ztm_error e;

	assert_null(ztm_ca_new("x", notca, k, NULL, &e));
	assert_int_equal(e.code, ZTM_E_USAGE);
	assert_non_null(strstr(e.msg, "not a CA"));
	assert_null(ztm_ca_new("x", ca, other, NULL, &e));
	assert_non_null(strstr(e.msg, "key does not match certificate"));
	assert_null(ztm_ca_new(NULL, ca, k, NULL, &e));
	X509_free(notca);
	X509_free(ca);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void test_serials(void **state)
{
	uint8_t s[ZTM_SERIAL_LEN], prev[ZTM_SERIAL_LEN];
	char hex[ZTM_SERIAL_HEXLEN];
	struct ztm_error e;
	int i;

	memset(prev, 0, sizeof(prev));
	for (i = 0; i < 1000; i++) {
		assert_int_equal(ztm_serial_new(s, &e), 0);
		assert_int_equal(s[0], ZTM_SERIAL_PREFIX);
		assert_true(memcmp(s, prev, sizeof(s)) != 0);
		memcpy(prev, s, sizeof(s));
	}
	ztm_serial_hex(s, hex);
	assert_int_equal(strlen(hex), 34);
	assert_memory_equal(hex, "5a", 2);
}

/* Serials come from a per-thread buffer of random bytes (serial.c): a
 * forked child must not hand out the serials its parent has buffered, and
 * two threads never share one. */
static void test_serials_fork(void **state)
{
	uint8_t parent[ZTM_SERIAL_LEN], child[ZTM_SERIAL_LEN];
	struct ztm_error e;
	int fd[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(ztm_serial_new(parent, &e), 0); /* buffer filled */
	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		if (ztm_serial_new(child, &e) != 0 ||
		    write(fd[1], child, sizeof(child)) != (ssize_t)sizeof(child))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	assert_int_equal(read(fd[0], child, sizeof(child)), (ssize_t)sizeof(child));
	close(fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(ztm_serial_new(parent, &e), 0); /* the parent's next one */
	assert_int_equal(child[0], ZTM_SERIAL_PREFIX);
	assert_true(memcmp(parent, child, sizeof(child)) != 0);
}

#define THREAD_SERIALS 200

static void *thread_serials(void *arg)
{
	uint8_t(*out)[ZTM_SERIAL_LEN] = arg;
	struct ztm_error e;
	int i;

	for (i = 0; i < THREAD_SERIALS; i++)
		if (ztm_serial_new(out[i], &e) != 0)
			return NULL;
	return arg;
}

static int cmp_serial(const void *a, const void *b)
{
	return memcmp(a, b, ZTM_SERIAL_LEN);
}

static void test_serials_threads(void **state)
{
	static uint8_t all[2 * THREAD_SERIALS][ZTM_SERIAL_LEN];
	pthread_t t[2];
	void *r[2];
	int i;

	(void)state;
	for (i = 0; i < 2; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, thread_serials, all + i * THREAD_SERIALS), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], &r[i]), 0);
		assert_non_null(r[i]);
	}
	qsort(all, 2 * THREAD_SERIALS, ZTM_SERIAL_LEN, cmp_serial);
	for (i = 1; i < 2 * THREAD_SERIALS; i++)
		assert_true(memcmp(all[i - 1], all[i], ZTM_SERIAL_LEN) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_profiles_and_ca_keys),
	    cmocka_unit_test(test_issuing_ca_chain),
	    cmocka_unit_test(test_issuing_ca_eku),
	    cmocka_unit_test(test_ca_refusals),
	    cmocka_unit_test(test_serials),
	    cmocka_unit_test(test_serials_fork),
	    cmocka_unit_test(test_serials_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
