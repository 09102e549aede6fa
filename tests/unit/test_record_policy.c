/* test_record_policy.c - the product's policy at record ingest, one row per
 * case: key origin against allow_injected, firmware hash against
 * require_fw_hash, and the refusal's code and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "record_policy.h"
#include "ztm/str.h"

#define FW "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void test_rules(void **state)
{
	static const struct {
		enum ztm_key_origin origin;
		const char *fw;
		int allow_injected, require_fw;
		const char *want; /* NULL: accepted; else a part of the refusal */
	} rows[] = {
	    {ZTM_KEY_ORIGIN_DEVICE, FW, 0, 1, NULL},
	    {ZTM_KEY_ORIGIN_DEVICE, FW, 0, 0, NULL},
	    {ZTM_KEY_ORIGIN_DEVICE, FW, 1, 1, NULL},
	    {ZTM_KEY_ORIGIN_INJECTED, FW, 1, 0, NULL},
	    {ZTM_KEY_ORIGIN_INJECTED, FW, 0, 0, "product widget forbids injected keys"},
	    {ZTM_KEY_ORIGIN_INJECTED, FW, 0, 1, "product widget forbids injected keys"},
	    {(enum ztm_key_origin)7, FW, 0, 0, "forbids injected keys"}, /* unknown: refused */
	    {ZTM_KEY_ORIGIN_DEVICE, "", 0, 0, NULL},
	    {ZTM_KEY_ORIGIN_DEVICE, "", 0, 1, "product widget requires the firmware SHA-256"},
	    {ZTM_KEY_ORIGIN_INJECTED, "", 1, 1, "requires the firmware SHA-256"},
	    {ZTM_KEY_ORIGIN_INJECTED, "", 0, 1, "forbids injected keys"}, /* first rule first */
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_record rec;
		struct ztm_product_row p;
		struct ztm_error err;
		int rc;

		memset(&rec, 0, sizeof(rec));
		memset(&p, 0, sizeof(p));
		ztm_error_clear(&err);
		ztm_strlcpy(rec.serial, "SN-7", sizeof(rec.serial));
		ztm_strlcpy(rec.fw_sha256, rows[i].fw, sizeof(rec.fw_sha256));
		rec.key_origin = rows[i].origin;
		ztm_strlcpy(p.name, "widget", sizeof(p.name));
		p.allow_injected = rows[i].allow_injected;
		p.require_fw_hash = rows[i].require_fw;
		rc = record_policy_check(&rec, 41, &p, &err);
		if (rows[i].want == NULL) {
			if (rc != 0)
				fail_msg("row %zu: refused: %s", i, ztm_error_msg(&err));
			continue;
		}
		if (rc != -1 || err.code != ZTM_E_POLICY)
			fail_msg("row %zu: want a policy refusal, got rc %d (%s)", i, rc,
			         ztm_err_name(err.code));
		if (strstr(err.msg, rows[i].want) == NULL ||
		    strstr(err.msg, "record 41 (serial SN-7)") == NULL)
			fail_msg("row %zu: message '%s'", i, err.msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
