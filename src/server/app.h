/* app.h - ztmd's application: the routes beyond /healthz and /metrics (EST,
 * admin API), built once per worker process after its store is open. */
#ifndef ZTMD_APP_H
#define ZTMD_APP_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "ztm/config.h"

struct ztmd_app;

/* Reads its own config keys (sections [ca.*], [est], ...), loads CA keys. */
struct ztmd_app *ztmd_app_new(struct ztm_config *cfg, struct ztm_error *err);
/* The [server] timeout (seconds) requests live by: a retry abandons a
 * reservation older than ztmd_reservation_lifetime of it (est_retry_of).
 * Until set, that of the longest timeout allowed (an hour). */
void ztmd_app_set_timeout(struct ztmd_app *app, unsigned timeout);
/* Routes of the app; the array lives as long as the app. */
const struct ztmd_route *ztmd_app_routes(struct ztmd_app *app, size_t *n);
/* Called once in each worker after fork, with the worker's own store. */
int ztmd_app_worker_init(struct ztmd_app *app, struct ztm_store *store, struct ztm_error *err);
/* Called once in each worker when its event loop exists: background tasks
 * (CRL regeneration, OCSP responders and the pre-signed response cache with
 * its timers). */
struct event_base;
int ztmd_app_worker_start(struct ztmd_app *app, struct event_base *base, struct ztm_error *err);
/* Before the worker's loop is freed. */
void ztmd_app_worker_stop(struct ztmd_app *app);
/* Called in the master before workers start: crash recovery etc. */
int ztmd_app_recover(struct ztmd_app *app, struct ztm_store *store, int64_t before,
                     struct ztm_error *err);
void ztmd_app_free(struct ztmd_app *app);
/* The access decision for the server's own /metrics (arg: the app); 0 =
 * allowed, else it has replied 401/403. */
int ztmd_app_gate_metrics(struct ztmd_req *r, void *app);

#endif
