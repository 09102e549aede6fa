/* fuzz_voucher.c - libFuzzer target for libztmdev's ownership voucher reader
 * (zd_voucher_parse in src/device/voucher.c): the JSON inside a voucher's CMS
 * signature. The signature is checked first on a device, but the reader must
 * hold against anything a signer could be tricked into signing. Seeds in
 * fuzz/corpus/fuzz_voucher/: a voucher as ztmd writes it, one with
 * whitespace and the optional member, and broken ones.
 *
 * Invariants (__builtin_trap on violation): success means every required
 * member was read (a serial of 1..64 characters, an assertion, a pinned
 * certificate within the certificate cap, expires-on and created-on in the
 * RFC 3339 range); failure always says why. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zd_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zd_voucher v;
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	int rc;

	if (dev == NULL)
		return 0;
	zd_voucher_init(&v);
	rc = zd_voucher_parse(dev, data, size, &v);
	if (rc == 0) {
		size_t n = strnlen(v.serial, sizeof(v.serial));
		if (n == 0 || n >= sizeof(v.serial) || v.assertion[0] == '\0' ||
		    v.pinned.len == 0 || v.pinned.len > ZD_CERT_MAX || v.created_on < 0 ||
		    v.expires_on < 0 || v.created_on > 253402300799LL ||
		    v.expires_on > 253402300799LL)
			__builtin_trap();
	} else if (rc != -1 || ztmdev_error(dev)[0] == '\0') {
		__builtin_trap();
	}
	zd_voucher_free(&v);
	ztmdev_free(dev);
	return 0;
}
