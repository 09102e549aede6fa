/* http.h - what ztmd's HTTP/TLS layer offers request handlers.
 *
 * Each worker process runs one libevent loop with evhttp over
 * bufferevent_openssl. Handlers run on that loop; they never block on the
 * store. Store work is queued with ztmd_req_defer and runs in the worker's
 * group commit: all jobs queued during one loop turn run in one transaction
 * with one durable commit (ztm_store_run_batch), then each job's `done`
 * runs, which replies or defers again. Nothing is replied before the commit
 * that recorded it (DESIGN I1).
 */
#ifndef ZTMD_HTTP_H
#define ZTMD_HTTP_H

#include <openssl/x509.h>
#include <stddef.h>

#include "ztm/buf.h"
#include "ztm/err.h"
#include "ztm/store.h"

struct ztmd_req;

/* A worker's event priorities. libevent runs the ready callbacks of the
 * lowest number, and a higher number only when nothing lower is ready:
 * - ZTMD_PRI_IO: signals, the timers that bound a wait, the public
 *   listener's connections, and TLS connections once they carry a request;
 * - ZTMD_PRI_COMMIT: the group commit's flush (commit.c), after the I/O
 *   that queues its jobs; the CRL timer; libevent's default for new events;
 * - ZTMD_PRI_HANDSHAKE: TLS connections while their handshake runs.
 * So a worker finishes what it started (requests, their commits, their
 * replies) before it spends its CPU on new handshakes: under load a
 * registration waits behind fewer handshakes of later devices. */
enum { ZTMD_PRI_IO, ZTMD_PRI_COMMIT, ZTMD_PRI_HANDSHAKE, ZTMD_PRI_COUNT };

enum ztmd_method { ZTMD_GET = 1, ZTMD_POST = 2, ZTMD_PUT = 4, ZTMD_DELETE = 8 };

typedef void (*ztmd_handler)(struct ztmd_req *r, void *arg);

/* Route flags. */
#define ZTMD_ROUTE_PREFIX 1u /* path is a prefix (it must end in '/') */
/* The body may be up to [server] max_batch_bytes instead of max_body_bytes:
 * the station's signed record batches (records.c). */
#define ZTMD_ROUTE_BATCH_BODY 2u
/* The body may be up to [server] max_upload_bytes: a firmware image
 * uploaded for the server to hash (firmware.c). */
#define ZTMD_ROUTE_UPLOAD_BODY 4u
/* Served on the public plain-HTTP listener too ([public] listen): OCSP,
 * CRLs, /healthz. Every other route is absent there (404). */
#define ZTMD_ROUTE_PUBLIC 8u
/* A success (status < 400, no store work queued) is counted in the metrics
 * and not logged (http.c: quiet). */
#define ZTMD_ROUTE_QUIET 16u

struct ztmd_route {
	unsigned methods; /* mask of enum ztmd_method */
	const char *path; /* exact path, or a prefix with ZTMD_ROUTE_PREFIX */
	unsigned flags;   /* ZTMD_ROUTE_* */
	ztmd_handler fn;
	void *arg;
};

enum ztmd_method ztmd_req_method(const struct ztmd_req *r);
/* Decoded path without the query string. */
const char *ztmd_req_path(const struct ztmd_req *r);
/* Value of a query parameter, or NULL. */
const char *ztmd_req_query(struct ztmd_req *r, const char *name);
const char *ztmd_req_header(const struct ztmd_req *r, const char *name);
/* The request body, already capped before any handler sees it (413): at
 * max_body_bytes, or max_batch_bytes on a ZTMD_ROUTE_BATCH_BODY route, or
 * max_upload_bytes on a ZTMD_ROUTE_UPLOAD_BODY route. */
struct ztm_slice ztmd_req_body(struct ztmd_req *r);
/* The TLS client certificate, verified against the configured client CAs,
 * or NULL when the client sent none. Borrowed: valid for the request. */
X509 *ztmd_req_peer_cert(const struct ztmd_req *r);
/* 1 when the peer certificate is a self-signed bootstrap certificate that
 * chains to nothing: an identity to vet, never a verified credential. */
int ztmd_req_peer_bootstrap(const struct ztmd_req *r);
/* 1 when the peer certificate chains to a client CA but has expired: an
 * identity the access module admits for device re-enrollment only. */
int ztmd_req_peer_expired(const struct ztmd_req *r);
/* Address of the peer for logs: "127.0.0.1:5555". */
const char *ztmd_req_peer_addr(const struct ztmd_req *r);
/* The worker's store connection (for reads in a handler; writes go through
 * ztmd_req_defer). */
struct ztm_store *ztmd_req_store(const struct ztmd_req *r);

void ztmd_reply(struct ztmd_req *r, int status, const char *content_type, const void *body,
                size_t len);
/* An HTTP date (RFC 9110 §5.6.7, "Sun, 06 Nov 1994 08:49:37 GMT") of a
 * Unix time, into out; returns out. */
const char *ztmd_http_date(int64_t t, char out[32]);
/* Adds a response header; call before ztmd_reply. */
void ztmd_reply_header(struct ztmd_req *r, const char *name, const char *value);
/* JSON error body {"error": "<ztm error name>", "message": "..."} with the
 * status; logs the refusal with the peer. */
void ztmd_reply_error(struct ztmd_req *r, int status, const struct ztm_error *err);
/* The same with "error" set to name: a more precise code than the error's
 * class (EST registration refusals: vet.h). */
void ztmd_reply_error_named(struct ztmd_req *r, int status, const char *name,
                            const struct ztm_error *err);

typedef int (*ztmd_job_fn)(struct ztm_store *s, void *arg, struct ztm_error *err);
typedef void (*ztmd_done_fn)(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err);
/* Queues fn for the next group commit; done(r, arg, rc, err) runs after it.
 * If the client went away meanwhile, done still runs (the work is
 * committed); its reply is dropped. */
void ztmd_req_defer(struct ztmd_req *r, ztmd_job_fn fn, void *arg, ztmd_done_fn done);
/* The same for a job whose commit need not wait for the disk: done() must
 * send nothing that rests on this job's writes being durable -- it replies
 * only after a later ztmd_req_defer job, or with what an earlier durable
 * commit holds. A group commit made only of such jobs commits without an
 * fsync (ztm_store_run_batch_nosync); with any other job in it, it is
 * durable as always. The enrollment's reserve step (est_ops.c). */
void ztmd_req_defer_nosync(struct ztmd_req *r, ztmd_job_fn fn, void *arg, ztmd_done_fn done);
/* ztmd_req_defer for a job that may run twice in its group commit
 * (ztm_store_job.replayable): fn changes nothing but the store and its
 * err -- no counters, no buffers of arg -- so a second run does exactly
 * what the first did. Such jobs run first, their writes pipelined on
 * PostgreSQL (docs/store.md, "Pipelined group commit"): an issue step, a
 * refusal's audit entry. */
void ztmd_req_defer_replayable(struct ztmd_req *r, ztmd_job_fn fn, void *arg, ztmd_done_fn done);

/* ztmd_req_defer after a pause of ms milliseconds, the request held
 * meanwhile: a store that did not answer is asked again later
 * (est_reconcile.c). Queues at once if no timer can be made. */
void ztmd_req_defer_after(struct ztmd_req *r, unsigned ms, ztmd_job_fn fn, void *arg,
                          ztmd_done_fn done);

#endif
