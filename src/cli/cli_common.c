/* cli_common.c - shared plumbing of the command groups. */
#include "cli_common.h"

#include <stdio.h>
#include <string.h>

#include "ztm/str.h"

int cli_conn_option(int c, struct ztm_client_opts *o)
{
	switch (c) {
	case 1000:
		o->url = optarg;
		return 1;
	case 1001:
		o->ca_file = optarg;
		return 1;
	case 1002:
		o->cert_file = optarg;
		return 1;
	case 1003:
		o->key_uri = optarg;
		return 1;
	case 1004:
		o->key_pass_file = optarg;
		return 1;
	default:
		return 0;
	}
}

int cli_fail(const char *cmd, const struct ztm_error *err)
{
	fprintf(stderr, "ztm %s: %s\n", cmd, ztm_error_msg(err));
	return ZTM_EXIT_FAIL;
}

static json_t *handle_reply(struct ztm_http_resp *resp, struct ztm_error *err)
{
	json_t *j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);

	if (resp->status >= 200 && resp->status < 300) {
		if (j == NULL)
			ztm_error_set(err, ZTM_E_PARSE, "server replied %d without JSON",
			              resp->status);
		return j;
	}
	ztm_error_set(err,
	              resp->status == 401   ? ZTM_E_AUTH
	              : resp->status == 403 ? ZTM_E_DENIED
	              : resp->status == 404 ? ZTM_E_NOTFOUND
	              : resp->status == 409 ? ZTM_E_EXISTS
	                                    : ZTM_E_USAGE,
	              "server refused (%d): %s", resp->status,
	              j != NULL && json_string_value(json_object_get(j, "message")) != NULL
	                  ? json_string_value(json_object_get(j, "message"))
	                  : "no reason given");
	json_decref(j);
	return NULL;
}

json_t *cli_post_body(const struct ztm_client_opts *o, const char *path, const char *content_type,
                      const void *body, size_t len, struct ztm_error *err)
{
	struct ztm_http_resp resp;
	json_t *j = NULL;

	ztm_http_resp_init(&resp);
	if (ztm_client_request(o, "POST", path, content_type, NULL, body, len, &resp, err) == 0)
		j = handle_reply(&resp, err);
	ztm_http_resp_free(&resp);
	return j;
}

json_t *cli_post_json(const struct ztm_client_opts *o, const char *path, json_t *body,
                      struct ztm_error *err)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_t *j = NULL;

	if (s == NULL)
		ztm_error_set(err, ZTM_E_NOMEM, "JSON");
	else
		j = cli_post_body(o, path, "application/json", s, strlen(s), err);
	free(s);
	json_decref(body);
	return j;
}

json_t *cli_get_json(const struct ztm_client_opts *o, const char *path, struct ztm_error *err)
{
	struct ztm_http_resp resp;
	json_t *j = NULL;

	ztm_http_resp_init(&resp);
	if (ztm_client_request(o, "GET", path, NULL, NULL, NULL, 0, &resp, err) == 0)
		j = handle_reply(&resp, err);
	ztm_http_resp_free(&resp);
	return j;
}

json_t *cli_json_time(const char *s)
{
	uint64_t v;

	if (ztm_parse_u64(s, 0, (uint64_t)1 << 53, &v) == 0)
		return json_integer((json_int_t)v);
	return json_string(s);
}
