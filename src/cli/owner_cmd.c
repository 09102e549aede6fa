/* owner_cmd.c - `ztm owner add|list|show` and `ztm device list|show|transfer`
 * over the admin API (docs/api.md, docs/vouchers.md). Replies are printed as
 * JSON on stdout; what happened goes to stderr. `transfer` writes one
 * voucher file per device (DER, docs/vouchers.md) into --out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_common.h"
#include "ztm/file.h"
#include "ztm/str.h"

#define ANCHOR_FILE_MAX 16384
#define SERIAL_FILE_MAX (1024 * 1024)
#define TRANSFER_MAX    500
#define VOUCHER_DER_MAX (64 * 1024)

static int usage_owner(void)
{
	fprintf(stderr, "usage: ztm owner add --name N --anchor CERT.pem [connection]\n"
	                "       ztm owner list [connection]\n"
	                "       ztm owner show --name N [connection]\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

static int usage_device(void)
{
	fprintf(
	    stderr,
	    "usage: ztm device list [--owner O] [--after ID] [--limit N] [connection]\n"
	    "       ztm device show --serial S [connection]\n"
	    "       ztm device transfer (SERIAL... | --file F) --owner O --out DIR [--days N]\n"
	    "         [connection]\n"
	    "         F: one serial a line; writes DIR/<serial>.voucher (CMS, DER) per device\n\n"
	    "" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

struct oargs {
	struct ztm_client_opts conn;
	const char *name, *anchor, *owner, *serial, *file, *out, *days, *after, *limit;
};

static int parse(int argc, char **argv, struct oargs *a, int positional)
{
	static const struct option opts[] = {
	    CLI_CONN_OPTIONS,
	    {"name", required_argument, NULL, 'n'},
	    {"anchor", required_argument, NULL, 'a'},
	    {"owner", required_argument, NULL, 'O'},
	    {"serial", required_argument, NULL, 's'},
	    {"file", required_argument, NULL, 'f'},
	    {"out", required_argument, NULL, 'o'},
	    {"days", required_argument, NULL, 'd'},
	    {"after", required_argument, NULL, 'A'},
	    {"limit", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (cli_conn_option(c, &a->conn))
			continue;
		switch (c) {
		case 'n':
			a->name = optarg;
			break;
		case 'a':
			a->anchor = optarg;
			break;
		case 'O':
			a->owner = optarg;
			break;
		case 's':
			a->serial = optarg;
			break;
		case 'f':
			a->file = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'd':
			a->days = optarg;
			break;
		case 'A':
			a->after = optarg;
			break;
		case 'l':
			a->limit = optarg;
			break;
		default:
			return -1;
		}
	}
	return positional || optind == argc ? 0 : -1;
}

/* A name or serial that is safe in a URL path and a file name. */
static int path_safe(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return i >= 1 && i <= max && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int print_json(const char *what, json_t *j)
{
	if (what != NULL)
		fprintf(stderr, "%s\n", what);
	json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(j);
	return ZTM_EXIT_OK;
}

static int get_and_print(struct oargs *a, const char *cmd, const char *path)
{
	struct ztm_error err;
	json_t *j;

	if (ztm_client_opts_env(&a->conn, 1, &err) != 0)
		return cli_fail(cmd, &err);
	if ((j = cli_get_json(&a->conn, path, &err)) == NULL)
		return cli_fail(cmd, &err);
	return print_json(NULL, j);
}

int cmd_owner(int argc, char **argv)
{
	struct oargs a;
	struct ztm_error err;
	struct ztm_buf pem;
	char path[128];
	json_t *j;

	if (argc < 2 || parse(argc - 1, argv + 1, &a, 0) != 0)
		return usage_owner();
	if (strcmp(argv[1], "list") == 0)
		return get_and_print(&a, "owner list", "/api/v1/owners");
	if (a.name == NULL || !path_safe(a.name, 64))
		return usage_owner();
	if (strcmp(argv[1], "show") == 0) {
		snprintf(path, sizeof(path), "/api/v1/owners/%s", a.name);
		return get_and_print(&a, "owner show", path);
	}
	if (strcmp(argv[1], "add") != 0 || a.anchor == NULL)
		return usage_owner();
	ztm_buf_init(&pem, 0);
	if (ztm_file_read(a.anchor, ANCHOR_FILE_MAX, &pem, &err) != 0 ||
	    ztm_client_opts_env(&a.conn, 1, &err) != 0) {
		ztm_buf_free(&pem);
		return cli_fail("owner add", &err);
	}
	j = cli_post_json(
	    &a.conn, "/api/v1/owners",
	    json_pack("{s:s,s:s%}", "name", a.name, "anchor", (const char *)pem.data, pem.len),
	    &err);
	ztm_buf_free(&pem);
	if (j == NULL)
		return cli_fail("owner add", &err);
	return print_json("owner created", j);
}

/* Serials from the command line, or from --file (one a line, blank lines
 * and lines starting with '#' skipped). */
static json_t *serial_list(struct oargs *a, int argc, char **argv, struct ztm_error *err)
{
	json_t *list = json_array();
	struct ztm_buf f;
	char *line, *save = NULL;
	int i;

	ztm_buf_init(&f, 0);
	if (list == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "serial list");
		return NULL;
	}
	for (i = optind; i < argc; i++)
		json_array_append_new(list, json_string(argv[i]));
	if (a->file != NULL) {
		if (ztm_file_read(a->file, SERIAL_FILE_MAX, &f, err) != 0)
			goto fail;
		for (line = strtok_r((char *)ztm_buf_cstr(&f), "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			size_t n = strlen(line);
			if (n > 0 && line[n - 1] == '\r')
				line[--n] = '\0';
			if (n == 0 || line[0] == '#')
				continue;
			json_array_append_new(list, json_string(line));
		}
	}
	if (json_array_size(list) == 0 || json_array_size(list) > TRANSFER_MAX) {
		ztm_error_set(err, ZTM_E_USAGE, "%s: 1..%d device serials, got %zu",
		              a->file != NULL ? a->file : "command line", TRANSFER_MAX,
		              json_array_size(list));
		goto fail;
	}
	ztm_buf_free(&f);
	return list;
fail:
	ztm_buf_free(&f);
	json_decref(list);
	return NULL;
}

/* DIR/<serial>.voucher for each voucher of the reply; every name is checked
 * before anything is written. */
static int write_vouchers(const char *dir, json_t *reply, struct ztm_error *err)
{
	json_t *vs = json_object_get(reply, "vouchers"), *v;
	struct ztm_buf der;
	char path[4096];
	size_t i;
	int rc = -1;

	ztm_buf_init(&der, VOUCHER_DER_MAX);
	if (!json_is_array(vs))
		return ztm_error_set(err, ZTM_E_PARSE, "reply has no vouchers");
	json_array_foreach(vs, i, v)
	{
		const char *sn = json_string_value(json_object_get(v, "serial"));
		if (sn == NULL || !path_safe(sn, 64) ||
		    json_string_value(json_object_get(v, "voucher")) == NULL)
			return ztm_error_set(err, ZTM_E_PARSE,
			                     "reply: voucher %zu has no usable serial", i + 1);
	}
	json_array_foreach(vs, i, v)
	{
		const char *sn = json_string_value(json_object_get(v, "serial"));
		const char *b64 = json_string_value(json_object_get(v, "voucher"));
		ztm_buf_reset(&der);
		if (ztm_b64_decode(b64, strlen(b64), &der) != 0) {
			ztm_error_set(err, ZTM_E_PARSE, "reply: voucher for %s is not base64", sn);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s.voucher", dir, sn);
		if (ztm_file_write(path, der.data, der.len, 0644, 0, err) != 0)
			goto out;
		fprintf(stderr, "%s\n", path);
	}
	rc = 0;
out:
	ztm_buf_free(&der);
	return rc;
}

static int transfer(struct oargs *a, int argc, char **argv)
{
	struct ztm_error err;
	uint64_t days = 0;
	json_t *body, *list, *j;
	struct stat sb;

	if (a->owner == NULL || a->out == NULL ||
	    (a->days != NULL && ztm_parse_u64(a->days, 1, 3650, &days) != 0))
		return usage_device();
	if (stat(a->out, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "--out %s: not a directory", a->out);
		return cli_fail("device transfer", &err);
	}
	if ((list = serial_list(a, argc, argv, &err)) == NULL ||
	    ztm_client_opts_env(&a->conn, 1, &err) != 0) {
		json_decref(list);
		return cli_fail("device transfer", &err);
	}
	body = json_pack("{s:s,s:o}", "owner", a->owner, "devices", list);
	if (body != NULL && a->days != NULL)
		json_object_set_new(body, "days", json_integer((json_int_t)days));
	if ((j = cli_post_json(&a->conn, "/api/v1/devices/transfer", body, &err)) == NULL)
		return cli_fail("device transfer", &err);
	if (write_vouchers(a->out, j, &err) != 0) {
		json_decref(j);
		return cli_fail("device transfer", &err);
	}
	fprintf(stderr, "%zu device(s) transferred to %s\n",
	        json_array_size(json_object_get(j, "vouchers")), a->owner);
	json_decref(j);
	return ZTM_EXIT_OK;
}

int cli_device_owned(int argc, char **argv)
{
	struct oargs a;
	char path[256];
	size_t n;

	if (argc < 2)
		return usage_device();
	if (strcmp(argv[1], "transfer") == 0) {
		if (parse(argc - 1, argv + 1, &a, 1) != 0)
			return usage_device();
		return transfer(&a, argc - 1, argv + 1);
	}
	if (parse(argc - 1, argv + 1, &a, 0) != 0)
		return usage_device();
	if (strcmp(argv[1], "show") == 0) {
		if (a.serial == NULL || !path_safe(a.serial, 64))
			return usage_device();
		snprintf(path, sizeof(path), "/api/v1/devices/%s", a.serial);
		return get_and_print(&a, "device show", path);
	}
	if (strcmp(argv[1], "list") != 0)
		return usage_device();
	n = (size_t)snprintf(path, sizeof(path), "/api/v1/devices?limit=%s",
	                     a.limit != NULL ? a.limit : "100");
	if ((a.owner != NULL && !path_safe(a.owner, 64)) ||
	    (a.limit != NULL && !path_safe(a.limit, 8)) ||
	    (a.after != NULL && !path_safe(a.after, 20)))
		return usage_device();
	if (a.owner != NULL)
		n += (size_t)snprintf(path + n, sizeof(path) - n, "&owner=%s", a.owner);
	if (a.after != NULL)
		snprintf(path + n, sizeof(path) - n, "&after=%s", a.after);
	return get_and_print(&a, "device list", path);
}
