/* ztm/file.h - whole-file reads with a cap, and atomic durable writes. */
#ifndef ZTM_FILE_H
#define ZTM_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "ztm/buf.h"
#include "ztm/err.h"

/* Reads all of path into out (appending); fails with ZTM_E_TOOBIG past max. */
int ztm_file_read(const char *path, size_t max, struct ztm_buf *out, struct ztm_error *err);
/* Writes via a temporary file in the same directory, fsync, rename, fsync of
 * the directory: a reader sees the old file or the new one, never half.
 * `mode` applies from creation (0600 for anything secret). With `exclusive`
 * an existing file is an error (ZTM_E_EXISTS) and is left alone. */
int ztm_file_write(const char *path, const void *p, size_t n, mode_t mode, int exclusive,
                   struct ztm_error *err);
/* mkdir -p with mode for the created components. */
int ztm_mkdirs(const char *path, mode_t mode, struct ztm_error *err);
/* Reads a secret (passphrase, PIN) from a file: first line, without the
 * line ending; refuses files readable by group or others. */
int ztm_secret_read(const char *path, struct ztm_buf *out, struct ztm_error *err);

#endif
