/* store_attest.c - the store's attestation calls, and the checks of their
 * arguments that hold for every backend: a hash is 64 lower-case hex
 * digits, an AK name is a TPM name, a challenge expires after it was made.
 * The backends (store_sqlite_attest.c, store_pg_attest.c) only store. */
#include "store_impl.h"

int ztm_store_attest_challenge_add(struct ztm_store *s, const struct ztm_attest_challenge_row *row,
                                   struct ztm_error *err)
{
	if (row == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "attestation challenge missing");
	if (!store_is_sha256_hex(row->key_spki) || !store_is_sha256_hex(row->ek_cert_sha256))
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "attestation challenge: key or EK certificate hash is not hex "
		                     "SHA-256");
	if (row->ak_name_len < 34 || row->ak_name_len > ZTM_ATTEST_NAME_MAX)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "attestation challenge: AK name of %zu bytes",
		                     row->ak_name_len);
	if (row->created_at <= 0 || row->expires_at <= row->created_at)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "attestation challenge: expiry not after creation");
	return s->ops->attest_challenge_add(s, row, err);
}

int ztm_store_attest_challenge_get(struct ztm_store *s, const uint8_t cred_hash[32],
                                   struct ztm_attest_challenge_row *out, struct ztm_error *err)
{
	return s->ops->attest_challenge_get(s, cred_hash, out, err);
}

int ztm_store_attest_challenge_use(struct ztm_store *s, const uint8_t cred_hash[32], int64_t now,
                                   struct ztm_error *err)
{
	return s->ops->attest_challenge_use(s, cred_hash, now, err);
}

int ztm_store_device_set_ek(struct ztm_store *s, const char *serial, const char *ek_cert_sha256,
                            struct ztm_error *err)
{
	if (serial == NULL || serial[0] == '\0')
		return ztm_error_set(err, ZTM_E_USAGE, "device serial missing");
	if (ek_cert_sha256 == NULL || !store_is_sha256_hex(ek_cert_sha256))
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "device %s: EK certificate hash is not hex SHA-256", serial);
	return s->ops->device_set_ek(s, serial, ek_cert_sha256, err);
}
