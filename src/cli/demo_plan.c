/* demo_plan.c - what the OEM and the factories do in `ztm demo`, each step
 * the `ztm` command an operator or a station would type (demo_proc.c runs
 * them): the offline ceremony, the server's set-up, the production plan
 * (factories, product, work orders), station enrollment with one-time
 * codes, and the stations' record, sync and revocation. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "demo.h"
#include "ztm/file.h"
#include "ztm/str.h"

#define ARGS_MAX 40

/* An argument vector: up to ARGS_MAX strings, the values copied. */
struct argv_b {
	const char *v[ARGS_MAX + 1];
	char store[ARGS_MAX][DEMO_PATH + 16];
	int n;
};

static void arg(struct argv_b *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct argv_b *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n >= ARGS_MAX)
		return; /* never with the fixed lists below */
	va_start(ap, fmt);
	vsnprintf(a->store[a->n], sizeof(a->store[a->n]), fmt, ap);
	va_end(ap);
	a->v[a->n] = a->store[a->n];
	a->v[++a->n] = NULL;
}

/* The admin credential the ceremony made, for the admin API. */
static void admin_conn(struct demo *d, struct argv_b *a)
{
	arg(a, "--server");
	arg(a, "%s", d->url);
	arg(a, "--ca");
	arg(a, "%s", d->chain);
	arg(a, "--cert");
	arg(a, "%s", d->admin_crt);
	arg(a, "--key");
	arg(a, "%s", d->admin_key);
	arg(a, "--key-pass-file");
	arg(a, "%s", d->online_pass);
}

static void station_path(struct demo *d, const char *station, const char *ext, char *out, size_t n)
{
	snprintf(out, n, "%s/%s%s", d->stations, station, ext);
}

int demo_ceremony_and_server(struct demo *d, struct ztm_error *err)
{
	struct argv_b a = {0};
	char root_pass[DEMO_PATH + 16];

	snprintf(root_pass, sizeof(root_pass), "%s/root.pass", d->dir);
	if (demo_pass_file(root_pass, err) != 0)
		return -1;
	arg(&a, "ceremony");
	arg(&a, "init");
	arg(&a, "--dir");
	arg(&a, "%s", d->ceremony);
	arg(&a, "--org");
	arg(&a, "Demo OEM");
	arg(&a, "--root-pass-file");
	arg(&a, "%s", root_pass);
	arg(&a, "--shares");
	arg(&a, "5");
	arg(&a, "--threshold");
	arg(&a, "3");
	if (demo_ztm_ok(d, NULL, a.v, err) != 0)
		return -1;
	memset(&a, 0, sizeof(a));
	arg(&a, "ceremony");
	arg(&a, "verify");
	arg(&a, "--dir");
	arg(&a, "%s", d->ceremony);
	if (demo_ztm_ok(d, NULL, a.v, err) != 0)
		return -1;
	demo_say(d, "root CA key encrypted, split 3-of-5 into ceremony/shares/; issuing CAs for "
	            "devices, stations, operators; transcript signed and verified");
	memset(&a, 0, sizeof(a));
	arg(&a, "server");
	arg(&a, "init");
	arg(&a, "--ceremony");
	arg(&a, "%s", d->ceremony);
	arg(&a, "--out");
	arg(&a, "%s", d->server);
	arg(&a, "--listen");
	arg(&a, "127.0.0.1:0");
	if (demo_ztm_ok(d, NULL, a.v, err) != 0)
		return -1;
	if (demo_ztmd_start(d, err) != 0)
		return -1;
	demo_say(d, "ztmd (pid %d) listening at %s: mutual TLS only, SQLite store %s",
	         (int)d->ztmd_pid, d->url, d->db_path);
	return 0;
}

/* `ztm <group> add` with the admin credential; extra: NULL-terminated. */
static int add(struct demo *d, const char *group, const char *out, struct ztm_error *err, ...)
{
	struct argv_b a = {0};
	const char *s;
	va_list ap;

	arg(&a, "%s", group);
	arg(&a, "add");
	va_start(ap, err);
	while ((s = va_arg(ap, const char *)) != NULL)
		arg(&a, "%s", s);
	va_end(ap);
	admin_conn(d, &a);
	return demo_ztm_ok(d, out, a.v, err);
}

/* The station's own key and enrollment over EST with its one-time code. */
static int station(struct demo *d, const char *factory, const char *name, struct ztm_error *err)
{
	char code[DEMO_PATH + 16], pass[DEMO_PATH + 16], key[DEMO_PATH + 16], crt[DEMO_PATH + 16];
	struct argv_b a = {0};

	station_path(d, name, ".code", code, sizeof(code));
	station_path(d, name, ".pass", pass, sizeof(pass));
	station_path(d, name, ".crt", crt, sizeof(crt));
	snprintf(key, sizeof(key), "file:%s/%s.key", d->stations, name);
	if (add(d, "station", code, err, "--factory", factory, "--name", name, NULL) != 0 ||
	    demo_pass_file(pass, err) != 0)
		return -1;
	arg(&a, "station");
	arg(&a, "enroll");
	arg(&a, "--name");
	arg(&a, "%s", name);
	arg(&a, "--code-file");
	arg(&a, "%s", code);
	arg(&a, "--key");
	arg(&a, "%s", key);
	arg(&a, "--key-pass-file");
	arg(&a, "%s", pass);
	arg(&a, "--out");
	arg(&a, "%s", crt);
	arg(&a, "--server");
	arg(&a, "%s", d->url);
	arg(&a, "--ca");
	arg(&a, "%s", d->chain);
	return demo_ztm_ok(d, NULL, a.v, err);
}

int demo_plan(struct demo *d, struct ztm_error *err)
{
	char quota1[24], quota2[24], until[24];
	/* The firmware the line flashes: its hash goes into every record. */
	static const char fw[] = "widget firmware 1.0.0";
	uint8_t md[32];

	snprintf(quota1, sizeof(quota1), "%u", d->devices);
	snprintf(quota2, sizeof(quota2), "%u", DEMO_QUOTA2);
	snprintf(until, sizeof(until), "%lld", (long long)time(NULL) + 365LL * 86400);
	if (EVP_Digest(fw, sizeof(fw) - 1, md, NULL, EVP_sha256(), NULL) != 1)
		return ztm_error_set(err, ZTM_E_CRYPTO, "SHA-256");
	ztm_hex(md, sizeof(md), d->fw_sha256);
	if (ztm_mkdirs(d->stations, 0700, err) != 0 ||
	    add(d, "factory", NULL, err, "--name", DEMO_FACTORY1, NULL) != 0 ||
	    add(d, "factory", NULL, err, "--name", DEMO_FACTORY2, NULL) != 0 ||
	    add(d, "product", NULL, err, "--name", DEMO_PRODUCT, "--class", "sensor", "--hw-type",
	        DEMO_HW_TYPE, "--key-types", "p256", "--lifetime-days", "3650", NULL) != 0 ||
	    add(d, "order", NULL, err, "--name", DEMO_ORDER1, "--product", DEMO_PRODUCT,
	        "--factory", DEMO_FACTORY1, "--quota", quota1, "--not-after", until, NULL) != 0 ||
	    add(d, "order", NULL, err, "--name", DEMO_ORDER2, "--product", DEMO_PRODUCT,
	        "--factory", DEMO_FACTORY2, "--quota", quota2, "--not-after", until, NULL) != 0)
		return -1;
	demo_say(d,
	         "product %s (P-256 keys, 10-year certificates); %s: %s at %s, quota %u; %s: "
	         "%s at %s, quota %u",
	         DEMO_PRODUCT, DEMO_ORDER1, DEMO_PRODUCT, DEMO_FACTORY1, d->devices, DEMO_ORDER2,
	         DEMO_PRODUCT, DEMO_FACTORY2, DEMO_QUOTA2);
	if (station(d, DEMO_FACTORY1, DEMO_STATION1, err) != 0 ||
	    station(d, DEMO_FACTORY2, DEMO_STATION2, err) != 0)
		return -1;
	demo_say(d,
	         "stations %s (%s) and %s (%s): own keys (encrypted), enrolled over EST with "
	         "one-time codes",
	         DEMO_STATION1, DEMO_FACTORY1, DEMO_STATION2, DEMO_FACTORY2);
	return 0;
}

int demo_record(struct demo *d, const char *station, const char *order, const char *dev_dir,
                const char *serial, unsigned mac, struct ztm_error *err)
{
	struct argv_b a = {0};

	arg(&a, "station");
	arg(&a, "record");
	arg(&a, "--queue");
	arg(&a, "%s/%s.queue", d->stations, station);
	arg(&a, "--bootstrap-cert");
	arg(&a, "%s/bootstrap.pem", dev_dir);
	arg(&a, "--serial");
	arg(&a, "%s", serial);
	arg(&a, "--product");
	arg(&a, DEMO_PRODUCT);
	arg(&a, "--order");
	arg(&a, "%s", order);
	arg(&a, "--hw-rev");
	arg(&a, "A");
	arg(&a, "--mac");
	/* Locally administered addresses (02:...), one per board. */
	arg(&a, "02:5a:54:%02x:%02x:%02x", (mac >> 16) & 0xff, (mac >> 8) & 0xff, mac & 0xff);
	arg(&a, "--fw-version");
	arg(&a, "1.0.0");
	arg(&a, "--fw-sha256");
	arg(&a, "%s", d->fw_sha256);
	arg(&a, "--test");
	arg(&a, "pass");
	return demo_ztm_ok(d, NULL, a.v, err);
}

/* The server's answer as `ztm station sync` reports a refused batch:
 * "... server refused batch <id> (<status>): <JSON body>; kept in ...". */
static void sync_answer(const char *text, struct demo_answer *ans)
{
	const char *p = strstr(text, "server refused batch "), *q;
	json_t *j;
	uint64_t st;
	char num[8];

	if (p == NULL || (p = strstr(p, " (")) == NULL || (q = strstr(p, "): ")) == NULL ||
	    q - p - 2 <= 0 || q - p - 2 >= (long)sizeof(num))
		return;
	snprintf(num, sizeof(num), "%.*s", (int)(q - p - 2), p + 2);
	if (ztm_parse_u64(num, 100, 599, &st) != 0)
		return;
	ans->status = (int)st;
	j = json_loads(q + 3, JSON_DISABLE_EOF_CHECK, NULL);
	if (json_is_string(json_object_get(j, "error")))
		ztm_strlcpy(ans->error, json_string_value(json_object_get(j, "error")),
		            sizeof(ans->error));
	if (json_is_string(json_object_get(j, "message")))
		ztm_strlcpy(ans->message, json_string_value(json_object_get(j, "message")),
		            sizeof(ans->message));
	json_decref(j);
}

int demo_sync(struct demo *d, const char *station, int *st, struct demo_answer *ans,
              struct ztm_error *err)
{
	struct argv_b a = {0};
	char errp[DEMO_PATH + 16], crt[DEMO_PATH + 16], pass[DEMO_PATH + 16];
	struct ztm_buf b;
	struct ztm_error e2;

	station_path(d, station, ".crt", crt, sizeof(crt));
	station_path(d, station, ".pass", pass, sizeof(pass));
	snprintf(errp, sizeof(errp), "%s/%s.sync.err", d->stations, station);
	arg(&a, "station");
	arg(&a, "sync");
	arg(&a, "--queue");
	arg(&a, "%s/%s.queue", d->stations, station);
	arg(&a, "--cert");
	arg(&a, "%s", crt);
	arg(&a, "--key");
	arg(&a, "file:%s/%s.key", d->stations, station);
	arg(&a, "--key-pass-file");
	arg(&a, "%s", pass);
	arg(&a, "--server");
	arg(&a, "%s", d->url);
	arg(&a, "--ca");
	arg(&a, "%s", d->chain);
	/* Batches of 50: a record with a P-256 bootstrap certificate is about
	 * 0.9 KiB, so a batch stays under ztmd's default body cap (64 KiB,
	 * docs/configuration.md max_body_bytes). */
	arg(&a, "--max");
	arg(&a, "50");
	*st = demo_ztm(d, NULL, errp, a.v);
	if (*st < 0)
		return ztm_error_set(err, ZTM_E_INTERNAL, "`ztm station sync` did not run; see %s",
		                     d->log_path);
	if (ans != NULL) {
		memset(ans, 0, sizeof(*ans));
		ztm_buf_init(&b, 64 * 1024);
		if (*st != 0 && ztm_file_read(errp, 64 * 1024, &b, &e2) == 0)
			sync_answer(ztm_buf_cstr(&b), ans);
		else if (*st == 0)
			ans->status = 200;
		ztm_buf_free(&b);
	}
	remove(errp);
	return 0;
}

int demo_revoke_station(struct demo *d, const char *factory, const char *station, int64_t since,
                        struct ztm_error *err)
{
	struct argv_b a = {0};

	arg(&a, "station");
	arg(&a, "revoke");
	arg(&a, "--factory");
	arg(&a, "%s", factory);
	arg(&a, "--name");
	arg(&a, "%s", station);
	arg(&a, "--since");
	arg(&a, "%lld", (long long)since);
	admin_conn(d, &a);
	return demo_ztm_ok(d, NULL, a.v, err);
}
