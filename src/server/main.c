/* main.c - ztmd entry point. */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "ztmd: server not built yet\n");
	return 1;
}
