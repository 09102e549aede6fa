/* ztm/store.h - the store interface (DESIGN.md 2, 5).
 *
 * One interface, several backends: "sqlite:/path/ztm.db" now (WAL,
 * synchronous=FULL), "postgresql://..." later behind the same calls. Every
 * call runs inside the caller's transaction if one is open, else in its own.
 *
 * Group commit: a server collects the store work of all requests that are
 * ready in one event-loop turn as jobs and runs them with ztm_store_run_batch:
 * one transaction, each job in its own savepoint (a failing job rolls back
 * alone), one durable commit for all. Responses go out only after it
 * returns (DESIGN I1).
 *
 * Certificates follow reserve -> sign -> issue: the serial (unique) and the
 * idempotency key are reserved and committed before anything is signed; the
 * signed bytes are committed before any byte is returned. A reservation that
 * never became a certificate (crash between the two commits) is turned into
 * state "abandoned" by ztm_store_cert_recover at start-up: its serial is never
 * reused and no certificate with it ever left the process.
 */
#ifndef ZTM_STORE_H
#define ZTM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"
#include "ztm/record_kind.h"

struct ztm_store;

/* Roles (DESIGN.md 4). Stored as their names. */
#define ZTM_ROLE_TABLE(X)                                                                          \
	X(ZTM_ROLE_ADMIN, "admin")                                                                 \
	X(ZTM_ROLE_SECURITY_OFFICER, "security-officer")                                           \
	X(ZTM_ROLE_PLANNER, "planner")                                                             \
	X(ZTM_ROLE_STATION, "station")                                                             \
	X(ZTM_ROLE_FIRMWARE_SIGNER, "firmware-signer")                                             \
	X(ZTM_ROLE_RELEASE_APPROVER, "release-approver")                                           \
	X(ZTM_ROLE_AUDITOR, "auditor")                                                             \
	X(ZTM_ROLE_DEVICE, "device")                                                               \
	X(ZTM_ROLE_OWNER, "owner")

enum ztm_role {
#define ZTM_X_ROLE(e, s) e,
	ZTM_ROLE_TABLE(ZTM_X_ROLE)
#undef ZTM_X_ROLE
	    ZTM_ROLE_COUNT
};

const char *ztm_role_name(enum ztm_role r);
int ztm_role_parse(const char *name, enum ztm_role *out);

enum ztm_cert_state {
	ZTM_CERT_RESERVED,
	ZTM_CERT_ISSUED,
	ZTM_CERT_ABANDONED,
	ZTM_CERT_REVOKED,
};
const char *ztm_cert_state_name(enum ztm_cert_state s);

#define ZTM_SERIAL_HEX_MAX 41 /* 20 octets in hex + NUL */
#define ZTM_SHA256_HEX     65

struct ztm_cert_row {
	char serial[ZTM_SERIAL_HEX_MAX];  /* lower-case hex, no leading 00 stripped */
	char ca[32];                      /* issuing CA name: "device", "station", ... */
	char profile[32];                 /* certificate profile name */
	char subject[256];                /* RFC 2253 text, for humans and search */
	char idem_key[ZTM_SHA256_HEX];    /* "" when none */
	char spki_sha256[ZTM_SHA256_HEX]; /* hex SHA-256 of the SubjectPublicKeyInfo DER */
	char owner_kind[16];              /* "station", "operator", "device", "ca" */
	int64_t owner_id;
	enum ztm_cert_state state;
	int64_t not_before, not_after, created_at; /* Unix seconds */
	/* CRL partition (docs/revocation.md). In to ztm_store_cert_reserve:
	 * crl_shard_size, the certificates per shard of this CA (0: no
	 * partitioning, everything in shard 0). Out of reserve and of every
	 * lookup: crl_shard, fixed for the certificate's life. */
	int64_t crl_shard_size, crl_shard;
	struct ztm_buf der; /* empty while reserved */
};

void ztm_cert_row_init(struct ztm_cert_row *row);
void ztm_cert_row_free(struct ztm_cert_row *row);

enum ztm_station_state { ZTM_STATION_PENDING, ZTM_STATION_ENROLLED, ZTM_STATION_REVOKED };

struct ztm_station_row {
	int64_t id, factory_id;
	char factory[128];
	char name[128];
	enum ztm_station_state state;
	char cert_serial[ZTM_SERIAL_HEX_MAX];
	int64_t created_at, revoked_at;
};

struct ztm_operator_row {
	int64_t id;
	char name[128];
	enum ztm_role role;
	int revoked;
	char cert_serial[ZTM_SERIAL_HEX_MAX];
	int64_t owner_id; /* role owner: the owner it acts for; else 0 */
};

/* Who a certificate belongs to, for the access module. */
struct ztm_principal {
	char kind[16]; /* "operator" or "station" */
	int64_t id;
	char name[128];
	enum ztm_role role;
	int revoked;        /* certificate, operator or station revoked */
	int64_t factory_id; /* stations */
	int64_t owner_id;   /* operators of role owner: the owner they act for */
};

enum ztm_code_kind { ZTM_CODE_STATION, ZTM_CODE_OPERATOR };

struct ztm_code_row {
	enum ztm_code_kind kind;
	int64_t subject_id; /* station or operator id */
	int64_t expires_at;
	int64_t used_at; /* 0 while unused */
	char used_spki[ZTM_SHA256_HEX];
	char cert_serial[ZTM_SERIAL_HEX_MAX]; /* "" until issued */
};

/* --- production model (docs/store.md, migration 2) --------------------- */
#define ZTM_NAME_MAX       128 /* name fields of the production rows, with NUL */
#define ZTM_DEV_SERIAL_MAX 65  /* device serial number (X.520 ub-serial-number 64), with NUL */

/* products.key_storage: "any" (0, the default) or "tpm". */
enum ztm_key_storage { ZTM_KEY_STORAGE_ANY, ZTM_KEY_STORAGE_TPM };
/* "any" / "tpm", or NULL for a value out of the enum. */
const char *ztm_key_storage_name(enum ztm_key_storage ks);
/* The enum of "any" / "tpm"; -1 (ZTM_E_USAGE naming the value) otherwise. */
int ztm_key_storage_parse(const char *name, enum ztm_key_storage *out, struct ztm_error *err);

struct ztm_product_row {
	int64_t id;
	char name[ZTM_NAME_MAX];
	char device_class[64];
	int64_t lifetime_days; /* operational certificate lifetime, 1..36500 */
	unsigned key_kinds;    /* allowed device key types: bit (1u << enum ztm_key_alg) */
	int require_fw_hash;   /* records must carry an approved firmware SHA-256 */
	int allow_injected;    /* records with key_origin injected are accepted */
	char hw_type_oid[64];  /* dotted OID, hardwareModuleName hwType (RFC 4108) */
	/* Re-enrollment (docs/lifecycle.md): renewal is allowed in the last
	 * renew_window_days (0..36500) of the current certificate, and up to
	 * renew_grace_days (0..3650, 0 = never) after it expired. */
	int64_t renew_window_days, renew_grace_days;
	int64_t created_at;
	/* Where device keys must live (docs/attestation.md, migration 8):
	 * ANY, or TPM = only a TPM-attested key registers. */
	enum ztm_key_storage key_storage;
};

enum ztm_order_state { ZTM_ORDER_OPEN, ZTM_ORDER_CLOSED };

struct ztm_order_row {
	int64_t id;
	char name[ZTM_NAME_MAX];
	int64_t product_id, factory_id;
	char product[ZTM_NAME_MAX], factory[ZTM_NAME_MAX]; /* filled by the getters */
	int64_t quota;                                     /* 1..10^9 devices */
	int64_t recorded;                                  /* records accepted against it */
	int64_t registered;            /* device certificates issued against it */
	int64_t not_before, not_after; /* window: not_before <= now < not_after */
	enum ztm_order_state state;
	int64_t closed_at, created_at;
};

/* One device as a station recorded it. */
struct ztm_record_row {
	int64_t id, batch_id, station_id, order_id;
	char serial[ZTM_DEV_SERIAL_MAX];
	char spki_sha256[ZTM_SHA256_HEX]; /* of the bootstrap key; unique */
	struct ztm_buf bootstrap_der;     /* the self-signed bootstrap certificate */
	char hw_rev[32];
	char mac[32];
	char fw_version[64];
	char fw_sha256[ZTM_SHA256_HEX]; /* "" when the station had none */
	enum ztm_test_result test_result;
	enum ztm_key_origin key_origin;
	enum ztm_record_kind kind;        /* new, or a replacement of a registered device */
	int64_t recorded_at, received_at; /* received_at: 0 = now on insert */
};

void ztm_record_row_init(struct ztm_record_row *row);
void ztm_record_row_free(struct ztm_record_row *row);

#define ZTM_DEVICE_STATE_TABLE(X)                                                                  \
	X(ZTM_DEVICE_MANUFACTURED, "manufactured")                                                 \
	X(ZTM_DEVICE_PROVISIONED, "provisioned")                                                   \
	X(ZTM_DEVICE_ACTIVE, "active")                                                             \
	X(ZTM_DEVICE_SUSPENDED, "suspended")                                                       \
	X(ZTM_DEVICE_REVOKED, "revoked")                                                           \
	X(ZTM_DEVICE_RETIRED, "retired")                                                           \
	X(ZTM_DEVICE_QUARANTINED, "quarantined")

enum ztm_device_state {
#define ZTM_X_DEV(e, s) e,
	ZTM_DEVICE_STATE_TABLE(ZTM_X_DEV)
#undef ZTM_X_DEV
	    ZTM_DEVICE_STATE_COUNT
};
const char *ztm_device_state_name(enum ztm_device_state s);
int ztm_device_state_parse(const char *name, enum ztm_device_state *out);

struct ztm_device_row {
	int64_t id;
	char serial[ZTM_DEV_SERIAL_MAX];
	int64_t product_id, record_id;
	enum ztm_device_state state;
	char key_spki_sha256[ZTM_SHA256_HEX]; /* operational key, "" until issued */
	char cert_serial[ZTM_SERIAL_HEX_MAX]; /* operational certificate, "" until issued */
	int64_t created_at, updated_at;
	int64_t owner_id;      /* 0 while the OEM holds it (migration 4) */
	int64_t registered_at; /* its current registration (the first, or the last replacement) */
	/* hex SHA-256 of the EK certificate of the TPM that attested its key
	 * (migration 9; docs/attestation.md "Re-key"), "" = none recorded */
	char ek_cert_sha256[ZTM_SHA256_HEX];
};

/* --- owners (migration 4) ------------------------------------------------- */
#define ZTM_ANCHOR_MAX 8192 /* an owner's trust anchor certificate, DER */

struct ztm_owner_row {
	int64_t id;
	char name[ZTM_NAME_MAX];
	uint8_t anchor_der[ZTM_ANCHOR_MAX];
	size_t anchor_len;
	char anchor_sha256[ZTM_SHA256_HEX]; /* hex SHA-256 of anchor_der */
	int64_t created_at;
};

/* --- lifecycle ------------------------------------------------------- */
/* Opens (creating if needed) and migrates to the current schema version. */
int ztm_store_open(const char *url, struct ztm_store **out, struct ztm_error *err);
void ztm_store_close(struct ztm_store *s);
int ztm_store_schema_version(struct ztm_store *s, int *out, struct ztm_error *err);

/* --- transactions and group commit ----------------------------------- */
int ztm_store_begin(struct ztm_store *s, struct ztm_error *err);
int ztm_store_commit(struct ztm_store *s, struct ztm_error *err);
void ztm_store_rollback(struct ztm_store *s);

struct ztm_store_job {
	int (*fn)(struct ztm_store *s, void *arg, struct ztm_error *err);
	void *arg;
	/* in: fn may run twice in one batch: it changes nothing but the
	 * store and err, and decides nothing on what its writes return
	 * except success. Such jobs run first, pipelined where the backend
	 * can (PostgreSQL: their writes are sent without waiting for each
	 * answer); if an answer is not what was assumed, the whole
	 * transaction is rolled back and every job runs again, one statement
	 * at a time (docs/store.md, "Pipelined group commit"). */
	int replayable;
	int rc;               /* out: fn's result, or -1 if the commit failed */
	struct ztm_error err; /* out */
};
/* Runs n jobs in one transaction with one durable commit; returns 0 if the
 * commit succeeded (each job's own rc says whether it did), -1 if nothing
 * was committed. Replayable jobs run before the others. */
int ztm_store_run_batch(struct ztm_store *s, struct ztm_store_job *jobs, size_t n,
                        struct ztm_error *err);
/* The same, but the commit need not wait for the disk (SQLite:
 * synchronous=NORMAL for this one transaction): it is atomic and visible
 * at once, survives a crash of the process, and is made durable by the
 * next durable commit of any process on the store (one WAL, appended in
 * order) -- only a power loss before that can undo it. For jobs whose
 * results are not answered to anyone before a later durable commit
 * (docs/store.md, "Commits that need not wait"). */
int ztm_store_run_batch_nosync(struct ztm_store *s, struct ztm_store_job *jobs, size_t n,
                               struct ztm_error *err);
/* Inside a transaction: its commit, even if it only read, waits until the
 * database holds everything committed before it as durably as a write of
 * this transaction (on PostgreSQL with a synchronous standby: confirmed by
 * the standby). For a job that answers with a row it only read, when that
 * row may come from a COMMIT whose answer was lost: such a commit may
 * exist only on the primary's disk (its standby wait cancelled with the
 * connection), and would be gone after a failover. SQLite: nothing to do
 * (a commit is durable once visible). docs/deployment.md, "Synchronous
 * standby and failover". */
int ztm_store_sync_barrier(struct ztm_store *s, struct ztm_error *err);

/* --- checkpoints (SQLite's write-ahead log; docs/store.md, "Checkpoints") -- */
/* The log after a checkpoint: frames (pages) it holds, and how many of them
 * are in the database file now. Both 0 when the log was just restarted. */
struct ztm_checkpoint_stat {
	int64_t wal_frames, checkpointed;
};
/* 1 if the backend has a log that ztm_store_checkpoint copies back (SQLite),
 * else 0 (PostgreSQL checkpoints itself). */
int ztm_store_has_checkpoints(const struct ztm_store *s);
/* Copies the committed log into the database file without waiting for
 * anyone: readers and the writer go on (SQLite's PASSIVE checkpoint; a
 * checkpoint another connection is running makes this one return 0 with
 * nothing done). Once the whole log is copied it also starts the log over
 * if, at that instant, no writer holds the lock and no reader reads from
 * the log (a RESTART that does not wait). st (may be NULL): the log after
 * the copy. Outside a transaction. Backends without checkpoints: 0, st
 * zero. */
int ztm_store_checkpoint(struct ztm_store *s, struct ztm_checkpoint_stat *st,
                         struct ztm_error *err);
/* This connection leaves checkpoints to another one that calls
 * ztm_store_checkpoint regularly, so its commits do not copy the log
 * (SQLite checkpoints in the committing connection every 1,000 pages by
 * default). It still does once the log passes ZTM_STORE_CHECKPOINT_FALLBACK
 * pages: should the other stop, the log stays bounded. No-op elsewhere. */
#define ZTM_STORE_CHECKPOINT_FALLBACK 16384
void ztm_store_checkpoint_elsewhere(struct ztm_store *s);

/* --- certificates ------------------------------------------------------ */
/* Inserts a reservation (state reserved) and sets row->crl_shard.
 * ZTM_E_EXISTS if the serial or the idempotency key is taken. */
int ztm_store_cert_reserve(struct ztm_store *s, struct ztm_cert_row *row, struct ztm_error *err);
/* reserved -> issued with its DER bytes. ZTM_E_CONFLICT if not reserved. */
int ztm_store_cert_issue(struct ztm_store *s, const char *serial, const uint8_t *der, size_t len,
                         struct ztm_error *err);
int ztm_store_cert_get(struct ztm_store *s, const char *serial, struct ztm_cert_row *out,
                       struct ztm_error *err);
int ztm_store_cert_by_idem(struct ztm_store *s, const char *idem_key, struct ztm_cert_row *out,
                           struct ztm_error *err);
/* reserved rows created before `before` -> abandoned; *n says how many. An
 * abandoned row keeps its idempotency key for the record, but the key is
 * free again: ztm_store_cert_by_idem no longer finds it, and a new
 * reservation may take it (a client retrying after a crash). */
int ztm_store_cert_recover(struct ztm_store *s, int64_t before, int64_t *n, struct ztm_error *err);
/* One reservation that will never be signed (the signature failed, or it is
 * older than any request can live) -> abandoned. ZTM_E_CONFLICT if the
 * serial is not reserved. */
int ztm_store_cert_abandon(struct ztm_store *s, const char *serial, struct ztm_error *err);
int ztm_store_cert_count(struct ztm_store *s, enum ztm_cert_state state, int64_t *n,
                         struct ztm_error *err);
/* Calls fn for each certificate in state (serial order); stops if fn != 0. */
int ztm_store_cert_each(struct ztm_store *s, enum ztm_cert_state state,
                        int (*fn)(const struct ztm_cert_row *row, void *arg), void *arg,
                        struct ztm_error *err);

/* --- revocation (docs/revocation.md, migration 3) ---------------------- */
/* RFC 5280 5.3.1 CRLReason codes ztm stores (removeFromCRL, 8, is only
 * ever a CRL-side notion, never stored). Stored by value, named by the
 * RFC's names. */
#define ZTM_REASON_TABLE(X)                                                                        \
	X(ZTM_REASON_UNSPECIFIED, 0, "unspecified")                                                \
	X(ZTM_REASON_KEY_COMPROMISE, 1, "keyCompromise")                                           \
	X(ZTM_REASON_CA_COMPROMISE, 2, "cACompromise")                                             \
	X(ZTM_REASON_AFFILIATION_CHANGED, 3, "affiliationChanged")                                 \
	X(ZTM_REASON_SUPERSEDED, 4, "superseded")                                                  \
	X(ZTM_REASON_CESSATION, 5, "cessationOfOperation")                                         \
	X(ZTM_REASON_HOLD, 6, "certificateHold")                                                   \
	X(ZTM_REASON_PRIVILEGE_WITHDRAWN, 9, "privilegeWithdrawn")                                 \
	X(ZTM_REASON_AA_COMPROMISE, 10, "aACompromise")

enum ztm_reason {
#define ZTM_X_REASON(e, v, s) e = v,
	ZTM_REASON_TABLE(ZTM_X_REASON)
#undef ZTM_X_REASON
};
/* NULL for a value that is not in the table. */
const char *ztm_reason_name(int reason);
/* By RFC name, case-insensitive; -1 if unknown. */
int ztm_reason_parse(const char *name, enum ztm_reason *out);

/* The current revocation of one certificate (a row of `revocations`). */
struct ztm_revocation {
	char serial[ZTM_SERIAL_HEX_MAX];
	char ca[32];
	int64_t crl_shard;
	enum ztm_reason reason; /* ZTM_REASON_HOLD while suspended */
	int64_t revoked_at;     /* revocationDate, Unix seconds */
	int64_t seq;            /* revocation_log sequence of its last change */
};

/* One change, from the append-only revocation_log: the change feed that
 * CRL and OCSP caches follow. seq only grows. */
enum ztm_rev_action { ZTM_REV_REVOKE, ZTM_REV_HOLD, ZTM_REV_RESUME };
struct ztm_revocation_event {
	int64_t seq, ts;
	char serial[ZTM_SERIAL_HEX_MAX];
	char ca[32];
	int64_t crl_shard;
	enum ztm_rev_action action;
	enum ztm_reason reason; /* the reason after the change (resume: the hold it lifted) */
	char actor[128];
};

/* What a relying party is told about one serial of one CA (OCSP). */
enum ztm_cert_status { ZTM_STATUS_GOOD, ZTM_STATUS_REVOKED, ZTM_STATUS_UNKNOWN };
struct ztm_cert_status_row {
	enum ztm_cert_status status;
	int64_t not_after;         /* GOOD and REVOKED */
	struct ztm_revocation rev; /* REVOKED only */
};

/* Revokes one certificate (issued, or reserved and not yet issued: then it
 * can never be issued) with reason at time `when` (Unix seconds, >= 1), by
 * actor (an operator name or "system:..."), in one transaction with its log
 * entry. ZTM_REASON_HOLD suspends. Repeating a revocation changes nothing
 * and succeeds (*changed = 0): the first reason and time stand, except that
 * a hold may become any final reason (keeping the hold's time). Unknown or
 * abandoned serial: ZTM_E_NOTFOUND. changed may be NULL. */
int ztm_store_cert_revoke(struct ztm_store *s, const char *serial, enum ztm_reason reason,
                          int64_t when, const char *actor, int *changed, struct ztm_error *err);
/* Revokes every certificate of one owner (owner_kind "device", "station",
 * "operator"; owner_id its row id) that is reserved or issued, each as
 * ztm_store_cert_revoke does, all in one transaction; *n (may be NULL) counts
 * the certificates that changed. A reservation in flight is revoked too, so a
 * registration racing this call cannot issue afterwards. */
int ztm_store_owner_revoke(struct ztm_store *s, const char *owner_kind, int64_t owner_id,
                           enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                           struct ztm_error *err);
/* Lifts a hold (the certificate is good again). ZTM_E_CONFLICT if it is not
 * on hold (never revoked, or revoked for good); ZTM_E_NOTFOUND if unknown. */
int ztm_store_cert_resume(struct ztm_store *s, const char *serial, const char *actor,
                          struct ztm_error *err);
/* Status of serial as issued by CA ca: REVOKED if it has a revocation (hold
 * included), GOOD if issued, UNKNOWN otherwise (not ours, another CA's,
 * reserved, abandoned). */
int ztm_store_cert_status(struct ztm_store *s, const char *ca, const char *serial,
                          struct ztm_cert_status_row *out, struct ztm_error *err);
/* fn(arg) is called on this connection after each transaction that appended
 * to the revocation log has ended, so a reader of the log can look now rather
 * than at its next poll (ztmd's OCSP cache in every worker). Only changes
 * made through this connection are announced. fn NULL: none. */
void ztm_store_on_revocation(struct ztm_store *s, void (*fn)(void *arg), void *arg);
/* The newest revocation_log sequence number (0 if empty). */
int ztm_store_revocation_seq(struct ztm_store *s, int64_t *seq, struct ztm_error *err);
/* Calls fn for each change with seq > since, oldest first, at most limit
 * (0: all); stops when fn returns non-zero. */
int ztm_store_revocation_changes(struct ztm_store *s, int64_t since, int64_t limit,
                                 int (*fn)(const struct ztm_revocation_event *ev, void *arg),
                                 void *arg, struct ztm_error *err);
/* Calls fn for each current revocation of CA ca in shard crl_shard (serial
 * order); stops when fn returns non-zero. */
int ztm_store_revocations_each(struct ztm_store *s, const char *ca, int64_t crl_shard,
                               int (*fn)(const struct ztm_revocation *rev, void *arg), void *arg,
                               struct ztm_error *err);

/* --- revocation operations (docs/revocation.md, migration 4) ---------- */
/* Revokes a device: every certificate it has (reserved ones too, so a
 * registration in flight cannot issue afterwards) with reason, and its
 * state -> revoked, in one transaction; *n (may be NULL) counts the
 * certificates that changed. Revoking a revoked device succeeds (sweeping
 * again). A retired device is ZTM_E_CONFLICT; reason certificateHold is
 * ZTM_E_USAGE (that is ztm_store_device_suspend); unknown: ZTM_E_NOTFOUND. */
int ztm_store_device_revoke(struct ztm_store *s, const char *serial, enum ztm_reason reason,
                            int64_t when, const char *actor, int64_t *n, struct ztm_error *err);
/* active or provisioned -> suspended, its current certificate on hold
 * (certificateHold). ZTM_E_CONFLICT from any other state. */
int ztm_store_device_suspend(struct ztm_store *s, const char *serial, int64_t when,
                             const char *actor, struct ztm_error *err);
/* suspended -> active, the hold lifted. ZTM_E_CONFLICT otherwise. */
int ztm_store_device_resume(struct ztm_store *s, const char *serial, const char *actor,
                            struct ztm_error *err);

/* Mass revocation (DESIGN 4: needs a second person): a request names every
 * device resting on a record made by one station, or for one work order,
 * with recorded_at in [from, to]; a different operator approves it and it
 * runs at once. */
enum ztm_mass_selector { ZTM_MASS_STATION, ZTM_MASS_ORDER };
enum ztm_mass_state { ZTM_MASS_PENDING, ZTM_MASS_EXECUTED, ZTM_MASS_REJECTED };
struct ztm_mass_row {
	int64_t id;
	enum ztm_mass_selector selector;
	int64_t target_id;      /* station or work order id */
	char target[260];       /* "factory/station" or the order name, for people */
	int64_t from, to;       /* window, inclusive: recorded_at or received_at in it */
	enum ztm_reason reason; /* never certificateHold */
	char requested_by[128];
	int64_t requested_at;
	int64_t preview; /* devices the window matched when requested */
	enum ztm_mass_state state;
	char decided_by[128];
	int64_t decided_at;
	int64_t devices, certificates; /* what the execution changed */
};
const char *ztm_mass_state_name(enum ztm_mass_state st);
/* Inserts a pending request from row (selector .. requested_at); sets
 * row->id, row->preview and row->state. ZTM_E_USAGE for an empty window, a
 * hold or an unknown reason, an empty actor. */
int ztm_store_mass_request(struct ztm_store *s, struct ztm_mass_row *row, struct ztm_error *err);
int ztm_store_mass_get(struct ztm_store *s, int64_t id, struct ztm_mass_row *out,
                       struct ztm_error *err);
/* Approves (and executes, in the same transaction) or rejects a pending
 * request, by `who` at `when`; *out is the request afterwards. Approval by
 * the requester is ZTM_E_DENIED (two-person rule); a request no longer
 * pending is ZTM_E_CONFLICT. Executing revokes each matched device as
 * ztm_store_device_revoke does; a matched record whose device never
 * registered gets a device row in state revoked, so it never can. */
int ztm_store_mass_decide(struct ztm_store *s, int64_t id, int approve, const char *who,
                          int64_t when, struct ztm_mass_row *out, struct ztm_error *err);

/* --- Firmware signers and releases (docs/firmware.md, migration 7) ----- */
enum ztm_fw_state { ZTM_FW_PENDING, ZTM_FW_SIGNED, ZTM_FW_REVOKED };
const char *ztm_fw_state_name(enum ztm_fw_state st);
int ztm_fw_state_parse(const char *name, enum ztm_fw_state *out);
#define ZTM_FW_CERT_MAX 8192
struct ztm_fw_signer_row {
	int64_t id, product_id;
	int channel; /* enum ztm_fw_channel: 0 production, 1 test */
	char key_uri[1024];
	char cert_serial[ZTM_SERIAL_HEX_MAX];
	uint8_t cert_der[ZTM_FW_CERT_MAX];
	size_t cert_len;
	char created_by[128];
	int64_t created_at, retired_at; /* retired_at 0: active */
};
struct ztm_fw_release_row {
	int64_t id, product_id;
	char version[65];
	int64_t security_version, size;
	char sha256[ZTM_SHA256_HEX];
	int channel;       /* enum ztm_fw_channel */
	int imported;      /* from the old approved_firmware list: never signed by ztmd */
	int64_t signer_id; /* 0 until signed */
	char submitted_by[128];
	int64_t submitted_at;
	char approved_by[128]; /* "" for test releases */
	int64_t approved_at, signed_at;
	enum ztm_fw_state state;
	char revoked_by[128];
	int64_t revoked_at;
	char revoke_reason[256];
};
/* Adds an active signer (sets row->id). ZTM_E_EXISTS when the product
 * already has an active signer for that channel. */
int ztm_store_fw_signer_add(struct ztm_store *s, struct ztm_fw_signer_row *row,
                            struct ztm_error *err);
int ztm_store_fw_signer_get(struct ztm_store *s, int64_t id, struct ztm_fw_signer_row *out,
                            struct ztm_error *err);
/* The active signer of a product and channel; ZTM_E_NOTFOUND if none. */
int ztm_store_fw_signer_active(struct ztm_store *s, int64_t product_id, int channel,
                               struct ztm_fw_signer_row *out, struct ztm_error *err);
/* Every signer (product_id 0) or a product's, oldest first. */
int ztm_store_fw_signer_each(struct ztm_store *s, int64_t product_id,
                             int (*fn)(const struct ztm_fw_signer_row *row, void *arg), void *arg,
                             struct ztm_error *err);
/* Retires an active signer; ZTM_E_CONFLICT if already retired. */
int ztm_store_fw_signer_retire(struct ztm_store *s, int64_t id, int64_t when,
                               struct ztm_error *err);
/* The lowest security_version a new release of the product may carry: the
 * highest of its production releases ever signed (revoked ones too), 0 if
 * none. */
int ztm_store_fw_svn_floor(struct ztm_store *s, int64_t product_id, int64_t *floor,
                           struct ztm_error *err);
/* Inserts a pending release from row (product_id .. submitted_at); sets
 * row->id. ZTM_E_EXISTS for a version the product has; ZTM_E_POLICY for a
 * security_version below ztm_store_fw_svn_floor. */
int ztm_store_fw_release_add(struct ztm_store *s, struct ztm_fw_release_row *row,
                             struct ztm_error *err);
int ztm_store_fw_release_get(struct ztm_store *s, int64_t id, struct ztm_fw_release_row *out,
                             struct ztm_error *err);
/* Appends the release's CMS and/or manifest bytes (either may be NULL);
 * ZTM_E_CONFLICT when it is not signed. */
int ztm_store_fw_release_blobs(struct ztm_store *s, int64_t id, struct ztm_buf *cms,
                               struct ztm_buf *manifest, struct ztm_error *err);
/* Stores the signatures of a pending release and marks it signed. The
 * signer must be the active signer of the release's product and channel
 * (ZTM_E_POLICY: a test key never signs production). A production release
 * needs approver, who is not the submitter (ZTM_E_DENIED); a test release
 * takes none. The svn floor is checked again (ZTM_E_POLICY). */
int ztm_store_fw_release_sign(struct ztm_store *s, int64_t id, int64_t signer_id,
                              const char *approver, int64_t when, const uint8_t *cms,
                              size_t cms_len, const uint8_t *manifest, size_t manifest_len,
                              struct ztm_error *err);
/* Revokes a pending or signed release (a pending one is thereby rejected);
 * ZTM_E_CONFLICT if already revoked. reason: 1-255 bytes. */
int ztm_store_fw_release_revoke(struct ztm_store *s, int64_t id, const char *who,
                                const char *reason, int64_t when, struct ztm_error *err);
struct ztm_fw_filter {
	int64_t product_id; /* 0: all */
	int channel;        /* -1: all */
	int state;          /* -1: all, else enum ztm_fw_state */
	int64_t limit;      /* 0: 1000 */
};
/* Releases matching f, newest first. */
int ztm_store_fw_release_each(struct ztm_store *s, const struct ztm_fw_filter *f,
                              int (*fn)(const struct ztm_fw_release_row *row, void *arg), void *arg,
                              struct ztm_error *err);

/* --- CRLs (docs/revocation.md, migration 4) ---------------------------- */
/* The current CRL of one (CA, shard); number 0 = never built. */
struct ztm_crl_row {
	char ca[32];
	int64_t shard;
	int64_t number;                   /* cRLNumber; only grows */
	int64_t built_seq;                /* revocation_log seq it reflects */
	int64_t this_update, next_update; /* Unix seconds */
	struct ztm_buf der;               /* empty while never built */
};
void ztm_crl_row_init(struct ztm_crl_row *row);
void ztm_crl_row_free(struct ztm_crl_row *row);
/* Calls fn for each CRL shard of CA ca that has certificates (ascending);
 * stops when fn returns non-zero. */
int ztm_store_crl_shards(struct ztm_store *s, const char *ca, int (*fn)(int64_t shard, void *arg),
                         void *arg, struct ztm_error *err);
/* The stored CRL (der included when want_der). ZTM_E_NOTFOUND if none was
 * built yet. */
int ztm_store_crl_get(struct ztm_store *s, const char *ca, int64_t shard, int want_der,
                      struct ztm_crl_row *out, struct ztm_error *err);
/* Claims the regeneration of (ca, shard) for `holder` until now + lease if
 * it is due: never built, a revocation_log change for it newer than the
 * stored CRL, or now >= next_update - refresh. *got = 1 when claimed (then
 * *number is the number the new CRL must carry and *seq the revocation_log
 * sequence it is built from: read every revocation after this call); 0
 * when not due or another holder's claim is live. */
int ztm_store_crl_claim(struct ztm_store *s, const char *ca, int64_t shard, const char *holder,
                        int64_t now, int64_t lease, int64_t refresh, int *got, int64_t *number,
                        int64_t *seq, struct ztm_error *err);
/* Stores the CRL built under a claim and releases it, in one transaction:
 * row->number must be the stored number + 1 (ZTM_E_CONFLICT otherwise, or
 * when the claim is no longer holder's). */
int ztm_store_crl_put(struct ztm_store *s, const struct ztm_crl_row *row, const char *holder,
                      struct ztm_error *err);

/* --- factories, stations, operators ----------------------------------- */
int ztm_store_factory_add(struct ztm_store *s, const char *name, int64_t *id,
                          struct ztm_error *err);
int ztm_store_factory_get(struct ztm_store *s, const char *name, int64_t *id,
                          struct ztm_error *err);
int ztm_store_station_add(struct ztm_store *s, int64_t factory_id, const char *name, int64_t *id,
                          struct ztm_error *err);
int ztm_store_station_get(struct ztm_store *s, int64_t id, struct ztm_station_row *out,
                          struct ztm_error *err);
int ztm_store_station_find(struct ztm_store *s, const char *factory, const char *name,
                           struct ztm_station_row *out, struct ztm_error *err);
/* pending/enrolled -> enrolled with this certificate. */
int ztm_store_station_set_cert(struct ztm_store *s, int64_t id, const char *serial,
                               struct ztm_error *err);
/* -> revoked, with revoked_at = when (Unix seconds, >= 1, else ZTM_E_USAGE):
 * records the station made at or after it no longer vet. Revoking a revoked
 * station succeeds and keeps the earlier time, so a second revocation can
 * only widen the voided range. The station's current certificate is
 * revoked too, with `reason` (never certificateHold: ZTM_E_USAGE) by `actor`
 * (both as ztm_store_owner_revoke; a certificate already revoked keeps its
 * first reason). They appear on the station CA's CRL. ZTM_E_NOTFOUND for an
 * unknown id. */
int ztm_store_station_revoke(struct ztm_store *s, int64_t id, int64_t when, enum ztm_reason reason,
                             const char *actor, struct ztm_error *err);
int ztm_store_operator_add(struct ztm_store *s, const char *name, enum ztm_role role, int64_t *id,
                           struct ztm_error *err);
int ztm_store_operator_get(struct ztm_store *s, int64_t id, struct ztm_operator_row *out,
                           struct ztm_error *err);
int ztm_store_operator_set_cert(struct ztm_store *s, int64_t id, const char *serial,
                                struct ztm_error *err);
/* Looks up the owner of an issued certificate by CA name and serial. */
int ztm_store_principal_by_cert(struct ztm_store *s, const char *ca, const char *serial,
                                struct ztm_principal *out, struct ztm_error *err);

/* --- one-time enrollment codes ---------------------------------------- */
/* Only the SHA-256 of a code is stored, never the code. */
int ztm_store_code_add(struct ztm_store *s, const uint8_t hash[32], enum ztm_code_kind kind,
                       int64_t subject_id, int64_t expires_at, struct ztm_error *err);
/* Atomically claims a code for the key with SPKI hash `spki` at time `now`:
 * unused and unexpired -> marked used by spki; already used by the same spki
 * -> success too (a retry: out->cert_serial names what was issued, if
 * anything); anything else -> ZTM_E_AUTH, with nothing changed. */
int ztm_store_code_claim(struct ztm_store *s, const uint8_t hash[32], const char *spki, int64_t now,
                         struct ztm_code_row *out, struct ztm_error *err);
int ztm_store_code_bind(struct ztm_store *s, const uint8_t hash[32], const char *serial,
                        struct ztm_error *err);

/* --- audit --------------------------------------------------------------- */
/* Appends one audit entry. outcome: "ok" or an error name. detail: short
 * free text, never a secret. */
int ztm_store_audit(struct ztm_store *s, const char *actor, const char *action, const char *object,
                    const char *outcome, const char *detail, struct ztm_error *err);
int ztm_store_audit_count(struct ztm_store *s, int64_t *n, struct ztm_error *err);

/* --- products and work orders ------------------------------------------ */
/* Inserts row (id, created_at ignored). ZTM_E_EXISTS if the name is taken,
 * ZTM_E_USAGE for a field out of range. */
int ztm_store_product_add(struct ztm_store *s, const struct ztm_product_row *row, int64_t *id,
                          struct ztm_error *err);
int ztm_store_product_get(struct ztm_store *s, const char *name, struct ztm_product_row *out,
                          struct ztm_error *err);
/* Inserts an open order for row's product_id and factory_id with counters 0.
 * ZTM_E_NOTFOUND for an unknown product or factory, ZTM_E_EXISTS for a
 * taken name, ZTM_E_USAGE for a quota outside 1..10^9 or an empty window. */
int ztm_store_order_add(struct ztm_store *s, const struct ztm_order_row *row, int64_t *id,
                        struct ztm_error *err);
int ztm_store_order_get(struct ztm_store *s, const char *name, struct ztm_order_row *out,
                        struct ztm_error *err);
int ztm_store_order_get_id(struct ztm_store *s, int64_t id, struct ztm_order_row *out,
                           struct ztm_error *err);
/* open -> closed at `when`; closing a closed order succeeds and keeps the
 * first time. */
int ztm_store_order_close(struct ztm_store *s, const char *name, int64_t when,
                          struct ztm_error *err);
/* The quota operations: one conditional UPDATE each, atomic across
 * processes. recorded (registered) += 1 iff the order is open, now is in
 * its window and the counter is below quota; else ZTM_E_POLICY ("order
 * closed", "outside its window", "quota exhausted") or ZTM_E_NOTFOUND,
 * nothing changed. */
int ztm_store_order_take_record_slot(struct ztm_store *s, int64_t order_id, int64_t now,
                                     struct ztm_error *err);
/* n (1..INT32_MAX) record slots at once, all or none: recorded += n iff the
 * order is open, in its window and recorded + n <= quota (one statement, as
 * above). The refusals are the same; which of the n would have crossed the
 * quota is for the caller to find (one slot at a time). */
int ztm_store_order_take_record_slots(struct ztm_store *s, int64_t order_id, int64_t n, int64_t now,
                                      struct ztm_error *err);
int ztm_store_order_take_registration(struct ztm_store *s, int64_t order_id, int64_t now,
                                      struct ztm_error *err);

/* --- station records and their batches --------------------------------- */
/* Inserts a batch by the hex SHA-256 of its signed bytes. ZTM_E_EXISTS when
 * that hash was stored before (an upload retried): *id is then the first
 * upload's id. */
int ztm_store_batch_add(struct ztm_store *s, int64_t station_id, const char *hash,
                        int64_t n_records, int64_t *id, struct ztm_error *err);
/* Inserts a record. A bootstrap key recorded before is ZTM_E_EXISTS unless
 * the earlier record has the same station and serial: then it is a repeat
 * (success, *id the earlier row, *repeat = 1, nothing written). A caller
 * takes the order's record slot only when *repeat == 0. */
int ztm_store_record_add(struct ztm_store *s, const struct ztm_record_row *row, int64_t *id,
                         int *repeat, struct ztm_error *err);
int ztm_store_record_by_spki(struct ztm_store *s, const char *spki, struct ztm_record_row *out,
                             struct ztm_error *err);

/* --- devices, approved firmware, alerts -------------------------------- */
/* Inserts a device (row's serial, product_id, record_id, state and keys).
 * ZTM_E_EXISTS if the serial is known. */
int ztm_store_device_add(struct ztm_store *s, const struct ztm_device_row *row, int64_t *id,
                         struct ztm_error *err);
int ztm_store_device_get(struct ztm_store *s, const char *serial, struct ztm_device_row *out,
                         struct ztm_error *err);
/* The device owning a device-CA certificate, issued or revoked (its
 * current one, or an earlier one: compare out->cert_serial). *cert_revoked
 * says whether that certificate is revoked. ZTM_E_NOTFOUND otherwise. */
int ztm_store_device_by_cert(struct ztm_store *s, const char *cert_serial,
                             struct ztm_device_row *out, int *cert_revoked, struct ztm_error *err);
/* Number of devices in state. */
int ztm_store_device_count(struct ztm_store *s, enum ztm_device_state state, int64_t *n,
                           struct ztm_error *err);
/* Sets the state (and the certificate and its key when not NULL). The
 * caller decides which transitions are allowed. */
int ztm_store_device_set_state(struct ztm_store *s, const char *serial, enum ztm_device_state state,
                               const char *cert_serial, const char *key_spki,
                               struct ztm_error *err);
/* --- device lifecycle (docs/lifecycle.md, migration 4) ----------------- */
/* Sets a product's certificate policy and key storage (an enum
 * ztm_key_storage); a value < 0 keeps the stored one.
 * ZTM_E_NOTFOUND for an unknown product, ZTM_E_USAGE out of range. */
int ztm_store_product_set_policy(struct ztm_store *s, const char *name, int64_t lifetime_days,
                                 int64_t renew_window_days, int64_t renew_grace_days,
                                 int key_storage, struct ztm_error *err);
/* A product by its row id (a device's product_id). */
int ztm_store_product_get_id(struct ztm_store *s, int64_t id, struct ztm_product_row *out,
                             struct ztm_error *err);
/* A replacement registration: the device row moves to the record and the
 * new key, state manufactured (registration under way), no certificate,
 * registered_at = now. ZTM_E_NOTFOUND for an unknown serial. */
int ztm_store_device_replace(struct ztm_store *s, const char *serial, int64_t record_id,
                             const char *key_spki, struct ztm_error *err);
/* Revokes every reserved or issued certificate of one owner except `keep`
 * (a serial, or NULL), as ztm_store_owner_revoke does: a re-key revokes the
 * device's older certificates in the commit that records the new one. */
int ztm_store_owner_revoke_except(struct ztm_store *s, const char *owner_kind, int64_t owner_id,
                                  const char *keep, enum ztm_reason reason, int64_t when,
                                  const char *actor, int64_t *n, struct ztm_error *err);

/* Imports a firmware SHA-256 (hex) as an approved release of a product
 * without a ztmd signature (origin 'imported', version "imported-<16 hex>";
 * again: success): how deployments from before issue 5 and benchmarks
 * approve a hash. Signed releases come from ztm_store_fw_release_*. */
int ztm_store_firmware_approve(struct ztm_store *s, int64_t product_id, const char *sha256,
                               struct ztm_error *err);
/* *yes = 1 if sha256 is a signed, unrevoked release of that product
 * (vetting, docs/vetting.md). */
int ztm_store_firmware_approved(struct ztm_store *s, int64_t product_id, const char *sha256,
                                int *yes, struct ztm_error *err);
/* Appends an alert: kind ("clone", "overbuild", "unrecorded",
 * "revoked-station", "replay", ...), the device serial or "", detail. */
int ztm_store_alert(struct ztm_store *s, const char *kind, const char *serial, const char *detail,
                    struct ztm_error *err);
/* Number of alerts of that kind (NULL: all). */
int ztm_store_alert_count(struct ztm_store *s, const char *kind, int64_t *n, struct ztm_error *err);

/* --- owners, ownership and vouchers (migration 3) ----------------------- */
/* Inserts an owner with its trust anchor (DER, 1..ZTM_ANCHOR_MAX bytes;
 * the caller has parsed it). ZTM_E_EXISTS for a taken name. */
int ztm_store_owner_add(struct ztm_store *s, const char *name, const uint8_t *der, size_t len,
                        int64_t *id, struct ztm_error *err);
int ztm_store_owner_get(struct ztm_store *s, const char *name, struct ztm_owner_row *out,
                        struct ztm_error *err);
int ztm_store_owner_get_id(struct ztm_store *s, int64_t id, struct ztm_owner_row *out,
                           struct ztm_error *err);
/* Calls fn for each owner (name order); stops if fn != 0. */
int ztm_store_owner_each(struct ztm_store *s, int (*fn)(const struct ztm_owner_row *row, void *arg),
                         void *arg, struct ztm_error *err);
/* An operator of role owner acting for owner_id. ZTM_E_EXISTS for a taken
 * name, ZTM_E_NOTFOUND for an unknown owner. */
int ztm_store_owner_operator_add(struct ztm_store *s, const char *name, int64_t owner_id,
                                 int64_t *id, struct ztm_error *err);
/* devices.owner_id = owner_id. ZTM_E_NOTFOUND for an unknown device or owner. */
int ztm_store_device_set_owner(struct ztm_store *s, const char *serial, int64_t owner_id,
                               struct ztm_error *err);
/* Devices in id order after after_id, at most limit of them, only those of
 * owner_id when it is not 0; stops if fn != 0. */
int ztm_store_device_each(struct ztm_store *s, int64_t owner_id, int64_t after_id, int64_t limit,
                          int (*fn)(const struct ztm_device_row *row, void *arg), void *arg,
                          struct ztm_error *err);
/* Appends a record of a signed voucher (hex SHA-256 of its DER).
 * ZTM_E_CONFLICT if the device has one created at or after created_on: a
 * device refuses a voucher not newer than the one it holds. */
int ztm_store_voucher_add(struct ztm_store *s, int64_t device_id, int64_t owner_id,
                          int64_t created_on, int64_t expires_on, const char *sha256,
                          const char *actor, struct ztm_error *err);
/* Number of vouchers recorded for a device (0 = all devices). */
int ztm_store_voucher_count(struct ztm_store *s, int64_t device_id, int64_t *n,
                            struct ztm_error *err);

/* --- TPM attestation challenges (docs/attestation.md, migration 8) ----- */
#define ZTM_ATTEST_NAME_MAX 66 /* a TPM object name: nameAlg (2) + digest */

/* Only hashes and the AK's public name: a reader of the table learns
 * nothing that answers a challenge. */
struct ztm_attest_challenge_row {
	uint8_t cred_hash[32];                /* SHA-256 of the credential (the key of the row) */
	char key_spki[ZTM_SHA256_HEX];        /* hex SHA-256 of the bootstrap key's SPKI */
	uint8_t ak_name[ZTM_ATTEST_NAME_MAX]; /* name(AK): nameAlg || H(TPMT_PUBLIC) */
	size_t ak_name_len;                   /* 2 + 32..64 */
	char ek_cert_sha256[ZTM_SHA256_HEX];  /* hex SHA-256 of the EK certificate DER */
	int64_t created_at, expires_at;       /* seconds; expires_at > created_at */
	int64_t used_at;                      /* 0 while unused */
};

/* Inserts row (used_at ignored: unused) and deletes the challenges that
 * expired more than a day before row->created_at. ZTM_E_EXISTS for a
 * credential hash already stored, ZTM_E_USAGE for a field out of range. */
int ztm_store_attest_challenge_add(struct ztm_store *s, const struct ztm_attest_challenge_row *row,
                                   struct ztm_error *err);
/* The challenge whose credential hashes to cred_hash; ZTM_E_NOTFOUND. */
int ztm_store_attest_challenge_get(struct ztm_store *s, const uint8_t cred_hash[32],
                                   struct ztm_attest_challenge_row *out, struct ztm_error *err);
/* Marks it used at now: one conditional UPDATE (unused and now <
 * expires_at), so of two requests answering one challenge only one
 * passes. ZTM_E_NOTFOUND for an unknown hash, ZTM_E_CONFLICT when already
 * used, ZTM_E_AUTH when expired; nothing changed then. */
int ztm_store_attest_challenge_use(struct ztm_store *s, const uint8_t cred_hash[32], int64_t now,
                                   struct ztm_error *err);
/* Records on device serial the hex SHA-256 of the EK certificate whose TPM
 * attested its key (migration 9). ZTM_E_NOTFOUND for an unknown serial,
 * ZTM_E_USAGE for a hash that is not 64 lower-case hex digits. */
int ztm_store_device_set_ek(struct ztm_store *s, const char *serial, const char *ek_cert_sha256,
                            struct ztm_error *err);

#endif
