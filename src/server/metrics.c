/* metrics.c - counters for /metrics, shared by all worker processes.
 *
 * The counters live in one MAP_SHARED anonymous mapping made by the master
 * before it forks, so every worker (and every restarted worker) adds to the
 * same numbers and any worker can answer /metrics for all of them. They are
 * C11 atomics: lock-free 64-bit atomics are address-free, which is what makes
 * them safe across processes (C11 7.17.5 note; checked below). */
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "server.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "shared counters need lock-free 64-bit atomics");

#define STATUS_MIN   100
#define STATUS_SLOTS 500 /* 100..599 */

struct ztmd_metrics {
	_Atomic unsigned long long requests[ZTMD_METRICS_ROUTES][STATUS_SLOTS];
	_Atomic unsigned long long tls_failures;
	_Atomic unsigned long long batches, batch_failures, jobs, batches_nosync;
	_Atomic unsigned long long worker_restarts;
	_Atomic unsigned long long checkpoints, checkpoint_failures;
	_Atomic long long wal_frames, wal_checkpointed; /* after the last checkpoint */
	_Atomic long long inflight[ZTMD_METRICS_WORKERS];
	size_t n_routes;
	char route[ZTMD_METRICS_ROUTES][96];
};

struct ztmd_metrics *ztmd_metrics_new(const char *const *route_names, size_t n,
                                      struct ztm_error *err)
{
	struct ztmd_metrics *m;
	size_t i;

	if (n > ZTMD_METRICS_ROUTES) {
		ztm_error_set(err, ZTM_E_CONFIG, "more than %d routes", ZTMD_METRICS_ROUTES);
		return NULL;
	}
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		ztm_error_set(err, ZTM_E_NOMEM, "metrics: mmap of %zu bytes failed", sizeof(*m));
		return NULL;
	}
	/* A fresh anonymous mapping is zero: every counter starts at 0. */
	m->n_routes = n;
	for (i = 0; i < n; i++) {
		size_t o = 0;
		const char *p;
		/* Label values are route paths; keep them to a safe alphabet. */
		for (p = route_names[i]; *p != '\0' && o + 1 < sizeof(m->route[i]); p++)
			m->route[i][o++] = (*p == '"' || *p == '\\' || *p < 0x20) ? '_' : *p;
		m->route[i][o] = '\0';
	}
	return m;
}

void ztmd_metrics_free(struct ztmd_metrics *m)
{
	if (m != NULL)
		munmap(m, sizeof(*m));
}

void ztmd_metrics_request(struct ztmd_metrics *m, size_t route, int status)
{
	if (m == NULL || route >= m->n_routes || status < STATUS_MIN ||
	    status >= STATUS_MIN + STATUS_SLOTS)
		return;
	atomic_fetch_add_explicit(&m->requests[route][status - STATUS_MIN], 1,
	                          memory_order_relaxed);
}

uint64_t ztmd_metrics_requests(const struct ztmd_metrics *m, size_t route, int status)
{
	if (route >= m->n_routes || status < STATUS_MIN || status >= STATUS_MIN + STATUS_SLOTS)
		return 0;
	return atomic_load_explicit(&m->requests[route][status - STATUS_MIN], memory_order_relaxed);
}

void ztmd_metrics_tls_failure(struct ztmd_metrics *m)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->tls_failures, 1, memory_order_relaxed);
}

void ztmd_metrics_batch(struct ztmd_metrics *m, size_t jobs, int ok, int durable)
{
	if (m == NULL)
		return;
	atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
	if (!durable)
		atomic_fetch_add_explicit(&m->batches_nosync, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->jobs, jobs, memory_order_relaxed);
	if (!ok)
		atomic_fetch_add_explicit(&m->batch_failures, 1, memory_order_relaxed);
}

void ztmd_metrics_worker_restart(struct ztmd_metrics *m)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->worker_restarts, 1, memory_order_relaxed);
}

void ztmd_metrics_inflight(struct ztmd_metrics *m, unsigned slot, int delta)
{
	if (m != NULL && slot < ZTMD_METRICS_WORKERS)
		atomic_fetch_add_explicit(&m->inflight[slot], delta, memory_order_relaxed);
}

void ztmd_metrics_checkpoint(struct ztmd_metrics *m, int ok, int64_t wal_frames,
                             int64_t checkpointed)
{
	if (m == NULL)
		return;
	if (!ok) {
		atomic_fetch_add_explicit(&m->checkpoint_failures, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&m->checkpoints, 1, memory_order_relaxed);
	atomic_store_explicit(&m->wal_frames, wal_frames, memory_order_relaxed);
	atomic_store_explicit(&m->wal_checkpointed, checkpointed, memory_order_relaxed);
}

/* A worker that died cannot decrement what it had in flight: the master
 * clears its slot before starting the replacement. */
void ztmd_metrics_inflight_reset(struct ztmd_metrics *m, unsigned slot)
{
	if (m != NULL && slot < ZTMD_METRICS_WORKERS)
		atomic_store_explicit(&m->inflight[slot], 0, memory_order_relaxed);
}

static unsigned long long load(const _Atomic unsigned long long *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

int ztmd_metrics_render(const struct ztmd_metrics *m, struct ztm_buf *out)
{
	size_t r, s;
	long long inflight = 0;
	int rc = 0;

	rc |= ztm_buf_append_str(out, "# HELP ztmd_http_requests_total HTTP requests answered, "
	                              "by route and status.\n"
	                              "# TYPE ztmd_http_requests_total counter\n");
	for (r = 0; r < m->n_routes; r++) {
		for (s = 0; s < STATUS_SLOTS; s++) {
			unsigned long long v = load(&m->requests[r][s]);
			if (v != 0)
				rc |= ztm_buf_printf(
				    out,
				    "ztmd_http_requests_total{route=\"%s\",status=\"%zu\"} %llu\n",
				    m->route[r], s + STATUS_MIN, v);
		}
	}
	for (s = 0; s < ZTMD_METRICS_WORKERS; s++)
		inflight += atomic_load_explicit(&m->inflight[s], memory_order_relaxed);
	rc |= ztm_buf_printf(out,
	                     "# HELP ztmd_http_requests_in_flight Requests received and not yet "
	                     "answered.\n# TYPE ztmd_http_requests_in_flight gauge\n"
	                     "ztmd_http_requests_in_flight %lld\n"
	                     "# HELP ztmd_tls_handshake_failures_total TLS handshakes that ended "
	                     "in a fatal alert.\n# TYPE ztmd_tls_handshake_failures_total counter\n"
	                     "ztmd_tls_handshake_failures_total %llu\n"
	                     "# HELP ztmd_commit_batches_total Group commits (one commit "
	                     "each).\n# TYPE ztmd_commit_batches_total counter\n"
	                     "ztmd_commit_batches_total %llu\n"
	                     "# HELP ztmd_commit_batches_nosync_total Group commits that did not "
	                     "wait for the disk (only enrollment reserve steps in them).\n"
	                     "# TYPE ztmd_commit_batches_nosync_total counter\n"
	                     "ztmd_commit_batches_nosync_total %llu\n"
	                     "# HELP ztmd_commit_batch_failures_total Group commits that did not "
	                     "commit.\n# TYPE ztmd_commit_batch_failures_total counter\n"
	                     "ztmd_commit_batch_failures_total %llu\n"
	                     "# HELP ztmd_commit_jobs_total Jobs run in group commits.\n"
	                     "# TYPE ztmd_commit_jobs_total counter\n"
	                     "ztmd_commit_jobs_total %llu\n"
	                     "# HELP ztmd_worker_restarts_total Worker processes restarted after "
	                     "dying.\n# TYPE ztmd_worker_restarts_total counter\n"
	                     "ztmd_worker_restarts_total %llu\n",
	                     inflight < 0 ? 0 : inflight, load(&m->tls_failures), load(&m->batches),
	                     load(&m->batches_nosync), load(&m->batch_failures), load(&m->jobs),
	                     load(&m->worker_restarts));
	rc |= ztm_buf_printf(
	    out,
	    "# HELP ztmd_store_checkpoints_total Checkpoints of the store's write-ahead log run by "
	    "the checkpointer process (SQLite).\n# TYPE ztmd_store_checkpoints_total counter\n"
	    "ztmd_store_checkpoints_total %llu\n"
	    "# HELP ztmd_store_checkpoint_failures_total Checkpoints that failed.\n"
	    "# TYPE ztmd_store_checkpoint_failures_total counter\n"
	    "ztmd_store_checkpoint_failures_total %llu\n"
	    "# HELP ztmd_store_wal_frames Pages in the write-ahead log after the last "
	    "checkpoint.\n# TYPE ztmd_store_wal_frames gauge\nztmd_store_wal_frames %lld\n"
	    "# HELP ztmd_store_wal_frames_checkpointed Of them, pages copied into the database "
	    "file.\n# TYPE ztmd_store_wal_frames_checkpointed gauge\n"
	    "ztmd_store_wal_frames_checkpointed %lld\n",
	    load(&m->checkpoints), load(&m->checkpoint_failures),
	    atomic_load_explicit(&m->wal_frames, memory_order_relaxed),
	    atomic_load_explicit(&m->wal_checkpointed, memory_order_relaxed));
	return rc != 0 ? -1 : 0;
}
