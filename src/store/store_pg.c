/* store_pg.c - the PostgreSQL store backend: connecting, the statement
 * cache and its cursor layer, transactions and savepoints, error mapping
 * (docs/store.md, "PostgreSQL").
 *
 * The calls themselves live in store_pg_*.c, one file per concept like the
 * SQLite backend's; the schema in migrations_pg.c. */
#include "store_pg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ztm/str.h"

/* --- the cursor layer ---------------------------------------------------- */

static int max_param(const char *sql)
{
	int n = 0;
	const char *p;

	for (p = sql; (p = strchr(p, '$')) != NULL; p++) {
		int v = (int)strtol(p + 1, NULL, 10);
		if (v > n)
			n = v;
	}
	return n;
}

static int is_write(const char *sql)
{
	return strncmp(sql, "INSERT", 6) == 0 || strncmp(sql, "UPDATE", 6) == 0 ||
	       strncmp(sql, "DELETE", 6) == 0;
}

/* SQLSTATE -> our error classes. */
static int classify(const char *state)
{
	if (state == NULL)
		return PQ_E_ERROR;
	if (strcmp(state, "23505") == 0)
		return PQ_E_UNIQUE;
	if (strcmp(state, "23503") == 0)
		return PQ_E_FK;
	if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 ||
	    strncmp(state, "22", 2) == 0)
		return PQ_E_CHECK;
	if (strcmp(state, "P0001") == 0)
		return PQ_E_TRIGGER;
	/* connection_exception, the server shutting down or starting, a
	 * read-only (standby) session: the database is not there to write to
	 * on this session (docs/deployment.md, "Synchronous standby"). */
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
	    strcmp(state, "25006") == 0)
		return PQ_E_GONE;
	return PQ_E_ERROR;
}

/* libpq's message for the connection, on one line: with several hosts in
 * the URL it has a line per host tried ("Connection refused", "session is
 * read-only"), all worth keeping. */
static const char *conn_message(PGconn *c, char *out, size_t n)
{
	const char *m = c != NULL ? PQerrorMessage(c) : "out of memory";
	size_t i, o = 0;

	for (i = 0; m[i] != '\0' && o + 3 < n; i++) {
		if (m[i] != '\n')
			out[o++] = m[i];
		else if (m[i + 1] != '\0') {
			out[o++] = ';';
			out[o++] = ' ';
		}
	}
	out[o] = '\0';
	return out;
}

/* Keeps the failure of res (or of the connection) for pq_fail and returns
 * its class. */
int pq_note_failure(struct pq_store *s, const PGresult *res)
{
	const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *cons = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;

	if (msg == NULL)
		msg = PQerrorMessage(s->conn);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg != NULL ? msg : "unknown error");
	/* The message names a unique index, not its columns; keep the index
	 * name where callers look for it (cert_reserve: "idem"). */
	if (cons != NULL && strstr(s->errmsg, cons) == NULL) {
		size_t n = strlen(s->errmsg);
		snprintf(s->errmsg + n, sizeof(s->errmsg) - n, " (%s)", cons);
	}
	snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state != NULL ? state : "?????");
	/* Drop a trailing newline from libpq's own messages. */
	s->errmsg[strcspn(s->errmsg, "\n")] = '\0';
	if (state != NULL && strcmp(state, "25006") == 0)
		s->reset_needed = 1;
	s->lost = state != NULL && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0);
	return classify(state);
}

static int session_setup(struct pq_store *s, struct ztm_error *err);

/* A connection the server dropped (restart, failover, network) is opened
 * again before the next statement, but only between transactions and while
 * no statement's rows are being read: the statements prepared on the old
 * session are gone with it, so the cache is emptied. With several hosts in
 * the URL libpq tries each in turn (target_session_attrs=read-write skips a
 * standby). What was in flight failed with ZTM_E_UNAVAILABLE; its outcome
 * is the caller's to reconcile (idempotency keys, est_reconcile.c). */
static int reconnect_if_lost(struct pq_store *s, struct ztm_error *err)
{
	char m[320];
	size_t i;

	if ((PQstatus(s->conn) != CONNECTION_BAD && !s->reset_needed) || s->txn)
		return 0;
	for (i = 0; i < PQ_SLOT_COUNT; i++)
		if (s->stmt[i] != NULL && s->stmt[i]->busy)
			return 0;
	for (i = 0; i < PQ_SLOT_COUNT; i++) {
		if (s->stmt[i] != NULL) {
			pq_reset(s->stmt[i]);
			free(s->stmt[i]);
			s->stmt[i] = NULL;
		}
	}
	PQreset(s->conn);
	if (PQstatus(s->conn) != CONNECTION_OK)
		return ztm_error_set(err, ZTM_E_UNAVAILABLE, "reconnecting to PostgreSQL store: %s",
		                     conn_message(s->conn, m, sizeof(m)));
	s->reset_needed = 0;
	return session_setup(s, err);
}

struct pq_stmt *pq_stmt(struct pq_store *s, const struct pq_query *q, struct ztm_error *err)
{
	struct pq_stmt *st;
	PGresult *res;

	if (reconnect_if_lost(s, err) != 0)
		return NULL;
	st = s->stmt[q->slot];

	if (st != NULL) {
		if (st->busy) {
			ztm_error_set(err, ZTM_E_USAGE,
			              "store: re-entrant use of a running statement");
			return NULL;
		}
		return st;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "allocating store statement");
		return NULL;
	}
	st->s = s;
	st->q = q;
	st->nparams = max_param(q->sql);
	/* A row lock can fail (deadlock, lock timeout) like a write: it gets
	 * the same savepoint, so the failure stays the call's. */
	st->write = is_write(q->sql) || (q->flags & PQ_TAKES_LOCK) ||
	            strstr(q->sql, "FOR UPDATE") != NULL ||
	            strstr(q->sql, "FOR NO KEY UPDATE") != NULL;
	st->pipeable =
	    is_write(q->sql) && !(q->flags & PQ_RET_ID) && strstr(q->sql, "RETURNING") == NULL;
	if (st->nparams > PQ_MAX_PARAMS) {
		free(st);
		ztm_error_set(err, ZTM_E_STORE, "store statement %d: too many parameters",
		              (int)q->slot);
		return NULL;
	}
	snprintf(st->name, sizeof(st->name), "ztm%d", (int)q->slot);
	/* Preparing waits for an answer: the pipeline's come first. */
	if (s->piped && pq_pipe_wait(s) != PQ_OK) {
		free(st);
		pq_fail(s, err, PQ_E_ERROR, "store statement %d after the pipeline", (int)q->slot);
		return NULL;
	}
	res = PQprepare(s->conn, st->name, q->sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		int rc = pq_note_failure(s, res);
		PQclear(res);
		free(st);
		pq_fail(s, err, rc, "preparing store statement %d", (int)q->slot);
		return NULL;
	}
	PQclear(res);
	s->stmt[q->slot] = st;
	return st;
}

void pq_reset(struct pq_stmt *st)
{
	int i;

	if (st == NULL)
		return;
	PQclear(st->res);
	st->res = NULL;
	st->busy = 0;
	st->row = -1;
	st->ntuples = 0;
	free(st->blob);
	st->blob = NULL;
	st->blob_len = 0;
	st->blob_col = -1;
	for (i = 0; i < PQ_MAX_PARAMS; i++) {
		st->vals[i] = NULL;
		st->lens[i] = 0;
		st->fmts[i] = 0;
	}
}

int pq_bind_int64(struct pq_stmt *st, int i, int64_t v)
{
	if (i < 1 || i > st->nparams)
		return PQ_E_MISUSE;
	snprintf(st->ints[i - 1], sizeof(st->ints[i - 1]), "%lld", (long long)v);
	st->vals[i - 1] = st->ints[i - 1];
	st->fmts[i - 1] = 0;
	return PQ_OK;
}

int pq_bind(struct pq_stmt *st, const char *fmt, ...)
{
	va_list ap;
	int i, rc = PQ_OK;

	va_start(ap, fmt);
	for (i = 1; fmt[i - 1] != '\0' && rc == PQ_OK; i++) {
		if (i > st->nparams) {
			rc = PQ_E_MISUSE;
			break;
		}
		switch (fmt[i - 1]) {
		case 't':
			st->vals[i - 1] = va_arg(ap, const char *);
			st->fmts[i - 1] = 0;
			break;
		case 'i':
			rc = pq_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'b': {
			const uint8_t *p = va_arg(ap, const uint8_t *);
			size_t n = va_arg(ap, size_t);
			if (n > 0x7fffffff) {
				rc = PQ_E_MISUSE;
				break;
			}
			/* A zero-length bytea still needs a non-NULL pointer. */
			st->vals[i - 1] = p != NULL ? (const char *)p : "";
			st->lens[i - 1] = (int)n;
			st->fmts[i - 1] = 1;
			break;
		}
		case 'h':
			st->vals[i - 1] = (const char *)va_arg(ap, const uint8_t *);
			st->lens[i - 1] = 32;
			st->fmts[i - 1] = 1;
			break;
		default:
			rc = PQ_E_MISUSE;
			break;
		}
	}
	va_end(ap);
	return rc;
}

/* A simple-protocol command whose failure only matters as a code. */
static int simple(struct pq_store *s, const char *sql)
{
	PGresult *res;
	int rc = PQ_OK;

	if (s->piped)
		(void)pq_pipe_wait(s); /* a failure stays in pipe_failed */
	res = PQexec(s->conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pq_note_failure(s, res);
	PQclear(res);
	return rc;
}

/* The first result of the next query of a pipeline; drops the rest of its
 * results (up to its terminating NULL). */
static PGresult *next_result(PGconn *c)
{
	PGresult *r = PQgetResult(c), *extra;

	if (r == NULL || PQresultStatus(r) == PGRES_PIPELINE_SYNC)
		return r;
	while ((extra = PQgetResult(c)) != NULL)
		PQclear(extra);
	return r;
}

/* SAVEPOINT, the statement and RELEASE in one pipeline: one round trip.
 * On failure, the statement's result is NULL and the error noted; the
 * transaction is then aborted and the caller rolls back to the savepoint. */
static int run_pipelined(struct pq_stmt *st, PGresult **out)
{
	struct pq_store *s = st->s;
	PGconn *c = s->conn;
	PGresult *r[3] = {NULL, NULL, NULL}, *sync;
	int i, rc = PQ_OK;

	*out = NULL;
	if (PQenterPipelineMode(c) != 1)
		return pq_note_failure(s, NULL);
	if (PQsendQueryParams(c, "SAVEPOINT ztm_stmt", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
	    PQsendQueryPrepared(c, st->name, st->nparams, st->vals, st->lens, st->fmts, 0) != 1 ||
	    PQsendQueryParams(c, "RELEASE SAVEPOINT ztm_stmt", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
	    PQpipelineSync(c) != 1) {
		rc = pq_note_failure(s, NULL);
		/* A send that failed means a broken connection: whatever was
		 * queued is gone with it. */
		while ((sync = PQgetResult(c)) != NULL &&
		       PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
			PQclear(sync);
		PQclear(sync);
		(void)PQexitPipelineMode(c);
		return rc;
	}
	for (i = 0; i < 3; i++)
		r[i] = next_result(c);
	sync = PQgetResult(c);
	PQclear(sync);
	(void)PQexitPipelineMode(c);
	/* The first failure is the one to report; the queries after it were
	 * not run (PGRES_PIPELINE_ABORTED). */
	for (i = 0; i < 3 && rc == PQ_OK; i++) {
		ExecStatusType status = PQresultStatus(r[i]);
		if (r[i] == NULL || (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK))
			rc = pq_note_failure(s, r[i]);
	}
	if (rc == PQ_OK) {
		*out = r[1];
		r[1] = NULL;
	}
	for (i = 0; i < 3; i++)
		PQclear(r[i]);
	return rc;
}

static int run(struct pq_stmt *st)
{
	struct pq_store *s = st->s;
	int guard = st->write && PQtransactionStatus(s->conn) == PQTRANS_INTRANS;
	ExecStatusType status;
	int rc;

	if (s->pipe) {
		rc = pq_pipe_send(st);
		if (rc < 0)
			return PQ_E_ERROR;
		if (rc == 1) {
			/* Sent; assumed to change its one row (pq_pipe_wait
			 * checks, store.c replays the batch if not). */
			st->res = PQmakeEmptyPGresult(s->conn, PGRES_COMMAND_OK);
			if (st->res == NULL)
				return PQ_E_ERROR;
			s->changes = 1;
			st->ntuples = 0;
			st->row = -1;
			return PQ_OK;
		}
		/* A read needs what the queued writes did. */
		if (s->piped && pq_pipe_wait(s) != PQ_OK)
			return PQ_E_ERROR;
		guard = st->write && PQtransactionStatus(s->conn) == PQTRANS_INTRANS;
	}
	/* A failed statement aborts a PostgreSQL transaction as a whole; the
	 * calls (like SQLite) expect it to undo only itself and go on (read
	 * why, try something else), so a write runs under a savepoint. */
	if (guard) {
		rc = run_pipelined(st, &st->res);
		if (rc != PQ_OK) {
			char keep[sizeof(s->errmsg)], state[sizeof(s->sqlstate)];
			memcpy(keep, s->errmsg, sizeof(keep));
			memcpy(state, s->sqlstate, sizeof(state));
			if (PQtransactionStatus(s->conn) == PQTRANS_INERROR)
				(void)simple(s, "ROLLBACK TO SAVEPOINT ztm_stmt;"
				                " RELEASE SAVEPOINT ztm_stmt");
			memcpy(s->errmsg, keep, sizeof(keep));
			memcpy(s->sqlstate, state, sizeof(state));
			return rc;
		}
	} else {
		st->res =
		    PQexecPrepared(s->conn, st->name, st->nparams, st->vals, st->lens, st->fmts, 0);
		status = PQresultStatus(st->res);
		if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
			rc = pq_note_failure(s, st->res);
			PQclear(st->res);
			st->res = NULL;
			return rc;
		}
	}
	s->changes = strtoll(PQcmdTuples(st->res), NULL, 10);
	st->ntuples = PQntuples(st->res);
	st->row = -1;
	if (st->q->flags & PQ_RET_ID) {
		s->last_id = st->ntuples > 0 ? strtoll(PQgetvalue(st->res, 0, 0), NULL, 10) : 0;
		st->ntuples = 0;
	}
	return PQ_OK;
}

int pq_step(struct pq_stmt *st)
{
	int rc;

	if (st->res == NULL && (rc = run(st)) != PQ_OK)
		return rc;
	if (st->row < st->ntuples)
		st->row++;
	st->busy = st->row < st->ntuples;
	return st->busy ? PQ_ROW : PQ_DONE;
}

static const char *cell(struct pq_stmt *st, int col)
{
	if (st->res == NULL || st->row < 0 || st->row >= st->ntuples || col >= PQnfields(st->res) ||
	    PQgetisnull(st->res, st->row, col))
		return NULL;
	return PQgetvalue(st->res, st->row, col);
}

int64_t pq_col_int64(struct pq_stmt *st, int col)
{
	const char *v = cell(st, col);

	if (v == NULL)
		return 0;
	if (v[0] == 't' && v[1] == '\0')
		return 1;
	if (v[0] == 'f' && v[1] == '\0')
		return 0;
	return strtoll(v, NULL, 10);
}

int pq_col_int(struct pq_stmt *st, int col)
{
	return (int)pq_col_int64(st, col);
}

const unsigned char *pq_col_textp(struct pq_stmt *st, int col)
{
	return (const unsigned char *)cell(st, col);
}

int pq_col_type(struct pq_stmt *st, int col)
{
	return cell(st, col) == NULL ? PQ_NULL : 1;
}

/* bytea arrives in text form as \x followed by hex. */
static int decode_blob(struct pq_stmt *st, int col)
{
	const char *v;
	size_t n;

	if (st->blob_col == col && st->blob_row == st->row)
		return 0;
	free(st->blob);
	st->blob = NULL;
	st->blob_len = 0;
	st->blob_col = col;
	st->blob_row = st->row;
	v = cell(st, col);
	if (v == NULL || v[0] == '\0')
		return 0;
	st->blob = PQunescapeBytea((const unsigned char *)v, &n);
	if (st->blob == NULL)
		return -1;
	st->blob_len = n;
	return 0;
}

const void *pq_col_blob(struct pq_stmt *st, int col)
{
	if (decode_blob(st, col) != 0)
		return NULL;
	return st->blob;
}

int pq_col_bytes(struct pq_stmt *st, int col)
{
	if (decode_blob(st, col) != 0)
		return 0;
	return (int)st->blob_len;
}

int pq_col_text(struct pq_stmt *st, int col, char *dst, size_t n)
{
	const unsigned char *t = pq_col_textp(st, col);

	return ztm_strlcpy(dst, t != NULL ? (const char *)t : "", n);
}

int64_t pq_changes(struct pq_store *s)
{
	return s->changes;
}

int64_t pq_last_id(struct pq_store *s)
{
	return s->last_id;
}

const char *pq_errmsg(struct pq_store *s)
{
	return s->errmsg;
}

static enum ztm_err map_code(int rc)
{
	switch (rc) {
	case PQ_E_UNIQUE:
		return ZTM_E_EXISTS;
	case PQ_E_FK:
		return ZTM_E_NOTFOUND;
	case PQ_E_CHECK:
		return ZTM_E_USAGE;
	case PQ_E_TRIGGER:
		return ZTM_E_CONFLICT;
	case PQ_E_GONE:
		return ZTM_E_UNAVAILABLE;
	default:
		return ZTM_E_STORE;
	}
}

int pq_is_unique(int rc)
{
	return rc == PQ_E_UNIQUE;
}

int pq_fail(struct pq_store *s, struct ztm_error *err, int rc, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rc == PQ_E_MISUSE)
		return ztm_error_set(err, ZTM_E_STORE, "%s: bad statement parameters", what);
	/* A lost connection has no SQLSTATE: libpq says so by its status. A
	 * COMMIT that fails this way has an unknown outcome. */
	return ztm_error_set(err,
	                     PQstatus(s->conn) == CONNECTION_BAD ? ZTM_E_UNAVAILABLE : map_code(rc),
	                     "%s: %s (postgresql %s)", what, s->errmsg, s->sqlstate);
}

int pq_step_done(struct pq_store *s, struct pq_stmt *st, struct ztm_error *err, const char *what)
{
	int rc = pq_step(st);

	if (rc != PQ_DONE) {
		pq_fail(s, err, rc, "%s", what);
		pq_reset(st);
		return -1;
	}
	pq_reset(st);
	return 0;
}

static const struct pq_query q_locks[] = {
    {PQ_LOCK_CERT, "SELECT 1 FROM certificates WHERE serial = $1 FOR UPDATE", 0},
    {PQ_LOCK_DEVICE, "SELECT 1 FROM devices WHERE serial = $1 FOR UPDATE", 0},
    {PQ_LOCK_CRL, "SELECT 1 FROM crls WHERE ca = $1 AND shard = $2 FOR UPDATE", 0},
    {PQ_LOCK_MASS, "SELECT 1 FROM mass_revocations WHERE id = $1 FOR UPDATE", 0},
    {PQ_LOCK_DEVICE_ID, "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", 0},
    {PQ_LOCK_PRODUCT, "SELECT 1 FROM products WHERE id = $1 FOR NO KEY UPDATE", 0},
    {PQ_LOCK_FW_RELEASE_PRODUCT,
     "SELECT 1 FROM products WHERE id = (SELECT product_id FROM fw_releases WHERE id = $1)"
     " FOR NO KEY UPDATE",
     0},
    {PQ_LOCK_FW_SIGNER_PRODUCT,
     "SELECT 1 FROM products WHERE id = (SELECT product_id FROM fw_signers WHERE id = $1)"
     " FOR NO KEY UPDATE",
     0},
    {PQ_LOCK_FW_RELEASE, "SELECT 1 FROM fw_releases WHERE id = $1 FOR UPDATE", 0},
    /* "ztm" "rvl": distinct from the migration lock (7959646002). */
    {PQ_LOCK_REVLOG, "SELECT pg_advisory_xact_lock(7959646003)", PQ_TAKES_LOCK},
};

int pq_lock(struct pq_store *s, enum pq_lock what, const char *key, int64_t id,
            struct ztm_error *err)
{
	struct pq_stmt *st = pq_stmt(s, &q_locks[what], err);
	int rc;

	if (st == NULL)
		return -1;
	if (what == PQ_LK_REVLOG)
		rc = PQ_OK;
	else if (what == PQ_LK_MASS || what >= PQ_LK_DEVICE_ID)
		rc = pq_bind(st, "i", id);
	else if (what == PQ_LK_CRL)
		rc = pq_bind(st, "ti", key, id);
	else
		rc = pq_bind(st, "t", key);
	if (rc == PQ_OK)
		while ((rc = pq_step(st)) == PQ_ROW)
			;
	if (rc != PQ_DONE) {
		pq_fail(s, err, rc, "locking a store row");
		pq_reset(st);
		return -1;
	}
	pq_reset(st);
	return 0;
}

/* --- transactions ------------------------------------------------------ */

int pq_exec(struct pq_store *s, const char *sql, struct ztm_error *err, const char *what)
{
	int rc = simple(s, sql);

	if (rc != PQ_OK)
		return pq_fail(s, err, rc, "%s", what);
	return 0;
}

/* Inside begin()..commit(), a failed statement outside the per-statement
 * savepoints (or a lost connection) leaves the transaction aborted: refuse
 * to go on rather than report success for work that is gone. */
static int txn_alive(struct pq_store *s, struct ztm_error *err)
{
	if (PQstatus(s->conn) == CONNECTION_BAD)
		return ztm_error_set(err, ZTM_E_UNAVAILABLE,
		                     "store connection lost: the transaction is gone");
	if (s->pipe || s->piped) /* answers not read yet: the pipeline's own state */
		return s->pipe_failed
		           ? ztm_error_set(err, ZTM_E_STORE, "store pipeline failed: %s", s->errmsg)
		           : 0;
	if (PQtransactionStatus(s->conn) != PQTRANS_INTRANS)
		return ztm_error_set(err, ZTM_E_STORE,
		                     "store transaction was rolled back after an earlier error");
	return 0;
}

static void pq_nosync_next(struct ztm_store *base)
{
	pq_of(base)->nosync_once = 1;
}

/* READ COMMITTED: every statement sees what others committed before it
 * started; the calls that read and then write lock the row they read
 * (docs/store.md, "PostgreSQL: concurrent writers"). */
static int pq_begin(struct ztm_store *base, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	int nosync = s->nosync_once;

	s->nosync_once = 0;
	if (s->txn || PQtransactionStatus(s->conn) == PQTRANS_INTRANS ||
	    PQtransactionStatus(s->conn) == PQTRANS_INERROR)
		return ztm_error_set(err, ZTM_E_USAGE, "store transaction already open");
	if (reconnect_if_lost(s, err) != 0)
		return -1;
	if (pq_exec(s, "BEGIN", err, "beginning store transaction") != 0)
		return -1;
	if (nosync && pq_exec(s, "SET LOCAL synchronous_commit = off", err,
	                      "setting synchronous_commit") != 0) {
		(void)simple(s, "ROLLBACK");
		return -1;
	}
	s->txn = 1;
	return 0;
}

static int pq_commit(struct ztm_store *base, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);

	if (!s->txn)
		return ztm_error_set(err, ZTM_E_USAGE, "store commit without a transaction");
	if (s->pipe) {
		/* pipeline(0) first: its answers decide whether to commit. */
		s->txn = 0;
		s->pipe = 0;
		(void)simple(s, "ROLLBACK");
		return ztm_error_set(err, ZTM_E_USAGE, "store commit with the pipeline on");
	}
	if (txn_alive(s, err) != 0) {
		s->txn = 0;
		(void)simple(s, "ROLLBACK");
		store_txn_ended(base);
		return -1;
	}
	/* COMMIT of an aborted transaction answers ROLLBACK without an
	 * error: txn_alive above is what catches that. A commit whose answer
	 * is lost (connection gone) has an unknown outcome: ZTM_E_STORE. */
	if (pq_exec(s, "COMMIT", err, "committing store transaction") != 0)
		return -1;
	s->txn = 0;
	store_txn_ended(base);
	return 0;
}

static void pq_rollback(struct ztm_store *base)
{
	struct pq_store *s = pq_of(base);

	s->txn = 0;
	if (s->piped)
		(void)pq_pipe_wait(s);
	s->pipe = s->pipe_failed = 0;
	if (PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		(void)simple(s, "ROLLBACK");
	store_txn_ended(base);
}

static int pq_savepoint(struct ztm_store *base, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);

	if (!s->txn)
		return ztm_error_set(err, ZTM_E_USAGE, "store savepoint without a transaction");
	if (txn_alive(s, err) != 0)
		return -1;
	s->lost = 0;
	if (s->pipe)
		return pq_pipe_cmd(s, "SAVEPOINT ztm_job") == 0
		           ? 0
		           : pq_fail(s, err, PQ_E_ERROR, "opening savepoint");
	return pq_exec(s, "SAVEPOINT ztm_job", err, "opening savepoint");
}

static int pq_release(struct ztm_store *base, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);

	if (txn_alive(s, err) != 0)
		return -1;
	if (s->pipe)
		return pq_pipe_cmd(s, "RELEASE SAVEPOINT ztm_job") == 0
		           ? 0
		           : pq_fail(s, err, PQ_E_ERROR, "releasing savepoint");
	return pq_exec(s, "RELEASE SAVEPOINT ztm_job", err, "releasing savepoint");
}

static void pq_rollback_to(struct ztm_store *base)
{
	struct pq_store *s = pq_of(base);

	if (s->pipe) {
		/* A job failed on the pipelined path: the batch runs again the
		 * plain way, where its failure is undone by itself. */
		s->pipe_failed = 1;
		return;
	}
	if (PQtransactionStatus(s->conn) == PQTRANS_IDLE)
		return;
	(void)simple(s, "ROLLBACK TO SAVEPOINT ztm_job; RELEASE SAVEPOINT ztm_job");
}

/* A job that lost a deadlock or a serialization conflict may run again
 * (store.c run_job), after rollback_to, in the same transaction. Not on the
 * pipelined path: a failure there replays the whole batch anyway. */
static int pq_retryable(struct ztm_store *base)
{
	struct pq_store *s = pq_of(base);

	return s->lost && !s->pipe && !s->piped && PQstatus(s->conn) == CONNECTION_OK &&
	       PQtransactionStatus(s->conn) == PQTRANS_INTRANS;
}

/* Why a read-only transaction needs this: PostgreSQL makes a COMMIT wait for
 * the synchronous standby only if the transaction wrote WAL under an xid;
 * one that only read commits at once. A COMMIT whose client connection
 * dropped while it waited for the standby stays committed on the primary
 * (the wait is cancelled, the standby may not have it), and every later
 * reader sees it. So a reader that finds it and answers with it (a lost
 * commit's reconciliation, a retry that finds its certificate issued) could
 * hand out a certificate that a failover then loses.
 *
 * A transactional logical message is the smallest such write: it takes an
 * xid and one WAL record, touches no table and locks nothing, so the COMMIT
 * waits until the standby has flushed WAL up to its own commit record,
 * which includes every earlier commit. An xid alone (pg_current_xact_id())
 * is not enough: RecordTransactionCommit waits only when the transaction
 * wrote WAL before its commit record (tests/unit/test_store_sync.c shows
 * the wait). synchronous_commit goes back to on (session_setup's setting)
 * for this transaction: in a nosync batch (the claim's) the commit would
 * not wait at all. */
static const struct pq_query q_sync_barrier = {
    PQ_SYNC_BARRIER,
    "SELECT set_config('synchronous_commit', 'on', true),"
    " pg_logical_emit_message(true, 'ztm', 'sync barrier')",
    PQ_TAKES_LOCK};

static int pq_sync_barrier(struct ztm_store *base, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int rc;

	if (!s->txn)
		return ztm_error_set(err, ZTM_E_USAGE, "store sync barrier outside a transaction");
	st = pq_stmt(s, &q_sync_barrier, err);
	if (st == NULL)
		return -1;
	while ((rc = pq_step(st)) == PQ_ROW)
		;
	if (rc != PQ_DONE) {
		pq_fail(s, err, rc, "making the transaction wait for the standby");
		pq_reset(st);
		return -1;
	}
	pq_reset(st);
	return 0;
}

int pq_wbegin(struct pq_store *s, int *own, struct ztm_error *err)
{
	*own = 0;
	if (s->txn)
		return txn_alive(s, err);
	/* Called from a call that began its own (pq_mass_decide adding a
	 * device row): that outer call commits or rolls back for both. */
	if (PQtransactionStatus(s->conn) == PQTRANS_INTRANS)
		return 0;
	if (reconnect_if_lost(s, err) != 0)
		return -1;
	if (pq_exec(s, "BEGIN", err, "beginning store transaction") != 0)
		return -1;
	*own = 1;
	return 0;
}

int pq_wend(struct pq_store *s, int own, int rc, struct ztm_error *err)
{
	if (!own)
		return rc;
	if (rc == 0 && PQtransactionStatus(s->conn) == PQTRANS_INTRANS &&
	    pq_exec(s, "COMMIT", err, "committing store transaction") == 0) {
		store_txn_ended(&s->base);
		return 0;
	}
	if (rc == 0 && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		ztm_error_set(err, ZTM_E_STORE,
		              "store transaction was rolled back after an earlier error");
	if (PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		(void)simple(s, "ROLLBACK");
	store_txn_ended(&s->base);
	return -1;
}

/* --- lifecycle ----------------------------------------------------------- */

static void pq_close(struct ztm_store *base)
{
	struct pq_store *s = pq_of(base);
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < PQ_SLOT_COUNT; i++) {
		if (s->stmt[i] != NULL) {
			pq_reset(s->stmt[i]);
			free(s->stmt[i]);
		}
	}
	pq_pipe_free(s);
	/* Closing with a transaction open rolls it back on the server. */
	PQfinish(s->conn);
	free(s);
}

/* Server messages (NOTICEs of CREATE ... IF NOT EXISTS) are not ours to
 * print. */
static void quiet(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

/* The session settings every statement relies on: UTC, no statement of ours
 * waits forever on a lock, and commits are durable unless one transaction
 * says otherwise (nosync_next). A read-only server (a hot standby) is
 * refused here, clearly, rather than at its first write. */
static int session_setup(struct pq_store *s, struct ztm_error *err)
{
	const char *standby = PQparameterStatus(s->conn, "in_hot_standby");
	const char *ro = PQparameterStatus(s->conn, "default_transaction_read_only");

	if ((standby != NULL && strcmp(standby, "on") == 0) ||
	    (ro != NULL && strcmp(ro, "on") == 0)) {
		s->reset_needed = 1;
		return ztm_error_set(err, ZTM_E_UNAVAILABLE,
		                     "PostgreSQL store at %s:%s is read-only (%s): ztmd writes to "
		                     "the primary; list every node in the store URL with "
		                     "target_session_attrs=read-write",
		                     PQhost(s->conn), PQport(s->conn),
		                     standby != NULL && strcmp(standby, "on") == 0
		                         ? "a hot standby"
		                         : "default_transaction_read_only");
	}
	return pq_exec(s,
	               "SET TIME ZONE 'UTC'; SET lock_timeout = '10s';"
	               " SET synchronous_commit = on; SET client_min_messages = warning",
	               err, "setting store session");
}

/* rest is what follows "postgresql:" or "postgres:" in the store URL. */
static int open_url(const char *scheme, const char *rest, struct ztm_store **out,
                    struct ztm_error *err)
{
	struct pq_store *s;
	char *uri;
	size_t n;

	*out = NULL;
	if (rest == NULL || strncmp(rest, "//", 2) != 0)
		/* The rest is not echoed: it may hold a password. */
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "store URL '%s:...': want %s://[user@][host][:port]/db",
		                     scheme, scheme);
	s = calloc(1, sizeof(*s));
	n = strlen(scheme) + strlen(rest) + 2;
	uri = malloc(n);
	if (s == NULL || uri == NULL) {
		free(s);
		free(uri);
		return ztm_error_set(err, ZTM_E_NOMEM, "allocating store");
	}
	s->base.ops = &ztm_store_pg_ops;
	{
		const char *p = getenv("ZTM_PG_PIPELINE");
		s->no_pipe = p != NULL && strcmp(p, "off") == 0;
	}
	snprintf(uri, n, "%s:%s", scheme, rest);
	s->conn = PQconnectdb(uri);
	free(uri);
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password. */
		char m[320];
		ztm_error_set(err, ZTM_E_STORE, "connecting to PostgreSQL store: %s",
		              conn_message(s->conn, m, sizeof(m)));
		goto fail;
	}
	PQsetNoticeReceiver(s->conn, quiet, NULL);
	if (session_setup(s, err) != 0)
		goto fail;
	if (pq_migrate(s, err) != 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	pq_close(&s->base);
	return -1;
}

static int pq_open_postgresql(const char *rest, struct ztm_store **out, struct ztm_error *err)
{
	return open_url("postgresql", rest, out, err);
}

static int pq_open_postgres(const char *rest, struct ztm_store **out, struct ztm_error *err)
{
	return open_url("postgres", rest, out, err);
}

static int pq_schema_version_op(struct ztm_store *base, int *out, struct ztm_error *err)
{
	return pq_schema_version(pq_of(base), out, err);
}

#define PQ_OPS_BODY                                                                                \
	.close = pq_close, .schema_version = pq_schema_version_op, .begin = pq_begin,              \
	.nosync_next = pq_nosync_next, .commit = pq_commit, .rollback = pq_rollback,               \
	.savepoint = pq_savepoint, .release = pq_release, .rollback_to = pq_rollback_to,           \
	.pipeline = pq_pipe_op, .retryable = pq_retryable, .sync_barrier = pq_sync_barrier,        \
	PQ_OPS_CALLS

#define PQ_OPS_CALLS                                                                               \
	.cert_reserve = pq_cert_reserve, .cert_issue = pq_cert_issue, .cert_get = pq_cert_get,     \
	.cert_by_idem = pq_cert_by_idem, .cert_recover = pq_cert_recover,                          \
	.cert_abandon = pq_cert_abandon, .cert_count = pq_cert_count, .cert_each = pq_cert_each,   \
	.cert_revoke = pq_cert_revoke, .owner_revoke = pq_owner_revoke,                            \
	.cert_resume = pq_cert_resume, .cert_status = pq_cert_status,                              \
	.revocation_seq = pq_revocation_seq, .revocation_changes = pq_revocation_changes,          \
	.revocations_each = pq_revocations_each, .device_revoke = pq_device_revoke,                \
	.device_suspend = pq_device_suspend, .device_resume = pq_device_resume,                    \
	.mass_request = pq_mass_request, .mass_get = pq_mass_get, .mass_decide = pq_mass_decide,   \
	.crl_shards = pq_crl_shards, .crl_get = pq_crl_get, .crl_claim = pq_crl_claim,             \
	.crl_put = pq_crl_put, .factory_add = pq_factory_add, .factory_get = pq_factory_get,       \
	.station_add = pq_station_add, .station_get = pq_station_get,                              \
	.station_find = pq_station_find, .station_set_cert = pq_station_set_cert,                  \
	.station_revoke = pq_station_revoke, .operator_add = pq_operator_add,                      \
	.operator_get = pq_operator_get, .operator_set_cert = pq_operator_set_cert,                \
	.principal_by_cert = pq_principal_by_cert, .code_add = pq_code_add,                        \
	.code_claim = pq_code_claim, .code_bind = pq_code_bind, .audit = pq_audit,                 \
	.audit_count = pq_audit_count, .product_add = pq_product_add,                              \
	.product_get = pq_product_get, .order_add = pq_order_add, .order_get = pq_order_get,       \
	.order_get_id = pq_order_get_id, .order_close = pq_order_close,                            \
	.order_take_record_slots = pq_order_take_record_slots,                                     \
	.order_take_registration = pq_order_take_registration, .batch_add = pq_batch_add,          \
	.record_add = pq_record_add, .record_by_spki = pq_record_by_spki,                          \
	.device_add = pq_device_add, .device_get = pq_device_get,                                  \
	.device_by_cert = pq_device_by_cert, .device_count = pq_device_count,                      \
	.device_set_state = pq_device_set_state, .firmware_approve = pq_firmware_approve,          \
	.firmware_approved = pq_firmware_approved, .alert = pq_alert,                              \
	.alert_count = pq_alert_count, .owner_add = pq_owner_add, .owner_get = pq_owner_get,       \
	.owner_get_id = pq_owner_get_id, .owner_each = pq_owner_each,                              \
	.owner_operator_add = pq_owner_operator_add, .device_set_owner = pq_device_set_owner,      \
	.device_each = pq_device_each, .voucher_add = pq_voucher_add,                              \
	.voucher_count = pq_voucher_count, .product_set_policy = pq_product_set_policy,            \
	.product_get_id = pq_product_get_id, .device_replace = pq_device_replace,                  \
	.owner_revoke_except = pq_owner_revoke_except, .fw_signer_add = pq_fw_signer_add,          \
	.fw_signer_get = pq_fw_signer_get, .fw_signer_active = pq_fw_signer_active,                \
	.fw_signer_each = pq_fw_signer_each, .fw_signer_retire = pq_fw_signer_retire,              \
	.fw_svn_floor = pq_fw_svn_floor, .fw_release_add = pq_fw_release_add,                      \
	.fw_release_get = pq_fw_release_get, .fw_release_blobs = pq_fw_release_blobs,              \
	.fw_release_sign = pq_fw_release_sign, .fw_release_revoke = pq_fw_release_revoke,          \
	.fw_release_each = pq_fw_release_each, .attest_challenge_add = pq_attest_challenge_add,    \
	.attest_challenge_get = pq_attest_challenge_get,                                           \
	.attest_challenge_use = pq_attest_challenge_use, .device_set_ek = pq_device_set_ek,

const struct ztm_store_ops ztm_store_pg_ops = {
    .scheme = "postgresql", .open = pq_open_postgresql, PQ_OPS_BODY};

const struct ztm_store_ops ztm_store_postgres_ops = {
    .scheme = "postgres", .open = pq_open_postgres, PQ_OPS_BODY};
