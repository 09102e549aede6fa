/* crl_srv.c - CRLs of every issuing CA, per shard (docs/revocation.md):
 * served at /crl/<ca>/<shard>.crl (DER, application/pkix-crl) and as one
 * PEM bundle per CA at /crl/<ca>.pem (what mosquitto's crlfile reads),
 * without a client certificate (RFC 5280 §5: relying parties fetch CRLs
 * anonymously).
 *
 * A timer in each worker rebuilds the shards that are due: never built, a
 * change in the revocation log for that shard since the stored CRL, or half
 * its validity gone. The store's claim makes exactly one worker rebuild a
 * given shard; the CRL number is bumped in the transaction that stores the
 * new bytes, so numbers only grow across workers and restarts (DESIGN I5).
 * Building streams the shard's revocation rows into the DER writer
 * (ztm/crl.h) and signs once; serving reads the stored bytes. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_int.h"
#include "ztm/crl.h"
#include "ztm/log.h"
#include "ztm/str.h"

/* A claim outlives any build (a million entries take about a second); a
 * worker that died mid-build frees the shard after this. */
#define CRL_LEASE           60
#define MAX_SHARDS_PER_TICK 4096

int app_crl_config(struct ztmd_app *app, struct ztm_config *cfg, struct ztm_error *err)
{
	uint64_t validity, interval;

	if (ztm_config_duration(cfg, "crl", "validity", 86400, 60, 30 * 86400, &validity, err) !=
	        0 ||
	    ztm_config_duration(cfg, "crl", "check_interval", 1, 1, 3600, &interval, err) != 0)
		return -1;
	app->crl.validity = (int64_t)validity;
	app->crl.interval = (unsigned)interval;
	return 0;
}

struct shard_list {
	int64_t *v;
	size_t n, cap;
};

static int collect_shard(int64_t shard, void *arg)
{
	struct shard_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *p = cap <= MAX_SHARDS_PER_TICK ? realloc(l->v, cap * sizeof(*l->v)) : NULL;
		if (p == NULL)
			return 1; /* the rest next tick */
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = shard;
	return 0;
}

static int add_entry(const struct ztm_revocation *rev, void *arg)
{
	ztm_crl_add_hex(arg, rev->serial, rev->revoked_at, (int)rev->reason);
	return 0;
}

/* Builds and stores CRL `number` of (ca, shard) under our claim. */
int app_crl_build(struct ztmd_app *app, struct ztm_store *store, enum app_ca_id id, int64_t shard,
                  int64_t number, int64_t seq, const char *holder, struct ztm_error *err)
{
	const struct app_ca *ca = &app->cas[id];
	struct ztm_crl_writer w;
	struct ztm_crl_params p;
	struct ztm_crl_row row;
	char url[512];
	int rc = -1;

	memset(&p, 0, sizeof(p));
	p.number = number;
	p.this_update = (int64_t)time(NULL);
	p.next_update = p.this_update + app->crl.validity;
	/* Without a base URL there is one CRL and no IDP (app_int.h). */
	if (ca->crl_url != NULL) {
		if (ztm_crl_shard_url(ca->crl_url, shard, url, sizeof(url)) != 0)
			return ztm_error_set(err, ZTM_E_CONFIG, "[ca.%s] crl_url too long",
			                     ca->name);
		p.idp_url = url;
	}
	ztm_crl_row_init(&row);
	ztm_strlcpy(row.ca, ca->name, sizeof(row.ca));
	row.shard = shard;
	row.number = number;
	row.built_seq = seq;
	row.this_update = p.this_update;
	row.next_update = p.next_update;
	if (ztm_crl_begin(&w, ca->ca, &p, &row.der, err) != 0)
		goto out;
	if (ztm_store_revocations_each(store, ca->name, shard, add_entry, &w, err) != 0) {
		row.der.len = 0;
		goto out;
	}
	if (ztm_crl_finish(&w, err) != 0 || ztm_store_crl_put(store, &row, holder, err) != 0)
		goto out;
	ztm_log(ZTM_LOG_INFO, "crl.built", "ca=%s shard=%lld number=%lld entries=%lld bytes=%zu",
	        ca->name, (long long)shard, (long long)number, (long long)w.entries, row.der.len);
	rc = 0;
out:
	ztm_crl_row_free(&row);
	return rc;
}

/* One pass over every CA and shard: rebuild what is due and ours to do. */
static void crl_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ztmd_app *app = arg;
	struct shard_list l = {NULL, 0, 0};
	struct ztm_error err;
	int64_t number, seq, now;
	unsigned id;
	size_t i;
	int got;

	(void)fd;
	(void)what;
	for (id = 0; id < APP_CA_COUNT; id++) {
		if (app->cas[id].ca == NULL)
			continue;
		l.n = 0;
		if (ztm_store_crl_shards(app->store, app->cas[id].name, collect_shard, &l, &err) !=
		    0)
			goto fail;
		for (i = 0; i < l.n; i++) {
			now = (int64_t)time(NULL);
			if (ztm_store_crl_claim(
			        app->store, app->cas[id].name, l.v[i], app->crl.holder, now,
			        CRL_LEASE, app->crl.validity / 2, &got, &number, &seq, &err) != 0)
				goto fail;
			if (got && app_crl_build(app, app->store, (enum app_ca_id)id, l.v[i],
			                         number, seq, app->crl.holder, &err) != 0)
				goto fail;
		}
	}
	free(l.v);
	return;
fail : {
	char q[448];
	ztm_log(ZTM_LOG_ERROR, "crl.build_failed", "error=%s message=%s", ztm_err_name(err.code),
	        ztm_log_quote(err.msg, q, sizeof(q)));
}
	free(l.v);
}

int app_crl_start(struct ztmd_app *app, struct event_base *base, struct ztm_error *err)
{
	struct timeval tv = {(time_t)app->crl.interval, 0};
	char host[33] = "";

	/* Unique across nodes (several hosts share one PostgreSQL, and a pid
	 * alone repeats across hosts): a shared holder name would let two
	 * nodes build the same shard at once (crl_put still lets only one of
	 * them store it). */
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	snprintf(app->crl.holder, sizeof(app->crl.holder), "ztmd:%s:%ld:%lld", host, (long)getpid(),
	         (long long)time(NULL));
	app->crl.timer = event_new(base, -1, EV_PERSIST, crl_tick, app);
	if (app->crl.timer == NULL || event_priority_set(app->crl.timer, ZTMD_PRI_COMMIT) != 0 ||
	    event_add(app->crl.timer, &tv) != 0)
		return ztm_error_set(err, ZTM_E_INTERNAL, "CRL timer");
	app_crl_kick(app); /* build what is missing right away */
	return 0;
}

void app_crl_kick(struct ztmd_app *app)
{
	if (app->crl.timer != NULL)
		event_active(app->crl.timer, EV_TIMEOUT, 0);
}

void app_crl_stop(struct ztmd_app *app)
{
	if (app->crl.timer != NULL)
		event_free(app->crl.timer);
	app->crl.timer = NULL;
}

/* --- serving ------------------------------------------------------------ */

static int ca_by_name(const struct ztmd_app *app, const char *name, size_t n)
{
	unsigned i;

	for (i = 0; i < APP_CA_COUNT; i++)
		if (app->cas[i].ca != NULL && strlen(app->cas[i].name) == n &&
		    strncmp(app->cas[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

static void not_found(struct ztmd_req *r, const char *what)
{
	struct ztm_error err;

	ztm_error_set(&err, ZTM_E_NOTFOUND, "%s", what);
	ztmd_reply_error(r, 404, &err);
}

struct pem_ctx {
	struct ztm_store *store;
	const char *ca;
	struct ztm_crl_row row;
	struct ztm_buf *out;
	int failed;
};

static int pem_one(int64_t shard, void *arg)
{
	struct pem_ctx *c = arg;
	struct ztm_error err;

	if (ztm_store_crl_get(c->store, c->ca, shard, 1, &c->row, &err) != 0) {
		/* Not built yet: the bundle has what exists; a store error fails. */
		c->failed = err.code != ZTM_E_NOTFOUND;
		return c->failed;
	}
	if (ztm_buf_append_str(c->out, "-----BEGIN X509 CRL-----\n") != 0 ||
	    ztm_b64_encode(c->row.der.data, c->row.der.len, 64, c->out) != 0 ||
	    (c->out->data[c->out->len - 1] != '\n' && ztm_buf_append_str(c->out, "\n") != 0) ||
	    ztm_buf_append_str(c->out, "-----END X509 CRL-----\n") != 0)
		c->failed = 1;
	return c->failed;
}

/* GET /crl/<ca>/<shard>.crl and /crl/<ca>.pem */
static void h_crl(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct ztm_error err;
	const char *rest = ztmd_req_path(r) + 5, *slash = strchr(rest, '/');
	size_t n = strlen(rest);
	uint64_t shard;
	char digits[24];
	int id;

	if (app_authorize(app, r, ZTMD_ACT_CRL, &peer) != 0)
		return;
	if (slash == NULL) {
		struct pem_ctx c;
		struct ztm_buf pem;

		if (n <= 4 || strcmp(rest + n - 4, ".pem") != 0 ||
		    (id = ca_by_name(app, rest, n - 4)) < 0) {
			not_found(r, "want /crl/<ca>/<shard>.crl or /crl/<ca>.pem");
			return;
		}
		memset(&c, 0, sizeof(c));
		ztm_buf_init(&pem, 0);
		ztm_crl_row_init(&c.row);
		c.store = ztmd_req_store(r);
		c.ca = app->cas[id].name;
		c.out = &pem;
		if (ztm_store_crl_shards(c.store, c.ca, pem_one, &c, &err) != 0 || c.failed) {
			if (!c.failed)
				ztmd_reply_error(r, 500, &err);
			else
				not_found(r, "the CRL bundle could not be built");
		} else if (pem.len == 0) {
			not_found(r, "no CRL built yet for this CA");
		} else {
			ztmd_reply(r, 200, "application/x-pem-file", pem.data, pem.len);
		}
		ztm_crl_row_free(&c.row);
		ztm_buf_free(&pem);
		return;
	}
	id = ca_by_name(app, rest, (size_t)(slash - rest));
	n = strlen(slash + 1);
	if (id < 0 || n <= 4 || n - 4 >= sizeof(digits) || strcmp(slash + 1 + n - 4, ".crl") != 0) {
		not_found(r, "want /crl/<ca>/<shard>.crl");
		return;
	}
	memcpy(digits, slash + 1, n - 4);
	digits[n - 4] = '\0';
	if (ztm_parse_u64(digits, 0, (uint64_t)1 << 40, &shard) != 0) {
		not_found(r, "the shard is not a number");
		return;
	}
	{
		struct ztm_crl_row row;
		char age[32], lm[32];

		ztm_crl_row_init(&row);
		if (ztm_store_crl_get(ztmd_req_store(r), app->cas[id].name, (int64_t)shard, 1, &row,
		                      &err) != 0) {
			ztmd_reply_error(r, app_status_for(err.code), &err);
		} else {
			/* A minute at most: a revocation should reach readers quickly. */
			snprintf(
			    age, sizeof(age), "max-age=%lld",
			    (long long)(app->crl.validity / 2 > 60 ? 60 : app->crl.validity / 2));
			ztmd_reply_header(r, "Cache-Control", age);
			ztmd_reply_header(r, "Last-Modified", ztmd_http_date(row.this_update, lm));
			ztmd_reply(r, 200, "application/pkix-crl", row.der.data, row.der.len);
		}
		ztm_crl_row_free(&row);
	}
}

size_t crl_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	if (max < 1)
		return 0;
	out[0] = (struct ztmd_route){ZTMD_GET, "/crl/",
	                             ZTMD_ROUTE_PREFIX | ZTMD_ROUTE_PUBLIC | ZTMD_ROUTE_QUIET,
	                             h_crl, app};
	return 1;
}
