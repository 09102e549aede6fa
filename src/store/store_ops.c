/* store_ops.c - refuses a backend whose ops table is incomplete. A NULL
 * entry used to surface only as a crash when the call was first made (the
 * PostgreSQL backend before it had the firmware calls); now
 * ztm_store_open says which calls a backend lacks before opening anything.
 * The list below names every function pointer of struct ztm_store_ops; the
 * static assertion fails the build when a new one is added to the struct but
 * not here, so the check cannot silently fall behind. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "store_impl.h"

/* Every required op (all but nosync_next, pipeline, retryable, sync_barrier, checkpoint and
 * checkpoint_elsewhere, which may be NULL). */
#define ZTM_STORE_REQUIRED_OPS(X)                                                                  \
	X(open)                                                                                    \
	X(close)                                                                                   \
	X(schema_version)                                                                          \
	X(begin)                                                                                   \
	X(commit)                                                                                  \
	X(rollback)                                                                                \
	X(savepoint)                                                                               \
	X(release)                                                                                 \
	X(rollback_to)                                                                             \
	X(cert_reserve)                                                                            \
	X(cert_issue)                                                                              \
	X(cert_get)                                                                                \
	X(cert_by_idem)                                                                            \
	X(cert_recover)                                                                            \
	X(cert_abandon)                                                                            \
	X(cert_count)                                                                              \
	X(cert_each)                                                                               \
	X(cert_revoke)                                                                             \
	X(owner_revoke)                                                                            \
	X(cert_resume)                                                                             \
	X(cert_status)                                                                             \
	X(revocation_seq)                                                                          \
	X(revocation_changes)                                                                      \
	X(revocations_each)                                                                        \
	X(device_revoke)                                                                           \
	X(device_suspend)                                                                          \
	X(device_resume)                                                                           \
	X(mass_request)                                                                            \
	X(mass_get)                                                                                \
	X(mass_decide)                                                                             \
	X(crl_shards)                                                                              \
	X(crl_get)                                                                                 \
	X(crl_claim)                                                                               \
	X(crl_put)                                                                                 \
	X(factory_add)                                                                             \
	X(factory_get)                                                                             \
	X(station_add)                                                                             \
	X(station_get)                                                                             \
	X(station_find)                                                                            \
	X(station_set_cert)                                                                        \
	X(station_revoke)                                                                          \
	X(operator_add)                                                                            \
	X(operator_get)                                                                            \
	X(operator_set_cert)                                                                       \
	X(principal_by_cert)                                                                       \
	X(code_add)                                                                                \
	X(code_claim)                                                                              \
	X(code_bind)                                                                               \
	X(audit)                                                                                   \
	X(audit_count)                                                                             \
	X(product_add)                                                                             \
	X(product_get)                                                                             \
	X(order_add)                                                                               \
	X(order_get)                                                                               \
	X(order_get_id)                                                                            \
	X(order_close)                                                                             \
	X(order_take_record_slots)                                                                 \
	X(order_take_registration)                                                                 \
	X(batch_add)                                                                               \
	X(record_add)                                                                              \
	X(record_by_spki)                                                                          \
	X(device_add)                                                                              \
	X(device_get)                                                                              \
	X(device_by_cert)                                                                          \
	X(device_count)                                                                            \
	X(device_set_state)                                                                        \
	X(firmware_approve)                                                                        \
	X(firmware_approved)                                                                       \
	X(fw_signer_add)                                                                           \
	X(fw_signer_get)                                                                           \
	X(fw_signer_active)                                                                        \
	X(fw_signer_each)                                                                          \
	X(fw_signer_retire)                                                                        \
	X(fw_svn_floor)                                                                            \
	X(fw_release_add)                                                                          \
	X(fw_release_get)                                                                          \
	X(fw_release_blobs)                                                                        \
	X(fw_release_sign)                                                                         \
	X(fw_release_revoke)                                                                       \
	X(fw_release_each)                                                                         \
	X(alert)                                                                                   \
	X(alert_count)                                                                             \
	X(owner_add)                                                                               \
	X(owner_get)                                                                               \
	X(owner_get_id)                                                                            \
	X(owner_each)                                                                              \
	X(owner_operator_add)                                                                      \
	X(device_set_owner)                                                                        \
	X(device_each)                                                                             \
	X(voucher_add)                                                                             \
	X(voucher_count)                                                                           \
	X(product_set_policy)                                                                      \
	X(product_get_id)                                                                          \
	X(device_replace)                                                                          \
	X(owner_revoke_except)                                                                     \
	X(attest_challenge_add)                                                                    \
	X(attest_challenge_get)                                                                    \
	X(attest_challenge_use)                                                                    \
	X(device_set_ek)

/* The optional ops, only counted for the size check: nosync_next, pipeline,
 * retryable, sync_barrier, checkpoint, checkpoint_elsewhere. */
#define ZTM_STORE_OPTIONAL_OPS 6

struct op_slot {
	size_t off;
	const char *name;
};

static const struct op_slot required_ops[] = {
#define ZTM_X_OP(n) {offsetof(struct ztm_store_ops, n), #n},
    ZTM_STORE_REQUIRED_OPS(ZTM_X_OP)
#undef ZTM_X_OP
};

#define N_REQUIRED (sizeof(required_ops) / sizeof(required_ops[0]))

/* The struct is the scheme name and function pointers only: if its size is
 * not that of the listed ones, an op is missing from the list above. */
_Static_assert(sizeof(struct ztm_store_ops) ==
                   sizeof(const char *) +
                       (N_REQUIRED + ZTM_STORE_OPTIONAL_OPS) * sizeof(void (*)(void)),
               "struct ztm_store_ops has an op that ZTM_STORE_REQUIRED_OPS does not list");

int ztm_store_ops_check(const struct ztm_store_ops *ops, struct ztm_error *err)
{
	char missing[200];
	size_t i, used = 0, n = 0;

	missing[0] = '\0';
	for (i = 0; i < N_REQUIRED; i++) {
		void (*fp)(void);

		/* Read the slot as a generic function pointer: every op is one. */
		memcpy(&fp, (const char *)ops + required_ops[i].off, sizeof(fp));
		if (fp != NULL)
			continue;
		if (n++ > 0 && used < sizeof(missing))
			used += (size_t)snprintf(missing + used, sizeof(missing) - used, ", ");
		if (used < sizeof(missing))
			used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s",
			                         required_ops[i].name);
	}
	if (n == 0)
		return 0;
	return ztm_error_set(err, ZTM_E_CONFIG,
	                     "store backend '%s' is incomplete: %zu call%s missing (%s%s)",
	                     ops->scheme != NULL ? ops->scheme : "?", n, n == 1 ? "" : "s", missing,
	                     used >= sizeof(missing) ? "..." : "");
}
