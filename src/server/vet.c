/* vet.c - the vetting rules, in order. Default-fail: each rule returns a
 * refusal; only falling through every rule gives VET_OK. */
#include "vet.h"

#include <string.h>

#include "ztm/tpm.h"

static const struct {
	const char *name;
	int alert;
	const char *text;
} vet_rows[] = {
#define VET_X_ROW(c, n, a, t) {n, a, t},
    VET_TABLE(VET_X_ROW)
#undef VET_X_ROW
};

const char *vet_name(enum vet_code c)
{
	return (unsigned)c < VET_COUNT ? vet_rows[c].name : "unknown";
}

const char *vet_text(enum vet_code c)
{
	return (unsigned)c < VET_COUNT ? vet_rows[c].text : "unknown";
}

int vet_alerts(enum vet_code c)
{
	return (unsigned)c < VET_COUNT ? vet_rows[c].alert : 1;
}

static int same(const char *a, const char *b)
{
	return a != NULL && b != NULL && a[0] != '\0' && strcmp(a, b) == 0;
}

enum vet_code vet_decide(const struct vet_input *in, int *quarantine)
{
	*quarantine = 0;
	/* Counterfeit: nobody on an authorized line recorded this key. */
	if (!in->have_record)
		return VET_UNRECORDED;
	/* Proof that the CSR comes from the recorded device. */
	if (!same(in->csr_spki, in->boot_spki))
		return VET_KEY_MISMATCH;
	if (!same(in->boot_serial, in->rec_serial) ||
	    (in->csr_serial != NULL && !same(in->csr_serial, in->rec_serial)))
		return VET_SERIAL_MISMATCH;
	if (in->asked_product != NULL && !same(in->asked_product, in->rec_product))
		return VET_PRODUCT_MISMATCH;
	/* A record made, or received, after its station's revocation time
	 * counts for nothing: the received time (our clock) also voids records
	 * a stolen station key backdated and uploaded before the revoke. */
	if (in->station_revoked_at != 0 && (in->rec_recorded_at >= in->station_revoked_at ||
	                                    in->rec_received_at >= in->station_revoked_at))
		return VET_STATION_REVOKED;
	/* The serial's history comes before the record's details: a clone is a
	 * clone whatever its record says. */
	switch (in->device_state) {
	case VET_DEV_NONE:
		/* A replacement rebuilds a registered device, nothing else. */
		if (in->rec_replacement)
			return VET_NOT_REPLACEABLE;
		break;
	case VET_DEV_QUARANTINED:
		return VET_QUARANTINED;
	case VET_DEV_REVOKED:
		return VET_ENDED;
	case VET_DEV_RETIRED:
		return VET_RETIRED;
	case VET_DEV_PROVISIONED:
	case VET_DEV_ACTIVE:
	case VET_DEV_SUSPENDED:
		if (!same(in->device_spki, in->csr_spki)) {
			/* Another key for a known serial is a clone, unless a
			 * station recorded exactly this key as the device's
			 * replacement after its current key was registered (a
			 * repair). An older replacement record was for an
			 * earlier repair and proves nothing now. */
			if (!in->rec_replacement ||
			    in->rec_received_at < in->device_registered_at) {
				*quarantine = 1;
				return VET_CLONE;
			}
			/* A suspension waits for a person, repair or not. */
			if (in->device_state == VET_DEV_SUSPENDED)
				return VET_NOT_REPLACEABLE;
			break; /* vetted like a new device below, without quota */
		}
		if (in->device_state == VET_DEV_ACTIVE || in->device_state == VET_DEV_SUSPENDED)
			return VET_REPLAY;
		/* Provisioned with this very key: a retry (I3), not a clone. */
		return VET_OK;
	}
	if (!in->rec_test_passed)
		return VET_TEST_FAILED;
	if (in->rec_injected && !in->product_allows_injected)
		return VET_INJECTED_FORBIDDEN;
	if ((in->product_key_kinds & in->csr_key_kind_bit) == 0)
		return VET_KEY_TYPE;
	/* key_storage = tpm: default-fail, only a full attestation passes. */
	if (in->product_requires_tpm && !in->attested)
		return in->attest_refusal != VET_OK ? in->attest_refusal : VET_ATTEST_MISSING;
	if (in->product_requires_fw && !in->rec_fw_approved)
		return VET_FW_NOT_APPROVED;
	if (!in->order_open)
		return VET_ORDER_CLOSED;
	/* A replacement's device was counted when it first registered. */
	if (!in->rec_replacement && in->order_quota_left <= 0)
		return VET_QUOTA;
	return VET_OK;
}

enum vet_code vet_from_tpm(int v)
{
	switch ((enum ztm_tpm_verdict)v) {
	case ZTM_TPM_AK_UNSUITABLE:
		return VET_ATTEST_AK;
	case ZTM_TPM_BAD_SIGNATURE:
		return VET_ATTEST_SIGNATURE;
	case ZTM_TPM_QUALIFYING_DATA:
		return VET_ATTEST_QUALIFYING;
	case ZTM_TPM_NAME_MISMATCH:
		return VET_ATTEST_NAME;
	case ZTM_TPM_EXPORTABLE:
		return VET_ATTEST_EXPORTABLE;
	case ZTM_TPM_KEY_MISMATCH:
		return VET_ATTEST_KEY;
	case ZTM_TPM_OK: /* not a refusal: the caller sets attested */
	case ZTM_TPM_MALFORMED:
	case ZTM_TPM_VERDICT_COUNT:
		break;
	}
	return VET_ATTEST_MALFORMED;
}
