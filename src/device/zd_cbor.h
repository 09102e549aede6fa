/* zd_cbor.h - a strict reader (and the few writers) for exactly the CBOR
 * subset of the firmware manifest (docs/firmware-manifest.md): RFC 8949
 * §4.2.1 deterministic encoding only. A microcontroller build cannot bring
 * libcbor, and a general decoder would accept what the format forbids, so
 * this is a small cursor reader (STYLE.md 2): every read checks the bytes
 * left, refuses indefinite lengths, non-shortest heads, floats and simple
 * values; map keys are checked in ascending bytewise order by the caller
 * through zd_cbor_key. Plain C, no crypto. */
#ifndef ZTMDEV_ZD_CBOR_H
#define ZTMDEV_ZD_CBOR_H

#include <stddef.h>
#include <stdint.h>

#include "zd_int.h"

enum zd_cbor_major {
	ZD_CBOR_UINT = 0,
	ZD_CBOR_NINT = 1,
	ZD_CBOR_BSTR = 2,
	ZD_CBOR_TSTR = 3,
	ZD_CBOR_ARRAY = 4,
	ZD_CBOR_MAP = 5,
	ZD_CBOR_TAG = 6,
};

/* A cursor over p[0..n). err names the first problem ("" while none). */
struct zd_cbor {
	const uint8_t *p;
	size_t n, off;
	const char *err;
	/* The previous map key's encoding, for the ascending-order rule. */
	const uint8_t *key;
	size_t key_len;
};

void zd_cbor_init(struct zd_cbor *r, const uint8_t *p, size_t n);
/* One data item head: major type and argument, shortest form only. A
 * string's bytes are not consumed. */
int zd_cbor_head(struct zd_cbor *r, enum zd_cbor_major *major, uint64_t *arg);
/* A head of exactly this major type. */
int zd_cbor_expect(struct zd_cbor *r, enum zd_cbor_major major, uint64_t *arg);
/* An unsigned or negative integer in [INT64_MIN, INT64_MAX]. */
int zd_cbor_int(struct zd_cbor *r, int64_t *out);
/* A byte or text string (by major) of len bytes; *p points into the input. */
int zd_cbor_str(struct zd_cbor *r, enum zd_cbor_major major, const uint8_t **p, size_t *len);
/* Starts a map of exactly *count pairs (out) and resets the key order. */
int zd_cbor_map(struct zd_cbor *r, uint64_t *count);
/* A map key that must be an integer and sort after the previous key of
 * the same map (RFC 8949 §4.2.1: bytewise lexicographic order of the
 * encoded keys; no duplicates). */
int zd_cbor_key(struct zd_cbor *r, int64_t *key);
/* All of the input consumed. */
int zd_cbor_end(struct zd_cbor *r);

/* Writers for the Sig_structure (and the tests): a head in shortest form. */
int zd_cbor_put_head(struct zd_buf *b, enum zd_cbor_major major, uint64_t arg);
int zd_cbor_put_str(struct zd_buf *b, enum zd_cbor_major major, const uint8_t *p, size_t n);

#endif
