/* checkpointer.c - ztmd's checkpointer process: copies SQLite's write-ahead
 * log back into the database file, so that the workers do not.
 *
 * Why a process of its own: SQLite checkpoints in the connection whose
 * commit takes the log past 1,000 pages (~4 MiB). In ztmd that is a worker,
 * and the checkpoint (reading those pages, writing them into the database
 * file, an fsync of it: tens of milliseconds) stops its event loop, so
 * every request it holds waits: a p99 sees that. An upload of 5,000
 * records passes 1,000 pages by itself, so each one paid for a checkpoint.
 * Now the workers leave it to this process (ztm_store_checkpoint_elsewhere),
 * which checkpoints every CHECKPOINT_MS without ever waiting: PASSIVE, then,
 * once the whole log is copied, a RESTART that gives up at once when the
 * write lock or a reader is in the way (store_sqlite.c, sq_checkpoint).
 * Should it stop or fall behind, a worker checkpoints by itself once the
 * log passes ZTM_STORE_CHECKPOINT_FALLBACK pages. The master starts it
 * for stores that have such a log (SQLite) and restarts it as it restarts
 * a worker. docs/store.md, "Checkpoints". */
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "ztm/log.h"
#include "ztm/store.h"

#define CHECKPOINT_MS 100

static void log_failure(const char *event, const struct ztm_error *err)
{
	char q[448];

	ztm_log(ZTM_LOG_ERROR, event, "error=%s message=%s", ztm_err_name(err->code),
	        ztm_log_quote(err->msg, q, sizeof(q)));
}

int ztmd_checkpointer_run(const char *store_url, struct ztmd_metrics *m, pid_t master)
{
	struct timespec tick = {0, CHECKPOINT_MS * 1000000L};
	struct ztm_store *store = NULL;
	struct ztm_error err;
	sigset_t stop;
	int failing = 0;

	/* Blocked as in the master, taken by sigtimedwait between runs. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	if (ztm_store_open(store_url, &store, &err) != 0) {
		log_failure("checkpointer_failed", &err);
		return 1;
	}
	ztm_log(ZTM_LOG_INFO, "checkpointer_start", "interval_ms=%d", CHECKPOINT_MS);
	for (;;) {
		struct ztm_checkpoint_stat st;
		int sig = sigtimedwait(&stop, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT || getppid() != master)
			break;
		if (ztm_store_checkpoint(store, &st, &err) != 0) {
			ztmd_metrics_checkpoint(m, 0, 0, 0);
			if (!failing) /* once per run of failures, not ten times a second */
				log_failure("checkpoint_failed", &err);
			failing = 1;
			continue;
		}
		if (failing)
			ztm_log(ZTM_LOG_INFO, "checkpoint_recovered", "wal_frames=%lld",
			        (long long)st.wal_frames);
		failing = 0;
		ztmd_metrics_checkpoint(m, 1, st.wal_frames, st.checkpointed);
	}
	ztm_store_close(store);
	ztm_log(ZTM_LOG_INFO, "checkpointer_stop", "interval_ms=%d", CHECKPOINT_MS);
	return 0;
}
