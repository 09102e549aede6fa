/* station_inject.c - `ztm station inject`: key injection for a device that
 * cannot generate its own key (issue 3 point 6, docs/injection.md).
 *
 * The station stands in for the device: it generates the key in memory,
 * self-signs the bootstrap certificate the device would have made, records
 * it with key_origin "injected" and uploads the record, registers over EST
 * exactly as the device would (the bootstrap certificate as TLS client
 * certificate, a CSR signed by the same key), and writes the key, the
 * operational certificate and its chain as a passphrase-protected PKCS#12
 * bundle for the programmer. Then it wipes its copy: the bundle is the only
 * one. The key is never written anywhere else, not even to a temporary
 * file: the TLS credential and the bundle are built from memory.
 *
 * Everything that can be checked without a key is checked first (fields,
 * bundle path, passphrase, station credential, a queue that uploads), so a
 * refusal there costs nothing. Once a key exists, every failure leaves
 * evidence rather than undoing it: the record stays queued or on the
 * server, and a refused registration is audited there; only the bundle is
 * never written.
 */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "est_client.h"
#include "station_queue.h"
#include "ztm/bootstrap.h"
#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/p12.h"
#include "ztm/str.h"

#define DEVICE_ENROLL_PATH "/.well-known/est/device/simpleenroll"
#define BUNDLE_MAX         ((size_t)256 * 1024)

struct inject {
	const char *queue, *bundle, *pass_file, *key_type;
	int replace;
	struct ztm_client_opts station; /* uploads the record */
	struct ztm_client_opts device;  /* registers: the bootstrap credential */
	struct ztm_record *r;
	enum ztm_key_alg alg;
	struct ztm_buf pass;
	char name[ZTM_BOOTSTRAP_CN_MAX + 1]; /* <product>-<serial> */
	EVP_PKEY *key;
	X509 *boot, *cert;
	STACK_OF(X509) * chain;
};

static int usage(void)
{
	fprintf(stderr,
	        "usage: ztm station inject --queue DIR --serial S --product P --order O\n"
	        "         --hw-rev R --mac aa:bb:cc:dd:ee:ff --fw-version V --fw-sha256 HEX\n"
	        "         --test pass|fail --bundle OUT.p12 --bundle-pass-file FILE\n"
	        "         [--key-type p256|p384|ed25519] [--replace] [connection]\n"
	        "  Generates the device's key in memory (default p256), records it with\n"
	        "  key origin 'injected', uploads the record, registers the device over EST\n"
	        "  and writes key + certificate + chain to OUT.p12 (PKCS#12, AES-256-CBC,\n"
	        "  mode 0600, never overwritten), then wipes the key. FILE (mode 0600) holds\n"
	        "  the bundle passphrase, at least %d characters. --replace overwrites a\n"
	        "  record of S still queued from an injection that did not finish.\n"
	        "  connection: the station's, as for `ztm station sync`\n\n" CLI_CONN_USAGE,
	        ZTM_P12_PASS_MIN);
	return ZTM_EXIT_USAGE;
}

/* The bundle must be new, in a directory we can write: known before a key
 * exists, so a typo never costs a registered device. */
static int check_bundle_path(const char *path, struct ztm_error *err)
{
	char dir[4096], *slash;
	struct stat st;

	if (lstat(path, &st) == 0)
		return ztm_error_set(err, ZTM_E_EXISTS, "%s: already exists, not overwritten",
		                     path);
	if (errno != ENOENT)
		return ztm_error_set(err, ZTM_E_IO, "%s: %s", path, strerror(errno));
	if (ztm_strlcpy(dir, path, sizeof(dir)) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		ztm_strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0)
		return ztm_error_set(err, ZTM_E_IO, "%s: not a directory this user can write", dir);
	return 0;
}

static int parse(int argc, char **argv, struct inject *in, struct station_fields *f)
{
	static const struct option opts[] = {
	    STATION_RECORD_OPTIONS,
	    CLI_CONN_OPTIONS,
	    {"queue", required_argument, NULL, 'q'},
	    {"bundle", required_argument, NULL, 'o'},
	    {"bundle-pass-file", required_argument, NULL, 'P'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"replace", no_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (station_fields_option(c, f) || cli_conn_option(c, &in->station))
			continue;
		switch (c) {
		case 'q':
			in->queue = optarg;
			break;
		case 'o':
			in->bundle = optarg;
			break;
		case 'P':
			in->pass_file = optarg;
			break;
		case 'k':
			in->key_type = optarg;
			break;
		case 'R':
			in->replace = 1;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || in->queue == NULL || in->bundle == NULL || in->pass_file == NULL)
		return -1;
	return 0;
}

static int server_up(const struct ztm_client_opts *o, struct ztm_error *err)
{
	struct ztm_http_resp resp;
	int rc = -1;

	ztm_http_resp_init(&resp);
	if (ztm_client_request(o, "GET", "/healthz", NULL, NULL, NULL, 0, &resp, err) != 0)
		goto out;
	if (resp.status != 200) {
		ztm_error_set(err, ZTM_E_IO, "%s/healthz answered %d", o->url, resp.status);
		goto out;
	}
	rc = 0;
out:
	ztm_http_resp_free(&resp);
	return rc;
}

/* Steps 1-2: everything that needs no key. */
static int preflight(struct inject *in, const struct station_fields *f, struct ztm_error *err)
{
	struct ztm_record *r = in->r;

	if (station_fields_fill(f, r, err) != 0)
		return -1;
	/* The three key types a device library can hold (RSA has no place on
	 * a device that cannot even make its own key). */
	if (ztm_key_alg_parse(in->key_type, &in->alg) != 0 || in->alg == ZTM_KEY_RSA3072)
		return ztm_error_set(err, ZTM_E_USAGE, "--key-type must be p256, p384 or ed25519");
	r->key_origin = ZTM_KEY_ORIGIN_INJECTED;
	r->recorded_at = (int64_t)time(NULL);
	if (ztm_record_validate_fields(r, err) != 0)
		return -1;
	/* The bootstrap certificate's CN, and the bundle's friendlyName. */
	if (snprintf(in->name, sizeof(in->name), "%s-%s", r->product, r->serial) >=
	    (int)sizeof(in->name))
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "'%s-%s' is longer than %d characters (the bootstrap CN)",
		                     r->product, r->serial, ZTM_BOOTSTRAP_CN_MAX);
	if (check_bundle_path(in->bundle, err) != 0 ||
	    ztm_secret_read(in->pass_file, &in->pass, err) != 0)
		return -1;
	if (in->pass.len < ZTM_P12_PASS_MIN)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "%s: bundle passphrase shorter than %d characters",
		                     in->pass_file, ZTM_P12_PASS_MIN);
	if (ztm_client_opts_env(&in->station, 1, err) != 0)
		return -1;
	in->device.url = in->station.url;
	in->device.ca_file = in->station.ca_file;
	/* Upload what is already queued: this proves the station credential
	 * and clears a backlog, so the record made below goes out alone and a
	 * queue that cannot upload stops us before a key exists. An empty
	 * queue sends nothing, so ask the server whether it is there. */
	if (station_queue_sync(in->queue, &in->station, ZTM_BATCH_DEFAULT_RECORDS,
	                       ZTM_BATCH_DEFAULT_BYTES, NULL, err) != 0 ||
	    server_up(&in->station, err) != 0) {
		struct ztm_error why = *err;
		return ztm_error_set(err, why.code, "nothing done: %s", why.msg);
	}
	return 0;
}

/* Steps 3-5: key, bootstrap certificate, record, upload. */
static int make_and_record(struct inject *in, struct ztm_error *err)
{
	struct ztm_record *r = in->r;
	int64_t now = (int64_t)time(NULL);
	char path[4200];
	unsigned char *p;
	int n;

	in->key = ztm_key_new(in->alg, err);
	if (in->key == NULL)
		return -1;
	in->boot = ztm_bootstrap_cert(in->key, r->serial, r->product, now - ZTM_BOOTSTRAP_BACKDATE,
	                              now + ZTM_BOOTSTRAP_LIFETIME, err);
	if (in->boot == NULL)
		return -1;
	n = i2d_X509(in->boot, NULL);
	if (n <= 0 || n > ZTM_RECORD_MAX_CERT)
		return ztm_error_ossl(err, ZTM_E_INTERNAL, "bootstrap certificate: %d bytes", n);
	p = r->cert;
	r->cert_len = (size_t)i2d_X509(in->boot, &p);
	r->recorded_at = now;
	if (station_queue_put(in->queue, r, in->replace, path, sizeof(path), err) != 0)
		return -1;
	fprintf(stderr, "recorded %s (test %s, key injected, %s): %s\n", r->serial,
	        ztm_test_result_name(r->test_result), ztm_key_alg_name(in->alg), path);
	if (station_queue_sync(in->queue, &in->station, ZTM_BATCH_DEFAULT_RECORDS,
	                       ZTM_BATCH_DEFAULT_BYTES, NULL, err) != 0) {
		struct ztm_error why = *err;
		return ztm_error_set(err, why.code,
		                     "%s not injected: its record did not upload (%s); it stays "
		                     "queued in %s and the key is wiped, so it can never register",
		                     r->serial, why.msg, in->queue);
	}
	return 0;
}

/* The issued certificate names the recorded serial (the server takes the
 * subject from the record; this checks we got ours). */
static int check_subject(X509 *cert, const char *serial, struct ztm_error *err)
{
	X509_NAME *n = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(n, NID_serialNumber, -1);
	const ASN1_STRING *v;

	if (i < 0 || X509_NAME_get_index_by_NID(n, NID_serialNumber, i) >= 0)
		return ztm_error_set(err, ZTM_E_POLICY, "issued certificate: not one serialNumber");
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	if ((size_t)ASN1_STRING_length(v) != strlen(serial) ||
	    memcmp(ASN1_STRING_get0_data(v), serial, strlen(serial)) != 0)
		return ztm_error_set(err, ZTM_E_POLICY, "issued certificate: not for serial %s",
		                     serial);
	return 0;
}

/* Step 6: EST simpleenroll as the device (the request ztm-device makes). */
static int do_register(struct inject *in, struct ztm_error *err)
{
	struct ztm_buf csr;
	int rc = -1;

	ztm_buf_init(&csr, 0);
	in->device.mem_cert = in->boot;
	in->device.mem_key = in->key;
	if (cli_est_csr(in->key, in->name, in->r->serial, &csr, err) != 0)
		goto out;
	in->cert = cli_est_simpleenroll(&in->device, DEVICE_ENROLL_PATH, NULL, in->key, &csr,
	                                &in->chain, err);
	if (in->cert == NULL) {
		struct ztm_error why = *err;
		ztm_error_set(err, why.code,
		              "%s not injected: %s; no bundle written, the key is wiped, the "
		              "record stays on the server",
		              in->r->serial, why.msg);
		goto out;
	}
	rc = check_subject(in->cert, in->r->serial, err);
out:
	ztm_buf_free(&csr);
	return rc;
}

/* Step 7: the bundle, written atomically, never over an existing file. */
static int write_bundle(struct inject *in, struct ztm_error *err)
{
	struct ztm_buf der;
	int rc = -1;

	ztm_buf_init(&der, BUNDLE_MAX);
	if (ztm_p12_bundle(in->key, in->cert, in->chain, in->name, (const char *)in->pass.data,
	                   &der, err) != 0 ||
	    ztm_file_write(in->bundle, der.data, der.len, 0600, 1, err) != 0) {
		struct ztm_error why = *err;
		ztm_error_set(err, why.code,
		              "%s is REGISTERED but its bundle was not written (%s); the key is "
		              "wiped: revoke the device's certificate",
		              in->r->serial, why.msg);
		goto out;
	}
	rc = 0;
out:
	ztm_buf_free(&der);
	return rc;
}

static void cert_serial_hex(X509 *x, char *out, size_t n)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = bn != NULL ? BN_bn2hex(bn) : NULL;

	ztm_strlcpy(out, h != NULL ? h : "?", n);
	OPENSSL_free(h);
	BN_free(bn);
}

int station_inject(int argc, char **argv)
{
	struct inject in;
	struct station_fields f;
	struct ztm_error err;
	struct rlimit no_core = {0, 0};
	char hex[80];
	int rc = ZTM_EXIT_FAIL;

	memset(&in, 0, sizeof(in));
	memset(&f, 0, sizeof(f));
	in.key_type = "p256";
	ztm_buf_init(&in.pass, 4096);
	if (parse(argc, argv, &in, &f) != 0)
		return usage();
	/* The key lives in this process only: no core dump may carry it. */
	if (setrlimit(RLIMIT_CORE, &no_core) != 0) {
		ztm_error_set(&err, ZTM_E_INTERNAL, "disabling core dumps: %s", strerror(errno));
		goto fail;
	}
	in.r = calloc(1, sizeof(*in.r));
	if (in.r == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "record");
		goto fail;
	}
	if (preflight(&in, &f, &err) != 0 || make_and_record(&in, &err) != 0)
		goto fail;
	if (in.r->test_result != ZTM_TEST_PASS) {
		ztm_error_set(&err, ZTM_E_POLICY,
		              "%s failed its test: recorded and uploaded as failed; no key "
		              "injected, nothing written",
		              in.r->serial);
		goto fail;
	}
	if (do_register(&in, &err) != 0 || write_bundle(&in, &err) != 0)
		goto fail;
	cert_serial_hex(in.cert, hex, sizeof(hex));
	fprintf(stderr, "injected %s: certificate %s, bundle %s (key wiped)\n", in.r->serial, hex,
	        in.bundle);
	rc = ZTM_EXIT_OK;
	goto out;
fail:
	rc = cli_fail("station inject", &err);
out:
	/* EVP_PKEY_free clears the private key (BN_clear_free, or a cleansed
	 * buffer for Ed25519); the TLS context that held a reference is gone
	 * already. ztm_buf_free wipes the passphrase. */
	EVP_PKEY_free(in.key);
	X509_free(in.boot);
	X509_free(in.cert);
	sk_X509_pop_free(in.chain, X509_free);
	ztm_buf_free(&in.pass);
	free(in.r);
	return rc;
}
