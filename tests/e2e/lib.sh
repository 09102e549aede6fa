# lib.sh - shared set-up for the end-to-end tests: a ceremony, a ztmd on
# 127.0.0.1 with a port file, and helpers. Sourced, not run.
# Needs ZTM_BIN (the build directory); CTest sets it.
# ZTM_E2E_STORE=pg: ztmd's store is a throwaway PostgreSQL server in $T/pg
# (tests/pg/pg_start.sh) instead of $T/srv/ztm.db; db() then queries it with
# psql. Skips (77) where PostgreSQL is not installed.
set -euo pipefail

: "${ZTM_BIN:?ZTM_BIN must point at the build directory}"
ZTM=$ZTM_BIN/src/cli/ztm
ZTMD=$ZTM_BIN/src/server/ztmd
T=$(mktemp -d /tmp/ztm-e2e.XXXXXX)
ZTMD_PID=

ZTMD_NODE_PIDS=() # more ztmd processes (start_ztmd_node), stopped like ZTMD_PID

cleanup() {
  local rc=$? sanitizer=0 pid log
  for pid in "${ZTMD_PID}" "${ZTMD_NODE_PIDS[@]}"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # Under the sanitizer build a report from ztmd (leak at exit, a worker's
  # abort) fails the test even if every request looked fine.
  for log in "$T"/ztmd*.log; do
    if [ -f "$log" ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
      grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -60 >&2
      sanitizer=1
    fi
  done
  if [ -d "$T/pg" ]; then bash "$ZTM_SRC/tests/pg/pg_stop.sh" "$T/pg"; fi
  local tpm
  for tpm in "$T"/*/swtpm.pid; do
    if [ -e "$tpm" ]; then bash "$ZTM_SRC/tests/tpm/swtpm_stop.sh" "$(dirname "$tpm")" --keep; fi
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  [ "$sanitizer" = 1 ] && [ "$rc" = 0 -o "$rc" = 77 ] && exit 1
  exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$T/ztmd.log" ] && tail -30 "$T/ztmd.log" >&2; exit 1; }
ok() { echo "ok: $*"; }
skip() { echo "SKIP: $*" >&2; exit 77; }
# `cmd | matches [grep options] PATTERN`: grep -q that reads all its input
# first. A bare `cmd | grep -q` exits at the first match; a command still
# writing (tpm2-tools writes unbuffered) then dies of SIGPIPE and pipefail
# fails the test, at random.
matches() {
  local in
  in=$(cat)
  grep -q "$@" <<<"$in"
}

for tool in curl openssl sqlite3; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh installs it)"
done

# ceremony_and_server [extra server init args]: creates $T/ceremony, $T/srv.
ceremony_and_server() {
  umask 077
  printf 'root-passphrase-for-tests\n' >"$T/root.pass"
  "$ZTM" ceremony init --dir "$T/ceremony" --org "ZTM Test OEM" \
    --root-pass-file "$T/root.pass" >"$T/ceremony.log" 2>&1 || { cat "$T/ceremony.log"; fail "ceremony init"; }
  "$ZTM" server init --ceremony "$T/ceremony" --out "$T/srv" --listen 127.0.0.1:0 "$@" \
    >"$T/server-init.log" 2>&1 || { cat "$T/server-init.log"; fail "server init"; }
  # With --public-listen: its port (0 in tests) lands in $T/pport.
  sed -i "s|^\[public\]\$|[public]\nport_file = $T/pport|" "$T/srv/ztmd.conf"
  [ "${ZTM_E2E_STORE:-sqlite}" = pg ] && use_pg_store
  export ZTM_CA=$T/ceremony/chain.pem
  export ZTM_CERT=$T/ceremony/operators/admin.crt
  export ZTM_KEY=file:$T/ceremony/operators/admin.key
  export ZTM_KEY_PASS_FILE=$T/ceremony/online.pass
}

# start_ztmd: starts ztmd in the background and waits for /healthz.
start_ztmd() {
  rm -f "$T/port" "$T/pport"
  # Its own process group, so a test can kill master and workers at once.
  setsid "$ZTMD" --config "$T/srv/ztmd.conf" --port-file "$T/port" >>"$T/ztmd.log" 2>&1 &
  ZTMD_PID=$!
  # Up to 60 s: a sanitizer build on a loaded 2-core machine starts slowly
  # (ztmd decrypts about ten keys at start).
  for _ in $(seq 600); do
    if [ -s "$T/port" ]; then
      PORT=$(cat "$T/port")
      export ZTM_SERVER=https://127.0.0.1:$PORT
      # The plain-HTTP listener ([public] listen), when there is one.
      [ -s "$T/pport" ] && export ZTM_PUBLIC=http://127.0.0.1:$(cat "$T/pport")
      if curl -sf --cacert "$ZTM_CA" "$ZTM_SERVER/healthz" >/dev/null 2>&1; then
        return 0
      fi
    fi
    kill -0 "$ZTMD_PID" 2>/dev/null || fail "ztmd exited at start"
    sleep 0.1
  done
  fail "ztmd did not become healthy"
}

# start_ztmd_node NAME: another ztmd on the same configuration and store
# (several nodes on one PostgreSQL): its own config copy $T/srv/ztmd-NAME.conf
# (only the public port file differs), ports in $T/port-NAME and
# $T/pport-NAME, log $T/ztmd-NAME.log, pid in NODE_PID. Does not wait.
start_ztmd_node() {
  local name=$1
  sed "s|^port_file = $T/pport\$|port_file = $T/pport-$name|" "$T/srv/ztmd.conf" >"$T/srv/ztmd-$name.conf"
  rm -f "$T/port-$name" "$T/pport-$name"
  setsid "$ZTMD" --config "$T/srv/ztmd-$name.conf" --port-file "$T/port-$name" \
    >>"$T/ztmd-$name.log" 2>&1 &
  NODE_PID=$!
  ZTMD_NODE_PIDS+=("$NODE_PID")
}

# wait_ztmd_node NAME PID: until its /healthz answers; sets NODE_URL and
# NODE_PUBLIC (its plain-HTTP listener).
wait_ztmd_node() {
  local name=$1 pid=$2
  for _ in $(seq 600); do
    if [ -s "$T/port-$name" ] && [ -s "$T/pport-$name" ]; then
      NODE_URL=https://127.0.0.1:$(cat "$T/port-$name")
      NODE_PUBLIC=http://127.0.0.1:$(cat "$T/pport-$name")
      curl -sf --cacert "$T/ceremony/chain.pem" "$NODE_URL/healthz" >/dev/null 2>&1 && return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -20 "$T/ztmd-$name.log" >&2; fail "ztmd node $name exited at start"; }
    sleep 0.1
  done
  fail "ztmd node $name did not become healthy"
}

stop_ztmd() {
  kill -TERM "$ZTMD_PID"
  wait "$ZTMD_PID" || fail "ztmd did not exit cleanly on SIGTERM"
  ZTMD_PID=
}

# use_pg_store: starts PostgreSQL in $T/pg, creates database ztm and points
# ztmd.conf's [store] url at it.
use_pg_store() {
  : "${ZTM_SRC:?ZTM_SRC must point at the source tree}"
  command -v psql >/dev/null || skip "psql is not installed (scripts/deps.sh installs postgresql)"
  chmod 711 "$T" # the server runs as the postgres user and needs to reach $T/pg
  local rc=0
  bash "$ZTM_SRC/tests/pg/pg_start.sh" "$T/pg" >"$T/pg-start.log" 2>&1 || rc=$?
  [ "$rc" = 77 ] && skip "PostgreSQL: $(cat "$T/pg-start.log")"
  [ "$rc" = 0 ] || { cat "$T/pg-start.log" >&2; fail "starting PostgreSQL"; }
  PG_PORT=$(cat "$T/pg/port")
  psql -h "$T/pg/sock" -p "$PG_PORT" -U postgres -d postgres -qAt -c "CREATE DATABASE ztm" ||
    fail "creating the ztm database"
  sed -i "s|^url = sqlite:.*|url = postgresql://postgres@/ztm?host=$T/pg/sock\&port=$PG_PORT|" \
    "$T/srv/ztmd.conf"
  grep -q '^url = postgresql://' "$T/srv/ztmd.conf" || fail "ztmd.conf store url not rewritten"
}

# start_swtpm [NAME [CA_DIR]]: a throwaway TPM 2.0 in $T/NAME (default tpm)
# by tests/tpm/swtpm_start.sh (see there for the files it writes: EK
# certificates, the test manufacturer CA in CA_DIR, default $T/NAME/ca) and
# exports its TPM2TOOLS_TCTI and TPM2OPENSSL_TCTI. Again on the same NAME:
# restarts that TPM (same keys). Skips (77) where swtpm is not installed.
# stop_swtpm [NAME]: stops it, keeping its state. cleanup stops every one.
start_swtpm() {
  : "${ZTM_SRC:?ZTM_SRC must point at the source tree}"
  local name=${1:-tpm} rc=0
  bash "$ZTM_SRC/tests/tpm/swtpm_start.sh" "$T/$name" ${2:+"$2"} >"$T/$name-start.log" 2>&1 || rc=$?
  [ "$rc" = 77 ] && skip "swtpm: $(cat "$T/$name-start.log")"
  [ "$rc" = 0 ] || { cat "$T/$name-start.log" >&2; fail "starting swtpm $name"; }
  . "$T/$name/env"
}
stop_swtpm() { bash "$ZTM_SRC/tests/tpm/swtpm_stop.sh" "$T/${1:-tpm}" --keep; }

# db "SQL": query the store directly (read-only use in assertions).
db() {
  if [ -n "${PG_PORT:-}" ]; then
    psql -h "$T/pg/sock" -p "$PG_PORT" -U postgres -d ztm -qAt -c "$1"
  else
    sqlite3 -batch -noheader "$T/srv/ztm.db" "$1"
  fi
}

# issued: how many device certificates are issued.
issued() { db "SELECT count(*) FROM certificates WHERE ca = 'device' AND profile = 'device' AND state = 'issued'"; }

# tally_codes PREFIX N: the HTTP codes in PREFIX-01..N.code (seq -w) as
# "<200s> <403s> <409s> <other>".
tally_codes() {
  local i n200=0 n403=0 n409=0 other=0
  for i in $(seq -w 1 "$2"); do
    case $(cat "$1-$i.code") in
      200) n200=$((n200 + 1)) ;;
      403) n403=$((n403 + 1)) ;;
      409) n409=$((n409 + 1)) ;;
      *) other=$((other + 1)) ;;
    esac
  done
  echo "$n200 $n403 $n409 $other"
}

# snapshot NAME: counts that a refusal must leave unchanged.
snapshot() {
  db "SELECT (SELECT count(*) FROM certificates) || ':' || \
             (SELECT count(*) FROM enroll_codes WHERE used_at <> 0) || ':' || \
             (SELECT count(*) FROM stations WHERE state <> 'pending')" >"$T/snap.$1"
}
same_as() { snapshot now; cmp -s "$T/snap.$1" "$T/snap.now" || fail "store changed: $(cat "$T/snap.$1") -> $(cat "$T/snap.now")"; }

# enrolled_station FACTORY NAME: adds the factory and its station, enrolls
# the station with its one-time code; in the current directory: NAME.code,
# NAME.pass (its key passphrase), NAME.crt, and the key at file:$T/NAME.key.
enrolled_station() {
  "$ZTM" factory add --name "$1" >/dev/null 2>&1 || fail "factory add $1"
  "$ZTM" station add --factory "$1" --name "$2" >"$2.code" 2>/dev/null || fail "station add $2"
  printf 'station-key-passphrase\n' >"$2.pass"
  "$ZTM" station enroll --name "$2" --code-file "$2.code" --key "file:$T/$2.key" \
    --key-pass-file "$2.pass" --out "$2.crt" 2>err || fail "station enroll $2: $(cat err)"
}

# record_and_sync DIR PRODUCT SERIAL: station line-1 (enrolled_station, in the
# current directory) records the device whose bootstrap certificate is
# DIR/bootstrap.pem for order WO-PRODUCT (hardware A, firmware 1 with the
# SHA-256 of "fw", test passed, a MAC of its own) and syncs the queue.
record_and_sync() {
  ZTM_RECORDED=$((${ZTM_RECORDED:-0} + 1))
  "$ZTM" station record --queue q --bootstrap-cert "$1/bootstrap.pem" --serial "$3" --product "$2" \
    --order "WO-$2" --hw-rev A --mac "02:00:5e:00:00:$(printf %02x "$ZTM_RECORDED")" --fw-version 1 \
    --fw-sha256 "$(printf 'fw' | sha256sum | cut -c1-64)" --test pass 2>err || fail "record $3: $(cat err)"
  "$ZTM" station sync --queue q --cert line-1.crt --key "file:$T/line-1.key" \
    --key-pass-file line-1.pass >/dev/null 2>err || fail "sync: $(cat err)"
}
