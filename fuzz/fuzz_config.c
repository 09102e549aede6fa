/* fuzz_config.c - libFuzzer target for the configuration parser: any input
 * either parses or fails with an error that names a line; the typed getters
 * and the unused-key walk then run over whatever parsed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ztm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int visit(const char *section, void *arg)
{
	struct ztm_config *c = arg;
	struct ztm_error err;
	uint64_t v;
	int b;

	(void)ztm_config_u64(c, section, "workers", 1, 1, 64, &v, &err);
	(void)ztm_config_duration(c, section, "timeout", 30, 1, 86400, &v, &err);
	(void)ztm_config_bool(c, section, "enabled", 0, &b, &err);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ztm_error err;
	struct ztm_config *c = ztm_config_parse((const char *)data, size, "fuzz", &err);

	if (c == NULL) {
		/* Every refusal must say something. */
		if (err.msg[0] == '\0')
			__builtin_trap();
		return 0;
	}
	(void)ztm_config_sections(c, "", visit, c);
	(void)ztm_config_get(c, "server", "listen");
	(void)ztm_config_unused(c, &err);
	ztm_config_free(c);
	return 0;
}
