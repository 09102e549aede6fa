/* commit.c - the worker's group commit.
 *
 * A durable commit costs one fsync (~4,500/s with SQLite, PERFORMANCE.md),
 * far more than the store work of one request. So store work is not run
 * where a handler asks for it: ztmd_req_defer queues it, and the first queued
 * job activates a low-priority event. libevent runs the active callbacks of
 * the highest priority first (http.h, ZTMD_PRI_IO), so every ready callback
 * of connections that carry a request runs, and can queue more, before the
 * flush (ZTMD_PRI_COMMIT) runs the whole queue with ztm_store_run_batch: one
 * transaction, one durable commit. Only then does each job's done() run and
 * reply (DESIGN I1). A request that arrives with the end of its handshake is
 * read at ZTMD_PRI_HANDSHAKE, with the other handshakes ready in that turn;
 * its jobs go in the flush that follows them, before any later handshake.
 *
 * Under a steady stream of I/O a low-priority event could wait forever, so a
 * high-priority timer (ZTMD_COMMIT_MAX_WAIT_MS) bounds the wait, and a queue
 * of ZTMD_COMMIT_MAX_JOBS flushes at once.
 *
 * A queue made only of ztmd_req_defer_nosync jobs (an enrollment's reserve
 * step, whose reply always waits for the durable commit of its issue step)
 * commits without an fsync: the fsync blocks this whole event loop, and
 * the issue step's durable commit, in this process or another, makes the
 * reservation durable with it (one WAL, appended in order).
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "ztm/log.h"

#define ZTMD_COMMIT_MAX_WAIT_MS 5
#define ZTMD_COMMIT_MAX_JOBS    512

struct pending {
	struct ztmd_req *r;
	ztmd_job_fn fn;
	void *arg;
	ztmd_done_fn done;
	int nosync, replayable;
};

struct ztmd_commit {
	struct event_base *base;
	struct ztm_store *store;
	struct ztmd_metrics *metrics;
	struct pending *q;
	size_t n, cap;
	struct event *idle_ev; /* ZTMD_PRI_COMMIT: after this turn's I/O */
	struct event *late_ev; /* ZTMD_PRI_IO: the bound on the wait */
};

static void flush(struct ztmd_commit *c)
{
	struct pending *q = c->q;
	size_t i, n = c->n;
	struct ztm_store_job *jobs;
	struct ztm_error err;
	int rc = -1, durable = 0;

	if (n == 0)
		return;
	event_del(c->late_ev);
	/* Jobs that done() defers again go to a fresh queue: the next batch. */
	c->q = NULL;
	c->n = c->cap = 0;
	jobs = calloc(n, sizeof(*jobs));
	if (jobs == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "group commit of %zu jobs", n);
	} else {
		for (i = 0; i < n; i++) {
			jobs[i].fn = q[i].fn;
			jobs[i].arg = q[i].arg;
			jobs[i].replayable = q[i].replayable;
			durable |= !q[i].nosync;
		}
		rc = durable ? ztm_store_run_batch(c->store, jobs, n, &err)
		             : ztm_store_run_batch_nosync(c->store, jobs, n, &err);
	}
	ztmd_metrics_batch(c->metrics, n, rc == 0, durable);
	if (rc != 0)
		ztm_log(ZTM_LOG_ERROR, "commit_failed", "jobs=%zu error=%s", n,
		        ztm_err_name(err.code));
	for (i = 0; i < n; i++) {
		if (jobs != NULL)
			q[i].done(q[i].r, q[i].arg, jobs[i].rc, &jobs[i].err);
		else
			q[i].done(q[i].r, q[i].arg, -1, &err);
		ztmd_req_unref(q[i].r);
	}
	free(jobs);
	free(q);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush(arg);
}

struct ztmd_commit *ztmd_commit_new(struct event_base *base, struct ztm_store *store,
                                    struct ztmd_metrics *m, struct ztm_error *err)
{
	struct ztmd_commit *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "group commit");
		return NULL;
	}
	c->base = base;
	c->store = store;
	c->metrics = m;
	c->idle_ev = event_new(base, -1, 0, on_flush, c);
	c->late_ev = evtimer_new(base, on_flush, c);
	if (c->idle_ev == NULL || c->late_ev == NULL ||
	    event_priority_set(c->idle_ev, ZTMD_PRI_COMMIT) != 0 ||
	    event_priority_set(c->late_ev, ZTMD_PRI_IO) != 0) {
		ztmd_commit_free(c);
		ztm_error_set(err, ZTM_E_INTERNAL,
		              "group commit events (event_base_priority_init missing?)");
		return NULL;
	}
	return c;
}

void ztmd_commit_free(struct ztmd_commit *c)
{
	if (c == NULL)
		return;
	/* Jobs still queued here never ran: the worker is going away after
	 * its grace period. Their requests are freed by ztmd_http_free_all. */
	if (c->idle_ev != NULL)
		event_free(c->idle_ev);
	if (c->late_ev != NULL)
		event_free(c->late_ev);
	free(c->q);
	free(c);
}

size_t ztmd_commit_pending(const struct ztmd_commit *c)
{
	return c->n;
}

static void defer(struct ztmd_req *r, ztmd_job_fn fn, void *arg, ztmd_done_fn done, int nosync,
                  int replayable)
{
	struct ztmd_commit *c = ztmd_worker_commit(ztmd_req_worker(r));

	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct pending *q = realloc(c->q, ncap * sizeof(*q));
		if (q == NULL) {
			struct ztm_error err;
			/* Nothing was run, nothing committed: say so now. */
			ztm_error_set(&err, ZTM_E_NOMEM, "cannot queue store work");
			ztmd_req_ref(r);
			done(r, arg, -1, &err);
			ztmd_req_unref(r);
			return;
		}
		c->q = q;
		c->cap = ncap;
	}
	c->q[c->n].r = r;
	c->q[c->n].fn = fn;
	c->q[c->n].arg = arg;
	c->q[c->n].done = done;
	c->q[c->n].nosync = nosync;
	c->q[c->n].replayable = replayable;
	c->n++;
	ztmd_req_ref(r);
	if (c->n == 1) {
		struct timeval tv = {0, ZTMD_COMMIT_MAX_WAIT_MS * 1000};
		event_active(c->idle_ev, EV_TIMEOUT, 1);
		evtimer_add(c->late_ev, &tv);
	} else if (c->n == ZTMD_COMMIT_MAX_JOBS) {
		event_active(c->late_ev, EV_TIMEOUT, 1);
	}
}

void ztmd_req_defer(struct ztmd_req *r, ztmd_job_fn fn, void *arg, ztmd_done_fn done)
{
	defer(r, fn, arg, done, 0, 0);
}

void ztmd_req_defer_nosync(struct ztmd_req *r, ztmd_job_fn fn, void *arg, ztmd_done_fn done)
{
	defer(r, fn, arg, done, 1, 0);
}

void ztmd_req_defer_replayable(struct ztmd_req *r, ztmd_job_fn fn, void *arg, ztmd_done_fn done)
{
	defer(r, fn, arg, done, 0, 1);
}

/* A job queued after a pause (ztmd_req_defer_after). */
struct later {
	struct ztmd_req *r;
	ztmd_job_fn fn;
	void *arg;
	ztmd_done_fn done;
	struct event *ev;
};

static void on_later(evutil_socket_t fd, short what, void *p)
{
	struct later *l = p;

	(void)fd;
	(void)what;
	defer(l->r, l->fn, l->arg, l->done, 0, 0);
	ztmd_req_unref(l->r);
	event_free(l->ev);
	free(l);
}

void ztmd_req_defer_after(struct ztmd_req *r, unsigned ms, ztmd_job_fn fn, void *arg,
                          ztmd_done_fn done)
{
	struct ztmd_commit *c = ztmd_worker_commit(ztmd_req_worker(r));
	struct later *l = calloc(1, sizeof(*l));
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	if (l != NULL)
		l->ev = evtimer_new(c->base, on_later, l);
	if (l == NULL || l->ev == NULL || evtimer_add(l->ev, &tv) != 0) {
		if (l != NULL && l->ev != NULL)
			event_free(l->ev);
		free(l);
		defer(r, fn, arg, done, 0, 0);
		return;
	}
	l->r = r;
	l->fn = fn;
	l->arg = arg;
	l->done = done;
	/* The request lives until the job is queued (which takes its own). A
	 * worker that stops meanwhile frees the request with the others
	 * (ztmd_http_free_all); this timer then never fires. */
	ztmd_req_ref(r);
}
