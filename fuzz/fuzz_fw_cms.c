/* fuzz_fw_cms.c - libFuzzer target for the input of libztmdev's firmware
 * verifier (ztmdev_fw_begin): a CMS detached signature or a manifest, and
 * the signer chain inside it, against a pinned root that is part of the
 * input (so the chain, usage and signature checks are reached, not only
 * the parse). Then an image of the input's last bytes is streamed.
 *
 * Input framing: 2 bytes big-endian root length, the root certificate
 * (DER), 1 byte of flags (bit 0: a test device), 2 bytes image length,
 * then the signature; the image is the signature's first bytes (any
 * content; only its length matters to the refusals). Seeds in
 * fuzz/corpus/fuzz_fw_cms/ (ZTM_FUZZ_SEEDS=DIR build/tests/test_ztmdev_fw).
 *
 * Invariants (__builtin_trap on violation): a refusal says why and yields
 * no context; an accepted image has the product "widget", a security
 * version >= the counter (5) and the streamed size; a stream past the
 * signed size fails at once. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zd_fw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int svn_read(void *arg, uint32_t *out)
{
	(void)arg;
	*out = 5;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztmdev_fw_policy pol;
	struct ztmdev_fw_result res;
	struct ztmdev_fw *fw;
	struct ztmdev *dev;
	size_t root_len, img_len, off;

	if (size < 5)
		return 0;
	root_len = (size_t)data[0] << 8 | data[1];
	if (root_len > size - 5)
		return 0;
	off = 2 + root_len;
	memset(&pol, 0, sizeof(pol));
	pol.roots = data + 2;
	pol.roots_len = root_len;
	pol.test_device = data[off] & 1;
	img_len = (size_t)data[off + 1] << 8 | data[off + 2];
	off += 3;
	pol.product = "widget";
	pol.svn_read = svn_read;
	if ((dev = ztmdev_new("/nonexistent")) == NULL)
		return 0;
	fw = ztmdev_fw_begin(dev, data + off, size - off, &pol);
	if (fw == NULL) {
		if (ztmdev_error(dev)[0] == '\0')
			__builtin_trap();
		ztmdev_free(dev);
		return 0;
	}
	if (img_len > size - off)
		img_len = size - off;
	if (ztmdev_fw_update(fw, data + off, img_len) == 0 && ztmdev_fw_final(fw, &res) == 0) {
		if (strcmp(res.product, "widget") != 0 || res.security_version < 5 ||
		    res.size != img_len)
			__builtin_trap();
	} else if (ztmdev_error(dev)[0] == '\0') {
		__builtin_trap();
	}
	ztmdev_fw_free(fw);
	ztmdev_free(dev);
	return 0;
}
