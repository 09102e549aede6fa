/* main.c - ztmd entry point: ztmd --config FILE [--port-file F] [--check]. */
#include <stdio.h>
#include <string.h>

#include "server.h"

static int usage(void)
{
	fprintf(stderr, "usage: ztmd --config FILE [--port-file FILE] [--check]\n"
	                "  --check       validate the configuration and TLS material, then exit\n"
	                "  --port-file   write the bound TCP port there (for listen = host:0)\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *config = NULL, *port_file = NULL;
	int check = 0, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
			port_file = argv[++i];
		else if (strcmp(argv[i], "--check") == 0)
			check = 1;
		else
			return usage();
	}
	if (config == NULL)
		return usage();
	return ztmd_main(config, port_file, check);
}
