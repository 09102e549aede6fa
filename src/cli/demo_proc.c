/* demo_proc.c - the real programs behind `ztm demo`: every step an operator
 * or a station performs is the `ztm` command itself, run as a child process
 * with its output in demo.log (so the log reads as a transcript one can
 * replay by hand), and ztmd is a separate server process, as in production.
 * Forking this process and calling the command functions would be shorter,
 * but would share this process's OpenSSL state, getopt globals and stdio
 * buffers with code written to own them. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "demo.h"
#include "ztm/file.h"
#include "ztm/str.h"

#define START_WAIT_MS 60000 /* ztmd: port file and /healthz (it decrypts ten keys) */
#define STOP_WAIT_MS  15000 /* ztmd's own grace is 10 s by default */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int in_path(const char *name, char *out, size_t n)
{
	const char *path = getenv("PATH"), *p, *e;

	for (p = path; p != NULL && *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ":");
		if (e > p && snprintf(out, n, "%.*s/%s", (int)(e - p), p, name) < (int)n &&
		    executable(out))
			return 1;
	}
	return 0;
}

int demo_find_programs(struct demo *d, struct ztm_error *err)
{
	char self[DEMO_PATH], dir[DEMO_PATH];
	const char *env = getenv("ZTMD");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0 || (size_t)n >= sizeof(self) - 1)
		return ztm_error_set(err, ZTM_E_IO, "/proc/self/exe: %s",
		                     n < 0 ? strerror(errno) : "path too long");
	self[n] = '\0';
	ztm_strlcpy(d->ztm, self, sizeof(d->ztm));
	ztm_strlcpy(dir, self, sizeof(dir));
	ztm_strlcpy(dir, dirname(dir), sizeof(dir));
	if (env != NULL && env[0] != '\0') {
		if (!executable(env))
			return ztm_error_set(err, ZTM_E_CONFIG, "ZTMD=%s: not an executable file",
			                     env);
		ztm_strlcpy(d->ztmd, env, sizeof(d->ztmd));
		return 0;
	}
	/* The build tree (build/src/cli/ztm, build/src/server/ztmd), then an
	 * installation with both in one directory, then $PATH. */
	if (snprintf(d->ztmd, sizeof(d->ztmd), "%s/../server/ztmd", dir) < (int)sizeof(d->ztmd) &&
	    executable(d->ztmd))
		return 0;
	if (snprintf(d->ztmd, sizeof(d->ztmd), "%s/ztmd", dir) < (int)sizeof(d->ztmd) &&
	    executable(d->ztmd))
		return 0;
	if (in_path("ztmd", d->ztmd, sizeof(d->ztmd)))
		return 0;
	return ztm_error_set(err, ZTM_E_CONFIG,
	                     "ztmd not found next to %s nor in $PATH (set ZTMD=/path/to/ztmd)",
	                     self);
}

/* The command line as one log line; the arguments hold paths and names,
 * never a secret (passphrases and codes travel in files). */
static void log_command(struct demo *d, const char *prog, const char *const *args)
{
	char line[4096];
	size_t o;
	int i;

	o = (size_t)snprintf(line, sizeof(line), "$ %s", prog);
	for (i = 0; args[i] != NULL && o < sizeof(line); i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " %s", args[i]);
	demo_log(d, "%s", line);
}

static int open_out(const char *path, int fallback)
{
	if (path == NULL)
		return dup(fallback);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

static void append_to_log(struct demo *d, const char *path)
{
	struct ztm_buf b;
	struct ztm_error err;

	ztm_buf_init(&b, 1024 * 1024);
	if (ztm_file_read(path, 1024 * 1024, &b, &err) == 0 && b.len > 0)
		demo_log(d, "%.*s", (int)(b.data[b.len - 1] == '\n' ? b.len - 1 : b.len),
		         (const char *)b.data);
	ztm_buf_free(&b);
}

int demo_ztm(struct demo *d, const char *out_path, const char *err_path, const char *const *args)
{
	const char *argv[48];
	int out, errfd, in, status, i;
	pid_t pid;

	argv[0] = "ztm";
	for (i = 0; args[i] != NULL && i + 2 < (int)(sizeof(argv) / sizeof(argv[0])); i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	log_command(d, "ztm", args);
	out = open_out(out_path, d->log_fd);
	errfd = open_out(err_path, d->log_fd);
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out < 0 || errfd < 0 || in < 0) {
		demo_log(d, "cannot open the command's output: %s", strerror(errno));
		pid = -1;
		goto done;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
			_exit(127);
		execv(d->ztm, (char *const *)argv);
		_exit(127);
	}
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (errfd >= 0)
		close(errfd);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (err_path != NULL)
		append_to_log(d, err_path);
	if (!WIFEXITED(status)) {
		demo_log(d, "(ztm %s died of signal %d)", args[0],
		         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return -1;
	}
	if (WEXITSTATUS(status) != 0)
		demo_log(d, "(exit status %d)", WEXITSTATUS(status));
	return WEXITSTATUS(status);
}

int demo_ztm_ok(struct demo *d, const char *out_path, const char *const *args,
                struct ztm_error *err)
{
	int st = demo_ztm(d, out_path, NULL, args);

	if (st == 0)
		return 0;
	return ztm_error_set(err, ZTM_E_INTERNAL, "`ztm %s %s` failed (exit %d); see %s", args[0],
	                     args[1] != NULL ? args[1] : "", st, d->log_path);
}

int demo_pass_file(const char *path, struct ztm_error *err)
{
	uint8_t raw[24];
	char hex[2 * sizeof(raw) + 2];
	int rc;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return ztm_error_set(err, ZTM_E_CRYPTO, "RAND_bytes");
	ztm_hex(raw, sizeof(raw), hex);
	hex[2 * sizeof(raw)] = '\n';
	rc = ztm_file_write(path, hex, 2 * sizeof(raw) + 1, 0600, 1, err);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

/* 1 while ztmd runs; 0 (and the pid forgotten) once it has exited. */
static int ztmd_alive(struct demo *d, int *status)
{
	pid_t r;

	if (d->ztmd_pid <= 0)
		return 0;
	r = waitpid(d->ztmd_pid, status, WNOHANG);
	if (r == 0)
		return 1;
	d->ztmd_pid = 0;
	return 0;
}

static int healthy(struct demo *d)
{
	struct ztm_client_opts o = {.url = d->url, .ca_file = d->chain};
	struct ztm_http_resp resp;
	struct ztm_error err;
	int ok;

	ztm_http_resp_init(&resp);
	ok = ztm_client_request(&o, "GET", "/healthz", NULL, NULL, NULL, 0, &resp, &err) == 0 &&
	     resp.status == 200;
	ztm_http_resp_free(&resp);
	return ok;
}

int demo_ztmd_start(struct demo *d, struct ztm_error *err)
{
	char conf[DEMO_PATH + 16], port_file[DEMO_PATH + 16], logp[DEMO_PATH + 16];
	const char *argv[] = {"ztmd", "--config", conf, "--port-file", port_file, NULL};
	struct ztm_buf b;
	struct ztm_error e2;
	uint64_t port = 0;
	pid_t parent = getpid();
	int fd, in, status = 0, waited;

	snprintf(conf, sizeof(conf), "%s/ztmd.conf", d->server);
	snprintf(port_file, sizeof(port_file), "%s/port", d->server);
	snprintf(logp, sizeof(logp), "%s/ztmd.log", d->server);
	demo_log(d, "$ %s --config %s --port-file %s  (log: %s)", d->ztmd, conf, port_file, logp);
	fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || in < 0) {
		if (fd >= 0)
			close(fd);
		if (in >= 0)
			close(in);
		return ztm_error_set(err, ZTM_E_IO, "%s: %s", logp, strerror(errno));
	}
	fflush(NULL);
	d->ztmd_pid = fork();
	if (d->ztmd_pid == 0) {
		/* Its own process group: the terminal's Ctrl-C reaches the
		 * demo, which stops ztmd in order; and if the demo dies
		 * anyhow, the kernel sends ztmd SIGTERM. */
		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(127);
		if (dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(d->ztmd, (char *const *)argv);
		_exit(127);
	}
	close(fd);
	close(in);
	if (d->ztmd_pid < 0) {
		d->ztmd_pid = 0;
		return ztm_error_set(err, ZTM_E_INTERNAL, "fork: %s", strerror(errno));
	}
	ztm_buf_init(&b, 64);
	for (waited = 0; waited < START_WAIT_MS; waited += 50) {
		if (!ztmd_alive(d, &status)) {
			ztm_buf_free(&b);
			return ztm_error_set(err, ZTM_E_INTERNAL,
			                     "ztmd exited at start (status %d); see %s",
			                     WIFEXITED(status) ? WEXITSTATUS(status) : -1, logp);
		}
		b.len = 0;
		if (port == 0 && ztm_file_read(port_file, 64, &b, &e2) == 0 && b.len > 0) {
			while (b.len > 0 &&
			       (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
				b.len--;
			if (ztm_parse_u64(ztm_buf_cstr(&b), 1, 65535, &port) != 0)
				port = 0;
			else
				snprintf(d->url, sizeof(d->url), "https://127.0.0.1:%u",
				         (unsigned)port);
		}
		if (port != 0 && healthy(d)) {
			ztm_buf_free(&b);
			demo_log(d, "ztmd (pid %d) healthy at %s", (int)d->ztmd_pid, d->url);
			return 0;
		}
		sleep_ms(50);
	}
	ztm_buf_free(&b);
	demo_ztmd_stop(d);
	return ztm_error_set(err, ZTM_E_INTERNAL, "ztmd did not become healthy in %d s; see %s",
	                     START_WAIT_MS / 1000, logp);
}

void demo_ztmd_stop(struct demo *d)
{
	int status, waited;
	pid_t pid = d->ztmd_pid;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (waited = 0; waited < STOP_WAIT_MS; waited += 50) {
		if (!ztmd_alive(d, &status)) {
			demo_log(d, "ztmd stopped (status %d)",
			         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			return;
		}
		sleep_ms(50);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &status, 0);
	d->ztmd_pid = 0;
	demo_log(d, "ztmd killed after %d s", STOP_WAIT_MS / 1000);
}

int demo_ztmd_serve(struct demo *d)
{
	sigset_t set;
	int sig, status;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	for (;;) {
		if (!ztmd_alive(d, &status)) {
			fprintf(stderr, "ztm demo: ztmd exited (status %d)\n",
			        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			return -1;
		}
		if (sigwait(&set, &sig) != 0)
			return -1;
		if (sig == SIGINT || sig == SIGTERM) {
			printf("\nstopping ztmd\n");
			fflush(stdout);
			demo_ztmd_stop(d);
			return 0;
		}
	}
}
