/* phttp.c - the public plain-HTTP listener ([public] listen): OCSP and CRLs
 * for relying parties, which fetch them over http:// (RFC 5019 §5, RFC 5280
 * §4.2.1.13 in practice: revocation over TLS is circular, and the answers
 * are signed). Only the ZTMD_ROUTE_PUBLIC routes exist here (http.c).
 *
 * Why not evhttp, which serves the TLS listener: per answer evhttp made a
 * request object, parsed the URI and every header into allocated lists,
 * formatted each response header with vfprintf, and enabled and disabled
 * read and write events around every request (epoll_ctl calls); with the
 * log line that was ~65 us of CPU per OCSP answer over TLS against the
 * issue's goal of 20 us (docs/benchmarks.md "OCSP"). This reader does per
 * request: one read(2), a parse in place (phttp_parse.c), the handler, and
 * one write(2) of status line, headers and body from a per-connection
 * buffer; the read event stays registered for the connection's life and a
 * write event is added only when the socket is full.
 *
 * The same limits as the TLS listener ([server]): header bytes, body bytes
 * (413 before the body is read), one timeout for idle, slow and stuck
 * connections, and max_connections per worker (accepting pauses at the cap).
 * One request per connection is answered at a time; pipelined requests wait
 * in the buffer, in order.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "ztm/log.h"

#define READ_CHUNK 16384
#define OUT_HIGH   (256 * 1024) /* stop answering pipelined requests until written */
#define KEEP_MAX   (64 * 1024)  /* buffers larger than this are freed when empty */

struct ztmd_phttp {
	struct ztmd_worker *w;
	struct evconnlistener *lev;
	const struct timeval *tmo; /* a common timeout: O(1) re-arming */
	struct ztmd_phttp_conn *conns;
	unsigned n;
	int paused;
	time_t date_t;
	char date[40]; /* "Date: ...\r\n", once a second */
};

struct ztmd_phttp_conn {
	struct ztmd_phttp *p;
	evutil_socket_t fd;
	struct event *rev, *wev;
	struct ztm_buf in;  /* read, from pos on not yet answered */
	size_t pos;         /* start of the request being answered or next */
	struct ztm_buf out; /* to write, from out_off on */
	size_t out_off;
	/* The head being answered, parsed in place in a copy of its own: the
	 * read buffer may move (grow) while the body comes in. */
	char *hbuf; /* max_header_bytes */
	struct ztmd_phttp_head head;
	int head_ready;       /* head is parsed, its body not all in yet */
	struct ztmd_req *req; /* in flight (answer not made yet) */
	size_t req_len;       /* head + body of it */
	int in_process;       /* inside process(): replies only append */
	int close_after;      /* close once out is written */
	int read_paused;
	int lingering; /* answered and shut down for writing: reading to EOF */
	int continued; /* 100 Continue sent for the current request */
	char peer[64];
	struct ztmd_phttp_conn *prev, *next;
};

static void conn_close(struct ztmd_phttp_conn *pc)
{
	struct ztmd_phttp *p = pc->p;

	if (pc->req != NULL)
		ztmd_http_plain_gone(pc->req);
	if (pc->prev != NULL)
		pc->prev->next = pc->next;
	else
		p->conns = pc->next;
	if (pc->next != NULL)
		pc->next->prev = pc->prev;
	p->n--;
	if (pc->rev != NULL)
		event_free(pc->rev);
	if (pc->wev != NULL)
		event_free(pc->wev);
	if (pc->fd >= 0)
		evutil_closesocket(pc->fd);
	ztm_buf_free(&pc->in);
	ztm_buf_free(&pc->out);
	free(pc->hbuf);
	free(pc);
	if (p->paused && p->lev != NULL && p->n < p->w->set->max_connections) {
		evconnlistener_enable(p->lev);
		p->paused = 0;
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

/* RFC 9110 §6.6.1: an origin server with a clock sends Date. */
static const char *date_line(struct ztmd_phttp *p)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != p->date_t && gmtime_r(&now, &tm) != NULL) {
		strftime(p->date, sizeof(p->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		p->date_t = now;
	}
	return p->date;
}

static char *put_u64(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

void ztmd_phttp_reply(struct ztmd_phttp_conn *pc, int status, const char *headers,
                      size_t headers_len, const void *body, size_t len);

/* Returns -1 when pc was closed. */
static int flush(struct ztmd_phttp_conn *pc)
{
	while (pc->out_off < pc->out.len) {
		ssize_t n = write(pc->fd, pc->out.data + pc->out_off, pc->out.len - pc->out_off);
		if (n > 0) {
			pc->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!event_pending(pc->wev, EV_WRITE, NULL) &&
			    event_add(pc->wev, pc->p->tmo) != 0) {
				conn_close(pc);
				return -1;
			}
			return 0;
		}
		conn_close(pc); /* the peer is gone */
		return -1;
	}
	if (pc->out.cap > KEEP_MAX) {
		ztm_buf_free(&pc->out);
		ztm_buf_init(&pc->out, pc->out.max);
	}
	pc->out.len = 0;
	pc->out_off = 0;
	if (event_pending(pc->wev, EV_WRITE, NULL))
		event_del(pc->wev);
	if (pc->close_after && pc->req == NULL) {
		/* RFC 9112 §9.6: close in steps. Closing with unread input (the
		 * rest of a refused request) makes the kernel send a reset, which
		 * can destroy the answer before the client reads it; so send FIN,
		 * then read and drop until the client closes or the timeout. */
		if (pc->lingering || shutdown(pc->fd, SHUT_WR) != 0) {
			conn_close(pc);
			return -1;
		}
		pc->lingering = 1;
		if (pc->read_paused) {
			pc->read_paused = 0;
			if (event_add(pc->rev, pc->p->tmo) != 0) {
				conn_close(pc);
				return -1;
			}
		}
		return -1; /* nothing more is answered on it */
	}
	return 0;
}

/* Answers a request that never reaches a handler (a broken head, over a
 * cap) and closes after: what follows it cannot be trusted to be read as
 * the client meant. Logged: a refusal is never quiet. */
static void refuse(struct ztmd_phttp_conn *pc, int status, const char *why)
{
	static const char ct[] = "Content-Type: text/plain; charset=utf-8\r\n";

	ztm_log(ZTM_LOG_WARN, "refused", "status=%d listener=public error=\"%s\" peer=%s", status,
	        why, pc->peer);
	pc->close_after = 1;
	ztmd_phttp_reply(pc, status, ct, sizeof(ct) - 1, why, strlen(why));
}

/* Reads the head at the start of what is left into pc->head; 1 when
 * there, 0 to wait for more, -1 after refusing it. */
static int read_head(struct ztmd_phttp_conn *pc, char *at, size_t avail)
{
	const struct ztmd_settings *set = pc->p->w->set;
	size_t end = ztmd_phttp_head_end(at, avail);
	int rc;

	if (end == 0) {
		/* Not all in: refuse early what no head can hold. */
		if (avail >= set->max_header_bytes)
			refuse(pc, 431, "request head too large");
		else if (ztmd_phttp_parse(at, avail, &pc->head) != ZTMD_PHTTP_MORE)
			refuse(pc, 400, "malformed request head");
		else
			return 0;
		return -1;
	}
	if (end > set->max_header_bytes) {
		refuse(pc, 431, "request head too large");
		return -1;
	}
	memcpy(pc->hbuf, at, end);
	rc = ztmd_phttp_parse(pc->hbuf, end, &pc->head);
	if (rc < 0) {
		refuse(pc,
		       rc == ZTMD_PHTTP_UNSUPPORTED ? 501
		       : rc == ZTMD_PHTTP_TOOBIG    ? 431
		       : rc == ZTMD_PHTTP_EXPECT    ? 417
		                                    : 400,
		       rc == ZTMD_PHTTP_UNSUPPORTED ? "Transfer-Encoding is not supported"
		                                    : "malformed request head");
		return -1;
	}
	/* Refused before the body is read. */
	if (pc->head.content_length > set->max_body_bytes) {
		refuse(pc, 413, "request body too large");
		return -1;
	}
	return 1;
}

/* Answers what is complete in the buffer, one request at a time. */
static void process(struct ztmd_phttp_conn *pc)
{
	size_t avail, body;

	pc->in_process = 1;
	while (pc->req == NULL && !pc->close_after && pc->out.len < OUT_HIGH) {
		char *at = (char *)pc->in.data + pc->pos;

		avail = pc->in.len - pc->pos;
		if (avail == 0 || (!pc->head_ready && read_head(pc, at, avail) != 1))
			break;
		pc->head_ready = 1;
		body = (size_t)pc->head.content_length;
		if (avail < pc->head.head_len + body) {
			/* RFC 9110 §10.1.1: tell a waiting client to send the body. */
			if (pc->head.expect_continue && !pc->continued && pc->head.minor == 1) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				pc->continued = 1;
				if (ztm_buf_append(&pc->out, cont, sizeof(cont) - 1) != 0)
					pc->close_after = 1;
			}
			break;
		}
		pc->continued = 0;
		pc->head_ready = 0;
		pc->req_len = pc->head.head_len + body;
		if (pc->p->w->draining)
			pc->head.close = 1;
		if (ztmd_http_dispatch_plain(
		        pc->p->w, pc, &pc->head,
		        (struct ztm_slice){(const uint8_t *)at + pc->head.head_len, body}, pc->peer,
		        &pc->req) != 0) {
			refuse(pc, 503, "out of memory");
			break;
		}
	}
	pc->in_process = 0;
}

/* Reading, answering and writing after an event; -1 when pc was closed. */
static int step(struct ztmd_phttp_conn *pc)
{
	process(pc);
	if (flush(pc) != 0)
		return -1;
	/* Reading resumes once the answer is out and there is room. */
	if (pc->read_paused && pc->req == NULL && pc->out.len == 0) {
		pc->read_paused = 0;
		if (event_add(pc->rev, pc->p->tmo) != 0) {
			conn_close(pc);
			return -1;
		}
		if (pc->in.len > pc->pos)
			return step(pc);
	}
	return 0;
}

void ztmd_phttp_reply(struct ztmd_phttp_conn *pc, int status, const char *headers,
                      size_t headers_len, const void *body, size_t len)
{
	char line[64], num[24], *d;
	const char *date = date_line(pc->p), *rs = reason(status);
	size_t need, rl = strlen(rs), dl = strlen(date);
	uint8_t *o;

	pc->req = NULL;
	pc->pos += pc->req_len;
	pc->req_len = 0;
	if (pc->head.close)
		pc->close_after = 1;
	/* "HTTP/1.1 200 OK\r\n" */
	memcpy(line, "HTTP/1.1 ", 9);
	line[9] = (char)('0' + (status / 100) % 10);
	line[10] = (char)('0' + (status / 10) % 10);
	line[11] = (char)('0' + status % 10);
	line[12] = ' ';
	if (rl > sizeof(line) - 16)
		rl = sizeof(line) - 16;
	memcpy(line + 13, rs, rl);
	memcpy(line + 13 + rl, "\r\n", 2);
	d = put_u64(num + sizeof(num), len);
	need = 15 + rl + dl + 16 + (size_t)(num + sizeof(num) - d) + 2 + headers_len +
	       (pc->close_after ? 19 : 0) + 2 + len;
	o = ztm_buf_reserve(&pc->out, need);
	if (o == NULL) {
		/* Over the output cap or out of memory: nothing sensible to send. */
		ztm_log(ZTM_LOG_ERROR, "reply_too_large", "bytes=%zu peer=%s", len, pc->peer);
		pc->close_after = 1;
	} else {
		memcpy(o, line, 15 + rl);
		o += 15 + rl;
		memcpy(o, date, dl);
		o += dl;
		memcpy(o, "Content-Length: ", 16);
		o += 16;
		memcpy(o, d, (size_t)(num + sizeof(num) - d));
		o += num + sizeof(num) - d;
		memcpy(o, "\r\n", 2);
		o += 2;
		memcpy(o, headers, headers_len);
		o += headers_len;
		if (pc->close_after) {
			memcpy(o, "Connection: close\r\n", 19);
			o += 19;
		}
		memcpy(o, "\r\n", 2);
		o += 2;
		if (len > 0)
			memcpy(o, body, len);
		pc->out.len += need;
	}
	if (!pc->in_process)
		step(pc); /* an answer after store work: write it now */
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct ztmd_phttp_conn *pc = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		ztm_log(ZTM_LOG_WARN, "write_timeout", "listener=public peer=%s", pc->peer);
		conn_close(pc);
		return;
	}
	step(pc);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ztmd_phttp_conn *pc = arg;
	uint8_t *dst;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		/* An answer waiting for the group commit is not the client's delay. */
		if (pc->req == NULL)
			conn_close(pc);
		return;
	}
	if (pc->lingering) {
		char sink[4096];
		n = read(fd, sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			conn_close(pc);
		return;
	}
	/* The head of the request in flight lives in the buffer: leave it be,
	 * and stop reading until the answer is made. */
	if (pc->req != NULL || pc->out.len >= OUT_HIGH) {
		event_del(pc->rev);
		pc->read_paused = 1;
		return;
	}
	if (pc->pos > 0) {
		memmove(pc->in.data, pc->in.data + pc->pos, pc->in.len - pc->pos);
		pc->in.len -= pc->pos;
		pc->pos = 0;
	}
	if (pc->in.len == 0 && pc->in.cap > KEEP_MAX) {
		ztm_buf_free(&pc->in);
		ztm_buf_init(&pc->in, pc->in.max);
	}
	n = (ssize_t)(pc->in.max - pc->in.len);
	if (n > READ_CHUNK)
		n = READ_CHUNK;
	dst = n > 0 ? ztm_buf_reserve(&pc->in, (size_t)n) : NULL;
	if (dst == NULL) {
		/* process() refuses a head or body over the caps before this. */
		conn_close(pc);
		return;
	}
	n = read(fd, dst, (size_t)n);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(pc); /* closed by the peer, or reset */
		return;
	}
	pc->in.len += (size_t)n;
	step(pc);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	struct ztmd_phttp *p = arg;
	struct ztmd_phttp_conn *pc = calloc(1, sizeof(*pc));
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	(void)salen;
	if (pc == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		evutil_inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		port = ntohs(in6->sin6_port);
	}
	snprintf(pc->peer, sizeof(pc->peer), "%s:%u", addr, port);
	pc->p = p;
	pc->fd = fd;
	pc->hbuf = malloc(p->w->set->max_header_bytes);
	ztm_buf_init(&pc->in, p->w->set->max_header_bytes + p->w->set->max_body_bytes);
	/* The largest answer: a CA's CRL bundle (16 MiB cap where it is built). */
	ztm_buf_init(&pc->out, 32 * 1024 * 1024);
	pc->next = p->conns;
	if (p->conns != NULL)
		p->conns->prev = pc;
	p->conns = pc;
	p->n++;
	pc->rev = event_new(p->w->base, fd, EV_READ | EV_PERSIST, on_read, pc);
	pc->wev = event_new(p->w->base, fd, EV_WRITE, on_write, pc);
	/* Before the group commit (http.h, ZTMD_PRI_IO). */
	if (pc->hbuf == NULL || pc->rev == NULL || pc->wev == NULL ||
	    event_priority_set(pc->rev, ZTMD_PRI_IO) != 0 ||
	    event_priority_set(pc->wev, ZTMD_PRI_IO) != 0 || event_add(pc->rev, p->tmo) != 0) {
		ztm_log(ZTM_LOG_ERROR, "accept_failed", "listener=public reason=no_memory");
		conn_close(pc);
		return;
	}
	if (p->n >= p->w->set->max_connections && !p->paused) {
		evconnlistener_disable(lev);
		p->paused = 1;
		ztm_log(ZTM_LOG_WARN, "accept_paused", "listener=public connections=%u", p->n);
	}
}

struct ztmd_phttp *ztmd_phttp_new(struct ztmd_worker *w, int fd, struct ztm_error *err)
{
	struct ztmd_phttp *p = calloc(1, sizeof(*p));
	struct timeval tv = {(time_t)w->set->timeout, 0};

	if (p == NULL) {
		close(fd);
		ztm_error_set(err, ZTM_E_NOMEM, "public listener");
		return NULL;
	}
	p->w = w;
	p->tmo = event_base_init_common_timeout(w->base, &tv);
	p->lev = evconnlistener_new(w->base, on_accept, p,
	                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (p->tmo == NULL || p->lev == NULL) {
		if (p->lev == NULL)
			close(fd);
		ztmd_phttp_free(p);
		ztm_error_set(err, ZTM_E_IO, "cannot accept on the public listening socket");
		return NULL;
	}
	return p;
}

void ztmd_phttp_stop_accepting(struct ztmd_phttp *p)
{
	if (p != NULL && p->lev != NULL) {
		evconnlistener_free(p->lev);
		p->lev = NULL;
	}
}

int ztmd_phttp_output_pending(const struct ztmd_phttp *p)
{
	const struct ztmd_phttp_conn *pc;

	for (pc = p != NULL ? p->conns : NULL; pc != NULL; pc = pc->next)
		if (pc->out.len > pc->out_off)
			return 1;
	return 0;
}

void ztmd_phttp_free(struct ztmd_phttp *p)
{
	if (p == NULL)
		return;
	ztmd_phttp_stop_accepting(p);
	while (p->conns != NULL)
		conn_close(p->conns);
	free(p);
}
