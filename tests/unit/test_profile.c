/* test_profile.c - the profile table says what docs/profiles.md says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ztm/profile.h"

static void test_table(void **state)
{
	static const struct {
		const char *name;
		int is_ca, pathlen;
		unsigned ku, eku;
		int64_t days;
		unsigned required;
	} rows[] = {
	    {"device", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CLIENT_AUTH, 365,
	     ZTM_ATTR_BIT(ZTM_ATTR_SERIAL)},
	    {"station", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CLIENT_AUTH, 365,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O)},
	    {"operator", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CLIENT_AUTH, 90,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN)},
	    {"ocsp", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_OCSP_SIGN, 30,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN)},
	    {"codesign", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CODE_SIGN, 3 * 365,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O)},
	    {"fw-production", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CODE_SIGN, 3 * 365,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O)},
	    {"fw-test", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CODE_SIGN, 3 * 365,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O)},
	    {"voucher", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_VOUCHER_SIGN, 2 * 365,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O)},
	    {"tls-server", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_SERVER_AUTH, 365,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN)},
	    {"root", 1, -1, ZTM_KU_KEY_CERT_SIGN | ZTM_KU_CRL_SIGN, 0, 20 * 365,
	     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O)},
	    {"issuing-ca", 1, 0, ZTM_KU_DIGITAL_SIGNATURE | ZTM_KU_KEY_CERT_SIGN | ZTM_KU_CRL_SIGN,
	     0, 10 * 365, ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O)},
	};
	size_t i, n = 0;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct ztm_profile *p = ztm_profile_get(rows[i].name);
		assert_non_null(p);
		assert_string_equal(p->name, rows[i].name);
		assert_int_equal(p->is_ca, rows[i].is_ca);
		assert_int_equal(p->pathlen, rows[i].pathlen);
		assert_int_equal(p->key_usage, rows[i].ku);
		assert_int_equal(p->eku, rows[i].eku);
		assert_int_equal(p->lifetime, rows[i].days * 86400);
		assert_true(p->max_lifetime >= p->lifetime);
		assert_int_equal(p->subject_required, rows[i].required);
		/* Leaves never sign certificates; CAs never carry an EKU. */
		if (!p->is_ca)
			assert_int_equal(p->key_usage & (ZTM_KU_KEY_CERT_SIGN | ZTM_KU_CRL_SIGN),
			                 0);
		else
			assert_int_equal(p->eku, 0);
		/* Every allowed key type may be a CA key (the ceremony offers all). */
		if (p->is_ca)
			assert_int_not_equal(p->key_kinds & ZTM_KK_BIT(ZTM_KK_ED25519), 0);
	}
	/* The firmware channel is a profile's, never a request's. */
	assert_int_equal(ztm_profile_get("fw-production")->policy, ZTM_POLICY_FW_PRODUCTION);
	assert_int_equal(ztm_profile_get("fw-test")->policy, ZTM_POLICY_FW_TEST);
	assert_int_equal(ztm_profile_get("codesign")->policy, ZTM_POLICY_NONE);
	while (ztm_profile_at(n) != NULL)
		n++;
	assert_int_equal(n, sizeof(rows) / sizeof(rows[0]));
	assert_null(ztm_profile_get("Device"));
	assert_null(ztm_profile_get(""));
	assert_null(ztm_profile_get(NULL));
	assert_string_equal(ztm_attr_name(ZTM_ATTR_SERIAL), "serialNumber");
	assert_string_equal(ztm_key_kind_name(ZTM_KK_P384), "P-384");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
