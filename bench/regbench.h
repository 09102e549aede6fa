/* regbench.h - the registration benchmark's devices file, written by
 * bench_seed and read by bench_register (docs/benchmarks.md,
 * "Registration": the devices file).
 *
 * One entry per device that will register: its self-signed bootstrap
 * certificate, its private key (PKCS#8, unencrypted: these are throw-away
 * benchmark keys, the file is 0600) and its CSR, all DER.
 *
 *   offset  size  field
 *   0       8     magic "ZTMRB01\n"
 *   8       4     count, big-endian
 *   12      ...   count entries, each three blobs: 2-byte big-endian
 *                 length, then the bytes (certificate, key, CSR)
 */
#ifndef ZTM_BENCH_REGBENCH_H
#define ZTM_BENCH_REGBENCH_H

#include <stddef.h>
#include <stdio.h>

#include "ztm/buf.h"
#include "ztm/err.h"

#define REGBENCH_MAGIC "ZTMRB01\n"

/* The product, order and firmware the seeded records name; bench_register
 * needs none of them (the bootstrap certificate says what it claims). */
#define REGBENCH_PRODUCT "widget"

struct regbench_dev {
	struct ztm_slice cert, key, csr; /* point into the file's bytes */
};

struct regbench_file {
	struct ztm_buf bytes;
	struct regbench_dev *dev;
	size_t n;
};

/* Writing: header with the final count, then entries. */
int regbench_write_header(FILE *f, size_t count, struct ztm_error *err);
int regbench_write_entry(FILE *f, const struct ztm_slice *cert, const struct ztm_slice *key,
                         const struct ztm_slice *csr, struct ztm_error *err);

/* Reads and checks the whole file (every length inside it, the count). */
int regbench_read(const char *path, struct regbench_file *out, struct ztm_error *err);
void regbench_free(struct regbench_file *f);

#endif
