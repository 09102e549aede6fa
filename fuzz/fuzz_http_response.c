/* fuzz_http_response.c - libFuzzer target for the client's HTTP/1.1
 * response parser (ztm_http_parse_response in src/cli/client.c), which reads
 * whatever the server, or anything between, sent back. The input is the raw
 * response bytes as read from the TLS connection; seeds in
 * fuzz/corpus/fuzz_http_response/ are real ztmd replies and edge cases.
 *
 * Invariants checked (__builtin_trap on violation): a parsed response has a
 * three-digit status 100..599, a NUL-terminated Content-Type, a Retry-After
 * of -1 or 0..86400, and a body that is exactly the bytes after the header
 * end (no more than were received); a refusal carries a message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Independent of the parser's own search: the byte after the first CRLFCRLF. */
static const uint8_t *header_end(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; n >= 4 && i <= n - 4; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
			return p + i + 4;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztm_http_resp resp;
	struct ztm_error err;
	const uint8_t *hend;

	ztm_http_resp_init(&resp);
	err.msg[0] = '\0';
	if (ztm_http_parse_response(data, size, &resp, &err) != 0) {
		if (err.msg[0] == '\0')
			__builtin_trap();
		goto out;
	}
	if (resp.status < 100 || resp.status > 599)
		__builtin_trap();
	if (memchr(resp.content_type, '\0', sizeof(resp.content_type)) == NULL)
		__builtin_trap();
	if (resp.retry_after < -1 || resp.retry_after > 86400)
		__builtin_trap();
	hend = header_end(data, size);
	if (hend == NULL)
		__builtin_trap(); /* accepted without a header end */
	if (resp.body.len > size - (size_t)(hend - data))
		__builtin_trap();
	if (resp.body.len > 0 && memcmp(resp.body.data, hend, resp.body.len) != 0)
		__builtin_trap();
out:
	ztm_http_resp_free(&resp);
	return 0;
}
