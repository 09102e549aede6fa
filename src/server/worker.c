/* worker.c - one ztmd worker process: an event loop with evhttp over
 * bufferevent_openssl on the listening socket inherited from the master.
 *
 * Caps are applied by evhttp before anything is parsed by us: header bytes
 * and body bytes (an over-cap body gets 413 and never reaches a handler;
 * evhttp applies the largest route cap, the dispatcher the route's own),
 * read/write timeouts, and a cap on open connections (accepting pauses at
 * the cap and resumes when a connection closes).
 */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h> /* ev_read, ev_write: ztmd_bev_priority */
#include <event2/http.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "server.h"
#include "ztm/log.h"

extern const struct ztmd_route ztmd_builtin_routes[2];

/* SSL ex_data slot holding each connection's struct ztmd_conn; its free
 * callback runs when libevent frees the connection's SSL, which is how we
 * learn that a connection is gone, whatever the reason. */
static int conn_idx = -1;

static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
	struct ztmd_conn *c = ptr;
	struct ztmd_worker *w;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (c == NULL)
		return;
	w = c->w;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->n_conns--;
	if (w->accept_paused && w->n_conns < w->set->max_connections && w->bound != NULL) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(w->bound));
		w->accept_paused = 0;
	}
	free(c);
}

/* bufferevent_openssl assigns its events afresh, at libevent's default
 * priority, when evhttp gives it the socket and again when the handshake
 * ends; so the priority is set when the handshake starts (here) and when a
 * request arrives (http.c), not when the bufferevent is made. Both happen
 * inside the connection's own callbacks, so only its two events are set,
 * and each only while it is not queued to run: event_priority_set refuses
 * that. bufferevent_priority_set would also move the bufferevent's
 * deferred callback, with no such check: changed while queued, it corrupts
 * libevent 2.1's active queues (the loop spun on epoll_wait and never ran
 * the connection again; e2e/firmware's uploads showed it). A refused
 * change leaves the connection at its old priority, which is only slower. */
void ztmd_bev_priority(struct bufferevent *bev, int priority)
{
	(void)event_priority_set(&bev->ev_read, priority);
	(void)event_priority_set(&bev->ev_write, priority);
}

void ztmd_conn_handshake_started(const SSL *ssl)
{
	struct ztmd_conn *c = conn_idx >= 0 ? SSL_get_ex_data(ssl, conn_idx) : NULL;

	if (c != NULL && c->bev != NULL)
		ztmd_bev_priority(c->bev, ZTMD_PRI_HANDSHAKE);
}

int ztmd_conn_priority(const SSL *ssl)
{
	struct ztmd_conn *c = conn_idx >= 0 ? SSL_get_ex_data(ssl, conn_idx) : NULL;

	return c != NULL && c->bev != NULL ? bufferevent_get_priority(c->bev) : -1;
}

/* evhttp asks for a bufferevent for each accepted connection: a TLS one. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct ztmd_worker *w = arg;
	struct ztmd_conn *c = calloc(1, sizeof(*c));
	SSL *ssl = SSL_new(w->ssl_ctx);
	struct bufferevent *bev = NULL;

	if (c == NULL || ssl == NULL || SSL_set_ex_data(ssl, conn_idx, c) != 1) {
		/* evhttp would fall back to a plain socket: the dispatcher
		 * refuses requests without TLS, and this is logged. */
		ztm_log(ZTM_LOG_ERROR, "tls_setup_failed", "reason=no_memory");
		SSL_free(ssl);
		free(c);
		return NULL;
	}
	c->w = w;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		ztm_log(ZTM_LOG_ERROR, "tls_setup_failed", "reason=bufferevent");
		return NULL;
	}
	c->bev = bev;
	if (w->n_conns >= w->set->max_connections && !w->accept_paused && w->bound != NULL) {
		evconnlistener_disable(evhttp_bound_socket_get_listener(w->bound));
		w->accept_paused = 1;
		ztm_log(ZTM_LOG_WARN, "accept_paused", "connections=%u", w->n_conns);
	}
	return bev;
}

static int output_pending(const struct ztmd_worker *w)
{
	const struct ztmd_conn *c;

	for (c = w->conns; c != NULL; c = c->next) {
		if (c->bev != NULL && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
			return 1;
	}
	return ztmd_phttp_output_pending(w->public_http);
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ztmd_worker *w = arg;
	struct timespec now;

	(void)fd;
	(void)what;
	if (w->live == NULL && ztmd_commit_pending(w->commit) == 0 && !output_pending(w)) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > w->drain_deadline.tv_sec ||
	    (now.tv_sec == w->drain_deadline.tv_sec && now.tv_nsec >= w->drain_deadline.tv_nsec)) {
		ztm_log(ZTM_LOG_WARN, "grace_expired", "pending_jobs=%zu connections=%u",
		        ztmd_commit_pending(w->commit), w->n_conns);
		event_base_loopexit(w->base, NULL);
	}
}

void ztmd_worker_stop(struct ztmd_worker *w)
{
	struct timeval tick = {0, 20000};

	if (w->draining)
		return;
	w->draining = 1;
	ztm_log(ZTM_LOG_INFO, "worker_draining", "slot=%u connections=%u grace_s=%u", w->slot,
	        w->n_conns, w->set->grace);
	if (w->bound != NULL) {
		evhttp_del_accept_socket(w->http, w->bound);
		w->bound = NULL;
	}
	if (w->listen_fd >= 0) {
		close(w->listen_fd);
		w->listen_fd = -1;
	}
	ztmd_phttp_stop_accepting(w->public_http);
	clock_gettime(CLOCK_MONOTONIC, &w->drain_deadline);
	w->drain_deadline.tv_sec += w->set->grace;
	w->drain_timer = event_new(w->base, -1, EV_PERSIST, drain_tick, w);
	if (w->drain_timer == NULL || event_priority_set(w->drain_timer, ZTMD_PRI_IO) != 0 ||
	    event_add(w->drain_timer, &tick) != 0)
		event_base_loopexit(w->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	ztmd_worker_stop(arg);
}

struct ztmd_commit *ztmd_worker_commit(struct ztmd_worker *w)
{
	return w->commit;
}

struct event_base *ztmd_worker_base(struct ztmd_worker *w)
{
	return w->base;
}

static int setup_routes(struct ztmd_worker *w, const struct ztmd_worker_opts *o,
                        struct ztm_error *err)
{
	size_t i;

	w->n_routes = 2 + o->n_app_routes;
	w->routes = calloc(w->n_routes, sizeof(*w->routes));
	if (w->routes == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "routes");
	for (i = 0; i < 2; i++) {
		w->routes[i] = ztmd_builtin_routes[i];
		w->routes[i].arg = w;
	}
	for (i = 0; i < o->n_app_routes; i++)
		w->routes[2 + i] = o->app_routes[i];
	return 0;
}

/* What evhttp lets through before reading: the largest body any route
 * takes. A route with a smaller cap refuses the rest in the dispatcher. */
static size_t body_cap(const struct ztmd_worker *w)
{
	size_t i, cap = w->set->max_body_bytes;

	for (i = 0; i < w->n_routes; i++)
		if ((w->routes[i].flags & ZTMD_ROUTE_BATCH_BODY) && w->set->max_batch_bytes > cap)
			cap = w->set->max_batch_bytes;
		else if ((w->routes[i].flags & ZTMD_ROUTE_UPLOAD_BODY) &&
		         w->set->max_upload_bytes > cap)
			cap = w->set->max_upload_bytes;
	return cap;
}

struct ztmd_worker *ztmd_worker_new(const struct ztmd_worker_opts *o, struct ztm_error *err)
{
	struct ztmd_worker *w = calloc(1, sizeof(*w));
	struct event_config *cfg = NULL;

	if (w == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "worker");
		return NULL;
	}
	w->listen_fd = o->listen_fd;
	w->ssl_ctx = o->ssl_ctx;
	w->set = o->settings;
	w->metrics = o->metrics;
	w->metrics_gate = o->metrics_gate;
	w->metrics_gate_arg = o->metrics_gate_arg;
	w->slot = o->slot;
	w->store = o->store;
	if (conn_idx < 0)
		conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
	if (conn_idx < 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "SSL ex_data index");
		goto fail;
	}
	if (setup_routes(w, o, err) != 0)
		goto fail;
	/* One loop, one thread: the lock-free base skips libevent's locks. */
	cfg = event_config_new();
	if (cfg == NULL || event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK) != 0)
		goto fail_ev;
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	cfg = NULL;
	/* I/O, the group commit, handshakes (http.h, ZTMD_PRI_IO). */
	if (w->base == NULL || event_base_priority_init(w->base, ZTMD_PRI_COUNT) != 0)
		goto fail_ev;
	w->commit = ztmd_commit_new(w->base, w->store, w->metrics, err);
	if (w->commit == NULL)
		goto fail;
	w->http = evhttp_new(w->base);
	if (w->http == NULL)
		goto fail_ev;
	evhttp_set_bevcb(w->http, make_bev, w);
	evhttp_set_gencb(w->http, ztmd_http_dispatch, w);
	evhttp_set_max_headers_size(w->http, (ev_ssize_t)w->set->max_header_bytes);
	evhttp_set_max_body_size(w->http, (ev_ssize_t)body_cap(w));
	evhttp_set_timeout(w->http, (int)w->set->timeout);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                        EVHTTP_REQ_DELETE);
	/* Read (and drop) the rest of an over-cap body so that the client
	 * sees the 413 instead of a connection reset; bounded by the timeout. */
	evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
	if (w->listen_fd >= 0) {
		w->bound = evhttp_accept_socket_with_handle(w->http, w->listen_fd);
		if (w->bound == NULL) {
			ztm_error_set(err, ZTM_E_IO, "cannot accept on the listening socket");
			goto fail;
		}
		w->listen_fd = -1; /* the listener closes it when freed */
	}
	if (o->public_listen_fd >= 0) {
		w->public_http = ztmd_phttp_new(w, o->public_listen_fd, err);
		if (w->public_http == NULL)
			goto fail;
	}
	w->sig_term = evsignal_new(w->base, SIGTERM, on_signal, w);
	w->sig_int = evsignal_new(w->base, SIGINT, on_signal, w);
	if (w->sig_term == NULL || w->sig_int == NULL ||
	    event_priority_set(w->sig_term, ZTMD_PRI_IO) ||
	    event_priority_set(w->sig_int, ZTMD_PRI_IO) || event_add(w->sig_term, NULL) ||
	    event_add(w->sig_int, NULL))
		goto fail_ev;
	return w;
fail_ev:
	ztm_error_set(err, ZTM_E_INTERNAL, "libevent setup failed");
fail:
	event_config_free(cfg);
	ztmd_worker_free(w);
	return NULL;
}

int ztmd_worker_run(struct ztmd_worker *w)
{
	return event_base_dispatch(w->base) < 0 ? -1 : 0;
}

void ztmd_worker_free(struct ztmd_worker *w)
{
	if (w == NULL)
		return;
	/* Closes every connection: close callbacks mark their requests. */
	if (w->http != NULL)
		evhttp_free(w->http);
	ztmd_phttp_free(w->public_http);
	ztmd_http_free_all(w);
	ztmd_commit_free(w->commit);
	if (w->sig_term != NULL)
		event_free(w->sig_term);
	if (w->sig_int != NULL)
		event_free(w->sig_int);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	/* Runs the finalizers of freed bufferevents (SSL_free -> conn_free_cb,
	 * which still needs w). */
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	free(w->routes);
	free(w);
}
