/* fuzz_ztmdev_reply.c - libFuzzer target for libztmdev's enrollment reply
 * parser (zd_reply_certs and zd_reply_reason in src/device/enroll.c): what a
 * server, or anything between it and the device, sends back to
 * simpleenroll. Input: one byte choosing the status and Content-Type, then
 * the body. Seeds in fuzz/corpus/fuzz_ztmdev_reply/: a real certs-only reply,
 * one with a chain, a JSON refusal and broken encodings.
 *
 * Invariants (__builtin_trap on violation): success means a 200 with 1..8
 * certificates, each non-empty and within the certificate cap; failure
 * always says why; the refusal reason is NUL-terminated printable ASCII. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "zd_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int statuses[] = {200, 202, 400, 401, 403, 500};
static const char *const ctypes[] = {"application/pkcs7-mime; smime-type=certs-only",
                                     "application/pkcs7-mime",
                                     "application/json",
                                     "APPLICATION/PKCS7-MIME",
                                     "application/pkcs7-mimex",
                                     ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t body[96 * 1024 + 1];
	struct ztmdev_response resp;
	struct zd_certs certs;
	struct ztmdev *dev;
	char reason[340];
	size_t i;
	int rc;

	if (size < 1 || size - 1 > sizeof(body))
		return 0;
	dev = ztmdev_new("/nonexistent");
	if (dev == NULL)
		return 0;
	memset(&resp, 0, sizeof(resp));
	resp.status = statuses[data[0] % 6];
	snprintf(resp.content_type, sizeof(resp.content_type), "%s", ctypes[(data[0] / 6) % 6]);
	resp.retry_after = -1;
	memcpy(body, data + 1, size - 1);
	resp.body = body;
	resp.body_cap = sizeof(body);
	resp.body_len = size - 1;
	zd_certs_init(&certs);
	rc = zd_reply_certs(dev, &resp, &certs);
	if (rc == 0) {
		if (resp.status != 200 || certs.n < 1 || certs.n > ZD_CERTS_MAX)
			__builtin_trap();
		for (i = 0; i < certs.n; i++)
			if (certs.der[i].len == 0 || certs.der[i].len > ZD_CERT_MAX)
				__builtin_trap();
	} else if (rc != -1 || ztmdev_error(dev)[0] == '\0') {
		__builtin_trap();
	}
	zd_reply_reason(&resp, reason, sizeof(reason));
	if (memchr(reason, '\0', sizeof(reason)) == NULL)
		__builtin_trap();
	for (i = 0; reason[i] != '\0'; i++)
		if (reason[i] < 0x20 || reason[i] > 0x7e)
			__builtin_trap();
	zd_certs_free(&certs);
	ztmdev_free(dev);
	return 0;
}
