/* shamir.h - M-of-N secret sharing of a key (libgfshare, GF(2^8)) and the
 * share file format (docs/ceremony.md, "Share files").
 *
 * What is split is SHA-256(secret) || secret, so that combining detects
 * shares that are altered, from another split, or too few: Shamir itself
 * returns garbage rather than an error in all three cases.
 */
#ifndef ZTM_CLI_SHAMIR_H
#define ZTM_CLI_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"

#define ZTM_SHARE_MAX_COUNT  255
#define ZTM_SHARE_SECRET_MAX (16 * 1024)

struct ztm_share {
	uint8_t index;     /* 1..count: the x coordinate */
	uint8_t threshold; /* M */
	uint8_t count;     /* N */
	char key_id[65];   /* lower-case hex SHA-256 naming what was split */
	struct ztm_buf bytes;
};

void ztm_share_init(struct ztm_share *s);
/* Wipes the share bytes. */
void ztm_share_free(struct ztm_share *s);

/* Splits secret into n shares (out[0..n-1], initialised by the caller),
 * any m of which recombine it. 2 <= m <= n <= 255. */
int ztm_shamir_split(const uint8_t *secret, size_t len, unsigned m, unsigned n, const char *key_id,
                     struct ztm_share *out, struct ztm_error *err);
/* Recombines k shares into secret (appended). Fails naming the reason when
 * the shares disagree, repeat an index, are fewer than the threshold, or do
 * not reproduce the secret's digest. */
int ztm_shamir_combine(const struct ztm_share *shares, size_t k, struct ztm_buf *secret,
                       struct ztm_error *err);

/* Share file text. Parse checks the version, every field and the checksum;
 * `name` (the file name) is used in messages. */
int ztm_share_format(const struct ztm_share *s, struct ztm_buf *out, struct ztm_error *err);
int ztm_share_parse(const char *text, size_t n, const char *name, struct ztm_share *out,
                    struct ztm_error *err);

#endif
