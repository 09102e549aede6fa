#!/usr/bin/env bash
# bench/ocsp.sh - OCSP responses per second from a pre-signed cache over HTTP/1.1
# keep-alive: ztmd side by side with Debian's `cfssl ocspserve` and the
# `openssl ocsp` responder, in one run, on the same certificates and the same
# responder key (docs/benchmarks.md "OCSP").
#
#   bench/ocsp.sh [BUILD_DIR]      (env: SECONDS_PER_RUN=10 CONNS=8 RUNS=3)
#
# bench/suite.sh runs it with OCSP_HTTPS=0 (only ztmd's public plain-HTTP
# listener, not its mTLS port) and OCSP_RESULTS=FILE: one line per server,
# "NAME RESPONSES_PER_S SERVER_CPU_US_PER_ANSWER".
#
# Each server gets one core (taskset -c 0; ztmd with one worker); the load
# generator (bench_ocsp, closed loop, CONNS connections) runs on core 1. The
# request is `openssl ocsp -no_nonce` for the ceremony's admin certificate
# (operator CA): a known, good certificate whose answer every server has
# signed ahead. ztmd is timed on its mTLS port (HTTPS keep-alive: one
# handshake per connection) and on its public plain-HTTP listener ([public]
# listen), cfssl and openssl plain HTTP; the table says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$root/build}
ZTM=$B/src/cli/ztm ZTMD=$B/src/server/ztmd BENCH=$B/bench/bench_ocsp
SECS=${SECONDS_PER_RUN:-10} CONNS=${CONNS:-8} RUNS=${RUNS:-3}
[ -x "$BENCH" ] && [ -x "$ZTMD" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
if ! command -v cfssl >/dev/null; then
  echo "installing golang-cfssl (cfssl ocspserve) with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y golang-cfssl >/dev/null
fi
[ "$(nproc)" -ge 2 ] || echo "warning: one core: server and load share it" >&2

T=$(mktemp -d /tmp/ztm-ocspbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
cd "$T"
umask 077
printf 'bench-root-pass\n' >root.pass
"$ZTM" ceremony init --dir c --org "Bench OEM" --root-pass-file root.pass >/dev/null 2>&1
"$ZTM" server init --ceremony c --out srv --listen 127.0.0.1:0 --workers 1 \
  --public-listen 127.0.0.1:0 >/dev/null 2>&1
sed -i "s|^\[public\]\$|[public]\nport_file = $T/pport|" srv/ztmd.conf
C=$T/c
taskset -c 0 "$ZTMD" --config srv/ztmd.conf --port-file port >ztmd.log 2>&1 &
ZMASTER=$!
pids+=($ZMASTER)
for _ in $(seq 600); do [ -s port ] && curl -sf --cacert c/chain.pem "https://127.0.0.1:$(cat port)/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
ZPORT=$(cat port) PPORT=$(cat pport)
# The one worker, where requests are served (not the checkpointer).
ZPID=$(sed -n 's/.* pid=\([0-9]*\) event=worker_start .*/\1/p' ztmd.log | head -1)

# The same responder (key and certificate) for all three servers.
sqlite3 srv/ztm.db "SELECT hex(der) FROM certificates WHERE profile = 'ocsp' AND ca = 'operator'" |
  xxd -r -p | openssl x509 -inform DER -out resp.pem
openssl ec -in srv/ocsp-operator.key -passin file:c/online.pass -out resp.key 2>/dev/null
openssl ocsp -issuer c/ca/operator.crt -cert c/operators/admin.crt -no_nonce -reqout req.der >/dev/null 2>&1

# cfssl: pre-signed responses from a file (RFC 5019 style).
cfssl ocspsign -ca c/ca/operator.crt -responder resp.pem -responder-key resp.key \
  -cert c/operators/admin.crt -status good -interval 1h 2>/dev/null >cfssl.out
sed -n 's/.*"ocspResponse":"\([^"]*\)".*/\1/p' cfssl.out >responses.b64
[ -s responses.b64 ] || cp cfssl.out responses.b64
CPORT=$((20000 + RANDOM % 20000))
taskset -c 0 cfssl ocspserve -port "$CPORT" -responses responses.b64 -loglevel 5 >cfssl.log 2>&1 &
CPID=$!
pids+=($CPID)

# openssl ocsp: an index of the issued certificate; it signs every answer.
serial=$(openssl x509 -in c/operators/admin.crt -noout -serial | cut -d= -f2)
end=$(date -u -d "$(openssl x509 -in c/operators/admin.crt -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$end" "$serial" \
  "$(openssl x509 -in c/operators/admin.crt -noout -subject -nameopt compat | sed 's/^subject=//')" >index.txt
OPORT=$((CPORT + 1))
taskset -c 0 openssl ocsp -index index.txt -port "$OPORT" -rsigner resp.pem -rkey resp.key \
  -CA c/ca/operator.crt -nmin 60 -ignore_err >openssl.log 2>&1 &
OPID=$!
pids+=($OPID)
sleep 1

# Each server's answer verifies and says good before it is timed.
check() {
  openssl ocsp -issuer c/ca/operator.crt -cert c/operators/admin.crt -no_nonce -url "$1" \
    -CAfile c/chain.pem -VAfile resp.pem >check.out 2>&1 && grep -q ': good$' check.out ||
    { echo "$1 does not answer good: $(cat check.out)" >&2; exit 1; }
}
check "https://127.0.0.1:$ZPORT/ocsp"
check "http://127.0.0.1:$PPORT/ocsp"
check "http://127.0.0.1:$CPORT/"
check "http://127.0.0.1:$OPORT/"

# CPU ticks (user + system) a process has used: the server's own cost per
# answer, which the other processes on a shared machine do not change much.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
run() { # NAME PID URL [args]: best of RUNS by rate; CPU per answer of that run
  local name=$1 pid=$2 url=$3 best=0 r out c0 c1 v n
  shift 3
  for r in $(seq "$RUNS"); do
    c0=$(ticks "$pid")
    out=$(taskset -c 1 "$BENCH" --url "$url" --req req.der --conns "$CONNS" --seconds "$SECS" "$@") ||
      { echo "$name: bench_ocsp failed" >&2; exit 1; }
    c1=$(ticks "$pid")
    n=$(sed -n 's/.*responses=\([0-9]*\).*/\1/p' <<<"$out")
    v=$(sed -n 's/.*per_second=\([0-9]*\).*/\1/p' <<<"$out")
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    echo "  $name run $r: $out server_cpu_us_per_answer=$cpu" >&2
    if [ "$v" -gt "$best" ]; then
      best=$v
      eval "${name}_cpu=$cpu"
    fi
    eval "${name}_bytes=$(sed -n 's/.*mean_bytes=\([0-9]*\).*/\1/p' <<<"$out")"
    eval "${name}_reconn=$(sed -n 's/.*reconnects=\([0-9]*\).*/\1/p' <<<"$out")"
  done
  eval "${name}=$best"
}
echo "OCSP from cache, $CONNS keep-alive connections, ${SECS} s runs, best of $RUNS; server on core 0, load on core 1" >&2
parse=$(taskset -c 1 "$BENCH" --parse 1000000 --req req.der)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
ztm_post=0 ztm_get=0 ztm_post_cpu=0 ztm_get_cpu=0 ztm_post_bytes=- ztm_get_bytes=-
if [ "${OCSP_HTTPS:-1}" = 1 ]; then
  run ztm_post "$ZPID" "https://127.0.0.1:$ZPORT/ocsp" --cafile c/chain.pem
  run ztm_get "$ZPID" "https://127.0.0.1:$ZPORT/ocsp" --cafile c/chain.pem --get
fi
run ztm_hpost "$ZPID" "http://127.0.0.1:$PPORT/ocsp"
run ztm_hget "$ZPID" "http://127.0.0.1:$PPORT/ocsp" --get
run cfssl "$CPID" "http://127.0.0.1:$CPORT/"
run openssl "$OPID" "http://127.0.0.1:$OPORT/"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
if [ -n "${OCSP_RESULTS:-}" ]; then
  for n in ztm_hpost ztm_hget cfssl openssl; do
    echo "$n $(eval echo "\$$n") $(eval echo "\$${n}_cpu")"
  done >"$OCSP_RESULTS"
fi

echo
echo "ztm_ocsp_req_parse: $(sed -n 's/.*ns_per_parse=\([0-9]*\).*/\1/p' <<<"$parse") ns per request ($(stat -c %s req.der)-byte request)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
cap() { awk -v u="$1" 'BEGIN { if (u > 0) printf "%.0f", 1e6 / u; else print "-" }'; }
# The reference row: ztmd's HTTPS POST, or its plain-HTTP POST without HTTPS rows.
ref=ztm_post
[ "${OCSP_HTTPS:-1}" = 1 ] || ref=ztm_hpost
printf '\n| server | transport | signs per answer | responses/s (best run) | server CPU per answer | answers per CPU-second | bytes | ztm POST / this (rate) | this / ztm POST (CPU) |\n|---|---|---|---|---|---|---|---|---|\n'
row() { # label transport signs name
  local v c b
  v=$(eval echo "\$$4") c=$(eval echo "\$${4}_cpu") b=$(eval echo "\$${4}_bytes")
  printf '| %s | %s | %s | %s | %s us | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$v" "$c" "$(cap "$c")" "$b" \
    "$(ratio "$(eval echo "\$$ref")" "$v")" "$(ratio "$c" "$(eval echo "\$${ref}_cpu")")"
}
if [ "${OCSP_HTTPS:-1}" = 1 ]; then
  row "ztmd POST /ocsp" "HTTPS keep-alive" "no (pre-signed)" ztm_post
  row "ztmd GET /ocsp/<b64>" "HTTPS keep-alive" "no (pre-signed)" ztm_get
fi
row "ztmd POST /ocsp" "HTTP keep-alive ([public])" "no (pre-signed)" ztm_hpost
row "ztmd GET /ocsp/<b64>" "HTTP keep-alive ([public])" "no (pre-signed)" ztm_hget
row "cfssl ocspserve 1.2" "HTTP keep-alive" "no (pre-signed)" cfssl
row "openssl ocsp -index" "HTTP, new connection each ($openssl_reconn reconnects)" "yes" openssl
