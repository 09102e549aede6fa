/* fuzz_fw_release.c - libFuzzer target for the firmware release request
 * body (src/server/fw_parse.c), the JSON a firmware signer POSTs to
 * /api/v1/firmware/releases. The input is the body itself (seeds in
 * fuzz/corpus/fuzz_fw_release/); the same bytes, split at NULs into the
 * query values product, version, security_version and channel, also go
 * through the upload form (fw_release_upload) with a fixed size and digest.
 *
 * Invariants (__builtin_trap on violation): an accepted request has every
 * field in its documented range, a version of the allowed characters, a
 * 64-digit lower-case hex digest and a known channel; its claims encode. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fw_parse.h"
#include "ztm/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The upload form: up to four NUL-separated strings (a missing one NULL). */
static void upload_form(const uint8_t *data, size_t size)
{
	static const char hex[] =
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char buf[512], *f[4] = {NULL, NULL, NULL, NULL}, *p = buf;
	struct fw_release_req req;
	struct ztm_error err;
	size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1, k;

	memcpy(buf, data, n);
	buf[n] = '\0';
	for (k = 0; k < 4 && p <= buf + n; k++) {
		f[k] = p;
		p += strlen(p) + 1;
	}
	if (fw_release_upload(f[0], f[1], f[2], f[3], 1234, hex, &req, &err) == 0 &&
	    (req.size != 1234 || strcmp(req.sha256, hex) != 0 || req.security_version < 0 ||
	     (uint64_t)req.security_version > ZTM_FW_SVN_MAX ||
	     !ztm_fw_version_valid(req.version) || strlen(req.product) == 0))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_release_req req;
	struct ztm_fw_claims c;
	struct ztm_buf b;
	struct ztm_error err;

	upload_form(data, size);
	if (fw_release_parse(data, size, &req, &err) != 0)
		return 0;
	if (req.security_version < 0 || (uint64_t)req.security_version > ZTM_FW_SVN_MAX ||
	    req.size < 1 || (uint64_t)req.size > ZTM_FW_SIZE_MAX ||
	    !ztm_fw_version_valid(req.version) || strlen(req.sha256) != 64 ||
	    strspn(req.sha256, "0123456789abcdef") != 64 ||
	    (req.channel != ZTM_FW_PRODUCTION && req.channel != ZTM_FW_TEST) ||
	    strlen(req.product) == 0)
		__builtin_trap();
	memset(&c, 0, sizeof(c));
	ztm_strlcpy(c.product, req.product, sizeof(c.product));
	ztm_strlcpy(c.version, req.version, sizeof(c.version));
	c.security_version = (uint64_t)req.security_version;
	c.size = (uint64_t)req.size;
	c.channel = req.channel;
	ztm_buf_init(&b, 1024);
	if (ztm_fw_claims_encode(&c, &b, &err) != 0)
		__builtin_trap();
	ztm_buf_free(&b);
	return 0;
}
