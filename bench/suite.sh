#!/usr/bin/env bash
# bench/suite.sh - the benchmark suite, side by side with peers (issue 7;
# docs/benchmarks.md, "Benchmark suite"). Not a test: it prints figures.
#
#   bench/suite.sh                  full run, under 15 minutes on 2 cores
#   SUITE_QUICK=1 bench/suite.sh    smoke run, ~2-3 minutes, small counts
#
# It builds what it needs (scripts/build.sh), installs the peers it lacks
# (golang-cfssl with apt-get), runs every measure bounded in count and time,
# on 127.0.0.1 only (PostgreSQL on a Unix socket), prints ONE table
# (measure | ztm | peer | ztm/peer | goal | met?) and writes it into
# docs/benchmarks.md between the suite markers, with the date, the load
# average before and after, the CPU model and the OpenSSL version.
#
# Measures, in order: issuance (bench_issue); registrations end to end on
# SQLite with RECORDS station records (bench_seed + bench_register), then the
# same devices against `cfssl serve` with mutual TLS (bench_register --cfssl);
# registrations on PostgreSQL with 1 node and 2 nodes (1 worker each,
# PG_RECORDS records); station record ingest (bench/ingest.sh); OCSP from
# ztmd's public listener, cfssl ocspserve and openssl ocsp (bench/ocsp.sh);
# CRL generation at CRL_N revoked (bench_crl, its X509_CRL baseline the
# peer); disk bytes per device and ztmd's memory with RECORDS devices (the
# SQLite run's store and processes).
#
# Environment: SUITE_QUICK=1; SUITE_DOCS=0|1 (write docs/benchmarks.md;
# default 1, 0 when quick); SUITE_BUILD=0 (no build); SUITE_ONLY="issue
# sqlite cfssl pg ingest ocsp crl" (a subset, for development; cfssl needs
# sqlite's devices file); ZTM_BIN (build/); KEEP=1 keeps the directory.
# Sizes (defaults full / quick): RECORDS 1000000 / 100000, DEVICES 45000 /
# 8000, PG_RECORDS 100000 / 10000, PG_DEVICES 48000 / 8000 (half each run:
# each registers once, and a phase that runs out of devices ends early:
# DEVICES covers 2,500 registrations/s through both phases, PG_DEVICES
# 1,400/s), PHASE_SECONDS
# 10 / 3, CONCURRENCY 32, WARMUP 300 / 100, ISSUE_N 10000 / 2000, INGEST_N
# 40000 / 5000 (4 connections), OCSP_SECONDS 5 / 2, CRL_N 1000000 / 200000.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export ZTM_BIN=${ZTM_BIN:-$root/build}
QUICK=${SUITE_QUICK:-0}
if [ "$QUICK" = 1 ]; then
  d_rec=100000 d_dev=8000 d_pgrec=10000 d_pgdev=8000 d_phase=3 d_warm=100 d_issue=2000
  d_ingest=5000 d_ocsp=2 d_crl=200000 d_docs=0
else
  d_rec=1000000 d_dev=45000 d_pgrec=100000 d_pgdev=48000 d_phase=10 d_warm=300 d_issue=10000
  d_ingest=40000 d_ocsp=5 d_crl=1000000 d_docs=1
fi
RECORDS=${RECORDS:-$d_rec} DEVICES=${DEVICES:-$d_dev}
PG_RECORDS=${PG_RECORDS:-$d_pgrec} PG_DEVICES=${PG_DEVICES:-$d_pgdev}
PHASE=${PHASE_SECONDS:-$d_phase} CONC=${CONCURRENCY:-32} WARMUP=${WARMUP:-$d_warm} LOAD=0.7
ISSUE_N=${ISSUE_N:-$d_issue} INGEST_N=${INGEST_N:-$d_ingest} INGEST_PER=5000
# Four uploads in flight for two workers: one batch being received while
# another is processed (two gave 4 batches per connection at most, and
# the rate measured the gaps between them).
INGEST_CONNS=4
OCSP_SECONDS=${OCSP_SECONDS:-$d_ocsp} CRL_N=${CRL_N:-$d_crl}
DOCS=${SUITE_DOCS:-$d_docs}
ONLY=${SUITE_ONLY:-issue sqlite cfssl pg ingest ocsp crl}
[ "$INGEST_N" -lt "$INGEST_PER" ] && INGEST_PER=$INGEST_N

B=$ZTM_BIN
ZTM=$B/src/cli/ztm ZTMD=$B/src/server/ztmd
T=$(mktemp -d /tmp/ztm-suite.XXXXXX)
chmod 711 "$T" # PostgreSQL runs as the postgres user and reaches $T/pg
VALS=$T/values # "key=value" lines: what each measure found
: >"$VALS"
: >"$T/pids"
started=$SECONDS

cleanup() {
  local rc=$? p bin
  while read -r p; do
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
  done <"$T/pids"
  if [ -f "$T/pg/data/postmaster.pid" ]; then
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    pg_as "$bin/pg_ctl" -D "$T/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  sleep 0.5
  if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
step() { printf '== [%3d s] %s\n' "$((SECONDS - started))" "$*"; }
put() { echo "$1=$2" >>"$VALS"; }
get() { sed -n "s/^$1=//p" "$VALS" | tail -1; }
want() { [[ " $ONLY " == *" $1 "* ]]; }
pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# --- build, peers, machine ----------------------------------------------------
TARGETS="ztm-cli ztmd bench_issue bench_seed bench_register bench_store bench_ingest bench_ocsp bench_crl"
if [ "${SUITE_BUILD:-1}" = 1 ]; then
  step "building ($TARGETS) with scripts/build.sh"
  BUILD_DIR=$B BUILD_TARGETS=$TARGETS "$root/scripts/build.sh" >"$T/build.log" 2>&1 ||
    { tail -30 "$T/build.log" >&2; exit 1; }
fi
for b in "$ZTM" "$ZTMD" "$B"/bench/bench_{issue,seed,register,store,ingest,ocsp,crl}; do
  [ -x "$b" ] || { echo "suite.sh: $b is missing (scripts/build.sh)" >&2; exit 1; }
done
for tool in curl sqlite3 openssl taskset bc; do
  command -v "$tool" >/dev/null || { echo "suite.sh: $tool is not installed (scripts/deps.sh)" >&2; exit 1; }
done
if ! command -v cfssl >/dev/null; then
  step "installing golang-cfssl (the peer) with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y golang-cfssl >/dev/null
fi
put cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
put ncpu "$(nproc)"
put openssl "$(openssl version | cut -d' ' -f1-2)"
put cfssl "$(cfssl version 2>/dev/null | sed -n 's/^Version: //p')"
put commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo +changes)"
put date "$(date -u +%Y-%m-%d\ %H:%M\ UTC)"
put load_before "$(loadavg)"
step "machine: $(get ncpu) CPUs, $(get cpu), $(get openssl), cfssl $(get cfssl); load average $(get load_before)"

# --- shared pieces -------------------------------------------------------------
ceremony() { # the one ceremony every ztmd of the suite is set up from
  [ -d "$T/c" ] && return 0
  umask 077
  printf 'bench-root-passphrase\n' >"$T/root.pass"
  "$ZTM" ceremony init --dir "$T/c" --org "ZTM Bench OEM" --root-pass-file "$T/root.pass" \
    >"$T/ceremony.log" 2>&1 || { cat "$T/ceremony.log" >&2; return 1; }
}
server_init() { # DIR [args]: a ztmd configuration from the ceremony
  local dir=$1
  shift
  "$ZTM" server init --ceremony "$T/c" --out "$dir" --listen 127.0.0.1:0 "$@" \
    >"$dir.init.log" 2>&1 || { cat "$dir.init.log" >&2; return 1; }
}
start_node() { # CONF NAME: starts ztmd, waits for /healthz; prints its master pid
  local conf=$1 name=$2 pid master
  rm -f "$T/$name.port"
  setsid "$ZTMD" --config "$conf" --port-file "$T/$name.port" >"$T/$name.log" 2>&1 &
  pid=$!
  echo "$pid" >>"$T/pids"
  for _ in $(seq 300); do
    if [ -s "$T/$name.port" ] &&
      curl -sf --cacert "$T/c/chain.pem" "https://127.0.0.1:$(cat "$T/$name.port")/healthz" >/dev/null 2>&1; then
      master=$(sed -n 's/.*level=info pid=\([0-9]*\) event=start .*/\1/p' "$T/$name.log" | head -1)
      echo "${master:-$pid}"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail "$T/$name.log" >&2; return 1; }
    sleep 0.1
  done
  echo "suite.sh: ztmd $name did not become healthy" >&2
  return 1
}
stop_node() { # MASTER
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
rss_kb() { # PIDS...: summed VmRSS in kB
  local p t=0
  for p in "$@"; do t=$((t + $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0))); done
  echo "$t"
}
# Figures of one bench_register phase: reg FILE PHASE KEY PREFIX.
reg() {
  local blk
  blk=$(sed -n "/^phase $2 /,/^\(phase\|devices\)/p" "$1")
  put "${3}_ok" "$(sed -nE "1s/^phase [a-z]+ .*: ([0-9]+) registered.*/\1/p" <<<"$blk")"
  # Anything after "N registered in T s": failures by kind, "(the devices file ran out)".
  put "${3}_errors" "$(sed -nE '1s/^phase [a-z]+ .*: [0-9]+ registered in [0-9.]+ s,? ?//p' <<<"$blk")"
  put "${3}_rate" "$(sed -n 's/^  registrations\/s *\([0-9.]*\).*/\1/p' <<<"$blk")"
  put "${3}_cpu_ms" "$(sed -n 's/^  server CPU *\([0-9.]*\) ms per registration.*/\1/p' <<<"$blk")"
  put "${3}_per_core" "$(sed -n 's/.*-> \([0-9]*\) registrations\/s per server core.*/\1/p' <<<"$blk")"
  put "${3}_lat" "$(sed -n 's/^  latency *p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms, p99.9 \([0-9.]*\) ms.*/\1 \/ \2 \/ \3/p' <<<"$blk")"
  put "${3}_client_ms" "$(sed -n 's/^  client CPU *\([0-9.]*\) ms per registration.*/\1/p' <<<"$blk")"
  put "${3}_db_ms" "$(sed -n 's/^  database CPU *\([0-9.]*\) ms per registration.*/\1/p' <<<"$blk")"
  put "${3}_p99" "$(sed -n 's/^  latency *p50 [0-9.]* ms, p99 \([0-9.]*\) ms.*/\1/p' <<<"$blk")"
}
registered() { sed -nE 's/^phase .*: ([0-9]+) registered.*/\1/p' "$1" | awk '{ n += $1 } END { print n + 0 }'; }
loadgen() { # OUT ARGS...: bench_register with the suite's phases, bounded in time
  local out=$1
  shift
  timeout 600 "$B/bench/bench_register" --concurrency "$CONC" --seconds "$PHASE" --load "$LOAD" \
    --warmup "$WARMUP" "$@" >"$out" 2>"$out.err" || { cat "$out" "$out.err" >&2; return 1; }
  sed 's/^/    /' "$out"
}

# --- measures (each runs in its own process; see run_measure) -----------------
m_issue() {
  local out
  out=$("$B/bench/bench_issue" "$ISSUE_N")
  sed 's/^/    /' <<<"$out"
  put issue_1 "$(sed -n 's/^  1 process *\([0-9]*\) certificates.*/\1/p' <<<"$out")"
  put issue_2 "$(sed -n 's/^  2 processes *\([0-9]*\) certificates.*/\1/p' <<<"$out")"
  put issue_scale "$(sed -n 's/.*(scaling \([0-9.]*\)x).*/\1/p' <<<"$out")"
}

m_sqlite() {
  local srv=$T/sq master size0 size1 ok certs prov regd w
  ceremony
  server_init "$srv"
  step "seeding $RECORDS station records ($DEVICES real devices) into SQLite"
  "$B/bench/bench_seed" --store "sqlite:$srv/ztm.db" --out "$T/devices.bin" --records "$RECORDS" \
    --devices "$DEVICES" | sed 's/^/    /'
  sqlite3 "$srv/ztm.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  size0=$(stat -c %s "$srv/ztm.db")
  put disk "$("$B/bench/bench_store" 1 2>/dev/null | sed -n 's/^single-row commits *//p' | awk '{ print $1 }')"
  master=$(start_node "$srv/ztmd.conf" sq)
  step "registering against ztmd (SQLite, $(grep -c 'event=worker_start' "$T/sq.log") workers and a checkpointer)"
  loadgen "$T/sq.out" --connect "127.0.0.1:$(cat "$T/sq.port")" --cacert "$T/c/chain.pem" \
    --devices "$T/devices.bin" --server-pid "$master"
  # Memory after serving registrations against the full store.
  # The workers: every child but the checkpointer (counted with the master).
  cpp=$(sed -n 's/.* pid=\([0-9]*\) event=checkpointer_start .*/\1/p' "$T/sq.log" | tail -1)
  w=$(pgrep -P "$master" | grep -vx "${cpp:-none}" | tr '\n' ' ')
  put sq_rss_master "$(rss_kb "$master" $cpp)"
  put sq_rss_workers "$(rss_kb $w)"
  put sq_workers "$(wc -w <<<"$w")"
  stop_node "$master"
  reg "$T/sq.out" max sq
  reg "$T/sq.out" load sql
  ok=$(registered "$T/sq.out")
  certs=$(sqlite3 "$srv/ztm.db" "SELECT count(*) FROM certificates WHERE ca = 'device' AND profile = 'device' AND state = 'issued'")
  prov=$(sqlite3 "$srv/ztm.db" "SELECT count(*) FROM devices WHERE state = 'provisioned'")
  regd=$(sqlite3 "$srv/ztm.db" "SELECT registered FROM work_orders WHERE name = 'WO-BENCH'")
  step "store: $certs certificates, $prov provisioned devices, order count $regd (registrations reported: $ok)"
  [ "$certs" = "$ok" ] && [ "$prov" = "$ok" ] && [ "$regd" = "$ok" ] ||
    { echo "suite.sh: the SQLite store does not match the registrations reported" >&2; return 1; }
  sqlite3 "$srv/ztm.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  size1=$(stat -c %s "$srv/ztm.db")
  put sq_regs "$ok"
  put sq_bytes_rec "$(calc %.0f "$size0 / $RECORDS")"
  put sq_bytes_reg "$(calc %.0f "($size1 - $size0) / $ok")"
  put sq_size "$(calc %.0f "$size1 / 1048576")"
}

m_cfssl() {
  local d=$T/cfssl port pid
  [ -s "$T/devices.bin" ] || { echo "suite.sh: cfssl needs the devices file of the sqlite measure" >&2; return 1; }
  mkdir -p "$d"
  (
    cd "$d"
    umask 077
    ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }
    ca() { # KEY CERT CN
      ec "$1"
      openssl req -x509 -new -key "$1" -subj "/O=Peer/CN=$3" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$2"
    }
    leaf() { # NAME CN EXT
      ec "$1-key.pem"
      openssl req -new -key "$1-key.pem" -subj "/CN=$2" -out "$1.csr"
      openssl x509 -req -in "$1.csr" -CA tls-ca.pem -CAkey tls-ca-key.pem -CAcreateserial -days 365 \
        -sha256 -extfile <(printf '%s\nbasicConstraints=CA:FALSE\n' "$3") -out "$1.pem" 2>/dev/null
    }
    ca ca-key.pem ca.pem "cfssl signing CA"   # signs the devices' CSRs
    ca tls-ca-key.pem tls-ca.pem "cfssl TLS CA" # the server's and the client's TLS certificates
    leaf server 127.0.0.1 $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
    leaf client "bench client" 'extendedKeyUsage=clientAuth'
    printf '{"signing":{"default":{"usages":["digital signature","client auth"],"expiry":"8760h"}}}\n' >config.json
  ) >"$d/setup.log" 2>&1 || { cat "$d/setup.log" >&2; return 1; }
  port=$((20000 + RANDOM % 20000))
  # The exact command docs/benchmarks.md quotes.
  (cd "$d" && exec cfssl serve -address 127.0.0.1 -port "$port" -ca ca.pem -ca-key ca-key.pem \
    -config config.json -tls-cert server.pem -tls-key server-key.pem -mutual-tls-ca tls-ca.pem \
    -loglevel 5) >"$d/cfssl.log" 2>&1 &
  pid=$!
  echo "$pid" >>"$T/pids"
  for _ in $(seq 100); do
    curl -s --cacert "$d/tls-ca.pem" --cert "$d/client.pem" --key "$d/client-key.pem" \
      "https://127.0.0.1:$port/api/v1/cfssl/sign" -d '{}' >/dev/null 2>&1 && break
    sleep 0.1
  done
  # Mutual TLS is on: no client certificate, no answer.
  if curl -s --cacert "$d/tls-ca.pem" "https://127.0.0.1:$port/api/v1/cfssl/sign" -d '{}' >/dev/null 2>&1; then
    echo "suite.sh: cfssl serve answered without a client certificate" >&2
    return 1
  fi
  step "registering against cfssl serve (mutual TLS, pid $pid): the same devices' CSRs"
  loadgen "$T/cf.out" --cfssl --client-cert "$d/client.pem" --client-key "$d/client-key.pem" \
    --connect "127.0.0.1:$port" --cacert "$d/tls-ca.pem" --devices "$T/devices.bin" --server-pid "$pid"
  kill -TERM "$pid"
  reg "$T/cf.out" max cf
  reg "$T/cf.out" load cfl
}

# A PostgreSQL server of its own: as tests/pg/pg_start.sh, but durable
# (fsync on, synchronous_commit on: the defaults), as in production.
pg_up() {
  local bin port
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$bin" ] && [ -x "$bin/initdb" ] || { echo "suite.sh: PostgreSQL is not installed (scripts/deps.sh)" >&2; return 1; }
  mkdir -p "$T/pg/sock"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$T/pg"
  pg_as "$bin/initdb" -D "$T/pg/data" -U postgres -A trust -E UTF8 >"$T/pg/initdb.log" 2>&1 ||
    { cat "$T/pg/initdb.log" >&2; return 1; }
  port=$((20000 + RANDOM % 20000))
  pg_as "$bin/pg_ctl" -D "$T/pg/data" -l "$T/pg/server.log" -w -t 60 \
    -o "-k $T/pg/sock -p $port -c listen_addresses='' -c max_connections=100" start >/dev/null ||
    { cat "$T/pg/server.log" >&2; return 1; }
  echo "$port" >"$T/pg/port"
  psql -h "$T/pg/sock" -p "$port" -U postgres -d postgres -qAt -c "CREATE DATABASE ztm"
}
pgq() { psql -h "$T/pg/sock" -p "$(cat "$T/pg/port")" -U postgres -d ztm -qAt -c "$1"; }
m_pg() {
  local srv=$T/pgs url a b pm skip size0 size1 ok certs
  ceremony
  step "PostgreSQL (fsync on, synchronous_commit on) on a Unix socket"
  pg_up
  server_init "$srv" --workers 1
  url="postgresql://postgres@/ztm?host=$T/pg/sock&port=$(cat "$T/pg/port")"
  sed -i "s|^url = sqlite:.*|url = $(sed 's/&/\\\&/g' <<<"$url")|" "$srv/ztmd.conf"
  grep -q '^url = postgresql://' "$srv/ztmd.conf"
  step "seeding $PG_RECORDS station records ($PG_DEVICES real devices) into PostgreSQL"
  "$B/bench/bench_seed" --store "$url" --out "$T/pg-devices.bin" --records "$PG_RECORDS" \
    --devices "$PG_DEVICES" | sed 's/^/    /'
  size0=$(pgq "SELECT pg_database_size('ztm')")
  pm=$(head -1 "$T/pg/data/postmaster.pid") # its CPU and its backends': "database CPU"
  a=$(start_node "$srv/ztmd.conf" pga)
  step "registering against 1 node (1 worker)"
  loadgen "$T/pg1.out" --connect "127.0.0.1:$(cat "$T/pga.port")" --cacert "$T/c/chain.pem" \
    --devices "$T/pg-devices.bin" --devices-max "$((PG_DEVICES / 2))" --server-pid "$a" --db-pid "$pm"
  skip=$(sed -n 's/.*next run: --skip \([0-9]*\).*/\1/p' "$T/pg1.out")
  b=$(start_node "$srv/ztmd.conf" pgb)
  step "registering against 2 nodes (1 worker each), devices in turn"
  loadgen "$T/pg2.out" --connect "127.0.0.1:$(cat "$T/pga.port")" --connect "127.0.0.1:$(cat "$T/pgb.port")" \
    --cacert "$T/c/chain.pem" --devices "$T/pg-devices.bin" --skip "$skip" --devices-max "$((PG_DEVICES / 2))" --server-pid "$a" --server-pid "$b" \
    --db-pid "$pm"
  stop_node "$a"
  stop_node "$b"
  reg "$T/pg1.out" max pg1
  reg "$T/pg2.out" max pg2
  ok=$(($(registered "$T/pg1.out") + $(registered "$T/pg2.out")))
  certs=$(pgq "SELECT count(*) FROM certificates WHERE ca = 'device' AND profile = 'device' AND state = 'issued'")
  step "store: $certs certificates, order count $(pgq "SELECT registered FROM work_orders WHERE name = 'WO-BENCH'") (registrations reported: $ok); node B answered $(grep -c simpleenroll "$T/pgb.log") of the second run's"
  [ "$certs" = "$ok" ] || { echo "suite.sh: the PostgreSQL store does not match the registrations reported" >&2; return 1; }
  pgq "CHECKPOINT" >/dev/null
  size1=$(pgq "SELECT pg_database_size('ztm')")
  put pg_bytes_rec "$(calc %.0f "$size0 / $PG_RECORDS")"
  put pg_bytes_reg "$(calc %.0f "($size1 - $size0) / $ok")"
}

m_ingest() {
  local out
  out=$(ZTM_SRC=$root timeout 600 "$root/bench/ingest.sh" "$INGEST_N" "$INGEST_PER" 0 "$INGEST_CONNS" 2>&1) ||
    { echo "$out" >&2; return 1; }
  sed 's/^/    /' <<<"$out"
  out=$(grep '^empty store:' <<<"$out")
  put ingest_rate "$(sed -n 's/.*records_per_s \([0-9]*\).*/\1/p' <<<"$out")"
  put ingest_cpu_us "$(sed -n 's/.*server_cpu_us_per_record \([0-9.]*\).*/\1/p' <<<"$out")"
}

m_ocsp() {
  local out
  out=$(OCSP_HTTPS=0 OCSP_RESULTS=$T/ocsp.res SECONDS_PER_RUN=$OCSP_SECONDS RUNS=1 \
    timeout 600 "$root/bench/ocsp.sh" "$B" 2>&1) || { echo "$out" >&2; return 1; }
  sed 's/^/    /' <<<"$out"
  while read -r n rate cpu; do
    put "ocsp_${n}" "$rate"
    put "ocsp_${n}_cpu" "$cpu"
  done <"$T/ocsp.res"
}

m_crl() {
  local out
  out=$(timeout 600 "$B/bench/bench_crl" "$CRL_N" 16384)
  sed 's/^/    /' <<<"$out"
  put crl_writer_s "$(sed -n 's/^writer: .* shards: \([0-9.]*\) s,.*/\1/p' <<<"$out")"
  put crl_shards "$(sed -n 's/^writer: [0-9]* entries in \([0-9]*\) shards.*/\1/p' <<<"$out")"
  put crl_writer_mb "$(sed -n 's/^writer: peak RSS \([0-9.]*\) MB/\1/p' <<<"$out")"
  put crl_store_s "$(sed -n 's/^store: .* stored: \([0-9.]*\) s.*/\1/p' <<<"$out")"
  put crl_store_mb "$(sed -n 's/^store: peak RSS \([0-9.]*\) MB/\1/p' <<<"$out")"
  put crl_x509_s "$(sed -n 's/^x509: .* API: \([0-9.]*\) s,.*/\1/p' <<<"$out")"
  put crl_x509_mb "$(sed -n 's/^x509: peak RSS \([0-9.]*\) MB/\1/p' <<<"$out")"
}

# A measure runs in a background process, so that `set -e` holds inside it
# (it is off in functions called from an `||` list) and one that fails
# leaves the others to run; its row then says "failed".
run_measure() { # NAME DESCRIPTION
  want "$1" || return 0
  step "$2"
  local t0=$SECONDS rc=0
  (m_"$1") &
  wait $! || rc=$?
  put "time_$1" "$((SECONDS - t0))"
  if [ "$rc" != 0 ]; then
    put "failed_$1" 1
    echo "suite.sh: measure '$1' failed (exit $rc)" >&2
  fi
}

run_measure issue "issuance: bench_issue $ISSUE_N (CSR parse + verify + issue, no store)"
run_measure sqlite "registrations on SQLite, $RECORDS records, ${PHASE} s phases"
run_measure cfssl "registrations against cfssl serve with mutual TLS, ${PHASE} s phases"
run_measure pg "registrations on PostgreSQL, 1 and 2 nodes, $PG_RECORDS records"
run_measure ingest "station record ingest: $INGEST_N records in batches of $INGEST_PER"
run_measure ocsp "OCSP: ztmd public listener, cfssl ocspserve, openssl ocsp; ${OCSP_SECONDS} s each"
run_measure crl "CRL generation: $CRL_N revoked (bench_crl)"
put load_after "$(loadavg)"
put total_s "$((SECONDS - started))"

# --- the table -------------------------------------------------------------------
# One row: measure | ztm | peer | ztm/peer | goal | met?
n() { awk -v v="$1" 'BEGIN { if (v == "") { print "?"; exit } s = sprintf("%.0f", v); o = "";
  while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else print "–" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || a == "–") print "?"; else print (a + 0 >= b + 0) ? "yes" : "**no**" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "") print "?"; else print (a + 0 <= b + 0) ? "yes" : "**no**" }'; }
ROWS=$T/rows
: >"$ROWS"
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@" >>"$ROWS"; }
errs() { local e; e=$(get "${1}_errors"); [ -z "$e" ] || echo " [$e]"; }
failed() { [ -n "$(get "failed_$1")" ] || ! want "$1"; }
skipped() { want "$1" && echo "failed" || echo "not run"; }

if failed issue; then row "issuance, 1 process" "$(skipped issue)" "" "" "" ""; else
  row "issuance per core (bench_issue: CSR parse+verify, lint, sign; 1 process)" "$(n "$(get issue_1)")/s" "" "" ">= 5,000/s" "$(ge "$(get issue_1)" 5000)"
  row "issuance, 2 processes (scaling)" "$(n "$(get issue_2)")/s ($(get issue_scale)x)" "" "" ">= 1.9x" "$(ge "$(get issue_scale)" 1.9)"
fi
cfr=$(get cf_rate) cfc=$(get cf_per_core)
cfx='' # the peer column when cfssl did not run
if failed cfssl; then cfr='' cfc='' cfx="cfssl: $(skipped cfssl)"; fi
if failed sqlite; then row "registrations, SQLite" "$(skipped sqlite)" "" "" "" ""; else
  r=$(ratio "$(get sq_rate)" "$cfr")
  row "registrations/s end to end, SQLite, $(n "$RECORDS") records ($(get sq_workers) workers; closed loop, $CONC in flight; client on the same cores)" \
    "$(n "$(get sq_rate)")/s$(errs sq)" "${cfr:+cfssl serve, mutual TLS: $(n "$cfr")/s$(errs cf)}$cfx" "$r" ">= 1.5x cfssl" "$(ge "$r" 1.5)"
  r=$(ratio "$(get sq_per_core)" "$cfc")
  row "registrations per server CPU-second (server CPU per registration)" \
    "$(n "$(get sq_per_core)") ($(get sq_cpu_ms) ms)" "${cfc:+$(n "$cfc") ($(get cf_cpu_ms) ms)}" "$r" ">= 1,000 per core" "$(ge "$(get sq_per_core)" 1000)"
  row "latency p50 / p99 / p99.9, open loop at 70 % of max" "$(get sql_lat) ms at $(n "$(get sql_rate)")/s$(errs sql)" \
    "${cfr:+$(get cfl_lat) ms at $(n "$(get cfl_rate)")/s$(errs cfl)}" "" "p99 <= 10 ms" "$(le "$(get sql_p99)" 10)"
fi
if failed pg; then row "registrations, PostgreSQL" "$(skipped pg)" "" "" "" ""; else
  row "registrations/s, PostgreSQL, 1 node (1 worker), $(n "$PG_RECORDS") records" "$(n "$(get pg1_rate)")/s$(errs pg1)" "" "" "" ""
  r=$(ratio "$(get pg2_rate)" "$(get pg1_rate)")
  row "registrations/s, PostgreSQL, 2 nodes (1 worker each)" "$(n "$(get pg2_rate)")/s$(errs pg2)" "1 node: $(n "$(get pg1_rate)")/s" "$r" ">= 1.6x 1 node" "$(ge "$r" 1.6)"
  row "CPU per registration at max, 1 node / 2 nodes: ztmd; PostgreSQL (postmaster and backends); client" \
    "$(get pg1_cpu_ms) / $(get pg2_cpu_ms) ms; $(get pg1_db_ms) / $(get pg2_db_ms) ms; $(get pg1_client_ms) / $(get pg2_client_ms) ms" "" "" "" ""
  pg1_sum=$(calc %.3f "$(get pg1_cpu_ms) + $(get pg1_db_ms) + $(get pg1_client_ms)")
  pg2_sum=$(calc %.3f "$(get pg2_cpu_ms) + $(get pg2_db_ms) + $(get pg2_client_ms)")
  row "the 2 cores' ceiling: 2 s / (the CPU per registration above, summed), 1 node / 2 nodes" \
    "$(n "$(calc %.0f "2000 / $pg1_sum")") / $(n "$(calc %.0f "2000 / $pg2_sum")") per s ($pg1_sum / $pg2_sum ms)" "" "" "" ""
fi
if failed ingest; then row "station record ingest" "$(skipped ingest)" "" "" "" ""; else
  row "station record ingest/s, empty store ($(n "$INGEST_N") records, batches of $(n "$INGEST_PER"), $INGEST_CONNS connections; server CPU per record)" \
    "$(n "$(get ingest_rate)")/s ($(get ingest_cpu_us) us)" "" "" ">= 50,000/s" "$(ge "$(get ingest_rate)" 50000)"
fi
if failed ocsp; then row "OCSP" "$(skipped ocsp)" "" "" "" ""; else
  r=$(ratio "$(get ocsp_ztm_hpost)" "$(get ocsp_cfssl)")
  row "OCSP responses/s, pre-signed, HTTP keep-alive, 1 core (ztmd public listener, POST)" "$(n "$(get ocsp_ztm_hpost)")/s" \
    "cfssl ocspserve: $(n "$(get ocsp_cfssl)")/s" "$r" ">= 2x cfssl; >= 50,000/s" "$(ge "$r" 2); $(ge "$(get ocsp_ztm_hpost)" 50000)"
  r=$(ratio "$(get ocsp_ztm_hpost)" "$(get ocsp_openssl)")
  row "OCSP responses/s against openssl ocsp (signs each, a connection per answer)" "$(n "$(get ocsp_ztm_hpost)")/s" \
    "openssl ocsp: $(n "$(get ocsp_openssl)")/s" "$r" "" ""
  r=$(ratio "$(get ocsp_cfssl_cpu)" "$(get ocsp_ztm_hpost_cpu)")
  row "OCSP answers per server CPU-second (CPU per answer)" "$(n "$(calc %.0f "1e6 / $(get ocsp_ztm_hpost_cpu)")") ($(get ocsp_ztm_hpost_cpu) us)" \
    "cfssl $(n "$(calc %.0f "1e6 / $(get ocsp_cfssl_cpu)")") ($(get ocsp_cfssl_cpu) us)" "$r" "" ""
fi
if failed crl; then row "CRL generation" "$(skipped crl)" "" "" "" ""; else
  r=$(ratio "$(get crl_writer_s)" "$(get crl_x509_s)")
  row "CRL generation, $(n "$CRL_N") revoked, $(get crl_shards) shards (time; peak RSS)" "$(get crl_writer_s) s; $(get crl_writer_mb) MB" \
    "OpenSSL X509_CRL API, one CRL: $(get crl_x509_s) s; $(get crl_x509_mb) MB" "$r (time)" "<= 1 s; <= 64 MB" \
    "$(le "$(get crl_writer_s)" 1); $(le "$(get crl_writer_mb)" 64)"
  row "CRL from the store: read, build, sign, store every shard (durable commits)" "$(get crl_store_s) s; $(get crl_store_mb) MB" "" "" "" ""
fi
if ! failed sqlite; then
  row "disk bytes per device, SQLite, $(n "$RECORDS") devices (per record + per registration; file $(get sq_size) MiB)" \
    "$(n "$(calc %.0f "$(get sq_bytes_rec) + $(get sq_bytes_reg)")") ($(n "$(get sq_bytes_rec)") + $(n "$(get sq_bytes_reg)"))" "" "" "" ""
  row "ztmd memory (RSS) with $(n "$RECORDS") devices, after $(n "$(get sq_regs)") registrations" \
    "$(calc %.1f "$(get sq_rss_master) / 1024") MB master and checkpointer + $(calc %.1f "$(get sq_rss_workers) / 1024") MB in $(get sq_workers) workers" "" "" "" ""
fi
if ! failed pg; then
  row "disk bytes per device, PostgreSQL, $(n "$PG_RECORDS") devices (per record + per registration)" \
    "$(n "$(calc %.0f "$(get pg_bytes_rec) + $(get pg_bytes_reg)")") ($(n "$(get pg_bytes_rec)") + $(n "$(get pg_bytes_reg)"))" "" "" "" ""
fi

{
  echo "Run $(get date), commit $(get commit)$([ "$QUICK" = 1 ] && echo ', SUITE_QUICK=1 (smoke run: small counts)'):" \
    "$(get ncpu) CPUs ($(get cpu)), $(get openssl), cfssl $(get cfssl);" \
    "load average $(get load_before) before, $(get load_after) after; $(get total_s) s in all" \
    "(build $([ "${SUITE_BUILD:-1}" = 1 ] && echo included || echo skipped))$([ -n "$(get disk)" ] && echo "; disk: $(get disk) durable single-row SQLite commits/s (bench_store)")."
  echo
  echo "| measure | ztm | peer | ztm/peer | goal | met? |"
  echo "|---|---|---|---|---|---|"
  cat "$ROWS"
} >"$T/table.md"
echo
cat "$T/table.md"
echo
for m in $ONLY; do echo "  $m: $(get "time_$m") s$([ -n "$(get "failed_$m")" ] && echo ' FAILED')"; done

if [ "$DOCS" = 1 ]; then
  doc=$root/docs/benchmarks.md
  grep -q '^<!-- suite:begin -->$' "$doc" && grep -q '^<!-- suite:end -->$' "$doc" ||
    { echo "suite.sh: $doc has no suite markers" >&2; exit 1; }
  awk -v f="$T/table.md" '
    /^<!-- suite:begin -->$/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
    /^<!-- suite:end -->$/ { skip = 0 }
    !skip { print }' "$doc" >"$T/doc.new"
  cat "$T/doc.new" >"$doc"
  echo "table written into $doc"
fi
grep -q '^failed_' "$VALS" && exit 1
exit 0
