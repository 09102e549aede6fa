/* station_queue.h - the factory station's local record queue (docs/records.md,
 * "The station queue"): `ztm station record` appends, `ztm station sync`
 * signs and uploads.
 *
 *   DIR/records/<serial>.json      one record each, waiting for a batch
 *   DIR/batches/<id>.list          the records (hash, file) a batch holds
 *   DIR/batches/<id>.cms           the signed batch, kept until acknowledged
 *   DIR/batches/<id>.ack           acknowledged, being moved to sent/
 *   DIR/sent/<id>/                 batch.cms, batch.list and its records
 */
#ifndef ZTM_CLI_STATION_QUEUE_H
#define ZTM_CLI_STATION_QUEUE_H

#include <stddef.h>

#include "client.h"
#include "ztm/batch.h"
#include "ztm/err.h"

int station_record(int argc, char **argv);
int station_sync(int argc, char **argv);
int station_inject(int argc, char **argv);

/* The device fields `record` and `inject` share: getopt_long entries with
 * values STATION_OPT_BASE.., taken by station_fields_option. */
#define STATION_OPT_BASE 1100
#define STATION_RECORD_OPTIONS                                                                     \
	{"serial", required_argument, NULL, 1100}, {"product", required_argument, NULL, 1101},     \
	    {"order", required_argument, NULL, 1102}, {"hw-rev", required_argument, NULL, 1103},   \
	    {"mac", required_argument, NULL, 1104}, {"fw-version", required_argument, NULL, 1105}, \
	    {"fw-sha256", required_argument, NULL, 1106},                                          \
	{                                                                                          \
		"test", required_argument, NULL, 1107                                              \
	}

struct station_fields {
	const char *serial, *product, *order, *hw_rev, *mac, *fw_version, *fw_sha256, *test;
};

/* Takes a device field option; 1 if c was one, 0 if not. */
int station_fields_option(int c, struct station_fields *f);
/* The fields into r (each required; the test result parsed); the
 * validators run when the record is written. */
int station_fields_fill(const struct station_fields *f, struct ztm_record *r,
                        struct ztm_error *err);
/* Validates r (as the server will) and writes DIR/records/<serial>.json
 * atomically, mode 0600; a serial already queued is refused (ZTM_E_EXISTS)
 * unless replace. The file's path goes to path. */
int station_queue_put(const char *queue, struct ztm_record *r, int replace, char *path, size_t n,
                      struct ztm_error *err);
/* `ztm station sync` for the queue: finishes and re-sends what is pending,
 * then signs and uploads the queued records, at most max per batch and at
 * most max_bytes signed bytes (the server's max_batch_bytes), with the
 * station credential of conn (complete: ztm_client_opts_env). *sent (when
 * not NULL) gets the number of batches acknowledged. */
int station_queue_sync(const char *queue, const struct ztm_client_opts *conn, size_t max,
                       size_t max_bytes, unsigned *sent, struct ztm_error *err);

/* DIR/sub into out, created (0700) if missing. */
int station_queue_dir(const char *queue, const char *sub, char *out, size_t n,
                      struct ztm_error *err);

#endif
