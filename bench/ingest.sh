#!/usr/bin/env bash
# bench/ingest.sh - station record ingest, end to end (docs/benchmarks.md,
# "Record ingest"):
#
#   ZTM_BIN=build bench/ingest.sh [N] [PER-BATCH] [SEED] [CONNS]
#
# A real ztmd on 127.0.0.1 (ceremony, server init, default settings: one
# worker per CPU, SQLite WAL synchronous=FULL), an enrolled station, a product
# and a work order with quota N. Not timed: N devices (P-256 key, self-signed
# bootstrap certificate) recorded and signed as batches of PER-BATCH
# (default 100,000 and 5,000), and seeding SEED records (default 1,000,000)
# straight into the store with SQL. Timed: bench_ingest post, CONNS (default
# 2) mutual-TLS keep-alive connections uploading every batch (each reply must
# be 201), once into the empty store and once into the store holding SEED
# records. Server CPU = user + system time of ztmd's child processes (the
# workers and the checkpointer) over
# the upload, from /proc. SEED=0: the empty store only (bench/suite.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export ZTM_BIN=${ZTM_BIN:-$root/build}
ZTM_BIN=$(cd "$ZTM_BIN" && pwd)
N=${1:-100000}
PER=${2:-5000}
SEED=${3:-1000000}
CONNS=${4:-2}
BENCH=$ZTM_BIN/bench/bench_ingest
[ -x "$BENCH" ] || { echo "build first: scripts/build.sh ($BENCH missing)" >&2; exit 1; }
. "$root/tests/e2e/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077
"$ZTM" factory add --name fab >/dev/null 2>&1 || fail "factory add"
"$ZTM" station add --factory fab --name line-1 >line-1.code 2>/dev/null || fail "station add"
printf 'station-key-passphrase\n' >line-1.pass
"$ZTM" station enroll --name line-1 --code-file line-1.code --key "file:$T/line-1.key" \
  --key-pass-file line-1.pass --out line-1.crt 2>err || fail "station enroll: $(cat err)"
"$ZTM" product add --name sensor --class sensor --hw-type 1.3.6.1.4.1.99999.2 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product sensor --factory fab --quota "$N" \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
"$ZTM" order add --name WO-SEED --product sensor --factory fab --quota "$((SEED + 1))" \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
stop_ztmd

mkdir batches
t0=$(date +%s.%N)
"$BENCH" gen line-1.crt "file:$T/line-1.key" line-1.pass sensor WO-1 "$N" "$PER" batches ||
  fail "generating the batches"
echo "generated in $(echo "$(date +%s.%N) - $t0" | bc) s: $(du -sh batches | cut -f1)" \
  "($(stat -c %s batches/batch-00000.cms) bytes per batch)"
cp -a srv srv.clean

cpu_ticks() { # user + system ticks of ztmd's children (workers, checkpointer)
  local t=0 p
  for p in $(pgrep -P "$ZTMD_PID"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}

run() { # LABEL
  local before after ticks hz out recs
  start_ztmd
  hz=$(getconf CLK_TCK)
  before=$(cpu_ticks)
  out=$("$BENCH" post 127.0.0.1 "$PORT" "$ZTM_CA" line-1.crt "file:$T/line-1.key" line-1.pass \
    "$CONNS" batches/*.cms) || fail "$1: upload failed"
  after=$(cpu_ticks)
  stop_ztmd
  ticks=$((after - before))
  recs=$(echo "$out" | awk '{print $2}')
  [ "$recs" = "$N" ] || fail "$1: $recs records accepted, want $N"
  [ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")" = "$N" ] || fail "$1: quota count"
  echo "$1: $out server_cpu_s $(echo "scale=2; $ticks / $hz" | bc)" \
    "server_cpu_us_per_record $(echo "scale=1; $ticks * 1000000 / $hz / $N" | bc)"
}

run "empty store"
[ "$SEED" = 0 ] && exit 0

rm -rf srv
cp -a srv.clean srv
t0=$(date +%s.%N)
db "PRAGMA journal_mode = WAL;
BEGIN;
INSERT INTO record_batches (station_id, hash, n_records, received_at)
  SELECT id, printf('%064d', 0), $SEED, 1 FROM stations WHERE name = 'line-1';
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $SEED)
INSERT INTO records (batch_id, station_id, order_id, serial, spki_sha256, bootstrap_der, hw_rev,
  mac, fw_version, fw_sha256, test_result, key_origin, recorded_at, received_at)
  SELECT (SELECT max(id) FROM record_batches), (SELECT id FROM stations WHERE name = 'line-1'),
    (SELECT id FROM work_orders WHERE name = 'WO-SEED'), printf('SEED-%08d', i),
    randomblob(32), randomblob(420), 'B1', '02:00:5e:00:00:00', '1.4.2', x'',
    'pass', 'device', 1, 1 FROM c;
UPDATE work_orders SET recorded = $SEED WHERE name = 'WO-SEED';
COMMIT;" >/dev/null || fail "seeding"
[ "$(db 'SELECT count(*) FROM records')" = "$SEED" ] || fail "seeded $(db 'SELECT count(*) FROM records')"
echo "seeded $SEED records in $(echo "$(date +%s.%N) - $t0" | bc) s ($(du -sh srv/ztm.db | cut -f1))"

run "store with $SEED records"
[ "$(db 'SELECT count(*) FROM records')" = "$((SEED + N))" ] || fail "records after the seeded run"
