/* ocsp.c - /ocsp: OCSP over HTTP (RFC 6960 Appendix A, RFC 5019).
 *
 *   POST /ocsp (or /ocsp/)   body: DER OCSPRequest, application/ocsp-request
 *   GET  /ocsp/<base64>      the request's DER in base64 (standard or URL
 *                            alphabet, padding optional), percent-encoded
 *
 * Every answer is an OCSPResponse with HTTP 200 (RFC 5019 §5): a signed
 * one, or an unsigned malformedRequest / unauthorized / tryLater /
 * internalError. Refusals are audited (DESIGN I7). No client certificate is
 * needed (authz.c: ocsp is public). One CertID without a nonce (or with a
 * nonce under 16 octets, which RFC 8954 §2.1 lets a responder leave
 * unanswered) is served pre-signed from the cache with RFC 5019 caching
 * headers; a nonce of 16..32 octets or several CertIDs are signed on demand
 * within the signing budget (ocsp_cache.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocsp_int.h"
#include "ztm/str.h"

#define ACTION         "ocsp"
#define NONCE_ECHO_MIN 16 /* RFC 8954 §2.1: responders must echo 16..32 */

int ocsp_settings_read(struct ztm_config *cfg, struct ocsp_settings *s, struct ztm_error *err)
{
	if (ztm_config_duration(cfg, "ocsp", "response_lifetime", 3600, 60, 7 * 86400,
	                        &s->response_lifetime, err) != 0 ||
	    ztm_config_duration(cfg, "ocsp", "responder_lifetime", 7 * 86400, 3600, 90 * 86400,
	                        &s->responder_lifetime, err) != 0 ||
	    ztm_config_u64(cfg, "ocsp", "poll_ms", 1000, 50, 60000, &s->poll_ms, err) != 0 ||
	    ztm_config_u64(cfg, "ocsp", "sign_rate", 2000, 1, 1000000, &s->sign_rate, err) != 0 ||
	    ztm_config_u64(cfg, "ocsp", "cache_max", 1000000, 1, 100000000, &s->cache_max, err) !=
	        0)
		return -1;
	/* A response must never outlive the responder certificate that signed
	 * it; the current one always has half its lifetime left. */
	if (s->response_lifetime > s->responder_lifetime / 2)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "[ocsp] response_lifetime must be at most half of "
		                     "responder_lifetime");
	return 0;
}

struct ocsp_refusal {
	enum ztm_ocsp_resp_status st;
	struct ztm_error err;
	char peer[64];
};

static int job_audit(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct ocsp_refusal *f = arg;
	return ztm_store_audit(s, f->peer, ACTION, "-", ztm_err_name(f->err.code), f->err.msg, err);
}

static void reply_status(struct ztmd_req *r, enum ztm_ocsp_resp_status st)
{
	struct ztm_buf b;

	ztm_buf_init(&b, 16);
	if (ztm_ocsp_resp_status(st, &b) != 0) {
		ztmd_reply(r, 500, NULL, NULL, 0);
	} else {
		ztmd_reply_header(r, "Cache-Control", "no-store");
		ztmd_reply(r, 200, "application/ocsp-response", b.data, b.len);
	}
	ztm_buf_free(&b);
}

static void done_audit(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct ocsp_refusal *f = arg;

	(void)rc;
	(void)err;
	reply_status(r, f->st);
	free(f);
}

/* Audits, then answers with an unsigned OCSP error status. */
static void refuse(struct ztmd_req *r, enum ztm_ocsp_resp_status st, const struct ztm_error *why)
{
	struct ocsp_refusal *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		reply_status(r, ZTM_OCSP_INTERNAL_ERROR);
		return;
	}
	f->st = st;
	f->err = *why;
	ztm_strlcpy(f->peer, ztmd_req_peer_addr(r), sizeof(f->peer));
	ztmd_req_defer(r, job_audit, f, done_audit);
}

/* RFC 6960 A.1: GET {url}/{url-encoding of base-64 encoding of the DER}.
 * The dispatcher has percent-decoded the path; what is left may use either
 * base64 alphabet, with or without padding. */
static int get_der(const char *b64, struct ztm_buf *der, struct ztm_error *err)
{
	char tmp[4 * (ZTM_OCSP_REQ_MAX / 3 + 1) + 4];
	size_t n = strlen(b64), i;

	if (n == 0 || n > sizeof(tmp) - 4)
		return ztm_error_set(err, ZTM_E_TOOBIG, "GET request of %zu base64 characters", n);
	for (i = 0; i < n; i++)
		tmp[i] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
	while (i % 4 != 0)
		tmp[i++] = '=';
	if (ztm_b64_decode(tmp, i, der) != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "GET request path is not base64");
	return 0;
}

static void handle(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer anon;
	struct ztm_ocsp_req req;
	struct ztm_error e;
	struct ztm_buf der, out;
	struct ztm_slice body;
	const char *path = ztmd_req_path(r), *ct;
	struct ocsp_cache_hit hit;
	size_t i;
	int ca, rc;

	/* Public by the access table; the decision is still authz.c's. */
	memset(&anon, 0, sizeof(anon));
	anon.kind = ZTMD_PEER_ANONYMOUS;
	if (ztmd_authz_decide(ZTMD_ACT_OCSP, &anon, &e) != 0) {
		app_refuse(r, app, ACTION, 403, &e);
		return;
	}
	if (app->ocsp == NULL) {
		ztm_error_set(&e, ZTM_E_CONFIG, "no CA has an OCSP responder");
		refuse(r, ZTM_OCSP_UNAUTHORIZED, &e);
		return;
	}
	ztm_buf_init(&der, ZTM_OCSP_REQ_MAX);
	ztm_buf_init(&out, 128 * 1024);
	if (ztmd_req_method(r) == ZTMD_POST) {
		ct = ztmd_req_header(r, "Content-Type");
		if (strcmp(path, "/ocsp") != 0 && strcmp(path, "/ocsp/") != 0) {
			ztm_error_set(&e, ZTM_E_PARSE, "POST carries the request in its body");
			refuse(r, ZTM_OCSP_MALFORMED, &e);
			goto out;
		}
		if (ct == NULL || strcmp(ct, "application/ocsp-request") != 0) {
			ztm_error_set(&e, ZTM_E_PARSE,
			              "Content-Type is not application/ocsp-request");
			refuse(r, ZTM_OCSP_MALFORMED, &e);
			goto out;
		}
		body = ztmd_req_body(r);
	} else {
		if (get_der(path + strlen("/ocsp/"), &der, &e) != 0) {
			refuse(r, ZTM_OCSP_MALFORMED, &e);
			goto out;
		}
		body = ztm_buf_slice(&der);
	}
	if (ztm_ocsp_req_parse(body.p, body.len, &req, &e) != 0) {
		refuse(r, ZTM_OCSP_MALFORMED, &e);
		goto out;
	}
	/* One response, one responder: every CertID must name the same CA of
	 * ours (RFC 6960 §2.3 unauthorized otherwise). */
	ca = ocsp_ca_of(app, &req.ids[0]);
	for (i = 1; i < req.n_ids && ca >= 0; i++)
		if (ocsp_ca_of(app, &req.ids[i]) != ca)
			ca = -1;
	if (ca < 0) {
		ztm_error_set(&e, ZTM_E_DENIED, "CertID issuer is not a CA this responder serves");
		refuse(r, ZTM_OCSP_UNAUTHORIZED, &e);
		goto out;
	}
	memset(&hit, 0, sizeof(hit));
	if (req.n_ids == 1 && req.nonce.len < NONCE_ECHO_MIN)
		rc = ocsp_cache_get(app->ocsp, ca, &req.ids[0], &out, &hit, &e);
	else
		rc = ocsp_sign_now(app->ocsp, ca, req.ids, req.n_ids, req.nonce, &out, &e);
	if (rc != 0) {
		refuse(r, e.code == ZTM_E_POLICY ? ZTM_OCSP_TRY_LATER : ZTM_OCSP_INTERNAL_ERROR,
		       &e);
		goto out;
	}
	if (hit.max_age > 0) {
		/* RFC 5019 §6.2: let HTTP caches keep it until nextUpdate. */
		char cc[96], lm[32], ex[32], tag[2 * sizeof(hit.tag) + 3];
		snprintf(cc, sizeof(cc), "max-age=%lld, public, no-transform, must-revalidate",
		         (long long)hit.max_age);
		ztmd_reply_header(r, "Cache-Control", cc);
		ztmd_reply_header(r, "Last-Modified", ztmd_http_date(hit.this_update, lm));
		ztmd_reply_header(r, "Expires", ztmd_http_date(hit.next_update, ex));
		tag[0] = '"';
		ztm_hex(hit.tag, sizeof(hit.tag), tag + 1);
		tag[sizeof(tag) - 2] = '"';
		tag[sizeof(tag) - 1] = '\0';
		ztmd_reply_header(r, "ETag", tag);
	} else {
		ztmd_reply_header(r, "Cache-Control", "no-store");
	}
	ztmd_reply(r, 200, "application/ocsp-response", out.data, out.len);
out:
	ztm_buf_free(&der);
	ztm_buf_free(&out);
}

size_t ocsp_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	const struct ztmd_route routes[] = {
	    {ZTMD_POST, "/ocsp", ZTMD_ROUTE_PUBLIC | ZTMD_ROUTE_QUIET, handle, app},
	    {ZTMD_GET | ZTMD_POST, "/ocsp/",
	     ZTMD_ROUTE_PREFIX | ZTMD_ROUTE_PUBLIC | ZTMD_ROUTE_QUIET, handle, app},
	};
	size_t i, n = sizeof(routes) / sizeof(routes[0]);

	for (i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return i;
}
