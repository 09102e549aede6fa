/* store_pg_org.c - factories, stations and operators in the PostgreSQL store,
 * and the mapping from a peer certificate to its principal that the access
 * module decides on (docs/store.md). */
#include "store_pg.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ztm/str.h"

#define NAME_MAX_BYTES 128 /* the name fields of the row structs */

static const struct pq_query q_factory_add = {
    PQ_FACTORY_ADD, "INSERT INTO factories (name, created_at) VALUES ($1, $2) RETURNING id",
    PQ_RET_ID};
static const struct pq_query q_factory_get = {PQ_FACTORY_GET,
                                              "SELECT id FROM factories WHERE name = $1", 0};
static const struct pq_query q_station_add = {
    PQ_STATION_ADD,
    "INSERT INTO stations (factory_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
    PQ_RET_ID};
#define STATION_SELECT                                                                             \
	"SELECT s.id, s.factory_id, f.name, s.name, s.state, s.cert_serial, s.created_at,"         \
	" s.revoked_at FROM stations s JOIN factories f ON f.id = s.factory_id "
static const struct pq_query q_station_get = {PQ_STATION_GET, STATION_SELECT "WHERE s.id = $1", 0};
static const struct pq_query q_station_find = {
    PQ_STATION_FIND, STATION_SELECT "WHERE f.name = $1 AND s.name = $2", 0};
/* A station or operator may only point at a certificate that exists and is
 * live (reserved in the same transaction, or issued). */
#define CERT_LIVE                                                                                  \
	"EXISTS (SELECT 1 FROM certificates WHERE serial = $2"                                     \
	" AND state IN ('reserved', 'issued'))"
static const struct pq_query q_station_set_cert = {
    PQ_STATION_SET_CERT,
    "UPDATE stations SET state = 'enrolled', cert_serial = $2"
    " WHERE id = $1 AND state <> 'revoked' AND " CERT_LIVE,
    0};
static const struct pq_query q_station_state = {PQ_STATION_STATE,
                                                "SELECT state FROM stations WHERE id = $1", 0};
/* A second revocation can only move revoked_at earlier: it widens the range
 * of records that no longer vet, never narrows it. */
static const struct pq_query q_station_revoke = {
    PQ_STATION_REVOKE,
    "UPDATE stations SET state = 'revoked', revoked_at = CASE"
    " WHEN state = 'revoked' AND revoked_at BETWEEN 1 AND $2 THEN revoked_at ELSE $2 END"
    " WHERE id = $1",
    0};
static const struct pq_query q_operator_add = {
    PQ_OPERATOR_ADD,
    "INSERT INTO operators (name, role, created_at) VALUES ($1, $2, $3) RETURNING id", PQ_RET_ID};
static const struct pq_query q_operator_get = {
    PQ_OPERATOR_GET,
    "SELECT id, name, role, revoked, cert_serial, coalesce(owner_id, 0)"
    " FROM operators WHERE id = $1",
    0};
static const struct pq_query q_operator_set_cert = {PQ_OPERATOR_SET_CERT,
                                                    "UPDATE operators SET cert_serial = $2"
                                                    " WHERE id = $1 AND revoked = 0 AND " CERT_LIVE,
                                                    0};
static const struct pq_query q_operator_state = {PQ_OPERATOR_STATE,
                                                 "SELECT revoked FROM operators WHERE id = $1", 0};
/* Only an issued (or since revoked) certificate of that CA names a
 * principal, and only while it is the owner's current certificate. */
static const struct pq_query q_principal = {
    PQ_PRINCIPAL,
    "SELECT 'station', s.id, s.name, 'station', (s.state = 'revoked')::int, s.factory_id, c.state, "
    "0"
    " FROM certificates c JOIN stations s ON s.cert_serial = c.serial"
    " WHERE c.serial = $2 AND c.ca = $1 AND c.state IN ('issued', 'revoked')"
    " UNION ALL "
    "SELECT 'operator', o.id, o.name, o.role, o.revoked, 0, c.state, coalesce(o.owner_id, 0)"
    " FROM certificates c JOIN operators o ON o.cert_serial = c.serial"
    " WHERE c.serial = $2 AND c.ca = $1 AND c.state IN ('issued', 'revoked')"
    " LIMIT 1",
    0};

static int role_col(struct pq_stmt *st, int col, enum ztm_role *out)
{
	const unsigned char *t = pq_col_textp(st, col);

	return t != NULL ? ztm_role_parse((const char *)t, out) : -1;
}

/* Runs an INSERT of a named thing and returns its new id. */
static int insert_named(struct pq_store *s, const struct pq_query *q, const char *fmt, int64_t *id,
                        struct ztm_error *err, const char *what, const char *name, int64_t a,
                        const char *b)
{
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, q, err);
	if (st == NULL)
		goto out;
	/* fmt is "ti" (name, now), "iti" (a, name, now) or "tti" (name, b, now) */
	if (fmt[0] == 'i')
		rc = pq_bind(st, fmt, a, name, (int64_t)time(NULL));
	else if (fmt[1] == 't')
		rc = pq_bind(st, fmt, name, b, (int64_t)time(NULL));
	else
		rc = pq_bind(st, fmt, name, (int64_t)time(NULL));
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		if (pq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "%s '%s' already exists", what, name);
		else if (rc == PQ_E_FK)
			ztm_error_set(err, ZTM_E_NOTFOUND, "%s '%s': factory %lld not found", what,
			              name, (long long)a);
		else
			pq_fail(s, err, rc, "adding %s '%s'", what, name);
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	*id = pq_last_id(s);
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

int pq_factory_add(struct ztm_store *base, const char *name, int64_t *id, struct ztm_error *err)
{
	if (store_check_text("factory name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	return insert_named(pq_of(base), &q_factory_add, "ti", id, err, "factory", name, 0, NULL);
}

int pq_factory_get(struct ztm_store *base, const char *name, int64_t *id, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int rc, ret = -1;

	if (store_check_text("factory name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	st = pq_stmt(s, &q_factory_get, err);
	if (st == NULL)
		return -1;
	rc = pq_bind(st, "t", name);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_ROW) {
		*id = pq_col_int64(st, 0);
		ret = 0;
	} else if (rc == PQ_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "factory '%s' not found", name);
	} else {
		pq_fail(s, err, rc, "looking up factory '%s'", name);
	}
	pq_reset(st);
	return ret;
}

int pq_station_add(struct ztm_store *base, int64_t factory_id, const char *name, int64_t *id,
                   struct ztm_error *err)
{
	if (store_check_text("station name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	return insert_named(pq_of(base), &q_station_add, "iti", id, err, "station", name,
	                    factory_id, NULL);
}

static int station_state_parse(const unsigned char *t, enum ztm_station_state *out)
{
	static const char *const names[] = {"pending", "enrolled", "revoked"};
	size_t i;

	for (i = 0; t != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp((const char *)t, names[i]) == 0) {
			*out = (enum ztm_station_state)i;
			return 0;
		}
	}
	return -1;
}

/* Runs a station SELECT (bound already) and reads its one row. */
static int station_read(struct pq_store *s, struct pq_stmt *st, int rc, const char *what,
                        struct ztm_station_row *out, struct ztm_error *err)
{
	int bad = 0, ret = -1;

	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "station %s not found", what);
		goto out;
	}
	if (rc != PQ_ROW) {
		pq_fail(s, err, rc, "looking up station %s", what);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = pq_col_int64(st, 0);
	out->factory_id = pq_col_int64(st, 1);
	bad |= pq_col_text(st, 2, out->factory, sizeof(out->factory));
	bad |= pq_col_text(st, 3, out->name, sizeof(out->name));
	bad |= station_state_parse(pq_col_textp(st, 4), &out->state);
	bad |= pq_col_text(st, 5, out->cert_serial, sizeof(out->cert_serial));
	out->created_at = pq_col_int64(st, 6);
	out->revoked_at = pq_col_int64(st, 7);
	if (bad) {
		ztm_error_set(err, ZTM_E_STORE, "station %s: row does not fit its fields", what);
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	return ret;
}

int pq_station_get(struct ztm_store *base, int64_t id, struct ztm_station_row *out,
                   struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st = pq_stmt(s, &q_station_get, err);
	char what[32];

	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "%lld", (long long)id);
	return station_read(s, st, pq_bind(st, "i", id), what, out, err);
}

int pq_station_find(struct ztm_store *base, const char *factory, const char *name,
                    struct ztm_station_row *out, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	char what[2 * NAME_MAX_BYTES + 8];

	if (store_check_text("factory name", factory, NAME_MAX_BYTES, 1, err) != 0 ||
	    store_check_text("station name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	st = pq_stmt(s, &q_station_find, err);
	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "'%s/%s'", factory, name);
	return station_read(s, st, pq_bind(st, "tt", factory, name), what, out, err);
}

/* After an UPDATE guarded by state that changed nothing: reads one column of
 * the row (by id) to say why. *found is 0 if there is no such row. */
static int probe(struct pq_store *s, const struct pq_query *q, int64_t id, char *val, size_t n,
                 int *found, struct ztm_error *err)
{
	struct pq_stmt *st = pq_stmt(s, q, err);
	int rc;

	*found = 0;
	if (st == NULL)
		return -1;
	rc = pq_bind(st, "i", id);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_ROW) {
		*found = 1;
		pq_col_text(st, 0, val, n);
	} else if (rc != PQ_DONE) {
		pq_fail(s, err, rc, "reading row %lld", (long long)id);
		pq_reset(st);
		return -1;
	}
	pq_reset(st);
	return 0;
}

/* The common shape of station_set_cert and operator_set_cert: a guarded
 * UPDATE, and on no change a probe that picks the refusal. `dead` is the
 * probed value that means revoked. */
static int set_cert(struct pq_store *s, const struct pq_query *upd, const struct pq_query *pq,
                    const char *dead, const char *what, int64_t id, const char *serial,
                    struct ztm_error *err)
{
	struct pq_stmt *st;
	char val[16] = "";
	int own, found, rc, ret = -1;

	if (store_check_serial(serial, err) != 0)
		return -1;
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, upd, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "it", id, serial);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		pq_fail(s, err, rc, "setting certificate of %s %lld", what, (long long)id);
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	if (pq_changes(s) == 1) {
		ret = 0;
		goto out;
	}
	if (probe(s, pq, id, val, sizeof(val), &found, err) != 0)
		goto out;
	if (!found)
		ztm_error_set(err, ZTM_E_NOTFOUND, "%s %lld not found", what, (long long)id);
	else if (strcmp(val, dead) == 0)
		ztm_error_set(err, ZTM_E_CONFLICT, "%s %lld is revoked", what, (long long)id);
	else
		ztm_error_set(err, ZTM_E_NOTFOUND, "certificate %s is not reserved or issued",
		              serial);
out:
	return pq_wend(s, own, ret, err);
}

int pq_station_set_cert(struct ztm_store *base, int64_t id, const char *serial,
                        struct ztm_error *err)
{
	return set_cert(pq_of(base), &q_station_set_cert, &q_station_state, "revoked", "station",
	                id, serial, err);
}

/* Revoking a revoked station succeeds; revoked_at becomes the earlier of
 * the two times. Every live certificate of the station is revoked with it. */
int pq_station_revoke(struct ztm_store *base, int64_t id, int64_t when, enum ztm_reason reason,
                      const char *actor, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, rc, ret = -1;

	/* revoked_at 0 means "never revoked" to the vetting rule. */
	if (when < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "revocation time %lld: must be 1 or later",
		                     (long long)when);
	if (reason == ZTM_REASON_HOLD)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "a station revocation is final: not certificateHold");
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_station_revoke, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "ii", id, when);
	if (rc != PQ_OK) {
		pq_fail(s, err, rc, "revoking station %lld", (long long)id);
		pq_reset(st);
		goto out;
	}
	if (pq_step_done(s, st, err, "revoking station") != 0)
		goto out;
	if (pq_changes(s) == 0) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "station %lld not found", (long long)id);
		goto out;
	}
	if (pq_owner_revoke_in(s, "station", id, NULL, reason, (int64_t)time(NULL), actor, NULL,
	                       err) != 0)
		goto out;
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

int pq_operator_add(struct ztm_store *base, const char *name, enum ztm_role role, int64_t *id,
                    struct ztm_error *err)
{
	if (store_check_text("operator name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	if ((unsigned)role >= ZTM_ROLE_COUNT)
		return ztm_error_set(err, ZTM_E_USAGE, "operator '%s': unknown role %d", name,
		                     (int)role);
	return insert_named(pq_of(base), &q_operator_add, "tti", id, err, "operator", name, 0,
	                    ztm_role_name(role));
}

int pq_operator_get(struct ztm_store *base, int64_t id, struct ztm_operator_row *out,
                    struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st = pq_stmt(s, &q_operator_get, err);
	int rc, bad = 0, ret = -1;

	if (st == NULL)
		return -1;
	rc = pq_bind(st, "i", id);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "operator %lld not found", (long long)id);
		goto out;
	}
	if (rc != PQ_ROW) {
		pq_fail(s, err, rc, "looking up operator %lld", (long long)id);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = pq_col_int64(st, 0);
	bad |= pq_col_text(st, 1, out->name, sizeof(out->name));
	bad |= role_col(st, 2, &out->role);
	out->revoked = pq_col_int(st, 3) != 0;
	bad |= pq_col_text(st, 4, out->cert_serial, sizeof(out->cert_serial));
	out->owner_id = pq_col_int64(st, 5);
	if (bad) {
		ztm_error_set(err, ZTM_E_STORE, "operator %lld: row does not fit its fields",
		              (long long)id);
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	return ret;
}

int pq_operator_set_cert(struct ztm_store *base, int64_t id, const char *serial,
                         struct ztm_error *err)
{
	return set_cert(pq_of(base), &q_operator_set_cert, &q_operator_state, "1", "operator", id,
	                serial, err);
}

int pq_principal_by_cert(struct ztm_store *base, const char *ca, const char *serial,
                         struct ztm_principal *out, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	const unsigned char *cert_state;
	int rc, bad = 0, ret = -1;

	if (store_check_text("CA name", ca, 32, 1, err) != 0 ||
	    store_check_serial(serial, err) != 0)
		return -1;
	st = pq_stmt(s, &q_principal, err);
	if (st == NULL)
		return -1;
	rc = pq_bind(st, "tt", ca, serial);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "no operator or station holds %s certificate %s",
		              ca, serial);
		goto out;
	}
	if (rc != PQ_ROW) {
		pq_fail(s, err, rc, "looking up owner of %s certificate %s", ca, serial);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	bad |= pq_col_text(st, 0, out->kind, sizeof(out->kind));
	out->id = pq_col_int64(st, 1);
	bad |= pq_col_text(st, 2, out->name, sizeof(out->name));
	bad |= role_col(st, 3, &out->role);
	cert_state = pq_col_textp(st, 6);
	out->revoked = pq_col_int(st, 4) != 0 ||
	               (cert_state != NULL && strcmp((const char *)cert_state, "revoked") == 0);
	out->factory_id = pq_col_int64(st, 5);
	out->owner_id = pq_col_int64(st, 7);
	if (bad) {
		ztm_error_set(err, ZTM_E_STORE, "owner of certificate %s: row does not fit",
		              serial);
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	return ret;
}
