/* proccpu.c - CPU time of other processes, from /proc (proccpu.h). */
#define _GNU_SOURCE
#include "proccpu.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* utime + stime (fields 14, 15) and the parent (field 4) of pid. */
static int proc_stat(long pid, long *ppid, double *secs)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long pp;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (p == NULL || sscanf(p + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	                        &pp, &ut, &st) != 3)
		return -1;
	*ppid = pp;
	*secs = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

int proccpu_find(const long *master, int nmaster, struct proccpu *c)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long ppid;
	double s;
	int i;

	c->n = 0;
	for (i = 0; i < nmaster && c->n < PROCCPU_MAX_PIDS; i++)
		c->pid[c->n++] = master[i];
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL && c->n < PROCCPU_MAX_PIDS) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || proc_stat(pid, &ppid, &s) != 0)
			continue;
		for (i = 0; i < nmaster; i++)
			if (ppid == master[i] && pid != master[i]) {
				c->pid[c->n++] = pid;
				break;
			}
	}
	closedir(d);
	return 0;
}

int proccpu_read(struct proccpu *c)
{
	long ppid;
	double s;
	int i;

	c->secs = 0;
	for (i = 0; i < c->n; i++) {
		if (proc_stat(c->pid[i], &ppid, &s) != 0)
			return -1;
		c->secs += s;
	}
	return 0;
}

double proccpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
