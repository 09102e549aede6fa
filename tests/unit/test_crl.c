/* test_crl.c - the streaming CRL writer checked by OpenSSL's own decoder
 * and verifier (d2i_X509_CRL, X509_CRL_verify, X509_verify_cert with
 * CRL checking); the CRL numbers, claims and shard listing of the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/x509v3.h>

#include "test_store_util.h"
#include "x509_fixture.h"
#include "ztm/crl.h"
#include "ztm/issue.h"

static const struct ztm_ca_urls urls = {NULL, NULL, "http://ca.example/crl/device"};

static X509_CRL *decode(const struct ztm_buf *der)
{
	const unsigned char *p = der->data;
	X509_CRL *c = d2i_X509_CRL(NULL, &p, (long)der->len);

	assert_non_null(c);
	assert_ptr_equal(p, der->data + der->len);
	return c;
}

static long crl_number(X509_CRL *c)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(c, NID_crl_number, NULL, NULL);
	long v;

	assert_non_null(n);
	v = ASN1_INTEGER_get(n);
	ASN1_INTEGER_free(n);
	return v;
}

/* One row per CA key type: entries with and without reasons, an empty CRL,
 * serials with the high bit set; decoded and verified by OpenSSL. */
static void test_writer(void **state)
{
	static const char *const keys[] = {"P-256", "P-384", "RSA2048", "ED25519"};
	static const struct {
		const char *serial;
		int64_t when;
		int reason;
	} entries[] = {
	    {"5a0102030405060708090a0b0c0d0e0f10", 1700000000, 1},
	    {"5aff", 1700000001, 0},
	    {"ff01", 2524608000, 6}, /* 2050: GeneralizedTime; high bit: 00 prefix */
	    {"01", 1, 9},
	};
	size_t k, i, n;

	(void)state;
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (n = 0; n <= sizeof(entries) / sizeof(entries[0]); n += 4) {
			EVP_PKEY *key = fx_key(keys[k]);
			X509 *root = fx_root(key, "CRL Test CA", 1, 3650);
			struct ztm_ca *ca = fx_ca(key, root, &urls);
			struct ztm_crl_params p = {7, 1700000000, 1700086400,
			                           "http://ca.example/crl/device/3.crl"};
			struct ztm_crl_writer w;
			struct ztm_buf out;
			struct ztm_error e;
			X509_CRL *c;
			STACK_OF(X509_REVOKED) * rev;
			ISSUING_DIST_POINT *idp;
			int crit = -1;

			ztm_buf_init(&out, 0);
			assert_int_equal(ztm_crl_begin(&w, ca, &p, &out, &e), 0);
			for (i = 0; i < n; i++)
				ztm_crl_add_hex(&w, entries[i].serial, entries[i].when,
				                entries[i].reason);
			assert_int_equal(ztm_crl_finish(&w, &e), 0);
			c = decode(&out);
			assert_int_equal(X509_CRL_get_version(c), 1);
			assert_int_equal(X509_CRL_verify(c, key), 1);
			assert_int_equal(crl_number(c), 7);
			assert_int_equal(
			    X509_NAME_cmp(X509_CRL_get_issuer(c), X509_get_subject_name(root)), 0);
			idp = X509_CRL_get_ext_d2i(c, NID_issuing_distribution_point, &crit, NULL);
			assert_non_null(idp);
			assert_int_equal(crit, 1);
			ISSUING_DIST_POINT_free(idp);
			{
				AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(
				    c, NID_authority_key_identifier, NULL, NULL);
				assert_non_null(aki);
				AUTHORITY_KEYID_free(aki);
			}
			rev = X509_CRL_get_REVOKED(c);
			assert_int_equal(rev == NULL ? 0 : sk_X509_REVOKED_num(rev), (int)n);
			for (i = 0; i < n; i++) {
				X509_REVOKED *r = sk_X509_REVOKED_value(rev, (int)i);
				ASN1_ENUMERATED *reason =
				    X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
				BIGNUM *bn =
				    ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(r), NULL);
				char *hex = BN_bn2hex(bn);
				time_t t = (time_t)entries[i].when;
				assert_int_equal(strcasecmp(hex, entries[i].serial), 0);
				assert_int_equal(
				    ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(r), t),
				    0);
				if (entries[i].reason == 0) {
					assert_null(reason);
				} else {
					assert_non_null(reason);
					assert_int_equal(ASN1_ENUMERATED_get(reason),
					                 entries[i].reason);
				}
				ASN1_ENUMERATED_free(reason);
				OPENSSL_free(hex);
				BN_free(bn);
			}
			X509_CRL_free(c);
			ztm_buf_free(&out);
			ztm_ca_free(ca);
			X509_free(root);
			EVP_PKEY_free(key);
		}
	}
}

/* Bad input: nothing half-written stays in the buffer. */
static void test_writer_refusals(void **state)
{
	static const struct {
		const char *serial;
		int64_t when;
		int reason;
	} bad[] = {
	    {"5", 1700000000, 0},   {"5G", 1700000000, 0},
	    {"5A", 1700000000, 0},  {"", 1700000000, 0},
	    {"01", -1000000000, 0}, {"01", 1700000000, 7},
	    {"01", 1700000000, 11}, {"0102030405060708091011121314151617181920ff", 1, 0},
	};
	EVP_PKEY *key = fx_key("P-256");
	X509 *root = fx_root(key, "CRL Test CA", 1, 3650);
	struct ztm_ca *ca = fx_ca(key, root, &urls);
	struct ztm_crl_params p = {1, 1700000000, 1700086400, NULL}, badp = p;
	struct ztm_crl_writer w;
	struct ztm_buf out;
	struct ztm_error e;
	size_t i;

	(void)state;
	ztm_buf_init(&out, 0);
	assert_int_equal(ztm_buf_append(&out, "x", 1), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ztm_crl_begin(&w, ca, &p, &out, &e), 0);
		ztm_crl_add_hex(&w, "01", 1700000000, 0);
		ztm_crl_add_hex(&w, bad[i].serial, bad[i].when, bad[i].reason);
		assert_int_equal(ztm_crl_finish(&w, &e), -1);
		assert_int_equal(e.code, ZTM_E_USAGE);
		assert_int_equal(out.len, 1);
	}
	badp.number = 0;
	assert_int_equal(ztm_crl_begin(&w, ca, &badp, &out, &e), -1);
	badp = p;
	badp.next_update = badp.this_update;
	assert_int_equal(ztm_crl_begin(&w, ca, &badp, &out, &e), -1);
	assert_int_equal(out.len, 1);
	ztm_buf_free(&out);
	ztm_ca_free(ca);
	X509_free(root);
	EVP_PKEY_free(key);
}

/* A certificate issued for shard 3 names shard 3's URL, and OpenSSL's
 * verifier with CRL checking accepts it against that shard's CRL (IDP ==
 * CDP) until it is listed there. */
static void test_verify_with_shard(void **state)
{
	EVP_PKEY *key = fx_key("P-256"), *lk = fx_key("P-256");
	X509 *root = fx_root(key, "CRL Test CA", 1, 3650), *leaf;
	struct ztm_ca *ca = fx_ca(key, root, &urls);
	struct ztm_name_attr subj[] = {{ZTM_ATTR_CN, "dev-1"}, {ZTM_ATTR_SERIAL, "dev-1"}};
	struct ztm_issue_req req;
	struct ztm_buf spki, der, crl;
	struct ztm_error e;
	struct ztm_crl_writer w;
	int64_t now = (int64_t)time(NULL);
	struct ztm_crl_params p = {1, now - 10, now + 3600, "http://ca.example/crl/device/3.crl"};
	char serial[ZTM_SERIAL_HEXLEN];
	const unsigned char *q;
	int round;

	(void)state;
	ztm_buf_init(&spki, 0);
	ztm_buf_init(&der, 0);
	fx_spki(lk, &spki);
	memset(&req, 0, sizeof(req));
	req.profile = "device";
	req.subject = subj;
	req.n_subject = 2;
	req.spki = ztm_buf_slice(&spki);
	req.crl_shard = 3;
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	if (ztm_issue(ca, &req, &der, &e) != 0)
		fail_msg("%s", ztm_error_msg(&e));
	ztm_serial_hex(req.serial, serial);
	q = der.data;
	leaf = d2i_X509(NULL, &q, (long)der.len);
	assert_non_null(leaf);
	for (round = 0; round < 3; round++) {
		X509_STORE *st = X509_STORE_new();
		X509_STORE_CTX *c = X509_STORE_CTX_new();
		X509_CRL *x;
		int ok;

		ztm_buf_init(&crl, 0);
		/* Round 0: not listed; 1: listed; 2: a CRL of another shard. */
		if (round == 2)
			p.idp_url = "http://ca.example/crl/device/4.crl";
		assert_int_equal(ztm_crl_begin(&w, ca, &p, &crl, &e), 0);
		ztm_crl_add_hex(&w, "5a00", now - 100, 1);
		if (round >= 1)
			ztm_crl_add_hex(&w, serial, now - 5, 1);
		assert_int_equal(ztm_crl_finish(&w, &e), 0);
		x = decode(&crl);
		X509_STORE_add_cert(st, root);
		X509_STORE_add_crl(st, x);
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
		assert_int_equal(X509_STORE_CTX_init(c, st, leaf, NULL), 1);
		ok = X509_verify_cert(c);
		if (round == 0) {
			assert_int_equal(ok, 1);
		} else {
			assert_int_not_equal(ok, 1);
			assert_int_equal(X509_STORE_CTX_get_error(c),
			                 round == 1 ? X509_V_ERR_CERT_REVOKED
			                            : X509_V_ERR_DIFFERENT_CRL_SCOPE);
		}
		X509_STORE_CTX_free(c);
		X509_STORE_free(st);
		X509_CRL_free(x);
		ztm_buf_free(&crl);
	}
	X509_free(leaf);
	ztm_buf_free(&spki);
	ztm_buf_free(&der);
	ztm_ca_free(ca);
	X509_free(root);
	EVP_PKEY_free(key);
	EVP_PKEY_free(lk);
}

static int put_shard(int64_t shard, void *arg)
{
	int64_t *v = arg;
	v[++v[0]] = shard;
	return 0;
}

/* The store: shards listed by index seeks; a claim is exclusive; numbers
 * grow by exactly one per stored CRL and survive a reopen; a CRL is due
 * again only after a change in its own shard. */
static void test_store_numbers(void **state)
{
	struct tdir t;
	struct ztm_store *s = NULL, *s2 = NULL;
	struct ztm_cert_row row;
	struct ztm_crl_row crl;
	struct ztm_error e;
	int64_t shards[8] = {0}, number = 0, seq = 0, now = 1800000000;
	int got = 0, i;
	char serial[8];

	(void)state;
	assert_int_equal(tdir_make(&t), 0);
	assert_int_equal(ztm_store_open(t.url, &s, &e), 0);
	assert_int_equal(ztm_store_open(t.url, &s2, &e), 0);
	for (i = 0; i < 5; i++) {
		ztm_cert_row_init(&row);
		snprintf(serial, sizeof(serial), "7f%02x", i);
		ztm_strlcpy(row.serial, serial, sizeof(row.serial));
		ztm_strlcpy(row.ca, "device", sizeof(row.ca));
		ztm_strlcpy(row.profile, "device", sizeof(row.profile));
		ztm_strlcpy(row.subject, "CN=x", sizeof(row.subject));
		memset(row.spki_sha256, 'a', 64);
		ztm_strlcpy(row.owner_kind, "device", sizeof(row.owner_kind));
		row.owner_id = 1;
		row.not_before = 1;
		row.not_after = 2;
		row.crl_shard_size = 2;
		assert_int_equal(ztm_store_cert_reserve(s, &row, &e), 0);
		assert_int_equal(
		    ztm_store_cert_issue(s, serial, (const uint8_t *)"\x30\x00", 2, &e), 0);
		ztm_cert_row_free(&row);
	}
	assert_int_equal(ztm_store_crl_shards(s, "device", put_shard, shards, &e), 0);
	assert_int_equal(shards[0], 3); /* rows 1..5 over 2: shards 0, 1, 2 */
	assert_int_equal(shards[1], 0);
	assert_int_equal(shards[3], 2);
	/* Never built: due; the second worker cannot claim it meanwhile. */
	assert_int_equal(
	    ztm_store_crl_claim(s, "device", 1, "w1", now, 60, 43200, &got, &number, &seq, &e), 0);
	assert_int_equal(got, 1);
	assert_int_equal(number, 1);
	assert_int_equal(
	    ztm_store_crl_claim(s2, "device", 1, "w2", now, 60, 43200, &got, &number, &seq, &e), 0);
	assert_int_equal(got, 0);
	ztm_crl_row_init(&crl);
	ztm_strlcpy(crl.ca, "device", sizeof(crl.ca));
	crl.shard = 1;
	crl.number = 2; /* skipping a number: refused */
	crl.this_update = now;
	crl.next_update = now + 86400;
	assert_int_equal(ztm_buf_append(&crl.der, "\x30\x00", 2), 0);
	assert_int_equal(ztm_store_crl_put(s, &crl, "w1", &e), -1);
	assert_int_equal(e.code, ZTM_E_CONFLICT);
	crl.number = 1;
	assert_int_equal(ztm_store_crl_put(s2, &crl, "w2", &e), -1); /* not w2's claim */
	assert_int_equal(ztm_store_crl_put(s, &crl, "w1", &e), 0);
	/* Built and unchanged: not due. */
	assert_int_equal(
	    ztm_store_crl_claim(s2, "device", 1, "w2", now + 1, 60, 43200, &got, &number, &seq, &e),
	    0);
	assert_int_equal(got, 0);
	/* A change in another shard leaves it alone; one in its own makes it due. */
	assert_int_equal(
	    ztm_store_cert_revoke(s, "7f00", ZTM_REASON_KEY_COMPROMISE, now, "t", NULL, &e), 0);
	assert_int_equal(
	    ztm_store_crl_claim(s2, "device", 1, "w2", now + 1, 60, 43200, &got, &number, &seq, &e),
	    0);
	assert_int_equal(got, 0);
	assert_int_equal(
	    ztm_store_cert_revoke(s, "7f02", ZTM_REASON_KEY_COMPROMISE, now, "t", NULL, &e), 0);
	ztm_store_close(s2);
	assert_int_equal(ztm_store_open(t.url, &s2, &e), 0); /* a restart */
	assert_int_equal(
	    ztm_store_crl_claim(s2, "device", 1, "w2", now + 2, 60, 43200, &got, &number, &seq, &e),
	    0);
	assert_int_equal(got, 1);
	assert_int_equal(number, 2);
	assert_true(seq >= 2);
	/* Half the validity gone: due again even without changes. */
	crl.number = 2;
	crl.this_update = now + 2;
	assert_int_equal(ztm_store_crl_put(s2, &crl, "w2", &e), 0);
	assert_int_equal(ztm_store_crl_claim(s, "device", 1, "w1", now + 86400 - 43200, 60, 43200,
	                                     &got, &number, &seq, &e),
	                 0);
	assert_int_equal(got, 1);
	assert_int_equal(number, 3);
	/* The number never goes back, even by hand. */
	assert_int_not_equal(raw_exec(&t, "UPDATE crls SET number = 1 WHERE shard = 1"), SQLITE_OK);
	assert_int_equal(ztm_store_crl_get(s, "device", 1, 1, &crl, &e), 0);
	assert_int_equal(crl.number, 2);
	assert_int_equal(crl.der.len, 2);
	assert_int_equal(ztm_store_crl_get(s, "device", 0, 0, &crl, &e), -1);
	assert_int_equal(e.code, ZTM_E_NOTFOUND);
	ztm_crl_row_free(&crl);
	ztm_store_close(s);
	ztm_store_close(s2);
	tdir_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writer),
	    cmocka_unit_test(test_writer_refusals),
	    cmocka_unit_test(test_verify_with_shard),
	    cmocka_unit_test(test_store_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
