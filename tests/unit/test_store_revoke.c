/* test_store_revoke.c - revocation in the store (a SQLite file, or PostgreSQL: pg/): revoke,
 * hold, resume and their refusals (one table row per step), the status
 * relying parties are told, the change feed, the per-shard listing and the
 * shard a reservation gets. */
#include <setjmp.h>
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

/* Reserves serial (CA "device", shard size n), and issues it unless
 * reserved_only. Returns the shard it got. */
static int64_t put(struct ztm_store *s, const char *serial, int64_t shard_size, int reserved_only)
{
	static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	struct ztm_cert_row row;
	int64_t shard;

	ztm_cert_row_init(&row);
	row_fill(&row, serial, "");
	row.crl_shard_size = shard_size;
	row.crl_shard = -1;
	CHECK(ztm_store_cert_reserve(s, &row, E), ZTM_OK);
	if (!reserved_only)
		CHECK(ztm_store_cert_issue(s, serial, der, sizeof(der), E), ZTM_OK);
	shard = row.crl_shard;
	ztm_cert_row_free(&row);
	return shard;
}

static struct ztm_cert_status_row status(struct ztm_store *s, const char *ca, const char *serial)
{
	struct ztm_cert_status_row st;

	CHECK(ztm_store_cert_status(s, ca, serial, &st, E), ZTM_OK);
	return st;
}

static void test_reason_names(void **state)
{
	enum ztm_reason r;

	(void)state;
	assert_string_equal(ztm_reason_name(ZTM_REASON_KEY_COMPROMISE), "keyCompromise");
	assert_string_equal(ztm_reason_name(10), "aACompromise");
	assert_null(ztm_reason_name(7));
	assert_null(ztm_reason_name(8)); /* removeFromCRL: never stored */
	assert_int_equal(ztm_reason_parse("cessationofoperation", &r), 0);
	assert_int_equal(r, ZTM_REASON_CESSATION);
	assert_int_equal(ztm_reason_parse("removeFromCRL", &r), -1);
	assert_int_equal(ztm_reason_parse("", &r), -1);
}

/* One certificate through every transition; each step says what the call
 * returns and what the status is afterwards. */
static void test_revoke_hold_resume(void **state)
{
	struct store_fx *f = *state;
	static const struct {
		const char *what;
		int op; /* 'r' revoke, 'u' resume */
		int reason;
		int64_t when;
		enum ztm_err want;
		int changed;
		enum ztm_cert_status after;
		int after_reason;
		int64_t after_time;
	} steps[] = {
	    {"bad reason 7", 'r', 7, 100, ZTM_E_USAGE, 0, ZTM_STATUS_GOOD, 0, 0},
	    {"bad reason 8", 'r', 8, 100, ZTM_E_USAGE, 0, ZTM_STATUS_GOOD, 0, 0},
	    {"time 0", 'r', 1, 0, ZTM_E_USAGE, 0, ZTM_STATUS_GOOD, 0, 0},
	    {"resume a good one", 'u', 0, 0, ZTM_E_CONFLICT, 0, ZTM_STATUS_GOOD, 0, 0},
	    {"hold", 'r', 6, 100, ZTM_OK, 1, ZTM_STATUS_REVOKED, 6, 100},
	    {"hold again", 'r', 6, 150, ZTM_OK, 0, ZTM_STATUS_REVOKED, 6, 100},
	    {"resume", 'u', 0, 0, ZTM_OK, 0, ZTM_STATUS_GOOD, 0, 0},
	    {"resume twice", 'u', 0, 0, ZTM_E_CONFLICT, 0, ZTM_STATUS_GOOD, 0, 0},
	    {"hold", 'r', 6, 200, ZTM_OK, 1, ZTM_STATUS_REVOKED, 6, 200},
	    {"hold made final", 'r', 1, 300, ZTM_OK, 1, ZTM_STATUS_REVOKED, 1, 200},
	    {"revoked again", 'r', 4, 400, ZTM_OK, 0, ZTM_STATUS_REVOKED, 1, 200},
	    {"held after final", 'r', 6, 500, ZTM_OK, 0, ZTM_STATUS_REVOKED, 1, 200},
	    {"resume a final one", 'u', 0, 0, ZTM_E_CONFLICT, 0, ZTM_STATUS_REVOKED, 1, 200},
	};
	struct ztm_cert_status_row st;
	struct ztm_cert_row row;
	size_t i;
	int changed;

	put(f->s, "7a01", 0, 0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		print_message("%s\n", steps[i].what);
		changed = -1;
		if (steps[i].op == 'r') {
			CHECK(ztm_store_cert_revoke(f->s, "7a01", (enum ztm_reason)steps[i].reason,
			                            steps[i].when, "alice", &changed, E),
			      steps[i].want);
			assert_int_equal(changed, steps[i].changed);
		} else {
			CHECK(ztm_store_cert_resume(f->s, "7a01", "alice", E), steps[i].want);
		}
		st = status(f->s, "device", "7a01");
		assert_int_equal(st.status, steps[i].after);
		assert_int_equal(st.not_after, 1900000000);
		if (st.status == ZTM_STATUS_REVOKED) {
			assert_int_equal(st.rev.reason, steps[i].after_reason);
			assert_int_equal(st.rev.revoked_at, steps[i].after_time);
			assert_string_equal(st.rev.ca, "device");
		}
		/* certificates.state follows: revoked exactly while listed */
		ztm_cert_row_init(&row);
		CHECK(ztm_store_cert_get(f->s, "7a01", &row, E), ZTM_OK);
		assert_int_equal(row.state, st.status == ZTM_STATUS_REVOKED ? ZTM_CERT_REVOKED
		                                                            : ZTM_CERT_ISSUED);
		ztm_cert_row_free(&row);
	}
	/* the schema itself refuses to undo a final revocation */
	assert_int_not_equal(raw_exec(&f->t, "DELETE FROM revocations WHERE serial = '7a01'"),
	                     SQLITE_OK);
	assert_int_not_equal(raw_exec(&f->t, "UPDATE revocations SET reason = 0"), SQLITE_OK);
	assert_int_not_equal(raw_exec(&f->t, "DELETE FROM revocation_log"), SQLITE_OK);
}

static void test_status_unknown_and_refusals(void **state)
{
	struct store_fx *f = *state;
	struct ztm_cert_status_row st;
	int64_t n = 0;

	put(f->s, "7b01", 0, 0);
	put(f->s, "7b02", 0, 1); /* reserved, never issued */
	assert_int_equal(status(f->s, "device", "7b01").status, ZTM_STATUS_GOOD);
	assert_int_equal(status(f->s, "station", "7b01").status, ZTM_STATUS_UNKNOWN);
	assert_int_equal(status(f->s, "device", "7bff").status, ZTM_STATUS_UNKNOWN);
	assert_int_equal(status(f->s, "device", "7b02").status, ZTM_STATUS_UNKNOWN);
	CHECK(ztm_store_cert_status(f->s, "device", "not-hex", &st, E), ZTM_E_USAGE);
	CHECK(ztm_store_cert_status(f->s, "", "7b01", &st, E), ZTM_E_USAGE);

	CHECK(ztm_store_cert_revoke(f->s, "7bff", 1, 100, "alice", NULL, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_cert_revoke(f->s, "7b01", 1, 100, "", NULL, E), ZTM_E_USAGE);
	CHECK(ztm_store_cert_resume(f->s, "7bff", "alice", E), ZTM_E_NOTFOUND);
	/* an abandoned reservation was never a certificate */
	put(f->s, "7b03", 0, 1);
	CHECK(ztm_store_cert_abandon(f->s, "7b03", E), ZTM_OK);
	CHECK(ztm_store_cert_revoke(f->s, "7b03", 1, 100, "alice", NULL, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_revocation_seq(f->s, &n, E), ZTM_OK);
	assert_int_equal(n, 0); /* nothing above changed anything */
}

/* A registration racing a revocation: the reservation is revoked before it
 * is signed, so it can never be issued, and it is listed. */
static void test_revoked_reservation_never_issues(void **state)
{
	struct store_fx *f = *state;
	static const uint8_t der[] = {0x30, 0x00};
	struct ztm_cert_status_row st;

	put(f->s, "7c01", 0, 1);
	CHECK(ztm_store_cert_revoke(f->s, "7c01", ZTM_REASON_CESSATION, 100, "bob", NULL, E),
	      ZTM_OK);
	CHECK(ztm_store_cert_issue(f->s, "7c01", der, sizeof(der), E), ZTM_E_CONFLICT);
	st = status(f->s, "device", "7c01");
	assert_int_equal(st.status, ZTM_STATUS_REVOKED);
	assert_int_equal(st.rev.reason, ZTM_REASON_CESSATION);
	/* a held reservation that is resumed is abandoned, not issued */
	put(f->s, "7c02", 0, 1);
	CHECK(ztm_store_cert_revoke(f->s, "7c02", ZTM_REASON_HOLD, 100, "bob", NULL, E), ZTM_OK);
	CHECK(ztm_store_cert_resume(f->s, "7c02", "bob", E), ZTM_OK);
	assert_int_equal(raw_int(&f->t, "SELECT state = 'abandoned' FROM certificates"
	                                " WHERE serial = '7c02'"),
	                 1);
}

struct seen {
	int n;
	int64_t seq[8];
	enum ztm_rev_action action[8];
	char serial[8][ZTM_SERIAL_HEX_MAX];
	char actor[8][128];
};

static int on_event(const struct ztm_revocation_event *ev, void *arg)
{
	struct seen *s = arg;

	if (s->n >= 8)
		return 1;
	s->seq[s->n] = ev->seq;
	s->action[s->n] = ev->action;
	ztm_strlcpy(s->serial[s->n], ev->serial, sizeof(s->serial[0]));
	ztm_strlcpy(s->actor[s->n], ev->actor, sizeof(s->actor[0]));
	s->n++;
	return 0;
}

static void test_change_feed(void **state)
{
	struct store_fx *f = *state;
	struct seen seen;
	int64_t last = 0;

	put(f->s, "7d01", 0, 0);
	put(f->s, "7d02", 0, 0);
	CHECK(ztm_store_cert_revoke(f->s, "7d01", ZTM_REASON_HOLD, 100, "alice", NULL, E), ZTM_OK);
	CHECK(ztm_store_cert_revoke(f->s, "7d02", ZTM_REASON_KEY_COMPROMISE, 100, "bob", NULL, E),
	      ZTM_OK);
	CHECK(ztm_store_cert_resume(f->s, "7d01", "carol", E), ZTM_OK);
	/* a repeat is not a change */
	CHECK(ztm_store_cert_revoke(f->s, "7d02", ZTM_REASON_KEY_COMPROMISE, 200, "bob", NULL, E),
	      ZTM_OK);

	memset(&seen, 0, sizeof(seen));
	CHECK(ztm_store_revocation_changes(f->s, 0, 0, on_event, &seen, E), ZTM_OK);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.action[0], ZTM_REV_HOLD);
	assert_string_equal(seen.serial[0], "7d01");
	assert_int_equal(seen.action[1], ZTM_REV_REVOKE);
	assert_string_equal(seen.actor[1], "bob");
	assert_int_equal(seen.action[2], ZTM_REV_RESUME);
	assert_string_equal(seen.actor[2], "carol");
	assert_true(seen.seq[0] < seen.seq[1] && seen.seq[1] < seen.seq[2]);
	CHECK(ztm_store_revocation_seq(f->s, &last, E), ZTM_OK);
	assert_int_equal(last, seen.seq[2]);

	/* since and limit */
	memset(&seen, 0, sizeof(seen));
	CHECK(ztm_store_revocation_changes(f->s, last - 2, 1, on_event, &seen, E), ZTM_OK);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.seq[0], last - 1);
	memset(&seen, 0, sizeof(seen));
	CHECK(ztm_store_revocation_changes(f->s, last, 0, on_event, &seen, E), ZTM_OK);
	assert_int_equal(seen.n, 0);
}

struct listed {
	int n;
	char serial[16][ZTM_SERIAL_HEX_MAX];
};

static int on_rev(const struct ztm_revocation *rev, void *arg)
{
	struct listed *l = arg;

	if (l->n < 16)
		ztm_strlcpy(l->serial[l->n], rev->serial, sizeof(l->serial[0]));
	l->n++;
	return 0;
}

/* Shards follow reservation order, shard_size certificates each; the
 * per-shard listing holds exactly that shard's revocations of that CA. */
static void test_shards(void **state)
{
	struct store_fx *f = *state;
	static const char *serials[] = {"7e01", "7e02", "7e03", "7e04", "7e05", "7e06", "7e07"};
	int64_t shard[7];
	struct listed l;
	size_t i;

	for (i = 0; i < 7; i++)
		shard[i] = put(f->s, serials[i], 3, 0);
	/* rows 1..7: (number of rows before) / 3 */
	assert_int_equal(shard[0], 0);
	assert_int_equal(shard[2], 0);
	assert_int_equal(shard[3], 1);
	assert_int_equal(shard[5], 1);
	assert_int_equal(shard[6], 2);
	/* no partitioning: shard 0 */
	assert_int_equal(put(f->s, "7e10", 0, 0), 0);

	for (i = 0; i < 7; i++)
		CHECK(ztm_store_cert_revoke(f->s, serials[i], ZTM_REASON_UNSPECIFIED, 100, "alice",
		                            NULL, E),
		      ZTM_OK);
	memset(&l, 0, sizeof(l));
	CHECK(ztm_store_revocations_each(f->s, "device", 1, on_rev, &l, E), ZTM_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.serial[0], "7e04");
	assert_string_equal(l.serial[2], "7e06");
	memset(&l, 0, sizeof(l));
	CHECK(ztm_store_revocations_each(f->s, "station", 1, on_rev, &l, E), ZTM_OK);
	assert_int_equal(l.n, 0);
	/* the shard is read back with the row */
	{
		struct ztm_cert_row row;

		ztm_cert_row_init(&row);
		CHECK(ztm_store_cert_get(f->s, "7e07", &row, E), ZTM_OK);
		assert_int_equal(row.crl_shard, 2);
		ztm_cert_row_free(&row);
	}
	{
		struct ztm_cert_row row;

		ztm_cert_row_init(&row);
		row_fill(&row, "7e20", "");
		row.crl_shard_size = -1;
		CHECK(ztm_store_cert_reserve(f->s, &row, E), ZTM_E_USAGE);
		ztm_cert_row_free(&row);
	}
}

/* Everything of one owner: issued and in-flight certificates of device 7
 * (row_fill's owner) are revoked, another device's are not; a repeat
 * counts nothing. */
static void test_owner_revoke(void **state)
{
	struct store_fx *f = *state;
	struct ztm_cert_row row;
	int64_t n = -1;

	put(f->s, "7f20", 0, 0);
	put(f->s, "7f21", 0, 1); /* registration in flight */
	ztm_cert_row_init(&row);
	row_fill(&row, "7f22", "");
	row.owner_id = 8;
	CHECK(ztm_store_cert_reserve(f->s, &row, E), ZTM_OK);
	ztm_cert_row_free(&row);
	CHECK(ztm_store_owner_revoke(f->s, "device", 7, ZTM_REASON_CESSATION, 100, "alice", &n, E),
	      ZTM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(status(f->s, "device", "7f20").status, ZTM_STATUS_REVOKED);
	assert_int_equal(status(f->s, "device", "7f21").status, ZTM_STATUS_REVOKED);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM revocations WHERE serial = '7f22'"),
	                 0);
	CHECK(ztm_store_owner_revoke(f->s, "device", 7, ZTM_REASON_CESSATION, 200, "alice", &n, E),
	      ZTM_OK);
	assert_int_equal(n, 0);
	CHECK(ztm_store_owner_revoke(f->s, "device", 99, ZTM_REASON_CESSATION, 200, "alice", &n, E),
	      ZTM_OK);
	assert_int_equal(n, 0);
	CHECK(ztm_store_owner_revoke(f->s, "", 7, ZTM_REASON_CESSATION, 200, "alice", &n, E),
	      ZTM_E_USAGE);
}

/* Revocation runs inside a caller's transaction and rolls back with it. */
static void test_in_transaction(void **state)
{
	struct store_fx *f = *state;
	int64_t n = -1;

	put(f->s, "7f01", 0, 0);
	CHECK(ztm_store_begin(f->s, E), ZTM_OK);
	CHECK(ztm_store_cert_revoke(f->s, "7f01", ZTM_REASON_KEY_COMPROMISE, 100, "alice", NULL, E),
	      ZTM_OK);
	ztm_store_rollback(f->s);
	assert_int_equal(status(f->s, "device", "7f01").status, ZTM_STATUS_GOOD);
	CHECK(ztm_store_revocation_seq(f->s, &n, E), ZTM_OK);
	assert_int_equal(n, 0);
}

/* The revocation notice (ztm_store_on_revocation): once per transaction
 * that wrote the revocation log, after it ended, with the change visible to
 * a read made from the listener; none for a transaction without one. */
struct notice_fx {
	struct ztm_store *s;
	int calls;
	int64_t seq_seen;
};

static void on_notice(void *arg)
{
	struct notice_fx *n = arg;
	struct ztm_error err;

	n->calls++;
	assert_int_equal(ztm_store_revocation_seq(n->s, &n->seq_seen, &err), 0);
}

static void test_revocation_notice(void **state)
{
	struct store_fx *f = *state;
	struct notice_fx n = {f->s, 0, -1};
	int64_t after_two = 0;

	put(f->s, "7f11", 0, 0);
	put(f->s, "7f12", 0, 0);
	put(f->s, "7f13", 0, 0);
	ztm_store_on_revocation(f->s, on_notice, &n);
	/* Writes that touch no revocation: no notice. */
	put(f->s, "7f14", 0, 0);
	assert_int_equal(n.calls, 0);
	/* A call in its own transaction: one notice, the change readable. */
	CHECK(ztm_store_cert_revoke(f->s, "7f11", ZTM_REASON_KEY_COMPROMISE, 100, "alice", NULL, E),
	      ZTM_OK);
	assert_int_equal(n.calls, 1);
	assert_int_equal(n.seq_seen, 1);
	/* Nothing changed (already revoked): no log entry, no notice. */
	CHECK(ztm_store_cert_revoke(f->s, "7f11", ZTM_REASON_KEY_COMPROMISE, 100, "alice", NULL, E),
	      ZTM_OK);
	assert_int_equal(n.calls, 1);
	/* Two in the caller's transaction: one notice, after the commit. */
	CHECK(ztm_store_begin(f->s, E), ZTM_OK);
	CHECK(ztm_store_cert_revoke(f->s, "7f12", ZTM_REASON_HOLD, 100, "alice", NULL, E), ZTM_OK);
	CHECK(ztm_store_cert_resume(f->s, "7f12", "alice", E), ZTM_OK);
	assert_int_equal(n.calls, 1);
	CHECK(ztm_store_commit(f->s, E), ZTM_OK);
	assert_int_equal(n.calls, 2);
	assert_int_equal(n.seq_seen, 3);
	CHECK(ztm_store_revocation_seq(f->s, &after_two, E), ZTM_OK);
	assert_int_equal(after_two, 3);
	/* Rolled back: a spare notice is allowed, a lost one is not; the next
	 * transaction without a revocation owes none. */
	CHECK(ztm_store_begin(f->s, E), ZTM_OK);
	CHECK(ztm_store_cert_revoke(f->s, "7f13", ZTM_REASON_KEY_COMPROMISE, 100, "alice", NULL, E),
	      ZTM_OK);
	ztm_store_rollback(f->s);
	assert_in_range(n.calls, 2, 3);
	n.calls = 0;
	CHECK(ztm_store_begin(f->s, E), ZTM_OK);
	CHECK(ztm_store_commit(f->s, E), ZTM_OK);
	put(f->s, "7f15", 0, 0);
	assert_int_equal(n.calls, 0);
	/* A refused call: nothing logged, nothing announced. */
	CHECK(ztm_store_cert_revoke(f->s, "7f99", ZTM_REASON_KEY_COMPROMISE, 100, "alice", NULL, E),
	      ZTM_E_NOTFOUND);
	assert_int_equal(n.calls, 0);
	/* Listener removed: a revocation still commits, silently. */
	ztm_store_on_revocation(f->s, NULL, NULL);
	CHECK(ztm_store_cert_revoke(f->s, "7f13", ZTM_REASON_KEY_COMPROMISE, 100, "alice", NULL, E),
	      ZTM_OK);
	assert_int_equal(n.calls, 0);
	assert_int_equal(status(f->s, "device", "7f13").status, ZTM_STATUS_REVOKED);
}

/* Migration 3 on a version-2 file: a certificate revoked by the old
 * station revocation gets its revocation row and log entry. */
/* Two connections (two nodes) revoke the same certificate at once: the
 * second waits for the first to commit and then finds it revoked (changed =
 * 0), instead of writing a second log entry or failing on the duplicate. On
 * SQLite the write lock orders them, on PostgreSQL the certificate's row
 * lock (docs/store.md, "Concurrent writers"). */
static void test_concurrent_revoke(void **state)
{
	struct store_fx *f = *state;
	struct timespec pause = {0, 300 * 1000 * 1000L};
	int changed = 0, wstatus = 0, ready[2], go[2];
	char c = 0;
	pid_t pid;

	put(f->s, "7e01", 0, 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	/* Node b connects before node a takes any lock: SQLite's locks must
	 * not be held across fork(). */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ztm_store *b = NULL;
		struct ztm_error err;
		int ch = -1;

		if (ztm_store_open(f->t.url, &b, &err) != 0) {
			fprintf(stderr, "node-b: %s\n", ztm_error_msg(&err));
			_exit(2);
		}
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(5);
		if (ztm_store_cert_revoke(b, "7e01", ZTM_REASON_SUPERSEDED, 1700000001, "node-b",
		                          &ch, &err) != 0) {
			fprintf(stderr, "node-b: %s\n", ztm_error_msg(&err));
			_exit(3);
		}
		ztm_store_close(b);
		_exit(ch == 0 ? 0 : 4);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	CHECK(ztm_store_begin(f->s, E), ZTM_OK);
	CHECK(ztm_store_cert_revoke(f->s, "7e01", ZTM_REASON_KEY_COMPROMISE, 1700000000, "node-a",
	                            &changed, E),
	      ZTM_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(write(go[1], "g", 1), 1);
	nanosleep(&pause, NULL); /* node b is waiting for our lock now */
	CHECK(ztm_store_commit(f->s, E), ZTM_OK);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
	assert_int_equal(
	    raw_int(&f->t, "SELECT count(*) FROM revocation_log WHERE serial = '7e01'"), 1);
	assert_int_equal(status(f->s, "device", "7e01").rev.reason, ZTM_REASON_KEY_COMPROMISE);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

/* The change feed is read as "seq > the last one seen" (OCSP caches, the
 * CRL due check). Node a takes a log entry and has not committed; node b
 * logs another change meanwhile. A reader must never see b's entry before
 * a's commits: on PostgreSQL an identity value is taken at INSERT time, so
 * without the revocation log lock b would commit seq N+1 at once, a reader
 * would move past it, and a's N, committed later, would never be read. With
 * the lock (SQLite: its write lock) b waits for a, and the feed grows in
 * sequence order. */
static void test_feed_commit_order(void **state)
{
	struct store_fx *f = *state;
	struct timespec pause = {0, 300 * 1000 * 1000L};
	struct ztm_store *reader = NULL;
	struct seen seen;
	int wstatus = 0, ready[2], go[2];
	char c = 0;
	pid_t pid;

	put(f->s, "7e21", 0, 0);
	put(f->s, "7e22", 0, 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ztm_store *b = NULL;
		struct ztm_error err;

		if (ztm_store_open(f->t.url, &b, &err) != 0) {
			fprintf(stderr, "node-b: %s\n", ztm_error_msg(&err));
			_exit(2);
		}
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(5);
		if (ztm_store_cert_revoke(b, "7e22", ZTM_REASON_SUPERSEDED, 1700000001, "node-b",
		                          NULL, &err) != 0) {
			fprintf(stderr, "node-b: %s\n", ztm_error_msg(&err));
			_exit(3);
		}
		ztm_store_close(b);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	CHECK(ztm_store_open(f->t.url, &reader, E), ZTM_OK);
	CHECK(ztm_store_begin(f->s, E), ZTM_OK);
	CHECK(ztm_store_cert_revoke(f->s, "7e21", ZTM_REASON_KEY_COMPROMISE, 1700000000, "node-a",
	                            NULL, E),
	      ZTM_OK);
	assert_int_equal(write(go[1], "g", 1), 1);
	nanosleep(&pause, NULL); /* node b has had time to commit, were it not ordered */
	memset(&seen, 0, sizeof(seen));
	CHECK(ztm_store_revocation_changes(reader, 0, 0, on_event, &seen, E), ZTM_OK);
	assert_int_equal(seen.n, 0);
	CHECK(ztm_store_commit(f->s, E), ZTM_OK);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
	memset(&seen, 0, sizeof(seen));
	CHECK(ztm_store_revocation_changes(reader, 0, 0, on_event, &seen, E), ZTM_OK);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.serial[0], "7e21");
	assert_string_equal(seen.serial[1], "7e22");
	assert_true(seen.seq[0] < seen.seq[1]);
	ztm_store_close(reader);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static void test_migration_backfills(void **state)
{
	struct store_fx *f = *state;
	struct ztm_cert_status_row st;
	int v = 0;

	SQLITE_ONLY();

	put(f->s, "7f10", 0, 0);
	put(f->s, "7f11", 0, 0);
	ztm_store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_undo_10(&f->t), 0);
	assert_int_equal(
	    raw_exec(&f->t,
	             "PRAGMA foreign_keys=OFF;" UNDO_9 UNDO_8 UNDO_7 UNDO_6 UNDO_5 UNDO_4 UNDO_3
	             "UPDATE certificates SET state = 'revoked'"
	             " WHERE serial = '7f10'"),
	    SQLITE_OK);
	CHECK(ztm_store_open(f->t.url, &f->s, E), ZTM_OK);
	CHECK(ztm_store_schema_version(f->s, &v, E), ZTM_OK);
	assert_int_equal(v, SCHEMA_LATEST);
	CHECK(ztm_store_cert_status(f->s, "device", "7f10", &st, E), ZTM_OK);
	assert_int_equal(st.status, ZTM_STATUS_REVOKED);
	assert_int_equal(st.rev.reason, ZTM_REASON_PRIVILEGE_WITHDRAWN);
	assert_true(st.rev.seq >= 1);
	assert_int_equal(status(f->s, "device", "7f11").status, ZTM_STATUS_GOOD);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM revocation_log"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reason_names),
	    cmocka_unit_test_setup_teardown(test_revoke_hold_resume, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_status_unknown_and_refusals, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_revoked_reservation_never_issues, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_change_feed, store_fx_setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_shards, store_fx_setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_owner_revoke, store_fx_setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_in_transaction, store_fx_setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_revocation_notice, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_revoke, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_feed_commit_order, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_migration_backfills, store_fx_setup,
	                                    store_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
