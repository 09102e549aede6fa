/* ztm/record_kind.h - the enumerations of a manufacturing record,
 * shared by the batch format (ztm/batch.h) and the store (ztm/store.h) so
 * both headers can be used in one file. Stored and sent by name
 * ("pass"/"fail", "device"/"injected", "new"/"replacement"), never by value. */
#ifndef ZTM_RECORD_KIND_H
#define ZTM_RECORD_KIND_H

enum ztm_test_result { ZTM_TEST_FAIL = 0, ZTM_TEST_PASS = 1 };
enum ztm_key_origin { ZTM_KEY_ORIGIN_DEVICE = 0, ZTM_KEY_ORIGIN_INJECTED = 1 };
/* "new": a device built on the line; "replacement": a registered device
 * recorded again with its new key after repair or a secure-element swap
 * (docs/records.md, docs/lifecycle.md). */
enum ztm_record_kind { ZTM_RECORD_NEW = 0, ZTM_RECORD_REPLACEMENT = 1 };

#endif
