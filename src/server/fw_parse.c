/* fw_parse.c - the firmware release request body (fw_parse.h). */
#include "fw_parse.h"

#include <jansson.h>
#include <stdlib.h>
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

/* Every field of a release request, from the JSON body or from an
 * upload's query and image: one set of rules for both. */
static int release_check(json_t *j, struct fw_release_req *out, struct ztm_error *err)
{
	static const char *const keys[] = {"product", "version", "security_version",
	                                   "size",    "sha256",  "channel"};
	char channel[16];
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(j, k, v)
	{
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "release request: unknown field '%.64s'", k);
		}
	}
	if (str_field(j, "product", out->product, sizeof(out->product), err) != 0 ||
	    str_field(j, "version", out->version, sizeof(out->version), err) != 0 ||
	    int_field(j, "security_version", 0, (int64_t)ZTM_FW_SVN_MAX, &out->security_version,
	              err) != 0 ||
	    int_field(j, "size", 1, (int64_t)ZTM_FW_SIZE_MAX, &out->size, err) != 0 ||
	    str_field(j, "sha256", out->sha256, sizeof(out->sha256), err) != 0 ||
	    str_field(j, "channel", channel, sizeof(channel), err) != 0)
		return -1;
	if (!ztm_fw_version_valid(out->version))
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "field 'version': 1-64 of A-Z a-z 0-9 . _ - + ~");
	if (strlen(out->sha256) != 64 || strspn(out->sha256, "0123456789abcdef") != 64)
		return ztm_error_set(err, ZTM_E_USAGE, "field 'sha256': 64 lower-case hex digits");
	if (ztm_fw_channel_parse(channel, &out->channel) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "field 'channel': production or test");
	return 0;
}

int fw_release_parse(const uint8_t *body, size_t len, struct fw_release_req *out,
                     struct ztm_error *err)
{
	json_error_t je;
	json_t *j;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > FW_RELEASE_BODY_MAX)
		return ztm_error_set(err, ZTM_E_TOOBIG, "release request over %d bytes",
		                     FW_RELEASE_BODY_MAX);
	j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL || !json_is_object(j))
		ztm_error_set(err, ZTM_E_PARSE, "release request: a JSON object is needed%s%s",
		              j == NULL ? ": " : "", j == NULL ? je.text : "");
	else
		rc = release_check(j, out, err);
	json_decref(j);
	return rc;
}

int fw_release_upload(const char *product, const char *version, const char *svn,
                      const char *channel, uint64_t size, const char *sha256,
                      struct fw_release_req *out, struct ztm_error *err)
{
	json_t *j;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	/* The counter as plain decimal digits (no sign, no blank, no 0x). */
	if (svn == NULL || svn[0] == '\0' || strlen(svn) > 10 ||
	    strspn(svn, "0123456789") != strlen(svn) || (svn[0] == '0' && svn[1] != '\0'))
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "query 'security_version': decimal digits, 0..%lld",
		                     (long long)ZTM_FW_SVN_MAX);
	if (size > (uint64_t)ZTM_FW_SIZE_MAX)
		return ztm_error_set(err, ZTM_E_TOOBIG, "image of %llu bytes",
		                     (unsigned long long)size);
	j = json_pack("{s:s?,s:s?,s:I,s:I,s:s,s:s?}", "product", product, "version", version,
	              "security_version", (json_int_t)strtoll(svn, NULL, 10), "size",
	              (json_int_t)size, "sha256", sha256, "channel", channel);
	if (j == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "release request");
	rc = release_check(j, out, err);
	json_decref(j);
	return rc;
}
