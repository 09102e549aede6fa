/* commands.h - the command groups of the `ztm` command line. Each group
 * lives in its own file and gets argv starting at its own name. */
#ifndef ZTM_CLI_COMMANDS_H
#define ZTM_CLI_COMMANDS_H

struct ztm_cli_group {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* `ztm ceremony` (ceremony.c). */
int ztm_cli_ceremony(int argc, char **argv);

/* Exit statuses scripts can trust (STYLE.md 14). */
enum { ZTM_EXIT_OK = 0, ZTM_EXIT_FAIL = 1, ZTM_EXIT_USAGE = 2 };

#endif
