/* demo.h - internals of `ztm demo` (docs/demo.md): one command runs a whole
 * factory on the embedded defaults and shows what the server refuses.
 *
 *   demo.c          the command: options, the data directory, the phases, exit status
 *   demo_proc.c     the real programs: `ztm` sub-commands as child processes
 *                   (their output in demo.log), ztmd as a separate process
 *   demo_plan.c     ceremony, server, factories, product, orders, stations
 *   demo_device.c   devices on libztmdev in-process over the TLS transport
 *   demo_attack.c   the attacks, each judged by what the server answered
 *   demo_summary.c  the summary, read back from the store, and its checks
 */
#ifndef ZTM_CLI_DEMO_H
#define ZTM_CLI_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ztm/err.h"

/* Path sizes: the data directory, its parts (the directory plus a short
 * name), and anything built from a part. */
#define DEMO_DIR  512
#define DEMO_PART 600
#define DEMO_PATH 1024

struct ztm_store;

/* The production plan the demo sets up (docs/demo.md, "What it builds"). */
#define DEMO_PRODUCT     "widget"
#define DEMO_HW_TYPE     "1.3.6.1.4.1.99999.7"
#define DEMO_FACTORY1    "factory-1"
#define DEMO_FACTORY2    "factory-2"
#define DEMO_STATION1    "line-1"
#define DEMO_STATION2    "line-2"
#define DEMO_ORDER1      "WO-1"
#define DEMO_ORDER2      "WO-2"
#define DEMO_QUOTA2      3 /* factory-2: a board, its clone, one board after the revocation */
#define DEMO_DEVICES_MAX 10000

/* What the server answered to one request: the HTTP status and, for an
 * error, the "error" and "message" of its JSON body. status 0 = no answer. */
struct demo_answer {
	int status;
	char error[64];
	char message[256];
};

/* The attacks, in the order they run: id, what, the expected HTTP status
 * and error code. The over-quota device is refused twice: at the record
 * upload (the station's batch) and at registration. */
#define DEMO_ATTACK_TABLE(X)                                                                       \
	X(DEMO_ATK_REPLAY, "replayed bootstrap after activation", 403, "bootstrap_replay")         \
	X(DEMO_ATK_UNRECORDED, "unrecorded device", 403, "unrecorded")                             \
	X(DEMO_ATK_OVERQUOTA_UPLOAD, "over-quota device: record upload", 409, "overbuild")         \
	X(DEMO_ATK_OVERQUOTA_ENROLL, "over-quota device: registration", 403, "unrecorded")         \
	X(DEMO_ATK_CLONE, "cloned device", 403, "clone")                                           \
	X(DEMO_ATK_REVOKED, "device recorded by a revoked station", 403, "station_revoked")

enum demo_attack_id {
#define DEMO_X_ENUM(id, what, st, code) id,
	DEMO_ATTACK_TABLE(DEMO_X_ENUM)
#undef DEMO_X_ENUM
	    DEMO_ATK_COUNT
};

struct demo_attack {
	int ran;
	struct demo_answer got;
	char subject[96]; /* the serial or station it concerns */
	int store_ok;     /* the store check after it (quarantine, quota, state) held */
	char store_note[160];
	int64_t certs_issued; /* device certificates issued during it (want 0) */
};

struct demo {
	/* options */
	char dir[DEMO_DIR];
	unsigned devices;
	int serve, quiet;
	/* programs */
	char ztm[DEMO_PATH], ztmd[DEMO_PATH];
	/* the data directory's parts */
	char ceremony[DEMO_PART], server[DEMO_PART], stations[DEMO_PART], devdir[DEMO_PART],
	    attacks_dir[DEMO_PART], log_path[DEMO_PART], db_path[DEMO_PART];
	char chain[DEMO_PART], admin_crt[DEMO_PART], admin_key[DEMO_PART], online_pass[DEMO_PART];
	char fw_sha256[65];
	int log_fd;
	/* ztmd, and the demo's own read-only look at its store */
	pid_t ztmd_pid;
	char url[64];
	struct ztm_store *store;
	/* results */
	unsigned built, recorded, registered, activated;
	struct demo_attack attacks[DEMO_ATK_COUNT];
	double t_start, t_devices;
};

/* demo.c */
/* Prints a step header (not with --quiet); also written to demo.log. */
void demo_step(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void demo_say(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a line to demo.log only. */
void demo_log(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double demo_now(void);

/* demo_proc.c */
/* Finds ztm (this program) and ztmd: $ZTMD, next to ztm in the build tree
 * (../server/ztmd) or installed (./ztmd), then $PATH. */
int demo_find_programs(struct demo *d, struct ztm_error *err);
/* Runs `ztm args...` (args NULL-terminated, without "ztm") as a child
 * process: stdin /dev/null, stdout to out_path (NULL: demo.log), stderr to
 * err_path (NULL: demo.log; else copied there afterwards). Returns its exit
 * status, or -1 when it could not run or died of a signal. */
int demo_ztm(struct demo *d, const char *out_path, const char *err_path, const char *const *args);
/* Like demo_ztm, failing with a message naming the command unless it exits 0. */
int demo_ztm_ok(struct demo *d, const char *out_path, const char *const *args,
                struct ztm_error *err);
/* Starts ztmd (its own process group, SIGTERM when the demo dies) on the
 * config, waits for its port file and /healthz, sets d->url. */
int demo_ztmd_start(struct demo *d, struct ztm_error *err);
/* SIGTERM, then SIGKILL to its process group after a grace period. */
void demo_ztmd_stop(struct demo *d);
/* Keeps ztmd running until SIGINT/SIGTERM (0) or until it dies (-1). */
int demo_ztmd_serve(struct demo *d);
/* A secret file (0600) of random text. */
int demo_pass_file(const char *path, struct ztm_error *err);

/* demo_plan.c */
int demo_ceremony_and_server(struct demo *d, struct ztm_error *err);
int demo_plan(struct demo *d, struct ztm_error *err);
/* `ztm station record` for the device in dev_dir into station's queue. */
int demo_record(struct demo *d, const char *station, const char *order, const char *dev_dir,
                const char *serial, unsigned mac, struct ztm_error *err);
/* `ztm station sync` of station's queue; *st is the command's exit status.
 * When ans is not NULL and the server refused the batch, ans holds its
 * answer as the command reported it. */
int demo_sync(struct demo *d, const char *station, int *st, struct demo_answer *ans,
              struct ztm_error *err);
/* `ztm station revoke` with --since. */
int demo_revoke_station(struct demo *d, const char *factory, const char *station, int64_t since,
                        struct ztm_error *err);

/* demo_device.c */
/* A new device in dir (its parent created): key and bootstrap certificate. */
int demo_device_build(struct demo *d, const char *dir, const char *serial, struct ztm_error *err);
/* EST enrollment with the bootstrap credential; ans: the server's answer
 * (status 200 when enrolled). 0 when enrolled. */
int demo_device_enroll(struct demo *d, const char *dir, struct demo_answer *ans,
                       struct ztm_error *err);
/* First use of the operational certificate: GET whoami, state active. */
int demo_device_activate(struct demo *d, const char *dir, struct demo_answer *ans,
                         struct ztm_error *err);
/* An attacker presenting the bootstrap credential of an active device
 * again, with a fresh CSR from the same key (the library itself refuses to
 * enroll twice, so this goes around it to the transport). */
int demo_device_replay(struct demo *d, const char *dir, struct demo_answer *ans,
                       struct ztm_error *err);
/* The production run: builds, records (line-1, WO-1), syncs, registers
 * and activates d->devices devices. */
int demo_production(struct demo *d, struct ztm_error *err);

/* demo_attack.c */
int demo_attacks(struct demo *d, struct ztm_error *err);
const char *demo_attack_what(enum demo_attack_id id);
int demo_attack_want_status(enum demo_attack_id id);
const char *demo_attack_want_error(enum demo_attack_id id);
/* The attack was refused as expected and left the store as expected. */
int demo_attack_stopped(const struct demo *d, enum demo_attack_id id);

/* demo_summary.c */
/* Prints the summary from the store; returns the number of expectations
 * that did not hold (each printed). */
int demo_summary(struct demo *d, struct ztm_error *err);
/* Device certificates in state issued, from the store. */
int demo_count_device_certs(struct demo *d, int64_t *n, struct ztm_error *err);

#endif
