/* shamir.c - M-of-N splitting of a secret with libgfshare, and the share
 * file format (see shamir.h and docs/ceremony.md). */
#include "shamir.h"

#include <libgfshare.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ztm/str.h"

#define SHARE_MAGIC "ztm-share-v1"
#define DIGEST_LEN  32

/* libgfshare draws its polynomial coefficients (and the bytes it scribbles
 * over freed contexts) from this hook. A CSPRNG failure mid-split must never
 * yield shares with predictable coefficients, and the hook cannot return an
 * error, so it aborts: fail closed. */
static void shamir_rand(unsigned char *p, unsigned int n)
{
	if (RAND_bytes(p, (int)n) != 1) {
		fprintf(stderr, "ztm: CSPRNG failure while splitting a secret\n");
		abort();
	}
}

void ztm_share_init(struct ztm_share *s)
{
	memset(s, 0, sizeof(*s));
	ztm_buf_init(&s->bytes, 2 * ZTM_SHARE_SECRET_MAX);
}

void ztm_share_free(struct ztm_share *s)
{
	if (s == NULL)
		return;
	ztm_buf_free(&s->bytes);
}

static int sha256(const uint8_t *p, size_t n, uint8_t out[DIGEST_LEN])
{
	return EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

int ztm_shamir_split(const uint8_t *secret, size_t len, unsigned m, unsigned n, const char *key_id,
                     struct ztm_share *out, struct ztm_error *err)
{
	unsigned char nrs[ZTM_SHARE_MAX_COUNT];
	gfshare_ctx *ctx = NULL;
	uint8_t *blob = NULL;
	size_t blen = DIGEST_LEN + len;
	unsigned i;
	int rc = -1;

	if (m < 2 || m > n || n > ZTM_SHARE_MAX_COUNT)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "shares %u, threshold %u: need 2 <= threshold <= shares <= %d",
		                     n, m, ZTM_SHARE_MAX_COUNT);
	if (len == 0 || len > ZTM_SHARE_SECRET_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "secret of %zu bytes: must be 1..%d", len,
		                     ZTM_SHARE_SECRET_MAX);
	if (key_id == NULL || strlen(key_id) != 64)
		return ztm_error_set(err, ZTM_E_USAGE, "key id: must be 64 hex digits");
	blob = OPENSSL_secure_malloc(blen);
	if (blob == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "splitting a secret");
	if (sha256(secret, len, blob) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the secret");
		goto out;
	}
	memcpy(blob + DIGEST_LEN, secret, len);
	for (i = 0; i < n; i++)
		nrs[i] = (unsigned char)(i + 1);
	gfshare_fill_rand = shamir_rand;
	ctx = gfshare_ctx_init_enc(nrs, n, (unsigned char)m, (unsigned)blen);
	if (ctx == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "libgfshare: cannot set up the split");
		goto out;
	}
	gfshare_ctx_enc_setsecret(ctx, blob);
	for (i = 0; i < n; i++) {
		uint8_t *dst;

		ztm_buf_reset(&out[i].bytes);
		dst = ztm_buf_reserve(&out[i].bytes, blen);
		if (dst == NULL) {
			ztm_error_set(err, ZTM_E_NOMEM, "share %u", i + 1);
			goto out;
		}
		gfshare_ctx_enc_getshare(ctx, (unsigned char)i, dst);
		out[i].bytes.len = blen;
		out[i].index = nrs[i];
		out[i].threshold = (uint8_t)m;
		out[i].count = (uint8_t)n;
		ztm_strlcpy(out[i].key_id, key_id, sizeof(out[i].key_id));
	}
	rc = 0;
out:
	if (ctx != NULL)
		gfshare_ctx_free(ctx); /* overwrites its buffers with random bytes */
	OPENSSL_secure_clear_free(blob, blen);
	return rc;
}

int ztm_shamir_combine(const struct ztm_share *shares, size_t k, struct ztm_buf *secret,
                       struct ztm_error *err)
{
	unsigned char nrs[ZTM_SHARE_MAX_COUNT];
	uint8_t digest[DIGEST_LEN];
	gfshare_ctx *ctx = NULL;
	uint8_t *blob = NULL;
	size_t i, j, blen;
	int rc = -1;

	if (k == 0)
		return ztm_error_set(err, ZTM_E_USAGE, "no shares given");
	blen = shares[0].bytes.len;
	if (blen <= DIGEST_LEN || blen > DIGEST_LEN + ZTM_SHARE_SECRET_MAX)
		return ztm_error_set(err, ZTM_E_PARSE, "share %u: bad length %zu", shares[0].index,
		                     blen);
	for (i = 0; i < k; i++) {
		const struct ztm_share *s = &shares[i];

		if (strcmp(s->key_id, shares[0].key_id) != 0 ||
		    s->threshold != shares[0].threshold || s->count != shares[0].count ||
		    s->bytes.len != blen)
			return ztm_error_set(err, ZTM_E_CONFLICT,
			                     "share %u does not belong to the same split as share "
			                     "%u (key id, threshold, count or length differ)",
			                     s->index, shares[0].index);
		if (s->index == 0 || s->index > s->count)
			return ztm_error_set(err, ZTM_E_PARSE, "share index %u: not in 1..%u",
			                     s->index, s->count);
		for (j = 0; j < i; j++)
			if (shares[j].index == s->index)
				return ztm_error_set(err, ZTM_E_CONFLICT, "share %u given twice",
				                     s->index);
		nrs[i] = s->index;
	}
	if (k < shares[0].threshold)
		return ztm_error_set(err, ZTM_E_DENIED,
		                     "%zu share(s) given, the threshold is %u of %u", k,
		                     shares[0].threshold, shares[0].count);
	blob = OPENSSL_secure_malloc(blen);
	if (blob == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "combining shares");
	gfshare_fill_rand = shamir_rand;
	ctx = gfshare_ctx_init_dec(nrs, (unsigned)k, (unsigned)blen);
	if (ctx == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "libgfshare: cannot set up the combination");
		goto out;
	}
	for (i = 0; i < k; i++)
		gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, shares[i].bytes.data);
	gfshare_ctx_dec_extract(ctx, blob);
	if (sha256(blob + DIGEST_LEN, blen - DIGEST_LEN, digest) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the combined secret");
		goto out;
	}
	if (!ztm_ct_equal(digest, blob, DIGEST_LEN)) {
		ztm_error_set(err, ZTM_E_BADSIG,
		              "the shares do not reproduce the split secret: a share is altered "
		              "or from another split");
		goto out;
	}
	if (ztm_buf_append(secret, blob + DIGEST_LEN, blen - DIGEST_LEN) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "combined secret");
		goto out;
	}
	rc = 0;
out:
	if (ctx != NULL)
		gfshare_ctx_free(ctx);
	OPENSSL_secure_clear_free(blob, blen);
	OPENSSL_cleanse(digest, sizeof(digest));
	return rc;
}

/* The share body every field of which the checksum covers, in canonical
 * form (so re-wrapped or CRLF files still check). */
static int share_body(const struct ztm_share *s, struct ztm_buf *out)
{
	if (ztm_buf_printf(out, SHARE_MAGIC "\nkey-id: %s\nindex: %u\nthreshold: %u\ncount: %u\n",
	                   s->key_id, s->index, s->threshold, s->count) != 0 ||
	    ztm_buf_append_str(out, "share: ") != 0 ||
	    ztm_b64_encode(s->bytes.data, s->bytes.len, 0, out) != 0 ||
	    ztm_buf_append_str(out, "\n") != 0)
		return -1;
	return 0;
}

static int body_checksum(const struct ztm_buf *body, char hex[65])
{
	uint8_t d[DIGEST_LEN];

	if (sha256(body->data, body->len, d) != 0)
		return -1;
	ztm_hex(d, sizeof(d), hex);
	return 0;
}

int ztm_share_format(const struct ztm_share *s, struct ztm_buf *out, struct ztm_error *err)
{
	struct ztm_buf body;
	char sum[65];
	int rc = -1;

	ztm_buf_init(&body, 0);
	if (share_body(s, &body) != 0 || body_checksum(&body, sum) != 0 ||
	    ztm_buf_append(out, body.data, body.len) != 0 ||
	    ztm_buf_printf(out, "checksum: %s\n", sum) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "formatting share %u", s->index);
		goto out;
	}
	rc = 0;
out:
	ztm_buf_free(&body);
	return rc;
}

/* Next line of text into [*l, *l+*ln), CR stripped; -1 at the end. */
static int next_line(const char *text, size_t n, size_t *off, const char **l, size_t *ln)
{
	size_t start = *off, e;

	if (start >= n)
		return -1;
	e = start;
	while (e < n && text[e] != '\n')
		e++;
	*off = e < n ? e + 1 : e;
	if (e > start && text[e - 1] == '\r')
		e--;
	*l = text + start;
	*ln = e - start;
	return 0;
}

/* Expects "key: value" and copies value (NUL-terminated) into val. */
static int field(const char *text, size_t n, size_t *off, const char *key, char *val, size_t vmax)
{
	const char *l;
	size_t ln, kl = strlen(key);

	if (next_line(text, n, off, &l, &ln) != 0 || ln < kl + 2 || memcmp(l, key, kl) != 0 ||
	    l[kl] != ':' || l[kl + 1] != ' ' || ln - kl - 2 >= vmax)
		return -1;
	memcpy(val, l + kl + 2, ln - kl - 2);
	val[ln - kl - 2] = '\0';
	return 0;
}

int ztm_share_parse(const char *text, size_t n, const char *name, struct ztm_share *out,
                    struct ztm_error *err)
{
	static const char *const keys[] = {"key-id", "index", "threshold", "count"};
	char vals[4][80], sum[80], want[65];
	char *b64 = NULL;
	const char *l;
	size_t off = 0, ln, i;
	int idx, m, cnt, rc = -1;
	struct ztm_buf body;

	ztm_buf_init(&body, 0);
	if (next_line(text, n, &off, &l, &ln) != 0 || ln != strlen(SHARE_MAGIC) ||
	    memcmp(l, SHARE_MAGIC, ln) != 0) {
		ztm_error_set(err, ZTM_E_PARSE, "%s: not a ztm share file (first line must be %s)",
		              name, SHARE_MAGIC);
		goto out;
	}
	for (i = 0; i < 4; i++) {
		if (field(text, n, &off, keys[i], vals[i], sizeof(vals[i])) != 0) {
			ztm_error_set(err, ZTM_E_PARSE, "%s: line %zu: expected '%s: ...'", name,
			              i + 2, keys[i]);
			goto out;
		}
	}
	b64 = malloc(n + 1);
	if (b64 == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "%s", name);
		goto out;
	}
	if (field(text, n, &off, "share", b64, n + 1) != 0 ||
	    field(text, n, &off, "checksum", sum, sizeof(sum)) != 0) {
		ztm_error_set(err, ZTM_E_PARSE, "%s: expected 'share: ...' then 'checksum: ...'",
		              name);
		goto out;
	}
	while (next_line(text, n, &off, &l, &ln) == 0) {
		if (ln != 0) {
			ztm_error_set(err, ZTM_E_PARSE, "%s: unexpected text after the checksum",
			              name);
			goto out;
		}
	}
	if (strlen(vals[0]) != 64 || strspn(vals[0], "0123456789abcdef") != 64 ||
	    ztm_parse_int(vals[1], 1, ZTM_SHARE_MAX_COUNT, &idx) != 0 ||
	    ztm_parse_int(vals[2], 2, ZTM_SHARE_MAX_COUNT, &m) != 0 ||
	    ztm_parse_int(vals[3], m, ZTM_SHARE_MAX_COUNT, &cnt) != 0 || idx > cnt) {
		ztm_error_set(err, ZTM_E_PARSE,
		              "%s: key-id must be 64 hex digits and 1 <= index <= count, "
		              "2 <= threshold <= count <= %d",
		              name, ZTM_SHARE_MAX_COUNT);
		goto out;
	}
	ztm_strlcpy(out->key_id, vals[0], sizeof(out->key_id));
	out->index = (uint8_t)idx;
	out->threshold = (uint8_t)m;
	out->count = (uint8_t)cnt;
	ztm_buf_reset(&out->bytes);
	if (ztm_b64_decode(b64, strlen(b64), &out->bytes) != 0 || out->bytes.len <= DIGEST_LEN) {
		ztm_error_set(err, ZTM_E_PARSE, "%s: share: not valid base64 of a share", name);
		goto out;
	}
	if (share_body(out, &body) != 0 || body_checksum(&body, want) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "%s: checksum", name);
		goto out;
	}
	if (strcmp(sum, want) != 0) {
		ztm_error_set(err, ZTM_E_PARSE,
		              "%s: checksum mismatch: the share was mistyped or altered", name);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		ztm_buf_reset(&out->bytes);
	if (b64 != NULL) {
		OPENSSL_cleanse(b64, n + 1);
		free(b64);
	}
	ztm_buf_free(&body);
	return rc;
}
