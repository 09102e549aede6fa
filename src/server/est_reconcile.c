/* est_reconcile.c - an enrollment whose commit failed because the database
 * did not answer (ZTM_E_UNAVAILABLE: a PostgreSQL failover, a restart, the
 * network) is finished in this process once the database answers again,
 * with the same serial and the same signed bytes (docs/deployment.md,
 * "Synchronous standby and failover").
 *
 * Why here and not by the client's retry: the outcome of a lost COMMIT is
 * unknown. If it happened, a retry finds the certificate (DESIGN I3); but if
 * only the claim happened, the retry finds a reservation "in progress" (202)
 * that nobody would ever finish, and if nothing happened the retry signs a
 * second certificate while the first one's bytes are still here. This
 * process is the only one that knows which serial it signed, so it looks
 * that serial up and finishes what is missing:
 *
 * | stage  | the database has the serial  | outcome    | then                           |
 * |--------|------------------------------|------------|--------------------------------|
 * | claim  | reserved                     | claimed    | sign, record (as usual)        |
 * | claim  | not there (or not reserved)  | reclaimed  | the claim again, fresh serial  |
 * | record | issued, the same bytes       | committed  | reply with them                |
 * | record | reserved (or other)          | recorded   | the record job again           |
 * | record | not there                    | reissued   | claim again WITH that serial,  |
 * |        |                              |            | record the same bytes          |
 *
 * "reissued" degrades in two rare cases, both logged: the claim again finds
 * an issued certificate for the key (a retry of the client's went first:
 * "dropped", that one is the answer) or puts the serial in another CRL
 * shard than the one signed into the bytes ("resigned": signed again).
 *
 * A claim that failed before its commit (the database was already gone)
 * changed nothing and is answered 503 at once: only requests caught in a
 * commit wait here, so an outage does not pile requests up. Lookups repeat
 * with a growing pause (EST_RECONCILE_PAUSE_*) for up to
 * EST_RECONCILE_SECONDS; the client may have gone meanwhile (its retry then
 * finds the certificate), the request is held until then. */
#include <string.h>
#include <time.h>

#include "est_ops.h"
#include "server.h"
#include "ztm/log.h"

/* ZTMD_RECONCILE_SECONDS (server.h): long enough for a manual promotion;
 * the requests held are only those whose commit was in flight when the
 * database went away. */
#define EST_RECONCILE_SECONDS      ZTMD_RECONCILE_SECONDS
#define EST_RECONCILE_PAUSE_MIN_MS 100
#define EST_RECONCILE_PAUSE_MAX_MS 2000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *stage_name(enum est_stage stage)
{
	return stage == EST_STAGE_CLAIM ? "claim" : "record";
}

/* The claim again, with the serial already signed: the bytes in op->cert
 * are recorded when the serial lands in the same CRL shard. */
static int reissue(struct ztm_store *s, struct est_op *op, struct ztm_error *err)
{
	struct ztm_buf mine = op->cert;
	int64_t shard = op->row.crl_shard;
	int rc;

	ztm_buf_init(&op->cert, 64 * 1024);
	op->keep_serial = 1;
	rc = est_job_claim(s, op, err);
	op->keep_serial = 0;
	if (rc == 0 && op->existing) {
		/* A retry of the client's was issued first: that is the answer. */
		op->outcome = "dropped";
		ztm_buf_free(&mine);
		return 0;
	}
	if (rc == 0 && op->row.crl_shard != shard) {
		op->outcome = "resigned";
		ztm_buf_free(&mine);
		return 0;
	}
	ztm_buf_free(&op->cert);
	op->cert = mine;
	if (rc != 0)
		return -1;
	op->outcome = "reissued";
	return est_job_record(s, op, err);
}

/* The lookup job: what does the database have of op's serial? */
static int job_lookup(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct est_op *op = arg;
	struct ztm_cert_row row;
	struct ztm_error look;
	int found = -1, rc;

	ztm_cert_row_init(&row);
	ztm_error_clear(&look);
	if (op->row.serial[0] != '\0')
		found = ztm_store_cert_get(s, op->row.serial, &row, &look);
	if (found != 0 && op->row.serial[0] != '\0' && look.code != ZTM_E_NOTFOUND) {
		*err = look;
		rc = -1;
	} else if (op->stage == EST_STAGE_CLAIM) {
		if (found == 0 && row.state == ZTM_CERT_RESERVED) {
			op->outcome = "claimed";
			rc = 0;
		} else {
			/* Nothing of that claim is there: nothing was signed for it. */
			op->outcome = "reclaimed";
			op->existing = 0;
			if (op->kind == EST_BY_BOOTSTRAP)
				op->dev.verdict = VET_OK;
			rc = est_job_claim(s, op, err);
		}
	} else if (found == 0 && row.state == ZTM_CERT_ISSUED) {
		if (row.der.len == op->cert.len &&
		    memcmp(row.der.data, op->cert.data, row.der.len) == 0) {
			/* The lost COMMIT happened, but perhaps only on the
			 * primary: its wait for the synchronous standby ended
			 * with the connection. Reply only once this lookup's
			 * own commit has waited for the standby, which then
			 * holds that commit too (ztm_store_sync_barrier). */
			op->outcome = "committed";
			rc = ztm_store_sync_barrier(s, err);
		} else {
			rc = ztm_error_set(err, ZTM_E_CONFLICT,
			                   "certificate %s was issued with other bytes",
			                   op->row.serial);
		}
	} else if (found == 0) {
		/* Reserved: the record job again. Abandoned or revoked meanwhile:
		 * it says so, as it would have the first time. */
		op->outcome = "recorded";
		rc = est_job_record(s, op, err);
	} else {
		rc = reissue(s, op, err);
	}
	ztm_cert_row_free(&row);
	return rc;
}

static void done_lookup(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct est_op *op = arg;

	if (rc == 0)
		ztm_log(ZTM_LOG_WARN, "est.reconcile", "serial=%s stage=%s outcome=%s tries=%u",
		        op->row.serial, stage_name(op->stage), op->outcome, op->reconcile_tries);
	if (op->stage == EST_STAGE_CLAIM) {
		/* Claimed: sign and record. Reclaimed: as any claim's answer. */
		est_done_claim(r, op, rc, err);
		return;
	}
	if (rc == 0 &&
	    (strcmp(op->outcome, "dropped") == 0 || strcmp(op->outcome, "resigned") == 0)) {
		/* An earlier certificate to hand out, or a serial to sign again. */
		est_done_claim(r, op, 0, err);
		return;
	}
	est_done_record(r, op, rc, err);
}

int est_reconcile(struct ztmd_req *r, struct est_op *op, enum est_stage stage,
                  const struct ztm_error *err)
{
	uint64_t now = now_ms(), pause;

	if (err == NULL || err->code != ZTM_E_UNAVAILABLE)
		return 0;
	/* A claim whose own job failed never reached its commit: the
	 * transaction died with the connection, nothing to reconcile. */
	if (stage == EST_STAGE_CLAIM && !op->claim_ran)
		return 0;
	if (op->reconcile_until == 0) {
		op->reconcile_until = now + (uint64_t)EST_RECONCILE_SECONDS * 1000;
		ztm_log(ZTM_LOG_WARN, "est.reconcile_wait", "serial=%s stage=%s", op->row.serial,
		        stage_name(stage));
	} else if (now >= op->reconcile_until) {
		ztm_log(ZTM_LOG_ERROR, "est.reconcile",
		        "serial=%s stage=%s outcome=gave_up tries=%u", op->row.serial,
		        stage_name(stage), op->reconcile_tries);
		return 0;
	}
	pause = (uint64_t)EST_RECONCILE_PAUSE_MIN_MS
	        << (op->reconcile_tries < 5 ? op->reconcile_tries : 5);
	if (pause > EST_RECONCILE_PAUSE_MAX_MS)
		pause = EST_RECONCILE_PAUSE_MAX_MS;
	op->stage = stage;
	op->reconcile_tries++;
	ztmd_req_defer_after(r, (unsigned)pause, job_lookup, op, done_lookup);
	return 1;
}
