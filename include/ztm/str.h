/* ztm/str.h - bounded string, number, hex and base64 helpers. These replace
 * the calls scripts/checksrc bans (strcpy, sprintf, atoi, ...). */
#ifndef ZTM_STR_H
#define ZTM_STR_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"

/* Copies at most dstsize-1 bytes and always NUL-terminates; returns -1 if
 * src did not fit (dst then holds a truncated copy). */
int ztm_strlcpy(char *dst, const char *src, size_t dstsize);
/* Whole-string decimal parse with range check: "12x", "", "-1" fail. */
int ztm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int ztm_parse_int(const char *s, int min, int max, int *out);
/* Lower-case hex of n bytes into out (size >= 2n+1). */
void ztm_hex(const uint8_t *p, size_t n, char *out);
/* The n bytes whose lower-case hex is the first 2n characters of s, into
 * out; -1 (out undefined) if any of them is not 0-9 or a-f. */
int ztm_unhex(const char *s, size_t n, uint8_t *out);
/* Constant-time comparison of equal-length byte strings (STYLE.md 6). */
int ztm_ct_equal(const void *a, const void *b, size_t n);

/* RFC 4648 base64. Encoding writes lines of `wrap` chars (0: one line).
 * Decoding skips CR, LF, SP and TAB (RFC 7030 §4 bodies are line-wrapped),
 * rejects any other character outside the alphabet, misplaced padding and
 * non-zero trailing bits. */
int ztm_b64_encode(const uint8_t *p, size_t n, size_t wrap, struct ztm_buf *out);
int ztm_b64_decode(const char *s, size_t n, struct ztm_buf *out);

#endif
