/* admin_cmd.c - `ztm factory|station|operator`: administration over mTLS
 * and enrollment with a one-time code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_common.h"
#include "est_client.h"
#include "station_queue.h"
#include "ztm/file.h"

static int usage_factory(void)
{
	fprintf(stderr, "usage: ztm factory add --name NAME [connection]\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

static int usage_station(void)
{
	fprintf(stderr,
	        "usage: ztm station add --factory F --name S [connection]\n"
	        "         prints the station's one-time enrollment code on stdout\n"
	        "       ztm station show --factory F --name S [connection]\n"
	        "       ztm station revoke --factory F --name S [--since T] [--reason R]\n"
	        "         [connection]\n"
	        "         refuses the station's certificate at once; records it made at or\n"
	        "         after T no longer vet (T: Unix seconds or RFC 3339 UTC, not in the\n"
	        "         future; default now). R: the RFC 5280 reason its certificates are\n"
	        "         revoked with (default privilegeWithdrawn; keyCompromise for a\n"
	        "         stolen station)\n"
	        "       ztm station enroll --name S (--code-file FILE | env ZTM_ENROLL_CODE)\n"
	        "         --key KEY-URI [--key-pass-file FILE] [--alg p256|p384|ed25519|rsa3072]\n"
	        "         --out STATION.crt --server URL --ca CHAIN.pem\n"
	        "       ztm station record --queue DIR ...   (ztm station record --help)\n"
	        "       ztm station sync --queue DIR ...     (ztm station sync --help)\n"
	        "       ztm station inject --queue DIR ...   (ztm station inject "
	        "--help)\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

static int usage_operator(void)
{
	fprintf(stderr,
	        "usage: ztm operator add --name N --role ROLE [--owner O] [connection]\n"
	        "         ROLE: admin security-officer planner firmware-signer release-approver "
	        "auditor owner\n"
	        "         (role owner: an owner's operator, bound to owner O)\n"
	        "         prints the operator's one-time enrollment code on stdout\n"
	        "       ztm operator enroll --name N (--code-file FILE | env ZTM_ENROLL_CODE)\n"
	        "         --key KEY-URI [--key-pass-file FILE] --out OPERATOR.crt --server URL "
	        "--ca CHAIN.pem\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

struct args {
	struct ztm_client_opts conn;
	const char *name, *factory, *role, *code_file, *out, *alg, *since, *owner, *reason;
};

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
	    CLI_CONN_OPTIONS,
	    {"name", required_argument, NULL, 'n'},
	    {"factory", required_argument, NULL, 'f'},
	    {"role", required_argument, NULL, 'r'},
	    {"code-file", required_argument, NULL, 'c'},
	    {"out", required_argument, NULL, 'o'},
	    {"alg", required_argument, NULL, 'a'},
	    {"since", required_argument, NULL, 's'},
	    {"reason", required_argument, NULL, 'R'},
	    {"owner", required_argument, NULL, 'O'},
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
		case 'f':
			a->factory = optarg;
			break;
		case 'r':
			a->role = optarg;
			break;
		case 'c':
			a->code_file = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'a':
			a->alg = optarg;
			break;
		case 's':
			a->since = optarg;
			break;
		case 'O':
			a->owner = optarg;
			break;
		case 'R':
			a->reason = optarg;
			break;
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

/* Prints the one-time code alone on stdout (for scripts), the rest on stderr. */
static int print_created(const char *what, json_t *j)
{
	const char *code = json_string_value(json_object_get(j, "code"));

	fprintf(stderr, "%s created (id %lld)", what,
	        (long long)json_integer_value(json_object_get(j, "id")));
	if (code != NULL) {
		time_t t = (time_t)json_integer_value(json_object_get(j, "expires_at"));
		struct tm tm;
		char when[32] = "?";
		if (gmtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(stderr, "; one-time enrollment code (stdout) expires %s\n", when);
		printf("%s\n", code);
	} else {
		fprintf(stderr, "\n");
	}
	json_decref(j);
	return ZTM_EXIT_OK;
}

int cmd_factory(int argc, char **argv)
{
	struct args a;
	struct ztm_error err;
	json_t *j;

	if (argc < 2 || strcmp(argv[1], "add") != 0 || parse(argc - 1, argv + 1, &a) != 0 ||
	    a.name == NULL)
		return usage_factory();
	if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
		return cli_fail("factory add", &err);
	j = cli_post_json(&a.conn, "/api/v1/factories", json_pack("{s:s}", "name", a.name), &err);
	if (j == NULL)
		return cli_fail("factory add", &err);
	return print_created("factory", j);
}

static int enroll(const char *cmd, const char *label, struct args *a)
{
	struct cli_enroll e;
	struct ztm_buf code;
	struct ztm_error err;
	const char *env = getenv("ZTM_ENROLL_CODE");
	int rc;

	memset(&e, 0, sizeof(e));
	ztm_buf_init(&code, 4096);
	if (a->name == NULL || a->out == NULL || a->conn.key_uri == NULL ||
	    (a->code_file == NULL && env == NULL))
		return ZTM_EXIT_USAGE;
	if (a->alg != NULL && ztm_key_alg_parse(a->alg, &e.alg) != 0) {
		fprintf(stderr, "ztm %s: unknown --alg '%s'\n", cmd, a->alg);
		return ZTM_EXIT_USAGE;
	}
	if (a->alg == NULL)
		e.alg = ZTM_KEY_P256;
	if (a->code_file != NULL) {
		if (ztm_secret_read(a->code_file, &code, &err) != 0)
			return cli_fail(cmd, &err);
		e.code = (const char *)code.data;
	} else {
		e.code = env;
	}
	e.name = a->name;
	e.key_uri = a->conn.key_uri;
	e.key_pass_file = a->conn.key_pass_file;
	e.out = a->out;
	e.label = label;
	/* No client certificate yet: the code is the credential. */
	a->conn.cert_file = NULL;
	a->conn.key_uri = NULL;
	if (ztm_client_opts_env(&a->conn, 0, &err) != 0) {
		ztm_buf_free(&code);
		return cli_fail(cmd, &err);
	}
	a->conn.cert_file = NULL;
	a->conn.key_uri = NULL;
	rc = cli_est_enroll(&a->conn, &e, &err);
	ztm_buf_free(&code);
	if (rc != 0)
		return cli_fail(cmd, &err);
	fprintf(stderr, "enrolled: certificate written to %s\n", a->out);
	return ZTM_EXIT_OK;
}

static int station_revoke(struct args *a)
{
	struct ztm_error err;
	char path[300], when[32] = "?";
	json_t *body, *j;
	time_t t;
	struct tm tm;

	if (snprintf(path, sizeof(path), "/api/v1/stations/%s/%s/revoke", a->factory, a->name) >=
	    (int)sizeof(path))
		return usage_station();
	body = json_object();
	if (body != NULL && a->since != NULL)
		json_object_set_new(body, "since", cli_json_time(a->since));
	if (body != NULL && a->reason != NULL)
		json_object_set_new(body, "reason", json_string(a->reason));
	j = cli_post_json(&a->conn, path, body, &err);
	if (j == NULL)
		return cli_fail("station revoke", &err);
	t = (time_t)json_integer_value(json_object_get(j, "revoked_at"));
	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr,
	        "station %s/%s revoked: its certificate is refused; records it made at or "
	        "after %s no longer vet\n",
	        a->factory, a->name, when);
	json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(j);
	return ZTM_EXIT_OK;
}

int cmd_station(int argc, char **argv)
{
	struct args a;
	struct ztm_error err;
	json_t *j;
	char path[300];

	/* The station's own queue commands (station_record.c, station_sync.c,
	 * station_inject.c). */
	if (argc >= 2 && strcmp(argv[1], "record") == 0)
		return station_record(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "sync") == 0)
		return station_sync(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "inject") == 0)
		return station_inject(argc - 1, argv + 1);
	if (argc < 2 || parse(argc - 1, argv + 1, &a) != 0)
		return usage_station();
	if (strcmp(argv[1], "enroll") == 0) {
		int rc = enroll("station enroll", "station", &a);
		return rc == ZTM_EXIT_USAGE ? usage_station() : rc;
	}
	if (a.factory == NULL || a.name == NULL ||
	    (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "show") != 0 &&
	     strcmp(argv[1], "revoke") != 0) ||
	    ((a.since != NULL || a.reason != NULL) && strcmp(argv[1], "revoke") != 0))
		return usage_station();
	if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
		return cli_fail("station", &err);
	if (strcmp(argv[1], "revoke") == 0)
		return station_revoke(&a);
	if (strcmp(argv[1], "add") == 0) {
		j = cli_post_json(&a.conn, "/api/v1/stations",
		                  json_pack("{s:s,s:s}", "factory", a.factory, "name", a.name),
		                  &err);
		if (j == NULL)
			return cli_fail("station add", &err);
		return print_created("station", j);
	}
	if (snprintf(path, sizeof(path), "/api/v1/stations/%s/%s", a.factory, a.name) >=
	    (int)sizeof(path))
		return usage_station();
	j = cli_get_json(&a.conn, path, &err);
	if (j == NULL)
		return cli_fail("station show", &err);
	json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(j);
	return ZTM_EXIT_OK;
}

int cmd_operator(int argc, char **argv)
{
	struct args a;
	struct ztm_error err;
	json_t *j, *body;

	if (argc < 2 || parse(argc - 1, argv + 1, &a) != 0)
		return usage_operator();
	if (strcmp(argv[1], "enroll") == 0) {
		int rc = enroll("operator enroll", "operator", &a);
		return rc == ZTM_EXIT_USAGE ? usage_operator() : rc;
	}
	if (strcmp(argv[1], "add") != 0 || a.name == NULL || a.role == NULL)
		return usage_operator();
	if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
		return cli_fail("operator add", &err);
	body = json_pack("{s:s,s:s}", "name", a.name, "role", a.role);
	if (body != NULL && a.owner != NULL)
		json_object_set_new(body, "owner", json_string(a.owner));
	j = cli_post_json(&a.conn, "/api/v1/operators", body, &err);
	if (j == NULL)
		return cli_fail("operator add", &err);
	return print_created("operator", j);
}
