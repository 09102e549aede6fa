/* ztm/buf.h - bytes with their length, growable buffers with a cap, and a
 * reading cursor that fails on short input (STYLE.md 2, 3). */
#ifndef ZTM_BUF_H
#define ZTM_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Borrowed bytes: never owns p. */
struct ztm_slice {
	const uint8_t *p;
	size_t len;
};

/* Owned, growable bytes. `max` is the cap: appending past it fails with
 * ZTM_E_TOOBIG and leaves the buffer unchanged. max == 0 means the default
 * cap ZTM_BUF_DEFAULT_MAX. */
struct ztm_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
};

#define ZTM_BUF_DEFAULT_MAX ((size_t)16 * 1024 * 1024)

void ztm_buf_init(struct ztm_buf *b, size_t max);
/* 0, or -1 (ZTM_E_TOOBIG / ZTM_E_NOMEM) with the buffer unchanged. */
int ztm_buf_append(struct ztm_buf *b, const void *p, size_t n);
int ztm_buf_append_str(struct ztm_buf *b, const char *s);
int ztm_buf_printf(struct ztm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make room for n more bytes without changing len; returns a pointer to it. */
uint8_t *ztm_buf_reserve(struct ztm_buf *b, size_t n);
/* NUL-terminates (not counted in len) and returns data as a C string. */
const char *ztm_buf_cstr(struct ztm_buf *b);
void ztm_buf_reset(struct ztm_buf *b);
/* Wipes the bytes before freeing: safe for secrets. */
void ztm_buf_free(struct ztm_buf *b);
struct ztm_slice ztm_buf_slice(const struct ztm_buf *b);

/* Reading cursor over borrowed bytes. Each read fails (returns -1) on short
 * input and then leaves the cursor where it was. */
struct ztm_cursor {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void ztm_cursor_init(struct ztm_cursor *c, const void *p, size_t len);
size_t ztm_cursor_left(const struct ztm_cursor *c);
int ztm_cursor_u8(struct ztm_cursor *c, uint8_t *out);
int ztm_cursor_be16(struct ztm_cursor *c, uint16_t *out);
int ztm_cursor_be32(struct ztm_cursor *c, uint32_t *out);
int ztm_cursor_be64(struct ztm_cursor *c, uint64_t *out);
int ztm_cursor_bytes(struct ztm_cursor *c, size_t n, struct ztm_slice *out);

#endif
