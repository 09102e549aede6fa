/* fuzz_ztmdev_challenge.c - libFuzzer target for libztmdev's reader of the
 * tpm-challenge reply (zd_challenge_reply in src/device/attest.c): the JSON
 * a server, or anything between it and the device, answers a TPM challenge
 * with. Input: one byte choosing the caps, then the body. Seeds in
 * fuzz/corpus/fuzz_ztmdev_challenge/.
 *
 * Invariants (__builtin_trap on violation): success means both fields
 * decoded to 1..cap bytes and a non-negative expiry; failure always says why. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zd_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t id[4096], secret[4096];
	size_t id_cap, secret_cap, id_len = 0, secret_len = 0;
	int64_t expires = -1;
	struct ztmdev *dev;
	int rc;

	if (size < 1)
		return 0;
	/* Small caps too, so "decodes past the cap" is reached. */
	id_cap = data[0] & 1 ? sizeof(id) : 48;
	secret_cap = data[0] & 2 ? sizeof(secret) : 48;
	dev = ztmdev_new("/nonexistent");
	if (dev == NULL)
		return 0;
	rc = zd_challenge_reply(dev, data + 1, size - 1, id, id_cap, &id_len, secret, secret_cap,
	                        &secret_len, &expires);
	if (rc == 0) {
		if (id_len == 0 || id_len > id_cap || secret_len == 0 || secret_len > secret_cap ||
		    expires < 0)
			__builtin_trap();
	} else if (rc != -1 || ztmdev_error(dev)[0] == '\0') {
		__builtin_trap();
	}
	ztmdev_free(dev);
	return 0;
}
