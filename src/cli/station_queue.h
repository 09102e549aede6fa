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

#include "ztm/err.h"

int station_record(int argc, char **argv);
int station_sync(int argc, char **argv);

/* DIR/sub into out, created (0700) if missing. */
int station_queue_dir(const char *queue, const char *sub, char *out, size_t n,
                      struct ztm_error *err);

#endif
