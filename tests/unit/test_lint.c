/* test_lint.c - key policy and pre-issuance lint. Every lint rule has a row
 * that breaks exactly one field of a good to-be-signed certificate and
 * checks that the rule fires by name and that nothing is signed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x509_fixture.h"
#include "ztm/issue.h"
#include "ztm/key.h"
#include "ztm/lint.h"
#include "ztm/serial.h"

static void test_key_policy(void **state)
{
	static const struct {
		const char *key;
		int ok;
		const char *msg;
	} rows[] = {
	    {"P-256", 1, NULL},
	    {"P-384", 1, NULL},
	    {"ED25519", 1, NULL},
	    {"RSA2048", 1, NULL},
	    {"RSA1024", 0, "RSA 1024 bits < 2048"},
	    {"RSA2048e3", 0, "RSA public exponent is not 65537"},
	    {"P-256-explicit", 0, "explicit curve parameters"},
	    {"P-384-explicit", 0, "explicit curve parameters"},
	    {"P-192", 0, "EC curve prime192v1 not allowed"},
	    {"secp256k1", 0, "EC curve secp256k1 not allowed"},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		EVP_PKEY *k = fx_key(rows[i].key);
		struct ztm_error e;
		int rc;

		memset(&e, 0, sizeof(e));
		rc = ztm_key_check_allowed(k, &e);
		if ((rc == 0) != rows[i].ok ||
		    (!rows[i].ok &&
		     (e.code != ZTM_E_WEAKKEY || strstr(e.msg, rows[i].msg) == NULL)))
			fail_msg("%s: rc=%d %s", rows[i].key, rc, e.msg);
		EVP_PKEY_free(k);
	}
}

static void test_spki_malformed(void **state)
{
	static const struct {
		const char *name;
		const char *der;
		size_t len;
	} rows[] = {
	    {"empty", "", 0},
	    {"not a sequence", "\x04\x00", 2},
	    {"unknown algorithm", "\x30\x0a\x30\x05\x06\x03\x2a\x03\x04\x03\x01\x00", 12},
	    {"ed25519 short key", "\x30\x0a\x30\x05\x06\x03\x2b\x65\x70\x03\x01\x00", 12},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error e;
		if (ztm_spki_check((const uint8_t *)rows[i].der, rows[i].len, NULL, &e) == 0)
			fail_msg("%s accepted", rows[i].name);
		assert_true(e.code == ZTM_E_PARSE || e.code == ZTM_E_WEAKKEY);
	}
}

/* Shared state for the lint rows: a CA with URLs and two subject keys. */
struct fx {
	EVP_PKEY *ca_key, *leaf_key;
	X509 *ca_cert;
	struct ztm_ca *ca;
	struct ztm_buf spki, spki_explicit, spki_rsa1024, spki_ed;
};

static const struct ztm_name_attr subj_ok[] = {{ZTM_ATTR_SERIAL, "SN0001"},
                                               {ZTM_ATTR_CN, "dev-0001"}};
static const struct ztm_name_attr subj_cn_only[] = {{ZTM_ATTR_CN, "dev-0001"}};
static const struct ztm_name_attr subj_bad_c[] = {{ZTM_ATTR_SERIAL, "SN1"}, {ZTM_ATTR_C, "DEU"}};
static const struct ztm_name_attr subj_bad_sn[] = {{ZTM_ATTR_SERIAL, "SN*1"}};
static const struct ztm_san san_ok[] = {{ZTM_SAN_DNS, "dev-0001.example", NULL}};
static const struct ztm_san san_bad_dns[] = {{ZTM_SAN_DNS, "bad..example", NULL}};
static const struct ztm_san san_bad_uri[] = {{ZTM_SAN_URI, "no-scheme", NULL}};
static const struct ztm_san san_bad_hw[] = {{ZTM_SAN_HWMODULE, "HW1", "7.1"}};
static struct ztm_profile device_san_required;

static const struct ztm_ca_urls urls = {"http://ca.example/ca.crt", "http://ca.example/ocsp",
                                        "http://ca.example/ca.crl"};

static void make_fx(struct fx *f)
{
	EVP_PKEY *k;

	memset(f, 0, sizeof(*f));
	f->ca_key = fx_key("P-256");
	f->ca_cert = fx_root(f->ca_key, "lint CA", 1, 400);
	f->ca = fx_ca(f->ca_key, f->ca_cert, &urls);
	f->leaf_key = fx_key("P-256");
	ztm_buf_init(&f->spki, 0);
	ztm_buf_init(&f->spki_explicit, 0);
	ztm_buf_init(&f->spki_rsa1024, 0);
	ztm_buf_init(&f->spki_ed, 0);
	fx_spki(f->leaf_key, &f->spki);
	k = fx_key("P-256-explicit");
	fx_spki(k, &f->spki_explicit);
	EVP_PKEY_free(k);
	k = fx_key("RSA1024");
	fx_spki(k, &f->spki_rsa1024);
	EVP_PKEY_free(k);
	k = fx_key("ED25519");
	fx_spki(k, &f->spki_ed);
	EVP_PKEY_free(k);
	device_san_required = *ztm_profile_get("device");
	device_san_required.san_required = 1;
}

static void free_fx(struct fx *f)
{
	ztm_ca_free(f->ca);
	X509_free(f->ca_cert);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->leaf_key);
	ztm_buf_free(&f->spki);
	ztm_buf_free(&f->spki_explicit);
	ztm_buf_free(&f->spki_rsa1024);
	ztm_buf_free(&f->spki_ed);
}

enum brk {
	OK,
	SERIAL_SHORT,
	SERIAL_NEG,
	SERIAL_ZERO,
	LIFETIME_MAX,
	PLUS_ONE_SECOND,
	PAST_CA,
	BEFORE_CA,
	LEAF_CA_TRUE,
	LEAF_PATHLEN,
	KU_EXTRA,
	EKU_SERVER,
	EKU_NONE,
	NOCHECK,
	EXPLICIT,
	RSA1024,
	ED_IN_CA,
	SUBJ_EMPTY,
	SUBJ_MISSING,
	SUBJ_C,
	SUBJ_PRINTABLE,
	SAN_MISSING,
	SAN_DNS,
	SAN_URI,
	SAN_HW,
	SAN_NOT_ALLOWED,
	SKI_NONE,
	AKI_NONE,
	AKI_WRONG,
	AIA_NONE,
	CDP_NONE,
};

static void test_lint_rules(void **state)
{
	static const struct {
		enum brk b;
		const char *rule;
	} rows[] = {
	    {OK, NULL},
	    {SERIAL_SHORT, "lint serial:"},
	    {SERIAL_NEG, "lint serial:"},
	    {SERIAL_ZERO, "lint serial:"},
	    {LIFETIME_MAX, "lint validity.max:"},
	    {PLUS_ONE_SECOND, "lint validity.lifetime:"},
	    {PAST_CA, "lint validity.ca:"},
	    {BEFORE_CA, "lint validity.ca:"},
	    {LEAF_CA_TRUE, "lint basic-constraints:"},
	    {LEAF_PATHLEN, "lint basic-constraints:"},
	    {KU_EXTRA, "lint key-usage:"},
	    {EKU_SERVER, "lint eku:"},
	    {EKU_NONE, "lint eku:"},
	    {NOCHECK, "lint ocsp-nocheck:"},
	    {EXPLICIT, "lint ec-params:"},
	    {RSA1024, "lint key: RSA 1024 bits < 2048"},
	    {ED_IN_CA, "lint key.profile:"},
	    {SUBJ_EMPTY, "lint subject: subject is empty"},
	    {SUBJ_MISSING, "lint subject: profile device requires serialNumber"},
	    {SUBJ_C, "lint subject: C length 3"},
	    {SUBJ_PRINTABLE, "lint subject: serialNumber is not a PrintableString"},
	    {SAN_MISSING, "lint san: profile device requires"},
	    {SAN_DNS, "lint san: SAN 0: not a DNS name"},
	    {SAN_URI, "lint san: SAN 0: not a URI"},
	    {SAN_HW, "lint san: SAN 0: hardwareModuleName"},
	    {SAN_NOT_ALLOWED, "lint san: SAN 0: type not allowed"},
	    {SKI_NONE, "lint ski:"},
	    {AKI_NONE, "lint aki:"},
	    {AKI_WRONG, "lint aki:"},
	    {AIA_NONE, "lint aia:"},
	    {CDP_NONE, "lint cdp:"},
	};
	struct fx f;
	size_t i;

	make_fx(&f);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_issue_req req;
		struct ztm_tbs t;
		struct ztm_error e;
		struct ztm_buf out;
		int rc;

		memset(&req, 0, sizeof(req));
		/* tls-server is the profile that keeps Ed25519 out (uneven client
		 * support for Ed25519 server certificates). */
		req.profile = rows[i].b == ED_IN_CA ? "tls-server" : "device";
		req.subject = subj_ok;
		req.n_subject = 2;
		req.san = san_ok;
		req.n_san = 1;
		req.spki = ztm_buf_slice(&f.spki);
		assert_int_equal(ztm_serial_new(req.serial, &e), 0);
		if (rows[i].b == ED_IN_CA) {
			req.spki = ztm_buf_slice(&f.spki_ed);
			req.subject = subj_cn_only;
			req.n_subject = 1;
			req.san = san_ok;
			req.n_san = 1;
			req.lifetime = 30 * 86400; /* inside the 400-day CA */
		}
		assert_int_equal(ztm_issue_prepare(f.ca, &req, &t, &e), 0);
		switch (rows[i].b) {
		case OK:
		case ED_IN_CA:
			break;
		case SERIAL_SHORT:
			t.serial_len = 16;
			break;
		case SERIAL_NEG:
			t.serial[0] = 0x80;
			break;
		case SERIAL_ZERO:
			t.serial[0] = 0x00;
			break;
		case LIFETIME_MAX:
			t.lifetime = t.profile->max_lifetime + 1;
			t.not_after = t.not_before + t.lifetime - 1;
			break;
		case PLUS_ONE_SECOND:
			t.not_after += 1;
			break;
		case PAST_CA:
			t.not_before = ztm_ca_not_after(f.ca) - 86400;
			t.not_after = t.not_before + t.lifetime - 1;
			break;
		case BEFORE_CA:
			t.not_before = ztm_ca_not_before(f.ca) - 1;
			t.lifetime = 86400;
			t.not_after = t.not_before + t.lifetime - 1;
			break;
		case LEAF_CA_TRUE:
			t.ca = 1;
			break;
		case LEAF_PATHLEN:
			t.pathlen = 0;
			break;
		case KU_EXTRA:
			t.key_usage |= ZTM_KU_KEY_CERT_SIGN;
			break;
		case EKU_SERVER:
			t.eku |= ZTM_EKU_SERVER_AUTH;
			break;
		case EKU_NONE:
			t.eku = 0;
			break;
		case NOCHECK:
			t.ocsp_nocheck = 1;
			break;
		case EXPLICIT:
			t.spki = ztm_buf_slice(&f.spki_explicit);
			break;
		case RSA1024:
			t.spki = ztm_buf_slice(&f.spki_rsa1024);
			break;
		case SUBJ_EMPTY:
			t.n_subject = 0;
			break;
		case SUBJ_MISSING:
			t.subject = subj_cn_only;
			t.n_subject = 1;
			break;
		case SUBJ_C:
			t.subject = subj_bad_c;
			t.n_subject = 2;
			break;
		case SUBJ_PRINTABLE:
			t.subject = subj_bad_sn;
			t.n_subject = 1;
			break;
		case SAN_MISSING:
			t.profile = &device_san_required;
			t.n_san = 0;
			break;
		case SAN_DNS:
			t.san = san_bad_dns;
			break;
		case SAN_URI:
			t.san = san_bad_uri;
			break;
		case SAN_HW:
			t.san = san_bad_hw;
			break;
		case SAN_NOT_ALLOWED:
			t.profile = ztm_profile_get("ocsp");
			t.eku = t.profile->eku;
			t.ocsp_nocheck = 1;
			t.subject = subj_cn_only;
			t.n_subject = 1;
			t.lifetime = t.profile->lifetime;
			t.not_after = t.not_before + t.lifetime - 1;
			break;
		case SKI_NONE:
			t.ski_len = 0;
			break;
		case AKI_NONE:
			t.aki_len = 0;
			break;
		case AKI_WRONG:
			t.aki[0] ^= 1;
			break;
		case AIA_NONE:
			t.aia_ocsp = NULL;
			break;
		case CDP_NONE:
			t.cdp = NULL;
			break;
		}
		memset(&e, 0, sizeof(e));
		ztm_buf_init(&out, 0);
		rc = ztm_issue_tbs(f.ca, &t, &out, &e);
		if (rows[i].rule == NULL) {
			if (rc != 0)
				fail_msg("row %zu: good TBS refused: %s", i, e.msg);
			assert_true(out.len > 0);
		} else {
			if (rc == 0 || e.code != ZTM_E_LINT ||
			    strncmp(e.msg, rows[i].rule, strlen(rows[i].rule)) != 0)
				fail_msg("row %zu: want '%s', got rc=%d '%s'", i, rows[i].rule, rc,
				         e.msg);
			/* Nothing signed, nothing written. */
			assert_int_equal(out.len, 0);
			assert_int_equal(ztm_lint_tbs(&t, f.ca, &e), -1);
		}
		ztm_buf_free(&out);
	}
	free_fx(&f);
}

/* issuing-ca may carry the EKU its request chose, within the profile's
 * eku_request; anything outside, or an EKU on a root, is refused. */
static void test_lint_ca_eku(void **state)
{
	static const struct ztm_name_attr ca_subj[] = {{ZTM_ATTR_O, "Acme"},
	                                               {ZTM_ATTR_CN, "Acme CA"}};
	static const struct {
		unsigned req_eku, force_eku; /* force_eku: set on the tbs after prepare */
		const char *rule;
	} rows[] = {
	    {0, 0, NULL},
	    {ZTM_EKU_CLIENT_AUTH, 0, NULL},
	    {ZTM_EKU_SERVER_AUTH, 0, NULL},
	    {ZTM_EKU_OCSP_SIGN | ZTM_EKU_CODE_SIGN, 0, NULL},
	    {ZTM_EKU_ALL, 0, NULL},
	    {1u << 7, 0, "lint eku:"},
	    {0, ZTM_EKU_CLIENT_AUTH | (1u << 9), "lint eku:"},
	};
	struct fx f;
	size_t i;

	make_fx(&f);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_issue_req req;
		struct ztm_tbs t;
		struct ztm_error e;
		struct ztm_buf out;
		int rc;

		memset(&req, 0, sizeof(req));
		req.profile = "issuing-ca";
		req.subject = ca_subj;
		req.n_subject = 2;
		req.spki = ztm_buf_slice(&f.spki);
		req.lifetime = 30 * 86400; /* inside the 400-day CA */
		req.eku = rows[i].req_eku;
		assert_int_equal(ztm_serial_new(req.serial, &e), 0);
		assert_int_equal(ztm_issue_prepare(f.ca, &req, &t, &e), 0);
		if (rows[i].force_eku != 0)
			t.eku = rows[i].force_eku;
		ztm_buf_init(&out, 0);
		rc = ztm_issue_tbs(f.ca, &t, &out, &e);
		if (rows[i].rule == NULL) {
			if (rc != 0)
				fail_msg("row %zu: refused: %s", i, e.msg);
		} else if (rc == 0 || e.code != ZTM_E_LINT ||
		           strncmp(e.msg, rows[i].rule, strlen(rows[i].rule)) != 0) {
			fail_msg("row %zu: want '%s', got rc=%d '%s'", i, rows[i].rule, rc, e.msg);
		} else {
			assert_int_equal(out.len, 0);
		}
		ztm_buf_free(&out);
	}
	free_fx(&f);
}

enum root_brk {
	R_OK,
	R_AKI_SELF,
	R_AKI_OTHER,
	R_AIA,
	R_CDP,
	R_PATHLEN,
	R_EKU,
	R_KU,
	R_EXPLICIT,
	R_LIFETIME,
	R_PLUS_ONE,
	R_SERIAL,
	R_NO_O,
	R_SKI,
	R_LEAF_PROFILE,
	R_ISSUING_PROFILE,
};

/* ztm_lint_root: the same rules for the ceremony's self-signed root. */
static void test_lint_root(void **state)
{
	static const struct ztm_name_attr root_subj[] = {{ZTM_ATTR_O, "Acme"},
	                                                 {ZTM_ATTR_CN, "Acme Root CA"}};
	static const struct ztm_name_attr cn_only[] = {{ZTM_ATTR_CN, "Acme Root CA"}};
	static const struct {
		enum root_brk b;
		const char *rule;
	} rows[] = {
	    {R_OK, NULL},
	    {R_AKI_SELF, NULL},
	    {R_AKI_OTHER, "lint aki:"},
	    {R_AIA, "lint aia:"},
	    {R_CDP, "lint cdp:"},
	    {R_PATHLEN, "lint basic-constraints:"},
	    {R_EKU, "lint eku:"},
	    {R_KU, "lint key-usage:"},
	    {R_EXPLICIT, "lint ec-params:"},
	    {R_LIFETIME, "lint validity.max:"},
	    {R_PLUS_ONE, "lint validity.lifetime:"},
	    {R_SERIAL, "lint serial:"},
	    {R_NO_O, "lint subject: profile root requires O"},
	    {R_SKI, "lint ski:"},
	    {R_LEAF_PROFILE, "lint profile:"},
	    {R_ISSUING_PROFILE, "lint profile:"},
	};
	struct fx f;
	struct ztm_error e;
	size_t i;

	make_fx(&f);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct ztm_profile *p = ztm_profile_get("root");
		struct ztm_tbs t;
		int rc;

		memset(&t, 0, sizeof(t));
		t.profile = p;
		assert_int_equal(ztm_serial_new(t.serial, &e), 0);
		t.serial_len = ZTM_SERIAL_LEN;
		t.not_before = 1700000000;
		t.lifetime = p->lifetime;
		t.not_after = t.not_before + t.lifetime - 1;
		t.ca = 1;
		t.pathlen = -1;
		t.key_usage = p->key_usage;
		t.spki = ztm_buf_slice(&f.spki);
		t.subject = root_subj;
		t.n_subject = 2;
		memset(t.ski, 0x33, ZTM_KEYID_LEN);
		t.ski_len = ZTM_KEYID_LEN;
		switch (rows[i].b) {
		case R_OK:
			break;
		case R_AKI_SELF:
			memcpy(t.aki, t.ski, t.ski_len);
			t.aki_len = t.ski_len;
			break;
		case R_AKI_OTHER:
			memset(t.aki, 0x44, ZTM_KEYID_LEN);
			t.aki_len = ZTM_KEYID_LEN;
			break;
		case R_AIA:
			t.aia_ocsp = "http://ca.example/ocsp";
			break;
		case R_CDP:
			t.cdp = "http://ca.example/root.crl";
			break;
		case R_PATHLEN:
			t.pathlen = 1;
			break;
		case R_EKU:
			t.eku = ZTM_EKU_CLIENT_AUTH;
			break;
		case R_KU:
			t.key_usage |= ZTM_KU_DIGITAL_SIGNATURE;
			break;
		case R_EXPLICIT:
			t.spki = ztm_buf_slice(&f.spki_explicit);
			break;
		case R_LIFETIME:
			t.lifetime = p->max_lifetime + 1;
			t.not_after = t.not_before + t.lifetime - 1;
			break;
		case R_PLUS_ONE:
			t.not_after += 1;
			break;
		case R_SERIAL:
			t.serial[0] = 0x80;
			break;
		case R_NO_O:
			t.subject = cn_only;
			t.n_subject = 1;
			break;
		case R_SKI:
			t.ski_len = 0;
			break;
		case R_LEAF_PROFILE:
			t.profile = ztm_profile_get("device");
			break;
		case R_ISSUING_PROFILE:
			t.profile = ztm_profile_get("issuing-ca");
			t.pathlen = 0;
			break;
		}
		memset(&e, 0, sizeof(e));
		rc = ztm_lint_root(&t, &e);
		if (rows[i].rule == NULL) {
			if (rc != 0)
				fail_msg("row %zu: good root refused: %s", i, e.msg);
		} else if (rc == 0 || e.code != ZTM_E_LINT ||
		           strncmp(e.msg, rows[i].rule, strlen(rows[i].rule)) != 0) {
			fail_msg("row %zu: want '%s', got rc=%d '%s'", i, rows[i].rule, rc, e.msg);
		}
	}
	assert_int_equal(ztm_lint_root(NULL, &e), -1);
	assert_int_equal(e.code, ZTM_E_LINT);
	free_fx(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_policy), cmocka_unit_test(test_spki_malformed),
	    cmocka_unit_test(test_lint_rules), cmocka_unit_test(test_lint_ca_eku),
	    cmocka_unit_test(test_lint_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
