/* device_cmd.c - `ztm device`: the dispatcher, and `ztm device retire
 * SERIAL`: end of life over the admin API (docs/lifecycle.md, docs/api.md). Every certificate of
 * the device is revoked (cessationOfOperation) and it is refused forever after. The reply is
 * printed as JSON on stdout; what happened goes to stderr. */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"
#include "ztm/batch.h"

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: ztm device list|show|transfer ...   (ztm device list --help)\n"
	    "       ztm device revoke|suspend|resume ... (ztm device revoke --help)\n"
	    "       ztm device retire SERIAL [connection]\n"
	    "  retire: revokes every certificate of the device (cessationOfOperation);\n"
	    "  its registration and re-enrollment are refused forever after.\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

static int device_retire(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_CONN_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ztm_client_opts conn;
	struct ztm_error err;
	const char *serial;
	char path[128];
	json_t *j;
	int c;

	memset(&conn, 0, sizeof(conn));
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1)
		if (!cli_conn_option(c, &conn))
			return usage();
	if (optind != argc - 2)
		return usage();
	serial = argv[1 + optind];
	/* The serial goes into a URL path: the record's serial alphabet only. */
	if (!ztm_record_valid_serial(serial)) {
		fprintf(stderr, "ztm device retire: '%.64s' is not a device serial\n", serial);
		return ZTM_EXIT_USAGE;
	}
	if (ztm_client_opts_env(&conn, 1, &err) != 0)
		return cli_fail("device retire", &err);
	snprintf(path, sizeof(path), "/api/v1/devices/%s/retire", serial);
	j = cli_post_json(&conn, path, json_object(), &err);
	if (j == NULL)
		return cli_fail("device retire", &err);
	fprintf(stderr, "device %s retired\n", serial);
	json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(j);
	return ZTM_EXIT_OK;
}

int cmd_device(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "retire") == 0)
		return device_retire(argc, argv);
	if (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "show") == 0 ||
	    strcmp(argv[1], "transfer") == 0)
		return cli_device_owned(argc, argv);
	if (strcmp(argv[1], "revoke") == 0 || strcmp(argv[1], "suspend") == 0 ||
	    strcmp(argv[1], "resume") == 0)
		return cli_device_revocation(argc, argv);
	return usage();
}
