/* server.h - ztmd's internals: settings, shared metrics, TLS context, the
 * worker (one event loop per process) and the master that supervises the
 * workers. Handlers see only http.h. */
#ifndef ZTMD_SERVER_H
#define ZTMD_SERVER_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "http.h"
#include "ztm/buf.h"
#include "ztm/config.h"
#include "ztm/err.h"

/* --- settings: [server], [tls], [store] (docs/configuration.md) ------- */
/* How long a request whose commit outcome was lost (the database went
 * away mid-commit) is held while ztmd looks its serial up again
 * (est_reconcile.c); start-up recovery on a shared store leaves younger
 * reservations alone (master.c). Long enough for a manual promotion. */
#define ZTMD_RECONCILE_SECONDS 600

/* The longest a live request can hold a certificate reservation, in seconds,
 * for a [server] timeout of `timeout` seconds: the longer of two timeouts
 * (reading the request, writing the answer) and the reconciliation hold,
 * plus a minute. A reservation older than that belongs to a request that
 * died between its two commits: start-up recovery on a shared store
 * (master.c) and a retry finding it (est_retry_of) abandon it. One rule for
 * both (docs/store.md, "Recovery"). */
int64_t ztmd_reservation_lifetime(unsigned timeout);

struct ztmd_settings {
	char listen_host[256];
	unsigned short listen_port;
	const char *port_file; /* NULL: none */
	unsigned workers;
	size_t max_header_bytes, max_body_bytes;
	size_t max_batch_bytes;   /* body cap of ZTMD_ROUTE_BATCH_BODY routes */
	size_t max_upload_bytes;  /* body cap of ZTMD_ROUTE_UPLOAD_BODY routes */
	unsigned timeout;         /* seconds, read and write */
	unsigned max_connections; /* per worker */
	unsigned grace;           /* seconds to finish in-flight requests on stop */
	const char *store_url;
	const char *tls_cert, *tls_key, *tls_key_pass_file, *tls_client_ca;
	int tls_min_12; /* [tls] min_version = 1.2 */
	/* [public] listen: the plain-HTTP listener for OCSP and CRLs (phttp.c);
	 * public_set = 0: none. */
	int public_set;
	char public_host[256];
	unsigned short public_port;
	const char *public_port_file; /* NULL: none */
};

/* Reads and validates the server's own keys. Strings point into cfg. */
int ztmd_settings_read(struct ztm_config *cfg, struct ztmd_settings *s, struct ztm_error *err);

/* --- metrics shared by all worker processes ---------------------------- */
#define ZTMD_METRICS_ROUTES  64 /* route 0: no route matched */
#define ZTMD_METRICS_WORKERS 256
struct ztmd_metrics;

/* Maps the counters MAP_SHARED before fork; route names label requests. */
struct ztmd_metrics *ztmd_metrics_new(const char *const *route_names, size_t n,
                                      struct ztm_error *err);
void ztmd_metrics_free(struct ztmd_metrics *m);
void ztmd_metrics_request(struct ztmd_metrics *m, size_t route, int status);
void ztmd_metrics_tls_failure(struct ztmd_metrics *m);
/* One group commit of jobs; durable = 0: committed without an fsync. */
void ztmd_metrics_batch(struct ztmd_metrics *m, size_t jobs, int ok, int durable);
void ztmd_metrics_worker_restart(struct ztmd_metrics *m);
/* One checkpoint by the checkpointer (ok = 0: failed; the log's figures
 * after it otherwise). */
void ztmd_metrics_checkpoint(struct ztmd_metrics *m, int ok, int64_t wal_frames,
                             int64_t checkpointed);
void ztmd_metrics_inflight(struct ztmd_metrics *m, unsigned slot, int delta);
void ztmd_metrics_inflight_reset(struct ztmd_metrics *m, unsigned slot);
/* Prometheus text format 0.0.4. */
int ztmd_metrics_render(const struct ztmd_metrics *m, struct ztm_buf *out);
/* For tests: current value of a request counter. */
uint64_t ztmd_metrics_requests(const struct ztmd_metrics *m, size_t route, int status);

/* --- TLS ---------------------------------------------------------------- */
/* The server's private key by key URI or bare path (ztm/key.h), passphrase
 * from pass_file (NULL: none) unless the URI names one. */
EVP_PKEY *ztmd_tls_load_key(const char *uri, const char *pass_file, struct ztm_error *err);
/* 1 if the client presented a self-signed bootstrap certificate (let
 * through the handshake unverified, see tls.c). */
int ztmd_tls_peer_is_bootstrap(const SSL *ssl);
/* 1 if the client's certificate chains to a client CA and its only fault
 * is that it has expired (let through, see tls.c; authz.c admits it for a
 * device's re-enrollment only). */
int ztmd_tls_peer_is_expired(const SSL *ssl);
/* The EC key of a client's certificate decoded by OpenSSL's legacy EC
 * method, sparing OpenSSL 3.0's per-key decoder set-up (ec_decode.c).
 * init: 1 if available (not with ZTM_EC_LEGACY_DECODE=off, nor OpenSSL >=
 * 3.2); arm / disarm bracket libssl's decoding of a Certificate message
 * (tls.c); both are no-ops when not available or already in that state. */
int ztmd_ec_decode_init(void);
void ztmd_ec_decode_arm(void);
void ztmd_ec_decode_disarm(void);
/* For tests: whether the window is open now, and how often it opened. */
void ztmd_ec_decode_state(int *is_armed, unsigned long *windows);
/* Server context per [tls]; handshake failures are counted in m (may be NULL). */
SSL_CTX *ztmd_tls_ctx_new(const struct ztmd_settings *s, struct ztmd_metrics *m,
                          struct ztm_error *err);

/* --- worker --------------------------------------------------------------- */
struct ztmd_worker;

struct ztmd_worker_opts {
	const struct ztmd_settings *settings;
	SSL_CTX *ssl_ctx;
	struct ztmd_metrics *metrics;
	unsigned slot; /* this worker's index in the metrics */
	struct ztm_store *store;
	const struct ztmd_route *app_routes;
	size_t n_app_routes;
	/* Access to /metrics is the app's decision (authz.c decides everything):
	 * 0 = allowed; otherwise the gate has replied. NULL = open. */
	int (*metrics_gate)(struct ztmd_req *r, void *arg);
	void *metrics_gate_arg;
	int listen_fd;        /* inherited listening socket */
	int public_listen_fd; /* the plain-HTTP one ([public] listen), or -1 */
};

struct ztmd_worker *ztmd_worker_new(const struct ztmd_worker_opts *o, struct ztm_error *err);
/* Runs the loop until stopped and drained; SIGTERM/SIGINT stop it. */
int ztmd_worker_run(struct ztmd_worker *w);
/* Stop accepting, finish in-flight requests within the grace period. */
void ztmd_worker_stop(struct ztmd_worker *w);
struct event_base *ztmd_worker_base(struct ztmd_worker *w);
void ztmd_worker_free(struct ztmd_worker *w);

/* Builtin route names in metrics order after route 0 ("none"). */
#define ZTMD_ROUTE_NONE    0
#define ZTMD_ROUTE_HEALTHZ 1
#define ZTMD_ROUTE_METRICS 2
#define ZTMD_ROUTE_APP0    3

/* --- inside the worker: request plumbing (http.c, commit.c) ------------ */
struct evhttp_request;
struct evhttp_connection;

/* Entry point for every request evhttp has read completely. */
void ztmd_http_dispatch(struct evhttp_request *ev, void *worker);
/* evhttp closed a connection: requests on it can no longer be answered. */
void ztmd_http_conn_closed(struct evhttp_connection *evcon, void *worker);
/* For tests: the libevent request behind r, NULL once its connection is gone. */
struct evhttp_request *ztmd_req_evhttp(struct ztmd_req *r);

/* Group commit state of one worker. */
struct ztmd_commit;
struct ztmd_commit *ztmd_commit_new(struct event_base *base, struct ztm_store *store,
                                    struct ztmd_metrics *m, struct ztm_error *err);
void ztmd_commit_free(struct ztmd_commit *c);
size_t ztmd_commit_pending(const struct ztmd_commit *c);

/* Accessors the pieces share (worker.c). */
struct ztmd_commit *ztmd_worker_commit(struct ztmd_worker *w);
struct ztmd_worker *ztmd_req_worker(const struct ztmd_req *r);
/* Reference counting of a request: the dispatcher and each queued job hold
 * one; the last release frees it (replying 500 if nobody replied). */
void ztmd_req_ref(struct ztmd_req *r);
void ztmd_req_unref(struct ztmd_req *r);

/* --- worker internals (worker.c, http.c, commit.c) -------------------- */
/* tls.c's info callback, when a server handshake starts: the connection
 * (if it is a worker's) goes to ZTMD_PRI_HANDSHAKE. */
void ztmd_conn_handshake_started(const SSL *ssl);
/* Sets the priority of bev's read and write events where libevent allows it
 * (worker.c says why not bufferevent_priority_set). */
void ztmd_bev_priority(struct bufferevent *bev, int priority);
/* The event priority of ssl's connection, -1 if it is not a worker's (tests). */
int ztmd_conn_priority(const SSL *ssl);

struct ztmd_conn {
	struct ztmd_worker *w;
	struct bufferevent *bev;
	struct ztmd_conn *prev, *next;
};

struct ztmd_worker {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	int listen_fd;
	SSL_CTX *ssl_ctx;
	const struct ztmd_settings *set;
	struct ztmd_metrics *metrics;
	unsigned slot;
	struct ztm_store *store;
	int (*metrics_gate)(struct ztmd_req *r, void *arg);
	void *metrics_gate_arg;
	struct ztmd_route *routes; /* builtins, then the app's */
	size_t n_routes;
	struct ztmd_req *live; /* requests received and not yet released */
	struct ztmd_conn *conns;
	unsigned n_conns;
	int accept_paused;
	struct ztmd_commit *commit;
	struct ztmd_phttp *public_http; /* NULL without [public] listen */
	struct event *sig_term, *sig_int, *drain_timer;
	int draining;
	struct timespec drain_deadline;
};

/* Frees every request still alive (worker teardown, nothing replied). */
void ztmd_http_free_all(struct ztmd_worker *w);

/* --- the public plain-HTTP listener (phttp.c, phttp_parse.c) ------------ */
#define ZTMD_PHTTP_MAX_HEADERS 32
/* ztmd_phttp_parse results besides 1 (a complete head). */
#define ZTMD_PHTTP_MORE        0  /* no blank line yet: read more */
#define ZTMD_PHTTP_BAD         -1 /* 400 */
#define ZTMD_PHTTP_UNSUPPORTED -2 /* Transfer-Encoding: 501 */
#define ZTMD_PHTTP_TOOBIG      -3 /* too many header fields: 431 */
#define ZTMD_PHTTP_EXPECT      -4 /* an Expect other than 100-continue: 417 */

struct ztmd_phttp_head {
	size_t head_len;               /* bytes up to and including the empty line */
	const char *method, *target;   /* NUL-terminated in the buffer */
	size_t method_len, target_len; /* target: the path, without the query */
	const char *query;             /* after '?', NUL-terminated; NULL: none */
	int minor;                     /* HTTP/1.<minor> */
	int has_length;
	uint64_t content_length;
	int close; /* Connection: close, or HTTP/1.0 without keep-alive */
	int expect_continue;
	size_t n_headers;
	struct {
		const char *name, *value; /* NUL-terminated in the buffer */
	} headers[ZTMD_PHTTP_MAX_HEADERS];
};

/* Parses the request head at the start of p[0..n) in place (NULs written
 * over separators). 1, or one of ZTMD_PHTTP_*. */
int ztmd_phttp_parse(char *p, size_t n, struct ztmd_phttp_head *h);
/* Length of the head at the start of p[0..n) (through the empty line), or
 * 0 when it is not all there. */
size_t ztmd_phttp_head_end(const char *p, size_t n);
/* A header field's value (the first of that name, case-insensitive), or NULL. */
const char *ztmd_phttp_header(const struct ztmd_phttp_head *h, const char *name);

struct ztmd_phttp;
struct ztmd_phttp_conn;
/* Starts accepting on fd (owned from now on) in w's loop. */
struct ztmd_phttp *ztmd_phttp_new(struct ztmd_worker *w, int fd, struct ztm_error *err);
/* Stops accepting; connections finish what they are answering. */
void ztmd_phttp_stop_accepting(struct ztmd_phttp *p);
/* 1 while a connection still has output to write. */
int ztmd_phttp_output_pending(const struct ztmd_phttp *p);
void ztmd_phttp_free(struct ztmd_phttp *p);

/* What http.c and phttp.c tell each other about a request on a plain
 * connection. */
/* Routes and runs a request read on a plain connection; *inflight is r
 * until ztmd_phttp_reply. -1: no memory (nothing was started). */
int ztmd_http_dispatch_plain(struct ztmd_worker *w, struct ztmd_phttp_conn *pc,
                             const struct ztmd_phttp_head *h, struct ztm_slice body,
                             const char *peer, struct ztmd_req **inflight);
/* The connection of r went away: its reply will be dropped. */
void ztmd_http_plain_gone(struct ztmd_req *r);
/* Writes r's answer on its connection (status line, headers, body). */
void ztmd_phttp_reply(struct ztmd_phttp_conn *pc, int status, const char *headers,
                      size_t headers_len, const void *body, size_t len);

/* --- master --------------------------------------------------------------- */
/* ztmd's whole life: config, socket, app, workers, signals. Returns the exit
 * status. With check_only: validate config and TLS material, then return. */
int ztmd_main(const char *config_path, const char *port_file, int check_only);

/* The checkpointer process's loop (checkpointer.c): checkpoints the store
 * behind store_url until SIGTERM/SIGINT or until master is no longer its
 * parent. Returns the process's exit status. */
int ztmd_checkpointer_run(const char *store_url, struct ztmd_metrics *m, pid_t master);

#endif
