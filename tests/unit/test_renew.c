/* test_renew.c - the re-enrollment decision (renew.c), one row per rule and
 * per boundary of the renewal window and the grace period: a good renewal,
 * then one thing changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "renew.h"

#define DAY    ((int64_t)86400)
#define EXPIRY ((int64_t)2000000000) /* the presented certificate's notAfter */

/* Window 30 days, no grace; now 10 days before the end. */
static struct renew_input good(void)
{
	struct renew_input in;

	memset(&in, 0, sizeof(in));
	in.now = EXPIRY - 10 * DAY;
	in.state = ZTM_DEVICE_ACTIVE;
	in.is_current = 1;
	in.not_after = EXPIRY;
	in.window_days = 30;
	in.grace_days = 0;
	in.key_kind_ok = 1;
	return in;
}

static void test_rules(void **state)
{
	static const struct {
		const char *what;
		int64_t now_from_expiry; /* now = EXPIRY + this */
		enum ztm_device_state st;
		int current, revoked, retry, key_ok;
		int64_t window, grace;
		enum renew_code want;
	} rows[] = {
	    {"in the window", -10 * DAY, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 30, 0, RENEW_OK},
	    {"provisioned", -10 * DAY, ZTM_DEVICE_PROVISIONED, 1, 0, 0, 1, 30, 0, RENEW_OK},
	    {"first second of the window", -30 * DAY, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 30, 0,
	     RENEW_OK},
	    {"a second before the window", -30 * DAY - 1, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 30, 0,
	     RENEW_TOO_EARLY},
	    {"window 0: only at the end", -1, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 0, 0, RENEW_TOO_EARLY},
	    {"window 0, last second", 0, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 0, 0, RENEW_OK},
	    {"window longer than the lifetime", -400 * DAY, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 36500, 0,
	     RENEW_OK},
	    {"expired, no grace", 1, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 30, 0, RENEW_EXPIRED},
	    {"expired, inside the grace", 5 * DAY, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 30, 7, RENEW_OK},
	    {"expired, last second of grace", 7 * DAY, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 30, 7,
	     RENEW_OK},
	    {"expired, past the grace", 7 * DAY + 1, ZTM_DEVICE_ACTIVE, 1, 0, 0, 1, 30, 7,
	     RENEW_EXPIRED},
	    {"not current", -10 * DAY, ZTM_DEVICE_ACTIVE, 0, 0, 0, 1, 30, 0, RENEW_NOT_CURRENT},
	    {"revoked certificate", -10 * DAY, ZTM_DEVICE_ACTIVE, 1, 1, 0, 1, 30, 0,
	     RENEW_CERT_REVOKED},
	    {"key type", -10 * DAY, ZTM_DEVICE_ACTIVE, 1, 0, 0, 0, 30, 0, RENEW_KEY_TYPE},
	    {"retry of a re-key (old certificate superseded and revoked)", -10 * DAY,
	     ZTM_DEVICE_ACTIVE, 0, 1, 1, 1, 30, 0, RENEW_OK},
	    {"retry after expiry without grace", 30 * DAY, ZTM_DEVICE_ACTIVE, 0, 0, 1, 1, 30, 0,
	     RENEW_OK},
	    {"retired", -10 * DAY, ZTM_DEVICE_RETIRED, 1, 1, 0, 1, 30, 0, RENEW_RETIRED},
	    {"retired, even a retry", -10 * DAY, ZTM_DEVICE_RETIRED, 0, 1, 1, 1, 30, 0,
	     RENEW_RETIRED},
	    {"revoked device", -10 * DAY, ZTM_DEVICE_REVOKED, 1, 1, 0, 1, 30, 0, RENEW_REVOKED},
	    {"quarantined", -10 * DAY, ZTM_DEVICE_QUARANTINED, 1, 0, 0, 1, 30, 0,
	     RENEW_QUARANTINED},
	    {"suspended", -10 * DAY, ZTM_DEVICE_SUSPENDED, 1, 0, 0, 1, 30, 0, RENEW_SUSPENDED},
	    {"manufactured", -10 * DAY, ZTM_DEVICE_MANUFACTURED, 1, 0, 0, 1, 30, 0,
	     RENEW_NOT_PROVISIONED},
	    {"retired beats too early", -400 * DAY, ZTM_DEVICE_RETIRED, 1, 0, 0, 1, 30, 0,
	     RENEW_RETIRED},
	    {"not current beats expired", 400 * DAY, ZTM_DEVICE_ACTIVE, 0, 0, 0, 1, 30, 0,
	     RENEW_NOT_CURRENT},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct renew_input in = good();
		enum renew_code got;

		in.now = EXPIRY + rows[i].now_from_expiry;
		in.state = rows[i].st;
		in.is_current = rows[i].current;
		in.cert_revoked = rows[i].revoked;
		in.retry = rows[i].retry;
		in.key_kind_ok = rows[i].key_ok;
		in.window_days = rows[i].window;
		in.grace_days = rows[i].grace;
		got = renew_decide(&in);
		if (got != rows[i].want)
			fail_msg("%s: want %s, got %s", rows[i].what, renew_name(rows[i].want),
			         renew_name(got));
	}
}

/* A re-key of a key_storage = tpm product: only with its attestation, and
 * after every other rule (a retry was attested by its first attempt). */
static void test_attest(void **state)
{
	static const struct {
		const char *what;
		int required, retry, key_ok;
		enum ztm_device_state st;
		enum vet_code attest;
		enum renew_code want;
	} rows[] = {
	    {"not required (same key, or key_storage any)", 0, 0, 1, ZTM_DEVICE_ACTIVE,
	     VET_ATTEST_MISSING, RENEW_OK},
	    {"attested", 1, 0, 1, ZTM_DEVICE_ACTIVE, VET_OK, RENEW_OK},
	    {"no evidence", 1, 0, 1, ZTM_DEVICE_ACTIVE, VET_ATTEST_MISSING, RENEW_ATTEST},
	    {"another TPM", 1, 0, 1, ZTM_DEVICE_ACTIVE, VET_ATTEST_OTHER_EK, RENEW_ATTEST},
	    {"a software key", 1, 0, 1, ZTM_DEVICE_PROVISIONED, VET_ATTEST_KEY, RENEW_ATTEST},
	    {"a retry", 1, 1, 1, ZTM_DEVICE_ACTIVE, VET_ATTEST_REPLAY, RENEW_OK},
	    {"key type first", 1, 0, 0, ZTM_DEVICE_ACTIVE, VET_ATTEST_MISSING, RENEW_KEY_TYPE},
	    {"retired first", 1, 0, 1, ZTM_DEVICE_RETIRED, VET_ATTEST_MISSING, RENEW_RETIRED},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct renew_input in = good();
		enum renew_code got;

		in.attest_required = rows[i].required;
		in.retry = rows[i].retry;
		in.key_kind_ok = rows[i].key_ok;
		in.state = rows[i].st;
		in.attest = rows[i].attest;
		got = renew_decide(&in);
		if (got != rows[i].want)
			fail_msg("%s: want %s, got %s", rows[i].what, renew_name(rows[i].want),
			         renew_name(got));
	}
	/* Without a known check (est_device_renew.c uses the check's own). */
	assert_true(renew_alerts(RENEW_ATTEST));
}

static void test_names(void **state)
{
	int a, b;

	(void)state;
	for (a = 0; a < RENEW_COUNT; a++) {
		assert_non_null(renew_name((enum renew_code)a));
		assert_true(strlen(renew_text((enum renew_code)a)) > 0);
		for (b = a + 1; b < RENEW_COUNT; b++)
			assert_string_not_equal(renew_name((enum renew_code)a),
			                        renew_name((enum renew_code)b));
	}
	assert_string_equal(renew_name(RENEW_COUNT), "unknown");
	assert_true(renew_alerts(RENEW_RETIRED));
	assert_false(renew_alerts(RENEW_TOO_EARLY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_attest),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
