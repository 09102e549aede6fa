/* store_impl.h - what a store backend provides. The public calls in
 * ztm/store.h dispatch through these; a backend implements each one. */
#ifndef ZTM_STORE_IMPL_H
#define ZTM_STORE_IMPL_H

#include "ztm/store.h"

struct ztm_store_ops {
	const char *scheme; /* "sqlite" */
	int (*open)(const char *rest, struct ztm_store **out, struct ztm_error *err);
	void (*close)(struct ztm_store *s);
	int (*schema_version)(struct ztm_store *s, int *out, struct ztm_error *err);
	int (*begin)(struct ztm_store *s, struct ztm_error *err);
	/* Optional: the next begin()'s transaction may commit without waiting
	 * for the disk (ztm_store_run_batch_nosync). NULL: every commit is
	 * durable. */
	void (*nosync_next)(struct ztm_store *s);
	int (*commit)(struct ztm_store *s, struct ztm_error *err);
	void (*rollback)(struct ztm_store *s);
	int (*savepoint)(struct ztm_store *s, struct ztm_error *err);
	int (*release)(struct ztm_store *s, struct ztm_error *err);
	void (*rollback_to)(struct ztm_store *s);
	/* Optional: on = 1 (inside a transaction, before replayable jobs):
	 * writes may be sent without waiting for their answers, each assumed
	 * to succeed and change one row. on = 0: wait for every answer;
	 * returns 0 if all were as assumed, 1 if not (or a job failed
	 * meanwhile: the caller rolls the transaction back and runs the jobs
	 * again without it), -1 on a failure of its own or when the store went
	 * away (err, ZTM_E_UNAVAILABLE: nothing committed, the jobs fail and
	 * are not run again on a new session). NULL: calls
	 * always wait (run_batch runs jobs in order). */
	int (*pipeline)(struct ztm_store *s, int on, struct ztm_error *err);
	/* Optional: 1 if the last statement that failed since the last
	 * savepoint() lost to another transaction (PostgreSQL: a deadlock,
	 * 40P01, or a serialization failure, 40001) and the same work, run
	 * again, may well succeed; else 0. NULL: never (SQLite has one
	 * writer: it waits, it does not lose). */
	int (*retryable)(struct ztm_store *s);
	/* Optional: ztm_store_sync_barrier. NULL: a commit is durable once
	 * visible to a reader, nothing to do. */
	int (*sync_barrier)(struct ztm_store *s, struct ztm_error *err);
	/* Optional: ztm_store_checkpoint and ztm_store_checkpoint_elsewhere.
	 * NULL: the backend has no write-ahead log of its own to copy back
	 * (PostgreSQL checkpoints itself). */
	int (*checkpoint)(struct ztm_store *s, struct ztm_checkpoint_stat *st,
	                  struct ztm_error *err);
	void (*checkpoint_elsewhere)(struct ztm_store *s);

	int (*cert_reserve)(struct ztm_store *s, struct ztm_cert_row *row, struct ztm_error *err);
	int (*cert_issue)(struct ztm_store *s, const char *serial, const uint8_t *der, size_t len,
	                  struct ztm_error *err);
	int (*cert_get)(struct ztm_store *s, const char *serial, struct ztm_cert_row *out,
	                struct ztm_error *err);
	int (*cert_by_idem)(struct ztm_store *s, const char *idem_key, struct ztm_cert_row *out,
	                    struct ztm_error *err);
	int (*cert_recover)(struct ztm_store *s, int64_t before, int64_t *n, struct ztm_error *err);
	int (*cert_abandon)(struct ztm_store *s, const char *serial, struct ztm_error *err);
	int (*cert_count)(struct ztm_store *s, enum ztm_cert_state state, int64_t *n,
	                  struct ztm_error *err);
	int (*cert_each)(struct ztm_store *s, enum ztm_cert_state state,
	                 int (*fn)(const struct ztm_cert_row *row, void *arg), void *arg,
	                 struct ztm_error *err);
	int (*cert_revoke)(struct ztm_store *s, const char *serial, enum ztm_reason reason,
	                   int64_t when, const char *actor, int *changed, struct ztm_error *err);
	int (*owner_revoke)(struct ztm_store *s, const char *kind, int64_t id,
	                    enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
	                    struct ztm_error *err);
	int (*cert_resume)(struct ztm_store *s, const char *serial, const char *actor,
	                   struct ztm_error *err);
	int (*cert_status)(struct ztm_store *s, const char *ca, const char *serial,
	                   struct ztm_cert_status_row *out, struct ztm_error *err);
	int (*revocation_seq)(struct ztm_store *s, int64_t *seq, struct ztm_error *err);
	int (*revocation_changes)(struct ztm_store *s, int64_t since, int64_t limit,
	                          int (*fn)(const struct ztm_revocation_event *ev, void *arg),
	                          void *arg, struct ztm_error *err);
	int (*revocations_each)(struct ztm_store *s, const char *ca, int64_t crl_shard,
	                        int (*fn)(const struct ztm_revocation *rev, void *arg), void *arg,
	                        struct ztm_error *err);

	int (*device_revoke)(struct ztm_store *s, const char *serial, enum ztm_reason reason,
	                     int64_t when, const char *actor, int64_t *n, struct ztm_error *err);
	int (*device_suspend)(struct ztm_store *s, const char *serial, int64_t when,
	                      const char *actor, struct ztm_error *err);
	int (*device_resume)(struct ztm_store *s, const char *serial, const char *actor,
	                     struct ztm_error *err);
	int (*mass_request)(struct ztm_store *s, struct ztm_mass_row *row, struct ztm_error *err);
	int (*mass_get)(struct ztm_store *s, int64_t id, struct ztm_mass_row *out,
	                struct ztm_error *err);
	int (*mass_decide)(struct ztm_store *s, int64_t id, int approve, const char *who,
	                   int64_t when, struct ztm_mass_row *out, struct ztm_error *err);
	int (*crl_shards)(struct ztm_store *s, const char *ca, int (*fn)(int64_t shard, void *arg),
	                  void *arg, struct ztm_error *err);
	int (*crl_get)(struct ztm_store *s, const char *ca, int64_t shard, int want_der,
	               struct ztm_crl_row *out, struct ztm_error *err);
	int (*crl_claim)(struct ztm_store *s, const char *ca, int64_t shard, const char *holder,
	                 int64_t now, int64_t lease, int64_t refresh, int *got, int64_t *number,
	                 int64_t *seq, struct ztm_error *err);
	int (*crl_put)(struct ztm_store *s, const struct ztm_crl_row *row, const char *holder,
	               struct ztm_error *err);

	int (*factory_add)(struct ztm_store *s, const char *name, int64_t *id,
	                   struct ztm_error *err);
	int (*factory_get)(struct ztm_store *s, const char *name, int64_t *id,
	                   struct ztm_error *err);
	int (*station_add)(struct ztm_store *s, int64_t factory_id, const char *name, int64_t *id,
	                   struct ztm_error *err);
	int (*station_get)(struct ztm_store *s, int64_t id, struct ztm_station_row *out,
	                   struct ztm_error *err);
	int (*station_find)(struct ztm_store *s, const char *factory, const char *name,
	                    struct ztm_station_row *out, struct ztm_error *err);
	int (*station_set_cert)(struct ztm_store *s, int64_t id, const char *serial,
	                        struct ztm_error *err);
	int (*station_revoke)(struct ztm_store *s, int64_t id, int64_t when, enum ztm_reason reason,
	                      const char *actor, struct ztm_error *err);
	int (*operator_add)(struct ztm_store *s, const char *name, enum ztm_role role, int64_t *id,
	                    struct ztm_error *err);
	int (*operator_get)(struct ztm_store *s, int64_t id, struct ztm_operator_row *out,
	                    struct ztm_error *err);
	int (*operator_set_cert)(struct ztm_store *s, int64_t id, const char *serial,
	                         struct ztm_error *err);
	int (*principal_by_cert)(struct ztm_store *s, const char *ca, const char *serial,
	                         struct ztm_principal *out, struct ztm_error *err);

	int (*code_add)(struct ztm_store *s, const uint8_t hash[32], enum ztm_code_kind kind,
	                int64_t subject_id, int64_t expires_at, struct ztm_error *err);
	int (*code_claim)(struct ztm_store *s, const uint8_t hash[32], const char *spki,
	                  int64_t now, struct ztm_code_row *out, struct ztm_error *err);
	int (*code_bind)(struct ztm_store *s, const uint8_t hash[32], const char *serial,
	                 struct ztm_error *err);

	int (*audit)(struct ztm_store *s, const char *actor, const char *action, const char *object,
	             const char *outcome, const char *detail, struct ztm_error *err);
	int (*audit_count)(struct ztm_store *s, int64_t *n, struct ztm_error *err);

	int (*product_add)(struct ztm_store *s, const struct ztm_product_row *row, int64_t *id,
	                   struct ztm_error *err);
	int (*product_get)(struct ztm_store *s, const char *name, struct ztm_product_row *out,
	                   struct ztm_error *err);
	int (*order_add)(struct ztm_store *s, const struct ztm_order_row *row, int64_t *id,
	                 struct ztm_error *err);
	int (*order_get)(struct ztm_store *s, const char *name, struct ztm_order_row *out,
	                 struct ztm_error *err);
	int (*order_get_id)(struct ztm_store *s, int64_t id, struct ztm_order_row *out,
	                    struct ztm_error *err);
	int (*order_close)(struct ztm_store *s, const char *name, int64_t when,
	                   struct ztm_error *err);
	int (*order_take_record_slots)(struct ztm_store *s, int64_t order_id, int64_t n,
	                               int64_t now, struct ztm_error *err);
	int (*order_take_registration)(struct ztm_store *s, int64_t order_id, int64_t now,
	                               struct ztm_error *err);
	int (*batch_add)(struct ztm_store *s, int64_t station_id, const char *hash,
	                 int64_t n_records, int64_t *id, struct ztm_error *err);
	int (*record_add)(struct ztm_store *s, const struct ztm_record_row *row, int64_t *id,
	                  int *repeat, struct ztm_error *err);
	int (*record_by_spki)(struct ztm_store *s, const char *spki, struct ztm_record_row *out,
	                      struct ztm_error *err);
	int (*device_add)(struct ztm_store *s, const struct ztm_device_row *row, int64_t *id,
	                  struct ztm_error *err);
	int (*device_get)(struct ztm_store *s, const char *serial, struct ztm_device_row *out,
	                  struct ztm_error *err);
	int (*device_by_cert)(struct ztm_store *s, const char *cert_serial,
	                      struct ztm_device_row *out, int *cert_revoked, struct ztm_error *err);
	int (*device_count)(struct ztm_store *s, enum ztm_device_state state, int64_t *n,
	                    struct ztm_error *err);
	int (*device_set_state)(struct ztm_store *s, const char *serial,
	                        enum ztm_device_state state, const char *cert_serial,
	                        const char *key_spki, struct ztm_error *err);
	int (*firmware_approve)(struct ztm_store *s, int64_t product_id, const char *sha256,
	                        struct ztm_error *err);
	int (*firmware_approved)(struct ztm_store *s, int64_t product_id, const char *sha256,
	                         int *yes, struct ztm_error *err);
	int (*fw_signer_add)(struct ztm_store *s, struct ztm_fw_signer_row *row,
	                     struct ztm_error *err);
	int (*fw_signer_get)(struct ztm_store *s, int64_t id, struct ztm_fw_signer_row *out,
	                     struct ztm_error *err);
	int (*fw_signer_active)(struct ztm_store *s, int64_t product_id, int channel,
	                        struct ztm_fw_signer_row *out, struct ztm_error *err);
	int (*fw_signer_each)(struct ztm_store *s, int64_t product_id,
	                      int (*fn)(const struct ztm_fw_signer_row *row, void *arg), void *arg,
	                      struct ztm_error *err);
	int (*fw_signer_retire)(struct ztm_store *s, int64_t id, int64_t when,
	                        struct ztm_error *err);
	int (*fw_svn_floor)(struct ztm_store *s, int64_t product_id, int64_t *floor,
	                    struct ztm_error *err);
	int (*fw_release_add)(struct ztm_store *s, struct ztm_fw_release_row *row,
	                      struct ztm_error *err);
	int (*fw_release_get)(struct ztm_store *s, int64_t id, struct ztm_fw_release_row *out,
	                      struct ztm_error *err);
	int (*fw_release_blobs)(struct ztm_store *s, int64_t id, struct ztm_buf *cms,
	                        struct ztm_buf *manifest, struct ztm_error *err);
	int (*fw_release_sign)(struct ztm_store *s, int64_t id, int64_t signer_id,
	                       const char *approver, int64_t when, const uint8_t *cms,
	                       size_t cms_len, const uint8_t *manifest, size_t manifest_len,
	                       struct ztm_error *err);
	int (*fw_release_revoke)(struct ztm_store *s, int64_t id, const char *who,
	                         const char *reason, int64_t when, struct ztm_error *err);
	int (*fw_release_each)(struct ztm_store *s, const struct ztm_fw_filter *f,
	                       int (*fn)(const struct ztm_fw_release_row *row, void *arg),
	                       void *arg, struct ztm_error *err);
	int (*alert)(struct ztm_store *s, const char *kind, const char *serial, const char *detail,
	             struct ztm_error *err);
	int (*alert_count)(struct ztm_store *s, const char *kind, int64_t *n,
	                   struct ztm_error *err);

	int (*owner_add)(struct ztm_store *s, const char *name, const uint8_t *der, size_t len,
	                 int64_t *id, struct ztm_error *err);
	int (*owner_get)(struct ztm_store *s, const char *name, struct ztm_owner_row *out,
	                 struct ztm_error *err);
	int (*owner_get_id)(struct ztm_store *s, int64_t id, struct ztm_owner_row *out,
	                    struct ztm_error *err);
	int (*owner_each)(struct ztm_store *s,
	                  int (*fn)(const struct ztm_owner_row *row, void *arg), void *arg,
	                  struct ztm_error *err);
	int (*owner_operator_add)(struct ztm_store *s, const char *name, int64_t owner_id,
	                          int64_t *id, struct ztm_error *err);
	int (*device_set_owner)(struct ztm_store *s, const char *serial, int64_t owner_id,
	                        struct ztm_error *err);
	int (*device_each)(struct ztm_store *s, int64_t owner_id, int64_t after_id, int64_t limit,
	                   int (*fn)(const struct ztm_device_row *row, void *arg), void *arg,
	                   struct ztm_error *err);
	int (*voucher_add)(struct ztm_store *s, int64_t device_id, int64_t owner_id,
	                   int64_t created_on, int64_t expires_on, const char *sha256,
	                   const char *actor, struct ztm_error *err);
	int (*voucher_count)(struct ztm_store *s, int64_t device_id, int64_t *n,
	                     struct ztm_error *err);
	int (*product_set_policy)(struct ztm_store *s, const char *name, int64_t lifetime_days,
	                          int64_t renew_window_days, int64_t renew_grace_days,
	                          int key_storage, struct ztm_error *err);
	int (*product_get_id)(struct ztm_store *s, int64_t id, struct ztm_product_row *out,
	                      struct ztm_error *err);
	int (*device_replace)(struct ztm_store *s, const char *serial, int64_t record_id,
	                      const char *key_spki, struct ztm_error *err);
	int (*owner_revoke_except)(struct ztm_store *s, const char *kind, int64_t id,
	                           const char *keep, enum ztm_reason reason, int64_t when,
	                           const char *actor, int64_t *n, struct ztm_error *err);
	int (*attest_challenge_add)(struct ztm_store *s, const struct ztm_attest_challenge_row *row,
	                            struct ztm_error *err);
	int (*attest_challenge_get)(struct ztm_store *s, const uint8_t cred_hash[32],
	                            struct ztm_attest_challenge_row *out, struct ztm_error *err);
	int (*attest_challenge_use)(struct ztm_store *s, const uint8_t cred_hash[32], int64_t now,
	                            struct ztm_error *err);
	int (*device_set_ek)(struct ztm_store *s, const char *serial, const char *ek_cert_sha256,
	                     struct ztm_error *err);
};

/* Every backend's store struct starts with this header. */
struct ztm_store {
	const struct ztm_store_ops *ops;
	/* ztm_store_on_revocation (store_notice.c): rev_logged is set when the
	 * open transaction appended to the revocation log. */
	int rev_logged;
	void (*on_revocation)(void *arg);
	void *on_revocation_arg;
};

/* The argument checks every backend applies (store_check.c): a certificate
 * serial (1 to 20 octets, lower-case hex), a text of at most max - 1 bytes
 * (required: not empty), a certificate row to reserve (ZTM_E_USAGE). */
int store_check_serial(const char *serial, struct ztm_error *err);
int store_check_text(const char *what, const char *v, size_t max, int required,
                     struct ztm_error *err);
/* 1 if v is 64 lower-case hex digits (v not NULL). */
int store_is_sha256_hex(const char *v);
/* A SHA-256 in hex ("" too when optional), named what in the error. */
int store_check_sha256(const char *what, const char *v, int optional, struct ztm_error *err);
int store_check_dev_serial(const char *v, struct ztm_error *err);
int store_check_cert_row(const struct ztm_cert_row *row, struct ztm_error *err);
/* A record row to add: device serial, hashes, texts, a bootstrap
 * certificate of 1..STORE_BOOTSTRAP_DER_MAX bytes (the schema's CHECK), a
 * known test result and key origin (ZTM_E_USAGE). */
#define STORE_BOOTSTRAP_DER_MAX 16384
int store_check_record_row(const struct ztm_record_row *r, struct ztm_error *err);

/* Backends call these (store_notice.c): a change was appended to the
 * revocation log in the open transaction; that transaction ended (committed,
 * rolled back or with an unknown outcome: the notice goes out all the same,
 * a spare one only costs the listener a read). */
void store_rev_logged(struct ztm_store *s);
void store_txn_ended(struct ztm_store *s);

/* 0 if every op but the optional ones (nosync_next, pipeline, retryable, sync_barrier,
 * checkpoint, checkpoint_elsewhere) is set; else
 * -1 with ZTM_E_CONFIG naming the missing ones (store_ops.c). ztm_store_open checks the backend
 * with it before opening. */
int ztm_store_ops_check(const struct ztm_store_ops *ops, struct ztm_error *err);

extern const struct ztm_store_ops ztm_store_sqlite_ops;
extern const struct ztm_store_ops ztm_store_pg_ops;
extern const struct ztm_store_ops ztm_store_postgres_ops;

#endif
