/* prod_cmd.c - `ztm product add|create|set|show` and `ztm order add|show|close`: the
 * production plan over the admin API (docs/api.md). Replies are printed as
 * JSON on stdout; what happened goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "ztm/str.h"

static int usage_product(void)
{
	fprintf(
	    stderr,
	    "usage: ztm product add|create --name N --class C --hw-type OID [--lifetime-days D]\n"
	    "         [--key-types p256,p384,ed25519,rsa3072] [--require-fw-hash]\n"
	    "         [--allow-injected] [--renew-window-days W] [--renew-grace-days G]\n"
	    "         [--key-storage any|tpm] [connection]\n"
	    "         defaults: --lifetime-days 3650, --key-types p256,\n"
	    "         --renew-window-days 30, --renew-grace-days 0, --key-storage any\n"
	    "       ztm product set --name N [--lifetime-days D] [--renew-window-days W]\n"
	    "         [--renew-grace-days G] [--key-storage any|tpm] [connection]\n"
	    "       ztm product show --name N [connection]\n"
	    "  W: a device renews in the last W days of its certificate; G: up to G\n"
	    "  days after it expired (0: an expired certificate never renews).\n"
	    "  --key-storage tpm: devices register only with a key a TPM attests\n"
	    "  (docs/attestation.md); set on a product, it applies to registrations\n"
	    "  from then on.\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

static int usage_order(void)
{
	fprintf(stderr, "usage: ztm order add --name N --product P --factory F --quota Q\n"
	                "         [--not-before T] --not-after T [connection]\n"
	                "         T: Unix seconds or RFC 3339 UTC (2025-01-31T00:00:00Z);\n"
	                "         --not-before defaults to now\n"
	                "       ztm order show --name N [connection]\n"
	                "       ztm order close --name N [connection]\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

struct pargs {
	struct ztm_client_opts conn;
	const char *name, *cls, *hw_type, *lifetime, *key_types, *product, *factory, *quota,
	    *not_before, *not_after, *window, *grace, *key_storage;
	int require_fw_hash, allow_injected;
};

static int parse(int argc, char **argv, struct pargs *a)
{
	static const struct option opts[] = {
	    CLI_CONN_OPTIONS,
	    {"name", required_argument, NULL, 'n'},
	    {"class", required_argument, NULL, 'c'},
	    {"hw-type", required_argument, NULL, 'w'},
	    {"lifetime-days", required_argument, NULL, 'l'},
	    {"key-types", required_argument, NULL, 'k'},
	    {"require-fw-hash", no_argument, NULL, 'F'},
	    {"allow-injected", no_argument, NULL, 'I'},
	    {"product", required_argument, NULL, 'p'},
	    {"factory", required_argument, NULL, 'f'},
	    {"quota", required_argument, NULL, 'q'},
	    {"not-before", required_argument, NULL, 'b'},
	    {"not-after", required_argument, NULL, 'a'},
	    {"renew-window-days", required_argument, NULL, 'W'},
	    {"renew-grace-days", required_argument, NULL, 'G'},
	    {"key-storage", required_argument, NULL, 'S'},
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
		case 'c':
			a->cls = optarg;
			break;
		case 'w':
			a->hw_type = optarg;
			break;
		case 'l':
			a->lifetime = optarg;
			break;
		case 'k':
			a->key_types = optarg;
			break;
		case 'F':
			a->require_fw_hash = 1;
			break;
		case 'I':
			a->allow_injected = 1;
			break;
		case 'p':
			a->product = optarg;
			break;
		case 'f':
			a->factory = optarg;
			break;
		case 'q':
			a->quota = optarg;
			break;
		case 'b':
			a->not_before = optarg;
			break;
		case 'a':
			a->not_after = optarg;
			break;
		case 'W':
			a->window = optarg;
			break;
		case 'G':
			a->grace = optarg;
			break;
		case 'S':
			a->key_storage = optarg;
			break;
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

/* A name that is safe in a URL path: the server's name alphabet. */
static int path_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return i >= 1 && i <= 64;
}

/* "p256,ed25519" -> ["p256", "ed25519"] */
static json_t *key_list(const char *s)
{
	json_t *arr = json_array();
	const char *p = s, *comma;
	char one[32];

	while (arr != NULL) {
		size_t n;
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n >= sizeof(one))
			n = sizeof(one) - 1; /* the server refuses it by name */
		memcpy(one, p, n);
		one[n] = '\0';
		json_array_append_new(arr, json_string(one));
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return arr;
}

static int print_reply(const char *what, json_t *j)
{
	if (what != NULL)
		fprintf(stderr, "%s\n", what);
	json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(j);
	return ZTM_EXIT_OK;
}

/* GET prefix/<name> */
static int show(struct pargs *a, const char *cmd, const char *prefix)
{
	struct ztm_error err;
	char path[128];
	json_t *j;

	snprintf(path, sizeof(path), "%s%s", prefix, a->name);
	j = cli_get_json(&a->conn, path, &err);
	if (j == NULL)
		return cli_fail(cmd, &err);
	return print_reply(NULL, j);
}

/* The policy options present into body; -1 with a message on one that is
 * not a number. The server judges the ranges (and says them). */
static int policy_fields(const struct pargs *a, const char *cmd, json_t *body)
{
	const struct {
		const char *val, *opt, *field;
		uint64_t min, max;
	} f[] = {
	    {a->lifetime, "--lifetime-days", "lifetime_days", 0, 1000000},
	    {a->window, "--renew-window-days", "renew_window_days", 0, 1000000},
	    {a->grace, "--renew-grace-days", "renew_grace_days", 0, 1000000},
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i].val == NULL)
			continue;
		if (ztm_parse_u64(f[i].val, f[i].min, f[i].max, &v) != 0) {
			fprintf(stderr, "ztm product %s: %s wants a number of days in %llu..%llu\n",
			        cmd, f[i].opt, (unsigned long long)f[i].min,
			        (unsigned long long)f[i].max);
			return -1;
		}
		if (body != NULL)
			json_object_set_new(body, f[i].field, json_integer((json_int_t)v));
	}
	return 0;
}

/* --key-storage is refused here by name, before any connection (the
 * server refuses it too). */
static int key_storage_ok(const struct pargs *a, const char *cmd)
{
	if (a->key_storage == NULL || strcmp(a->key_storage, "any") == 0 ||
	    strcmp(a->key_storage, "tpm") == 0)
		return 0;
	fprintf(stderr, "ztm product %s: --key-storage wants 'any' or 'tpm', not '%.32s'\n", cmd,
	        a->key_storage);
	return -1;
}

int cmd_product(int argc, char **argv)
{
	struct pargs a;
	struct ztm_error err;
	json_t *body, *j;
	char path[128];

	if (argc < 2 || parse(argc - 1, argv + 1, &a) != 0 || a.name == NULL)
		return usage_product();
	if (strcmp(argv[1], "show") == 0) {
		if (!path_name(a.name))
			return usage_product();
		if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
			return cli_fail("product show", &err);
		return show(&a, "product show", "/api/v1/products/");
	}
	if (strcmp(argv[1], "set") == 0) {
		if (!path_name(a.name) || a.cls != NULL || a.hw_type != NULL ||
		    a.key_types != NULL || a.require_fw_hash || a.allow_injected ||
		    (a.lifetime == NULL && a.window == NULL && a.grace == NULL &&
		     a.key_storage == NULL))
			return usage_product();
		if (policy_fields(&a, "set", NULL) != 0 || key_storage_ok(&a, "set") != 0)
			return ZTM_EXIT_USAGE;
		if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
			return cli_fail("product set", &err);
		body = json_object();
		if (body != NULL)
			policy_fields(&a, "set", body);
		if (body != NULL && a.key_storage != NULL)
			json_object_set_new(body, "key_storage", json_string(a.key_storage));
		snprintf(path, sizeof(path), "/api/v1/products/%s/policy", a.name);
		j = cli_post_json(&a.conn, path, body, &err);
		if (j == NULL)
			return cli_fail("product set", &err);
		return print_reply("product policy set", j);
	}
	if ((strcmp(argv[1], "add") != 0 && strcmp(argv[1], "create") != 0) || a.cls == NULL ||
	    a.hw_type == NULL)
		return usage_product();
	if (policy_fields(&a, "add", NULL) != 0 || key_storage_ok(&a, argv[1]) != 0)
		return ZTM_EXIT_USAGE;
	if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
		return cli_fail("product add", &err);
	body = json_pack("{s:s,s:s,s:s,s:b,s:b}", "name", a.name, "device_class", a.cls,
	                 "hw_type_oid", a.hw_type, "require_fw_hash", a.require_fw_hash,
	                 "allow_injected", a.allow_injected);
	if (body != NULL)
		policy_fields(&a, "add", body);
	if (body != NULL && a.key_types != NULL)
		json_object_set_new(body, "key_types", key_list(a.key_types));
	if (body != NULL && a.key_storage != NULL)
		json_object_set_new(body, "key_storage", json_string(a.key_storage));
	j = cli_post_json(&a.conn, "/api/v1/products", body, &err);
	if (j == NULL)
		return cli_fail("product add", &err);
	return print_reply("product created", j);
}

int cmd_order(int argc, char **argv)
{
	struct pargs a;
	struct ztm_error err;
	char path[128];
	json_t *body, *j;
	uint64_t quota;

	if (argc < 2 || parse(argc - 1, argv + 1, &a) != 0 || a.name == NULL)
		return usage_order();
	if (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "close") == 0) {
		if (!path_name(a.name))
			return usage_order();
		if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
			return cli_fail("order", &err);
		if (argv[1][0] == 's')
			return show(&a, "order show", "/api/v1/orders/");
		snprintf(path, sizeof(path), "/api/v1/orders/%s/close", a.name);
		j = cli_post_json(&a.conn, path, json_object(), &err);
		if (j == NULL)
			return cli_fail("order close", &err);
		return print_reply("order closed", j);
	}
	if (strcmp(argv[1], "add") != 0 || a.product == NULL || a.factory == NULL ||
	    a.quota == NULL || a.not_after == NULL)
		return usage_order();
	if (ztm_parse_u64(a.quota, 0, (uint64_t)1 << 53, &quota) != 0) {
		fprintf(stderr, "ztm order add: --quota wants a number\n");
		return ZTM_EXIT_USAGE;
	}
	if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
		return cli_fail("order add", &err);
	body = json_pack("{s:s,s:s,s:s,s:I,s:o}", "name", a.name, "product", a.product, "factory",
	                 a.factory, "quota", (json_int_t)quota, "not_after",
	                 cli_json_time(a.not_after));
	if (body != NULL && a.not_before != NULL)
		json_object_set_new(body, "not_before", cli_json_time(a.not_before));
	j = cli_post_json(&a.conn, "/api/v1/orders", body, &err);
	if (j == NULL)
		return cli_fail("order add", &err);
	return print_reply("order created", j);
}
