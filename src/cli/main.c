/* main.c - `ztm`: dispatches to a command group. */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"

static const struct ztm_cli_group groups[] = {
    {"ceremony", "offline root key ceremony (init, verify, split, combine, issue-ca)",
     ztm_cli_ceremony},
    {"server", "set up a ztmd deployment from a ceremony directory", cmd_server},
    {"factory", "add factories (admin API)", cmd_factory},
    {"station", "add, show and enroll factory stations", cmd_station},
    {"operator", "add and enroll operators", cmd_operator},
    {"product", "add, set and show products (admin API)", cmd_product},
    {"order", "add, show and close work orders (admin API)", cmd_order},
    {"owner", "add, list and show owners (customers) and their trust anchors", cmd_owner},
    {"device", "list, show, transfer (vouchers), revoke, suspend, resume and retire devices",
     cmd_device},
    {"cert", "revoke a certificate (admin API)", cmd_cert},
    {"revocation", "mass revocation by station or work order, two-person approved", cmd_revocation},
    {"firmware", "sign, approve, verify, list, show and revoke firmware releases; signers",
     cmd_firmware},
    {"demo", "run a whole factory on the embedded defaults, attacks included", cmd_demo},
    {NULL, NULL, NULL},
};

static int usage(void)
{
	const struct ztm_cli_group *g;

	fprintf(stderr, "usage: ztm <command> [args]\n\ncommands:\n");
	for (g = groups; g->name != NULL; g++)
		fprintf(stderr, "  %-10s %s\n", g->name, g->summary);
	fprintf(stderr, "\n'ztm <command> --help' describes a command.\n");
	return ZTM_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const struct ztm_cli_group *g;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return usage();
	for (g = groups; g->name != NULL; g++)
		if (strcmp(argv[1], g->name) == 0)
			return g->run(argc - 1, argv + 1);
	fprintf(stderr, "ztm: unknown command '%s'\n", argv[1]);
	return usage();
}
