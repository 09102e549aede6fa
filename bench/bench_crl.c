/* bench_crl.c - CRL generation for a large revoked population, sharded.
 *
 *   bench_crl [N] [SHARD_SIZE]     (defaults 1000000, 16384)
 *
 * Three runs, each in its own forked process so that its peak RSS
 * (getrusage of the child) is its own:
 *   writer  N entries from a generator (no store), shard by shard through
 *           ztm_crl_begin/add/finish with a P-256 CA: the encoder and the
 *           signatures alone.
 *   store   N revocations in a SQLite store (filled first, not timed), then
 *           what ztmd's CRL task does per shard: read the shard's rows with
 *           ztm_store_revocations_each, stream them into the writer, sign,
 *           store the CRL with ztm_store_crl_put under a claim.
 *   x509    the same N entries through OpenSSL's X509_CRL API in one CRL
 *           (the baseline PERFORMANCE.md measured: 6.0 s, 245 MB).
 * Figures go to docs/benchmarks.md ("CRL generation").
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ztm/ca.h"
#include "ztm/crl.h"
#include "ztm/store.h"
#include "ztm/str.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_crl: %s\n", what);
	exit(1);
}

static X509 *make_root(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	static const struct {
		int nid;
		const char *v;
	} ext[] = {{NID_basic_constraints, "critical,CA:TRUE"},
	           {NID_key_usage, "critical,keyCertSign,cRLSign"},
	           {NID_subject_key_identifier, "hash"}};
	size_t i;

	if (x == NULL || n == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"bench CA",
	                               -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		die("root");
	for (i = 0; i < 3; i++) {
		X509_EXTENSION *e;
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		e = X509V3_EXT_nconf_nid(NULL, &ctx, ext[i].nid, ext[i].v);
		if (e == NULL || X509_add_ext(x, e, -1) != 1)
			die("root ext");
		X509_EXTENSION_free(e);
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		die("root sign");
	X509_NAME_free(n);
	return x;
}

/* Entry i: a ztm-shaped serial (0x5a + 16 pseudo-random bytes) as hex. */
static void serial_of(uint64_t i, char out[35])
{
	uint64_t a = i * 0x9e3779b97f4a7c15ull + 1, b = a ^ (a >> 29) ^ (i << 17);
	uint8_t raw[17];
	int k;

	raw[0] = 0x5a;
	for (k = 0; k < 8; k++) {
		raw[1 + k] = (uint8_t)(a >> (8 * k));
		raw[9 + k] = (uint8_t)(b >> (8 * k));
	}
	ztm_hex(raw, sizeof(raw), out);
}

struct ctx {
	struct ztm_ca *ca;
	EVP_PKEY *key;
	X509 *root;
	uint64_t n, shard_size;
	char db[64];
};

static const char *const base_url = "http://bench.example/crl/device";

static int run_writer(struct ctx *c)
{
	struct ztm_buf out;
	struct ztm_error err;
	uint64_t shard, i, shards = (c->n + c->shard_size - 1) / c->shard_size;
	size_t total = 0, biggest = 0;
	char serial[35], url[128];
	double t0 = now();

	ztm_buf_init(&out, 8 * 1024 * 1024);
	for (shard = 0; shard < shards; shard++) {
		struct ztm_crl_params p = {1, 1700000000, 1700086400, url};
		struct ztm_crl_writer w;
		uint64_t end =
		    (shard + 1) * c->shard_size < c->n ? (shard + 1) * c->shard_size : c->n;

		ztm_crl_shard_url(base_url, (int64_t)shard, url, sizeof(url));
		ztm_buf_reset(&out);
		if (ztm_crl_begin(&w, c->ca, &p, &out, &err) != 0)
			die(err.msg);
		for (i = shard * c->shard_size; i < end; i++) {
			serial_of(i, serial);
			ztm_crl_add_hex(&w, serial, 1690000000 + (int64_t)(i % 86400),
			                (int)(i % 2));
		}
		if (ztm_crl_finish(&w, &err) != 0)
			die(err.msg);
		total += out.len;
		if (out.len > biggest)
			biggest = out.len;
	}
	printf("writer: %llu entries in %llu shards: %.3f s, %.1f MB of DER, largest shard %.0f "
	       "KB\n",
	       (unsigned long long)c->n, (unsigned long long)shards, now() - t0, total / 1e6,
	       biggest / 1e3);
	ztm_buf_free(&out);
	return 0;
}

static void fill_store(struct ctx *c)
{
	sqlite3 *db;
	char sql[1024];
	double t0 = now();

	if (sqlite3_open(c->db, &db) != SQLITE_OK)
		die("open");
	snprintf(
	    sql, sizeof(sql),
	    "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; BEGIN;"
	    "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < %llu)"
	    " INSERT INTO certificates (serial, ca, profile, subject, state, spki_sha256,"
	    " owner_kind, owner_id, not_before, not_after, created_at, crl_shard)"
	    " SELECT '5a' || lower(hex(randomblob(16))), 'device', 'device', 'CN=x', 'revoked',"
	    " printf('%%064d', 0), 'device', i, 0, 1, 0, i / %llu FROM k;"
	    "INSERT INTO revocations (serial, ca, crl_shard, reason, revoked_at, seq)"
	    " SELECT serial, ca, crl_shard, rowid %% 2, 1690000000 + rowid %% 86400, 1"
	    " FROM certificates;"
	    "INSERT INTO revocation_log (ts, serial, ca, crl_shard, action, reason, actor)"
	    " VALUES (1, '5a', 'device', 0, 'revoke', 1, 'bench');"
	    "COMMIT;",
	    (unsigned long long)c->n - 1, (unsigned long long)c->shard_size);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(sqlite3_errmsg(db));
	sqlite3_close(db);
	printf("store: filled %llu revocations in %.1f s (not timed below)\n",
	       (unsigned long long)c->n, now() - t0);
}

static int add_row(const struct ztm_revocation *rev, void *arg)
{
	ztm_crl_add_hex(arg, rev->serial, rev->revoked_at, (int)rev->reason);
	return 0;
}

static int run_store(struct ctx *c)
{
	struct ztm_store *s;
	struct ztm_error err;
	struct ztm_crl_row row;
	uint64_t shard, shards = (c->n + c->shard_size - 1) / c->shard_size;
	double t0, t_read = 0;
	size_t total = 0;
	char url[128];

	if (ztm_store_open(c->db, &s, &err) != 0)
		die(err.msg);
	t0 = now();
	for (shard = 0; shard < shards; shard++) {
		struct ztm_crl_params p = {1, 1700000000, 1700086400, url};
		struct ztm_crl_writer w;
		int64_t number, seq;
		int got;
		double t1;

		ztm_crl_shard_url(base_url, (int64_t)shard, url, sizeof(url));
		if (ztm_store_crl_claim(s, "device", (int64_t)shard, "bench", 1700000000, 60, 43200,
		                        &got, &number, &seq, &err) != 0 ||
		    !got)
			die("claim");
		p.number = number;
		ztm_crl_row_init(&row);
		ztm_strlcpy(row.ca, "device", sizeof(row.ca));
		row.shard = (int64_t)shard;
		row.number = number;
		row.built_seq = seq;
		row.this_update = p.this_update;
		row.next_update = p.next_update;
		t1 = now();
		if (ztm_crl_begin(&w, c->ca, &p, &row.der, &err) != 0 ||
		    ztm_store_revocations_each(s, "device", (int64_t)shard, add_row, &w, &err) != 0)
			die(err.msg);
		t_read += now() - t1;
		if (ztm_crl_finish(&w, &err) != 0 || ztm_store_crl_put(s, &row, "bench", &err) != 0)
			die(err.msg);
		total += row.der.len;
		ztm_crl_row_free(&row);
	}
	printf("store: %llu shards read, built, signed and stored: %.3f s (read + encode %.3f s), "
	       "%.1f MB\n",
	       (unsigned long long)shards, now() - t0, t_read, total / 1e6);
	ztm_store_close(s);
	return 0;
}

static int run_x509(struct ctx *c)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	char serial[35];
	uint64_t i;
	double t0 = now();
	unsigned char *der = NULL;
	int len;

	if (crl == NULL || t == NULL || X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(c->root)) != 1)
		die("x509 crl");
	for (i = 0; i < c->n; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		BIGNUM *bn = NULL;
		ASN1_INTEGER *sn = NULL;

		serial_of(i, serial);
		if (r == NULL || BN_hex2bn(&bn, serial) == 0 ||
		    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
		    X509_REVOKED_set_serialNumber(r, sn) != 1 ||
		    ASN1_TIME_set(t, 1690000000 + (time_t)(i % 86400)) == NULL ||
		    X509_REVOKED_set_revocationDate(r, t) != 1 ||
		    X509_CRL_add0_revoked(crl, r) != 1)
			die("x509 entry");
		ASN1_INTEGER_free(sn);
		BN_free(bn);
	}
	ASN1_TIME_set(t, 1700000000);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_set(t, 1700086400);
	X509_CRL_set1_nextUpdate(crl, t);
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, c->key, EVP_sha256()) <= 0)
		die("x509 sign");
	len = i2d_X509_CRL(crl, &der);
	printf("x509: %llu entries, one CRL through the X509_CRL API: %.3f s, %.1f MB\n",
	       (unsigned long long)c->n, now() - t0, len / 1e6);
	OPENSSL_free(der);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return 0;
}

static void in_child(const char *name, int (*fn)(struct ctx *), struct ctx *c)
{
	struct rusage ru;
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		fflush(stdout);
		_exit(fn(c) == 0 ? 0 : 1);
	}
	if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die(name);
	printf("%s: peak RSS %.1f MB\n", name, ru.ru_maxrss / 1024.0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct ctx c;
	struct ztm_ca_urls urls = {NULL, NULL, base_url};
	struct ztm_error err;
	struct ztm_store *s;
	uint64_t v;
	char dir[] = "/tmp/ztm-bench-crl-XXXXXX";

	memset(&c, 0, sizeof(c));
	c.n = 1000000;
	c.shard_size = 16384;
	if (argc > 1 && ztm_parse_u64(argv[1], 1, 100000000, &v) == 0)
		c.n = v;
	if (argc > 2 && ztm_parse_u64(argv[2], 1, 100000000, &v) == 0)
		c.shard_size = v;
	c.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (c.key == NULL)
		die("keygen");
	c.root = make_root(c.key);
	c.ca = ztm_ca_new("device", c.root, c.key, &urls, &err);
	if (c.ca == NULL)
		die(err.msg);
	setvbuf(stdout, NULL, _IOLBF, 0);
	in_child("writer", run_writer, &c);
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(c.db, sizeof(c.db), "%s/ztm.db", dir);
	{
		char url[96];
		snprintf(url, sizeof(url), "sqlite:%s", c.db);
		if (ztm_store_open(url, &s, &err) != 0)
			die(err.msg);
		ztm_store_close(s);
		/* In a child: the fill's page cache would stay in this process's
		 * heap after the close, and the children forked below inherit
		 * the parent's resident pages in their peak RSS. */
		{
			int st;
			pid_t pid = fork();
			if (pid < 0)
				die("fork");
			if (pid == 0) {
				fill_store(&c);
				fflush(stdout);
				_exit(0);
			}
			if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				die("filling the store");
		}
		ztm_strlcpy(c.db, url, sizeof(c.db));
	}
	in_child("store", run_store, &c);
	if (argc <= 3 || strcmp(argv[3], "--no-x509") != 0)
		in_child("x509", run_x509, &c);
	{
		char p[128];
		static const char *const sfx[] = {"", "-wal", "-shm"};
		size_t i;
		for (i = 0; i < 3; i++) {
			snprintf(p, sizeof(p), "%s/ztm.db%s", dir, sfx[i]);
			unlink(p);
		}
		rmdir(dir);
	}
	ztm_ca_free(c.ca);
	X509_free(c.root);
	EVP_PKEY_free(c.key);
	return 0;
}
