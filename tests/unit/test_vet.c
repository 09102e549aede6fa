/* test_vet.c - every vetting rule, one row each: a good registration, then
 * one field broken per row, with the code and quarantine it must give; and
 * rule order where two rules meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vet.h"
#include "ztm/tpm.h"
#include "ztm/profile.h"

#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct vet_input good(void)
{
	struct vet_input in;

	memset(&in, 0, sizeof(in));
	in.boot_serial = "SN0001";
	in.boot_spki = KEY_A;
	in.csr_spki = KEY_A;
	in.asked_product = "widget";
	in.csr_key_kind_bit = ZTM_KK_BIT(ZTM_KK_P256);
	in.have_record = 1;
	in.rec_serial = "SN0001";
	in.rec_product = "widget";
	in.rec_test_passed = 1;
	in.rec_fw_approved = 1;
	in.rec_recorded_at = 1000;
	in.rec_received_at = 1500;
	in.product_key_kinds = ZTM_KK_BIT(ZTM_KK_P256) | ZTM_KK_BIT(ZTM_KK_P384);
	in.product_requires_fw = 1;
	in.product_allows_injected = 0;
	in.device_state = VET_DEV_NONE;
	in.order_open = 1;
	in.order_quota_left = 1;
	return in;
}

enum breakage {
	B_NONE,
	B_UNRECORDED,
	B_CSR_OTHER_KEY,
	B_SERIAL,
	B_NO_BOOT_SERIAL,
	B_CSR_SERIAL,
	B_CSR_SERIAL_SAME,
	B_PRODUCT,
	B_NO_PRODUCT_ASKED,
	B_TEST,
	B_FW,
	B_FW_NOT_REQUIRED,
	B_KEY_KIND,
	B_INJECTED,
	B_INJECTED_ALLOWED,
	B_STATION_REVOKED_BEFORE,
	B_STATION_REVOKED_AT,
	B_STATION_REVOKED_AFTER,
	B_STATION_REVOKED_BACKDATED,
	B_CLONE,
	B_RETRY,
	B_REPLAY,
	B_SUSPENDED_SAME_KEY,
	B_QUARANTINED,
	B_REVOKED,
	B_RETIRED,
	B_ORDER_CLOSED,
	B_QUOTA,
	B_CLONE_BEATS_FAILED_TEST,
	B_UNRECORDED_BEATS_ALL,
	/* Replacement (docs/lifecycle.md): the device holds KEY_B, registered
	 * at 1000; the request's KEY_A was recorded as its replacement. */
	B_REPLACE_ACTIVE,
	B_REPLACE_PROVISIONED,
	B_REPLACE_SAME_SECOND,
	B_REPLACE_STALE,
	B_REPLACE_NOT_A_REPLACEMENT,
	B_REPLACE_SUSPENDED,
	B_REPLACE_QUARANTINED,
	B_REPLACE_RETIRED,
	B_REPLACE_REVOKED,
	B_REPLACE_UNREGISTERED,
	B_REPLACE_NO_QUOTA,
	B_REPLACE_ORDER_CLOSED,
	B_REPLACE_TEST_FAILED,
	/* key_storage = tpm (docs/attestation.md). */
	B_TPM_ATTESTED,
	B_TPM_NO_EVIDENCE,
	B_TPM_REFUSED,
	B_TPM_NOT_REQUIRED,
	B_TPM_AFTER_KEY_TYPE,
	B_TPM_RETRY,
};

static void replace(struct vet_input *in, enum breakage b);

static void apply(struct vet_input *in, enum breakage b)
{
	switch (b) {
	case B_NONE:
		break;
	case B_UNRECORDED:
		in->have_record = 0;
		break;
	case B_CSR_OTHER_KEY:
		in->csr_spki = KEY_B;
		break;
	case B_SERIAL:
		in->boot_serial = "SN0002";
		break;
	case B_NO_BOOT_SERIAL:
		in->boot_serial = NULL;
		break;
	case B_CSR_SERIAL:
		in->csr_serial = "SN-OTHER";
		break;
	case B_CSR_SERIAL_SAME:
		in->csr_serial = in->rec_serial;
		break;
	case B_PRODUCT:
		in->asked_product = "gadget";
		break;
	case B_NO_PRODUCT_ASKED:
		in->asked_product = NULL;
		break;
	case B_TEST:
		in->rec_test_passed = 0;
		break;
	case B_FW:
		in->rec_fw_approved = 0;
		break;
	case B_FW_NOT_REQUIRED:
		in->rec_fw_approved = 0;
		in->product_requires_fw = 0;
		break;
	case B_KEY_KIND:
		in->csr_key_kind_bit = ZTM_KK_BIT(ZTM_KK_ED25519);
		break;
	case B_INJECTED:
		in->rec_injected = 1;
		break;
	case B_INJECTED_ALLOWED:
		in->rec_injected = 1;
		in->product_allows_injected = 1;
		break;
	case B_STATION_REVOKED_BEFORE:
		in->station_revoked_at = 900; /* revoked, then it recorded */
		break;
	case B_STATION_REVOKED_AT:
		in->station_revoked_at = 1000; /* the very second it recorded: voided */
		break;
	case B_STATION_REVOKED_AFTER:
		in->station_revoked_at = 2000; /* recorded and received before it */
		break;
	case B_STATION_REVOKED_BACKDATED:
		in->station_revoked_at = 1200; /* claims 1000, but arrived at 1500 */
		break;
	case B_CLONE:
		in->device_state = VET_DEV_PROVISIONED;
		in->device_spki = KEY_B;
		break;
	case B_RETRY:
		in->device_state = VET_DEV_PROVISIONED;
		in->device_spki = KEY_A;
		in->order_quota_left = 0; /* a retry takes no new quota */
		break;
	case B_REPLAY:
		in->device_state = VET_DEV_ACTIVE;
		in->device_spki = KEY_A;
		break;
	case B_SUSPENDED_SAME_KEY:
		in->device_state = VET_DEV_SUSPENDED;
		in->device_spki = KEY_A;
		break;
	case B_QUARANTINED:
		in->device_state = VET_DEV_QUARANTINED;
		in->device_spki = KEY_A;
		break;
	case B_REVOKED:
		in->device_state = VET_DEV_REVOKED;
		break;
	case B_RETIRED:
		in->device_state = VET_DEV_RETIRED;
		break;
	case B_ORDER_CLOSED:
		in->order_open = 0;
		break;
	case B_QUOTA:
		in->order_quota_left = 0;
		break;
	case B_CLONE_BEATS_FAILED_TEST:
		in->device_state = VET_DEV_ACTIVE;
		in->device_spki = KEY_B;
		in->rec_test_passed = 0;
		break;
	case B_UNRECORDED_BEATS_ALL:
		in->have_record = 0;
		in->csr_spki = KEY_B;
		in->order_quota_left = 0;
		break;
	case B_TPM_ATTESTED:
		in->product_requires_tpm = 1;
		in->attested = 1;
		break;
	case B_TPM_NO_EVIDENCE: /* a software key: nothing to attest */
		in->product_requires_tpm = 1;
		break;
	case B_TPM_REFUSED:
		in->product_requires_tpm = 1;
		in->attest_refusal = VET_ATTEST_REPLAY;
		break;
	case B_TPM_NOT_REQUIRED: /* evidence refused, but not asked for */
		in->attest_refusal = VET_ATTEST_SIGNATURE;
		break;
	case B_TPM_AFTER_KEY_TYPE:
		in->product_requires_tpm = 1;
		in->csr_key_kind_bit = ZTM_KK_BIT(ZTM_KK_ED25519);
		break;
	case B_TPM_RETRY: /* a retry of a provisioned device needs no evidence */
		in->product_requires_tpm = 1;
		in->device_state = VET_DEV_PROVISIONED;
		in->device_spki = KEY_A;
		break;
	default:
		replace(in, b);
		break;
	}
}

static void replace(struct vet_input *in, enum breakage b)
{
	in->rec_replacement = 1;
	in->device_state = VET_DEV_ACTIVE;
	in->device_spki = KEY_B;
	in->device_registered_at = 1000; /* the record was received at 1500 */
	switch (b) {
	case B_REPLACE_PROVISIONED:
		in->device_state = VET_DEV_PROVISIONED;
		break;
	case B_REPLACE_SAME_SECOND:
		in->device_registered_at = in->rec_received_at;
		break;
	case B_REPLACE_STALE:
		in->device_registered_at = in->rec_received_at + 1;
		break;
	case B_REPLACE_NOT_A_REPLACEMENT:
		in->rec_replacement = 0;
		break;
	case B_REPLACE_SUSPENDED:
		in->device_state = VET_DEV_SUSPENDED;
		break;
	case B_REPLACE_QUARANTINED:
		in->device_state = VET_DEV_QUARANTINED;
		break;
	case B_REPLACE_RETIRED:
		in->device_state = VET_DEV_RETIRED;
		break;
	case B_REPLACE_REVOKED:
		in->device_state = VET_DEV_REVOKED;
		break;
	case B_REPLACE_UNREGISTERED:
		in->device_state = VET_DEV_NONE;
		in->device_spki = NULL;
		break;
	case B_REPLACE_NO_QUOTA:
		in->order_quota_left = 0;
		break;
	case B_REPLACE_ORDER_CLOSED:
		in->order_open = 0;
		break;
	case B_REPLACE_TEST_FAILED:
		in->rec_test_passed = 0;
		break;
	default:
		break;
	}
}

static void test_rules(void **state)
{
	static const struct {
		enum breakage b;
		enum vet_code want;
		int quarantine;
	} rows[] = {
	    {B_NONE, VET_OK, 0},
	    {B_UNRECORDED, VET_UNRECORDED, 0},
	    {B_CSR_OTHER_KEY, VET_KEY_MISMATCH, 0},
	    {B_SERIAL, VET_SERIAL_MISMATCH, 0},
	    {B_NO_BOOT_SERIAL, VET_SERIAL_MISMATCH, 0},
	    {B_CSR_SERIAL, VET_SERIAL_MISMATCH, 0},
	    {B_CSR_SERIAL_SAME, VET_OK, 0},
	    {B_PRODUCT, VET_PRODUCT_MISMATCH, 0},
	    {B_NO_PRODUCT_ASKED, VET_OK, 0},
	    {B_TEST, VET_TEST_FAILED, 0},
	    {B_FW, VET_FW_NOT_APPROVED, 0},
	    {B_FW_NOT_REQUIRED, VET_OK, 0},
	    {B_KEY_KIND, VET_KEY_TYPE, 0},
	    {B_INJECTED, VET_INJECTED_FORBIDDEN, 0},
	    {B_INJECTED_ALLOWED, VET_OK, 0},
	    {B_STATION_REVOKED_BEFORE, VET_STATION_REVOKED, 0},
	    {B_STATION_REVOKED_AT, VET_STATION_REVOKED, 0},
	    {B_STATION_REVOKED_AFTER, VET_OK, 0},
	    {B_STATION_REVOKED_BACKDATED, VET_STATION_REVOKED, 0},
	    {B_CLONE, VET_CLONE, 1},
	    {B_RETRY, VET_OK, 0},
	    {B_REPLAY, VET_REPLAY, 0},
	    {B_SUSPENDED_SAME_KEY, VET_REPLAY, 0},
	    {B_QUARANTINED, VET_QUARANTINED, 0},
	    {B_REVOKED, VET_ENDED, 0},
	    {B_RETIRED, VET_RETIRED, 0},
	    {B_ORDER_CLOSED, VET_ORDER_CLOSED, 0},
	    {B_QUOTA, VET_QUOTA, 0},
	    {B_CLONE_BEATS_FAILED_TEST, VET_CLONE, 1},
	    {B_UNRECORDED_BEATS_ALL, VET_UNRECORDED, 0},
	    {B_REPLACE_ACTIVE, VET_OK, 0},
	    {B_REPLACE_PROVISIONED, VET_OK, 0},
	    {B_REPLACE_SAME_SECOND, VET_OK, 0},
	    {B_REPLACE_STALE, VET_CLONE, 1},
	    {B_REPLACE_NOT_A_REPLACEMENT, VET_CLONE, 1},
	    {B_REPLACE_SUSPENDED, VET_NOT_REPLACEABLE, 0},
	    {B_REPLACE_QUARANTINED, VET_QUARANTINED, 0},
	    {B_REPLACE_RETIRED, VET_RETIRED, 0},
	    {B_REPLACE_REVOKED, VET_ENDED, 0},
	    {B_REPLACE_UNREGISTERED, VET_NOT_REPLACEABLE, 0},
	    {B_REPLACE_NO_QUOTA, VET_OK, 0},
	    {B_REPLACE_ORDER_CLOSED, VET_ORDER_CLOSED, 0},
	    {B_REPLACE_TEST_FAILED, VET_TEST_FAILED, 0},
	    {B_TPM_ATTESTED, VET_OK, 0},
	    {B_TPM_NO_EVIDENCE, VET_ATTEST_MISSING, 0},
	    {B_TPM_REFUSED, VET_ATTEST_REPLAY, 0},
	    {B_TPM_NOT_REQUIRED, VET_OK, 0},
	    {B_TPM_AFTER_KEY_TYPE, VET_KEY_TYPE, 0},
	    {B_TPM_RETRY, VET_OK, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct vet_input in = good();
		int q = -1;
		enum vet_code got;

		apply(&in, rows[i].b);
		got = vet_decide(&in, &q);
		if (got != rows[i].want || q != rows[i].quarantine)
			fail_msg("row %zu: want %s/q%d, got %s/q%d", i, vet_name(rows[i].want),
			         rows[i].quarantine, vet_name(got), q);
	}
}

static void test_names_unique_and_alerts(void **state)
{
	int a, b;

	for (a = 0; a < VET_COUNT; a++) {
		assert_true(strlen(vet_name((enum vet_code)a)) > 0);
		assert_true(strlen(vet_text((enum vet_code)a)) > 0);
		for (b = a + 1; b < VET_COUNT; b++)
			assert_string_not_equal(vet_name((enum vet_code)a),
			                        vet_name((enum vet_code)b));
	}
	/* Attacks raise alerts; plain production problems do not. */
	assert_true(vet_alerts(VET_CLONE));
	assert_true(vet_alerts(VET_UNRECORDED));
	assert_true(vet_alerts(VET_QUOTA));
	assert_true(vet_alerts(VET_REPLAY));
	assert_false(vet_alerts(VET_OK));
	assert_false(vet_alerts(VET_TEST_FAILED));
	assert_string_equal(vet_name(VET_COUNT), "unknown");
	/* Every refusal of the TPM verifier has its own vetting code. */
	for (a = ZTM_TPM_OK + 1; a < ZTM_TPM_VERDICT_COUNT; a++)
		assert_string_equal(vet_name(vet_from_tpm(a)), ztm_tpm_verdict_name(a));
	assert_true(vet_alerts(VET_ATTEST_REPLAY));
	assert_false(vet_alerts(VET_ATTEST_MISSING));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_names_unique_and_alerts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
