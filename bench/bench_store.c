/* bench_store.c - what a durable commit costs in the SQLite store, and what
 * group commit buys (docs/store.md, "Transactions and group commit").
 *
 *   bench_store [seconds-per-case]     (default 2)
 *
 * On a temporary file: single-row commits (one audit row, its own
 * transaction: commits/s), then run_batch with 1, 16 and 256 jobs of
 * reserve+issue each (one savepoint per job, one fsync per batch: rows/s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ztm/store.h"
#include "ztm/str.h"

struct job_arg {
	char serial[ZTM_SERIAL_HEX_MAX];
};

static uint64_t next_serial = 0x4000000000000000ull;
static const uint8_t fake_der[700]; /* about an IDevID certificate */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int reserve_issue(struct ztm_store *s, void *varg, struct ztm_error *err)
{
	struct job_arg *a = varg;
	struct ztm_cert_row row;
	int rc;

	ztm_cert_row_init(&row);
	ztm_strlcpy(row.serial, a->serial, sizeof(row.serial));
	ztm_strlcpy(row.ca, "device", sizeof(row.ca));
	ztm_strlcpy(row.profile, "idevid", sizeof(row.profile));
	ztm_strlcpy(row.subject, "serialNumber=SN,O=Acme", sizeof(row.subject));
	ztm_strlcpy(row.spki_sha256, a->serial, sizeof(row.spki_sha256));
	ztm_strlcpy(row.owner_kind, "device", sizeof(row.owner_kind));
	rc = ztm_store_cert_reserve(s, &row, err);
	if (rc == 0)
		rc = ztm_store_cert_issue(s, a->serial, fake_der, sizeof(fake_der), err);
	ztm_cert_row_free(&row);
	return rc;
}

static int bench_single(struct ztm_store *s, double secs)
{
	struct ztm_error err;
	double t0 = now_s(), t;
	long n = 0;

	do {
		if (ztm_store_audit(s, "bench", "commit", "", "ok", "", &err) != 0) {
			fprintf(stderr, "bench_store: %s\n", ztm_error_msg(&err));
			return -1;
		}
		n++;
		t = now_s() - t0;
	} while (t < secs);
	printf("single-row commits          %10.0f commits/s\n", (double)n / t);
	return 0;
}

static int bench_batch(struct ztm_store *s, size_t size, double secs)
{
	struct ztm_store_job *jobs = calloc(size, sizeof(*jobs));
	struct job_arg *args = calloc(size, sizeof(*args));
	struct ztm_error err;
	double t0 = now_s(), t;
	long rows = 0, batches = 0;
	size_t i;
	int ret = -1;

	if (jobs == NULL || args == NULL)
		goto out;
	do {
		for (i = 0; i < size; i++) {
			uint8_t b[8];
			uint64_t v = next_serial++;
			int k;
			for (k = 7; k >= 0; k--, v >>= 8)
				b[k] = (uint8_t)v;
			ztm_hex(b, sizeof(b), args[i].serial);
			jobs[i].fn = reserve_issue;
			jobs[i].arg = &args[i];
		}
		if (ztm_store_run_batch(s, jobs, size, &err) != 0) {
			fprintf(stderr, "bench_store: %s\n", ztm_error_msg(&err));
			goto out;
		}
		for (i = 0; i < size; i++) {
			if (jobs[i].rc != 0) {
				fprintf(stderr, "bench_store: %s\n", ztm_error_msg(&jobs[i].err));
				goto out;
			}
		}
		rows += (long)size;
		batches++;
		t = now_s() - t0;
	} while (t < secs);
	printf("batch of %3zu reserve+issue %10.0f rows/s  (%.0f commits/s)\n", size,
	       (double)rows / t, (double)batches / t);
	ret = 0;
out:
	free(jobs);
	free(args);
	return ret;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {1, 16, 256};
	char dir[] = "/tmp/ztm-bench-store-XXXXXX";
	char path[96], url[112], p[128];
	struct ztm_store *s = NULL;
	struct ztm_error err;
	double secs = 2.0;
	int v, rc = 1;
	size_t i;

	if (argc > 1) {
		if (ztm_parse_int(argv[1], 1, 600, &v) != 0) {
			fprintf(stderr, "usage: bench_store [seconds-per-case 1..600]\n");
			return 2;
		}
		secs = v;
	}
	if (mkdtemp(dir) == NULL) {
		perror("bench_store: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ztm.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	if (ztm_store_open(url, &s, &err) != 0) {
		fprintf(stderr, "bench_store: %s\n", ztm_error_msg(&err));
		goto out;
	}
	printf("store %s (WAL, synchronous=FULL), %.0f s per case\n", url, secs);
	if (bench_single(s, secs) != 0)
		goto out;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (bench_batch(s, sizes[i], secs) != 0)
			goto out;
	}
	rc = 0;
out:
	ztm_store_close(s);
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, (const char *[]){"", "-wal", "-shm"}[i]);
		unlink(p);
	}
	rmdir(dir);
	return rc;
}
