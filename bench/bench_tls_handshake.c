/* bench_tls_handshake.c - what ztmd's TLS handshake with a device's
 * bootstrap certificate costs the server, in one process (no sockets, no
 * HTTP, no store): docs/benchmarks.md "Registration", the breakdown.
 *
 *   bench_tls_handshake --config srv/ztmd.conf --devices devices.bin [--n 2000]
 *
 * The server side is ztmd's own SSL_CTX (ztmd_tls_ctx_new on the given
 * configuration: TLS 1.3, client certificates requested, the bootstrap
 * verify callback); the client side presents the devices of the devices
 * file, as bench_register does. The two talk through a BIO pair; only the
 * server's calls are timed (thread CPU time): the handshake including the
 * session tickets it sends, if any, and freeing the connection. The same
 * handshakes are then timed with OpenSSL's defaults (two session tickets,
 * the server session cache), and the client-certificate steps on their own
 * (decode, chain building, the self-signature). */
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regbench.h"
#include "server.h"
#include "ztm/str.h"

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noreturn)) static void die(const char *what, const char *why)
{
	unsigned long e = ERR_peek_last_error();
	char ossl[160] = "";

	if (e != 0)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	fprintf(stderr, "bench_tls_handshake: %s%s%s %s\n", what, why != NULL ? ": " : "",
	        why != NULL ? why : "", ossl);
	exit(1);
}

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr, "usage: bench_tls_handshake --config ztmd.conf --devices FILE [--n N]\n");
	exit(2);
}

struct dev {
	X509 *cert;
	EVP_PKEY *key;
	struct ztm_slice der;
};

/* One handshake; returns the server's CPU seconds (handshake + free). */
static double handshake(SSL_CTX *sctx, SSL_CTX *cctx, const struct dev *d)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *sb = NULL, *cb = NULL;
	double spent = 0, t;
	int sdone = 0, cdone = 0, rounds = 0;

	if (s == NULL || c == NULL || BIO_new_bio_pair(&sb, 0, &cb, 0) != 1 ||
	    SSL_use_certificate(c, d->cert) != 1 || SSL_use_PrivateKey(c, d->key) != 1)
		die("SSL_new", NULL);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	while (!(sdone && cdone)) {
		int r;
		if (++rounds > 20)
			die("handshake", "does not finish");
		if (!cdone) {
			r = SSL_do_handshake(c);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
				die("client handshake", NULL);
		}
		if (!sdone) {
			t = cpu_now();
			r = SSL_do_handshake(s);
			spent += cpu_now() - t;
			if (r == 1)
				sdone = 1;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				die("server handshake", NULL);
		}
	}
	if (!ztmd_tls_peer_is_bootstrap(s))
		die("handshake", "the server did not see a bootstrap certificate");
	SSL_free(c);
	t = cpu_now();
	SSL_free(s);
	spent += cpu_now() - t;
	return spent;
}

static double run(SSL_CTX *sctx, SSL_CTX *cctx, const struct dev *dev, size_t ndev, size_t n)
{
	double total = 0;
	size_t i;

	for (i = 0; i < n; i++)
		total += handshake(sctx, cctx, &dev[i % ndev]);
	return total / (double)n;
}

/* The client-certificate steps alone, against the server's trust store. */
static void cert_steps(SSL_CTX *sctx, const struct dev *dev, size_t ndev, size_t n)
{
	X509_STORE *store = SSL_CTX_get_cert_store(sctx);
	double t_dec = 0, t_chain = 0, t_self = 0, t;
	size_t i;

	for (i = 0; i < n; i++) {
		const unsigned char *p = dev[i % ndev].der.p;
		X509_STORE_CTX *x = X509_STORE_CTX_new();
		X509 *cert;

		t = cpu_now();
		cert = d2i_X509(NULL, &p, (long)dev[i % ndev].der.len);
		t_dec += cpu_now() - t;
		if (cert == NULL || x == NULL || X509_STORE_CTX_init(x, store, cert, NULL) != 1)
			die("X509_STORE_CTX_init", NULL);
		t = cpu_now();
		if (X509_verify_cert(x) == 1 ||
		    X509_STORE_CTX_get_error(x) != X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
			die("chain", "want 'self-signed certificate'");
		t_chain += cpu_now() - t;
		t = cpu_now();
		if (X509_self_signed(cert, 1) != 1)
			die("self-signature", NULL);
		t_self += cpu_now() - t;
		X509_STORE_CTX_free(x);
		X509_free(cert);
		ERR_clear_error();
	}
	printf("  client certificate: decode (d2i_X509)          %7.1f us\n", t_dec * 1e6 / n);
	printf("  client certificate: chain building (fails)     %7.1f us\n", t_chain * 1e6 / n);
	printf("  client certificate: self-signature (verify_cb) %7.1f us\n", t_self * 1e6 / n);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"devices", required_argument, NULL, 'd'},
	    {"n", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *devices = NULL;
	uint64_t n = 2000;
	struct ztm_config *cfg;
	struct ztmd_settings set;
	struct regbench_file file;
	struct ztm_error err;
	struct dev *dev;
	SSL_CTX *sctx, *cctx;
	size_t i, ndev;
	double as_is, with_tickets;
	int c;
	long tickets;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			devices = optarg;
			break;
		case 'n':
			if (ztm_parse_u64(optarg, 1, 1000000, &n) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (config == NULL || devices == NULL || optind != argc)
		usage();
	cfg = ztm_config_load(config, &err);
	if (cfg == NULL || ztmd_settings_read(cfg, &set, &err) != 0)
		die(config, err.msg);
	sctx = ztmd_tls_ctx_new(&set, NULL, &err);
	if (sctx == NULL)
		die("server context", err.msg);
	if (regbench_read(devices, &file, &err) != 0)
		die(devices, err.msg);
	ndev = file.n < n ? file.n : (size_t)n;
	dev = calloc(ndev, sizeof(*dev));
	if (dev == NULL)
		die("devices", "out of memory");
	for (i = 0; i < ndev; i++) {
		const unsigned char *p = file.dev[i].cert.p;
		dev[i].der = file.dev[i].cert;
		dev[i].cert = d2i_X509(NULL, &p, (long)file.dev[i].cert.len);
		p = file.dev[i].key.p;
		dev[i].key = d2i_AutoPrivateKey(NULL, &p, (long)file.dev[i].key.len);
		if (dev[i].cert == NULL || dev[i].key == NULL)
			die(devices, "a device does not decode");
	}
	cctx = SSL_CTX_new(TLS_client_method());
	if (cctx == NULL || SSL_CTX_load_verify_locations(cctx, set.tls_client_ca, NULL) != 1)
		die("client context", NULL);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);

	tickets = (long)SSL_CTX_get_num_tickets(sctx);
	run(sctx, cctx, dev, ndev, ndev < 100 ? ndev : 100); /* warm-up */
	as_is = run(sctx, cctx, dev, ndev, (size_t)n);
	/* OpenSSL's defaults, for comparison: two tickets, the session cache. */
	SSL_CTX_set_num_tickets(sctx, 2);
	SSL_CTX_clear_options(sctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER);
	with_tickets = run(sctx, cctx, dev, ndev, (size_t)n);
	printf("TLS 1.3 handshake with a bootstrap client certificate, server CPU, N=%llu:\n",
	       (unsigned long long)n);
	printf("  ztmd's context (%ld session tickets)            %7.1f us\n", tickets,
	       as_is * 1e6);
	printf("  with OpenSSL's default 2 tickets and cache     %7.1f us\n", with_tickets * 1e6);
	cert_steps(sctx, dev, ndev, (size_t)n);

	for (i = 0; i < ndev; i++) {
		X509_free(dev[i].cert);
		EVP_PKEY_free(dev[i].key);
	}
	free(dev);
	regbench_free(&file);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ztm_config_free(cfg);
	return 0;
}
