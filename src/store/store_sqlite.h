/* store_sqlite.h - internals shared by the files of the SQLite backend
 * (docs/store.md). Not a public header: only src/store/store_sqlite*.c and
 * migrations_sqlite.c include it. */
#ifndef ZTM_STORE_SQLITE_H
#define ZTM_STORE_SQLITE_H

#include <sqlite3.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>

#include "store_impl.h"

/* Every statement the backend runs has a slot in the per-connection cache:
 * it is prepared on first use and then reused (reset after each use), so the
 * hot path never parses SQL. */
enum sq_slot {
	SQ_BEGIN,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ROLLBACK_TO,
	SQ_SCHEMA_VERSION,
	SQ_CERT_INSERT,
	SQ_CERT_ISSUE,
	SQ_CERT_STATE,
	SQ_CERT_GET,
	SQ_CERT_BY_IDEM,
	SQ_CERT_RECOVER,
	SQ_CERT_ABANDON,
	SQ_CERT_COUNT,
	SQ_CERT_EACH,
	SQ_REV_CERT,
	SQ_REV_GET,
	SQ_REV_INSERT,
	SQ_REV_UPGRADE,
	SQ_REV_DELETE,
	SQ_REV_CERT_STATE,
	SQ_REV_CERT_RESUME,
	SQ_REV_LOG,
	SQ_REV_STATUS,
	SQ_REV_SEQ,
	SQ_REV_CHANGES,
	SQ_REV_EACH,
	SQ_REV_OWNER,
	SQ_MASS_BY_STATION,
	SQ_MASS_BY_ORDER,
	SQ_MASS_ADD,
	SQ_MASS_GET,
	SQ_MASS_DECIDE,
	SQ_CRL_SHARD_NEXT,
	SQ_CRL_GET,
	SQ_CRL_ENSURE,
	SQ_CRL_DUE,
	SQ_CRL_CLAIM,
	SQ_CRL_PUT,
	SQ_FACTORY_ADD,
	SQ_FACTORY_GET,
	SQ_STATION_ADD,
	SQ_STATION_GET,
	SQ_STATION_FIND,
	SQ_STATION_SET_CERT,
	SQ_STATION_STATE,
	SQ_STATION_REVOKE,
	SQ_OPERATOR_ADD,
	SQ_OPERATOR_GET,
	SQ_OPERATOR_SET_CERT,
	SQ_OPERATOR_STATE,
	SQ_PRINCIPAL,
	SQ_CODE_ADD,
	SQ_CODE_SUBJECT,
	SQ_CODE_CLAIM,
	SQ_CODE_GET,
	SQ_CODE_BIND,
	SQ_AUDIT_ADD,
	SQ_AUDIT_COUNT,
	SQ_PRODUCT_ADD,
	SQ_PRODUCT_GET,
	SQ_ORDER_ADD,
	SQ_ORDER_GET,
	SQ_ORDER_GET_ID,
	SQ_ORDER_CLOSE,
	SQ_ORDER_TAKE_RECORD,
	SQ_ORDER_TAKE_REG,
	SQ_BATCH_ADD,
	SQ_BATCH_BY_HASH,
	SQ_RECORD_ADD,
	SQ_RECORD_BY_SPKI,
	SQ_DEVICE_ADD,
	SQ_DEVICE_GET,
	SQ_DEVICE_BY_CERT,
	SQ_DEVICE_COUNT,
	SQ_DEVICE_SET_STATE,
	SQ_FW_SIGNER_ADD,
	SQ_FW_SIGNER_GET,
	SQ_FW_SIGNER_ACTIVE,
	SQ_FW_SIGNER_EACH,
	SQ_FW_SIGNER_RETIRE,
	SQ_FW_SVN_FLOOR,
	SQ_FW_RELEASE_ADD,
	SQ_FW_RELEASE_GET,
	SQ_FW_RELEASE_BLOBS,
	SQ_FW_RELEASE_SIGN,
	SQ_FW_RELEASE_REVOKE,
	SQ_FW_RELEASE_EACH,
	SQ_ATTEST_ADD,
	SQ_ATTEST_PURGE,
	SQ_ATTEST_GET,
	SQ_ATTEST_USE,
	SQ_DEVICE_SET_EK,
	SQ_FIRMWARE_APPROVE,
	SQ_FIRMWARE_APPROVED,
	SQ_ALERT_ADD,
	SQ_ALERT_COUNT,
	SQ_ALERT_COUNT_ALL,
	SQ_OWNER_ADD,
	SQ_OWNER_GET,
	SQ_OWNER_GET_ID,
	SQ_OWNER_EACH,
	SQ_OWNER_OPERATOR_ADD,
	SQ_DEVICE_SET_OWNER,
	SQ_DEVICE_EACH,
	SQ_VOUCHER_ADD,
	SQ_VOUCHER_COUNT,
	SQ_VOUCHER_COUNT_ALL,
	SQ_PRODUCT_SET_POLICY,
	SQ_DEVICE_REPLACE,
	SQ_PRODUCT_GET_ID,
	SQ_SLOT_COUNT
};

/* A statement and its cache slot; defined next to the code that uses it. */
struct sq_query {
	enum sq_slot slot;
	const char *sql;
};

struct sq_store {
	struct ztm_store base; /* must be first (store_impl.h) */
	sqlite3 *db;
	/* A transaction opened by begin() is in progress. Tracked by us, not
	 * read from sqlite3_get_autocommit(): SQLite rolls a transaction back
	 * by itself on some errors (SQLITE_FULL, SQLITE_IOERR, ...), and the
	 * difference between the two is how we notice and refuse to commit
	 * the jobs that ran after it. */
	int txn;
	/* synchronous=NORMAL is set on the connection (only for a transaction
	 * that asked: nosync_next), and asked for the next begin(). */
	int sync_normal, nosync_once;
	sqlite3_stmt *stmt[SQ_SLOT_COUNT];
	struct timespec busy_since; /* first SQLITE_BUSY of the current wait */
};

/* Busy timeout: how long a writer waits for another process's write
 * transaction before SQLITE_BUSY becomes a ZTM_E_STORE error. */
#define SQ_BUSY_TIMEOUT_MS 10000
/* Pause between two tries for the write lock while another process holds
 * it (store_sqlite.c, busy_wait). */
#define SQ_BUSY_PAUSE_US 100

static inline struct sq_store *sq_of(struct ztm_store *s)
{
	return (struct sq_store *)s;
}

/* The cached prepared statement of q (preparing it on first use), or NULL
 * with err set. Refuses a statement that is still running (a re-entrant call
 * from a cert_each callback). */
sqlite3_stmt *sq_stmt(struct sq_store *s, const struct sq_query *q, struct ztm_error *err);
/* Resets a cached statement and clears its bindings; NULL-safe. */
void sq_reset(sqlite3_stmt *st);
/* Binds parameters 1.. from a format: 't' const char * (text), 'i' int64_t,
 * 'b' const uint8_t * and size_t (blob), 'h' const uint8_t[32] (blob),
 * 'x' const char * of 64 lower-case hex digits or "" (a blob of the 32
 * bytes they spell, or of none: how records keep their hashes).
 * Returns an SQLite result code (SQLITE_MISUSE for bad 'x' text). */
int sq_bind(sqlite3_stmt *st, const char *fmt, ...);
/* Turns an SQLite failure into a ztm error: "<what>: <sqlite message>".
 * UNIQUE and PRIMARY KEY violations are ZTM_E_EXISTS, FOREIGN KEY ones
 * ZTM_E_NOTFOUND, CHECK and NOT NULL ones ZTM_E_USAGE, trigger refusals
 * ZTM_E_CONFLICT; everything else (BUSY past the timeout, I/O, corruption)
 * is ZTM_E_STORE. Returns -1. */
int sq_fail(struct sq_store *s, struct ztm_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A UNIQUE or PRIMARY KEY violation. */
int sq_is_unique(int rc);
/* Steps a statement that returns no rows, then resets it. */
int sq_step_done(struct sq_store *s, sqlite3_stmt *st, struct ztm_error *err, const char *what);
/* Copies text column col into dst (size n); -1 if it does not fit (a row
 * written by something other than this backend). */
int sq_col_text(sqlite3_stmt *st, int col, char *dst, size_t n);
/* Writes blob column col as lower-case hex into dst (size n); -1 if it is
 * not a blob or its hex does not fit. */
int sq_col_hex(sqlite3_stmt *st, int col, char *dst, size_t n);

/* Write calls run in the caller's transaction if one is open, else in their
 * own BEGIN IMMEDIATE transaction (taking the write lock up front is what
 * keeps two processes from deadlocking on a read->write upgrade). sq_wbegin
 * sets *own when it opened one; sq_wend commits it if rc == 0, else rolls it
 * back, and returns the final result. */
int sq_wbegin(struct sq_store *s, int *own, struct ztm_error *err);
int sq_wend(struct sq_store *s, int own, int rc, struct ztm_error *err);

/* Input checks shared by the files: lower-case hex serial of 1..20 octets;
 * a NUL-terminated string that is non-empty (if required) and shorter than
 * max bytes. */

/* Migrations (migrations_sqlite.c): brings the schema to the newest version,
 * each step in its own IMMEDIATE transaction; refuses a database whose
 * version is newer than this program's. */
int sq_migrate(struct sq_store *s, struct ztm_error *err);
int sq_schema_version(struct sq_store *s, int *out, struct ztm_error *err);
/* The newest schema version this program knows. */
int sq_schema_latest(void);

/* The per-concept halves of the ops table. */
int sq_cert_reserve(struct ztm_store *s, struct ztm_cert_row *row, struct ztm_error *err);
int sq_cert_issue(struct ztm_store *s, const char *serial, const uint8_t *der, size_t len,
                  struct ztm_error *err);
int sq_cert_get(struct ztm_store *s, const char *serial, struct ztm_cert_row *out,
                struct ztm_error *err);
int sq_cert_by_idem(struct ztm_store *s, const char *idem_key, struct ztm_cert_row *out,
                    struct ztm_error *err);
int sq_cert_recover(struct ztm_store *s, int64_t before, int64_t *n, struct ztm_error *err);
int sq_cert_abandon(struct ztm_store *s, const char *serial, struct ztm_error *err);
int sq_cert_count(struct ztm_store *s, enum ztm_cert_state state, int64_t *n,
                  struct ztm_error *err);
int sq_cert_each(struct ztm_store *s, enum ztm_cert_state state,
                 int (*fn)(const struct ztm_cert_row *row, void *arg), void *arg,
                 struct ztm_error *err);
int sq_cert_revoke(struct ztm_store *s, const char *serial, enum ztm_reason reason, int64_t when,
                   const char *actor, int *changed, struct ztm_error *err);
/* sq_cert_revoke inside a write transaction the caller holds. */
int sq_cert_revoke_in(struct sq_store *s, const char *serial, enum ztm_reason reason, int64_t when,
                      const char *actor, int *changed, struct ztm_error *err);
/* Revokes every reserved or issued certificate of one owner ("device",
 * "station", "operator") but keep (NULL: none); *n (may be NULL) counts
 * those that changed.
 * The _in form runs in the caller's write transaction. */
int sq_owner_revoke_in(struct sq_store *s, const char *kind, int64_t id, const char *keep,
                       enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                       struct ztm_error *err);
int sq_owner_revoke(struct ztm_store *s, const char *kind, int64_t id, enum ztm_reason reason,
                    int64_t when, const char *actor, int64_t *n, struct ztm_error *err);
int sq_cert_resume(struct ztm_store *s, const char *serial, const char *actor,
                   struct ztm_error *err);
int sq_cert_status(struct ztm_store *s, const char *ca, const char *serial,
                   struct ztm_cert_status_row *out, struct ztm_error *err);
int sq_revocation_seq(struct ztm_store *s, int64_t *seq, struct ztm_error *err);
int sq_revocation_changes(struct ztm_store *s, int64_t since, int64_t limit,
                          int (*fn)(const struct ztm_revocation_event *ev, void *arg), void *arg,
                          struct ztm_error *err);
int sq_revocations_each(struct ztm_store *s, const char *ca, int64_t crl_shard,
                        int (*fn)(const struct ztm_revocation *rev, void *arg), void *arg,
                        struct ztm_error *err);

/* store_sqlite_revops.c: device revoke/suspend/resume, mass revocation. */
int sq_device_revoke(struct ztm_store *s, const char *serial, enum ztm_reason reason, int64_t when,
                     const char *actor, int64_t *n, struct ztm_error *err);
int sq_device_suspend(struct ztm_store *s, const char *serial, int64_t when, const char *actor,
                      struct ztm_error *err);
int sq_device_resume(struct ztm_store *s, const char *serial, const char *actor,
                     struct ztm_error *err);
int sq_mass_request(struct ztm_store *s, struct ztm_mass_row *row, struct ztm_error *err);
int sq_mass_get(struct ztm_store *s, int64_t id, struct ztm_mass_row *out, struct ztm_error *err);
int sq_mass_decide(struct ztm_store *s, int64_t id, int approve, const char *who, int64_t when,
                   struct ztm_mass_row *out, struct ztm_error *err);
/* store_sqlite_crl.c */
int sq_crl_shards(struct ztm_store *s, const char *ca, int (*fn)(int64_t shard, void *arg),
                  void *arg, struct ztm_error *err);
int sq_crl_get(struct ztm_store *s, const char *ca, int64_t shard, int want_der,
               struct ztm_crl_row *out, struct ztm_error *err);
int sq_crl_claim(struct ztm_store *s, const char *ca, int64_t shard, const char *holder,
                 int64_t now, int64_t lease, int64_t refresh, int *got, int64_t *number,
                 int64_t *seq, struct ztm_error *err);
int sq_crl_put(struct ztm_store *s, const struct ztm_crl_row *row, const char *holder,
               struct ztm_error *err);

int sq_factory_add(struct ztm_store *s, const char *name, int64_t *id, struct ztm_error *err);
int sq_factory_get(struct ztm_store *s, const char *name, int64_t *id, struct ztm_error *err);
int sq_station_add(struct ztm_store *s, int64_t factory_id, const char *name, int64_t *id,
                   struct ztm_error *err);
int sq_station_get(struct ztm_store *s, int64_t id, struct ztm_station_row *out,
                   struct ztm_error *err);
int sq_station_find(struct ztm_store *s, const char *factory, const char *name,
                    struct ztm_station_row *out, struct ztm_error *err);
int sq_station_set_cert(struct ztm_store *s, int64_t id, const char *serial, struct ztm_error *err);
int sq_station_revoke(struct ztm_store *s, int64_t id, int64_t when, enum ztm_reason reason,
                      const char *actor, struct ztm_error *err);
int sq_operator_add(struct ztm_store *s, const char *name, enum ztm_role role, int64_t *id,
                    struct ztm_error *err);
int sq_operator_get(struct ztm_store *s, int64_t id, struct ztm_operator_row *out,
                    struct ztm_error *err);
int sq_operator_set_cert(struct ztm_store *s, int64_t id, const char *serial,
                         struct ztm_error *err);
int sq_principal_by_cert(struct ztm_store *s, const char *ca, const char *serial,
                         struct ztm_principal *out, struct ztm_error *err);

int sq_code_add(struct ztm_store *s, const uint8_t hash[32], enum ztm_code_kind kind,
                int64_t subject_id, int64_t expires_at, struct ztm_error *err);
int sq_code_claim(struct ztm_store *s, const uint8_t hash[32], const char *spki, int64_t now,
                  struct ztm_code_row *out, struct ztm_error *err);
int sq_code_bind(struct ztm_store *s, const uint8_t hash[32], const char *serial,
                 struct ztm_error *err);
int sq_audit(struct ztm_store *s, const char *actor, const char *action, const char *object,
             const char *outcome, const char *detail, struct ztm_error *err);
int sq_audit_count(struct ztm_store *s, int64_t *n, struct ztm_error *err);

/* store_sqlite_prod.c and store_sqlite_rec.c */
int sq_product_add(struct ztm_store *s, const struct ztm_product_row *row, int64_t *id,
                   struct ztm_error *err);
int sq_product_get(struct ztm_store *s, const char *name, struct ztm_product_row *out,
                   struct ztm_error *err);
int sq_order_add(struct ztm_store *s, const struct ztm_order_row *row, int64_t *id,
                 struct ztm_error *err);
int sq_order_get(struct ztm_store *s, const char *name, struct ztm_order_row *out,
                 struct ztm_error *err);
int sq_order_get_id(struct ztm_store *s, int64_t id, struct ztm_order_row *out,
                    struct ztm_error *err);
int sq_order_close(struct ztm_store *s, const char *name, int64_t when, struct ztm_error *err);
int sq_order_take_record_slots(struct ztm_store *s, int64_t order_id, int64_t n, int64_t now,
                               struct ztm_error *err);
int sq_order_take_registration(struct ztm_store *s, int64_t order_id, int64_t now,
                               struct ztm_error *err);
int sq_batch_add(struct ztm_store *s, int64_t station_id, const char *hash, int64_t n_records,
                 int64_t *id, struct ztm_error *err);
int sq_record_add(struct ztm_store *s, const struct ztm_record_row *row, int64_t *id, int *repeat,
                  struct ztm_error *err);
int sq_record_by_spki(struct ztm_store *s, const char *spki, struct ztm_record_row *out,
                      struct ztm_error *err);
int sq_device_add(struct ztm_store *s, const struct ztm_device_row *row, int64_t *id,
                  struct ztm_error *err);
int sq_device_get(struct ztm_store *s, const char *serial, struct ztm_device_row *out,
                  struct ztm_error *err);
int sq_device_by_cert(struct ztm_store *s, const char *cert_serial, struct ztm_device_row *out,
                      int *cert_revoked, struct ztm_error *err);
int sq_device_count(struct ztm_store *s, enum ztm_device_state state, int64_t *n,
                    struct ztm_error *err);
int sq_product_get_id(struct ztm_store *s, int64_t id, struct ztm_product_row *out,
                      struct ztm_error *err);
int sq_product_set_policy(struct ztm_store *s, const char *name, int64_t lifetime_days,
                          int64_t renew_window_days, int64_t renew_grace_days, int key_storage,
                          struct ztm_error *err);
int sq_device_replace(struct ztm_store *s, const char *serial, int64_t record_id,
                      const char *key_spki, struct ztm_error *err);
int sq_owner_revoke_except(struct ztm_store *s, const char *kind, int64_t id, const char *keep,
                           enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                           struct ztm_error *err);
/* store_sqlite_attest.c: TPM attestation challenges. */
int sq_attest_challenge_add(struct ztm_store *s, const struct ztm_attest_challenge_row *row,
                            struct ztm_error *err);
int sq_attest_challenge_get(struct ztm_store *s, const uint8_t cred_hash[32],
                            struct ztm_attest_challenge_row *out, struct ztm_error *err);
int sq_attest_challenge_use(struct ztm_store *s, const uint8_t cred_hash[32], int64_t now,
                            struct ztm_error *err);
int sq_device_set_ek(struct ztm_store *s, const char *serial, const char *ek_cert_sha256,
                     struct ztm_error *err);
int sq_device_set_state(struct ztm_store *s, const char *serial, enum ztm_device_state state,
                        const char *cert_serial, const char *key_spki, struct ztm_error *err);
/* store_sqlite_fw.c: firmware signers and releases. */
int sq_fw_signer_add(struct ztm_store *s, struct ztm_fw_signer_row *row, struct ztm_error *err);
int sq_fw_signer_get(struct ztm_store *s, int64_t id, struct ztm_fw_signer_row *out,
                     struct ztm_error *err);
int sq_fw_signer_active(struct ztm_store *s, int64_t product_id, int channel,
                        struct ztm_fw_signer_row *out, struct ztm_error *err);
int sq_fw_signer_each(struct ztm_store *s, int64_t product_id,
                      int (*fn)(const struct ztm_fw_signer_row *row, void *arg), void *arg,
                      struct ztm_error *err);
int sq_fw_signer_retire(struct ztm_store *s, int64_t id, int64_t when, struct ztm_error *err);
int sq_fw_svn_floor(struct ztm_store *s, int64_t product_id, int64_t *floor, struct ztm_error *err);
int sq_fw_release_add(struct ztm_store *s, struct ztm_fw_release_row *row, struct ztm_error *err);
int sq_fw_release_get(struct ztm_store *s, int64_t id, struct ztm_fw_release_row *out,
                      struct ztm_error *err);
int sq_fw_release_blobs(struct ztm_store *s, int64_t id, struct ztm_buf *cms,
                        struct ztm_buf *manifest, struct ztm_error *err);
int sq_fw_release_sign(struct ztm_store *s, int64_t id, int64_t signer_id, const char *approver,
                       int64_t when, const uint8_t *cms, size_t cms_len, const uint8_t *manifest,
                       size_t manifest_len, struct ztm_error *err);
int sq_fw_release_revoke(struct ztm_store *s, int64_t id, const char *who, const char *reason,
                         int64_t when, struct ztm_error *err);
int sq_fw_release_each(struct ztm_store *s, const struct ztm_fw_filter *f,
                       int (*fn)(const struct ztm_fw_release_row *row, void *arg), void *arg,
                       struct ztm_error *err);
int sq_firmware_approve(struct ztm_store *s, int64_t product_id, const char *sha256,
                        struct ztm_error *err);
int sq_firmware_approved(struct ztm_store *s, int64_t product_id, const char *sha256, int *yes,
                         struct ztm_error *err);
int sq_alert(struct ztm_store *s, const char *kind, const char *serial, const char *detail,
             struct ztm_error *err);
int sq_alert_count(struct ztm_store *s, const char *kind, int64_t *n, struct ztm_error *err);

/* store_sqlite_rec.c: the device columns every device SELECT starts with,
 * and their reader (columns 0..9); non-zero if a value does not fit. */
#define SQ_DEVICE_COLS                                                                             \
	"d.id, d.serial, d.product_id, d.record_id, d.state, d.key_spki_sha256, d.cert_serial,"    \
	" d.created_at, d.updated_at, coalesce(d.owner_id, 0), d.registered_at, d.ek_cert_sha256"
int sq_device_cols(sqlite3_stmt *st, struct ztm_device_row *out);

/* store_sqlite_owner.c */
int sq_owner_add(struct ztm_store *s, const char *name, const uint8_t *der, size_t len, int64_t *id,
                 struct ztm_error *err);
int sq_owner_get(struct ztm_store *s, const char *name, struct ztm_owner_row *out,
                 struct ztm_error *err);
int sq_owner_get_id(struct ztm_store *s, int64_t id, struct ztm_owner_row *out,
                    struct ztm_error *err);
int sq_owner_each(struct ztm_store *s, int (*fn)(const struct ztm_owner_row *row, void *arg),
                  void *arg, struct ztm_error *err);
int sq_owner_operator_add(struct ztm_store *s, const char *name, int64_t owner_id, int64_t *id,
                          struct ztm_error *err);
int sq_device_set_owner(struct ztm_store *s, const char *serial, int64_t owner_id,
                        struct ztm_error *err);
int sq_device_each(struct ztm_store *s, int64_t owner_id, int64_t after_id, int64_t limit,
                   int (*fn)(const struct ztm_device_row *row, void *arg), void *arg,
                   struct ztm_error *err);
int sq_voucher_add(struct ztm_store *s, int64_t device_id, int64_t owner_id, int64_t created_on,
                   int64_t expires_on, const char *sha256, const char *actor,
                   struct ztm_error *err);
int sq_voucher_count(struct ztm_store *s, int64_t device_id, int64_t *n, struct ztm_error *err);

#endif
