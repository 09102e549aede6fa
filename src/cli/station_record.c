/* station_record.c - `ztm station record`: what the station knows about one
 * device it built goes into its local queue, one file per device, written
 * atomically with mode 0600 (docs/records.md, "The station queue"). The
 * station works offline; `ztm station sync` (station_sync.c) signs and
 * uploads what is queued. */
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_common.h"
#include "station_queue.h"
#include "ztm/batch.h"
#include "ztm/file.h"
#include "ztm/str.h"

static int usage(void)
{
	fprintf(stderr,
	        "usage: ztm station record --queue DIR --bootstrap-cert CERT --serial S\n"
	        "         --product P --order O --hw-rev R --mac aa:bb:cc:dd:ee:ff\n"
	        "         --fw-version V --fw-sha256 HEX --test pass|fail\n"
	        "         [--key-origin device|injected] [--replace] [--replacement]\n"
	        "  CERT: the device's self-signed bootstrap certificate (PEM or DER) whose\n"
	        "  subject serialNumber is S. --replace overwrites a record of S that is\n"
	        "  still queued (a re-test before the next sync). --replacement records a\n"
	        "  registered device again with its new key after repair (no quota).\n");
	return ZTM_EXIT_USAGE;
}

/* PEM or DER, at most ZTM_RECORD_MAX_CERT bytes of DER, into r->cert. */
static int read_cert(const char *path, struct ztm_record *r, struct ztm_error *err)
{
	struct ztm_buf b;
	BIO *bio = NULL;
	X509 *x = NULL;
	unsigned char *p;
	int n, rc = -1;

	ztm_buf_init(&b, 64 * 1024);
	if (ztm_file_read(path, 64 * 1024, &b, err) != 0)
		goto out;
	if (b.len > 10 && memcmp(b.data, "-----BEGIN", 10) == 0) {
		bio = BIO_new_mem_buf(b.data, (int)b.len);
		x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		n = x != NULL ? i2d_X509(x, NULL) : -1;
		if (n <= 0) {
			ztm_error_ossl(err, ZTM_E_PARSE, "%s: not a PEM certificate", path);
			goto out;
		}
		if (n > ZTM_RECORD_MAX_CERT) {
			ztm_error_set(err, ZTM_E_TOOBIG, "%s: certificate over %d bytes", path,
			              ZTM_RECORD_MAX_CERT);
			goto out;
		}
		p = r->cert;
		r->cert_len = (size_t)i2d_X509(x, &p);
	} else {
		if (b.len > ZTM_RECORD_MAX_CERT) {
			ztm_error_set(err, ZTM_E_TOOBIG, "%s: certificate over %d bytes", path,
			              ZTM_RECORD_MAX_CERT);
			goto out;
		}
		memcpy(r->cert, b.data, b.len);
		r->cert_len = b.len;
	}
	rc = 0;
out:
	X509_free(x);
	BIO_free(bio);
	ztm_buf_free(&b);
	return rc;
}

/* Copies a string option into a record field, refusing what does not fit
 * (the validators then judge the contents). */
static int take(char *dst, size_t n, const char *v, const char *opt, struct ztm_error *err)
{
	if (v == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "--%s is required", opt);
	if (ztm_strlcpy(dst, v, n) != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "--%s: longer than %zu characters", opt,
		                     n - 1);
	return 0;
}

int station_fields_option(int c, struct station_fields *f)
{
	const char **slot[] = {&f->serial, &f->product,    &f->order,     &f->hw_rev,
	                       &f->mac,    &f->fw_version, &f->fw_sha256, &f->test};

	if (c < STATION_OPT_BASE || c >= STATION_OPT_BASE + (int)(sizeof(slot) / sizeof(slot[0])))
		return 0;
	*slot[c - STATION_OPT_BASE] = optarg;
	return 1;
}

int station_fields_fill(const struct station_fields *f, struct ztm_record *r, struct ztm_error *err)
{
	if (take(r->serial, sizeof(r->serial), f->serial, "serial", err) != 0 ||
	    take(r->product, sizeof(r->product), f->product, "product", err) != 0 ||
	    take(r->order, sizeof(r->order), f->order, "order", err) != 0 ||
	    take(r->hw_rev, sizeof(r->hw_rev), f->hw_rev, "hw-rev", err) != 0 ||
	    take(r->mac, sizeof(r->mac), f->mac, "mac", err) != 0 ||
	    take(r->fw_version, sizeof(r->fw_version), f->fw_version, "fw-version", err) != 0 ||
	    take(r->fw_sha256, sizeof(r->fw_sha256), f->fw_sha256, "fw-sha256", err) != 0)
		return -1;
	if (ztm_test_result_parse(f->test, &r->test_result) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "--test must be pass or fail");
	return 0;
}

int station_queue_put(const char *queue, struct ztm_record *r, int replace, char *path, size_t n,
                      struct ztm_error *err)
{
	struct ztm_buf js;
	char dir[4096];
	int rc = -1;

	ztm_buf_init(&js, ZTM_RECORD_MAX_JSON);
	/* Same validators as the server's (ztm_batch_verify): a record the
	 * server would refuse never enters the queue. */
	if (ztm_record_to_json(r, &js, err) != 0 ||
	    station_queue_dir(queue, "records", dir, sizeof(dir), err) != 0)
		goto out;
	if (snprintf(path, n, "%s/%s.json", dir, r->serial) >= (int)n) {
		ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", dir);
		goto out;
	}
	if (ztm_file_write(path, js.data, js.len, 0600, !replace, err) != 0) {
		if (err->code == ZTM_E_EXISTS)
			ztm_error_set(err, ZTM_E_EXISTS,
			              "%s is already queued (%s); --replace overwrites it",
			              r->serial, path);
		goto out;
	}
	rc = 0;
out:
	ztm_buf_free(&js);
	return rc;
}

int station_record(int argc, char **argv)
{
	static const struct option opts[] = {
	    STATION_RECORD_OPTIONS,
	    {"queue", required_argument, NULL, 'q'},
	    {"bootstrap-cert", required_argument, NULL, 'b'},
	    {"key-origin", required_argument, NULL, 'k'},
	    {"replace", no_argument, NULL, 'R'},
	    {"replacement", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct station_fields f;
	const char *queue = NULL, *cert = NULL, *origin = "device";
	struct ztm_record *r = calloc(1, sizeof(*r));
	struct ztm_error err;
	char path[4200];
	int c, replace = 0, replacement = 0, rc = ZTM_EXIT_FAIL;

	if (r == NULL) {
		fprintf(stderr, "ztm station record: out of memory\n");
		return ZTM_EXIT_FAIL;
	}
	memset(&f, 0, sizeof(f));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (station_fields_option(c, &f))
			continue;
		switch (c) {
		case 'q':
			queue = optarg;
			break;
		case 'b':
			cert = optarg;
			break;
		case 'k':
			origin = optarg;
			break;
		case 'R':
			replace = 1;
			break;
		case 'P':
			replacement = 1;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || queue == NULL || cert == NULL)
		goto usage;
	if (station_fields_fill(&f, r, &err) != 0)
		goto fail;
	if (ztm_key_origin_parse(origin, &r->key_origin) != 0) {
		ztm_error_set(&err, ZTM_E_USAGE, "--key-origin must be device or injected");
		goto fail;
	}
	r->kind = replacement ? ZTM_RECORD_REPLACEMENT : ZTM_RECORD_NEW;
	r->recorded_at = (int64_t)time(NULL);
	if (read_cert(cert, r, &err) != 0 ||
	    station_queue_put(queue, r, replace, path, sizeof(path), &err) != 0)
		goto fail;
	fprintf(stderr, "recorded %s%s (test %s, key %s): %s\n", r->serial,
	        replacement ? " as a replacement" : "", ztm_test_result_name(r->test_result),
	        ztm_key_origin_name(r->key_origin), path);
	rc = ZTM_EXIT_OK;
	goto out;
usage:
	rc = usage();
	goto out;
fail:
	rc = cli_fail("station record", &err);
out:
	free(r);
	return rc;
}
