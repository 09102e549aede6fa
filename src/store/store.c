/* store.c - backend selection by URL scheme and the dispatching calls. */
#include <string.h>
#include <strings.h>

#include "store_impl.h"
#include "ztm/buf.h"

static const struct ztm_store_ops *const backends[] = {
    &ztm_store_sqlite_ops,
    &ztm_store_pg_ops,
    &ztm_store_postgres_ops,
};

static const char *const role_names[] = {
#define ZTM_X_ROLE(e, s) s,
    ZTM_ROLE_TABLE(ZTM_X_ROLE)
#undef ZTM_X_ROLE
};

const char *ztm_role_name(enum ztm_role r)
{
	return (unsigned)r < ZTM_ROLE_COUNT ? role_names[r] : "unknown";
}

int ztm_role_parse(const char *name, enum ztm_role *out)
{
	unsigned i;

	for (i = 0; i < ZTM_ROLE_COUNT; i++) {
		if (strcmp(name, role_names[i]) == 0) {
			*out = (enum ztm_role)i;
			return 0;
		}
	}
	return -1;
}

const char *ztm_cert_state_name(enum ztm_cert_state s)
{
	static const char *names[] = {"reserved", "issued", "abandoned", "revoked"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

static const struct {
	int value;
	const char *name;
} reasons[] = {
#define ZTM_X_REASON(e, v, s) {v, s},
    ZTM_REASON_TABLE(ZTM_X_REASON)
#undef ZTM_X_REASON
};

const char *ztm_reason_name(int reason)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].value == reason)
			return reasons[i].name;
	return NULL;
}

int ztm_reason_parse(const char *name, enum ztm_reason *out)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (strcasecmp(name, reasons[i].name) == 0) {
			*out = (enum ztm_reason)reasons[i].value;
			return 0;
		}
	}
	return -1;
}

void ztm_cert_row_init(struct ztm_cert_row *row)
{
	memset(row, 0, sizeof(*row));
	ztm_buf_init(&row->der, 1024 * 1024);
}

void ztm_cert_row_free(struct ztm_cert_row *row)
{
	if (row != NULL)
		ztm_buf_free(&row->der);
}

void ztm_crl_row_init(struct ztm_crl_row *row)
{
	memset(row, 0, sizeof(*row));
	ztm_buf_init(&row->der, 64 * 1024 * 1024);
}

void ztm_crl_row_free(struct ztm_crl_row *row)
{
	if (row != NULL)
		ztm_buf_free(&row->der);
}

static const char *const fw_state_names[] = {"pending", "signed", "revoked"};
const char *ztm_fw_state_name(enum ztm_fw_state st)
{
	return (unsigned)st < 3 ? fw_state_names[st] : "unknown";
}
int ztm_fw_state_parse(const char *name, enum ztm_fw_state *out)
{
	int i;

	for (i = 0; name != NULL && i < 3; i++)
		if (strcmp(name, fw_state_names[i]) == 0) {
			*out = (enum ztm_fw_state)i;
			return 0;
		}
	return -1;
}

const char *ztm_mass_state_name(enum ztm_mass_state st)
{
	static const char *const names[] = {"pending", "executed", "rejected"};

	return (unsigned)st < 3 ? names[st] : "unknown";
}

void ztm_record_row_init(struct ztm_record_row *row)
{
	memset(row, 0, sizeof(*row));
	ztm_buf_init(&row->bootstrap_der, 16384);
}

void ztm_record_row_free(struct ztm_record_row *row)
{
	if (row != NULL)
		ztm_buf_free(&row->bootstrap_der);
}

static const char *const device_state_names[] = {
#define ZTM_X_DEV(e, s) s,
    ZTM_DEVICE_STATE_TABLE(ZTM_X_DEV)
#undef ZTM_X_DEV
};

const char *ztm_device_state_name(enum ztm_device_state st)
{
	return (unsigned)st < ZTM_DEVICE_STATE_COUNT ? device_state_names[st] : "unknown";
}

int ztm_device_state_parse(const char *name, enum ztm_device_state *out)
{
	unsigned i;

	for (i = 0; name != NULL && i < ZTM_DEVICE_STATE_COUNT; i++) {
		if (strcmp(name, device_state_names[i]) == 0) {
			*out = (enum ztm_device_state)i;
			return 0;
		}
	}
	return -1;
}

int ztm_store_open(const char *url, struct ztm_store **out, struct ztm_error *err)
{
	size_t i, n;
	const char *colon = strchr(url, ':');

	*out = NULL;
	if (colon == NULL)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "store URL '%s' has no scheme (want sqlite:/path)", url);
	n = (size_t)(colon - url);
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strlen(backends[i]->scheme) != n || strncmp(url, backends[i]->scheme, n) != 0)
			continue;
		/* A NULL op would crash at its first call, maybe far from here. */
		if (ztm_store_ops_check(backends[i], err) != 0)
			return -1;
		return backends[i]->open(colon + 1, out, err);
	}
	return ztm_error_set(err, ZTM_E_CONFIG, "store URL '%s': unknown scheme", url);
}

void ztm_store_close(struct ztm_store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

/* A job under its own savepoint: a failure undoes only its writes. A
 * replayable job that lost to another transaction (PostgreSQL: chosen as a
 * deadlock's victim, or a serialization failure) runs once more: its
 * rollback released the locks it took, which is what the other side waited
 * for, so the second run usually goes through; without it a renewal's
 * record job would fail and its signed certificate be dropped. Once only:
 * a job that loses twice is contending for good, and the request's own
 * error path (a 500, the client's retry by idempotency key) takes over. */
static void run_job(struct ztm_store *s, struct ztm_store_job *job)
{
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		ztm_error_clear(&job->err);
		if (s->ops->savepoint(s, &job->err) != 0) {
			job->rc = -1;
			return;
		}
		job->rc = job->fn(s, job->arg, &job->err);
		if (job->rc == 0)
			break;
		s->ops->rollback_to(s);
		if (!job->replayable || s->ops->retryable == NULL || !s->ops->retryable(s))
			return;
	}
	if (job->rc == 0 && s->ops->release(s, &job->err) != 0)
		job->rc = -1;
}

/* One attempt at the batch. pipelined: the replayable jobs first, with the
 * backend's pipeline on; then, once their answers are in and as assumed,
 * the others one statement at a time. Returns 0 committed, -1 nothing
 * committed (every job's rc says so; also when the store went away during
 * the pipelined part), 1 the pipelined part did not go as assumed and was
 * rolled back: run the batch again without it. */
static int run_once(struct ztm_store *s, struct ztm_store_job *jobs, size_t n, int durable,
                    int pipelined, struct ztm_error *err)
{
	size_t i;
	int p;

	if (!durable && s->ops->nosync_next != NULL)
		s->ops->nosync_next(s);
	if (s->ops->begin(s, err) != 0) {
		for (i = 0; i < n; i++) {
			jobs[i].rc = -1;
			jobs[i].err = *err;
		}
		return -1;
	}
	if (pipelined) {
		if (s->ops->pipeline(s, 1, err) != 0) {
			s->ops->rollback(s);
			return 1;
		}
		for (i = 0; i < n; i++)
			if (jobs[i].replayable)
				run_job(s, &jobs[i]);
		p = s->ops->pipeline(s, 0, err);
		if (p < 0) {
			/* The store went away: nothing committed, no replay. */
			s->ops->rollback(s);
			for (i = 0; i < n; i++) {
				jobs[i].rc = -1;
				jobs[i].err = *err;
			}
			return -1;
		}
		if (p != 0) {
			s->ops->rollback(s);
			return 1;
		}
	}
	for (i = 0; i < n; i++)
		if (!pipelined || !jobs[i].replayable)
			run_job(s, &jobs[i]);
	if (s->ops->commit(s, err) != 0) {
		s->ops->rollback(s);
		for (i = 0; i < n; i++) {
			if (jobs[i].rc == 0) {
				jobs[i].rc = -1;
				jobs[i].err = *err;
			}
		}
		return -1;
	}
	return 0;
}

/* A group commit costs one round trip per statement unless the backend can
 * pipeline: then the replayable jobs' writes (the issue step of every
 * registration in the batch: certificate, device state, audit row) go out
 * together and one wait covers them all. Speculation is only safe because a
 * replayable job, run again, does exactly what it did: if any answer
 * differs from the assumption (a conflict, a trigger's refusal, a row not
 * found), the whole attempt is rolled back and the batch runs the plain way,
 * where each statement's answer is seen before the next one is sent. */
static int run_batch(struct ztm_store *s, struct ztm_store_job *jobs, size_t n, int durable,
                     struct ztm_error *err)
{
	size_t i, replayable = 0;
	int rc;

	for (i = 0; i < n; i++)
		replayable += jobs[i].replayable != 0;
	if (s->ops->pipeline != NULL && replayable > 0) {
		rc = run_once(s, jobs, n, durable, 1, err);
		if (rc != 1)
			return rc;
	}
	return run_once(s, jobs, n, durable, 0, err);
}

int ztm_store_run_batch(struct ztm_store *s, struct ztm_store_job *jobs, size_t n,
                        struct ztm_error *err)
{
	return run_batch(s, jobs, n, 1, err);
}

int ztm_store_run_batch_nosync(struct ztm_store *s, struct ztm_store_job *jobs, size_t n,
                               struct ztm_error *err)
{
	return run_batch(s, jobs, n, 0, err);
}

/* The rest is plain dispatch. */
#define DISPATCH(name, ...) return s->ops->name(s, __VA_ARGS__)

int ztm_store_schema_version(struct ztm_store *s, int *out, struct ztm_error *err)
{
	DISPATCH(schema_version, out, err);
}
int ztm_store_sync_barrier(struct ztm_store *s, struct ztm_error *err)
{
	return s->ops->sync_barrier != NULL ? s->ops->sync_barrier(s, err) : 0;
}

int ztm_store_has_checkpoints(const struct ztm_store *s)
{
	return s->ops->checkpoint != NULL;
}
int ztm_store_checkpoint(struct ztm_store *s, struct ztm_checkpoint_stat *st, struct ztm_error *err)
{
	struct ztm_checkpoint_stat ignored;

	if (st == NULL)
		st = &ignored;
	st->wal_frames = st->checkpointed = 0;
	return s->ops->checkpoint != NULL ? s->ops->checkpoint(s, st, err) : 0;
}
void ztm_store_checkpoint_elsewhere(struct ztm_store *s)
{
	if (s->ops->checkpoint_elsewhere != NULL)
		s->ops->checkpoint_elsewhere(s);
}

int ztm_store_begin(struct ztm_store *s, struct ztm_error *err)
{
	DISPATCH(begin, err);
}
int ztm_store_commit(struct ztm_store *s, struct ztm_error *err)
{
	DISPATCH(commit, err);
}
void ztm_store_rollback(struct ztm_store *s)
{
	s->ops->rollback(s);
}
int ztm_store_cert_reserve(struct ztm_store *s, struct ztm_cert_row *row, struct ztm_error *err)
{
	if (store_check_cert_row(row, err) != 0)
		return -1;
	DISPATCH(cert_reserve, row, err);
}
int ztm_store_cert_issue(struct ztm_store *s, const char *serial, const uint8_t *der, size_t len,
                         struct ztm_error *err)
{
	DISPATCH(cert_issue, serial, der, len, err);
}
int ztm_store_cert_get(struct ztm_store *s, const char *serial, struct ztm_cert_row *out,
                       struct ztm_error *err)
{
	DISPATCH(cert_get, serial, out, err);
}
int ztm_store_cert_by_idem(struct ztm_store *s, const char *idem_key, struct ztm_cert_row *out,
                           struct ztm_error *err)
{
	DISPATCH(cert_by_idem, idem_key, out, err);
}
int ztm_store_cert_recover(struct ztm_store *s, int64_t before, int64_t *n, struct ztm_error *err)
{
	DISPATCH(cert_recover, before, n, err);
}
int ztm_store_cert_abandon(struct ztm_store *s, const char *serial, struct ztm_error *err)
{
	DISPATCH(cert_abandon, serial, err);
}
int ztm_store_cert_count(struct ztm_store *s, enum ztm_cert_state state, int64_t *n,
                         struct ztm_error *err)
{
	DISPATCH(cert_count, state, n, err);
}
int ztm_store_cert_each(struct ztm_store *s, enum ztm_cert_state state,
                        int (*fn)(const struct ztm_cert_row *row, void *arg), void *arg,
                        struct ztm_error *err)
{
	DISPATCH(cert_each, state, fn, arg, err);
}
int ztm_store_cert_revoke(struct ztm_store *s, const char *serial, enum ztm_reason reason,
                          int64_t when, const char *actor, int *changed, struct ztm_error *err)
{
	DISPATCH(cert_revoke, serial, reason, when, actor, changed, err);
}
int ztm_store_owner_revoke(struct ztm_store *s, const char *owner_kind, int64_t owner_id,
                           enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                           struct ztm_error *err)
{
	DISPATCH(owner_revoke, owner_kind, owner_id, reason, when, actor, n, err);
}
int ztm_store_cert_resume(struct ztm_store *s, const char *serial, const char *actor,
                          struct ztm_error *err)
{
	DISPATCH(cert_resume, serial, actor, err);
}
int ztm_store_cert_status(struct ztm_store *s, const char *ca, const char *serial,
                          struct ztm_cert_status_row *out, struct ztm_error *err)
{
	DISPATCH(cert_status, ca, serial, out, err);
}
int ztm_store_revocation_seq(struct ztm_store *s, int64_t *seq, struct ztm_error *err)
{
	DISPATCH(revocation_seq, seq, err);
}
int ztm_store_revocation_changes(struct ztm_store *s, int64_t since, int64_t limit,
                                 int (*fn)(const struct ztm_revocation_event *ev, void *arg),
                                 void *arg, struct ztm_error *err)
{
	DISPATCH(revocation_changes, since, limit, fn, arg, err);
}
int ztm_store_revocations_each(struct ztm_store *s, const char *ca, int64_t crl_shard,
                               int (*fn)(const struct ztm_revocation *rev, void *arg), void *arg,
                               struct ztm_error *err)
{
	DISPATCH(revocations_each, ca, crl_shard, fn, arg, err);
}
int ztm_store_device_revoke(struct ztm_store *s, const char *serial, enum ztm_reason reason,
                            int64_t when, const char *actor, int64_t *n, struct ztm_error *err)
{
	DISPATCH(device_revoke, serial, reason, when, actor, n, err);
}
int ztm_store_device_suspend(struct ztm_store *s, const char *serial, int64_t when,
                             const char *actor, struct ztm_error *err)
{
	DISPATCH(device_suspend, serial, when, actor, err);
}
int ztm_store_device_resume(struct ztm_store *s, const char *serial, const char *actor,
                            struct ztm_error *err)
{
	DISPATCH(device_resume, serial, actor, err);
}
int ztm_store_mass_request(struct ztm_store *s, struct ztm_mass_row *row, struct ztm_error *err)
{
	DISPATCH(mass_request, row, err);
}
int ztm_store_mass_get(struct ztm_store *s, int64_t id, struct ztm_mass_row *out,
                       struct ztm_error *err)
{
	DISPATCH(mass_get, id, out, err);
}
int ztm_store_mass_decide(struct ztm_store *s, int64_t id, int approve, const char *who,
                          int64_t when, struct ztm_mass_row *out, struct ztm_error *err)
{
	DISPATCH(mass_decide, id, approve, who, when, out, err);
}
int ztm_store_crl_shards(struct ztm_store *s, const char *ca, int (*fn)(int64_t shard, void *arg),
                         void *arg, struct ztm_error *err)
{
	DISPATCH(crl_shards, ca, fn, arg, err);
}
int ztm_store_crl_get(struct ztm_store *s, const char *ca, int64_t shard, int want_der,
                      struct ztm_crl_row *out, struct ztm_error *err)
{
	DISPATCH(crl_get, ca, shard, want_der, out, err);
}
int ztm_store_crl_claim(struct ztm_store *s, const char *ca, int64_t shard, const char *holder,
                        int64_t now, int64_t lease, int64_t refresh, int *got, int64_t *number,
                        int64_t *seq, struct ztm_error *err)
{
	DISPATCH(crl_claim, ca, shard, holder, now, lease, refresh, got, number, seq, err);
}
int ztm_store_crl_put(struct ztm_store *s, const struct ztm_crl_row *row, const char *holder,
                      struct ztm_error *err)
{
	DISPATCH(crl_put, row, holder, err);
}
int ztm_store_factory_add(struct ztm_store *s, const char *name, int64_t *id, struct ztm_error *err)
{
	DISPATCH(factory_add, name, id, err);
}
int ztm_store_factory_get(struct ztm_store *s, const char *name, int64_t *id, struct ztm_error *err)
{
	DISPATCH(factory_get, name, id, err);
}
int ztm_store_station_add(struct ztm_store *s, int64_t factory_id, const char *name, int64_t *id,
                          struct ztm_error *err)
{
	DISPATCH(station_add, factory_id, name, id, err);
}
int ztm_store_station_get(struct ztm_store *s, int64_t id, struct ztm_station_row *out,
                          struct ztm_error *err)
{
	DISPATCH(station_get, id, out, err);
}
int ztm_store_station_find(struct ztm_store *s, const char *factory, const char *name,
                           struct ztm_station_row *out, struct ztm_error *err)
{
	DISPATCH(station_find, factory, name, out, err);
}
int ztm_store_station_set_cert(struct ztm_store *s, int64_t id, const char *serial,
                               struct ztm_error *err)
{
	DISPATCH(station_set_cert, id, serial, err);
}
int ztm_store_station_revoke(struct ztm_store *s, int64_t id, int64_t when, enum ztm_reason reason,
                             const char *actor, struct ztm_error *err)
{
	DISPATCH(station_revoke, id, when, reason, actor, err);
}
int ztm_store_operator_add(struct ztm_store *s, const char *name, enum ztm_role role, int64_t *id,
                           struct ztm_error *err)
{
	DISPATCH(operator_add, name, role, id, err);
}
int ztm_store_operator_get(struct ztm_store *s, int64_t id, struct ztm_operator_row *out,
                           struct ztm_error *err)
{
	DISPATCH(operator_get, id, out, err);
}
int ztm_store_operator_set_cert(struct ztm_store *s, int64_t id, const char *serial,
                                struct ztm_error *err)
{
	DISPATCH(operator_set_cert, id, serial, err);
}
int ztm_store_principal_by_cert(struct ztm_store *s, const char *ca, const char *serial,
                                struct ztm_principal *out, struct ztm_error *err)
{
	DISPATCH(principal_by_cert, ca, serial, out, err);
}
int ztm_store_code_add(struct ztm_store *s, const uint8_t hash[32], enum ztm_code_kind kind,
                       int64_t subject_id, int64_t expires_at, struct ztm_error *err)
{
	DISPATCH(code_add, hash, kind, subject_id, expires_at, err);
}
int ztm_store_code_claim(struct ztm_store *s, const uint8_t hash[32], const char *spki, int64_t now,
                         struct ztm_code_row *out, struct ztm_error *err)
{
	DISPATCH(code_claim, hash, spki, now, out, err);
}
int ztm_store_code_bind(struct ztm_store *s, const uint8_t hash[32], const char *serial,
                        struct ztm_error *err)
{
	DISPATCH(code_bind, hash, serial, err);
}
int ztm_store_audit(struct ztm_store *s, const char *actor, const char *action, const char *object,
                    const char *outcome, const char *detail, struct ztm_error *err)
{
	DISPATCH(audit, actor, action, object, outcome, detail, err);
}
int ztm_store_audit_count(struct ztm_store *s, int64_t *n, struct ztm_error *err)
{
	DISPATCH(audit_count, n, err);
}
int ztm_store_product_add(struct ztm_store *s, const struct ztm_product_row *row, int64_t *id,
                          struct ztm_error *err)
{
	DISPATCH(product_add, row, id, err);
}
int ztm_store_product_get(struct ztm_store *s, const char *name, struct ztm_product_row *out,
                          struct ztm_error *err)
{
	DISPATCH(product_get, name, out, err);
}
int ztm_store_order_add(struct ztm_store *s, const struct ztm_order_row *row, int64_t *id,
                        struct ztm_error *err)
{
	DISPATCH(order_add, row, id, err);
}
int ztm_store_order_get(struct ztm_store *s, const char *name, struct ztm_order_row *out,
                        struct ztm_error *err)
{
	DISPATCH(order_get, name, out, err);
}
int ztm_store_order_get_id(struct ztm_store *s, int64_t id, struct ztm_order_row *out,
                           struct ztm_error *err)
{
	DISPATCH(order_get_id, id, out, err);
}
int ztm_store_order_close(struct ztm_store *s, const char *name, int64_t when,
                          struct ztm_error *err)
{
	DISPATCH(order_close, name, when, err);
}
int ztm_store_order_take_record_slot(struct ztm_store *s, int64_t order_id, int64_t now,
                                     struct ztm_error *err)
{
	DISPATCH(order_take_record_slots, order_id, 1, now, err);
}
int ztm_store_order_take_record_slots(struct ztm_store *s, int64_t order_id, int64_t n, int64_t now,
                                      struct ztm_error *err)
{
	DISPATCH(order_take_record_slots, order_id, n, now, err);
}
int ztm_store_order_take_registration(struct ztm_store *s, int64_t order_id, int64_t now,
                                      struct ztm_error *err)
{
	DISPATCH(order_take_registration, order_id, now, err);
}
int ztm_store_batch_add(struct ztm_store *s, int64_t station_id, const char *hash,
                        int64_t n_records, int64_t *id, struct ztm_error *err)
{
	DISPATCH(batch_add, station_id, hash, n_records, id, err);
}
int ztm_store_record_add(struct ztm_store *s, const struct ztm_record_row *row, int64_t *id,
                         int *repeat, struct ztm_error *err)
{
	if (store_check_record_row(row, err) != 0)
		return -1;
	DISPATCH(record_add, row, id, repeat, err);
}
int ztm_store_record_by_spki(struct ztm_store *s, const char *spki, struct ztm_record_row *out,
                             struct ztm_error *err)
{
	DISPATCH(record_by_spki, spki, out, err);
}
int ztm_store_device_add(struct ztm_store *s, const struct ztm_device_row *row, int64_t *id,
                         struct ztm_error *err)
{
	DISPATCH(device_add, row, id, err);
}
int ztm_store_device_get(struct ztm_store *s, const char *serial, struct ztm_device_row *out,
                         struct ztm_error *err)
{
	DISPATCH(device_get, serial, out, err);
}
int ztm_store_device_by_cert(struct ztm_store *s, const char *cert_serial,
                             struct ztm_device_row *out, int *cert_revoked, struct ztm_error *err)
{
	DISPATCH(device_by_cert, cert_serial, out, cert_revoked, err);
}
int ztm_store_device_count(struct ztm_store *s, enum ztm_device_state state, int64_t *n,
                           struct ztm_error *err)
{
	DISPATCH(device_count, state, n, err);
}
int ztm_store_device_set_state(struct ztm_store *s, const char *serial, enum ztm_device_state state,
                               const char *cert_serial, const char *key_spki, struct ztm_error *err)
{
	DISPATCH(device_set_state, serial, state, cert_serial, key_spki, err);
}
int ztm_store_fw_signer_add(struct ztm_store *s, struct ztm_fw_signer_row *row,
                            struct ztm_error *err)
{
	DISPATCH(fw_signer_add, row, err);
}
int ztm_store_fw_signer_get(struct ztm_store *s, int64_t id, struct ztm_fw_signer_row *out,
                            struct ztm_error *err)
{
	DISPATCH(fw_signer_get, id, out, err);
}
int ztm_store_fw_signer_active(struct ztm_store *s, int64_t product_id, int channel,
                               struct ztm_fw_signer_row *out, struct ztm_error *err)
{
	DISPATCH(fw_signer_active, product_id, channel, out, err);
}
int ztm_store_fw_signer_each(struct ztm_store *s, int64_t product_id,
                             int (*fn)(const struct ztm_fw_signer_row *row, void *arg), void *arg,
                             struct ztm_error *err)
{
	DISPATCH(fw_signer_each, product_id, fn, arg, err);
}
int ztm_store_fw_signer_retire(struct ztm_store *s, int64_t id, int64_t when, struct ztm_error *err)
{
	DISPATCH(fw_signer_retire, id, when, err);
}
int ztm_store_fw_svn_floor(struct ztm_store *s, int64_t product_id, int64_t *floor,
                           struct ztm_error *err)
{
	DISPATCH(fw_svn_floor, product_id, floor, err);
}
int ztm_store_fw_release_add(struct ztm_store *s, struct ztm_fw_release_row *row,
                             struct ztm_error *err)
{
	DISPATCH(fw_release_add, row, err);
}
int ztm_store_fw_release_get(struct ztm_store *s, int64_t id, struct ztm_fw_release_row *out,
                             struct ztm_error *err)
{
	DISPATCH(fw_release_get, id, out, err);
}
int ztm_store_fw_release_blobs(struct ztm_store *s, int64_t id, struct ztm_buf *cms,
                               struct ztm_buf *manifest, struct ztm_error *err)
{
	DISPATCH(fw_release_blobs, id, cms, manifest, err);
}
int ztm_store_fw_release_sign(struct ztm_store *s, int64_t id, int64_t signer_id,
                              const char *approver, int64_t when, const uint8_t *cms,
                              size_t cms_len, const uint8_t *manifest, size_t manifest_len,
                              struct ztm_error *err)
{
	DISPATCH(fw_release_sign, id, signer_id, approver, when, cms, cms_len, manifest,
	         manifest_len, err);
}
int ztm_store_fw_release_revoke(struct ztm_store *s, int64_t id, const char *who,
                                const char *reason, int64_t when, struct ztm_error *err)
{
	DISPATCH(fw_release_revoke, id, who, reason, when, err);
}
int ztm_store_fw_release_each(struct ztm_store *s, const struct ztm_fw_filter *f,
                              int (*fn)(const struct ztm_fw_release_row *row, void *arg), void *arg,
                              struct ztm_error *err)
{
	DISPATCH(fw_release_each, f, fn, arg, err);
}
int ztm_store_firmware_approve(struct ztm_store *s, int64_t product_id, const char *sha256,
                               struct ztm_error *err)
{
	DISPATCH(firmware_approve, product_id, sha256, err);
}
int ztm_store_firmware_approved(struct ztm_store *s, int64_t product_id, const char *sha256,
                                int *yes, struct ztm_error *err)
{
	DISPATCH(firmware_approved, product_id, sha256, yes, err);
}
int ztm_store_alert(struct ztm_store *s, const char *kind, const char *serial, const char *detail,
                    struct ztm_error *err)
{
	DISPATCH(alert, kind, serial, detail, err);
}
int ztm_store_alert_count(struct ztm_store *s, const char *kind, int64_t *n, struct ztm_error *err)
{
	DISPATCH(alert_count, kind, n, err);
}
int ztm_store_owner_add(struct ztm_store *s, const char *name, const uint8_t *der, size_t len,
                        int64_t *id, struct ztm_error *err)
{
	DISPATCH(owner_add, name, der, len, id, err);
}
int ztm_store_owner_get(struct ztm_store *s, const char *name, struct ztm_owner_row *out,
                        struct ztm_error *err)
{
	DISPATCH(owner_get, name, out, err);
}
int ztm_store_owner_get_id(struct ztm_store *s, int64_t id, struct ztm_owner_row *out,
                           struct ztm_error *err)
{
	DISPATCH(owner_get_id, id, out, err);
}
int ztm_store_owner_each(struct ztm_store *s, int (*fn)(const struct ztm_owner_row *row, void *arg),
                         void *arg, struct ztm_error *err)
{
	DISPATCH(owner_each, fn, arg, err);
}
int ztm_store_owner_operator_add(struct ztm_store *s, const char *name, int64_t owner_id,
                                 int64_t *id, struct ztm_error *err)
{
	DISPATCH(owner_operator_add, name, owner_id, id, err);
}
int ztm_store_device_set_owner(struct ztm_store *s, const char *serial, int64_t owner_id,
                               struct ztm_error *err)
{
	DISPATCH(device_set_owner, serial, owner_id, err);
}
int ztm_store_device_each(struct ztm_store *s, int64_t owner_id, int64_t after_id, int64_t limit,
                          int (*fn)(const struct ztm_device_row *row, void *arg), void *arg,
                          struct ztm_error *err)
{
	DISPATCH(device_each, owner_id, after_id, limit, fn, arg, err);
}
int ztm_store_voucher_add(struct ztm_store *s, int64_t device_id, int64_t owner_id,
                          int64_t created_on, int64_t expires_on, const char *sha256,
                          const char *actor, struct ztm_error *err)
{
	DISPATCH(voucher_add, device_id, owner_id, created_on, expires_on, sha256, actor, err);
}
int ztm_store_voucher_count(struct ztm_store *s, int64_t device_id, int64_t *n,
                            struct ztm_error *err)
{
	DISPATCH(voucher_count, device_id, n, err);
}

int ztm_store_product_set_policy(struct ztm_store *s, const char *name, int64_t lifetime_days,
                                 int64_t renew_window_days, int64_t renew_grace_days,
                                 int key_storage, struct ztm_error *err)
{
	DISPATCH(product_set_policy, name, lifetime_days, renew_window_days, renew_grace_days,
	         key_storage, err);
}

int ztm_store_device_replace(struct ztm_store *s, const char *serial, int64_t record_id,
                             const char *key_spki, struct ztm_error *err)
{
	DISPATCH(device_replace, serial, record_id, key_spki, err);
}

int ztm_store_owner_revoke_except(struct ztm_store *s, const char *owner_kind, int64_t owner_id,
                                  const char *keep, enum ztm_reason reason, int64_t when,
                                  const char *actor, int64_t *n, struct ztm_error *err)
{
	DISPATCH(owner_revoke_except, owner_kind, owner_id, keep, reason, when, actor, n, err);
}

int ztm_store_product_get_id(struct ztm_store *s, int64_t id, struct ztm_product_row *out,
                             struct ztm_error *err)
{
	DISPATCH(product_get_id, id, out, err);
}

const char *ztm_key_storage_name(enum ztm_key_storage ks)
{
	switch (ks) {
	case ZTM_KEY_STORAGE_ANY:
		return "any";
	case ZTM_KEY_STORAGE_TPM:
		return "tpm";
	}
	return NULL;
}

int ztm_key_storage_parse(const char *name, enum ztm_key_storage *out, struct ztm_error *err)
{
	if (name != NULL && strcmp(name, "any") == 0)
		*out = ZTM_KEY_STORAGE_ANY;
	else if (name != NULL && strcmp(name, "tpm") == 0)
		*out = ZTM_KEY_STORAGE_TPM;
	else
		return ztm_error_set(err, ZTM_E_USAGE, "key storage '%.32s' is not 'any' or 'tpm'",
		                     name != NULL ? name : "");
	return 0;
}
