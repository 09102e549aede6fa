/* test_store_proc.c - the SQLite store across processes: worker processes
 * writing the same file concurrently through run_batch (BEGIN IMMEDIATE and
 * the busy timeout must serialize them without a lost or doubled row), and
 * a process killed with SIGKILL mid-transaction (DESIGN I4). Children report
 * through their exit status only: cmocka's asserts belong to the parent. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_store_util.h"
#include "ztm/store.h"

#define N_PROCS        4
#define PER_PROC       250
#define JOBS_PER_BATCH 5

struct issue_arg {
	char serial[ZTM_SERIAL_HEX_MAX];
	char idem[ZTM_SHA256_HEX];
};

/* One job, shaped like an enrollment: look the idempotency key up (a read
 * first: with a DEFERRED transaction, two processes upgrading read -> write
 * would deadlock and fail here), reserve, then issue. */
static int reserve_issue(struct ztm_store *s, void *varg, struct ztm_error *err)
{
	struct issue_arg *a = varg;
	struct ztm_cert_row row;
	int rc;

	ztm_cert_row_init(&row);
	rc = ztm_store_cert_by_idem(s, a->idem, &row, err);
	if (rc == 0 || err->code != ZTM_E_NOTFOUND) {
		ztm_cert_row_free(&row);
		return -1;
	}
	row_fill(&row, a->serial, a->idem);
	rc = ztm_store_cert_reserve(s, &row, err);
	if (rc == 0)
		rc = ztm_store_cert_issue(s, a->serial, (const uint8_t *)a->serial,
		                          strlen(a->serial), err);
	ztm_cert_row_free(&row);
	return rc;
}

/* A worker: its own connection (never one inherited across fork), 250
 * certificates in batches of 5. Exit status: 0 ok, else the step that failed. */
static int child_issue(const char *url)
{
	struct ztm_store *s = NULL;
	struct ztm_store_job jobs[JOBS_PER_BATCH];
	struct issue_arg args[JOBS_PER_BATCH];
	struct ztm_error err;
	int done = 0, i, status = 0;

	if (ztm_store_open(url, &s, &err) != 0) {
		fprintf(stderr, "child open: %s\n", ztm_error_msg(&err));
		return 2;
	}
	while (done < PER_PROC && status == 0) {
		memset(jobs, 0, sizeof(jobs));
		for (i = 0; i < JOBS_PER_BATCH; i++) {
			if (random_hex(args[i].serial, 16) != 0 ||
			    random_hex(args[i].idem, 32) != 0)
				status = 3;
			jobs[i].fn = reserve_issue;
			jobs[i].arg = &args[i];
		}
		if (status == 0 && ztm_store_run_batch(s, jobs, JOBS_PER_BATCH, &err) != 0) {
			fprintf(stderr, "child batch: %s\n", ztm_error_msg(&err));
			status = 4;
		}
		for (i = 0; i < JOBS_PER_BATCH && status == 0; i++) {
			if (jobs[i].rc != 0) {
				fprintf(stderr, "child job: %s\n", ztm_error_msg(&jobs[i].err));
				status = 5;
			}
		}
		done += JOBS_PER_BATCH;
	}
	ztm_store_close(s);
	return status;
}

struct seen {
	char last[ZTM_SERIAL_HEX_MAX];
	int64_t n, out_of_order;
};

static int seen_fn(const struct ztm_cert_row *row, void *arg)
{
	struct seen *v = arg;

	/* cert_each returns serial order, so strictly increasing means distinct */
	if (v->n > 0 && strcmp(row->serial, v->last) <= 0)
		v->out_of_order++;
	if (row->der.len != strlen(row->serial) ||
	    memcmp(row->der.data, row->serial, row->der.len) != 0)
		v->out_of_order++;
	ztm_strlcpy(v->last, row->serial, sizeof(v->last));
	v->n++;
	return 0;
}

static void test_concurrent_workers(void **state)
{
	struct tdir t;
	struct ztm_store *s = NULL;
	struct ztm_error err;
	struct seen seen;
	pid_t pids[N_PROCS];
	int64_t n = -1;
	int i, status;

	assert_int_equal(tdir_make(&t), 0);
	/* create and migrate once, then let the workers race on the file */
	assert_int_equal(ztm_store_open(t.url, &s, &err), 0);
	ztm_store_close(s);
	for (i = 0; i < N_PROCS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(child_issue(t.url));
	}
	for (i = 0; i < N_PROCS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(ztm_store_open(t.url, &s, &err), 0);
	assert_int_equal(ztm_store_cert_count(s, ZTM_CERT_ISSUED, &n, &err), 0);
	assert_int_equal(n, N_PROCS * PER_PROC);
	assert_int_equal(ztm_store_cert_count(s, ZTM_CERT_RESERVED, &n, &err), 0);
	assert_int_equal(n, 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(ztm_store_cert_each(s, ZTM_CERT_ISSUED, seen_fn, &seen, &err), 0);
	assert_int_equal(seen.n, N_PROCS * PER_PROC);
	assert_int_equal(seen.out_of_order, 0);
	assert_int_equal(raw_int(&t, "SELECT count(DISTINCT idem_key) FROM certificates"),
	                 N_PROCS * PER_PROC);
	ztm_store_close(s);
	tdir_remove(&t);
}

/* Reserves 5 (committed), issues 2 of them, then dies with SIGKILL inside an
 * open transaction holding one more reservation and one more issue. */
static void child_crash(const char *url)
{
	static const char *const serials[] = {"1a01", "1a02", "1a03", "1a04", "1a05"};
	struct ztm_store *s = NULL;
	struct ztm_cert_row row;
	struct ztm_error err;
	size_t i;

	ztm_cert_row_init(&row);
	if (ztm_store_open(url, &s, &err) != 0)
		_exit(2);
	for (i = 0; i < 5; i++) {
		row_fill(&row, serials[i], "");
		if (ztm_store_cert_reserve(s, &row, &err) != 0)
			_exit(3);
	}
	if (ztm_store_cert_issue(s, "1a01", (const uint8_t *)"d", 1, &err) != 0 ||
	    ztm_store_cert_issue(s, "1a02", (const uint8_t *)"d", 1, &err) != 0)
		_exit(4);
	row_fill(&row, "1a06", "");
	if (ztm_store_begin(s, &err) != 0 || ztm_store_cert_reserve(s, &row, &err) != 0 ||
	    ztm_store_cert_issue(s, "1a03", (const uint8_t *)"d", 1, &err) != 0)
		_exit(5);
	raise(SIGKILL);
	_exit(6);
}

static void test_crash_recovery(void **state)
{
	struct tdir t;
	struct ztm_store *s = NULL;
	struct ztm_cert_row row;
	struct ztm_error err;
	int64_t n = -1;
	pid_t pid;
	int status;

	assert_int_equal(tdir_make(&t), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_crash(t.url);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	assert_int_equal(ztm_store_open(t.url, &s, &err), 0);
	/* the open transaction is gone whole: 1a06 absent, 1a03 still reserved */
	assert_int_equal(ztm_store_cert_count(s, ZTM_CERT_ISSUED, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ztm_store_cert_count(s, ZTM_CERT_RESERVED, &n, &err), 0);
	assert_int_equal(n, 3);
	ztm_cert_row_init(&row);
	assert_int_equal(ztm_store_cert_get(s, "1a06", &row, &err), -1);
	assert_int_equal(err.code, ZTM_E_NOTFOUND);
	/* start-up recovery: reservations older than now become abandoned */
	assert_int_equal(ztm_store_cert_recover(s, (int64_t)time(NULL) + 1, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ztm_store_cert_count(s, ZTM_CERT_ABANDONED, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ztm_store_cert_count(s, ZTM_CERT_RESERVED, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ztm_store_cert_count(s, ZTM_CERT_ISSUED, &n, &err), 0);
	assert_int_equal(n, 2);
	/* an abandoned serial is neither issued late nor reserved again */
	assert_int_equal(ztm_store_cert_issue(s, "1a03", (const uint8_t *)"d", 1, &err), -1);
	assert_int_equal(err.code, ZTM_E_CONFLICT);
	row_fill(&row, "1a03", "");
	assert_int_equal(ztm_store_cert_reserve(s, &row, &err), -1);
	assert_int_equal(err.code, ZTM_E_EXISTS);
	ztm_cert_row_free(&row);
	ztm_store_close(s);
	tdir_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrent_workers),
	    cmocka_unit_test(test_crash_recovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
