#!/usr/bin/env bash
# register.sh - the registration benchmark, end to end (docs/benchmarks.md,
# "Registration"). Not a test: it prints figures.
#
#   bench/register.sh                      (after scripts/build.sh)
#
# 1. a real ceremony and `ztm server init` (as tests/e2e/lib.sh does);
# 2. bench_seed: the production model and RECORDS station records in the
#    server's store, DEVICES of them real devices (keys in devices.bin);
# 3. ztmd on 127.0.0.1 (its own process group);
# 4. bench_register: warm-up, the max rate (closed loop), then latency at
#    LOAD x max (open loop), each registration a new mTLS connection;
# 5. the store is checked against the figures: as many device certificates
#    and provisioned devices as successful registrations.
#
# Settings (environment): STORE (sqlite, or pg: a throwaway PostgreSQL server
# started by tests/pg/pg_start.sh in the run's directory, with fsync (FSYNC,
# default on) and synchronous_commit on; pg_stat_statements counts the
# statements),
# RECORDS (1000000), DEVICES (60000), PHASE_SECONDS per
# phase (15), CONCURRENCY (32), LOAD (0.7), WORKERS (ztmd default: one per
# CPU), WARMUP (300), ZTM_BIN (build/), KEEP=1 keeps the directory,
# PERF=1 runs ztmd under `perf record --call-graph dwarf` (perf.data in the
# kept directory; the server CPU figures are inflated by perf then).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
ZTM_BIN=${ZTM_BIN:-$root/build}
RECORDS=${RECORDS:-1000000}
DEVICES=${DEVICES:-60000}
SECONDS_PER_PHASE=${PHASE_SECONDS:-15}
CONCURRENCY=${CONCURRENCY:-32}
LOAD=${LOAD:-0.7}
WARMUP=${WARMUP:-300}
ZTM=$ZTM_BIN/src/cli/ztm
ZTMD=$ZTM_BIN/src/server/ztmd
STORE=${STORE:-sqlite}
SEED=$ZTM_BIN/bench/bench_seed
LOADGEN=$ZTM_BIN/bench/bench_register
for b in "$ZTM" "$ZTMD" "$SEED" "$LOADGEN"; do
  [ -x "$b" ] || { echo "register.sh: $b is missing: run scripts/build.sh first" >&2; exit 1; }
done
for tool in curl sqlite3; do
  command -v "$tool" >/dev/null || { echo "register.sh: $tool is not installed (scripts/deps.sh)" >&2; exit 1; }
done

T=$(mktemp -d /tmp/ztm-regbench.XXXXXX)
ZTMD_PID=
MASTER=
cleanup() {
  local rc=$?
  if [ -n "$ZTMD_PID" ] && kill -0 "$ZTMD_PID" 2>/dev/null; then
    kill -TERM "${MASTER:-$ZTMD_PID}" 2>/dev/null || true
    wait "$ZTMD_PID" 2>/dev/null || true
  fi
  if [ -d "$T/pg" ]; then bash "$root/tests/pg/pg_stop.sh" "$T/pg"; fi
  if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
step() { printf '== %s\n' "$*"; }

step "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(openssl version)"
step "ceremony and server set-up in $T"
umask 077
printf 'bench-root-passphrase\n' >"$T/root.pass"
"$ZTM" ceremony init --dir "$T/ceremony" --org "ZTM Bench OEM" --root-pass-file "$T/root.pass" \
  >"$T/ceremony.log" 2>&1 || { cat "$T/ceremony.log" >&2; exit 1; }
"$ZTM" server init --ceremony "$T/ceremony" --out "$T/srv" --listen 127.0.0.1:0 \
  >"$T/server-init.log" 2>&1 || { cat "$T/server-init.log" >&2; exit 1; }
if [ -n "${WORKERS:-}" ]; then
  sed -i "s/^\[server\]$/[server]\nworkers = $WORKERS/" "$T/srv/ztmd.conf"
fi

URL=sqlite:$T/srv/ztm.db
if [ "$STORE" = pg ]; then
  chmod 711 "$T" # the server runs as the postgres user when we are root
  bash "$root/tests/pg/pg_start.sh" "$T/pg" >"$T/pg-start.log" 2>&1 || { cat "$T/pg-start.log" >&2; exit 1; }
  PG_PORT=$(cat "$T/pg/port")
  psql_() { psql -h "$T/pg/sock" -p "$PG_PORT" -U postgres -qAt "$@"; }
  # The test fixture runs with fsync off (-c on its command line, which
  # outranks ALTER SYSTEM): restarted with the default, fsync on. FSYNC=off
  # keeps it off, to see the round trips without the disk.
  psql_ -d postgres -c "ALTER SYSTEM SET synchronous_commit = on" \
    -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  as=(); [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$T/pg/data" -l "$T/pg/server.log" -w -t 60 \
    -o "-k $T/pg/sock -p $PG_PORT -c listen_addresses='' -c max_connections=200 -c fsync=${FSYNC:-on}" \
    restart >/dev/null
  psql_ -d postgres -c "CREATE DATABASE ztm" >/dev/null
  psql_ -d ztm -c "CREATE EXTENSION pg_stat_statements" >/dev/null
  URL="postgresql://postgres@/ztm?host=$T/pg/sock&port=$PG_PORT"
  sed -i "s|^url = sqlite:.*|url = postgresql://postgres@/ztm?host=$T/pg/sock\&port=$PG_PORT|" "$T/srv/ztmd.conf"
  grep -q '^url = postgresql://' "$T/srv/ztmd.conf" || { echo "register.sh: store url not rewritten" >&2; exit 1; }
fi

step "seeding $RECORDS records ($DEVICES real devices) in $STORE"
"$SEED" --store "$URL" --out "$T/devices.bin" --records "$RECORDS" --devices "$DEVICES"

if [ "$STORE" = pg ]; then
  psql_ -d ztm -c "SELECT pg_stat_statements_reset()" >/dev/null
  step "PostgreSQL $(psql_ -d ztm -c 'SHOW server_version'): fsync $(psql_ -d ztm -c 'SHOW fsync'), synchronous_commit $(psql_ -d ztm -c 'SHOW synchronous_commit'), Unix socket"
else
  # Latency rests on two durable commits per registration: what one costs on
  # this disk now (the disk is shared; it varies by 10x from run to run).
  step "disk: $("$ZTM_BIN/bench/bench_store" 1 2>/dev/null | sed -n 's/^single-row commits *//p') durable single-row SQLite commits (bench_store)"
fi

step "starting ztmd"
if [ "${PERF:-0}" = 1 ]; then
  KEEP=1
  setsid perf record -F 400 -e cpu-clock --call-graph dwarf,32768 -o "$T/perf.data" -- \
    "$ZTMD" --config "$T/srv/ztmd.conf" --port-file "$T/port" 2>"$T/ztmd.log" >"$T/perf.log" &
else
  setsid "$ZTMD" --config "$T/srv/ztmd.conf" --port-file "$T/port" >"$T/ztmd.log" 2>&1 &
fi
ZTMD_PID=$!
for _ in $(seq 100); do
  if [ -s "$T/port" ] && curl -sf --cacert "$T/ceremony/chain.pem" "https://127.0.0.1:$(cat "$T/port")/healthz" >/dev/null 2>&1; then
    break
  fi
  kill -0 "$ZTMD_PID" 2>/dev/null || { tail "$T/ztmd.log" >&2; exit 1; }
  sleep 0.1
done
PORT=$(cat "$T/port")
# The master (under perf, perf's child): its pid from its first log line.
MASTER=$(sed -n 's/.*level=info pid=\([0-9]*\) event=start .*/\1/p' "$T/ztmd.log" | head -1)
[ -n "$MASTER" ] || { echo "register.sh: no start line in ztmd.log" >&2; exit 1; }
step "ztmd pid $MASTER, workers: $(pgrep -P "$MASTER" | tr '\n' ' ')"

step "registering (new TLS 1.3 connection per device, bootstrap certificate, EST simpleenroll)"
"$LOADGEN" --connect "127.0.0.1:$PORT" --cacert "$T/ceremony/chain.pem" --devices "$T/devices.bin" \
  --server-pid "$MASTER" --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER_PHASE" \
  --load "$LOAD" --warmup "$WARMUP" | tee "$T/result.txt"

# The group commits of the whole run (warm-up included), from /metrics.
curl -s --cacert "$T/ceremony/chain.pem" --cert "$T/ceremony/operators/admin.crt" \
  --key "$T/ceremony/operators/admin.key" --pass "$(cat "$T/ceremony/online.pass")" \
  "https://127.0.0.1:$PORT/metrics" >"$T/metrics.txt" || true
kill -TERM "$MASTER"
wait "$ZTMD_PID" || true
ZTMD_PID=

# Every success must be in the store: the certificate and the device.
if [ "$STORE" = pg ]; then
  db() { psql_ -d ztm -c "$1"; }
  # Statements the server ran during the run (warm-up included), by kind.
  psql_ -d ztm -F ' ' -c "SELECT sum(calls), split_part(ltrim(query), ' ', 1) AS kind FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'ztm') GROUP BY kind ORDER BY 1 DESC" >"$T/statements.txt"
else
  db() { sqlite3 -batch -noheader "$T/srv/ztm.db" "$1"; }
fi
ok=$(sed -nE 's/^phase .*: ([0-9]+) registered.*/\1/p' "$T/result.txt" | awk '{ n += $1 } END { print n + 0 }')
certs=$(db "SELECT count(*) FROM certificates WHERE ca = 'device' AND profile = 'device' AND state = 'issued'")
prov=$(db "SELECT count(*) FROM devices WHERE state = 'provisioned'")
reg=$(db "SELECT registered FROM work_orders WHERE name = 'WO-BENCH'")
batches=$(sed -n 's/^ztmd_commit_batches_total //p' "$T/metrics.txt")
jobs=$(sed -n 's/^ztmd_commit_jobs_total //p' "$T/metrics.txt")
if [ -n "$batches" ] && [ "$batches" -gt 0 ] && [ "$ok" -gt 0 ]; then
  step "group commits: $batches for $jobs store jobs ($(awk "BEGIN { printf \"%.2f\", $jobs / $batches }") jobs per commit, $(awk "BEGIN { printf \"%.2f\", $batches / $ok }") commits per registration)"
fi
if [ "$STORE" = pg ] && [ "$ok" -gt 0 ]; then
  step "statements per registration (pg_stat_statements, over all $certs, warm-up included): $(awk -v n="$certs" '{ t += $1; printf "%s %.1f, ", $2, $1 / n } END { printf "all %.1f", t / n }' "$T/statements.txt")"
fi
step "store: $certs device certificates issued, $prov devices provisioned, order count $reg (registrations reported: $ok)"
if [ "$certs" != "$ok" ] || [ "$prov" != "$ok" ] || [ "$reg" != "$ok" ]; then
  echo "register.sh: the store does not match the registrations reported" >&2
  exit 1
fi
if [ "${PERF:-0}" = 1 ]; then echo "perf report -i $T/perf.data --children"; fi
exit 0
