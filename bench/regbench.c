/* regbench.c - the registration benchmark's devices file (regbench.h). */
#include "regbench.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ztm/file.h"

/* 100,000 devices of ~1.2 kB each fit; a bigger file is a mistake. */
#define REGBENCH_FILE_MAX ((size_t)512 * 1024 * 1024)

int regbench_write_header(FILE *f, size_t count, struct ztm_error *err)
{
	uint8_t n[4] = {(uint8_t)(count >> 24), (uint8_t)(count >> 16), (uint8_t)(count >> 8),
	                (uint8_t)count};

	if (count > UINT32_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "too many devices");
	if (fwrite(REGBENCH_MAGIC, 1, 8, f) != 8 || fwrite(n, 1, 4, f) != 4)
		return ztm_error_set(err, ZTM_E_IO, "writing the devices file");
	return 0;
}

static int put_blob(FILE *f, const struct ztm_slice *s, struct ztm_error *err)
{
	uint8_t n[2] = {(uint8_t)(s->len >> 8), (uint8_t)s->len};

	if (s->len == 0 || s->len > UINT16_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "devices file: blob of %zu bytes", s->len);
	if (fwrite(n, 1, 2, f) != 2 || fwrite(s->p, 1, s->len, f) != s->len)
		return ztm_error_set(err, ZTM_E_IO, "writing the devices file");
	return 0;
}

int regbench_write_entry(FILE *f, const struct ztm_slice *cert, const struct ztm_slice *key,
                         const struct ztm_slice *csr, struct ztm_error *err)
{
	if (put_blob(f, cert, err) != 0 || put_blob(f, key, err) != 0 || put_blob(f, csr, err) != 0)
		return -1;
	return 0;
}

static int get_blob(struct ztm_cursor *c, struct ztm_slice *out)
{
	uint16_t n;

	if (ztm_cursor_be16(c, &n) != 0 || n == 0 || ztm_cursor_bytes(c, n, out) != 0)
		return -1;
	return 0;
}

int regbench_read(const char *path, struct regbench_file *out, struct ztm_error *err)
{
	struct ztm_cursor c;
	struct ztm_slice magic;
	uint32_t n;
	size_t i;

	memset(out, 0, sizeof(*out));
	ztm_buf_init(&out->bytes, REGBENCH_FILE_MAX);
	if (ztm_file_read(path, REGBENCH_FILE_MAX, &out->bytes, err) != 0)
		return -1;
	ztm_cursor_init(&c, out->bytes.data, out->bytes.len);
	if (ztm_cursor_bytes(&c, 8, &magic) != 0 || memcmp(magic.p, REGBENCH_MAGIC, 8) != 0 ||
	    ztm_cursor_be32(&c, &n) != 0 || n == 0) {
		ztm_error_set(err, ZTM_E_PARSE, "%s: not a devices file (bench_seed writes one)",
		              path);
		goto fail;
	}
	out->dev = calloc(n, sizeof(*out->dev));
	if (out->dev == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "%u devices", (unsigned)n);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct regbench_dev *d = &out->dev[i];
		if (get_blob(&c, &d->cert) != 0 || get_blob(&c, &d->key) != 0 ||
		    get_blob(&c, &d->csr) != 0) {
			ztm_error_set(err, ZTM_E_PARSE, "%s: entry %zu is cut short", path, i);
			goto fail;
		}
	}
	if (ztm_cursor_left(&c) != 0) {
		ztm_error_set(err, ZTM_E_PARSE, "%s: bytes after the last entry", path);
		goto fail;
	}
	out->n = n;
	return 0;
fail:
	regbench_free(out);
	return -1;
}

void regbench_free(struct regbench_file *f)
{
	ztm_buf_free(&f->bytes); /* wipes the keys */
	free(f->dev);
	f->dev = NULL;
	f->n = 0;
}
