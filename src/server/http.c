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
	int orphan;  /* ev was detached from its closed connection: ours to free */
	int gone;    /* the client is gone: replies are dropped */
	int replied; /* a reply was made (sent or dropped) */
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
		r->query_parsed = 1;
		if (q == NULL || evhttp_parse_query_str(q, &r->query) != 0)
			return NULL;
	}
	return evhttp_find_header(&r->query, name);
}

const char *ztmd_req_header(const struct ztmd_req *r, const char *name)
{
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

static long elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - start->tv_sec) * 1000000L +
	       (now.tv_nsec - start->tv_nsec) / 1000L;
}

void ztmd_reply_header(struct ztmd_req *r, const char *name, const char *value)
{
	if (r->ev != NULL && !r->replied)
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
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
	ztm_log(ZTM_LOG_INFO, "request", "method=%s path=%s status=%d dur_us=%ld peer=%s%s",
	        r->method_name, ztm_log_quote(r->path, qpath, sizeof(qpath)), status,
	        elapsed_us(&r->start), r->peer_addr, r->gone ? " dropped=client_gone" : "");
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
		evhttp_send_reply(r->ev, status, NULL, out);
		evbuffer_free(out);
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

void ztmd_req_ref(struct ztmd_req *r)
{
	r->refs++;
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
    {ZTMD_GET, "/healthz", 0, healthz, NULL},
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

void ztmd_http_dispatch(struct evhttp_request *ev, void *arg)
{
	struct ztmd_worker *w = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	const struct ztmd_route *match = NULL;
	struct evbuffer *in;
	struct ztmd_req *r;
	struct ztm_error e;
	const char *raw;
	size_t i, len = 0;
	int path_seen = 0;

	/* Never serve a request that did not come over TLS. */
	if (bev == NULL || bufferevent_openssl_get_ssl(bev) == NULL) {
		evhttp_send_error(ev, 500, NULL);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		evhttp_send_error(ev, 503, NULL);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->w = w;
	r->ev = ev;
	r->evcon = evcon;
	r->refs = 1;
	r->route = ZTMD_ROUTE_NONE;
	TAILQ_INIT(&r->query);
	ztm_buf_init(&r->body, w->set->max_body_bytes);
	r->next = w->live;
	if (w->live != NULL)
		w->live->prev = r;
	w->live = r;
	ztmd_metrics_inflight(w->metrics, w->slot, 1);
	evhttp_connection_set_closecb(evcon, ztmd_http_conn_closed, w);
	set_peer(r, evcon);

	raw = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(ev));
	r->path = evhttp_uridecode(raw != NULL && raw[0] != '\0' ? raw : "/", 0, &len);
	if (r->path == NULL || strlen(r->path) != len) {
		ztm_error_set(&e, ZTM_E_PARSE, "request path is not valid");
		ztmd_reply_error(r, 400, &e);
		goto out;
	}
	if (method_of(evhttp_request_get_command(ev), &r->method, &r->method_name) != 0)
		r->method = 0;
	for (i = 0; i < w->n_routes; i++) {
		if (!path_matches(&w->routes[i], r->path))
			continue;
		path_seen = 1;
		r->route = i + 1;
		if (w->routes[i].methods & r->method) {
			match = &w->routes[i];
			break;
		}
	}
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
out:
	ztmd_req_unref(r);
}
