/* store_pg.h - internals shared by the files of the PostgreSQL backend
 * (docs/store.md, "PostgreSQL"). Not a public header: only
 * src/store/store_pg*.c and migrations_pg.c include it.
 *
 * The backend's calls keep the shape of the SQLite backend's (the same
 * statements, checks and messages, one file per concept): a small cursor
 * layer over libpq (pq_stmt, pq_step, pq_col_*) stands where sqlite3_stmt
 * stands there. A statement is prepared once per connection (PQprepare) and
 * then run with PQexecPrepared; its whole result arrives at once and
 * pq_step walks its rows. */
#ifndef ZTM_STORE_PG_H
#define ZTM_STORE_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "store_impl.h"

/* Every statement the backend runs has a slot in the per-connection cache
 * (the same list as the SQLite backend's). */
enum pq_slot {
	PQ_SCHEMA_VERSION,
	PQ_CERT_INSERT,
	PQ_CERT_ISSUE,
	PQ_CERT_STATE,
	PQ_CERT_GET,
	PQ_CERT_BY_IDEM,
	PQ_CERT_RECOVER,
	PQ_CERT_ABANDON,
	PQ_CERT_COUNT,
	PQ_CERT_EACH,
	PQ_REV_CERT,
	PQ_REV_GET,
	PQ_REV_INSERT,
	PQ_REV_UPGRADE,
	PQ_REV_DELETE,
	PQ_REV_CERT_STATE,
	PQ_REV_CERT_RESUME,
	PQ_REV_LOG,
	PQ_REV_STATUS,
	PQ_REV_SEQ,
	PQ_REV_CHANGES,
	PQ_REV_EACH,
	PQ_REV_OWNER,
	PQ_MASS_BY_STATION,
	PQ_MASS_BY_ORDER,
	PQ_MASS_ADD,
	PQ_MASS_GET,
	PQ_MASS_DECIDE,
	PQ_MASS_LOCK_STATION,
	PQ_MASS_LOCK_ORDER,
	PQ_MASS_LOCK_CERTS_STATION,
	PQ_MASS_LOCK_CERTS_ORDER,
	PQ_CRL_SHARD_NEXT,
	PQ_CRL_GET,
	PQ_CRL_ENSURE,
	PQ_CRL_DUE,
	PQ_CRL_CLAIM,
	PQ_CRL_PUT,
	PQ_FACTORY_ADD,
	PQ_FACTORY_GET,
	PQ_STATION_ADD,
	PQ_STATION_GET,
	PQ_STATION_FIND,
	PQ_STATION_SET_CERT,
	PQ_STATION_STATE,
	PQ_STATION_REVOKE,
	PQ_OPERATOR_ADD,
	PQ_OPERATOR_GET,
	PQ_OPERATOR_SET_CERT,
	PQ_OPERATOR_STATE,
	PQ_PRINCIPAL,
	PQ_CODE_ADD,
	PQ_CODE_SUBJECT,
	PQ_CODE_CLAIM,
	PQ_CODE_GET,
	PQ_CODE_BIND,
	PQ_AUDIT_ADD,
	PQ_AUDIT_COUNT,
	PQ_PRODUCT_ADD,
	PQ_PRODUCT_GET,
	PQ_ORDER_ADD,
	PQ_ORDER_GET,
	PQ_ORDER_GET_ID,
	PQ_ORDER_CLOSE,
	PQ_ORDER_TAKE_RECORD,
	PQ_ORDER_TAKE_REG,
	PQ_BATCH_ADD,
	PQ_BATCH_BY_HASH,
	PQ_RECORD_ADD,
	PQ_RECORD_BY_SPKI,
	PQ_DEVICE_ADD,
	PQ_DEVICE_GET,
	PQ_DEVICE_BY_CERT,
	PQ_DEVICE_COUNT,
	PQ_DEVICE_SET_STATE,
	PQ_FIRMWARE_APPROVE,
	PQ_FIRMWARE_APPROVED,
	PQ_ALERT_ADD,
	PQ_ALERT_COUNT,
	PQ_ALERT_COUNT_ALL,
	PQ_OWNER_ADD,
	PQ_OWNER_GET,
	PQ_OWNER_GET_ID,
	PQ_OWNER_EACH,
	PQ_OWNER_OPERATOR_ADD,
	PQ_DEVICE_SET_OWNER,
	PQ_DEVICE_EACH,
	PQ_VOUCHER_ADD,
	PQ_VOUCHER_COUNT,
	PQ_VOUCHER_COUNT_ALL,
	PQ_PRODUCT_SET_POLICY,
	PQ_DEVICE_REPLACE,
	PQ_PRODUCT_GET_ID,
	PQ_DEVICE_GET_LOCK,
	PQ_LOCK_CERT,
	PQ_LOCK_DEVICE,
	PQ_LOCK_CRL,
	PQ_LOCK_MASS,
	PQ_LOCK_DEVICE_ID,
	PQ_LOCK_PRODUCT,
	PQ_LOCK_FW_RELEASE_PRODUCT,
	PQ_LOCK_FW_SIGNER_PRODUCT,
	PQ_LOCK_FW_RELEASE,
	PQ_LOCK_REVLOG,
	PQ_SYNC_BARRIER,
	PQ_FW_SIGNER_ADD,
	PQ_FW_SIGNER_GET,
	PQ_FW_SIGNER_ACTIVE,
	PQ_FW_SIGNER_EACH,
	PQ_FW_SIGNER_RETIRE,
	PQ_FW_SVN_FLOOR,
	PQ_FW_RELEASE_ADD,
	PQ_FW_RELEASE_GET,
	PQ_FW_RELEASE_BLOBS,
	PQ_FW_RELEASE_SIGN,
	PQ_FW_RELEASE_REVOKE,
	PQ_FW_RELEASE_EACH,
	PQ_ATTEST_ADD,
	PQ_ATTEST_PURGE,
	PQ_ATTEST_GET,
	PQ_ATTEST_USE,
	PQ_DEVICE_SET_EK,
	PQ_SLOT_COUNT
};

/* Query flags. */
#define PQ_RET_ID                                                                                  \
	1 /* an INSERT ... RETURNING id: pq_step keeps the id                                      \
	     (pq_last_id) and reports PQ_DONE, like an INSERT */
#define PQ_TAKES_LOCK                                                                              \
	2 /* a read that takes a lock (advisory): it can fail like a write                         \
	     (deadlock, lock_timeout), so it runs under the statement savepoint */

/* A statement and its cache slot; defined next to the code that uses it. */
struct pq_query {
	enum pq_slot slot;
	const char *sql;
	int flags;
};

/* Results of pq_step and pq_bind: PQ_OK / PQ_ROW / PQ_DONE, or one of the
 * error classes the SQLSTATE of a failure falls in. */
enum {
	PQ_OK = 0,
	PQ_ROW = 100,
	PQ_DONE = 101,
	PQ_E_ERROR = 1, /* anything else: connection, syntax, I/O */
	PQ_E_UNIQUE,    /* 23505 */
	PQ_E_FK,        /* 23503 */
	PQ_E_CHECK,     /* 23514, 23502 (NOT NULL), 22xxx (bad value) */
	PQ_E_TRIGGER,   /* P0001: a refusal raised by a schema trigger */
	PQ_E_MISUSE,    /* a binding this layer cannot take */
	PQ_E_GONE       /* 08xxx, 57P01-57P03, 25006: no writable server on this session */
};
#define PQ_NULL 5 /* pq_col_type of an SQL NULL; anything else is 1 */

#define PQ_MAX_PARAMS 16

struct pq_store;

struct pq_stmt {
	struct pq_store *s;
	const struct pq_query *q;
	char name[16];
	int nparams, write;
	int pipeable; /* a write without rows to read: may go in a pipeline */
	const char *vals[PQ_MAX_PARAMS];
	int lens[PQ_MAX_PARAMS], fmts[PQ_MAX_PARAMS];
	char ints[PQ_MAX_PARAMS][24];
	PGresult *res;
	int row, ntuples, busy;
	unsigned char *blob; /* the last bytea column read, decoded */
	size_t blob_len;
	int blob_row, blob_col;
};

struct pq_store {
	struct ztm_store base; /* must be first (store_impl.h) */
	PGconn *conn;
	/* A transaction opened by begin() is in progress. */
	int txn;
	/* The next begin()'s transaction commits with synchronous_commit
	 * off (nosync_next). */
	int nosync_once;
	/* The session cannot write (a read-only server, 25006): connect again
	 * before the next transaction, as after a lost connection. */
	int reset_needed;
	/* The last failure since the job's savepoint lost to another
	 * transaction: 40P01 (deadlock) or 40001 (serialization). */
	int lost;
	struct pq_stmt *stmt[PQ_SLOT_COUNT];
	int64_t last_id, changes;
	char errmsg[256], sqlstate[6];
	/* The pipelined part of a group commit (store_pg_pipe.c): pipe is on
	 * between pipeline(1) and pipeline(0); piped while the connection is
	 * in libpq pipeline mode with `nsent` commands whose answers are not
	 * read yet, their assumptions in `expect`; pipe_failed once an
	 * answer (or a job) did not go as assumed. */
	int pipe, piped, pipe_failed, no_pipe;
	unsigned char *expect;
	size_t nsent, expect_cap;
};

static inline struct pq_store *pq_of(struct ztm_store *s)
{
	return (struct pq_store *)s;
}

/* The cached prepared statement of q (preparing it on first use), or NULL
 * with err set. Refuses a statement whose rows are still being read (a
 * re-entrant call from a cert_each callback). */
struct pq_stmt *pq_stmt(struct pq_store *s, const struct pq_query *q, struct ztm_error *err);
/* Drops a statement's result and bindings; NULL-safe. */
void pq_reset(struct pq_stmt *st);
/* Binds parameters $1.. from a format: 't' const char * (text, NULL is SQL
 * NULL), 'i' int64_t, 'b' const uint8_t * and size_t (bytea), 'h' const
 * uint8_t[32] (bytea). Returns PQ_OK or PQ_E_MISUSE. */
int pq_bind(struct pq_stmt *st, const char *fmt, ...);
int pq_bind_int64(struct pq_stmt *st, int i, int64_t v);
/* Runs the statement on the first call (a write inside a transaction under
 * its own savepoint, so that a refused statement undoes only itself, as in
 * SQLite), then walks its rows: PQ_ROW per row, then PQ_DONE; an error
 * class on failure. */
int pq_step(struct pq_stmt *st);
/* Column readers of the current row: an SQL NULL reads as 0 / NULL /
 * empty; a boolean reads as 1 or 0. */
int64_t pq_col_int64(struct pq_stmt *st, int col);
int pq_col_int(struct pq_stmt *st, int col);
const unsigned char *pq_col_textp(struct pq_stmt *st, int col);
const void *pq_col_blob(struct pq_stmt *st, int col);
int pq_col_bytes(struct pq_stmt *st, int col);
int pq_col_type(struct pq_stmt *st, int col);
/* Rows changed by the last statement run; the id an PQ_RET_ID INSERT
 * returned; the message of the last failure (its constraint included). */
int64_t pq_changes(struct pq_store *s);
int64_t pq_last_id(struct pq_store *s);
const char *pq_errmsg(struct pq_store *s);

/* Turns a failure into a ztm error: "<what>: <server message>". Unique
 * violations are ZTM_E_EXISTS, foreign-key ones ZTM_E_NOTFOUND, CHECK and
 * NOT NULL ones ZTM_E_USAGE, trigger refusals ZTM_E_CONFLICT; everything
 * else is ZTM_E_STORE. Returns -1. */
int pq_fail(struct pq_store *s, struct ztm_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int pq_is_unique(int rc);
int pq_step_done(struct pq_store *s, struct pq_stmt *st, struct ztm_error *err, const char *what);
int pq_col_text(struct pq_stmt *st, int col, char *dst, size_t n);

/* Write calls run in the caller's transaction if one is open, else in their
 * own (as in the SQLite backend). */
int pq_wbegin(struct pq_store *s, int *own, struct ztm_error *err);
int pq_wend(struct pq_store *s, int own, int rc, struct ztm_error *err);
/* Runs a statement without parameters or rows (transaction control,
 * migrations) with the simple protocol. */
int pq_exec(struct pq_store *s, const char *sql, struct ztm_error *err, const char *what);

/* Row locks for the calls that read a row, decide, then write (what SQLite's
 * single writer gave for free): SELECT ... FOR UPDATE of the one row, held
 * to the end of the transaction; a second node's call waits for the first
 * to commit and then reads what it wrote (READ COMMITTED: every statement
 * after the lock sees the latest commit). A row that does not exist locks
 * nothing; the read that follows reports it. Inside a write transaction
 * only. docs/store.md, "PostgreSQL: concurrent writers". */
/* The firmware locks take a product row (FOR NO KEY UPDATE, by its id, or
 * that of release or signer id) or a release row (by id). */
enum pq_lock {
	PQ_LK_CERT,
	PQ_LK_DEVICE,
	PQ_LK_CRL,
	PQ_LK_MASS,
	PQ_LK_DEVICE_ID,
	PQ_LK_PRODUCT,
	PQ_LK_FW_RELEASE_PRODUCT,
	PQ_LK_FW_SIGNER_PRODUCT,
	PQ_LK_FW_RELEASE,
	/* Not a row: the transaction-level advisory lock that orders writers of
	 * revocation_log (key and key are ignored). A transaction takes its
	 * log sequence numbers only while holding it and keeps it to its end,
	 * so log entries commit, and become visible, in sequence order: a
	 * reader that follows the log by "seq > the last one I saw" (the OCSP
	 * caches, the CRL due check) never skips an entry that commits late.
	 * Without it, an identity value is taken at INSERT time and two nodes'
	 * transactions can commit seq N+1 before N. Taken last: a call that
	 * revokes several certificates locks their rows (devices first, then
	 * certificates by serial) before its first revocation takes this
	 * (store_pg_revoke.c, owner_serials). */
	PQ_LK_REVLOG
};
int pq_lock(struct pq_store *s, enum pq_lock what, const char *key, int64_t id,
            struct ztm_error *err);

/* store_pg_pipe.c: the pipelined part of a group commit (docs/store.md,
 * "Pipelined group commit"). pq_pipe_send queues a write that is assumed
 * to succeed and change one row (1 sent, 0 when the statement must run
 * the plain way: it returns rows, or the pipeline already failed, -1 with
 * the failure noted); pq_pipe_wait reads every queued answer and leaves
 * pipeline mode (0 all as assumed; else PQ_E_ERROR with the failure
 * noted, and pipe_failed set). */
int pq_pipe_send(struct pq_stmt *st);
int pq_pipe_wait(struct pq_store *s);
int pq_pipe_op(struct ztm_store *base, int on, struct ztm_error *err);
int pq_pipe_cmd(struct pq_store *s, const char *sql);
void pq_pipe_free(struct pq_store *s);
int pq_note_failure(struct pq_store *s, const PGresult *res);

/* migrations_pg.c */
int pq_migrate(struct pq_store *s, struct ztm_error *err);
int pq_schema_version(struct pq_store *s, int *out, struct ztm_error *err);
int pq_schema_latest(void);

#define PQ_DEVICE_COLS                                                                             \
	"d.id, d.serial, d.product_id, d.record_id, d.state, d.key_spki_sha256, d.cert_serial,"    \
	" d.created_at, d.updated_at, coalesce(d.owner_id, 0), d.registered_at, d.ek_cert_sha256"
int pq_device_cols(struct pq_stmt *st, struct ztm_device_row *out);

/* The per-concept halves of the ops table. */
int pq_cert_reserve(struct ztm_store *s, struct ztm_cert_row *row, struct ztm_error *err);
int pq_cert_issue(struct ztm_store *s, const char *serial, const uint8_t *der, size_t len,
                  struct ztm_error *err);
int pq_cert_get(struct ztm_store *s, const char *serial, struct ztm_cert_row *out,
                struct ztm_error *err);
int pq_cert_by_idem(struct ztm_store *s, const char *idem_key, struct ztm_cert_row *out,
                    struct ztm_error *err);
int pq_cert_recover(struct ztm_store *s, int64_t before, int64_t *n, struct ztm_error *err);
int pq_cert_abandon(struct ztm_store *s, const char *serial, struct ztm_error *err);
int pq_cert_count(struct ztm_store *s, enum ztm_cert_state state, int64_t *n,
                  struct ztm_error *err);
int pq_cert_each(struct ztm_store *s, enum ztm_cert_state state,
                 int (*fn)(const struct ztm_cert_row *row, void *arg), void *arg,
                 struct ztm_error *err);
int pq_cert_revoke(struct ztm_store *s, const char *serial, enum ztm_reason reason, int64_t when,
                   const char *actor, int *changed, struct ztm_error *err);
/* pq_cert_revoke inside a write transaction the caller holds. */
int pq_cert_revoke_in(struct pq_store *s, const char *serial, enum ztm_reason reason, int64_t when,
                      const char *actor, int *changed, struct ztm_error *err);
/* Revokes every reserved or issued certificate of one owner ("device",
 * "station", "operator") but keep (NULL: none); *n (may be NULL) counts
 * those that changed.
 * The _in form runs in the caller's write transaction. */
int pq_owner_revoke_in(struct pq_store *s, const char *kind, int64_t id, const char *keep,
                       enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                       struct ztm_error *err);
int pq_owner_revoke(struct ztm_store *s, const char *kind, int64_t id, enum ztm_reason reason,
                    int64_t when, const char *actor, int64_t *n, struct ztm_error *err);
int pq_cert_resume(struct ztm_store *s, const char *serial, const char *actor,
                   struct ztm_error *err);
int pq_cert_status(struct ztm_store *s, const char *ca, const char *serial,
                   struct ztm_cert_status_row *out, struct ztm_error *err);
int pq_revocation_seq(struct ztm_store *s, int64_t *seq, struct ztm_error *err);
int pq_revocation_changes(struct ztm_store *s, int64_t since, int64_t limit,
                          int (*fn)(const struct ztm_revocation_event *ev, void *arg), void *arg,
                          struct ztm_error *err);
int pq_revocations_each(struct ztm_store *s, const char *ca, int64_t crl_shard,
                        int (*fn)(const struct ztm_revocation *rev, void *arg), void *arg,
                        struct ztm_error *err);

/* store_pg_revops.c: device revoke/suspend/resume, mass revocation. */
int pq_device_revoke(struct ztm_store *s, const char *serial, enum ztm_reason reason, int64_t when,
                     const char *actor, int64_t *n, struct ztm_error *err);
int pq_device_suspend(struct ztm_store *s, const char *serial, int64_t when, const char *actor,
                      struct ztm_error *err);
int pq_device_resume(struct ztm_store *s, const char *serial, const char *actor,
                     struct ztm_error *err);
int pq_mass_request(struct ztm_store *s, struct ztm_mass_row *row, struct ztm_error *err);
int pq_mass_get(struct ztm_store *s, int64_t id, struct ztm_mass_row *out, struct ztm_error *err);
int pq_mass_decide(struct ztm_store *s, int64_t id, int approve, const char *who, int64_t when,
                   struct ztm_mass_row *out, struct ztm_error *err);
/* store_pg_crl.c */
int pq_crl_shards(struct ztm_store *s, const char *ca, int (*fn)(int64_t shard, void *arg),
                  void *arg, struct ztm_error *err);
int pq_crl_get(struct ztm_store *s, const char *ca, int64_t shard, int want_der,
               struct ztm_crl_row *out, struct ztm_error *err);
int pq_crl_claim(struct ztm_store *s, const char *ca, int64_t shard, const char *holder,
                 int64_t now, int64_t lease, int64_t refresh, int *got, int64_t *number,
                 int64_t *seq, struct ztm_error *err);
int pq_crl_put(struct ztm_store *s, const struct ztm_crl_row *row, const char *holder,
               struct ztm_error *err);

int pq_factory_add(struct ztm_store *s, const char *name, int64_t *id, struct ztm_error *err);
int pq_factory_get(struct ztm_store *s, const char *name, int64_t *id, struct ztm_error *err);
int pq_station_add(struct ztm_store *s, int64_t factory_id, const char *name, int64_t *id,
                   struct ztm_error *err);
int pq_station_get(struct ztm_store *s, int64_t id, struct ztm_station_row *out,
                   struct ztm_error *err);
int pq_station_find(struct ztm_store *s, const char *factory, const char *name,
                    struct ztm_station_row *out, struct ztm_error *err);
int pq_station_set_cert(struct ztm_store *s, int64_t id, const char *serial, struct ztm_error *err);
int pq_station_revoke(struct ztm_store *s, int64_t id, int64_t when, enum ztm_reason reason,
                      const char *actor, struct ztm_error *err);
int pq_operator_add(struct ztm_store *s, const char *name, enum ztm_role role, int64_t *id,
                    struct ztm_error *err);
int pq_operator_get(struct ztm_store *s, int64_t id, struct ztm_operator_row *out,
                    struct ztm_error *err);
int pq_operator_set_cert(struct ztm_store *s, int64_t id, const char *serial,
                         struct ztm_error *err);
int pq_principal_by_cert(struct ztm_store *s, const char *ca, const char *serial,
                         struct ztm_principal *out, struct ztm_error *err);

int pq_code_add(struct ztm_store *s, const uint8_t hash[32], enum ztm_code_kind kind,
                int64_t subject_id, int64_t expires_at, struct ztm_error *err);
int pq_code_claim(struct ztm_store *s, const uint8_t hash[32], const char *spki, int64_t now,
                  struct ztm_code_row *out, struct ztm_error *err);
int pq_code_bind(struct ztm_store *s, const uint8_t hash[32], const char *serial,
                 struct ztm_error *err);
int pq_audit(struct ztm_store *s, const char *actor, const char *action, const char *object,
             const char *outcome, const char *detail, struct ztm_error *err);
int pq_audit_count(struct ztm_store *s, int64_t *n, struct ztm_error *err);

/* store_pg_prod.c and store_pg_rec.c */
int pq_product_add(struct ztm_store *s, const struct ztm_product_row *row, int64_t *id,
                   struct ztm_error *err);
int pq_product_get(struct ztm_store *s, const char *name, struct ztm_product_row *out,
                   struct ztm_error *err);
int pq_order_add(struct ztm_store *s, const struct ztm_order_row *row, int64_t *id,
                 struct ztm_error *err);
int pq_order_get(struct ztm_store *s, const char *name, struct ztm_order_row *out,
                 struct ztm_error *err);
int pq_order_get_id(struct ztm_store *s, int64_t id, struct ztm_order_row *out,
                    struct ztm_error *err);
int pq_order_close(struct ztm_store *s, const char *name, int64_t when, struct ztm_error *err);
int pq_order_take_record_slots(struct ztm_store *s, int64_t order_id, int64_t n, int64_t now,
                               struct ztm_error *err);
int pq_order_take_registration(struct ztm_store *s, int64_t order_id, int64_t now,
                               struct ztm_error *err);
int pq_batch_add(struct ztm_store *s, int64_t station_id, const char *hash, int64_t n_records,
                 int64_t *id, struct ztm_error *err);
int pq_record_add(struct ztm_store *s, const struct ztm_record_row *row, int64_t *id, int *repeat,
                  struct ztm_error *err);
int pq_record_by_spki(struct ztm_store *s, const char *spki, struct ztm_record_row *out,
                      struct ztm_error *err);
int pq_device_add(struct ztm_store *s, const struct ztm_device_row *row, int64_t *id,
                  struct ztm_error *err);
int pq_device_get(struct ztm_store *s, const char *serial, struct ztm_device_row *out,
                  struct ztm_error *err);
int pq_device_by_cert(struct ztm_store *s, const char *cert_serial, struct ztm_device_row *out,
                      int *cert_revoked, struct ztm_error *err);
int pq_device_count(struct ztm_store *s, enum ztm_device_state state, int64_t *n,
                    struct ztm_error *err);
int pq_product_get_id(struct ztm_store *s, int64_t id, struct ztm_product_row *out,
                      struct ztm_error *err);
int pq_product_set_policy(struct ztm_store *s, const char *name, int64_t lifetime_days,
                          int64_t renew_window_days, int64_t renew_grace_days, int key_storage,
                          struct ztm_error *err);
int pq_device_replace(struct ztm_store *s, const char *serial, int64_t record_id,
                      const char *key_spki, struct ztm_error *err);
int pq_owner_revoke_except(struct ztm_store *s, const char *kind, int64_t id, const char *keep,
                           enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                           struct ztm_error *err);
/* store_pg_attest.c: TPM attestation challenges. */
int pq_attest_challenge_add(struct ztm_store *s, const struct ztm_attest_challenge_row *row,
                            struct ztm_error *err);
int pq_attest_challenge_get(struct ztm_store *s, const uint8_t cred_hash[32],
                            struct ztm_attest_challenge_row *out, struct ztm_error *err);
int pq_attest_challenge_use(struct ztm_store *s, const uint8_t cred_hash[32], int64_t now,
                            struct ztm_error *err);
int pq_device_set_ek(struct ztm_store *s, const char *serial, const char *ek_cert_sha256,
                     struct ztm_error *err);
int pq_device_set_state(struct ztm_store *s, const char *serial, enum ztm_device_state state,
                        const char *cert_serial, const char *key_spki, struct ztm_error *err);
int pq_firmware_approve(struct ztm_store *s, int64_t product_id, const char *sha256,
                        struct ztm_error *err);
int pq_firmware_approved(struct ztm_store *s, int64_t product_id, const char *sha256, int *yes,
                         struct ztm_error *err);
int pq_alert(struct ztm_store *s, const char *kind, const char *serial, const char *detail,
             struct ztm_error *err);
int pq_alert_count(struct ztm_store *s, const char *kind, int64_t *n, struct ztm_error *err);

/* store_pg_fw.c: firmware signers and releases. */
int pq_fw_signer_add(struct ztm_store *s, struct ztm_fw_signer_row *row, struct ztm_error *err);
int pq_fw_signer_get(struct ztm_store *s, int64_t id, struct ztm_fw_signer_row *out,
                     struct ztm_error *err);
int pq_fw_signer_active(struct ztm_store *s, int64_t product_id, int channel,
                        struct ztm_fw_signer_row *out, struct ztm_error *err);
int pq_fw_signer_each(struct ztm_store *s, int64_t product_id,
                      int (*fn)(const struct ztm_fw_signer_row *row, void *arg), void *arg,
                      struct ztm_error *err);
int pq_fw_signer_retire(struct ztm_store *s, int64_t id, int64_t when, struct ztm_error *err);
int pq_fw_svn_floor(struct ztm_store *s, int64_t product_id, int64_t *floor, struct ztm_error *err);
int pq_fw_release_add(struct ztm_store *s, struct ztm_fw_release_row *row, struct ztm_error *err);
int pq_fw_release_get(struct ztm_store *s, int64_t id, struct ztm_fw_release_row *out,
                      struct ztm_error *err);
int pq_fw_release_blobs(struct ztm_store *s, int64_t id, struct ztm_buf *cms,
                        struct ztm_buf *manifest, struct ztm_error *err);
int pq_fw_release_sign(struct ztm_store *s, int64_t id, int64_t signer_id, const char *approver,
                       int64_t when, const uint8_t *cms, size_t cms_len, const uint8_t *manifest,
                       size_t manifest_len, struct ztm_error *err);
int pq_fw_release_revoke(struct ztm_store *s, int64_t id, const char *who, const char *reason,
                         int64_t when, struct ztm_error *err);
int pq_fw_release_each(struct ztm_store *s, const struct ztm_fw_filter *f,
                       int (*fn)(const struct ztm_fw_release_row *row, void *arg), void *arg,
                       struct ztm_error *err);

/* store_pg_owner.c */
int pq_owner_add(struct ztm_store *s, const char *name, const uint8_t *der, size_t len, int64_t *id,
                 struct ztm_error *err);
int pq_owner_get(struct ztm_store *s, const char *name, struct ztm_owner_row *out,
                 struct ztm_error *err);
int pq_owner_get_id(struct ztm_store *s, int64_t id, struct ztm_owner_row *out,
                    struct ztm_error *err);
int pq_owner_each(struct ztm_store *s, int (*fn)(const struct ztm_owner_row *row, void *arg),
                  void *arg, struct ztm_error *err);
int pq_owner_operator_add(struct ztm_store *s, const char *name, int64_t owner_id, int64_t *id,
                          struct ztm_error *err);
int pq_device_set_owner(struct ztm_store *s, const char *serial, int64_t owner_id,
                        struct ztm_error *err);
int pq_device_each(struct ztm_store *s, int64_t owner_id, int64_t after_id, int64_t limit,
                   int (*fn)(const struct ztm_device_row *row, void *arg), void *arg,
                   struct ztm_error *err);
int pq_voucher_add(struct ztm_store *s, int64_t device_id, int64_t owner_id, int64_t created_on,
                   int64_t expires_on, const char *sha256, const char *actor,
                   struct ztm_error *err);
int pq_voucher_count(struct ztm_store *s, int64_t device_id, int64_t *n, struct ztm_error *err);

#endif
