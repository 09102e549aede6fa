/* fw_verify.c - `ztm-device fw-verify`: verifies a firmware image against
 * its signature (manifest .ztmfw or CMS .cms) with libztmdev's streaming
 * verifier (docs/device-firmware.md), the way a device's updater would:
 *   ztm-device fw-verify --image F --sig F.ztmfw|F.cms [--dir D] [--root R]
 *                        [--product P] [--test-device] [--svn-file F] [--commit]
 * With --dir, the product defaults to the device's, the root to
 * D/fw-root.pem and the counter to D/fw-svn. The counter file holds one
 * decimal number; an absent file is 0 (nothing installed yet). --commit
 * raises it after an accepted image, as an updater does after installing.
 * Prints one line; exit 0 accepted, 1 refused or failed, 2 misuse. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "ztmdev/ztmdev.h"
#include "ztmdev/ztmdev_fw.h"

#define CHUNK    ((size_t)64 * 1024)
#define ROOT_MAX ((size_t)64 * 1024)

struct fw_opts {
	const char *image, *sig, *dir, *root, *product, *svn_file;
	int test_device, commit;
};

/* To stdout with status 0 when asked for (--help), else to stderr with 2. */
static void fw_usage_to(FILE *out, int status)
{
	fprintf(out, "usage: ztm-device fw-verify --image F --sig F.ztmfw|F.cms [--dir D] "
	             "[--root R.pem]\n"
	             "                            [--product P] [--test-device] "
	             "[--svn-file F] [--commit]\n");
	exit(status);
}

static void fw_usage(void)
{
	fw_usage_to(stderr, 2);
}

static int read_file(const char *path, uint8_t *out, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "ztm-device fw-verify: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(out, 1, cap, f);
	fclose(f);
	if (n == cap) {
		fprintf(stderr, "ztm-device fw-verify: %s: larger than %zu bytes\n", path, cap - 1);
		return -1;
	}
	*len = n;
	return 0;
}

/* The counter file: one decimal number; absent = 0. */
static int svn_file_read(void *arg, uint32_t *out)
{
	const char *path = arg;
	char buf[32], *end;
	FILE *f = fopen(path, "r");
	unsigned long long v;
	size_t n;

	if (f == NULL)
		return errno == ENOENT ? (*out = 0, 0) : -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (end == buf || errno != 0 || v > UINT32_MAX || (*end != '\0' && *end != '\n'))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Atomic: a temporary file, fsync, rename. */
static int svn_file_write(void *arg, uint32_t v)
{
	const char *path = arg;
	char tmp[1100], buf[16];
	int fd, n, ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	n = snprintf(buf, sizeof(buf), "%" PRIu32 "\n", v);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void fw_parse(int argc, char **argv, struct fw_opts *o)
{
	static const struct {
		const char *name;
		size_t off;
	} flags[] = {
	    {"--image", offsetof(struct fw_opts, image)},
	    {"--sig", offsetof(struct fw_opts, sig)},
	    {"--dir", offsetof(struct fw_opts, dir)},
	    {"--root", offsetof(struct fw_opts, root)},
	    {"--product", offsetof(struct fw_opts, product)},
	    {"--svn-file", offsetof(struct fw_opts, svn_file)},
	};
	size_t f;
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			fw_usage_to(stdout, 0);
		if (strcmp(argv[i], "--test-device") == 0) {
			o->test_device = 1;
			continue;
		}
		if (strcmp(argv[i], "--commit") == 0) {
			o->commit = 1;
			continue;
		}
		for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			if (strcmp(argv[i], flags[f].name) == 0)
				break;
		if (f == sizeof(flags) / sizeof(flags[0]) || i + 1 >= argc) {
			fprintf(stderr,
			        "ztm-device fw-verify: unknown option or missing value: %s\n",
			        argv[i]);
			fw_usage();
		}
		*(const char **)((char *)o + flags[f].off) = argv[++i];
	}
	if (o->image == NULL || o->sig == NULL) {
		fprintf(stderr, "ztm-device fw-verify: --image and --sig are required\n");
		fw_usage();
	}
	if (o->dir == NULL && (o->root == NULL || o->product == NULL || o->svn_file == NULL)) {
		fprintf(stderr, "ztm-device fw-verify: without --dir, --root, --product and "
		                "--svn-file are required\n");
		fw_usage();
	}
}

static int refused(struct ztmdev *dev)
{
	printf("fw-verify: REFUSED: %s\n", ztmdev_error(dev));
	return 1;
}

int fw_verify_main(int argc, char **argv)
{
	static uint8_t sig[ZTMDEV_FW_SIG_MAX + 1], root[ROOT_MAX], chunk[CHUNK];
	char root_path[1024], svn_path[1024], hex[65];
	struct ztmdev_fw_policy pol;
	struct ztmdev_fw_result res;
	struct ztmdev_status st;
	struct ztmdev_fw *fw = NULL;
	struct ztmdev *dev;
	struct fw_opts o;
	size_t sig_len, root_len, n, i;
	FILE *img = NULL;
	int rc = 1;

	fw_parse(argc, argv, &o);
	dev = ztmdev_new(o.dir != NULL ? o.dir : ".");
	if (dev == NULL) {
		fprintf(stderr, "ztm-device: out of memory\n");
		return 1;
	}
	memset(&pol, 0, sizeof(pol));
	pol.product = o.product;
	if (o.dir != NULL && o.product == NULL) {
		if (ztmdev_status(dev, &st) != 0) {
			fprintf(stderr, "ztm-device fw-verify: %s: %s\n", o.dir, ztmdev_error(dev));
			goto out;
		}
		pol.product = st.product;
	}
	if (o.root == NULL)
		snprintf(root_path, sizeof(root_path), "%s/fw-root.pem", o.dir);
	else
		snprintf(root_path, sizeof(root_path), "%s", o.root);
	if (o.svn_file == NULL)
		snprintf(svn_path, sizeof(svn_path), "%s/fw-svn", o.dir);
	else
		snprintf(svn_path, sizeof(svn_path), "%s", o.svn_file);
	if (read_file(root_path, root, sizeof(root), &root_len) != 0 ||
	    read_file(o.sig, sig, sizeof(sig), &sig_len) != 0)
		goto out;
	if ((img = fopen(o.image, "rb")) == NULL) {
		fprintf(stderr, "ztm-device fw-verify: %s: %s\n", o.image, strerror(errno));
		goto out;
	}
	pol.roots = root;
	pol.roots_len = root_len;
	pol.test_device = o.test_device;
	pol.svn_read = svn_file_read;
	pol.svn_write = svn_file_write;
	pol.svn_arg = svn_path;
	if ((fw = ztmdev_fw_begin(dev, sig, sig_len, &pol)) == NULL) {
		rc = refused(dev);
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), img)) > 0)
		if (ztmdev_fw_update(fw, chunk, n) != 0) {
			rc = refused(dev);
			goto out;
		}
	if (ferror(img)) {
		fprintf(stderr, "ztm-device fw-verify: %s: read error\n", o.image);
		goto out;
	}
	if (ztmdev_fw_final(fw, &res) != 0) {
		rc = refused(dev);
		goto out;
	}
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", res.sha256[i]);
	if (o.commit && ztmdev_fw_commit_svn(fw) != 0) {
		printf("fw-verify: OK but the counter was not raised: %s\n", ztmdev_error(dev));
		goto out;
	}
	printf("fw-verify: OK: %s %s, security version %" PRIu32 " (device %" PRIu32 "%s), %s "
	       "channel, %" PRIu64 " bytes, sha256 %s, %s signed by %s\n",
	       res.product, res.version, res.security_version, res.device_svn,
	       o.commit && res.security_version > res.device_svn ? ", raised" : "",
	       res.channel == 0 ? "production" : "test", res.size, hex,
	       res.format == ZTMDEV_FW_MANIFEST ? "manifest" : "CMS", res.signer);
	rc = 0;
out:
	if (img != NULL)
		fclose(img);
	ztmdev_fw_free(fw);
	ztmdev_free(dev);
	return rc;
}
