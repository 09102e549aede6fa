/* fw_parse.c - the firmware release request body (fw_parse.h). */
#include "fw_parse.h"

#include <jansson.h>
#include <string.h>

#include "ztm/str.h"

static int str_field(json_t *j, const char *key, char *out, size_t outsize, struct ztm_error *err)
{
	json_t *v = json_object_get(j, key);
	const char *s = json_string_value(v);

	if (s == NULL || json_string_length(v) != strlen(s) || strlen(s) == 0 ||
	    ztm_strlcpy(out, s, outsize) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "field '%s': a string of 1-%zu bytes", key,
		                     outsize - 1);
	return 0;
}

static int int_field(json_t *j, const char *key, int64_t min, int64_t max, int64_t *out,
                     struct ztm_error *err)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return ztm_error_set(err, ZTM_E_USAGE, "field '%s': an integer %lld..%lld", key,
		                     (long long)min, (long long)max);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int fw_release_parse(const uint8_t *body, size_t len, struct fw_release_req *out,
                     struct ztm_error *err)
{
	static const char *const keys[] = {"product", "version", "security_version",
	                                   "size",    "sha256",  "channel"};
	char channel[16];
	json_error_t je;
	json_t *j;
	const char *k;
	json_t *v;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > FW_RELEASE_BODY_MAX)
		return ztm_error_set(err, ZTM_E_TOOBIG, "release request over %d bytes",
		                     FW_RELEASE_BODY_MAX);
	j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL || !json_is_object(j)) {
		ztm_error_set(err, ZTM_E_PARSE, "release request: a JSON object is needed%s%s",
		              j == NULL ? ": " : "", j == NULL ? je.text : "");
		goto out;
	}
	json_object_foreach(j, k, v)
	{
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			ztm_error_set(err, ZTM_E_USAGE, "release request: unknown field '%.64s'",
			              k);
			goto out;
		}
	}
	if (str_field(j, "product", out->product, sizeof(out->product), err) != 0 ||
	    str_field(j, "version", out->version, sizeof(out->version), err) != 0 ||
	    int_field(j, "security_version", 0, (int64_t)ZTM_FW_SVN_MAX, &out->security_version,
	              err) != 0 ||
	    int_field(j, "size", 1, (int64_t)ZTM_FW_SIZE_MAX, &out->size, err) != 0 ||
	    str_field(j, "sha256", out->sha256, sizeof(out->sha256), err) != 0 ||
	    str_field(j, "channel", channel, sizeof(channel), err) != 0)
		goto out;
	if (!ztm_fw_version_valid(out->version)) {
		ztm_error_set(err, ZTM_E_USAGE, "field 'version': 1-64 of A-Z a-z 0-9 . _ - + ~");
		goto out;
	}
	if (strlen(out->sha256) != 64 || strspn(out->sha256, "0123456789abcdef") != 64) {
		ztm_error_set(err, ZTM_E_USAGE, "field 'sha256': 64 lower-case hex digits");
		goto out;
	}
	if (ztm_fw_channel_parse(channel, &out->channel) != 0) {
		ztm_error_set(err, ZTM_E_USAGE, "field 'channel': production or test");
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}
