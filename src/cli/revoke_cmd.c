/* revoke_cmd.c - `ztm cert revoke`, `ztm device revoke|suspend|resume` and
 * `ztm revocation request|approve|reject|show`: revocation over the admin
 * API (docs/revocation.md, docs/api.md). Replies are printed as JSON on
 * stdout; what happened goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "ztm/str.h"

#define REASONS                                                                                    \
	"  R: unspecified (default), keyCompromise, cACompromise, affiliationChanged,\n"           \
	"     superseded, cessationOfOperation, privilegeWithdrawn, aACompromise\n"

static int usage_cert(void)
{
	fprintf(stderr, "usage: ztm cert revoke SERIAL [--reason R] [connection]\n" REASONS
	                "  SERIAL: the certificate serial in hex\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

static int usage_device(void)
{
	fprintf(stderr, "usage: ztm device revoke SERIAL [--reason R] [connection]\n"
	                "       ztm device suspend SERIAL [connection]\n"
	                "       ztm device resume SERIAL [connection]\n" REASONS
	                "  SERIAL: the device serial number\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

static int usage_revocation(void)
{
	fprintf(
	    stderr,
	    "usage: ztm revocation request (--station FACTORY/NAME | --order ORDER)\n"
	    "         --from T --to T --reason R [connection]\n"
	    "       ztm revocation approve ID [connection]   (another security officer)\n"
	    "       ztm revocation reject ID [connection]\n"
	    "       ztm revocation show ID [connection]\n"
	    "  T: Unix seconds or RFC 3339 UTC; the window is on the records' recorded_at\n" REASONS
	    "\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

struct rargs {
	struct ztm_client_opts conn;
	const char *reason, *station, *order, *from, *to;
	const char *arg; /* the positional SERIAL or ID */
};

static int parse(int argc, char **argv, struct rargs *a)
{
	static const struct option opts[] = {
	    CLI_CONN_OPTIONS,
	    {"reason", required_argument, NULL, 'r'},
	    {"station", required_argument, NULL, 's'},
	    {"order", required_argument, NULL, 'o'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
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
		case 'r':
			a->reason = optarg;
			break;
		case 's':
			a->station = optarg;
			break;
		case 'o':
			a->order = optarg;
			break;
		case 'f':
			a->from = optarg;
			break;
		case 't':
			a->to = optarg;
			break;
		default:
			return -1;
		}
	}
	if (optind < argc)
		a->arg = argv[optind++];
	return optind == argc ? 0 : -1;
}

/* A path segment: what the server accepts in a serial (it checks again). */
static int path_ok(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0'; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return s != NULL && i >= 1 && i <= 64;
}

static int post(struct rargs *a, const char *cmd, const char *path, json_t *body, const char *what)
{
	struct ztm_error err;
	json_t *j;

	if (ztm_client_opts_env(&a->conn, 1, &err) != 0) {
		json_decref(body);
		return cli_fail(cmd, &err);
	}
	j = cli_post_json(&a->conn, path, body, &err);
	if (j == NULL)
		return cli_fail(cmd, &err);
	fprintf(stderr, "%s\n", what);
	json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(j);
	return ZTM_EXIT_OK;
}

static json_t *reason_body(const char *reason)
{
	json_t *j = json_object();

	if (j != NULL && reason != NULL)
		json_object_set_new(j, "reason", json_string(reason));
	return j;
}

int cmd_cert(int argc, char **argv)
{
	struct rargs a;
	char path[128];

	if (argc < 2 || strcmp(argv[1], "revoke") != 0 || parse(argc - 1, argv + 1, &a) != 0 ||
	    !path_ok(a.arg) || a.station != NULL || a.order != NULL || a.from != NULL ||
	    a.to != NULL)
		return usage_cert();
	snprintf(path, sizeof(path), "/api/v1/certificates/%s/revoke", a.arg);
	return post(&a, "cert revoke", path, reason_body(a.reason), "certificate revoked");
}

int cli_device_revocation(int argc, char **argv)
{
	struct rargs a;
	char path[128];
	const char *op;

	if (argc < 2 || parse(argc - 1, argv + 1, &a) != 0 || !path_ok(a.arg) ||
	    a.station != NULL || a.order != NULL || a.from != NULL || a.to != NULL)
		return usage_device();
	op = argv[1];
	if (strcmp(op, "revoke") != 0 && strcmp(op, "suspend") != 0 && strcmp(op, "resume") != 0)
		return usage_device();
	if (strcmp(op, "revoke") != 0 && a.reason != NULL)
		return usage_device();
	snprintf(path, sizeof(path), "/api/v1/devices/%s/%s", a.arg, op);
	return post(&a,
	            op[0] == 'r' && op[2] == 'v' ? "device revoke"
	            : op[0] == 's'               ? "device suspend"
	                                         : "device resume",
	            path, reason_body(a.reason),
	            op[2] == 'v'   ? "device revoked: every certificate of it is listed"
	            : op[0] == 's' ? "device suspended (certificateHold)"
	                           : "device resumed");
}

int cmd_revocation(int argc, char **argv)
{
	struct rargs a;
	struct ztm_error err;
	uint64_t id;
	char path[128];
	json_t *body, *j;

	if (argc < 2 || parse(argc - 1, argv + 1, &a) != 0)
		return usage_revocation();
	if (strcmp(argv[1], "request") == 0) {
		if (a.arg != NULL || (a.station == NULL) == (a.order == NULL) || a.from == NULL ||
		    a.to == NULL || a.reason == NULL)
			return usage_revocation();
		body = json_pack("{s:o,s:o,s:s}", "from", cli_json_time(a.from), "to",
		                 cli_json_time(a.to), "reason", a.reason);
		if (body != NULL)
			json_object_set_new(body, a.station != NULL ? "station" : "order",
			                    json_string(a.station != NULL ? a.station : a.order));
		return post(&a, "revocation request", "/api/v1/revocations", body,
		            "mass revocation requested: another security officer must approve it");
	}
	if (a.arg == NULL || ztm_parse_u64(a.arg, 1, (uint64_t)1 << 53, &id) != 0 ||
	    a.station != NULL || a.order != NULL || a.from != NULL || a.to != NULL ||
	    a.reason != NULL)
		return usage_revocation();
	if (strcmp(argv[1], "show") == 0) {
		if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
			return cli_fail("revocation show", &err);
		snprintf(path, sizeof(path), "/api/v1/revocations/%llu", (unsigned long long)id);
		j = cli_get_json(&a.conn, path, &err);
		if (j == NULL)
			return cli_fail("revocation show", &err);
		json_dumpf(j, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(j);
		return ZTM_EXIT_OK;
	}
	if (strcmp(argv[1], "approve") != 0 && strcmp(argv[1], "reject") != 0)
		return usage_revocation();
	snprintf(path, sizeof(path), "/api/v1/revocations/%llu/%s", (unsigned long long)id,
	         argv[1]);
	return post(&a, argv[1][0] == 'a' ? "revocation approve" : "revocation reject", path,
	            json_object(),
	            argv[1][0] == 'a' ? "mass revocation approved and executed"
	                              : "mass revocation rejected");
}
