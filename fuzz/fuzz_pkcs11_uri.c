/* fuzz_pkcs11_uri.c - libFuzzer target for the RFC 7512 PKCS#11 URI parser
 * (ztm_p11_uri_parse in src/core/p11uri.c): key URIs come from configuration
 * files and command lines. Seeds in fuzz/corpus/fuzz_pkcs11_uri/.
 *
 * Invariants (__builtin_trap on violation): success means every text value
 * is NUL-terminated within its field and holds no NUL, the id fits its
 * array, paths are absolute; failure means a usage error with a message and
 * a zeroed result; no message ever contains a pin-value's value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ztm/p11uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ztm_p11_uri zero;
	struct ztm_p11_uri u;
	struct ztm_error err;
	char *s;

	if (size > 16384)
		return 0;
	s = malloc(size + 8);
	if (s == NULL)
		return 0;
	/* Half the inputs get the scheme, so the fuzzer spends its time past it. */
	if (size > 0 && data[0] & 1) {
		memcpy(s, "pkcs11:", 7);
		memcpy(s + 7, data + 1, size - 1);
		s[size + 6] = '\0';
	} else {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	memset(&err, 0, sizeof(err));
	if (ztm_p11_uri_parse(s, &u, &err) == 0) {
		check_text(u.token, sizeof(u.token));
		check_text(u.manufacturer, sizeof(u.manufacturer));
		check_text(u.serial, sizeof(u.serial));
		check_text(u.model, sizeof(u.model));
		check_text(u.object, sizeof(u.object));
		check_text(u.pin_source, sizeof(u.pin_source));
		check_text(u.module_path, sizeof(u.module_path));
		if (u.id_len > sizeof(u.id) || (u.id_len > 0) != (u.has_id != 0))
			__builtin_trap();
		if ((u.pin_source[0] != '\0' && u.pin_source[0] != '/') ||
		    (u.module_path[0] != '\0' && u.module_path[0] != '/'))
			__builtin_trap();
		/* pin-value is always refused. '&' never occurs inside a query
		 * value, so these are exactly the query attributes. */
		const char *q = strchr(s, '?');
		if (q != NULL &&
		    (strncmp(q + 1, "pin-value=", 10) == 0 || strstr(q, "&pin-value=") != NULL))
			__builtin_trap();
	} else {
		if (err.code != ZTM_E_USAGE || err.msg[0] == '\0' ||
		    memcmp(&u, &zero, sizeof(u)) != 0)
			__builtin_trap();
	}
	free(s);
	return 0;
}
