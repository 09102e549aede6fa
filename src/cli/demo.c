/* demo.c - `ztm demo`: one command runs a whole factory on the embedded
 * defaults (issue 3 point 8, docs/demo.md):
 *
 *   1. the offline ceremony, the server's set-up, ztmd as its own process
 *   2. the production plan: factories, product, work orders, stations
 *   3. N devices built, recorded, uploaded, registered and activated
 *   4. the attacks, each refused by the server
 *   5. the summary, read back from the store; exit 0 only if it is as
 *      expected
 *
 * The data directory is left for inspection; --serve keeps ztmd running. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ceremony.h"
#include "cli_common.h"
#include "demo.h"
#include "ztm/file.h"
#include "ztm/store.h"
#include "ztm/str.h"

static int usage(void)
{
	fprintf(stderr,
	        "usage: ztm demo [--dir D] [--devices N] [--serve] [--quiet]\n"
	        "  Runs a whole factory on the embedded defaults: ceremony, ztmd (a separate\n"
	        "  process on 127.0.0.1, mutual TLS), product, factories, work orders, station\n"
	        "  enrollment, N devices (default 100, at most %d) built, recorded and\n"
	        "  registered, then the attacks (clone, unrecorded, over-quota, revoked\n"
	        "  station, replayed bootstrap), and prints a summary read from the store.\n"
	        "  --dir D     the data directory (default ./ztm-demo-<time>; must be new or\n"
	        "              empty), left for inspection\n"
	        "  --serve     keep ztmd running after the summary until Ctrl-C / SIGTERM\n"
	        "  --quiet     print the summary only\n"
	        "  Exit 0 when everything went as expected, 1 when not (what differed is\n"
	        "  printed), 2 on misuse. ztmd is found next to ztm, or by $ZTMD, or in $PATH.\n",
	        DEMO_DEVICES_MAX);
	return ZTM_EXIT_USAGE;
}

double demo_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 2, 0))) static void vlog(struct demo *d, const char *fmt, va_list ap)
{
	char line[4096];
	int n, m;

	if (d->log_fd < 0)
		return;
	/* Seconds since the start, so the log shows where the time goes. */
	n = snprintf(line, sizeof(line), "[%7.3f] ",
	             d->t_start > 0 ? demo_now() - d->t_start : 0.0);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(d->log_fd, line, (size_t)n) < 0) {
		/* The log is a convenience; the run goes on without it. */
	}
}

void demo_log(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(d, fmt, ap);
	va_end(ap);
}

/* A line to the log after log_pre and, unless quiet, to stdout after
 * out_pre. */
__attribute__((format(printf, 4, 0))) static void
show(struct demo *d, const char *log_pre, const char *out_pre, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	demo_log(d, "%s%s", log_pre, line);
	if (!d->quiet) {
		printf("%s%s\n", out_pre, line);
		fflush(stdout);
	}
}

void demo_step(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	show(d, "=== ", "\n== ", fmt, ap);
	va_end(ap);
}

void demo_say(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	show(d, "", "  ", fmt, ap);
	va_end(ap);
}

static int parse(int argc, char **argv, struct demo *d)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'}, {"devices", required_argument, NULL, 'n'},
	    {"serve", no_argument, NULL, 's'},     {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
	};
	uint64_t n;
	int c;

	d->devices = 100;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (ztm_strlcpy(d->dir, optarg, sizeof(d->dir)) != 0) {
				fprintf(stderr, "ztm demo: --dir: path too long\n");
				return -1;
			}
			break;
		case 'n':
			if (ztm_parse_u64(optarg, 1, DEMO_DEVICES_MAX, &n) != 0) {
				fprintf(stderr, "ztm demo: --devices wants a number from 1 to %d\n",
				        DEMO_DEVICES_MAX);
				return -1;
			}
			d->devices = (unsigned)n;
			break;
		case 's':
			d->serve = 1;
			break;
		case 'q':
			d->quiet = 1;
			break;
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

/* The data directory: new or empty, made absolute (the commands and ztmd
 * get absolute paths), and the names of its parts. */
static int prepare_dir(struct demo *d, struct ztm_error *err)
{
	char abs[PATH_MAX];

	if (d->dir[0] == '\0') {
		time_t t = time(NULL);
		struct tm tm;
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(d->dir, sizeof(d->dir), "ztm-demo-%Y%m%d-%H%M%S", &tm) == 0)
			return ztm_error_set(err, ZTM_E_INTERNAL, "clock");
	}
	if (cer_dir_empty_or_absent(d->dir, err) != 0)
		return ztm_error_set(err, err->code,
		                     "%s exists and is not empty: remove it or give another --dir",
		                     d->dir);
	if (ztm_mkdirs(d->dir, 0700, err) != 0)
		return -1;
	if (realpath(d->dir, abs) == NULL)
		return ztm_error_set(err, ZTM_E_IO, "%s: %s", d->dir, strerror(errno));
	if (ztm_strlcpy(d->dir, abs, sizeof(d->dir)) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "%s: path longer than %d", abs,
		                     DEMO_DIR - 1);
#define PART(field, fmt) snprintf(d->field, sizeof(d->field), fmt, d->dir)
	PART(ceremony, "%s/ceremony");
	PART(server, "%s/server");
	PART(stations, "%s/stations");
	PART(devdir, "%s/devices");
	PART(attacks_dir, "%s/attacks");
	PART(log_path, "%s/demo.log");
	PART(db_path, "%s/server/ztm.db");
	PART(chain, "%s/ceremony/chain.pem");
	PART(admin_crt, "%s/ceremony/operators/admin.crt");
	PART(admin_key, "file:%s/ceremony/operators/admin.key");
	PART(online_pass, "%s/ceremony/online.pass");
#undef PART
	d->log_fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (d->log_fd < 0)
		return ztm_error_set(err, ZTM_E_IO, "%s: %s", d->log_path, strerror(errno));
	return 0;
}

static int open_store(struct demo *d, struct ztm_error *err)
{
	char url[DEMO_PATH + 16];

	snprintf(url, sizeof(url), "sqlite:%s", d->db_path);
	return ztm_store_open(url, &d->store, err);
}

static int run(struct demo *d, struct ztm_error *err)
{
	demo_step(d, "1. Offline root key ceremony, then ztmd on 127.0.0.1 (a separate process)");
	if (demo_ceremony_and_server(d, err) != 0 || open_store(d, err) != 0)
		return -1;
	demo_step(d, "2. The production plan (OEM admin over mutual TLS) and the stations");
	if (demo_plan(d, err) != 0)
		return -1;
	demo_step(d, "3. Production: %u devices on %s of %s, order %s", d->devices, DEMO_STATION1,
	          DEMO_FACTORY1, DEMO_ORDER1);
	if (demo_production(d, err) != 0)
		return -1;
	demo_step(d, "4. Attacks, each judged by the server's answer");
	return demo_attacks(d, err);
}

int cmd_demo(int argc, char **argv)
{
	struct demo *d = calloc(1, sizeof(*d));
	struct ztm_error err;
	int rc = ZTM_EXIT_FAIL, failed = -1;

	if (d == NULL) {
		fprintf(stderr, "ztm demo: out of memory\n");
		return ZTM_EXIT_FAIL;
	}
	d->log_fd = -1;
	ztm_error_clear(&err);
	if (parse(argc, argv, d) != 0) {
		free(d);
		return usage();
	}
	/* A server that refuses a client certificate may close while the
	 * request is being written: an answer to report, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (demo_find_programs(d, &err) != 0 || prepare_dir(d, &err) != 0) {
		cli_fail("demo", &err);
		goto out;
	}
	/* Every command gets its connection on its command line; nothing
	 * from the caller's environment may point it elsewhere. */
	unsetenv("ZTM_SERVER");
	unsetenv("ZTM_CA");
	unsetenv("ZTM_CERT");
	unsetenv("ZTM_KEY");
	unsetenv("ZTM_KEY_PASS_FILE");
	unsetenv("ZTM_ENROLL_CODE");
	if (!d->quiet)
		printf("ztm demo: %u devices; data in %s (every command and its output: "
		       "demo.log)\n",
		       d->devices, d->dir);
	d->t_start = demo_now();
	demo_log(d, "ztm demo: %u devices; ztm %s; ztmd %s", d->devices, d->ztm, d->ztmd);
	if (run(d, &err) != 0) {
		struct ztm_error e2;
		cli_fail("demo", &err);
		/* What the store holds so far, for the post-mortem. */
		if (d->store != NULL)
			demo_summary(d, &e2);
		fprintf(stderr, "ztm demo: stopped; the data directory %s is left as it was\n",
		        d->dir);
		goto out;
	}
	failed = demo_summary(d, &err);
	if (failed < 0) {
		cli_fail("demo", &err);
		goto out;
	}
	printf("took %.1f s; data left in %s (summary.txt, demo.log, server/ztm.db, "
	       "server/ztmd.log, devices/, attacks/, stations/, ceremony/)\n",
	       demo_now() - d->t_start, d->dir);
	rc = failed == 0 ? ZTM_EXIT_OK : ZTM_EXIT_FAIL;
	if (d->serve) {
		printf("\nztmd keeps running at %s (pid %d); Ctrl-C or `kill %d` stops it.\n"
		       "To talk to it as the OEM admin:\n"
		       "  export ZTM_SERVER=%s ZTM_CA=%s \\\n"
		       "         ZTM_CERT=%s ZTM_KEY=%s \\\n"
		       "         ZTM_KEY_PASS_FILE=%s\n"
		       "  ztm order show --name %s\n",
		       d->url, (int)d->ztmd_pid, (int)getpid(), d->url, d->chain, d->admin_crt,
		       d->admin_key, d->online_pass, DEMO_ORDER1);
		fflush(stdout);
		if (demo_ztmd_serve(d) != 0)
			rc = ZTM_EXIT_FAIL;
	}
out:
	ztm_store_close(d->store);
	demo_ztmd_stop(d);
	if (d->log_fd >= 0)
		close(d->log_fd);
	free(d);
	return rc;
}
