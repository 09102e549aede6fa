/* record_policy.h - a product's policy applied to one station record at
 * ingest (issue 3 points 3 and 6), as a pure function tested as a table
 * (tests/unit/test_record_policy.c).
 *
 * Ingest checks what the record itself says: an injected key where the
 * product forbids them, no firmware hash where the product requires one.
 * Whether the hash is an APPROVED release is left to registration (vet.c),
 * because a firmware may be approved after the devices running it were
 * built. */
#ifndef ZTMD_RECORD_POLICY_H
#define ZTMD_RECORD_POLICY_H

#include <stddef.h>

#include "ztm/batch.h"
#include "ztm/err.h"
#include "ztm/store.h"

/* 0 if the product takes the record; else -1 with ZTM_E_POLICY naming the
 * record (index idx in its batch, serial) and the product. */
int record_policy_check(const struct ztm_record *rec, size_t idx, const struct ztm_product_row *p,
                        struct ztm_error *err);

#endif
