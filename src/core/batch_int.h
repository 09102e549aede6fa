/* batch_int.h - what batch.c needs from batch_record.c: records as jansson
 * objects, so a batch is built and parsed as one JSON document. */
#ifndef ZTM_BATCH_INT_H
#define ZTM_BATCH_INT_H

#include <jansson.h>

#include "ztm/batch.h"

/* A new JSON object for a validated record, or NULL with err. */
json_t *ztm_record_obj(struct ztm_record *r, struct ztm_error *err);
/* Fills *out from a JSON object and validates it (full: ztm_record_validate,
 * else ztm_record_validate_shape); err names the field. */
int ztm_record_from_obj(const json_t *j, struct ztm_record *out, int full, struct ztm_error *err);

/* The batch document (batch_json.c), every record through
 * ztm_record_validate_shape; serials not yet checked for repeats. On
 * failure b may hold records: the caller frees it (ztm_batch_free). */
int ztm_batch_doc_parse(const char *text, size_t len, struct ztm_batch *b, struct ztm_error *err);

/* A string member that must exist, be a string without NUL and at most max
 * bytes long; copied into out (size > max). */
int ztm_json_str(const json_t *obj, const char *key, size_t max, char *out, struct ztm_error *err);
/* Unix seconds in 1 .. 253402300799 (9999-12-31). */
int ztm_json_time(const json_t *obj, const char *key, int64_t *out, struct ztm_error *err);
/* Refuses members other than the n names in keys[] and missing ones. */
int ztm_json_members(const json_t *obj, const char *const *keys, size_t n, struct ztm_error *err);

#endif
