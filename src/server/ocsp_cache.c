/* ocsp_cache.c - pre-signed OCSP responses, one cache per worker process.
 *
 * Where the bytes live: in each worker's memory, a hash table keyed by (CA,
 * CertID hash algorithm, serial). The alternative, a store table shared by
 * all workers and nodes, signs once fleet-wide but puts a database read on
 * every request and a write burst on every refresh; at today's scale (one
 * node, a few workers) signing per worker costs less: ~37 us per response,
 * so 100,000 certificates are ~4 s of one core per refresh period.
 *
 * What keeps it right (docs/ocsp.md):
 *   - At start the worker notes the revocation log's sequence number, then
 *     signs responses for every issued or revoked certificate of a CA with a
 *     responder, PRESIGN_CHUNK per tick so requests are served meanwhile.
 *   - Every tick ([ocsp] poll_interval) it reads the revocation log after
 *     that sequence (ztm_store_revocation_changes) and re-signs the entries
 *     of every changed serial at once. The log is in the database all
 *     workers and nodes share, so a status change made anywhere shows in
 *     every worker's answers within one poll interval plus the signing of
 *     that tick's changes: the convergence bound.
 *   - A change committed by a worker of this node does not wait for the
 *     tick: the node's revocation notice moved (ocsp_notice.c), and the
 *     next answer reads the log first (follow_notice).
 *   - Entries sit in a queue in signing order (all have the same lifetime),
 *     and the tick re-signs those past half their validity (RFC 5019 §6:
 *     fresh responses before clients' copies expire).
 *   - Signing outside the pre-signed path (a miss, an unknown serial, a
 *     nonce, several CertIDs) draws on a token bucket of [ocsp] sign_rate
 *     per second; an empty bucket answers tryLater, so a flood of random
 *     serials costs at most that many signatures.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocsp_int.h"
#include "ztm/log.h"
#include "ztm/str.h"

#define PRESIGN_CHUNK 256  /* signatures per tick while pre-signing */
#define REFRESH_CHUNK 1024 /* re-signatures per tick */
#define FEED_CHUNK    1024 /* change-log entries read per tick */

struct entry {
	struct entry *hnext;         /* hash chain */
	struct entry *qprev, *qnext; /* refresh queue, oldest signature first */
	uint8_t ca, hash, slen;
	uint8_t serial[ZTM_OCSP_SERIAL_MAX + 1]; /* INTEGER contents */
	int64_t this_update, next_update;
	uint8_t tag[8]; /* SHA-256 of der, cut: the HTTP ETag (RFC 5019 §6.2) */
	struct ztm_buf der;
};

struct backlog_item {
	char serial[ZTM_SERIAL_HEX_MAX];
	uint8_t ca;
};

struct ocsp_cache {
	struct ztmd_app *app;
	struct ztm_store *store;
	const struct ocsp_settings *set;
	struct entry **tab;
	size_t mask, n;
	struct entry *qhead, *qtail;
	int64_t seq;          /* revocation log position */
	uint64_t notice_seen; /* the node's notice when the log was last read */
	struct event *tick;
	struct backlog_item *backlog;
	size_t nbacklog, backlog_pos, backlog_cap;
	double tokens;
	struct timespec last_fill;
};

int ocsp_serial_hex(struct ztm_slice serial, char out[ZTM_SERIAL_HEX_MAX])
{
	if (serial.len == 0 || (serial.p[0] & 0x80))
		return -1; /* negative: never one of ours */
	if (serial.len > 1 && serial.p[0] == 0) {
		serial.p++;
		serial.len--;
	}
	if (serial.len > ZTM_OCSP_SERIAL_MAX)
		return -1;
	ztm_hex(serial.p, serial.len, out);
	return 0;
}

/* Our serials are hex of their magnitude; a CertID carries INTEGER
 * contents: add the 0x00 a set high bit needs. */
static int serial_from_hex(const char *hex, uint8_t *out, uint8_t *len)
{
	size_t n = strlen(hex), i, o = 0;

	if (n == 0 || n % 2 != 0 || n / 2 > ZTM_OCSP_SERIAL_MAX)
		return -1;
	for (i = 0; i < n; i += 2) {
		unsigned v = 0, k;
		for (k = 0; k < 2; k++) {
			char ch = hex[i + k];
			v <<= 4;
			if (ch >= '0' && ch <= '9')
				v |= (unsigned)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				v |= (unsigned)(ch - 'a' + 10);
			else
				return -1;
		}
		if (o == 0 && (v & 0x80))
			out[o++] = 0;
		out[o++] = (uint8_t)v;
	}
	*len = (uint8_t)o;
	return 0;
}

int ocsp_ca_of(const struct ztmd_app *app, const struct ztm_ocsp_certid *id)
{
	size_t hl = ztm_ocsp_hash_len(id->hash);
	unsigned i;

	for (i = 0; i < APP_CA_COUNT; i++) {
		const struct app_ca *ca = &app->cas[i];
		if (ca->responder == NULL)
			continue;
		if (memcmp(ca->id_name[id->hash], id->name_hash.p, hl) == 0 &&
		    memcmp(ca->id_key[id->hash], id->key_hash.p, hl) == 0)
			return (int)i;
	}
	return -1;
}

static size_t slot_of(const struct ocsp_cache *c, int ca, int hash, const uint8_t *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	size_t i;

	h = (h ^ (uint64_t)ca) * 1099511628211ull;
	h = (h ^ (uint64_t)hash) * 1099511628211ull;
	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return (size_t)h & c->mask;
}

static struct entry *find(const struct ocsp_cache *c, int ca, int hash, const uint8_t *s, size_t n)
{
	struct entry *e;

	for (e = c->tab[slot_of(c, ca, hash, s, n)]; e != NULL; e = e->hnext)
		if (e->ca == ca && e->hash == hash && e->slen == n && memcmp(e->serial, s, n) == 0)
			return e;
	return NULL;
}

static void q_remove(struct ocsp_cache *c, struct entry *e)
{
	if (e->qprev != NULL)
		e->qprev->qnext = e->qnext;
	else if (c->qhead == e)
		c->qhead = e->qnext;
	if (e->qnext != NULL)
		e->qnext->qprev = e->qprev;
	else if (c->qtail == e)
		c->qtail = e->qprev;
	e->qprev = e->qnext = NULL;
}

static void q_append(struct ocsp_cache *c, struct entry *e)
{
	e->qprev = c->qtail;
	e->qnext = NULL;
	if (c->qtail != NULL)
		c->qtail->qnext = e;
	else
		c->qhead = e;
	c->qtail = e;
}

static void drop(struct ocsp_cache *c, struct entry *e)
{
	struct entry **pp = &c->tab[slot_of(c, e->ca, e->hash, e->serial, e->slen)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	q_remove(c, e);
	ztm_buf_free(&e->der);
	free(e);
	c->n--;
}

static void certid_of(const struct ocsp_cache *c, int ca, int hash, const uint8_t *s, size_t n,
                      struct ztm_ocsp_certid *id)
{
	const struct app_ca *a = &c->app->cas[ca];

	id->hash = (enum ztm_ocsp_hash)hash;
	id->name_hash = (struct ztm_slice){a->id_name[hash], ztm_ocsp_hash_len(id->hash)};
	id->key_hash = (struct ztm_slice){a->id_key[hash], ztm_ocsp_hash_len(id->hash)};
	id->serial = (struct ztm_slice){s, n};
}

/* The store's answer for one CertID, as a SingleResponse valid from now. */
static int status_of(struct ocsp_cache *c, int ca, const struct ztm_ocsp_certid *id, int64_t now,
                     struct ztm_ocsp_single *s, struct ztm_error *err)
{
	char hex[ZTM_SERIAL_HEX_MAX];
	struct ztm_cert_status_row row;

	memset(s, 0, sizeof(*s));
	s->id = *id;
	s->status = ZTM_OCSP_UNKNOWN;
	s->reason = ZTM_OCSP_NO_REASON;
	s->this_update = now;
	s->next_update = now + (int64_t)c->set->response_lifetime;
	if (ocsp_serial_hex(id->serial, hex) != 0)
		return 0;
	if (ztm_store_cert_status(c->store, c->app->cas[ca].name, hex, &row, err) != 0)
		return -1;
	if (row.status == ZTM_STATUS_GOOD) {
		s->status = ZTM_OCSP_GOOD;
	} else if (row.status == ZTM_STATUS_REVOKED) {
		s->status = ZTM_OCSP_REVOKED;
		s->revoked_at = row.rev.revoked_at;
		s->reason = (int)row.rev.reason;
	}
	return 0;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* (Re-)signs an entry from the store's current status; a serial the store
 * no longer knows (status unknown) leaves the cache. */
static int sign_entry(struct ocsp_cache *c, struct entry *e, struct ztm_error *err)
{
	struct ztm_ocsp_single s;
	struct ztm_ocsp_certid id;
	struct ztm_buf der;
	int64_t now = now_s();

	certid_of(c, e->ca, e->hash, e->serial, e->slen, &id);
	if (status_of(c, e->ca, &id, now, &s, err) != 0)
		return -1;
	if (s.status == ZTM_OCSP_UNKNOWN) {
		drop(c, e);
		return 0;
	}
	ztm_buf_init(&der, 64 * 1024);
	if (ztm_ocsp_resp_build(c->app->cas[e->ca].responder, &s, 1, (struct ztm_slice){NULL, 0},
	                        now, &der, err) != 0) {
		ztm_buf_free(&der);
		return -1;
	}
	{
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		if (EVP_Digest(der.data, der.len, md, &mdlen, EVP_sha256(), NULL) != 1) {
			ztm_buf_free(&der);
			return ztm_error_ossl(err, ZTM_E_CRYPTO, "OCSP response digest");
		}
		memcpy(e->tag, md, sizeof(e->tag));
	}
	ztm_buf_free(&e->der);
	e->der = der;
	e->this_update = s.this_update;
	e->next_update = s.next_update;
	q_remove(c, e);
	q_append(c, e);
	return 0;
}

static struct entry *insert(struct ocsp_cache *c, int ca, int hash, const uint8_t *s, size_t n)
{
	struct entry *e;
	size_t slot;

	if (c->n >= c->set->cache_max || n > sizeof(e->serial))
		return NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->ca = (uint8_t)ca;
	e->hash = (uint8_t)hash;
	e->slen = (uint8_t)n;
	memcpy(e->serial, s, n);
	ztm_buf_init(&e->der, 64 * 1024);
	slot = slot_of(c, ca, hash, s, n);
	e->hnext = c->tab[slot];
	c->tab[slot] = e;
	c->n++;
	return e;
}

static int take_token(struct ocsp_cache *c)
{
	struct timespec now;
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - c->last_fill.tv_sec) +
	     (double)(now.tv_nsec - c->last_fill.tv_nsec) / 1e9;
	c->last_fill = now;
	c->tokens += dt * (double)c->set->sign_rate;
	if (c->tokens > (double)c->set->sign_rate)
		c->tokens = (double)c->set->sign_rate;
	if (c->tokens < 1.0)
		return -1;
	c->tokens -= 1.0;
	return 0;
}

int ocsp_sign_now(struct ocsp_cache *c, int ca, const struct ztm_ocsp_certid *ids, size_t n,
                  struct ztm_slice nonce, struct ztm_buf *out, struct ztm_error *err)
{
	struct ztm_ocsp_single s[ZTM_OCSP_MAX_IDS];
	int64_t now = now_s();
	size_t i;

	if (n == 0 || n > ZTM_OCSP_MAX_IDS)
		return ztm_error_set(err, ZTM_E_USAGE, "OCSP: %zu CertIDs", n);
	if (take_token(c) != 0)
		return ztm_error_set(err, ZTM_E_POLICY, "on-demand OCSP signing over %llu/s",
		                     (unsigned long long)c->set->sign_rate);
	for (i = 0; i < n; i++)
		if (status_of(c, ca, &ids[i], now, &s[i], err) != 0)
			return -1;
	return ztm_ocsp_resp_build(c->app->cas[ca].responder, s, n, nonce, now, out, err);
}

static void follow_notice(struct ocsp_cache *c);

int ocsp_cache_get(struct ocsp_cache *c, int ca, const struct ztm_ocsp_certid *id,
                   struct ztm_buf *out, struct ocsp_cache_hit *hit, struct ztm_error *err)
{
	int64_t now = now_s();
	struct ztm_ocsp_single s;
	struct entry *e;

	memset(hit, 0, sizeof(*hit));
	follow_notice(c);
	e = find(c, ca, (int)id->hash, id->serial.p, id->serial.len);
	if (e == NULL || e->next_update <= now) {
		/* A miss: the store decides whether it is worth a cache entry. */
		if (take_token(c) != 0)
			return ztm_error_set(err, ZTM_E_POLICY,
			                     "on-demand OCSP signing over %llu/s",
			                     (unsigned long long)c->set->sign_rate);
		if (status_of(c, ca, id, now, &s, err) != 0)
			return -1;
		if (s.status == ZTM_OCSP_UNKNOWN) {
			if (e != NULL)
				drop(c, e);
			/* Not ours (yet): signed for this request only. */
			return ztm_ocsp_resp_build(c->app->cas[ca].responder, &s, 1,
			                           (struct ztm_slice){NULL, 0}, now, out, err);
		}
		if (e == NULL)
			e = insert(c, ca, (int)id->hash, id->serial.p, id->serial.len);
		if (e == NULL) /* cache full: answer anyway */
			return ztm_ocsp_resp_build(c->app->cas[ca].responder, &s, 1,
			                           (struct ztm_slice){NULL, 0}, now, out, err);
		if (sign_entry(c, e, err) != 0) {
			drop(c, e);
			return -1;
		}
	}
	if (ztm_buf_append(out, e->der.data, e->der.len) != 0)
		return ztm_error_set(err, ZTM_E_NOMEM, "OCSP response");
	hit->max_age = e->next_update - now;
	hit->this_update = e->this_update;
	hit->next_update = e->next_update;
	memcpy(hit->tag, e->tag, sizeof(hit->tag));
	return 0;
}

/* --- background work ----------------------------------------------------- */
static int collect(const struct ztm_cert_row *row, void *arg)
{
	struct ocsp_cache *c = arg;
	unsigned i;

	if (strcmp(row->profile, "ocsp") == 0)
		return 0; /* responders are checked by nobody (ocsp-nocheck) */
	for (i = 0; i < APP_CA_COUNT; i++)
		if (c->app->cas[i].responder != NULL && strcmp(row->ca, c->app->cas[i].name) == 0)
			break;
	if (i == APP_CA_COUNT || c->nbacklog >= c->set->cache_max)
		return 0;
	if (c->nbacklog == c->backlog_cap) {
		size_t cap = c->backlog_cap ? 2 * c->backlog_cap : 1024;
		struct backlog_item *b = realloc(c->backlog, cap * sizeof(*b));
		if (b == NULL)
			return 1;
		c->backlog = b;
		c->backlog_cap = cap;
	}
	ztm_strlcpy(c->backlog[c->nbacklog].serial, row->serial, ZTM_SERIAL_HEX_MAX);
	c->backlog[c->nbacklog].ca = (uint8_t)i;
	c->nbacklog++;
	return 0;
}

/* Re-signs both CertID hash variants of one serial, if cached; a serial not
 * cached yet is signed when first asked for. */
static void refresh_serial(struct ocsp_cache *c, int ca, const char *hex)
{
	uint8_t s[ZTM_OCSP_SERIAL_MAX + 1], n = 0;
	struct ztm_error err;
	int h;

	if (serial_from_hex(hex, s, &n) != 0)
		return;
	for (h = 0; h < ZTM_OCSP_HASH_COUNT; h++) {
		struct entry *e = find(c, ca, h, s, n);
		if (e != NULL && sign_entry(c, e, &err) != 0) {
			ztm_log(ZTM_LOG_ERROR, "ocsp.sign_failed", "serial=%s error=%s", hex,
			        ztm_err_name(err.code));
			drop(c, e); /* never serve a status older than the feed says */
		}
	}
}

struct change {
	char serial[ZTM_SERIAL_HEX_MAX];
	char ca[32];
	int64_t seq;
};

struct changes {
	struct change v[FEED_CHUNK];
	size_t n;
};

static int on_change(const struct ztm_revocation_event *ev, void *arg)
{
	struct changes *ch = arg;

	if (ch->n == FEED_CHUNK)
		return 1;
	ztm_strlcpy(ch->v[ch->n].serial, ev->serial, ZTM_SERIAL_HEX_MAX);
	ztm_strlcpy(ch->v[ch->n].ca, ev->ca, sizeof(ch->v[ch->n].ca));
	ch->v[ch->n].seq = ev->seq;
	ch->n++;
	return 0;
}

static void follow_feed(struct ocsp_cache *c)
{
	static struct changes ch; /* one worker, one thread: no sharing */
	struct ztm_error err;
	size_t i;
	unsigned k;

	do {
		ch.n = 0;
		if (ztm_store_revocation_changes(c->store, c->seq, FEED_CHUNK, on_change, &ch,
		                                 &err) != 0) {
			ztm_log(ZTM_LOG_ERROR, "ocsp.feed_failed", "error=%s",
			        ztm_err_name(err.code));
			return;
		}
		/* Applied after the read, not inside its callback: signing reads
		 * the store again. */
		for (i = 0; i < ch.n; i++) {
			for (k = 0; k < APP_CA_COUNT; k++)
				if (c->app->cas[k].responder != NULL &&
				    strcmp(c->app->cas[k].name, ch.v[i].ca) == 0)
					refresh_serial(c, (int)k, ch.v[i].serial);
			c->seq = ch.v[i].seq;
		}
	} while (ch.n == FEED_CHUNK);
}

/* The log first when a worker of this node announced a revocation since
 * the last read: then no worker answers from before it (ocsp_notice.c). */
static void follow_notice(struct ocsp_cache *c)
{
	uint64_t n = ocsp_notice_read(c->app->notice);

	if (n == c->notice_seen)
		return;
	c->notice_seen = n; /* before the read: a later notice is not lost */
	follow_feed(c);
}

static void presign_some(struct ocsp_cache *c)
{
	size_t done = 0;
	struct ztm_error err;

	while (c->backlog_pos < c->nbacklog && done < PRESIGN_CHUNK) {
		const struct backlog_item *b = &c->backlog[c->backlog_pos++];
		uint8_t s[ZTM_OCSP_SERIAL_MAX + 1], n = 0;
		struct entry *e;

		if (serial_from_hex(b->serial, s, &n) != 0 || find(c, b->ca, ZTM_OCSP_SHA1, s, n))
			continue;
		/* SHA-1 CertIDs: what RFC 5019 clients and `openssl ocsp` send;
		 * SHA-256 ones are signed on first request, then cached. */
		e = insert(c, b->ca, ZTM_OCSP_SHA1, s, n);
		if (e == NULL)
			break;
		if (sign_entry(c, e, &err) != 0) {
			ztm_log(ZTM_LOG_ERROR, "ocsp.sign_failed", "serial=%s error=%s", b->serial,
			        ztm_err_name(err.code));
			drop(c, e);
		}
		done++;
	}
	if (c->backlog != NULL && c->backlog_pos == c->nbacklog) {
		ztm_log(ZTM_LOG_INFO, "ocsp.presigned", "responses=%zu", c->n);
		free(c->backlog);
		c->backlog = NULL;
		c->nbacklog = c->backlog_pos = c->backlog_cap = 0;
	}
}

static void refresh_some(struct ocsp_cache *c)
{
	int64_t now = now_s(), half = (int64_t)c->set->response_lifetime / 2;
	struct ztm_error err;
	size_t done = 0;

	while (c->qhead != NULL && done < REFRESH_CHUNK && c->qhead->this_update + half <= now) {
		struct entry *e = c->qhead;
		if (sign_entry(c, e, &err) != 0) {
			ztm_log(ZTM_LOG_ERROR, "ocsp.sign_failed", "error=%s",
			        ztm_err_name(err.code));
			drop(c, e);
		}
		done++;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ocsp_cache *c = arg;
	struct ztm_error err;
	int changed = 0;

	(void)fd;
	(void)what;
	/* A new responder certificate every half lifetime: cheap to check. */
	if (ocsp_responders_ensure(c->app, c->store, now_s(), &changed, &err) != 0)
		ztm_log(ZTM_LOG_ERROR, "ocsp.responder_failed", "error=%s", ztm_err_name(err.code));
	c->notice_seen = ocsp_notice_read(c->app->notice);
	follow_feed(c);
	refresh_some(c);
	presign_some(c);
}

struct ocsp_cache *ocsp_cache_new(struct ztmd_app *app, struct ztm_store *store,
                                  struct event_base *base, struct ztm_error *err)
{
	struct ocsp_cache *c = calloc(1, sizeof(*c));
	struct timeval tv;
	size_t buckets = 1024;

	if (c == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "OCSP cache");
		return NULL;
	}
	c->app = app;
	c->store = store;
	c->set = app->ocsp_set;
	while (buckets < c->set->cache_max && buckets < ((size_t)1 << 22))
		buckets <<= 1;
	c->tab = calloc(buckets, sizeof(*c->tab));
	if (c->tab == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "OCSP cache of %zu buckets", buckets);
		goto fail;
	}
	c->mask = buckets - 1;
	c->tokens = (double)c->set->sign_rate;
	clock_gettime(CLOCK_MONOTONIC, &c->last_fill);
	/* The log position first: a change after it is seen by the feed even
	 * if the pre-sign pass read the status before it. */
	c->notice_seen = ocsp_notice_read(app->notice);
	if (ztm_store_revocation_seq(store, &c->seq, err) != 0 ||
	    ztm_store_cert_each(store, ZTM_CERT_ISSUED, collect, c, err) != 0 ||
	    ztm_store_cert_each(store, ZTM_CERT_REVOKED, collect, c, err) != 0)
		goto fail;
	c->tick = event_new(base, -1, EV_PERSIST, on_tick, c);
	tv.tv_sec = (time_t)(c->set->poll_ms / 1000);
	tv.tv_usec = (suseconds_t)(c->set->poll_ms % 1000) * 1000;
	if (c->tick == NULL || event_priority_set(c->tick, ZTMD_PRI_IO) != 0 ||
	    event_add(c->tick, &tv) != 0) {
		ztm_error_set(err, ZTM_E_INTERNAL, "OCSP timer");
		goto fail;
	}
	/* The first chunk now rather than one tick later. */
	presign_some(c);
	return c;
fail:
	ocsp_cache_free(c);
	return NULL;
}

void ocsp_cache_free(struct ocsp_cache *c)
{
	if (c == NULL)
		return;
	if (c->tick != NULL)
		event_free(c->tick);
	while (c->qhead != NULL)
		drop(c, c->qhead);
	free(c->tab);
	free(c->backlog);
	free(c);
}
