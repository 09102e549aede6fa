/* file.c - capped reads, atomic durable writes, secret files. */
#include "ztm/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztm/str.h"

int ztm_file_read(const char *path, size_t max, struct ztm_buf *out, struct ztm_error *err)
{
	int fd;
	ssize_t r;
	uint8_t *dst;
	size_t chunk, start = out->len;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ztm_error_set(err, errno == ENOENT ? ZTM_E_NOTFOUND : ZTM_E_IO, "%s: %s",
		                     path, strerror(errno));
	for (;;) {
		if (out->len - start >= max) {
			/* One more byte tells "exactly max" from "larger". */
			char probe;
			r = read(fd, &probe, 1);
			if (r > 0) {
				close(fd);
				out->len = start;
				return ztm_error_set(err, ZTM_E_TOOBIG, "%s: larger than %zu bytes",
				                     path, max);
			}
			break;
		}
		/* Never ask for more than the cap leaves: the buffer's own cap may
		 * be the same number. */
		chunk = max - (out->len - start);
		if (chunk > 4096)
			chunk = 4096;
		dst = ztm_buf_reserve(out, chunk);
		if (dst == NULL) {
			close(fd);
			out->len = start;
			return ztm_error_set(err, ZTM_E_TOOBIG, "%s: too large", path);
		}
		r = read(fd, dst, chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			out->len = start;
			return ztm_error_set(err, ZTM_E_IO, "%s: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
	}
	close(fd);
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[4096];
	char *slash;
	int fd, rc;

	if (ztm_strlcpy(dir, path, sizeof(dir)) != 0)
		return -1;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		ztm_strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int ztm_file_write(const char *path, const void *p, size_t n, mode_t mode, int exclusive,
                   struct ztm_error *err)
{
	char tmp[4096];
	const uint8_t *src = p;
	size_t done = 0;
	int fd, e;
	ssize_t w;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", path);
	if (exclusive && access(path, F_OK) == 0)
		return ztm_error_set(err, ZTM_E_EXISTS, "%s: already exists, not overwritten",
		                     path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return ztm_error_set(err, ZTM_E_IO, "%s: %s", tmp, strerror(errno));
	while (done < n) {
		w = write(fd, src + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		done += (size_t)w;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (exclusive) {
		/* link() fails if path appeared meanwhile: no silent overwrite. */
		if (link(tmp, path) != 0)
			goto fail;
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		goto fail;
	}
	if (fsync_dir_of(path) != 0)
		return ztm_error_set(err, ZTM_E_IO, "%s: fsync of directory: %s", path,
		                     strerror(errno));
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ztm_error_set(err, e == EEXIST ? ZTM_E_EXISTS : ZTM_E_IO, "%s: %s", path,
	                     strerror(e));
}

int ztm_mkdirs(const char *path, mode_t mode, struct ztm_error *err)
{
	char p[4096];
	size_t i;

	if (ztm_strlcpy(p, path, sizeof(p)) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", path);
	for (i = 1; p[i] != '\0'; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST)
			return ztm_error_set(err, ZTM_E_IO, "%s: %s", p, strerror(errno));
		p[i] = '/';
	}
	if (mkdir(p, mode) != 0 && errno != EEXIST)
		return ztm_error_set(err, ZTM_E_IO, "%s: %s", p, strerror(errno));
	return 0;
}

int ztm_secret_read(const char *path, struct ztm_buf *out, struct ztm_error *err)
{
	struct stat st;
	size_t i;

	if (stat(path, &st) != 0)
		return ztm_error_set(err, ZTM_E_NOTFOUND, "%s: %s", path, strerror(errno));
	if ((st.st_mode & 077) != 0)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "%s: secret file is readable by others (chmod 600 it)", path);
	if (ztm_file_read(path, 4096, out, err) != 0)
		return -1;
	for (i = 0; i < out->len; i++) {
		if (out->data[i] == '\n' || out->data[i] == '\r') {
			ztm_buf_cstr(out);
			memset(out->data + i, 0, out->len - i);
			out->len = i;
			break;
		}
	}
	if (out->len == 0)
		return ztm_error_set(err, ZTM_E_USAGE, "%s: empty secret", path);
	ztm_buf_cstr(out);
	return 0;
}
