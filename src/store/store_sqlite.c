/* store_sqlite.c - the SQLite store backend: opening, pragmas, the statement
 * cache, transactions and savepoints, error mapping (docs/store.md).
 *
 * The calls themselves live in store_sqlite_cert.c (certificates),
 * store_sqlite_org.c (factories, stations, operators, principals) and
 * store_sqlite_code.c (enrollment codes, audit); the schema in
 * migrations_sqlite.c. */
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ztm/str.h"

sqlite3_stmt *sq_stmt(struct sq_store *s, const struct sq_query *q, struct ztm_error *err)
{
	sqlite3_stmt *st = s->stmt[q->slot];
	int rc;

	if (st != NULL) {
		/* A cached statement still stepping means a callback (cert_each)
		 * called back into the store with the same query: resetting it
		 * under the caller would silently end its iteration. */
		if (sqlite3_stmt_busy(st)) {
			ztm_error_set(err, ZTM_E_USAGE,
			              "store: re-entrant use of a running statement");
			return NULL;
		}
		return st;
	}
	/* PERSISTENT: the statement lives as long as the connection, which
	 * tells SQLite not to take it from its lookaside allocator. */
	rc = sqlite3_prepare_v3(s->db, q->sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		sq_fail(s, err, rc, "preparing store statement %d", (int)q->slot);
		sqlite3_finalize(st);
		return NULL;
	}
	s->stmt[q->slot] = st;
	return st;
}

void sq_reset(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int sq_bind(sqlite3_stmt *st, const char *fmt, ...)
{
	va_list ap;
	int i, rc = SQLITE_OK;

	va_start(ap, fmt);
	for (i = 1; fmt[i - 1] != '\0' && rc == SQLITE_OK; i++) {
		switch (fmt[i - 1]) {
		case 't':
			rc = sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_STATIC);
			break;
		case 'i':
			rc = sqlite3_bind_int64(st, i, (sqlite3_int64)va_arg(ap, int64_t));
			break;
		case 'b': {
			const uint8_t *p = va_arg(ap, const uint8_t *);
			size_t n = va_arg(ap, size_t);
			rc = n > 0x7fffffff ? SQLITE_TOOBIG
			                    : sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
			break;
		}
		case 'h':
			rc = sqlite3_bind_blob(st, i, va_arg(ap, const uint8_t *), 32,
			                       SQLITE_STATIC);
			break;
		case 'x': {
			const char *hex = va_arg(ap, const char *);
			uint8_t b[32];
			if (hex[0] == '\0')
				rc = sqlite3_bind_zeroblob(st, i, 0);
			else if (strlen(hex) != 2 * sizeof(b) || ztm_unhex(hex, sizeof(b), b) != 0)
				rc = SQLITE_MISUSE;
			else
				rc = sqlite3_bind_blob(st, i, b, sizeof(b), SQLITE_TRANSIENT);
			break;
		}
		default:
			rc = SQLITE_MISUSE;
			break;
		}
	}
	va_end(ap);
	return rc;
}

static enum ztm_err map_code(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return ZTM_E_EXISTS;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return ZTM_E_NOTFOUND;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return ZTM_E_USAGE;
	case SQLITE_CONSTRAINT_TRIGGER:
		return ZTM_E_CONFLICT;
	default:
		return (rc & 0xff) == SQLITE_CONSTRAINT ? ZTM_E_EXISTS : ZTM_E_STORE;
	}
}

int sq_is_unique(int rc)
{
	return map_code(rc) == ZTM_E_EXISTS;
}

int sq_fail(struct sq_store *s, struct ztm_error *err, int rc, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* sqlite3_errmsg describes the last failing call on the connection;
	 * callers come here straight from it, before any reset. */
	return ztm_error_set(err, map_code(rc), "%s: %s (sqlite %d)", what,
	                     s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc), rc);
}

int sq_step_done(struct sq_store *s, sqlite3_stmt *st, struct ztm_error *err, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "%s", what);
		sq_reset(st);
		return -1;
	}
	sq_reset(st);
	return 0;
}

int sq_col_text(sqlite3_stmt *st, int col, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return ztm_strlcpy(dst, t != NULL ? (const char *)t : "", n);
}

int sq_col_hex(sqlite3_stmt *st, int col, char *dst, size_t n)
{
	const uint8_t *p;
	size_t len;

	/* The type first: asking for the blob would convert text. */
	if (sqlite3_column_type(st, col) != SQLITE_BLOB)
		return -1;
	p = sqlite3_column_blob(st, col);
	len = (size_t)sqlite3_column_bytes(st, col);
	if (2 * len + 1 > n)
		return -1;
	ztm_hex(p, len, dst);
	return 0;
}

/* --- transactions ------------------------------------------------------ */

/* BEGIN IMMEDIATE takes the write lock at once, waiting up to the busy
 * timeout. A DEFERRED transaction would read first and upgrade later; two
 * processes doing that wait on each other and one of them gets SQLITE_BUSY
 * at once, which no timeout cures. */
static const struct sq_query q_begin = {SQ_BEGIN, "BEGIN IMMEDIATE"};
static const struct sq_query q_commit = {SQ_COMMIT, "COMMIT"};
static const struct sq_query q_rollback = {SQ_ROLLBACK, "ROLLBACK"};
static const struct sq_query q_savepoint = {SQ_SAVEPOINT, "SAVEPOINT ztm_job"};
static const struct sq_query q_release = {SQ_RELEASE, "RELEASE ztm_job"};
static const struct sq_query q_rollback_to = {SQ_ROLLBACK_TO, "ROLLBACK TO ztm_job"};

static int run_simple(struct sq_store *s, const struct sq_query *q, struct ztm_error *err,
                      const char *what)
{
	sqlite3_stmt *st = sq_stmt(s, q, err);

	if (st == NULL)
		return -1;
	return sq_step_done(s, st, err, what);
}

/* Inside begin()..commit(), SQLite may have rolled the transaction back on
 * its own after an I/O or full-disk error. Anything run after that would
 * land in autocommit mode, and commit() would report success for jobs whose
 * work is gone: refuse instead. */
static int txn_alive(struct sq_store *s, struct ztm_error *err)
{
	if (sqlite3_get_autocommit(s->db))
		return ztm_error_set(err, ZTM_E_STORE,
		                     "store transaction was rolled back after an earlier error");
	return 0;
}

/* PRAGMA synchronous for the next transaction: NORMAL only when asked for
 * it, FULL for every other one. Not a cached statement: SQLite applies
 * this pragma when it is prepared, not when it runs. Out of a
 * transaction only. */
static int set_sync(struct sq_store *s, int normal, struct ztm_error *err)
{
	int rc;

	if (s->sync_normal == normal)
		return 0;
	rc = sqlite3_exec(s->db, normal ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL",
	                  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s, err, rc, "setting synchronous=%s", normal ? "NORMAL" : "FULL");
	s->sync_normal = normal;
	return 0;
}

static void sq_nosync_next(struct ztm_store *base)
{
	sq_of(base)->nosync_once = 1;
}

/* Back to FULL as soon as a NORMAL transaction ends; should that fail,
 * every begin tries again before anything else is written. */
static void sync_restore(struct sq_store *s)
{
	struct ztm_error ignored;

	if (s->sync_normal)
		(void)set_sync(s, 0, &ignored);
}

static int sq_begin(struct ztm_store *base, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	int normal = s->nosync_once;

	s->nosync_once = 0;
	if (s->txn || !sqlite3_get_autocommit(s->db))
		return ztm_error_set(err, ZTM_E_USAGE, "store transaction already open");
	if (set_sync(s, normal, err) != 0)
		return -1;
	if (run_simple(s, &q_begin, err, "beginning store transaction") != 0) {
		sync_restore(s);
		return -1;
	}
	s->txn = 1;
	return 0;
}

static int sq_commit(struct ztm_store *base, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);

	if (!s->txn)
		return ztm_error_set(err, ZTM_E_USAGE, "store commit without a transaction");
	if (txn_alive(s, err) != 0) {
		s->txn = 0;
		store_txn_ended(base);
		return -1;
	}
	if (run_simple(s, &q_commit, err, "committing store transaction") != 0)
		return -1; /* still open: the caller rolls back */
	s->txn = 0;
	sync_restore(s);
	store_txn_ended(base);
	return 0;
}

static void sq_rollback(struct ztm_store *base)
{
	struct sq_store *s = sq_of(base);
	struct ztm_error ignored;

	s->txn = 0;
	if (!sqlite3_get_autocommit(s->db))
		run_simple(s, &q_rollback, &ignored, "rolling back store transaction");
	sync_restore(s);
	store_txn_ended(base);
}

static int sq_savepoint(struct ztm_store *base, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);

	if (!s->txn)
		return ztm_error_set(err, ZTM_E_USAGE, "store savepoint without a transaction");
	if (txn_alive(s, err) != 0)
		return -1;
	return run_simple(s, &q_savepoint, err, "opening savepoint");
}

static int sq_release(struct ztm_store *base, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);

	if (txn_alive(s, err) != 0)
		return -1;
	return run_simple(s, &q_release, err, "releasing savepoint");
}

/* ROLLBACK TO undoes the job's work but leaves the savepoint on the stack;
 * the RELEASE that follows pops it, so a batch of n jobs never nests n deep. */
static void sq_rollback_to(struct ztm_store *base)
{
	struct sq_store *s = sq_of(base);
	struct ztm_error ignored;

	if (sqlite3_get_autocommit(s->db))
		return;
	if (run_simple(s, &q_rollback_to, &ignored, "rolling back to savepoint") == 0)
		run_simple(s, &q_release, &ignored, "releasing savepoint");
}

int sq_wbegin(struct sq_store *s, int *own, struct ztm_error *err)
{
	*own = 0;
	if (s->txn)
		return txn_alive(s, err);
	/* Called from a call that began its own (sq_mass_decide adding a
	 * device row): that outer call commits or rolls back for both. */
	if (!sqlite3_get_autocommit(s->db))
		return 0;
	if (set_sync(s, 0, err) != 0) /* a write of its own is always durable */
		return -1;
	if (run_simple(s, &q_begin, err, "beginning store transaction") != 0)
		return -1;
	*own = 1;
	return 0;
}

int sq_wend(struct sq_store *s, int own, int rc, struct ztm_error *err)
{
	struct ztm_error ignored;

	if (!own)
		return rc;
	if (rc == 0 && run_simple(s, &q_commit, err, "committing store transaction") == 0) {
		store_txn_ended(&s->base);
		return 0;
	}
	if (!sqlite3_get_autocommit(s->db))
		run_simple(s, &q_rollback, &ignored, "rolling back store transaction");
	store_txn_ended(&s->base);
	return -1;
}

/* --- lifecycle ----------------------------------------------------------- */

static void sq_close(struct ztm_store *base)
{
	struct sq_store *s = sq_of(base);
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < SQ_SLOT_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	/* Closing with a transaction open rolls it back: nothing uncommitted
	 * survives, as after a crash. */
	sqlite3_close(s->db);
	free(s);
}

/* SQLite creates new database files with mode 0644 less the umask; the
 * store holds enrollment code hashes and the audit trail, so we create the
 * file ourselves, 0600, before SQLite opens it. SQLite gives the -wal and
 * -shm files the mode of the database file. */
static int create_file(const char *path, struct ztm_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		return ztm_error_set(err, ZTM_E_IO, "creating store file %s: %s", path,
		                     strerror(errno));
	}
	close(fd);
	return 0;
}

/* PRAGMA statements that report the value they set. */
static int pragma_check(struct sq_store *s, const char *sql, const char *want,
                        struct ztm_error *err)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *got;
	int rc, ret = -1;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		sq_fail(s, err, rc, "%s", sql);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "%s", sql);
		goto out;
	}
	got = sqlite3_column_text(st, 0);
	if (got == NULL || strcmp((const char *)got, want) != 0) {
		ztm_error_set(err, ZTM_E_STORE, "%s: got '%s', want '%s'", sql,
		              got != NULL ? (const char *)got : "", want);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

/* The busy handler: called by SQLite with n = 0, 1, ... while another
 * process holds the write lock; returning 0 gives up (SQLITE_BUSY). It
 * waits SQ_BUSY_TIMEOUT_MS in all, like sqlite3_busy_timeout(), but in
 * short pauses. SQLite's own handler sleeps 1, 2, 5, 10, 15 ... ms between
 * tries, while another worker's group commit holds the lock for a few
 * hundred microseconds (its fsync): the waiting worker's whole event loop
 * would sleep several times longer than the lock is held
 * (docs/benchmarks.md, "Registration"). */
static void sleep_us(long us)
{
	struct timespec ts = {0, us * 1000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int busy_wait(void *arg, int n)
{
	struct sq_store *s = arg;
	struct timespec now;
	int64_t waited_ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (n == 0)
		s->busy_since = now;
	waited_ms = (int64_t)(now.tv_sec - s->busy_since.tv_sec) * 1000 +
	            (now.tv_nsec - s->busy_since.tv_nsec) / 1000000;
	if (waited_ms >= SQ_BUSY_TIMEOUT_MS)
		return 0;
	/* After the first 10 ms, back off to 1 ms pauses: a holder that slow
	 * is checkpointing or stuck, and spinning would only steal its CPU. */
	sleep_us(waited_ms >= 10 ? 1000 : SQ_BUSY_PAUSE_US);
	return 1;
}

/* Why each pragma (docs/store.md, "Pragmas"):
 * - journal_mode=WAL: readers never block the writer and one commit is one
 *   append + fsync of the log, not a rollback journal dance.
 * - synchronous=FULL: in WAL mode NORMAL may lose the last commits on power
 *   loss; DESIGN I1 promises a certificate is never out before its record is
 *   durable, so every commit fsyncs the WAL.
 * - foreign_keys=ON: off by default in SQLite; stations must name a factory.
 * - trusted_schema=OFF: a database file is input; its triggers and views may
 *   not call functions with side effects. */
static int apply_pragmas(struct sq_store *s, struct ztm_error *err)
{
	int rc;

	rc = sqlite3_busy_handler(s->db, busy_wait, s);
	if (rc != SQLITE_OK)
		return sq_fail(s, err, rc, "setting store busy timeout");
	if (pragma_check(s, "PRAGMA journal_mode=WAL", "wal", err) != 0)
		return -1;
	rc = sqlite3_exec(s->db,
	                  "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
	                  " PRAGMA trusted_schema=OFF;",
	                  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s, err, rc, "setting store pragmas");
	if (pragma_check(s, "PRAGMA synchronous", "2", err) != 0)
		return -1;
	return pragma_check(s, "PRAGMA foreign_keys", "1", err);
}

static int sq_open(const char *path, struct ztm_store **out, struct ztm_error *err)
{
	struct sq_store *s = NULL;
	int rc;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "store URL 'sqlite:' has no path (want sqlite:/path/ztm.db)");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "allocating store");
	s->base.ops = &ztm_store_sqlite_ops;
	if (create_file(path, err) != 0)
		goto fail;
	rc = sqlite3_open_v2(
	    path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sq_fail(s, err, rc, "opening store %s", path);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if (apply_pragmas(s, err) != 0 || sq_migrate(s, err) != 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	sq_close(&s->base);
	return -1;
}

static int sq_schema_version_op(struct ztm_store *base, int *out, struct ztm_error *err)
{
	return sq_schema_version(sq_of(base), out, err);
}

/* A RESTART finds the write lock or a reader's mark taken most of the time
 * under load (a worker writes or reads nearly always): tried again at short
 * intervals, it gets its instant within a few milliseconds. */
#define SQ_RESTART_TRIES    20
#define SQ_RESTART_PAUSE_US 500

/* Two steps, neither of which waits:
 * - PASSIVE copies the frames no reader still needs; it takes no lock that
 *   blocks others and calls no busy handler.
 * - Once the whole log is copied, RESTART without a busy handler: it takes
 *   the write lock only if it is free, and succeeds only if no reader is
 *   still reading from the log, at that instant; then the next commit
 *   writes the log from its start again. Without this step a log that is
 *   always being written never starts over: SQLite restarts it in a writer
 *   that began while the log was fully copied, which a checkpoint in
 *   another process every 100 ms almost never gives, and the log grew to
 *   the workers' fallback size (64 MiB) with every page read looked up
 *   across it (docs/store.md, "Checkpoints"). It holds the write lock for
 *   microseconds: there is nothing left to copy.
 * SQLITE_BUSY from either: somebody else holds what it needs, nothing is
 * wrong, the next call tries again. */
static int sq_checkpoint(struct ztm_store *base, struct ztm_checkpoint_stat *st,
                         struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	int log = 0, done = 0, rc;

	if (s->txn || !sqlite3_get_autocommit(s->db))
		return ztm_error_set(err, ZTM_E_USAGE, "store checkpoint inside a transaction");
	rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (rc == SQLITE_BUSY)
		return 0;
	if (rc != SQLITE_OK)
		return sq_fail(s, err, rc, "checkpointing the store's write-ahead log");
	st->wal_frames = log > 0 ? log : 0;
	st->checkpointed = done > 0 ? done : 0;
	if (log > 0 && done == log) {
		int tries = 0;
		(void)sqlite3_busy_handler(s->db, NULL, NULL);
		do {
			if (tries > 0)
				sleep_us(SQ_RESTART_PAUSE_US);
			rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_RESTART, &log,
			                               &done);
		} while (rc == SQLITE_BUSY && ++tries < SQ_RESTART_TRIES);
		(void)sqlite3_busy_handler(s->db, busy_wait, s);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			return sq_fail(s, err, rc, "restarting the store's write-ahead log");
	}
	return 0;
}

static void sq_checkpoint_elsewhere(struct ztm_store *base)
{
	(void)sqlite3_wal_autocheckpoint(sq_of(base)->db, ZTM_STORE_CHECKPOINT_FALLBACK);
}

const struct ztm_store_ops ztm_store_sqlite_ops = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .schema_version = sq_schema_version_op,
    .begin = sq_begin,
    .nosync_next = sq_nosync_next,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .rollback_to = sq_rollback_to,
    .checkpoint = sq_checkpoint,
    .checkpoint_elsewhere = sq_checkpoint_elsewhere,
    .cert_reserve = sq_cert_reserve,
    .cert_issue = sq_cert_issue,
    .cert_get = sq_cert_get,
    .cert_by_idem = sq_cert_by_idem,
    .cert_recover = sq_cert_recover,
    .cert_abandon = sq_cert_abandon,
    .cert_count = sq_cert_count,
    .cert_each = sq_cert_each,
    .cert_revoke = sq_cert_revoke,
    .owner_revoke = sq_owner_revoke,
    .cert_resume = sq_cert_resume,
    .cert_status = sq_cert_status,
    .revocation_seq = sq_revocation_seq,
    .revocation_changes = sq_revocation_changes,
    .revocations_each = sq_revocations_each,
    .device_revoke = sq_device_revoke,
    .device_suspend = sq_device_suspend,
    .device_resume = sq_device_resume,
    .mass_request = sq_mass_request,
    .mass_get = sq_mass_get,
    .mass_decide = sq_mass_decide,
    .crl_shards = sq_crl_shards,
    .crl_get = sq_crl_get,
    .crl_claim = sq_crl_claim,
    .crl_put = sq_crl_put,
    .factory_add = sq_factory_add,
    .factory_get = sq_factory_get,
    .station_add = sq_station_add,
    .station_get = sq_station_get,
    .station_find = sq_station_find,
    .station_set_cert = sq_station_set_cert,
    .station_revoke = sq_station_revoke,
    .operator_add = sq_operator_add,
    .operator_get = sq_operator_get,
    .operator_set_cert = sq_operator_set_cert,
    .principal_by_cert = sq_principal_by_cert,
    .code_add = sq_code_add,
    .code_claim = sq_code_claim,
    .code_bind = sq_code_bind,
    .audit = sq_audit,
    .audit_count = sq_audit_count,
    .product_add = sq_product_add,
    .product_get = sq_product_get,
    .order_add = sq_order_add,
    .order_get = sq_order_get,
    .order_get_id = sq_order_get_id,
    .order_close = sq_order_close,
    .order_take_record_slots = sq_order_take_record_slots,
    .order_take_registration = sq_order_take_registration,
    .batch_add = sq_batch_add,
    .record_add = sq_record_add,
    .record_by_spki = sq_record_by_spki,
    .device_add = sq_device_add,
    .device_get = sq_device_get,
    .device_by_cert = sq_device_by_cert,
    .device_count = sq_device_count,
    .device_set_state = sq_device_set_state,
    .fw_signer_add = sq_fw_signer_add,
    .fw_signer_get = sq_fw_signer_get,
    .fw_signer_active = sq_fw_signer_active,
    .fw_signer_each = sq_fw_signer_each,
    .fw_signer_retire = sq_fw_signer_retire,
    .fw_svn_floor = sq_fw_svn_floor,
    .fw_release_add = sq_fw_release_add,
    .fw_release_get = sq_fw_release_get,
    .fw_release_blobs = sq_fw_release_blobs,
    .fw_release_sign = sq_fw_release_sign,
    .fw_release_revoke = sq_fw_release_revoke,
    .fw_release_each = sq_fw_release_each,
    .firmware_approve = sq_firmware_approve,
    .firmware_approved = sq_firmware_approved,
    .alert = sq_alert,
    .alert_count = sq_alert_count,
    .owner_add = sq_owner_add,
    .owner_get = sq_owner_get,
    .owner_get_id = sq_owner_get_id,
    .owner_each = sq_owner_each,
    .owner_operator_add = sq_owner_operator_add,
    .device_set_owner = sq_device_set_owner,
    .device_each = sq_device_each,
    .voucher_add = sq_voucher_add,
    .voucher_count = sq_voucher_count,
    .product_set_policy = sq_product_set_policy,
    .product_get_id = sq_product_get_id,
    .device_replace = sq_device_replace,
    .owner_revoke_except = sq_owner_revoke_except,
    .attest_challenge_add = sq_attest_challenge_add,
    .attest_challenge_get = sq_attest_challenge_get,
    .attest_challenge_use = sq_attest_challenge_use,
    .device_set_ek = sq_device_set_ek,
};
