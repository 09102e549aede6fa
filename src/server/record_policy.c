/* record_policy.c - the product's policy for one record at ingest.
 * Default-fail: each rule refuses; only falling through all of them
 * accepts. */
#include "record_policy.h"

int record_policy_check(const struct ztm_record *rec, size_t idx, const struct ztm_product_row *p,
                        struct ztm_error *err)
{
	/* Issue 3 point 6: "products can forbid it". A key that was ever
	 * outside the device is a key the factory could have kept. */
	if (rec->key_origin != ZTM_KEY_ORIGIN_DEVICE && !p->allow_injected)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "record %zu (serial %s): product %s forbids injected keys",
		                     idx, rec->serial, p->name);
	/* The record format requires a hash today (batch_record.c); the rule
	 * stands on its own so that no other way in (a format that makes the
	 * hash optional, another ingest path) skips it. */
	if (p->require_fw_hash && rec->fw_sha256[0] == '\0')
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "record %zu (serial %s): product %s requires the firmware "
		                     "SHA-256",
		                     idx, rec->serial, p->name);
	return 0;
}
