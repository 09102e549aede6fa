/* file.c - the device directory's files: capped reads and atomic writes
 * (temporary file, fsync, rename, fsync of the directory), so a power cut
 * leaves either the old file or the new one, never half of one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zd_int.h"

int zd_path(struct ztmdev *dev, const char *name, char *out, size_t outsize)
{
	int n = snprintf(out, outsize, "%s/%s", dev->dir, name);

	if (n < 0 || (size_t)n >= outsize)
		return zd_err(dev, "%s/%s: path too long", dev->dir, name);
	return 0;
}

int zd_file_exists(struct ztmdev *dev, const char *name)
{
	char path[600];
	struct stat st;

	return zd_path(dev, name, path, sizeof(path)) == 0 && stat(path, &st) == 0;
}

int zd_file_read(struct ztmdev *dev, const char *name, size_t max, struct zd_buf *out)
{
	char path[600];
	uint8_t chunk[4096];
	ssize_t r;
	int fd, rc = -1;

	if (zd_path(dev, name, path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return zd_err(dev, "%s: %s", path, strerror(errno));
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			zd_err(dev, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (out->len + (size_t)r > max || zd_buf_append(out, chunk, (size_t)r) != 0) {
			zd_err(dev, "%s: larger than %zu bytes", path, max);
			goto out;
		}
	}
	rc = 0;
out:
	memset(chunk, 0, sizeof(chunk));
	close(fd);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int zd_file_write(struct ztmdev *dev, const char *name, const uint8_t *p, size_t n, int mode)
{
	char path[600], tmp[640];
	int fd, dfd;

	if (zd_path(dev, name, path, sizeof(path)) != 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* A temporary left by a crash is ours to replace. */
	if (unlink(tmp) != 0 && errno != ENOENT)
		return zd_err(dev, "%s: %s", tmp, strerror(errno));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return zd_err(dev, "%s: %s", tmp, strerror(errno));
	if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, p, n) != 0 || fsync(fd) != 0) {
		zd_err(dev, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		zd_err(dev, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	dfd = open(dev->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		zd_err(dev, "%s: %s", dev->dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

int zd_file_rename(struct ztmdev *dev, const char *from, const char *to)
{
	char a[600], b[600];
	int dfd;

	if (zd_path(dev, from, a, sizeof(a)) != 0 || zd_path(dev, to, b, sizeof(b)) != 0)
		return -1;
	if (rename(a, b) != 0)
		return zd_err(dev, "%s -> %s: %s", a, b, strerror(errno));
	dfd = open(dev->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		zd_err(dev, "%s: %s", dev->dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

void zd_file_remove(struct ztmdev *dev, const char *name)
{
	char path[600];

	if (zd_path(dev, name, path, sizeof(path)) == 0)
		unlink(path);
}
