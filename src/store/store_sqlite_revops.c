/* store_sqlite_revops.c - revocation operations on devices in the SQLite
 * store: revoke, suspend and resume one device, and mass revocation by
 * station or work order with its two-person approval (docs/revocation.md,
 * migration 4). Built on the certificate revocations of
 * store_sqlite_revoke.c; each call is one transaction. */
#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>

#include "ztm/str.h"

/* The devices a window selects: each record with its order's product and
 * the device of its serial, if any. A record is in the window when it was
 * made (recorded_at, the station's clock) or received (received_at, ours)
 * in it: a stolen station key can backdate what it uploads, never when we
 * received it (as vet.c voids records after a station revocation). */
#define MASS_SELECT                                                                                \
	"SELECT r.id, r.serial, r.spki_sha256, o.product_id, d.record_id, d.state"                 \
	" FROM records r JOIN work_orders o ON o.id = r.order_id"                                  \
	" LEFT JOIN devices d ON d.serial = r.serial"
#define IN_WINDOW "(r.recorded_at BETWEEN ?2 AND ?3 OR r.received_at BETWEEN ?2 AND ?3)"
static const struct sq_query q_by_station = {
    SQ_MASS_BY_STATION, MASS_SELECT " WHERE r.station_id = ?1 AND " IN_WINDOW " ORDER BY r.id"};
static const struct sq_query q_by_order = {
    SQ_MASS_BY_ORDER, MASS_SELECT " WHERE r.order_id = ?1 AND " IN_WINDOW " ORDER BY r.id"};
static const struct sq_query q_mass_add = {
    SQ_MASS_ADD,
    "INSERT INTO mass_revocations (selector, target_id, target, from_ts, to_ts, reason,"
    " requested_by, requested_at, preview) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"};
static const struct sq_query q_mass_get = {
    SQ_MASS_GET, "SELECT id, selector, target_id, target, from_ts, to_ts, reason, requested_by,"
                 " requested_at, preview, state, decided_by, decided_at, devices, certificates"
                 " FROM mass_revocations WHERE id = ?1"};
static const struct sq_query q_mass_decide = {
    SQ_MASS_DECIDE,
    "UPDATE mass_revocations SET state = ?2, decided_by = ?3, decided_at = ?4, devices = ?5,"
    " certificates = ?6 WHERE id = ?1 AND state = 'pending'"};

static const char *const selector_names[] = {"station", "order"};
static const char *const state_names[] = {"pending", "executed", "rejected"};

static int check_actor(const char *actor, struct ztm_error *err)
{
	return store_check_text("revocation actor", actor, 128, 1, err);
}

/* Revokes every certificate of device d and sets it revoked, in the
 * caller's transaction. */
static int revoke_device_in(struct sq_store *s, const struct ztm_device_row *d,
                            enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                            struct ztm_error *err)
{
	if (d->state == ZTM_DEVICE_RETIRED)
		return ztm_error_set(err, ZTM_E_CONFLICT, "device %s is retired", d->serial);
	if (sq_owner_revoke_in(s, "device", d->id, NULL, reason, when, actor, n, err) != 0)
		return -1;
	if (d->state == ZTM_DEVICE_REVOKED)
		return 0;
	return sq_device_set_state(&s->base, d->serial, ZTM_DEVICE_REVOKED, NULL, NULL, err);
}

int sq_device_revoke(struct ztm_store *base, const char *serial, enum ztm_reason reason,
                     int64_t when, const char *actor, int64_t *n, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_device_row d;
	int own, rc = -1;

	if (n != NULL)
		*n = 0;
	if (check_actor(actor, err) != 0)
		return -1;
	if (reason == ZTM_REASON_HOLD || ztm_reason_name((int)reason) == NULL)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "revocation reason %d: a final RFC 5280 reason (a hold is a "
		                     "suspension)",
		                     (int)reason);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	if (sq_device_get(base, serial, &d, err) == 0)
		rc = revoke_device_in(s, &d, reason, when, actor, n, err);
	return sq_wend(s, own, rc, err);
}

int sq_device_suspend(struct ztm_store *base, const char *serial, int64_t when, const char *actor,
                      struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_device_row d;
	int own, rc = -1;

	if (check_actor(actor, err) != 0 || sq_wbegin(s, &own, err) != 0)
		return -1;
	if (sq_device_get(base, serial, &d, err) != 0)
		goto out;
	if ((d.state != ZTM_DEVICE_ACTIVE && d.state != ZTM_DEVICE_PROVISIONED) ||
	    d.cert_serial[0] == '\0') {
		ztm_error_set(err, ZTM_E_CONFLICT,
		              "device %s is %s: only an active or provisioned device is suspended",
		              serial, ztm_device_state_name(d.state));
		goto out;
	}
	if (sq_cert_revoke_in(s, d.cert_serial, ZTM_REASON_HOLD, when, actor, NULL, err) != 0 ||
	    sq_device_set_state(base, serial, ZTM_DEVICE_SUSPENDED, NULL, NULL, err) != 0)
		goto out;
	rc = 0;
out:
	return sq_wend(s, own, rc, err);
}

int sq_device_resume(struct ztm_store *base, const char *serial, const char *actor,
                     struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_device_row d;
	int own, rc = -1;

	if (check_actor(actor, err) != 0 || sq_wbegin(s, &own, err) != 0)
		return -1;
	if (sq_device_get(base, serial, &d, err) != 0)
		goto out;
	if (d.state != ZTM_DEVICE_SUSPENDED) {
		ztm_error_set(err, ZTM_E_CONFLICT, "device %s is %s, not suspended", serial,
		              ztm_device_state_name(d.state));
		goto out;
	}
	/* The certificate store refuses a resume of anything but a hold. */
	if (sq_cert_resume(base, d.cert_serial, actor, err) != 0 ||
	    sq_device_set_state(base, serial, ZTM_DEVICE_ACTIVE, NULL, NULL, err) != 0)
		goto out;
	rc = 0;
out:
	return sq_wend(s, own, rc, err);
}

/* --- mass revocation ----------------------------------------------------- */

/* One record a window selected. */
struct hit {
	int64_t record_id, product_id;
	char serial[ZTM_DEV_SERIAL_MAX];
	char spki[ZTM_SHA256_HEX];
	int has_device, own; /* own: the device rests on this very record */
};

/* Collects the window's records first, so the writes do not run under the
 * open SELECT. A record whose serial belongs to a device registered from
 * another record (a clone's record) selects nothing. */
static int select_hits(struct sq_store *s, const struct ztm_mass_row *m, struct hit **out,
                       size_t *n, struct ztm_error *err)
{
	sqlite3_stmt *st =
	    sq_stmt(s, m->selector == ZTM_MASS_STATION ? &q_by_station : &q_by_order, err);
	struct hit *hits = NULL, *h;
	size_t cap = 0;
	int rc;

	*n = 0;
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "iii", m->target_id, m->from, m->to);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			void *p = realloc(hits, (cap = cap ? 2 * cap : 64) * sizeof(*hits));
			if (p == NULL) {
				ztm_error_set(err, ZTM_E_NOMEM, "mass revocation");
				goto fail;
			}
			hits = p;
		}
		h = &hits[*n];
		memset(h, 0, sizeof(*h));
		h->record_id = sqlite3_column_int64(st, 0);
		h->product_id = sqlite3_column_int64(st, 3);
		h->has_device = sqlite3_column_type(st, 4) != SQLITE_NULL;
		h->own = h->has_device && sqlite3_column_int64(st, 4) == h->record_id;
		if (sq_col_text(st, 1, h->serial, sizeof(h->serial)) != 0 ||
		    sq_col_hex(st, 2, h->spki, sizeof(h->spki)) != 0) {
			ztm_error_set(err, ZTM_E_STORE, "a record row does not fit its fields");
			goto fail;
		}
		if (!h->has_device || h->own)
			(*n)++;
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "selecting the records of a mass revocation");
		goto fail;
	}
	sq_reset(st);
	*out = hits;
	return 0;
fail:
	sq_reset(st);
	free(hits);
	return -1;
}

static int check_request(const struct ztm_mass_row *m, struct ztm_error *err)
{
	if ((unsigned)m->selector > ZTM_MASS_ORDER)
		return ztm_error_set(err, ZTM_E_USAGE, "mass revocation: unknown selector");
	if (m->from > m->to)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "mass revocation: window ends before it starts");
	if (m->reason == ZTM_REASON_HOLD || ztm_reason_name((int)m->reason) == NULL)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "mass revocation: a final RFC 5280 reason is required");
	if (store_check_text("mass revocation target", m->target, sizeof(m->target), 1, err) != 0)
		return -1;
	return check_actor(m->requested_by, err);
}

int sq_mass_request(struct ztm_store *base, struct ztm_mass_row *m, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct hit *hits = NULL;
	size_t n = 0;
	sqlite3_stmt *st;
	int own, rc = -1;

	if (check_request(m, err) != 0 || sq_wbegin(s, &own, err) != 0)
		return -1;
	if (select_hits(s, m, &hits, &n, err) != 0)
		goto out;
	st = sq_stmt(s, &q_mass_add, err);
	if (st == NULL)
		goto out;
	if (sq_bind(st, "titiiitii", selector_names[m->selector], m->target_id, m->target, m->from,
	            m->to, (int64_t)m->reason, m->requested_by, m->requested_at,
	            (int64_t)n) != SQLITE_OK) {
		sq_fail(s, err, SQLITE_MISUSE, "storing a mass revocation request");
		goto out;
	}
	if (sq_step_done(s, st, err, "storing a mass revocation request") != 0)
		goto out;
	m->id = sqlite3_last_insert_rowid(s->db);
	m->preview = (int64_t)n;
	m->state = ZTM_MASS_PENDING;
	rc = 0;
out:
	free(hits);
	return sq_wend(s, own, rc, err);
}

static int name_index(const unsigned char *t, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; t != NULL && i < n; i++)
		if (strcmp((const char *)t, names[i]) == 0)
			return (int)i;
	return -1;
}

int sq_mass_get(struct ztm_store *base, int64_t id, struct ztm_mass_row *out, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_mass_get, err);
	int rc, ret = -1, sel, state;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "i", id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "no mass revocation request %lld",
		              (long long)id);
	} else if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "reading mass revocation request %lld", (long long)id);
	} else {
		sel = name_index(sqlite3_column_text(st, 1), selector_names, 2);
		state = name_index(sqlite3_column_text(st, 10), state_names, 3);
		out->id = sqlite3_column_int64(st, 0);
		out->target_id = sqlite3_column_int64(st, 2);
		out->from = sqlite3_column_int64(st, 4);
		out->to = sqlite3_column_int64(st, 5);
		out->reason = (enum ztm_reason)sqlite3_column_int(st, 6);
		out->requested_at = sqlite3_column_int64(st, 8);
		out->preview = sqlite3_column_int64(st, 9);
		out->decided_at = sqlite3_column_int64(st, 12);
		out->devices = sqlite3_column_int64(st, 13);
		out->certificates = sqlite3_column_int64(st, 14);
		if (sel < 0 || state < 0 ||
		    sq_col_text(st, 3, out->target, sizeof(out->target)) != 0 ||
		    sq_col_text(st, 7, out->requested_by, sizeof(out->requested_by)) != 0 ||
		    sq_col_text(st, 11, out->decided_by, sizeof(out->decided_by)) != 0) {
			ztm_error_set(err, ZTM_E_STORE, "mass revocation row %lld does not fit",
			              (long long)id);
		} else {
			out->selector = (enum ztm_mass_selector)sel;
			out->state = (enum ztm_mass_state)state;
			ret = 0;
		}
	}
	sq_reset(st);
	return ret;
}

/* Revokes what the request selects, in the caller's transaction. */
static int execute(struct sq_store *s, struct ztm_mass_row *m, const char *who, int64_t when,
                   struct ztm_error *err)
{
	struct hit *hits = NULL;
	struct ztm_device_row d;
	struct ztm_error lookup;
	size_t n = 0, i;
	int64_t changed;
	int rc = -1;

	if (select_hits(s, m, &hits, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (sq_device_get(&s->base, hits[i].serial, &d, &lookup) != 0) {
			if (lookup.code != ZTM_E_NOTFOUND) {
				*err = lookup;
				goto out;
			}
			/* Never registered: a revoked device row makes vetting
			 * refuse it for good (device_ended). */
			memset(&d, 0, sizeof(d));
			ztm_strlcpy(d.serial, hits[i].serial, sizeof(d.serial));
			d.product_id = hits[i].product_id;
			d.record_id = hits[i].record_id;
			d.state = ZTM_DEVICE_REVOKED;
			ztm_strlcpy(d.key_spki_sha256, hits[i].spki, sizeof(d.key_spki_sha256));
			if (sq_device_add(&s->base, &d, &d.id, err) != 0)
				goto out;
			m->devices++;
			continue;
		}
		if (d.record_id != hits[i].record_id)
			continue; /* the serial rests on another record */
		if (d.state == ZTM_DEVICE_RETIRED)
			continue; /* every certificate is revoked already */
		changed = 0;
		if (revoke_device_in(s, &d, m->reason, when, who, &changed, err) != 0)
			goto out;
		m->devices++;
		m->certificates += changed;
	}
	rc = 0;
out:
	free(hits);
	return rc;
}

int sq_mass_decide(struct ztm_store *base, int64_t id, int approve, const char *who, int64_t when,
                   struct ztm_mass_row *out, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc = -1;

	if (check_actor(who, err) != 0)
		return -1;
	if (when < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "mass revocation: time must be 1 or later");
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	if (sq_mass_get(base, id, out, err) != 0)
		goto out;
	if (out->state != ZTM_MASS_PENDING) {
		ztm_error_set(err, ZTM_E_CONFLICT, "mass revocation %lld is already %s by %s",
		              (long long)id, state_names[out->state], out->decided_by);
		goto out;
	}
	/* DESIGN 4: a mass revocation needs a second person. */
	if (approve && strcmp(out->requested_by, who) == 0) {
		ztm_error_set(err, ZTM_E_DENIED,
		              "mass revocation %lld was requested by %s: another security officer "
		              "must approve it",
		              (long long)id, who);
		goto out;
	}
	out->devices = out->certificates = 0;
	if (approve && execute(s, out, who, when, err) != 0)
		goto out;
	out->state = approve ? ZTM_MASS_EXECUTED : ZTM_MASS_REJECTED;
	ztm_strlcpy(out->decided_by, who, sizeof(out->decided_by));
	out->decided_at = when;
	st = sq_stmt(s, &q_mass_decide, err);
	if (st == NULL)
		goto out;
	if (sq_bind(st, "ittiii", id, state_names[out->state], who, when, out->devices,
	            out->certificates) != SQLITE_OK) {
		sq_fail(s, err, SQLITE_MISUSE, "deciding mass revocation %lld", (long long)id);
		goto out;
	}
	if (sq_step_done(s, st, err, "deciding a mass revocation") != 0)
		goto out;
	rc = 0;
out:
	return sq_wend(s, own, rc, err);
}
