/* fuzz_phttp.c - libFuzzer target for ztmd_phttp_parse, the request head
 * reader of ztmd's public plain-HTTP listener (phttp_parse.c). Seed corpus:
 * fuzz/corpus/fuzz_phttp/ (requests as openssl ocsp and curl send them). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const char *p, const char *buf, size_t size)
{
	return p >= buf && p < buf + size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztmd_phttp_head h;
	char *buf = malloc(size + 1);
	size_t i;
	int rc;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	rc = ztmd_phttp_parse(buf, size, &h);
	if (rc < ZTMD_PHTTP_EXPECT || rc > 1)
		__builtin_trap();
	if (rc == 1) {
		/* A complete head: inside the input, ending in the empty line,
		 * every string inside it and NUL-terminated there. */
		if (h.head_len < 4 || h.head_len > size ||
		    memcmp(data + h.head_len - 4, "\r\n\r\n", 4) != 0 ||
		    !inside(h.method, buf, h.head_len) || !inside(h.target, buf, h.head_len) ||
		    h.target[0] != '/' || strlen(h.target) != h.target_len ||
		    strlen(h.method) != h.method_len || h.n_headers > ZTMD_PHTTP_MAX_HEADERS ||
		    (h.query != NULL && !inside(h.query, buf, h.head_len)))
			__builtin_trap();
		for (i = 0; i < h.n_headers; i++)
			if (!inside(h.headers[i].name, buf, h.head_len) ||
			    !inside(h.headers[i].value, buf, h.head_len + 1) ||
			    strchr(h.headers[i].value, '\r') != NULL ||
			    strchr(h.headers[i].value, '\n') != NULL)
				__builtin_trap();
		/* The rest (a body) is untouched. */
		if (memcmp(buf + h.head_len, data + h.head_len, size - h.head_len) != 0)
			__builtin_trap();
	} else if (rc == ZTMD_PHTTP_MORE && memcmp(buf, data, size) != 0) {
		/* Not complete yet: nothing was written, it is parsed again. */
		__builtin_trap();
	}
	free(buf);
	return 0;
}
