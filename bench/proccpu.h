/* proccpu.h - CPU time of other processes, from /proc, for the benchmarks
 * that measure a server's CPU per operation (bench_register).
 *
 * A group is a set of "master" pids and their children as found when
 * proccpu_find runs (ztmd's workers and checkpointer, PostgreSQL's
 * backends). proccpu_read sums utime + stime over that set.
 */
#ifndef ZTM_BENCH_PROCCPU_H
#define ZTM_BENCH_PROCCPU_H

#define PROCCPU_MAX_PIDS 64

struct proccpu {
	int n;
	long pid[PROCCPU_MAX_PIDS];
	double secs; /* utime + stime of all of them, after proccpu_read */
};

/* The masters and their children, found now; -1 if /proc cannot be read. */
int proccpu_find(const long *master, int nmaster, struct proccpu *c);
/* Sum over the pids found; -1 if one of them is gone (a worker died: the
 * figure would be wrong). */
int proccpu_read(struct proccpu *c);
/* This process's own utime + stime, in seconds. */
double proccpu_self(void);

#endif
