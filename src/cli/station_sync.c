/* station_sync.c - `ztm station sync`: signs the queued records as batches
 * and POSTs them to ztmd over mTLS (docs/records.md).
 *
 * Crash safety: a batch is written to DIR/batches/ (its list first, then
 * the signed bytes) before it is sent, and stays there until the server
 * answers 2xx. A crash or a network error at any point therefore re-sends
 * the SAME bytes next time (the server dedups them), never a re-signed copy
 * with a new batch_id. No new batch is made while an older one is pending,
 * so a record is never in two unacknowledged batches.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "station_queue.h"
#include "ztm/batch.h"
#include "ztm/certfile.h"
#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/str.h"

/* Room for what a batch holds besides its records' JSON (the batch header,
 * the station certificate, signed attributes, the signature): the records
 * are picked to fit --max-bytes less this, and a signed batch still over
 * --max-bytes is split again. */
#define ENVELOPE_ROOM ((size_t)8 * 1024)
#define LIST_MAX      ((size_t)ZTM_BATCH_MAX_RECORDS * 128)

struct sync {
	const char *queue;
	char records[4096], batches[4096], sent[4096];
	struct ztm_client_opts conn;
	size_t max, max_bytes;
	X509 *cert;
	EVP_PKEY *key;
	unsigned sent_batches;
};

static int usage(void)
{
	fprintf(stderr,
	        "usage: ztm station sync --queue DIR --cert STATION.crt --key KEY-URI\n"
	        "         [--key-pass-file FILE] --server URL --ca CHAIN.pem [--max N]\n"
	        "         [--max-bytes BYTES]\n"
	        "  Signs the queued records as batches of at most N records (default %d,\n"
	        "  at most %d) and at most BYTES signed bytes (default %zu, the server's\n"
	        "  default max_batch_bytes) with the station key and uploads them; a batch\n"
	        "  stays in DIR/batches until the server acknowledges it, and is then moved\n"
	        "  to DIR/sent.\n",
	        ZTM_BATCH_DEFAULT_RECORDS, ZTM_BATCH_MAX_RECORDS, ZTM_BATCH_DEFAULT_BYTES);
	return ZTM_EXIT_USAGE;
}

int station_queue_dir(const char *queue, const char *sub, char *out, size_t n,
                      struct ztm_error *err)
{
	if (snprintf(out, n, "%s/%s", queue, sub) >= (int)n)
		return ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", queue);
	return ztm_mkdirs(out, 0700, err);
}

static int fsync_path(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir ending in suffix, sorted; *out is a NULL-terminated
 * array the caller frees with free_names. */
static int list_dir(const char *dir, const char *suffix, char ***out, size_t *count,
                    struct ztm_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0, sl = strlen(suffix);

	if (d == NULL)
		return ztm_error_set(err, ZTM_E_IO, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				goto nomem;
			v = nv;
		}
		v[n] = strdup(e->d_name);
		if (v[n] == NULL)
			goto nomem;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_str);
	if (v == NULL && (v = calloc(1, sizeof(*v))) == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "%s", dir);
	v[n] = NULL;
	*out = v;
	*count = n;
	return 0;
nomem:
	closedir(d);
	while (n > 0)
		free(v[--n]);
	free(v);
	return ztm_error_set(err, ZTM_E_NOMEM, "%s", dir);
}

static void free_names(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static int sha256_hex(const uint8_t *p, size_t n, char hex[65])
{
	uint8_t md[32];

	if (EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) != 1)
		return -1;
	ztm_hex(md, sizeof(md), hex);
	return 0;
}

/* The id part of "<id>.<ext>": 32 lower-case hex digits, else -1. */
static int batch_id_of(const char *name, char id[33])
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return -1;
	if (name[32] != '.')
		return -1;
	memcpy(id, name, 32);
	id[32] = '\0';
	return 0;
}

static int path_of(char *out, size_t n, const char *dir, const char *id, const char *ext)
{
	return snprintf(out, n, "%s/%s%s", dir, id, ext) >= (int)n ? -1 : 0;
}

/* Moves the records of an acknowledged batch (those still holding the
 * bytes the batch signed: a --replace'd record waits for the next batch),
 * then the batch itself, into sent/<id>/, and drops the .ack marker. Every
 * step tolerates having been done before (a crash in the middle). */
static int finish_ack(struct sync *s, const char *id, struct ztm_error *err)
{
	char dir[4200], list[4200], src[4300], dst[4300], hex[65];
	struct ztm_buf lb, rb;
	char *line, *save = NULL;
	int rc = -1;

	ztm_buf_init(&lb, LIST_MAX);
	ztm_buf_init(&rb, ZTM_RECORD_MAX_JSON);
	if (snprintf(dir, sizeof(dir), "%s/%s", s->sent, id) >= (int)sizeof(dir) ||
	    path_of(list, sizeof(list), s->batches, id, ".list") != 0) {
		ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", s->sent);
		goto out;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		ztm_error_set(err, ZTM_E_IO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (ztm_file_read(list, LIST_MAX, &lb, err) == 0) {
		ztm_buf_cstr(&lb);
		for (line = strtok_r((char *)lb.data, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			/* "<sha256 hex> <serial>.json" */
			const char *name = line + 65;
			size_t nl = strlen(line);
			char serial[ZTM_RECORD_MAX_SERIAL + 1];
			if (nl < 71 || line[64] != ' ' || strcmp(line + nl - 5, ".json") != 0 ||
			    nl - 70 > ZTM_RECORD_MAX_SERIAL)
				continue;
			memcpy(serial, name, nl - 70);
			serial[nl - 70] = '\0';
			if (!ztm_record_valid_serial(serial))
				continue;
			snprintf(src, sizeof(src), "%s/%s", s->records, name);
			snprintf(dst, sizeof(dst), "%s/%s", dir, name);
			rb.len = 0;
			if (ztm_file_read(src, ZTM_RECORD_MAX_JSON, &rb, err) != 0)
				continue; /* moved already */
			if (sha256_hex(rb.data, rb.len, hex) != 0 || memcmp(hex, line, 64) != 0)
				continue; /* replaced since: not what the server got */
			if (rename(src, dst) != 0) {
				ztm_error_set(err, ZTM_E_IO, "%s: %s", src, strerror(errno));
				goto out;
			}
		}
	} else if (err->code != ZTM_E_NOTFOUND) {
		goto out;
	}
	snprintf(src, sizeof(src), "%s/%s.cms", s->batches, id);
	snprintf(dst, sizeof(dst), "%s/batch.cms", dir);
	if (rename(src, dst) != 0 && errno != ENOENT)
		goto io;
	snprintf(dst, sizeof(dst), "%s/batch.list", dir);
	if (rename(list, dst) != 0 && errno != ENOENT)
		goto io;
	if (fsync_path(dir) != 0 || fsync_path(s->records) != 0)
		goto io;
	snprintf(src, sizeof(src), "%s/%s.ack", s->batches, id);
	if (unlink(src) != 0 && errno != ENOENT)
		goto io;
	if (fsync_path(s->batches) != 0)
		goto io;
	rc = 0;
	goto out;
io:
	ztm_error_set(err, ZTM_E_IO, "moving batch %s to %s: %s", id, dir, strerror(errno));
out:
	ztm_buf_free(&lb);
	ztm_buf_free(&rb);
	return rc;
}

/* POSTs DIR/batches/<id>.cms; on 2xx marks it acknowledged and moves it. */
static int send_batch(struct sync *s, const char *id, struct ztm_error *err)
{
	char path[4200], ack[4200];
	struct ztm_buf der;
	struct ztm_http_resp resp;
	int rc = -1;

	ztm_buf_init(&der, ZTM_BATCH_MAX_DER);
	ztm_http_resp_init(&resp);
	if (path_of(path, sizeof(path), s->batches, id, ".cms") != 0 ||
	    path_of(ack, sizeof(ack), s->batches, id, ".ack") != 0) {
		ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", s->batches);
		goto out;
	}
	if (ztm_file_read(path, ZTM_BATCH_MAX_DER, &der, err) != 0)
		goto out;
	if (ztm_client_request(&s->conn, "POST", "/api/v1/records", "application/cms", NULL,
	                       der.data, der.len, &resp, err) != 0) {
		struct ztm_error why = *err;
		ztm_error_set(err, why.code, "batch %s not sent, kept in %s: %s", id, s->batches,
		              why.msg);
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		ztm_buf_cstr(&resp.body);
		ztm_error_set(err,
		              resp.status == 401   ? ZTM_E_AUTH
		              : resp.status == 403 ? ZTM_E_DENIED
		              : resp.status == 404 ? ZTM_E_NOTFOUND
		                                   : ZTM_E_USAGE,
		              "server refused batch %s (%d): %.200s; kept in %s", id, resp.status,
		              resp.body.len > 0 ? (const char *)resp.body.data : "no reason given",
		              s->batches);
		goto out;
	}
	if (ztm_file_write(ack, "", 0, 0600, 0, err) != 0 || finish_ack(s, id, err) != 0)
		goto out;
	s->sent_batches++;
	fprintf(stderr, "sent batch %s (%zu bytes, HTTP %d)\n", id, der.len, resp.status);
	rc = 0;
out:
	ztm_buf_free(&der);
	ztm_http_resp_free(&resp);
	return rc;
}

/* Start-up: finish acknowledged batches, drop lists whose batch was never
 * written, and send what is pending. Nonzero leaves everything in place. */
static int drain_pending(struct sync *s, struct ztm_error *err)
{
	char **names = NULL, id[33], cms[4200], path[4200];
	size_t n, i;
	int rc = -1;

	if (list_dir(s->batches, ".ack", &names, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (batch_id_of(names[i], id) == 0 && finish_ack(s, id, err) != 0)
			goto out;
	free_names(names);
	names = NULL;
	if (list_dir(s->batches, ".list", &names, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (batch_id_of(names[i], id) != 0 ||
		    path_of(cms, sizeof(cms), s->batches, id, ".cms") != 0)
			continue;
		if (access(cms, F_OK) != 0) {
			/* Crashed between the list and the batch: nothing was
			 * sent, the records are still queued. */
			snprintf(path, sizeof(path), "%s/%s", s->batches, names[i]);
			unlink(path);
		}
	}
	free_names(names);
	names = NULL;
	if (list_dir(s->batches, ".cms", &names, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (batch_id_of(names[i], id) != 0)
			continue;
		fprintf(stderr, "re-sending pending batch %s\n", id);
		if (send_batch(s, id, err) != 0)
			goto out;
	}
	rc = 0;
out:
	free_names(names);
	return rc;
}

/* Signs up to s->max queued records within s->max_bytes as one batch and
 * writes it to DIR/batches. *made = 0 when the queue is empty. */
static int make_batch(struct sync *s, char id[33], int *made, struct ztm_error *err)
{
	char **names = NULL, path[4300], (*hex)[65] = NULL;
	struct ztm_record *recs = NULL;
	struct ztm_buf rb, list, der;
	size_t n, i, k = 0, bytes = ENVELOPE_ROOM, cap;
	int rc = -1;

	*made = 0;
	ztm_buf_init(&rb, ZTM_RECORD_MAX_JSON);
	ztm_buf_init(&list, LIST_MAX);
	ztm_buf_init(&der, ZTM_BATCH_MAX_DER);
	if (list_dir(s->records, ".json", &names, &n, err) != 0)
		goto out;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	cap = n < s->max ? n : s->max;
	recs = calloc(cap, sizeof(*recs));
	hex = calloc(cap, sizeof(*hex));
	if (recs == NULL || hex == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "records");
		goto out;
	}
	for (i = 0; i < n && k < s->max; i++) {
		snprintf(path, sizeof(path), "%s/%s", s->records, names[i]);
		rb.len = 0;
		if (ztm_file_read(path, ZTM_RECORD_MAX_JSON, &rb, err) != 0)
			goto out;
		/* The record's JSON goes into the batch as it is in its file
		 * (both compact, sorted keys), plus a comma. */
		if (k > 0 && bytes + rb.len + 1 > s->max_bytes)
			break;
		if (ztm_record_from_json(rb.data, rb.len, &recs[k], err) != 0) {
			struct ztm_error why = *err;
			ztm_error_set(err, why.code, "%s: %s (move it out of the queue)", path,
			              why.msg);
			goto out;
		}
		if (sha256_hex(rb.data, rb.len, hex[k]) != 0) {
			ztm_error_set(err, ZTM_E_INTERNAL, "batch list");
			goto out;
		}
		bytes += rb.len + 1;
		k++;
	}
	/* The estimate above is close, not exact: a signed batch over the cap
	 * is split again, down to one record, which either fits or is refused
	 * (it would be refused by the server with 413 for ever). */
	for (;;) {
		der.len = 0;
		if (ztm_batch_sign(recs, k, (int64_t)time(NULL), s->cert, s->key, &der, id, err) !=
		    0)
			goto out;
		if (der.len <= s->max_bytes)
			break;
		if (k == 1) {
			ztm_error_set(err, ZTM_E_TOOBIG,
			              "%s/%s: a batch of this record alone is %zu bytes, over "
			              "--max-bytes %zu (move it out of the queue, or raise "
			              "--max-bytes and the server's max_batch_bytes)",
			              s->records, names[0], der.len, s->max_bytes);
			goto out;
		}
		k = k / 2;
	}
	for (i = 0; i < k; i++)
		if (ztm_buf_printf(&list, "%s %s\n", hex[i], names[i]) != 0) {
			ztm_error_set(err, ZTM_E_INTERNAL, "batch list");
			goto out;
		}
	/* The list first: a list without its batch is dropped at start-up. */
	if (path_of(path, sizeof(path), s->batches, id, ".list") != 0 ||
	    ztm_file_write(path, list.data, list.len, 0600, 1, err) != 0)
		goto out;
	if (path_of(path, sizeof(path), s->batches, id, ".cms") != 0 ||
	    ztm_file_write(path, der.data, der.len, 0600, 1, err) != 0)
		goto out;
	*made = 1;
	rc = 0;
out:
	free_names(names);
	free(recs);
	free(hex);
	ztm_buf_free(&rb);
	ztm_buf_free(&list);
	ztm_buf_free(&der);
	return rc;
}

static int load_credential(struct sync *s, struct ztm_error *err)
{
	struct ztm_key_opts kopts;
	struct ztm_buf pass;

	memset(&kopts, 0, sizeof(kopts));
	ztm_buf_init(&pass, 4096);
	s->cert = ztm_cert_load_pem(s->conn.cert_file, err);
	if (s->cert == NULL)
		return -1;
	if (s->conn.key_pass_file != NULL) {
		if (ztm_secret_read(s->conn.key_pass_file, &pass, err) != 0) {
			ztm_buf_free(&pass);
			return -1;
		}
		kopts.pass = (const char *)pass.data;
	}
	s->key = ztm_key_load(s->conn.key_uri, &kopts, err);
	ztm_buf_free(&pass);
	if (s->key == NULL)
		return -1;
	if (X509_check_private_key(s->cert, s->key) != 1)
		return ztm_error_ossl(err, ZTM_E_CONFIG, "%s does not match %s", s->conn.key_uri,
		                      s->conn.cert_file);
	return 0;
}

int station_queue_sync(const char *queue, const struct ztm_client_opts *conn, size_t max,
                       size_t max_bytes, unsigned *sent, struct ztm_error *err)
{
	struct sync s;
	char lock[4200], id[33];
	int fd = -1, made, rc = -1;

	memset(&s, 0, sizeof(s));
	s.queue = queue;
	s.conn = *conn;
	s.max = max;
	s.max_bytes = max_bytes;
	if (station_queue_dir(s.queue, "records", s.records, sizeof(s.records), err) != 0 ||
	    station_queue_dir(s.queue, "batches", s.batches, sizeof(s.batches), err) != 0 ||
	    station_queue_dir(s.queue, "sent", s.sent, sizeof(s.sent), err) != 0)
		return -1;
	/* One sync per queue at a time; `record` may keep appending. */
	snprintf(lock, sizeof(lock), "%s/lock", s.queue);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		ztm_error_set(err, ZTM_E_CONFLICT, "%s: %s", lock,
		              fd < 0 ? strerror(errno) : "another sync is running");
		goto out;
	}
	if (load_credential(&s, err) != 0 || drain_pending(&s, err) != 0)
		goto out;
	for (;;) {
		if (make_batch(&s, id, &made, err) != 0)
			goto out;
		if (!made)
			break;
		if (send_batch(&s, id, err) != 0)
			goto out;
	}
	rc = 0;
out:
	if (sent != NULL)
		*sent = s.sent_batches;
	if (fd >= 0)
		close(fd);
	X509_free(s.cert);
	EVP_PKEY_free(s.key);
	return rc;
}

int station_sync(int argc, char **argv)
{
	static const struct option opts[] = {
	    CLI_CONN_OPTIONS,
	    {"queue", required_argument, NULL, 'q'},
	    {"max", required_argument, NULL, 'm'},
	    {"max-bytes", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ztm_client_opts conn;
	struct ztm_error err;
	const char *queue = NULL;
	uint64_t max = ZTM_BATCH_DEFAULT_RECORDS, max_bytes = ZTM_BATCH_DEFAULT_BYTES;
	unsigned sent = 0;
	int c;

	memset(&conn, 0, sizeof(conn));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (cli_conn_option(c, &conn))
			continue;
		if (c == 'q')
			queue = optarg;
		else if (c == 'm' && ztm_parse_u64(optarg, 1, ZTM_BATCH_MAX_RECORDS, &max) == 0)
			continue;
		else if (c == 'b' &&
		         ztm_parse_u64(optarg, 1024, ZTM_BATCH_MAX_DER, &max_bytes) == 0)
			continue;
		else
			return usage();
	}
	if (optind != argc || queue == NULL)
		return usage();
	if (ztm_client_opts_env(&conn, 1, &err) != 0 ||
	    station_queue_sync(queue, &conn, (size_t)max, (size_t)max_bytes, &sent, &err) != 0)
		return cli_fail("station sync", &err);
	fprintf(stderr, "sync done: %u batch(es) acknowledged, queue empty\n", sent);
	return ZTM_EXIT_OK;
}
