/* master.c - ztmd's master process: reads the configuration, loads the TLS
 * material and the app, runs crash recovery, binds the listening socket and
 * supervises the worker processes.
 *
 * Why processes and not threads: on Debian 12's OpenSSL 3.0, two threads
 * sharing the default library context scaled 1.04x (lock contention in
 * algorithm fetching and decoders), two processes 2.0x (PERFORMANCE.md). So
 * each worker is a process with its own event loop and its own store
 * connection, all accepting on the one socket the master created.
 *
 * The master does no request work. It restarts a worker that dies (with a
 * growing backoff when workers die young), and on SIGTERM/SIGINT tells every
 * worker to stop accepting and finish what is in flight within the grace
 * period, then exits 0. On a store with a write-ahead log to copy back
 * (SQLite) one more process, the checkpointer (checkpointer.c), does that
 * for the workers; it is supervised in the last slot, like a worker.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "server.h"
#include "ztm/file.h"
#include "ztm/log.h"
#include "ztm/store.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define YOUNG_MS       10000 /* a worker dying younger than this backs off more */

struct worker_slot {
	pid_t pid;
	uint64_t started_ms, restart_at_ms;
	unsigned backoff_ms;
};

struct master {
	struct ztm_config *cfg;
	struct ztmd_settings set;
	struct ztmd_app *app;
	const struct ztmd_route *routes;
	size_t n_routes;
	struct ztmd_metrics *metrics;
	SSL_CTX *ssl_ctx;
	int listen_fd;
	unsigned short port;
	int public_fd; /* [public] listen, or -1 */
	unsigned short public_port;
	struct worker_slot *slots; /* the workers, then the checkpointer if any */
	unsigned nslots;
	int checkpointer; /* 1: slot set.workers is the checkpointer */
	int in_child;     /* set in a forked worker: skip master-only cleanup */
};

static int is_checkpointer(const struct master *m, unsigned slot)
{
	return m->checkpointer && slot == m->set.workers;
}

static const char *slot_kind(const struct master *m, unsigned slot)
{
	return is_checkpointer(m, slot) ? "checkpointer" : "worker";
}

/* Start-up recovery abandons reservations made before this time. Alone on
 * its SQLite file, no worker of this server runs yet: every reservation is
 * a crash leftover. On a store other nodes share (PostgreSQL), a fresh
 * reservation may be another node's request in flight, or one another node
 * holds while it reconciles a lost commit (est_reconcile.c, up to
 * ZTMD_RECONCILE_SECONDS): only those older than any request can live (the
 * longer of two [server] timeouts and the reconciliation hold, plus a
 * minute) are dead (docs/deployment.md). Either way an abandoned serial is never issued, so
 * this is about availability, not safety: a live request whose reservation
 * was abandoned fails and its client retries. */
static int64_t recover_before(const struct ztmd_settings *set)
{
	int64_t now = (int64_t)time(NULL);

	if (strncmp(set->store_url, "sqlite:", 7) == 0)
		return now + 1;
	return now - ztmd_reservation_lifetime(set->timeout);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Keys live in this process's memory: no core files, no ptrace by peers. */
static int harden(struct ztm_error *err)
{
	struct rlimit rl = {0, 0};

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return ztm_error_set(err, ZTM_E_INTERNAL, "setrlimit(RLIMIT_CORE): %s",
		                     strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return ztm_error_set(err, ZTM_E_INTERNAL, "prctl(PR_SET_DUMPABLE): %s",
		                     strerror(errno));
	return 0;
}

/* A listening socket on host:port for every worker to accept on; *fd_out
 * and the port the kernel chose (port 0) in *bound. */
static int make_listener(const char *section, const char *host, unsigned short want, int *fd_out,
                         unsigned short *bound, struct ztm_error *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", (unsigned)want);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return ztm_error_set(err, ZTM_E_CONFIG, "[%s] listen host '%s': %s", section, host,
		                     gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		/* Non-blocking: every worker accepts on it from its event loop. */
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		/* TCP_NODELAY is inherited by accepted sockets (Linux): evhttp
		 * writes a reply as headers then body, and with Nagle the body
		 * waited for the client's delayed ACK (~40 ms) on every
		 * keep-alive request (bench/ocsp.sh: 121 answers/s before). */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ztm_error_set(err, ZTM_E_IO, "cannot listen on %s:%s: %s", host, port,
		                     strerror(errno));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(fd);
		return ztm_error_set(err, ZTM_E_IO, "getsockname: %s", strerror(errno));
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                        : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return 0;
}

static int write_port_file(const char *path, unsigned short port, struct ztm_error *err)
{
	char text[16];
	int n;

	if (path == NULL)
		return 0;
	n = snprintf(text, sizeof(text), "%u\n", (unsigned)port);
	return ztm_file_write(path, text, (size_t)n, 0644, 0, err);
}

/* Runs in the forked child: its own store connection, its own loop. */
static int worker_main(struct master *m, unsigned slot)
{
	struct ztmd_worker_opts o;
	struct ztmd_worker *w = NULL;
	struct ztm_store *store = NULL;
	struct ztm_error err;
	sigset_t none;
	int rc = 1;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (ztm_store_open(m->set.store_url, &store, &err) != 0 ||
	    ztmd_app_worker_init(m->app, store, &err) != 0)
		goto out;
	if (m->checkpointer)
		ztm_store_checkpoint_elsewhere(store); /* the checkpointer's job */
	memset(&o, 0, sizeof(o));
	o.settings = &m->set;
	o.ssl_ctx = m->ssl_ctx;
	o.metrics = m->metrics;
	o.slot = slot;
	o.store = store;
	o.app_routes = m->routes;
	o.n_app_routes = m->n_routes;
	o.metrics_gate = ztmd_app_gate_metrics;
	o.metrics_gate_arg = m->app;
	o.listen_fd = m->listen_fd;
	o.public_listen_fd = m->public_fd;
	w = ztmd_worker_new(&o, &err);
	m->listen_fd = -1; /* the worker owns them now */
	m->public_fd = -1;
	if (w == NULL || ztmd_app_worker_start(m->app, ztmd_worker_base(w), &err) != 0)
		goto out;
	ztm_log(ZTM_LOG_INFO, "worker_start", "slot=%u", slot);
	if (ztmd_worker_run(w) != 0) {
		ztm_error_set(&err, ZTM_E_INTERNAL, "event loop failed");
		goto out;
	}
	rc = 0;
	ztm_log(ZTM_LOG_INFO, "worker_stop", "slot=%u", slot);
out:
	ztmd_app_worker_stop(m->app);
	if (rc != 0) {
		char q[448];
		ztm_log(ZTM_LOG_ERROR, "worker_failed", "slot=%u error=%s message=%s", slot,
		        ztm_err_name(err.code), ztm_log_quote(err.msg, q, sizeof(q)));
	}
	ztmd_app_worker_stop(m->app);
	ztmd_worker_free(w);
	ztm_store_close(store);
	return rc;
}

/* Forks the worker for slot; in the child, runs it and returns 1 with *rc
 * set (the caller unwinds and exits with it). */
static int spawn(struct master *m, unsigned slot, int *rc)
{
	pid_t pid = fork();

	if (pid < 0) {
		ztm_log(ZTM_LOG_ERROR, "fork_failed", "slot=%u errno=%d", slot, errno);
		m->slots[slot].restart_at_ms = now_ms() + BACKOFF_MAX_MS;
		return 0;
	}
	if (pid == 0) {
		m->in_child = 1;
		if (!is_checkpointer(m, slot)) {
			*rc = worker_main(m, slot);
			return 1;
		}
		/* The checkpointer serves nobody: no listening sockets. */
		if (m->listen_fd >= 0)
			close(m->listen_fd);
		if (m->public_fd >= 0)
			close(m->public_fd);
		m->listen_fd = m->public_fd = -1;
		*rc = ztmd_checkpointer_run(m->set.store_url, m->metrics, getppid());
		return 1;
	}
	m->slots[slot].pid = pid;
	m->slots[slot].started_ms = now_ms();
	m->slots[slot].restart_at_ms = 0;
	return 0;
}

static void reap(struct master *m, int stopping)
{
	pid_t pid;
	int status;
	unsigned i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < m->nslots; i++) {
			struct worker_slot *s = &m->slots[i];
			uint64_t now = now_ms();
			if (s->pid != pid)
				continue;
			s->pid = 0;
			ztmd_metrics_inflight_reset(m->metrics, i);
			if (stopping) {
				ztm_log(ZTM_LOG_INFO, "worker_exit",
				        "slot=%u kind=%s pid=%ld status=%d", i, slot_kind(m, i),
				        (long)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
				break;
			}
			if (now - s->started_ms < YOUNG_MS)
				s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
			else
				s->backoff_ms = BACKOFF_MIN_MS;
			if (s->backoff_ms > BACKOFF_MAX_MS)
				s->backoff_ms = BACKOFF_MAX_MS;
			s->restart_at_ms = now + s->backoff_ms;
			ztm_log(ZTM_LOG_WARN, "worker_died",
			        "slot=%u kind=%s pid=%ld exit=%d signal=%d restart_in_ms=%u", i,
			        slot_kind(m, i), (long)pid,
			        WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			        WIFSIGNALED(status) ? WTERMSIG(status) : 0, s->backoff_ms);
			break;
		}
	}
}

/* The master's loop. Returns 1 in a worker child (with *rc), else 0 with
 * *rc the master's exit status. */
static int supervise(struct master *m, const sigset_t *sigs, int *rc)
{
	struct timespec tick = {0, 100 * 1000 * 1000};
	uint64_t deadline = 0;
	int stopping = 0;
	unsigned i, alive;

	for (;;) {
		siginfo_t si;
		int sig;

		if (!stopping) {
			for (i = 0; i < m->nslots; i++) {
				struct worker_slot *s = &m->slots[i];
				if (s->pid != 0 || now_ms() < s->restart_at_ms)
					continue;
				if (s->started_ms != 0) {
					if (!is_checkpointer(m, i))
						ztmd_metrics_worker_restart(m->metrics);
					ztm_log(ZTM_LOG_INFO, "worker_restart", "slot=%u kind=%s",
					        i, slot_kind(m, i));
				}
				if (spawn(m, i, rc))
					return 1;
			}
		}
		sig = sigtimedwait(sigs, &si, &tick);
		if (sig == SIGCHLD)
			reap(m, stopping);
		else if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			stopping = 1;
			deadline = now_ms() + (uint64_t)m->set.grace * 1000 + 5000;
			ztm_log(ZTM_LOG_INFO, "stopping", "signal=%d grace_s=%u", sig,
			        m->set.grace);
			for (i = 0; i < m->nslots; i++) {
				if (m->slots[i].pid != 0)
					kill(m->slots[i].pid, SIGTERM);
			}
		}
		if (!stopping)
			continue;
		reap(m, stopping);
		for (i = 0, alive = 0; i < m->nslots; i++)
			alive += m->slots[i].pid != 0;
		if (alive == 0) {
			*rc = 0;
			return 0;
		}
		if (now_ms() > deadline) {
			ztm_log(ZTM_LOG_ERROR, "stop_timeout", "workers_left=%u", alive);
			for (i = 0; i < m->nslots; i++) {
				if (m->slots[i].pid != 0)
					kill(m->slots[i].pid, SIGKILL);
			}
			*rc = 1;
			return 0;
		}
	}
}

static int setup(struct master *m, const char *path, const char *port_file, int check_only,
                 struct ztm_error *err)
{
	const char *names[ZTMD_METRICS_ROUTES];
	struct ztm_store *store = NULL;
	size_t i;
	int rc;

	m->cfg = ztm_config_load(path, err);
	if (m->cfg == NULL || ztmd_settings_read(m->cfg, &m->set, err) != 0)
		return -1;
	if (port_file != NULL)
		m->set.port_file = port_file;
	if (harden(err) != 0)
		return -1;
	m->app = ztmd_app_new(m->cfg, err);
	if (m->app == NULL)
		return -1;
	ztmd_app_set_timeout(m->app, m->set.timeout);
	m->routes = ztmd_app_routes(m->app, &m->n_routes);
	if (m->n_routes + ZTMD_ROUTE_APP0 > ZTMD_METRICS_ROUTES)
		return ztm_error_set(err, ZTM_E_CONFIG, "the app has too many routes (%zu)",
		                     m->n_routes);
	names[ZTMD_ROUTE_NONE] = "none";
	names[ZTMD_ROUTE_HEALTHZ] = "/healthz";
	names[ZTMD_ROUTE_METRICS] = "/metrics";
	for (i = 0; i < m->n_routes; i++)
		names[ZTMD_ROUTE_APP0 + i] = m->routes[i].path;
	m->metrics = ztmd_metrics_new(names, ZTMD_ROUTE_APP0 + m->n_routes, err);
	if (m->metrics == NULL)
		return -1;
	m->ssl_ctx = ztmd_tls_ctx_new(&m->set, m->metrics, err);
	if (m->ssl_ctx == NULL)
		return -1;
	/* Every module has read its keys: anything left is a typo. */
	if (ztm_config_unused(m->cfg, err) != 0)
		return -1;
	if (check_only)
		return 0;
	if (ztm_store_open(m->set.store_url, &store, err) != 0)
		return -1;
	rc = ztmd_app_recover(m->app, store, recover_before(&m->set), err);
	m->checkpointer = ztm_store_has_checkpoints(store);
	m->nslots = m->set.workers + (m->checkpointer ? 1u : 0u);
	/* No store connection may cross fork(): each worker opens its own. */
	ztm_store_close(store);
	if (rc != 0)
		return -1;
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (m->slots == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "workers");
	if (make_listener("server", m->set.listen_host, m->set.listen_port, &m->listen_fd, &m->port,
	                  err) != 0)
		return -1;
	if (m->set.public_set && make_listener("public", m->set.public_host, m->set.public_port,
	                                       &m->public_fd, &m->public_port, err) != 0)
		return -1;
	/* The TLS port file last: tests wait for it, and then both are there. */
	if ((m->set.public_set &&
	     write_port_file(m->set.public_port_file, m->public_port, err) != 0) ||
	    write_port_file(m->set.port_file, m->port, err) != 0)
		return -1;
	return 0;
}

int ztmd_main(const char *config_path, const char *port_file, int check_only)
{
	struct master m;
	struct ztm_error err;
	sigset_t sigs;
	int rc = 1;

	memset(&m, 0, sizeof(m));
	m.listen_fd = -1;
	m.public_fd = -1;
	/* A peer that closes while we write must not kill a worker. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if (setup(&m, config_path, port_file, check_only, &err) != 0) {
		fprintf(stderr, "ztmd: %s\n", ztm_error_msg(&err));
		goto out;
	}
	if (check_only) {
		printf("ztmd: %s: configuration OK\n", config_path);
		rc = 0;
		goto out;
	}
	/* Only the scheme of the store URL: the rest may hold credentials. */
	ztm_log(ZTM_LOG_INFO, "start", "listen=%s:%u workers=%u store=%.*s", m.set.listen_host,
	        (unsigned)m.port, m.set.workers, (int)strcspn(m.set.store_url, ":"),
	        m.set.store_url);
	if (m.set.public_set)
		ztm_log(ZTM_LOG_INFO, "public_listen", "listen=%s:%u routes=ocsp,crl,healthz",
		        m.set.public_host, (unsigned)m.public_port);
	if (supervise(&m, &sigs, &rc) == 0) {
		ztm_log(ZTM_LOG_INFO, "stop", "status=%d", rc);
		if (m.set.port_file != NULL)
			unlink(m.set.port_file);
		if (m.set.public_port_file != NULL)
			unlink(m.set.public_port_file);
	}
out:
	if (m.listen_fd >= 0)
		close(m.listen_fd);
	if (m.public_fd >= 0)
		close(m.public_fd);
	SSL_CTX_free(m.ssl_ctx);
	ztmd_app_free(m.app);
	/* The mapping is shared: unmapping in one process leaves the others'. */
	ztmd_metrics_free(m.metrics);
	free(m.slots);
	ztm_config_free(m.cfg);
	return rc;
}
