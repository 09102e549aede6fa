/* bench_seed.c - seeds a store for the registration benchmark
 * (bench/register.sh, docs/benchmarks.md "Registration").
 *
 *   bench_seed --store sqlite:/path/ztm.db --out devices.bin
 *              [--records 1000000] [--devices 40000]
 *
 * Writes, through the libztm store API, what the factory side would have
 * produced: a factory, a station (left pending: vetting asks only whether
 * it is revoked, and enrolling needs a real station certificate), product "widget" (P-256 keys,
 * approved firmware required), one open work order and --records station
 * records in record batches of 1,000, with the order's record counter
 * taken for each (once per transaction of 20,000). --store may name a
 * PostgreSQL database (postgresql://...) as well.
 *
 * --devices of the records are real: a P-256 key, a self-signed bootstrap
 * certificate (CN "widget-<serial>", serialNumber <serial>, CA:FALSE,
 * clientAuth) and a CSR signed by that key, written to --out for
 * bench_register. The others are filler: the same bootstrap certificate
 * bytes under distinct serials and distinct (made-up) key hashes. Nobody
 * registers a filler; they are there so that every lookup the server does
 * runs against tables and indexes of the full size. Real records are spread
 * evenly among the fillers. Generating a million real keys would take
 * minutes and buys nothing: the server only ever looks up the keys that
 * register.
 *
 * The store must be new (no factory "bench-plant" yet); the keys are not
 * timed with the records. Prints both rates. */
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "der.h" /* libztm's DER writer (src/core, private to the tree) */
#include "regbench.h"
#include "ztm/profile.h"
#include "ztm/store.h"
#include "ztm/str.h"

#define BATCH_RECORDS 1000  /* records per record batch row, as a station would */
#define TX_RECORDS    20000 /* records per store transaction */
#define FW_TEXT       "widget firmware 2.0.1"
#define HW_TYPE_OID   "1.3.6.1.4.1.99999.7"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noreturn)) static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_seed: %s%s%s\n", what, why != NULL ? ": " : "",
	        why != NULL ? why : "");
	exit(1);
}

static void sha256_hex(const void *p, size_t n, char out[ZTM_SHA256_HEX])
{
	uint8_t md[32];

	if (EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) != 1)
		die("SHA-256", NULL);
	ztm_hex(md, sizeof(md), out);
}

/* --- the devices that will register ------------------------------------ */

/* The OpenSSL 3.0 X509 and encoder calls cost ~900 us per device here
 * (X509_set_pubkey alone ~280 us, PERFORMANCE.md); writing the few fixed
 * DER structures with libztm's DER writer and signing with EVP_DigestSign
 * costs ~150 us, so 40,000 devices take seconds, not a minute. */

struct device {
	char serial[24];
	char spki[ZTM_SHA256_HEX];
	struct ztm_buf cert, key, csr;
};

/* SubjectPublicKeyInfo of a P-256 key, up to the 65-byte point. */
static const uint8_t p256_spki_head[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

static void put_name(struct ztm_der *w, const char *cn, const char *serial)
{
	size_t name = ztm_der_begin(w, ZTM_DER_SEQUENCE), set, atv;

	set = ztm_der_begin(w, ZTM_DER_SET);
	atv = ztm_der_begin(w, ZTM_DER_SEQUENCE);
	ZTM_DER_PUT_OID(w, ZTM_OID_AT_CN);
	ztm_der_tlv(w, ZTM_DER_UTF8, cn, strlen(cn));
	ztm_der_end(w, atv);
	ztm_der_end(w, set);
	set = ztm_der_begin(w, ZTM_DER_SET);
	atv = ztm_der_begin(w, ZTM_DER_SEQUENCE);
	ZTM_DER_PUT_OID(w, ZTM_OID_AT_SERIAL);
	ztm_der_tlv(w, ZTM_DER_PRINTABLE, serial, strlen(serial)); /* X.520: PrintableString */
	ztm_der_end(w, atv);
	ztm_der_end(w, set);
	ztm_der_end(w, name);
}

static void put_ecdsa_sha256(struct ztm_der *w)
{
	size_t alg = ztm_der_begin(w, ZTM_DER_SEQUENCE);

	ZTM_DER_PUT_OID(w, ZTM_OID_ECDSA_SHA256);
	ztm_der_end(w, alg);
}

/* SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING signature } into out. */
static void sign_wrap(EVP_PKEY *k, const struct ztm_buf *tbs, struct ztm_buf *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t sig[1 + 80];
	size_t slen = sizeof(sig) - 1, top;
	struct ztm_der w;

	sig[0] = 0; /* no unused bits */
	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, sig + 1, &slen, tbs->data, tbs->len) != 1)
		die("ECDSA signature", NULL);
	EVP_MD_CTX_free(md);
	ztm_buf_init(out, 0);
	ztm_der_init(&w, out);
	top = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_raw(&w, tbs->data, tbs->len);
	put_ecdsa_sha256(&w);
	ztm_der_tlv(&w, ZTM_DER_BITSTRING, sig, slen + 1);
	ztm_der_end(&w, top);
	if (w.failed)
		die("DER", NULL);
}

/* What `openssl req -x509 ... -addext basicConstraints=critical,CA:FALSE
 * -addext extendedKeyUsage=clientAuth` makes (and ztmdev makes): a
 * self-signed end-entity certificate, CN "<product>-<serial>" and
 * serialNumber <serial>. */
static void bootstrap_cert(EVP_PKEY *k, const uint8_t *spki, const char *serial,
                           struct ztm_buf *out)
{
	static const uint8_t yes = 0xff;
	int64_t now = (int64_t)time(NULL);
	struct ztm_buf tbs;
	struct ztm_der w;
	char cn[64];
	uint8_t rnd[8];
	uint64_t sn = 0;
	size_t i, top, m, exts, ext, oct, seq;

	snprintf(cn, sizeof(cn), "%s-%s", REGBENCH_PRODUCT, serial);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		die("RAND_bytes", NULL);
	for (i = 0; i < sizeof(rnd); i++)
		sn = sn << 8 | rnd[i];
	ztm_buf_init(&tbs, 0);
	ztm_der_init(&w, &tbs);
	top = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	m = ztm_der_begin(&w, ZTM_DER_CTX_CONS(0));
	ztm_der_uint(&w, 2); /* v3 */
	ztm_der_end(&w, m);
	ztm_der_uint(&w, sn >> 1 | 1);
	put_ecdsa_sha256(&w);
	put_name(&w, cn, serial);
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_time(&w, now - 3600);
	ztm_der_time(&w, now + 20LL * 365 * 86400);
	ztm_der_end(&w, m);
	put_name(&w, cn, serial);
	ztm_der_raw(&w, spki, 91);
	exts = ztm_der_begin(&w, ZTM_DER_CTX_CONS(3));
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ext = ztm_der_begin(&w, ZTM_DER_SEQUENCE); /* basicConstraints critical, cA FALSE */
	ZTM_DER_PUT_OID(&w, ZTM_OID_BC);
	ztm_der_tlv(&w, ZTM_DER_BOOLEAN, &yes, 1);
	oct = ztm_der_begin(&w, ZTM_DER_OCTETSTR);
	seq = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_end(&w, seq);
	ztm_der_end(&w, oct);
	ztm_der_end(&w, ext);
	ext = ztm_der_begin(&w, ZTM_DER_SEQUENCE); /* extendedKeyUsage clientAuth */
	ZTM_DER_PUT_OID(&w, ZTM_OID_EKU);
	oct = ztm_der_begin(&w, ZTM_DER_OCTETSTR);
	seq = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ZTM_DER_PUT_OID(&w, ZTM_OID_KP_CLIENT);
	ztm_der_end(&w, seq);
	ztm_der_end(&w, oct);
	ztm_der_end(&w, ext);
	ztm_der_end(&w, m);
	ztm_der_end(&w, exts);
	ztm_der_end(&w, top);
	if (w.failed)
		die("DER", NULL);
	sign_wrap(k, &tbs, out);
	ztm_buf_free(&tbs);
}

/* PKCS#10 with the serial in the subject (vetting checks it when present). */
static void make_csr(EVP_PKEY *k, const uint8_t *spki, const char *serial, struct ztm_buf *out)
{
	struct ztm_buf cri;
	struct ztm_der w;
	size_t top, attrs;

	ztm_buf_init(&cri, 0);
	ztm_der_init(&w, &cri);
	top = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_uint(&w, 0);
	put_name(&w, serial, serial);
	ztm_der_raw(&w, spki, 91);
	attrs = ztm_der_begin(&w, ZTM_DER_CTX_CONS(0));
	ztm_der_end(&w, attrs);
	ztm_der_end(&w, top);
	if (w.failed)
		die("DER", NULL);
	sign_wrap(k, &cri, out);
	ztm_buf_free(&cri);
}

/* RFC 5208 PrivateKeyInfo holding an RFC 5915 ECPrivateKey. */
static void pkcs8(const uint8_t priv[32], const uint8_t point[65], struct ztm_buf *out)
{
	struct ztm_der w;
	size_t top, m, oct, ec, pub;
	uint8_t bits[66];

	bits[0] = 0;
	memcpy(bits + 1, point, 65);
	ztm_buf_init(out, 0);
	ztm_der_init(&w, out);
	top = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_uint(&w, 0);
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ZTM_DER_PUT_OID(&w, ZTM_OID_EC_PUBKEY);
	ZTM_DER_PUT_OID(&w, ZTM_OID_P256);
	ztm_der_end(&w, m);
	oct = ztm_der_begin(&w, ZTM_DER_OCTETSTR);
	ec = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_uint(&w, 1);
	ztm_der_tlv(&w, ZTM_DER_OCTETSTR, priv, 32);
	pub = ztm_der_begin(&w, ZTM_DER_CTX_CONS(1));
	ztm_der_tlv(&w, ZTM_DER_BITSTRING, bits, sizeof(bits));
	ztm_der_end(&w, pub);
	ztm_der_end(&w, ec);
	ztm_der_end(&w, oct);
	ztm_der_end(&w, top);
	if (w.failed)
		die("DER", NULL);
}

static void make_device(EVP_PKEY_CTX *kctx, size_t i, struct device *d)
{
	EVP_PKEY *k = NULL;
	BIGNUM *priv = NULL;
	uint8_t spki[91], scalar[32];
	size_t plen = 0;

	snprintf(d->serial, sizeof(d->serial), "BN%07zu", i);
	memcpy(spki, p256_spki_head, sizeof(p256_spki_head));
	if (EVP_PKEY_keygen(kctx, &k) != 1 ||
	    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
	                                    spki + sizeof(p256_spki_head), 65, &plen) != 1 ||
	    plen != 65 || spki[sizeof(p256_spki_head)] != 0x04 ||
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1 ||
	    BN_bn2binpad(priv, scalar, sizeof(scalar)) != sizeof(scalar))
		die("P-256 key", NULL);
	sha256_hex(spki, sizeof(spki), d->spki);
	bootstrap_cert(k, spki, d->serial, &d->cert);
	make_csr(k, spki, d->serial, &d->csr);
	pkcs8(scalar, spki + sizeof(p256_spki_head), &d->key);
	OPENSSL_cleanse(scalar, sizeof(scalar));
	BN_clear_free(priv);
	EVP_PKEY_free(k);
}

static struct device *make_devices(size_t n, const char *out)
{
	struct device *dev = calloc(n, sizeof(*dev));
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	struct ztm_error err;
	mode_t old;
	FILE *f;
	size_t i;

	if (dev == NULL || kctx == NULL || EVP_PKEY_keygen_init(kctx) != 1 ||
	    EVP_PKEY_CTX_set_group_name(kctx, "P-256") != 1)
		die("key generation", NULL);
	for (i = 0; i < n; i++)
		make_device(kctx, i, &dev[i]);
	EVP_PKEY_CTX_free(kctx);
	old = umask(077);
	f = fopen(out, "wb");
	umask(old);
	if (f == NULL)
		die(out, "cannot create");
	if (regbench_write_header(f, n, &err) != 0)
		die(out, err.msg);
	for (i = 0; i < n; i++) {
		struct ztm_slice c = ztm_buf_slice(&dev[i].cert), k = ztm_buf_slice(&dev[i].key),
		                 r = ztm_buf_slice(&dev[i].csr);
		if (regbench_write_entry(f, &c, &k, &r, &err) != 0)
			die(out, err.msg);
	}
	if (fclose(f) != 0)
		die(out, "write failed");
	return dev;
}

/* --- the production model and the records ------------------------------ */

struct model {
	int64_t station_id, order_id;
	char fw[ZTM_SHA256_HEX];
};

static void seed_model(struct ztm_store *s, int64_t quota, struct model *m)
{
	struct ztm_product_row p;
	struct ztm_order_row o;
	struct ztm_error err;
	int64_t factory_id, product_id, now = (int64_t)time(NULL);

	memset(&p, 0, sizeof(p));
	ztm_strlcpy(p.name, REGBENCH_PRODUCT, sizeof(p.name));
	ztm_strlcpy(p.device_class, "sensor", sizeof(p.device_class));
	p.lifetime_days = 7300;
	p.key_kinds = ZTM_KK_BIT(ZTM_KK_P256);
	p.require_fw_hash = 1;
	ztm_strlcpy(p.hw_type_oid, HW_TYPE_OID, sizeof(p.hw_type_oid));
	sha256_hex(FW_TEXT, strlen(FW_TEXT), m->fw);
	memset(&o, 0, sizeof(o));
	ztm_strlcpy(o.name, "WO-BENCH", sizeof(o.name));
	o.quota = quota;
	o.not_before = now - 86400;
	o.not_after = 4102444800; /* 2100-01-01 */
	if (ztm_store_begin(s, &err) != 0 ||
	    ztm_store_factory_add(s, "bench-plant", &factory_id, &err) != 0 ||
	    ztm_store_station_add(s, factory_id, "line-1", &m->station_id, &err) != 0 ||
	    ztm_store_product_add(s, &p, &product_id, &err) != 0 ||
	    ztm_store_firmware_approve(s, product_id, m->fw, &err) != 0)
		die("production model (a fresh store is needed)", err.msg);
	o.product_id = product_id;
	o.factory_id = factory_id;
	if (ztm_store_order_add(s, &o, &m->order_id, &err) != 0 || ztm_store_commit(s, &err) != 0)
		die("work order", err.msg);
}

static void seed_records(struct ztm_store *s, const struct model *m, size_t total,
                         const struct device *dev, size_t ndev, const struct ztm_buf *filler)
{
	struct ztm_record_row row;
	struct ztm_error err;
	int64_t batch_id = 0, id, now = (int64_t)time(NULL);
	size_t i, next_dev = 0;
	int repeat;

	memset(&row, 0, sizeof(row));
	row.station_id = m->station_id;
	row.order_id = m->order_id;
	ztm_strlcpy(row.hw_rev, "A", sizeof(row.hw_rev));
	ztm_strlcpy(row.fw_version, "2.0.1", sizeof(row.fw_version));
	ztm_strlcpy(row.fw_sha256, m->fw, sizeof(row.fw_sha256));
	row.test_result = ZTM_TEST_PASS;
	row.key_origin = ZTM_KEY_ORIGIN_DEVICE;
	row.recorded_at = now;
	for (i = 0; i < total; i++) {
		/* Device j sits at record j * total / ndev. */
		int real = next_dev < ndev && i == next_dev * total / ndev;

		if (i % TX_RECORDS == 0 && ztm_store_begin(s, &err) != 0)
			die("begin", err.msg);
		if (i % BATCH_RECORDS == 0) {
			char hash[ZTM_SHA256_HEX], tag[32];
			snprintf(tag, sizeof(tag), "bench batch %zu", i / BATCH_RECORDS);
			sha256_hex(tag, strlen(tag), hash);
			if (ztm_store_batch_add(s, m->station_id, hash, BATCH_RECORDS, &batch_id,
			                        &err) != 0)
				die("record batch", err.msg);
		}
		row.batch_id = batch_id;
		snprintf(row.mac, sizeof(row.mac), "02:00:5e:%02x:%02x:%02x",
		         (unsigned)(i >> 16) & 0xff, (unsigned)(i >> 8) & 0xff, (unsigned)i & 0xff);
		if (real) {
			const struct device *d = &dev[next_dev++];
			ztm_strlcpy(row.serial, d->serial, sizeof(row.serial));
			ztm_strlcpy(row.spki_sha256, d->spki, sizeof(row.spki_sha256));
			row.bootstrap_der = d->cert;
		} else {
			char tag[32];
			snprintf(row.serial, sizeof(row.serial), "FILL%07zu", i);
			snprintf(tag, sizeof(tag), "filler key %zu", i);
			sha256_hex(tag, strlen(tag), row.spki_sha256);
			row.bootstrap_der = *filler;
		}
		if (ztm_store_record_add(s, &row, &id, &repeat, &err) != 0 || repeat)
			die("record", err.msg);
		/* The order's counter once per transaction, as ztmd's ingest takes
		 * it once per batch: on PostgreSQL, 20,000 updates of one row in
		 * one transaction cost O(n^2) (each walks the row's versions). */
		if ((i + 1) % TX_RECORDS == 0 || i + 1 == total) {
			if (ztm_store_order_take_record_slots(
			        s, m->order_id, (int64_t)(i % TX_RECORDS + 1), now, &err) != 0 ||
			    ztm_store_commit(s, &err) != 0)
				die("commit", err.msg);
		}
	}
	if (next_dev != ndev)
		die("internal", "not every device was recorded");
}

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr, "usage: bench_seed --store sqlite:PATH|postgresql://... --out FILE "
	                "[--records N] [--devices N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"store", required_argument, NULL, 's'},
	    {"out", required_argument, NULL, 'o'},
	    {"records", required_argument, NULL, 'r'},
	    {"devices", required_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	const char *url = NULL, *out = NULL;
	uint64_t records = 1000000, ndev = 40000;
	struct ztm_store *s = NULL;
	struct ztm_error err;
	struct device *dev;
	struct model m;
	double t0, t1, t2;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			url = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'r':
			if (ztm_parse_u64(optarg, 1, 100000000, &records) != 0)
				usage();
			break;
		case 'd':
			if (ztm_parse_u64(optarg, 1, 200000, &ndev) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (url == NULL || out == NULL || optind != argc || ndev > records)
		usage();
	if (ztm_store_open(url, &s, &err) != 0)
		die(url, err.msg);
	t0 = now_s();
	dev = make_devices((size_t)ndev, out);
	t1 = now_s();
	printf("devices: %llu P-256 keys, bootstrap certificates and CSRs in %.1f s -> %s\n",
	       (unsigned long long)ndev, t1 - t0, out);
	fflush(stdout);
	seed_model(s, (int64_t)records, &m);
	/* The fillers' bootstrap certificate: a real one's bytes. */
	seed_records(s, &m, (size_t)records, dev, (size_t)ndev, &dev[0].cert);
	t2 = now_s();
	printf("records: %llu (%llu real, %llu filler) in %.1f s, %.0f records/s\n",
	       (unsigned long long)records, (unsigned long long)ndev,
	       (unsigned long long)(records - ndev), t2 - t1, (double)records / (t2 - t1));
	ztm_store_close(s);
	for (i = 0; i < ndev; i++) {
		ztm_buf_free(&dev[i].cert);
		ztm_buf_free(&dev[i].key);
		ztm_buf_free(&dev[i].csr);
	}
	free(dev);
	return 0;
}
