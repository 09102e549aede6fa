/* store_pg_pipe.c - the pipelined part of a PostgreSQL group commit
 * (docs/store.md, "Pipelined group commit").
 *
 * Run one statement at a time, a group commit costs a round trip per
 * statement: about 3 for the issue step of one registration (certificate,
 * device state, audit row) plus its job savepoint and release, so the
 * batch's durable commit waits behind 5 round trips per request. For the
 * jobs that may run twice (ztm_store_job.replayable) the writes are sent in
 * libpq's pipeline mode instead, each assumed to succeed and to change one
 * row; the answers are read once, when something needs one (a read, the end
 * of the pipelined part). The whole batch's writes then cost one wait.
 *
 * An answer that differs from the assumption (an error, 0 rows) means the
 * jobs' code ran on a false premise: the transaction is rolled back and
 * store.c runs the batch again the plain way, where every call sees its
 * statement's real answer. Nothing is committed in between (the COMMIT is
 * only sent after every answer was checked), so DESIGN I1 and the jobs'
 * all-or-nothing savepoints hold as without the pipeline. The alternative,
 * per-statement savepoints inside the pipeline with a rollback to the
 * failed one, would keep the other jobs' work on a failure, but failures of
 * these jobs are rare (a revocation racing an issue) and a replay is simple
 * to reason about. */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXPECT_OK = 0, EXPECT_ONE_ROW = 1 };

/* Room for one more expected answer, made before the query is sent: once
 * libpq has it, its answer comes whether or not it is written down here, and
 * an answer without its entry would put every later read out of step. */
static int reserve(struct pq_store *s)
{
	if (s->nsent == s->expect_cap) {
		size_t cap = s->expect_cap ? 2 * s->expect_cap : 64;
		unsigned char *p = realloc(s->expect, cap);
		if (p == NULL)
			return -1;
		s->expect = p;
		s->expect_cap = cap;
	}
	return 0;
}

/* Notes a query just sent; reserve() made its room. */
static void expect(struct pq_store *s, unsigned char what)
{
	s->expect[s->nsent++] = what;
}

static void note(struct pq_store *s, const char *msg)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
	snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", "?????");
}

static int enter(struct pq_store *s)
{
	if (s->piped)
		return 0;
	if (PQenterPipelineMode(s->conn) != 1)
		return -1;
	s->piped = 1;
	return 0;
}

/* The first result of the next query of the pipeline; drops the rest of
 * its results (up to its terminating NULL). */
static PGresult *next_result(PGconn *c)
{
	PGresult *r = PQgetResult(c), *extra;

	if (r == NULL || PQresultStatus(r) == PGRES_PIPELINE_SYNC)
		return r;
	while ((extra = PQgetResult(c)) != NULL)
		PQclear(extra);
	return r;
}

int pq_pipe_cmd(struct pq_store *s, const char *sql)
{
	if (s->pipe_failed) {
		note(s, "an earlier pipelined statement failed");
		return -1;
	}
	if (reserve(s) != 0) {
		note(s, "out of memory queueing a pipelined statement");
		s->pipe_failed = 1;
		return -1;
	}
	if (enter(s) != 0 || PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0) != 1) {
		(void)pq_note_failure(s, NULL);
		s->pipe_failed = 1;
		return -1;
	}
	expect(s, EXPECT_OK);
	return 0;
}

int pq_pipe_send(struct pq_stmt *st)
{
	struct pq_store *s = st->s;

	if (!s->pipe)
		return 0;
	if (s->pipe_failed) {
		note(s, "an earlier pipelined statement failed");
		return -1;
	}
	/* A statement whose rows the call reads waits its turn. */
	if (!st->pipeable)
		return 0;
	if (reserve(s) != 0) {
		note(s, "out of memory queueing a pipelined statement");
		s->pipe_failed = 1;
		return -1;
	}
	if (enter(s) != 0 || PQsendQueryPrepared(s->conn, st->name, st->nparams, st->vals, st->lens,
	                                         st->fmts, 0) != 1) {
		(void)pq_note_failure(s, NULL);
		s->pipe_failed = 1;
		return -1;
	}
	expect(s, EXPECT_ONE_ROW);
	return 1;
}

int pq_pipe_wait(struct pq_store *s)
{
	PGconn *c = s->conn;
	PGresult *r;
	size_t i;
	int rc = PQ_OK;

	if (!s->piped)
		return s->pipe_failed ? PQ_E_ERROR : PQ_OK;
	if (PQpipelineSync(c) != 1)
		rc = pq_note_failure(s, NULL);
	for (i = 0; i < s->nsent; i++) {
		ExecStatusType status;
		r = next_result(c);
		status = PQresultStatus(r);
		if (rc != PQ_OK) {
			/* The first failure is the one to report. */
		} else if (r == NULL || (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)) {
			rc = pq_note_failure(s, r);
			if (rc == PQ_OK)
				rc = PQ_E_ERROR;
		} else if (s->expect[i] == EXPECT_ONE_ROW && strcmp(PQcmdTuples(r), "1") != 0) {
			char m[96];
			snprintf(m, sizeof(m), "a pipelined write changed %s rows, not 1",
			         PQcmdTuples(r));
			note(s, m);
			rc = PQ_E_ERROR;
		}
		PQclear(r);
	}
	while ((r = PQgetResult(c)) != NULL) {
		int sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
		PQclear(r);
		if (sync)
			break;
	}
	if (PQexitPipelineMode(c) != 1) {
		/* libpq stays in pipeline mode and would refuse every later
		 * statement: the next begin opens the session again. */
		s->reset_needed = 1;
		if (rc == PQ_OK)
			rc = pq_note_failure(s, NULL);
	}
	s->piped = 0;
	s->nsent = 0;
	if (rc != PQ_OK)
		s->pipe_failed = 1;
	return rc;
}

int pq_pipe_op(struct ztm_store *base, int on, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	int rc;

	if (on) {
		if (!s->txn || s->piped)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "store pipeline outside a transaction, or twice");
		/* ZTM_PG_PIPELINE=off (read at open): the same order of jobs,
		 * each statement awaited (for measurements, and a way out). */
		s->pipe = !s->no_pipe;
		s->pipe_failed = 0;
		return 0;
	}
	rc = pq_pipe_wait(s);
	s->pipe = 0;
	if (rc != PQ_OK || s->pipe_failed) {
		s->pipe_failed = 0;
		/* The server is gone: nothing was committed, and a replay on a
		 * new session (perhaps a promoted standby without this batch's
		 * claims) would fail the jobs for good. Unavailable instead:
		 * the requests reconcile by serial (est_reconcile.c). */
		if (rc == PQ_E_GONE || PQstatus(s->conn) == CONNECTION_BAD) {
			ztm_error_set(err, ZTM_E_UNAVAILABLE,
			              "store connection lost in a pipelined group commit: %s",
			              s->errmsg);
			return -1;
		}
		ztm_error_set(err, ZTM_E_STORE, "pipelined group commit: %s (postgresql %s)",
		              s->errmsg, s->sqlstate);
		return 1;
	}
	return 0;
}

void pq_pipe_free(struct pq_store *s)
{
	free(s->expect);
	s->expect = NULL;
	s->expect_cap = s->nsent = 0;
}
