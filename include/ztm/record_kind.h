/* ztm/record_kind.h - the two enumerations of a manufacturing record,
 * shared by the batch format (ztm/batch.h) and the store (ztm/store.h) so
 * both headers can be used in one file. Stored and sent by name
 * ("pass"/"fail", "device"/"injected"), never by value. */
#ifndef ZTM_RECORD_KIND_H
#define ZTM_RECORD_KIND_H

enum ztm_test_result { ZTM_TEST_FAIL = 0, ZTM_TEST_PASS = 1 };
enum ztm_key_origin { ZTM_KEY_ORIGIN_DEVICE = 0, ZTM_KEY_ORIGIN_INJECTED = 1 };

#endif
