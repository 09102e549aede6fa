/* demo_summary.c - what `ztm demo` left in the store, read back from the
 * store itself (never from the demo's own counters), and the expectations
 * it checks against it. The lines are "name value" pairs so a script can
 * hold them against sqlite3 (tests/e2e/demo.sh does). The summary also
 * goes to D/summary.txt. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"
#include "vet.h"
#include "ztm/file.h"
#include "ztm/store.h"
#include "ztm/str.h"

struct out {
	struct demo *d;
	struct ztm_buf text;
	int failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fputs(line, stdout);
	ztm_buf_append_str(&o->text, line);
}

/* One expectation: printed only when it does not hold. */
static void expect(struct out *o, int64_t got, int64_t want, const char *what)
{
	if (got == want)
		return;
	o->failed++;
	put(o, "  DIFFERS: %s is %lld, expected %lld\n", what, (long long)got, (long long)want);
}

static int count_device(const struct ztm_cert_row *row, void *arg)
{
	if (strcmp(row->ca, "device") == 0)
		(*(int64_t *)arg)++;
	return 0;
}

int demo_count_device_certs(struct demo *d, int64_t *n, struct ztm_error *err)
{
	*n = 0;
	return ztm_store_cert_each(d->store, ZTM_CERT_ISSUED, count_device, n, err);
}

/* Issued certificates per issuing CA, in the order first seen; ztmd's own
 * OCSP responder certificates are counted apart. */
struct per_ca {
	char ca[8][32];
	int64_t n[8], other, responders;
	size_t k;
};

static int count_ca(const struct ztm_cert_row *row, void *arg)
{
	struct per_ca *p = arg;
	size_t i;

	if (strcmp(row->profile, "ocsp") == 0) {
		p->responders++;
		return 0;
	}
	for (i = 0; i < p->k; i++)
		if (strcmp(p->ca[i], row->ca) == 0)
			break;
	if (i == p->k) {
		if (p->k == sizeof(p->ca) / sizeof(p->ca[0])) {
			p->other++;
			return 0;
		}
		ztm_strlcpy(p->ca[p->k++], row->ca, sizeof(p->ca[0]));
	}
	p->n[i]++;
	return 0;
}

static int devices(struct out *o, struct ztm_error *err)
{
	int64_t n[ZTM_DEVICE_STATE_COUNT];
	int s;

	put(o, "%-20s", "devices by state");
	for (s = 0; s < ZTM_DEVICE_STATE_COUNT; s++) {
		if (ztm_store_device_count(o->d->store, (enum ztm_device_state)s, &n[s], err) != 0)
			return -1;
		put(o, " %s %lld", ztm_device_state_name((enum ztm_device_state)s),
		    (long long)n[s]);
	}
	put(o, "\n");
	/* WO-1's devices all active; factory-2's first board quarantined by
	 * its clone; nothing left half-way. */
	expect(o, n[ZTM_DEVICE_ACTIVE], o->d->devices, "devices active");
	expect(o, n[ZTM_DEVICE_QUARANTINED], 1, "devices quarantined");
	expect(o, n[ZTM_DEVICE_MANUFACTURED] + n[ZTM_DEVICE_PROVISIONED], 0,
	       "devices manufactured or provisioned");
	return 0;
}

static int order(struct out *o, const char *name, int64_t quota, int64_t recorded,
                 int64_t registered, struct ztm_error *err)
{
	struct ztm_order_row r;
	char what[64];

	if (ztm_store_order_get(o->d->store, name, &r, err) != 0)
		return -1;
	put(o, "work order %-9s product %s factory %s quota %lld recorded %lld registered %lld\n",
	    r.name, r.product, r.factory, (long long)r.quota, (long long)r.recorded,
	    (long long)r.registered);
	snprintf(what, sizeof(what), "%s quota", name);
	expect(o, r.quota, quota, what);
	snprintf(what, sizeof(what), "%s recorded", name);
	expect(o, r.recorded, recorded, what);
	snprintf(what, sizeof(what), "%s registered", name);
	expect(o, r.registered, registered, what);
	return 0;
}

static int stations(struct out *o, struct ztm_error *err)
{
	static const char *const names[][2] = {{DEMO_FACTORY1, DEMO_STATION1},
	                                       {DEMO_FACTORY2, DEMO_STATION2}};
	static const char *const state[] = {"pending", "enrolled", "revoked"};
	struct ztm_station_row r[2];
	int i;

	put(o, "%-20s", "stations");
	for (i = 0; i < 2; i++) {
		if (ztm_store_station_find(o->d->store, names[i][0], names[i][1], &r[i], err) != 0)
			return -1;
		put(o, " %s %s", r[i].name, state[r[i].state]);
	}
	put(o, "\n");
	expect(o, r[0].state, ZTM_STATION_ENROLLED, DEMO_STATION1 " state (1 = enrolled)");
	expect(o, r[1].state, ZTM_STATION_REVOKED, DEMO_STATION2 " state (2 = revoked)");
	return 0;
}

static int certificates(struct out *o, struct ztm_error *err)
{
	struct per_ca p;
	int64_t dev = 0;
	size_t i;

	memset(&p, 0, sizeof(p));
	if (ztm_store_cert_each(o->d->store, ZTM_CERT_ISSUED, count_ca, &p, err) != 0)
		return -1;
	put(o, "%-20s", "certificates by CA");
	for (i = 0; i < p.k; i++) {
		put(o, " %s %lld", p.ca[i], (long long)p.n[i]);
		if (strcmp(p.ca[i], "device") == 0)
			dev = p.n[i];
	}
	if (p.other > 0)
		put(o, " other %lld", (long long)p.other);
	put(o, "\n");
	if (p.responders > 0)
		put(o, "%-20s %lld (ztmd's own, one per CA with OCSP)\n", "OCSP responders",
		    (long long)p.responders);
	/* WO-1's devices and factory-2's first board; no attacker. */
	expect(o, dev, (int64_t)o->d->devices + 1, "device certificates issued");
	return 0;
}

/* The alert kinds are the vetting refusals that alert (vet.h) and the
 * record upload's "overbuild" (records.c). The attacks raise: replay 1,
 * unrecorded 2 (the board off the books and the over-quota board), overbuild
 * 1, clone 1, station_revoked 1; nothing else. */
static int64_t alert_want(const char *kind)
{
	static const struct {
		const char *kind;
		int64_t n;
	} wants[] = {
	    {"bootstrap_replay", 1}, {"unrecorded", 2}, {"overbuild", 1}, {"clone", 1},
	    {"station_revoked", 1},
	};
	size_t i;

	for (i = 0; i < sizeof(wants) / sizeof(wants[0]); i++)
		if (strcmp(wants[i].kind, kind) == 0)
			return wants[i].n;
	return 0;
}

static int alerts(struct out *o, struct ztm_error *err)
{
	const char *kinds[VET_COUNT + 1];
	int64_t n[VET_COUNT + 1], total = 0, sum = 0;
	int c, k = 0;

	for (c = 0; c < VET_COUNT; c++)
		if (vet_alerts((enum vet_code)c))
			kinds[k++] = vet_name((enum vet_code)c);
	kinds[k++] = "overbuild";
	put(o, "%-20s", "alerts by kind");
	for (c = 0; c < k; c++) {
		if (ztm_store_alert_count(o->d->store, kinds[c], &n[c], err) != 0)
			return -1;
		sum += n[c];
		if (n[c] > 0)
			put(o, " %s %lld", kinds[c], (long long)n[c]);
	}
	if (ztm_store_alert_count(o->d->store, NULL, &total, err) != 0)
		return -1;
	if (total != sum)
		put(o, " other %lld", (long long)(total - sum));
	put(o, " total %lld\n", (long long)total);
	for (c = 0; c < k; c++) {
		char what[64];
		snprintf(what, sizeof(what), "alerts of kind %s", kinds[c]);
		expect(o, n[c], alert_want(kinds[c]), what);
	}
	expect(o, total - sum, 0, "alerts of other kinds");
	return 0;
}

static void attacks(struct out *o)
{
	struct demo *d = o->d;
	char said[96];
	int i;

	put(o, "\n%-38s %-13s %-24s %s\n", "attack", "device", "server said", "stopped");
	for (i = 0; i < DEMO_ATK_COUNT; i++) {
		const struct demo_attack *a = &d->attacks[i];
		int ok = demo_attack_stopped(d, (enum demo_attack_id)i);
		if (!a->ran)
			snprintf(said, sizeof(said), "(did not run)");
		else if (a->got.status == 0)
			snprintf(said, sizeof(said), "no answer");
		else
			snprintf(said, sizeof(said), "%d %s", a->got.status,
			         a->got.error[0] != '\0' ? a->got.error : "-");
		put(o, "%-38s %-13s %-24s %s: %s\n", demo_attack_what((enum demo_attack_id)i),
		    a->subject, said, ok ? "yes" : "NO", a->store_note);
		if (!ok) {
			o->failed++;
			put(o, "  DIFFERS: expected %d %s%s\n",
			    demo_attack_want_status((enum demo_attack_id)i),
			    demo_attack_want_error((enum demo_attack_id)i),
			    a->certs_issued != 0 ? ", and no certificate issued" : "");
		}
	}
}

int demo_summary(struct demo *d, struct ztm_error *err)
{
	struct out o = {d, {0}, 0};
	char path[DEMO_PATH + 16];
	int rc = -1;

	ztm_buf_init(&o.text, 64 * 1024);
	put(&o, "\n== Summary, read back from the store (%s)\n", d->db_path);
	if (devices(&o, err) != 0 ||
	    order(&o, DEMO_ORDER1, d->devices, d->devices, d->devices, err) != 0 ||
	    order(&o, DEMO_ORDER2, DEMO_QUOTA2, DEMO_QUOTA2, 1, err) != 0 ||
	    stations(&o, err) != 0 || certificates(&o, err) != 0 || alerts(&o, err) != 0)
		goto out;
	attacks(&o);
	if (o.failed == 0)
		put(&o,
		    "\nresult OK: %u devices built, recorded, registered and active; every "
		    "attack refused by the server, no certificate issued to an attacker\n",
		    d->devices);
	else
		put(&o, "\nresult FAILED: %d expectation(s) did not hold (above; details in %s)\n",
		    o.failed, d->log_path);
	snprintf(path, sizeof(path), "%s/summary.txt", d->dir);
	if (ztm_file_write(path, o.text.data, o.text.len, 0600, 0, err) != 0)
		goto out;
	rc = o.failed;
out:
	ztm_buf_free(&o.text);
	return rc;
}
