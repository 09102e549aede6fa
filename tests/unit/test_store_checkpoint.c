/* test_store_checkpoint.c - checkpoints of SQLite's write-ahead log
 * (ztm_store_checkpoint, ztm_store_checkpoint_elsewhere; docs/store.md,
 * "Checkpoints"). A connection that leaves checkpoints elsewhere lets the log
 * grow past SQLite's 1,000 pages; another connection's checkpoint copies all
 * of it back, and the next write starts the log over. A default connection,
 * the control, checkpoints on its own commit. On PostgreSQL (pg/) there is no
 * such log: the calls do nothing and say so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_store_util.h"
#include "ztm/store.h"

#define BIG_DER 8000 /* two pages per certificate */

/* n certificates of BIG_DER bytes each in one transaction (n = 1: one small
 * write of a few pages). */
static void write_certs(struct ztm_store *s, int n)
{
	static uint8_t der[BIG_DER];
	struct ztm_cert_row row;
	char serial[40], idem[48];
	int i;

	memset(der, 0x5a, sizeof(der));
	CHECK(ztm_store_begin(s, E), ZTM_OK);
	for (i = 0; i < n; i++) {
		assert_int_equal(random_hex(serial, 16), 0);
		snprintf(idem, sizeof(idem), "ckpt-%s", serial);
		ztm_cert_row_init(&row);
		row_fill(&row, serial, idem);
		CHECK(ztm_store_cert_reserve(s, &row, E), ZTM_OK);
		CHECK(ztm_store_cert_issue(s, serial, der, n == 1 ? 64 : sizeof(der), E), ZTM_OK);
		ztm_cert_row_free(&row);
	}
	CHECK(ztm_store_commit(s, E), ZTM_OK);
}

static struct ztm_checkpoint_stat checkpoint(struct ztm_store *s)
{
	struct ztm_checkpoint_stat st;

	CHECK(ztm_store_checkpoint(s, &st, E), ZTM_OK);
	return st;
}

/* One big commit (~1,200 pages), then one small one: the small one starts
 * the log over only if the big one was checkpointed in between. */
static struct ztm_checkpoint_stat big_then_small(struct store_fx *f, int elsewhere)
{
	struct ztm_store *other = NULL;
	struct ztm_checkpoint_stat st;

	if (elsewhere)
		ztm_store_checkpoint_elsewhere(f->s);
	write_certs(f->s, 600);
	write_certs(f->s, 1);
	CHECK(ztm_store_open(f->t.url, &other, E), ZTM_OK);
	st = checkpoint(other);
	ztm_store_close(other);
	return st;
}

static void test_elsewhere_leaves_the_log(void **state)
{
	struct store_fx *f = *state;
	struct ztm_checkpoint_stat st;

	if (f->t.pg)
		skip();
	assert_int_equal(ztm_store_has_checkpoints(f->s), 1);
	st = big_then_small(f, 1);
	/* Nobody checkpointed: both commits are in the log, and the other
	 * connection's checkpoint copied every frame. */
	assert_true(st.wal_frames > 1000);
	assert_int_equal(st.checkpointed, st.wal_frames);
	/* Copied: the next write starts the log over. */
	write_certs(f->s, 1);
	st = checkpoint(f->s);
	assert_true(st.wal_frames > 0);
	assert_true(st.wal_frames < 50);
	assert_int_equal(st.checkpointed, st.wal_frames);
	/* Nothing new: a checkpoint copies nothing and changes nothing. */
	st = checkpoint(f->s);
	assert_true(st.wal_frames < 50);
}

/* The control: SQLite's default, a checkpoint in the committing connection
 * once the log passes 1,000 pages, so the small commit found it copied. */
static void test_default_checkpoints_on_commit(void **state)
{
	struct store_fx *f = *state;
	struct ztm_checkpoint_stat st;

	if (f->t.pg)
		skip();
	st = big_then_small(f, 0);
	assert_true(st.wal_frames < 50);
}

/* Another connection holds the write lock (a worker in its group commit)
 * after a big commit: the checkpoint copies what it can, does not wait for
 * the lock (no busy handler: a RESTART that found it taken gives up within
 * its few short tries) and is not an error; the writer commits afterwards. */
static void test_never_waits_for_a_writer(void **state)
{
	struct store_fx *f = *state;
	struct ztm_store *other = NULL;
	struct ztm_checkpoint_stat st;
	struct timespec t0, t1;
	double ms;

	if (f->t.pg)
		skip();
	ztm_store_checkpoint_elsewhere(f->s);
	write_certs(f->s, 600);
	CHECK(ztm_store_open(f->t.url, &other, E), ZTM_OK);
	CHECK(ztm_store_begin(f->s, E), ZTM_OK); /* BEGIN IMMEDIATE: the write lock */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(ztm_store_checkpoint(other, &st, E), ZTM_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(st.wal_frames > 1000);
	assert_int_equal(st.checkpointed, st.wal_frames); /* PASSIVE copied it all */
	assert_true(ms < 1000.0);                         /* 20 x 0.5 ms, not the 10 s timeout */
	CHECK(ztm_store_commit(f->s, E), ZTM_OK);
	ztm_store_close(other);
}

static void test_refusals_and_other_backends(void **state)
{
	struct store_fx *f = *state;
	struct ztm_checkpoint_stat st = {7, 7};

	if (f->t.pg) {
		/* No log of ours: nothing to do, and nothing claimed. */
		assert_int_equal(ztm_store_has_checkpoints(f->s), 0);
		ztm_store_checkpoint_elsewhere(f->s);
		CHECK(ztm_store_checkpoint(f->s, &st, E), ZTM_OK);
		assert_int_equal(st.wal_frames, 0);
		assert_int_equal(st.checkpointed, 0);
		write_certs(f->s, 1);
		return;
	}
	CHECK(ztm_store_checkpoint(f->s, NULL, E), ZTM_OK);
	CHECK(ztm_store_begin(f->s, E), ZTM_OK);
	CHECK(ztm_store_checkpoint(f->s, &st, E), ZTM_E_USAGE);
	ztm_store_rollback(f->s);
	CHECK(ztm_store_checkpoint(f->s, &st, E), ZTM_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_elsewhere_leaves_the_log, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_default_checkpoints_on_commit, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_never_waits_for_a_writer, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_and_other_backends, store_fx_setup,
	                                    store_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
