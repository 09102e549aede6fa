/* http.c - requests as handlers see them (http.h): routing, accessors,
 * replies, and the life of a request across deferred store work.
 *
 * A struct ztmd_req outlives its libevent request when it must: the
 * dispatcher and every queued job hold a reference, and the last release
 * frees it. libevent frees an evhttp_request when its connection goes away;
 * the connection's close callback tells us first, so r->ev is cleared (or,
 * when libevent detached the request instead of freeing it, kept to be freed
 * by us) and later replies are dropped instead of touching freed memory.
 */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "server.h"
#include "ztm/log.h"
#include "ztm/str.h"

struct ztmd_req {
	struct ztmd_worker *w;
	struct evhttp_request *ev; /* NULL once replied or freed by libevent */
	struct evhttp_connection *evcon;
	/* A request on the public plain-HTTP listener (phttp.c) instead: its
	 * connection and parsed head, NULL once replied or gone. */
	struct ztmd_phttp_conn *pc;
	const struct ztmd_phttp_head *head;
	char out_hdrs[512]; /* its extra response header lines */
	size_t out_hdrs_len;
	int deferred; /* store work was queued: never a quiet answer */
	int orphan;   /* ev was detached from its closed connection: ours to free */
	int gone;     /* the client is gone: replies are dropped */
	int replied;  /* a reply was made (sent or dropped) */
	unsigned refs;
	enum ztmd_method method;
	const char *method_name;
	char *path;
	struct evkeyvalq query;
	int query_parsed;
	struct ztm_buf body;
	X509 *peer;
	int peer_bootstrap; /* peer is a self-signed bootstrap certificate */
	int peer_expired;   /* peer chains to a client CA but has expired */
	char peer_addr[80];
	size_t route;
	struct timespec start;
	struct ztmd_req *prev, *next;
};

enum ztmd_method ztmd_req_method(const struct ztmd_req *r)
{
	return r->method;
}

const char *ztmd_req_path(const struct ztmd_req *r)
{
	return r->path;
}

const char *ztmd_req_query(struct ztmd_req *r, const char *name)
{
	if (!r->query_parsed) {
		const char *q = NULL;
		if (r->ev != NULL)
			q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev));
		else if (r->head != NULL)
			q = r->head->query;
		r->query_parsed = 1;
		if (q == NULL || evhttp_parse_query_str(q, &r->query) != 0)
			return NULL;
	}
	return evhttp_find_header(&r->query, name);
}

const char *ztmd_req_header(const struct ztmd_req *r, const char *name)
{
	if (r->head != NULL)
		return ztmd_phttp_header(r->head, name);
	if (r->ev == NULL)
		return NULL;
	return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

struct ztm_slice ztmd_req_body(struct ztmd_req *r)
{
	return ztm_buf_slice(&r->body);
}

X509 *ztmd_req_peer_cert(const struct ztmd_req *r)
{
	return r->peer;
}

int ztmd_req_peer_bootstrap(const struct ztmd_req *r)
{
	return r->peer_bootstrap;
}

int ztmd_req_peer_expired(const struct ztmd_req *r)
{
	return r->peer_expired;
}

const char *ztmd_req_peer_addr(const struct ztmd_req *r)
{
	return r->peer_addr;
}

struct ztm_store *ztmd_req_store(const struct ztmd_req *r)
{
	return r->w->store;
}

struct ztmd_worker *ztmd_req_worker(const struct ztmd_req *r)
{
	return r->w;
}

struct evhttp_request *ztmd_req_evhttp(struct ztmd_req *r)
{
	return r->gone ? NULL : r->ev;
}

const char *ztmd_http_date(int64_t t, char out[32])
{
	static const char days[] = "ThuFriSatSunMonTueWed"; /* 1970-01-01 was a Thursday */
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t z = (t >= 0 ? t : 0) / 86400, sec = (t >= 0 ? t : 0) % 86400;
	int64_t era, doe, yoe, doy, mp, d, m, y;
	int wd = (int)(z % 7);

	/* days to civil (H. Hinnant), as the CRL writer does: no gmtime, no
	 * strftime per answer. */
	z += 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y > 9999)
		y = 9999;
	memcpy(out, days + 3 * wd, 3);
	out[3] = ',';
	out[4] = ' ';
	out[5] = (char)('0' + d / 10);
	out[6] = (char)('0' + d % 10);
	out[7] = ' ';
	memcpy(out + 8, months + 3 * (m - 1), 3);
	out[11] = ' ';
	out[12] = (char)('0' + y / 1000);
	out[13] = (char)('0' + y / 100 % 10);
	out[14] = (char)('0' + y / 10 % 10);
	out[15] = (char)('0' + y % 10);
	out[16] = ' ';
	out[17] = (char)('0' + sec / 36000);
	out[18] = (char)('0' + sec / 3600 % 10);
	out[19] = ':';
	out[20] = (char)('0' + sec % 3600 / 600);
	out[21] = (char)('0' + sec % 3600 / 60 % 10);
	out[22] = ':';
	out[23] = (char)('0' + sec % 60 / 10);
	out[24] = (char)('0' + sec % 10);
	memcpy(out + 25, " GMT", 5);
	return out;
}

/* Answers up to this size (one TLS record's plaintext) are made contiguous
 * before they are written (ztmd_reply). */
#define WIRE_JOIN_MAX 16384

static long elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - start->tv_sec) * 1000000L +
	       (now.tv_nsec - start->tv_nsec) / 1000L;
}

/* Appends "name: value\r\n" to a plain request's header lines; handlers
 * pass constants and numbers, but a CR or LF is refused all the same. */
static void plain_header(struct ztmd_req *r, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);

	if (strcspn(name, "\r\n:") != n || strcspn(value, "\r\n") != v ||
	    r->out_hdrs_len + n + v + 4 > sizeof(r->out_hdrs)) {
		ztm_log(ZTM_LOG_ERROR, "reply_header_dropped", "name=%.64s", name);
		return;
	}
	memcpy(r->out_hdrs + r->out_hdrs_len, name, n);
	memcpy(r->out_hdrs + r->out_hdrs_len + n, ": ", 2);
	memcpy(r->out_hdrs + r->out_hdrs_len + n + 2, value, v);
	memcpy(r->out_hdrs + r->out_hdrs_len + n + 2 + v, "\r\n", 2);
	r->out_hdrs_len += n + v + 4;
}

void ztmd_reply_header(struct ztmd_req *r, const char *name, const char *value)
{
	if (r->replied)
		return;
	if (r->pc != NULL)
		plain_header(r, name, value);
	else if (r->ev != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

/* A success on a ZTMD_ROUTE_QUIET route is counted in the metrics and not
 * logged: relying parties poll OCSP and CRLs all day, and at tens of
 * thousands of answers a second the log line was a large part of the cost
 * (docs/benchmarks.md "OCSP"). Everything else is logged: errors, refusals,
 * and any request that queued store work (an audited refusal answers 200
 * with an OCSP error status, and is still logged). */
static int quiet(const struct ztmd_req *r, int status)
{
	return status < 400 && !r->deferred && r->route != ZTMD_ROUTE_NONE &&
	       r->route <= r->w->n_routes && (r->w->routes[r->route - 1].flags & ZTMD_ROUTE_QUIET);
}

static void reply_plain(struct ztmd_req *r, int status, const char *content_type, const void *body,
                        size_t len)
{
	/* phttp.c adds Connection: close itself (draining, or asked). */
	if (content_type != NULL)
		plain_header(r, "Content-Type", content_type);
	ztmd_phttp_reply(r->pc, status, r->out_hdrs, r->out_hdrs_len, body, len);
	r->pc = NULL;
	r->head = NULL;
}

void ztmd_reply(struct ztmd_req *r, int status, const char *content_type, const void *body,
                size_t len)
{
	char qpath[160];
	struct evbuffer *out;

	if (r->replied) {
		ztm_log(ZTM_LOG_ERROR, "double_reply", "status=%d path=%s", status,
		        ztm_log_quote(r->path, qpath, sizeof(qpath)));
		return;
	}
	r->replied = 1;
	ztmd_metrics_request(r->w->metrics, r->route, status);
	if (!quiet(r, status) || r->gone)
		ztm_log(ZTM_LOG_INFO, "request",
		        "method=%s path=%s status=%d dur_us=%ld peer=%s%s%s", r->method_name,
		        ztm_log_quote(r->path, qpath, sizeof(qpath)), status, elapsed_us(&r->start),
		        r->peer_addr, r->pc != NULL || r->head != NULL ? " listener=public" : "",
		        r->gone ? " dropped=client_gone" : "");
	if (r->pc != NULL && !r->gone) {
		reply_plain(r, status, content_type, body, len);
		return;
	}
	if (r->gone || r->ev == NULL)
		return;
	if (content_type != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Content-Type",
		                  content_type);
	/* While draining, keep-alive would hold the worker open: close after. */
	if (r->w->draining)
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Connection", "close");
	out = evbuffer_new();
	if (out == NULL || (len > 0 && evbuffer_add(out, body, len) != 0)) {
		evbuffer_free(out);
		evhttp_send_error(r->ev, 500, NULL);
	} else {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
		struct evbuffer *wire = bev != NULL ? bufferevent_get_output(bev) : NULL;

		evhttp_send_reply(r->ev, status, NULL, out);
		evbuffer_free(out);
		/* evhttp leaves the headers and the body in separate chains of
		 * the connection's output, and bufferevent_openssl makes one
		 * SSL_write -- one TLS record, one write(2) -- per chain. Joined
		 * (a copy of a few hundred bytes) a small answer leaves in one
		 * record and one system call. Nothing is written before the loop
		 * turns, so this is still in time. */
		if (wire != NULL && evbuffer_get_length(wire) <= WIRE_JOIN_MAX)
			evbuffer_pullup(wire, -1);
	}
	/* libevent owns and frees the request once the reply is written. */
	r->ev = NULL;
}

void ztmd_reply_error(struct ztmd_req *r, int status, const struct ztm_error *err)
{
	ztmd_reply_error_named(r, status, ztm_err_name(err->code), err);
}

void ztmd_reply_error_named(struct ztmd_req *r, int status, const char *name,
                            const struct ztm_error *err)
{
	char qmsg[448], qpath[160];
	json_t *j;
	char *text = NULL;

	j = json_pack("{s:s,s:s}", "error", name, "message", err->msg);
	if (j != NULL)
		text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	ztm_log(ZTM_LOG_WARN, "refused", "status=%d path=%s error=%s message=%s peer=%s", status,
	        ztm_log_quote(r->path, qpath, sizeof(qpath)), name,
	        ztm_log_quote(err->msg, qmsg, sizeof(qmsg)), r->peer_addr);
	if (text == NULL) {
		static const char fallback[] = "{\"error\":\"no_memory\",\"message\":\"\"}";
		ztmd_reply(r, status, "application/json", fallback, sizeof(fallback) - 1);
		return;
	}
	ztmd_reply(r, status, "application/json", text, strlen(text));
	free(text);
}

static void req_free(struct ztmd_req *r)
{
	struct ztmd_worker *w = r->w;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		w->live = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	ztmd_metrics_inflight(w->metrics, w->slot, -1);
	if (r->orphan && r->ev != NULL)
		evhttp_request_free(r->ev);
	if (r->query_parsed)
		evhttp_clear_headers(&r->query);
	ztm_buf_free(&r->body);
	X509_free(r->peer);
	free(r->path);
	free(r);
}

/* Only queued store jobs take references (commit.c). */
void ztmd_req_ref(struct ztmd_req *r)
{
	r->refs++;
	r->deferred = 1;
}

void ztmd_req_unref(struct ztmd_req *r)
{
	if (--r->refs > 0)
		return;
	if (!r->replied) {
		struct ztm_error e;
		ztm_error_set(&e, ZTM_E_INTERNAL, "the handler did not reply");
		ztmd_reply_error(r, 500, &e);
	}
	req_free(r);
}

void ztmd_http_free_all(struct ztmd_worker *w)
{
	while (w->live != NULL) {
		w->live->replied = 1;
		req_free(w->live);
	}
}

void ztmd_http_plain_gone(struct ztmd_req *r)
{
	r->gone = 1;
	r->pc = NULL;
	r->head = NULL;
}

void ztmd_http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct ztmd_worker *w = arg;
	struct ztmd_req *r;

	for (r = w->live; r != NULL; r = r->next) {
		if (r->evcon != evcon)
			continue;
		r->gone = 1;
		/* libevent detaches a request that is still being handled from
		 * a connection closed by the peer (and leaves it to us); any
		 * other request of the connection is freed right after this
		 * callback returns. */
		if (r->ev != NULL && !r->replied && evhttp_request_get_connection(r->ev) == NULL)
			r->orphan = 1;
		else
			r->ev = NULL;
	}
}

static void healthz(struct ztmd_req *r, void *arg)
{
	(void)arg;
	ztmd_reply(r, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void metrics(struct ztmd_req *r, void *arg)
{
	struct ztmd_worker *w = arg;
	struct ztm_buf b;
	struct ztm_error e;

	if (w->metrics_gate != NULL && w->metrics_gate(r, w->metrics_gate_arg) != 0)
		return;
	ztm_buf_init(&b, 4 * 1024 * 1024);
	if (ztmd_metrics_render(w->metrics, &b) != 0) {
		ztm_error_set(&e, ZTM_E_NOMEM, "metrics too large");
		ztmd_reply_error(r, 500, &e);
	} else {
		ztmd_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
	}
	ztm_buf_free(&b);
}

/* The builtin routes; worker.c puts them first in its table. */
const struct ztmd_route ztmd_builtin_routes[2] = {
    {ZTMD_GET, "/healthz", ZTMD_ROUTE_PUBLIC, healthz, NULL},
    {ZTMD_GET, "/metrics", 0, metrics, NULL},
};

static int method_of(enum evhttp_cmd_type cmd, enum ztmd_method *m, const char **name)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		*m = ZTMD_GET;
		*name = "GET";
		return 0;
	case EVHTTP_REQ_POST:
		*m = ZTMD_POST;
		*name = "POST";
		return 0;
	case EVHTTP_REQ_PUT:
		*m = ZTMD_PUT;
		*name = "PUT";
		return 0;
	case EVHTTP_REQ_DELETE:
		*m = ZTMD_DELETE;
		*name = "DELETE";
		return 0;
	default:
		*name = "OTHER";
		return -1;
	}
}

static int path_matches(const struct ztmd_route *rt, const char *path)
{
	size_t n = strlen(rt->path);

	if ((rt->flags & ZTMD_ROUTE_PREFIX) && n > 0 && rt->path[n - 1] == '/')
		return strncmp(path, rt->path, n) == 0;
	return strcmp(path, rt->path) == 0;
}

static void set_peer(struct ztmd_req *r, struct evhttp_connection *evcon)
{
	char *addr = NULL;
	ev_uint16_t port = 0;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

	evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(r->peer_addr, sizeof(r->peer_addr), "%s:%u", addr != NULL ? addr : "?",
	         (unsigned)port);
	/* A certificate that failed verification already failed the
	 * handshake; checking the result again costs nothing. */
	if (ssl != NULL && SSL_get_verify_result(ssl) == X509_V_OK) {
		r->peer = SSL_get1_peer_certificate(ssl);
	} else if (ssl != NULL && ztmd_tls_peer_is_bootstrap(ssl)) {
		r->peer = SSL_get1_peer_certificate(ssl);
		r->peer_bootstrap = 1;
	} else if (ssl != NULL && ztmd_tls_peer_is_expired(ssl)) {
		r->peer = SSL_get1_peer_certificate(ssl);
		r->peer_expired = 1;
	}
}

static struct ztmd_req *req_new(struct ztmd_worker *w)
{
	struct ztmd_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->w = w;
	r->refs = 1;
	r->route = ZTMD_ROUTE_NONE;
	TAILQ_INIT(&r->query);
	ztm_buf_init(&r->body, w->set->max_body_bytes);
	r->next = w->live;
	if (w->live != NULL)
		w->live->prev = r;
	w->live = r;
	ztmd_metrics_inflight(w->metrics, w->slot, 1);
	return r;
}

/* Decodes raw (the path without its query) into r->path; 0, or -1 after
 * replying 400. */
static int set_path(struct ztmd_req *r, const char *raw)
{
	struct ztm_error e;
	size_t len = 0;

	r->path = evhttp_uridecode(raw != NULL && raw[0] != '\0' ? raw : "/", 0, &len);
	if (r->path == NULL || strlen(r->path) != len) {
		ztm_error_set(&e, ZTM_E_PARSE, "request path is not valid");
		ztmd_reply_error(r, 400, &e);
		return -1;
	}
	return 0;
}

/* The route for r's path and method; on the public listener only the
 * ZTMD_ROUTE_PUBLIC ones exist (the rest is 404, as if absent). Sets
 * r->route; *path_seen when a route has the path but not the method. */
static const struct ztmd_route *route_of(struct ztmd_req *r, int public, int *path_seen)
{
	struct ztmd_worker *w = r->w;
	size_t i;

	*path_seen = 0;
	for (i = 0; i < w->n_routes; i++) {
		if (public && !(w->routes[i].flags & ZTMD_ROUTE_PUBLIC))
			continue;
		if (!path_matches(&w->routes[i], r->path))
			continue;
		*path_seen = 1;
		r->route = i + 1;
		if (w->routes[i].methods & r->method)
			return &w->routes[i];
	}
	return NULL;
}

static void run(struct ztmd_req *r, const struct ztmd_route *match, int path_seen)
{
	struct ztm_error e;

	if (match != NULL) {
		match->fn(r, match->arg);
	} else if (path_seen) {
		ztm_error_set(&e, ZTM_E_USAGE, "method %s not allowed on %s", r->method_name,
		              r->path);
		ztmd_reply_error(r, 405, &e);
	} else {
		r->route = ZTMD_ROUTE_NONE;
		ztm_error_set(&e, ZTM_E_NOTFOUND, "no such path: %.200s", r->path);
		ztmd_reply_error(r, 404, &e);
	}
}

void ztmd_http_dispatch(struct evhttp_request *ev, void *arg)
{
	struct ztmd_worker *w = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	const struct ztmd_route *match;
	struct evbuffer *in;
	struct ztmd_req *r;
	struct ztm_error e;
	size_t len;
	int path_seen = 0;

	/* Never serve a request that did not come over TLS. */
	if (bev == NULL || bufferevent_openssl_get_ssl(bev) == NULL) {
		evhttp_send_error(ev, 500, NULL);
		return;
	}
	r = req_new(w);
	if (r == NULL) {
		evhttp_send_error(ev, 503, NULL);
		return;
	}
	r->ev = ev;
	r->evcon = evcon;
	/* The connection carries a request now: its I/O (the reply) goes
	 * before the group commit and before other handshakes (http.h, ZTMD_PRI_IO). */
	ztmd_bev_priority(bev, ZTMD_PRI_IO);
	evhttp_connection_set_closecb(evcon, ztmd_http_conn_closed, w);
	set_peer(r, evcon);
	if (set_path(r, evhttp_uri_get_path(evhttp_request_get_evhttp_uri(ev))) != 0)
		goto out;
	if (method_of(evhttp_request_get_command(ev), &r->method, &r->method_name) != 0)
		r->method = 0;
	match = route_of(r, 0, &path_seen);
	/* The route's own cap. evhttp refused anything over the largest cap
	 * of all routes before reading it (worker.c); libevent 2.1 has no hook
	 * between the headers and the body of a server request (evhttp's
	 * newreqcb came in 2.2), so a smaller route cap is applied here, still
	 * before any handler sees a byte. The body is copied so that it lives
	 * as long as r, whatever happens to the connection. */
	if (match != NULL && (match->flags & ZTMD_ROUTE_BATCH_BODY))
		r->body.max = w->set->max_batch_bytes;
	if (match != NULL && (match->flags & ZTMD_ROUTE_UPLOAD_BODY))
		r->body.max = w->set->max_upload_bytes;
	in = evhttp_request_get_input_buffer(ev);
	len = evbuffer_get_length(in);
	if (len > r->body.max) {
		ztm_error_set(&e, ZTM_E_TOOBIG, "request body over %zu bytes", r->body.max);
		ztmd_reply_error(r, 413, &e);
		goto out;
	}
	/* One copy, straight out of evbuffer's chain (evbuffer_pullup would
	 * first make the chain contiguous: a second copy of a batch's MiBs). */
	if (len > 0) {
		uint8_t *dst = ztm_buf_reserve(&r->body, len);
		if (dst == NULL || evbuffer_remove(in, dst, len) != (int)len) {
			ztm_error_set(&e, ZTM_E_NOMEM, "request body of %zu bytes", len);
			ztmd_reply_error(r, 500, &e);
			goto out;
		}
		r->body.len = len;
	}
	run(r, match, path_seen);
out:
	ztmd_req_unref(r);
}

static int method_named(const char *m, enum ztmd_method *out, const char **name)
{
	static const struct {
		const char *name;
		enum ztmd_method m;
	} t[] = {
	    {"GET", ZTMD_GET}, {"POST", ZTMD_POST}, {"PUT", ZTMD_PUT}, {"DELETE", ZTMD_DELETE}};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(m, t[i].name) == 0) {
			*out = t[i].m;
			*name = t[i].name;
			return 0;
		}
	*name = "OTHER";
	return -1;
}

/* A request read by phttp.c. *inflight is set to r at once: phttp.c keeps
 * it until the reply comes (ztmd_phttp_reply clears it) to tell r when the
 * connection goes away first. The head (header fields) stays in the
 * connection's buffer until then; the body is copied, so that it lives as
 * long as r. */
int ztmd_http_dispatch_plain(struct ztmd_worker *w, struct ztmd_phttp_conn *pc,
                             const struct ztmd_phttp_head *h, struct ztm_slice body,
                             const char *peer, struct ztmd_req **inflight)
{
	const struct ztmd_route *match;
	struct ztmd_req *r = req_new(w);
	struct ztm_error e;
	int path_seen = 0;

	if (r == NULL)
		return -1;
	*inflight = r;
	r->pc = pc;
	r->head = h;
	ztm_strlcpy(r->peer_addr, peer, sizeof(r->peer_addr));
	if (set_path(r, h->target) != 0)
		goto out;
	if (method_named(h->method, &r->method, &r->method_name) != 0)
		r->method = 0;
	match = route_of(r, 1, &path_seen);
	if (body.len > r->body.max) {
		ztm_error_set(&e, ZTM_E_TOOBIG, "request body over %zu bytes", r->body.max);
		ztmd_reply_error(r, 413, &e);
		goto out;
	}
	if (body.len > 0 && ztm_buf_append(&r->body, body.p, body.len) != 0) {
		ztm_error_set(&e, ZTM_E_NOMEM, "request body of %zu bytes", body.len);
		ztmd_reply_error(r, 500, &e);
		goto out;
	}
	run(r, match, path_seen);
out:
	ztmd_req_unref(r);
	return 0;
}
