/* ocsp_int.h - ztmd's OCSP responder (docs/ocsp.md): the delegated
 * responder certificates (ocsp_responder.c), the per-worker cache of
 * pre-signed responses (ocsp_cache.c) and the /ocsp routes (ocsp.c). */
#ifndef ZTMD_OCSP_INT_H
#define ZTMD_OCSP_INT_H

#include <event2/event.h>
#include <stdint.h>

#include "app_int.h"
#include "ztm/ocsp.h"

/* [ocsp] settings. */
struct ocsp_settings {
	uint64_t response_lifetime;  /* nextUpdate - thisUpdate, seconds */
	uint64_t responder_lifetime; /* responder certificate lifetime, seconds */
	uint64_t poll_ms;            /* change feed poll interval */
	uint64_t sign_rate;          /* on-demand signatures per second per worker */
	uint64_t cache_max;          /* entries per worker */
};

int ocsp_settings_read(struct ztm_config *cfg, struct ocsp_settings *s, struct ztm_error *err);

/* Makes sure every CA with a responder key has a current responder
 * certificate (issued by that CA, recorded in the store) and uses it.
 * *changed = 1 when a CA switched certificates (cached responses carry the
 * old one in certs: still valid until it expires, replaced on refresh). */
int ocsp_responders_ensure(struct ztmd_app *app, struct ztm_store *store, int64_t now, int *changed,
                           struct ztm_error *err);

/* The node's revocation notice (ocsp_notice.c): made by the master before
 * it forks; post is a ztm_store_on_revocation listener (arg: the notice),
 * read what the caches compare. NULL reads as 0. */
struct ocsp_notice;
struct ocsp_notice *ocsp_notice_new(struct ztm_error *err);
void ocsp_notice_free(struct ocsp_notice *p);
void ocsp_notice_post(void *p);
uint64_t ocsp_notice_read(const struct ocsp_notice *p);

/* The per-worker cache and its timers. */
struct ocsp_cache;
struct ocsp_cache *ocsp_cache_new(struct ztmd_app *app, struct ztm_store *store,
                                  struct event_base *base, struct ztm_error *err);
void ocsp_cache_free(struct ocsp_cache *c);

/* Which of our CAs a CertID names (by its issuer hashes); -1 if none. */
int ocsp_ca_of(const struct ztmd_app *app, const struct ztm_ocsp_certid *id);

/* What the HTTP answer says about a cached response (RFC 5019 §6.2). */
struct ocsp_cache_hit {
	int64_t max_age; /* how long a client may keep it; 0: do not cache */
	int64_t this_update, next_update;
	uint8_t tag[8]; /* ETag: the response's SHA-256, cut */
};

/* Serves one CertID without a nonce: the cached response, else a fresh one
 * for a known certificate (then cached), else an on-demand one within the
 * signing budget. Appends the response to out; hit->max_age is 0 for an
 * answer made for this request only. ZTM_E_POLICY when over budget. */
int ocsp_cache_get(struct ocsp_cache *c, int ca, const struct ztm_ocsp_certid *id,
                   struct ztm_buf *out, struct ocsp_cache_hit *hit, struct ztm_error *err);
/* Signs on demand (nonce, several CertIDs): within the budget, status from
 * the store. ZTM_E_POLICY when over budget. */
int ocsp_sign_now(struct ocsp_cache *c, int ca, const struct ztm_ocsp_certid *ids, size_t n,
                  struct ztm_slice nonce, struct ztm_buf *out, struct ztm_error *err);

/* Lower-case hex of an INTEGER's magnitude (the store's serial form);
 * -1 for a negative or over-long serial. */
int ocsp_serial_hex(struct ztm_slice serial, char out[ZTM_SERIAL_HEX_MAX]);

size_t ocsp_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);

#endif
