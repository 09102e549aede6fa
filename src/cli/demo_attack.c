/* demo_attack.c - the attacks of `ztm demo` (issue 3 point 8). Each one is
 * made the way an attacker would make it (a copied serial on a second
 * board, a board off the books, one board past the order, a station whose
 * key is stolen, a device's old credential used again) and is judged only
 * by what the SERVER answered, plus what the store shows afterwards: no
 * device certificate issued, and the side effect the design asks for
 * (quarantine, quota unchanged, the device still active). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ceremony.h"
#include "demo.h"
#include "ztm/store.h"
#include "ztm/str.h"

static const struct {
	const char *what;
	int status;
	const char *error;
} want[] = {
#define DEMO_X_ROW(id, what, st, code) {what, st, code},
    DEMO_ATTACK_TABLE(DEMO_X_ROW)
#undef DEMO_X_ROW
};

const char *demo_attack_what(enum demo_attack_id id)
{
	return want[id].what;
}

int demo_attack_want_status(enum demo_attack_id id)
{
	return want[id].status;
}

const char *demo_attack_want_error(enum demo_attack_id id)
{
	return want[id].error;
}

int demo_attack_stopped(const struct demo *d, enum demo_attack_id id)
{
	const struct demo_attack *a = &d->attacks[id];

	return a->ran && a->got.status == want[id].status &&
	       strcmp(a->got.error, want[id].error) == 0 && a->store_ok && a->certs_issued == 0;
}

/* The device's state in the store; "none" when the serial is unknown. */
static const char *device_state(struct demo *d, const char *serial)
{
	struct ztm_device_row row;
	struct ztm_error err;

	if (ztm_store_device_get(d->store, serial, &row, &err) != 0)
		return err.code == ZTM_E_NOTFOUND ? "none" : "?";
	return ztm_device_state_name(row.state);
}

/* Appends "no device S in the store" (or the state it is in) to the note. */
static void no_device_note(struct demo_attack *a, const char *serial, const char *state)
{
	size_t n = strlen(a->store_note);

	if (strcmp(state, "none") == 0)
		snprintf(a->store_note + n, sizeof(a->store_note) - n, "no device %s in the store",
		         serial);
	else
		snprintf(a->store_note + n, sizeof(a->store_note) - n, "device %s is %s", serial,
		         state);
}

static int64_t count(struct demo *d, const char *alert_kind)
{
	struct ztm_error err;
	int64_t n = -1;

	if (alert_kind == NULL)
		demo_count_device_certs(d, &n, &err);
	else
		ztm_store_alert_count(d->store, alert_kind, &n, &err);
	return n;
}

/* Opens the record of one attack: what it concerns, how it is made (story,
 * printed), the certificate count before. */
static struct demo_attack *begin(struct demo *d, enum demo_attack_id id, const char *subject,
                                 const char *story, int64_t *certs0)
{
	struct demo_attack *a = &d->attacks[id];

	memset(a, 0, sizeof(*a));
	ztm_strlcpy(a->subject, subject, sizeof(a->subject));
	*certs0 = count(d, NULL);
	demo_log(d, "--- attack: %s (%s)", want[id].what, subject);
	demo_say(d, "%s: %s", want[id].what, story);
	return a;
}

static void end(struct demo *d, enum demo_attack_id id, int64_t certs0)
{
	struct demo_attack *a = &d->attacks[id];
	int64_t c1 = count(d, NULL);

	a->ran = 1;
	a->certs_issued = c1 >= 0 && certs0 >= 0 ? c1 - certs0 : -1;
	demo_log(d, "--- server said: %d %s (%s); store: %s", a->got.status, a->got.error,
	         a->got.message, a->store_note);
	demo_say(d, "    -> %s %d %s; %s%s",
	         demo_attack_stopped(d, id) ? "refused:" : "NOT AS EXPECTED:", a->got.status,
	         a->got.error[0] != '\0' ? a->got.error : "(no error code)", a->store_note,
	         a->certs_issued == 0 ? "" : "; A CERTIFICATE WAS ISSUED");
}

/* The device's registration attempt; the answer is what matters. */
static void try_enroll(struct demo *d, const char *dir, struct demo_answer *ans)
{
	struct ztm_error err;

	if (demo_device_enroll(d, dir, ans, &err) != 0)
		demo_log(d, "enroll %s: %s", dir, ztm_error_msg(&err));
}

static int replay(struct demo *d, struct ztm_error *err)
{
	char dir[DEMO_PATH];
	int64_t c0;
	struct demo_attack *a = begin(
	    d, DEMO_ATK_REPLAY, "SN-00001",
	    "SN-00001 is active; its old bootstrap certificate and key are presented again", &c0);
	const char *st;

	snprintf(dir, sizeof(dir), "%s/SN-00001", d->devdir);
	if (demo_device_replay(d, dir, &a->got, err) != 0)
		return -1;
	st = device_state(d, "SN-00001");
	a->store_ok = strcmp(st, "active") == 0;
	snprintf(a->store_note, sizeof(a->store_note), "SN-00001 still %s", st);
	end(d, DEMO_ATK_REPLAY, c0);
	return 0;
}

static int unrecorded(struct demo *d, struct ztm_error *err)
{
	static const char serial[] = "SN-OFFBOOK-1";
	char dir[DEMO_PATH];
	int64_t c0;
	struct demo_attack *a =
	    begin(d, DEMO_ATK_UNRECORDED, serial,
	          "a board built off the books (no station recorded it) asks to register", &c0);
	const char *st;

	snprintf(dir, sizeof(dir), "%s/unrecorded/%s", d->attacks_dir, serial);
	if (demo_device_build(d, dir, serial, err) != 0)
		return -1;
	try_enroll(d, dir, &a->got);
	st = device_state(d, serial);
	a->store_ok = strcmp(st, "none") == 0;
	no_device_note(a, serial, st);
	end(d, DEMO_ATK_UNRECORDED, c0);
	return 0;
}

/* One board past WO-1's quota: the station records it like any other, the
 * upload is refused (the whole batch; it stays in the station's queue),
 * and the board, having no record, cannot register. */
static int over_quota(struct demo *d, struct ztm_error *err)
{
	char serial[32], dir[DEMO_PATH], story[128];
	struct ztm_order_row o;
	struct demo_attack *a;
	int64_t c0, alerts0;
	int st;

	snprintf(serial, sizeof(serial), "SN-%05u", d->devices + 1);
	snprintf(dir, sizeof(dir), "%s/over-quota/%s", d->attacks_dir, serial);
	snprintf(story, sizeof(story), "%s records board %s, one past %s's quota of %u",
	         DEMO_STATION1, serial, DEMO_ORDER1, d->devices);
	a = begin(d, DEMO_ATK_OVERQUOTA_UPLOAD, serial, story, &c0);
	alerts0 = count(d, "overbuild");
	if (demo_device_build(d, dir, serial, err) != 0 ||
	    demo_record(d, DEMO_STATION1, DEMO_ORDER1, dir, serial, d->devices + 1, err) != 0 ||
	    demo_sync(d, DEMO_STATION1, &st, &a->got, err) != 0)
		return -1;
	if (ztm_store_order_get(d->store, DEMO_ORDER1, &o, err) != 0)
		return -1;
	a->store_ok = o.recorded == (int64_t)d->devices && count(d, "overbuild") == alerts0 + 1;
	snprintf(a->store_note, sizeof(a->store_note), "%s recorded %lld of %lld; overbuild alert",
	         DEMO_ORDER1, (long long)o.recorded, (long long)o.quota);
	end(d, DEMO_ATK_OVERQUOTA_UPLOAD, c0);

	a = begin(d, DEMO_ATK_OVERQUOTA_ENROLL, serial, "the same board asks to register anyway",
	          &c0);
	try_enroll(d, dir, &a->got);
	if (ztm_store_order_get(d->store, DEMO_ORDER1, &o, err) != 0)
		return -1;
	a->store_ok =
	    o.registered == (int64_t)d->devices && strcmp(device_state(d, serial), "none") == 0;
	snprintf(a->store_note, sizeof(a->store_note), "%s registered %lld of %lld", DEMO_ORDER1,
	         (long long)o.registered, (long long)o.quota);
	end(d, DEMO_ATK_OVERQUOTA_ENROLL, c0);
	return 0;
}

/* line-2 records a board, uploads, and it registers; fails on any refusal. */
static int legit_f2(struct demo *d, const char *dir, const char *serial, unsigned mac, int activate,
                    struct ztm_error *err)
{
	struct demo_answer ans;
	struct ztm_error why;
	int st;

	if (demo_device_build(d, dir, serial, err) != 0 ||
	    demo_record(d, DEMO_STATION2, DEMO_ORDER2, dir, serial, mac, err) != 0 ||
	    demo_sync(d, DEMO_STATION2, &st, NULL, err) != 0)
		return -1;
	if (st != 0)
		return ztm_error_set(err, ZTM_E_INTERNAL, "%s: upload of %s failed; see %s",
		                     DEMO_STATION2, serial, d->log_path);
	if (!activate)
		return 0;
	if (demo_device_enroll(d, dir, &ans, &why) != 0 ||
	    demo_device_activate(d, dir, &ans, &why) != 0)
		return ztm_error_set(err, ZTM_E_INTERNAL, "%s: %s", serial, why.msg);
	return 0;
}

/* factory-2 builds F2-00001, which registers; then a second board with a
 * copied serial F2-00001 and its own key is recorded and tries. */
static int clone(struct demo *d, struct ztm_error *err)
{
	static const char serial[] = "F2-00001";
	char orig[DEMO_PATH], copy[DEMO_PATH];
	struct demo_attack *a;
	int64_t c0;
	const char *st;

	snprintf(orig, sizeof(orig), "%s/clone/original/%s", d->attacks_dir, serial);
	snprintf(copy, sizeof(copy), "%s/clone/copy/%s", d->attacks_dir, serial);
	if (legit_f2(d, orig, serial, 0x10001, 1, err) != 0)
		return -1;
	demo_say(d, "(%s builds %s for %s; it registers and is active)", DEMO_STATION2, serial,
	         DEMO_ORDER2);
	/* The copy carries the original's serial and MAC, with a key of its own. */
	a = begin(d, DEMO_ATK_CLONE, serial,
	          "F2-00001 is active; a second board with its serial and MAC but a key of "
	          "its own is recorded by " DEMO_STATION2 " and asks to register",
	          &c0);
	if (legit_f2(d, copy, serial, 0x10001, 0, err) != 0)
		return -1;
	try_enroll(d, copy, &a->got);
	st = device_state(d, serial);
	a->store_ok = strcmp(st, "quarantined") == 0;
	snprintf(a->store_note, sizeof(a->store_note), "serial %s %s", serial, st);
	end(d, DEMO_ATK_CLONE, c0);
	return 0;
}

/* line-2 records F2-00002 and uploads it; then line-2 is found compromised
 * and revoked since a moment before that record: the board cannot
 * register on the strength of it. */
static int revoked_station(struct demo *d, struct ztm_error *err)
{
	static const char serial[] = "F2-00002";
	char dir[DEMO_PATH];
	struct ztm_station_row srow;
	struct demo_attack *a;
	int64_t c0, since = (int64_t)time(NULL);
	const char *st;
	char when[32];

	snprintf(dir, sizeof(dir), "%s/revoked-station/%s", d->attacks_dir, serial);
	a = begin(d, DEMO_ATK_REVOKED, serial,
	          DEMO_STATION2 " records and uploads F2-00002; then " DEMO_STATION2
	                        " is revoked since just before that record; the board asks "
	                        "to register",
	          &c0);
	if (legit_f2(d, dir, serial, 0x10002, 0, err) != 0 ||
	    demo_revoke_station(d, DEMO_FACTORY2, DEMO_STATION2, since, err) != 0)
		return -1;
	try_enroll(d, dir, &a->got);
	st = device_state(d, serial);
	a->store_ok =
	    strcmp(st, "none") == 0 &&
	    ztm_store_station_find(d->store, DEMO_FACTORY2, DEMO_STATION2, &srow, err) == 0 &&
	    srow.state == ZTM_STATION_REVOKED;
	cer_time_iso((time_t)since, when);
	snprintf(a->store_note, sizeof(a->store_note), "%s revoked since %s, ", DEMO_STATION2,
	         when);
	no_device_note(a, serial, st);
	end(d, DEMO_ATK_REVOKED, c0);
	return 0;
}

int demo_attacks(struct demo *d, struct ztm_error *err)
{
	if (replay(d, err) != 0 || unrecorded(d, err) != 0 || over_quota(d, err) != 0 ||
	    clone(d, err) != 0 || revoked_station(d, err) != 0)
		return -1;
	return 0;
}
