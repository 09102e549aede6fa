#!/usr/bin/env bash
# bench/ocsp.sh - OCSP responses per second from a pre-signed cache over HTTP/1.1
# keep-alive: ztmd side by side with Debian's `cfssl ocspserve` and the
# `openssl ocsp` responder, in one run, on the same certificates and the same
# responder key (docs/benchmarks.md "OCSP").
#
#   bench/ocsp.sh [BUILD_DIR]      (env: SECONDS_PER_RUN=10 CONNS=8 RUNS=3)
#
# Each server gets one core (taskset -c 0; ztmd with one worker); the load
# generator (bench_ocsp, closed loop, CONNS connections) runs on core 1. The
# request is `openssl ocsp -no_nonce` for the ceremony's admin certificate
# (operator CA): a known, good certificate whose answer every server has
# signed ahead. ztmd speaks only HTTPS (keep-alive: one handshake per
# connection), cfssl and openssl plain HTTP; the table says so.
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
"$ZTM" server init --ceremony c --out srv --listen 127.0.0.1:0 --workers 1 >/dev/null 2>&1
C=$T/c
taskset -c 0 "$ZTMD" --config srv/ztmd.conf --port-file port >ztmd.log 2>&1 &
pids+=($!)
for _ in $(seq 600); do [ -s port ] && curl -sf --cacert c/chain.pem "https://127.0.0.1:$(cat port)/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
ZPORT=$(cat port)

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
pids+=($!)

# openssl ocsp: an index of the issued certificate; it signs every answer.
serial=$(openssl x509 -in c/operators/admin.crt -noout -serial | cut -d= -f2)
end=$(date -u -d "$(openssl x509 -in c/operators/admin.crt -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$end" "$serial" \
  "$(openssl x509 -in c/operators/admin.crt -noout -subject -nameopt compat | sed 's/^subject=//')" >index.txt
OPORT=$((CPORT + 1))
taskset -c 0 openssl ocsp -index index.txt -port "$OPORT" -rsigner resp.pem -rkey resp.key \
  -CA c/ca/operator.crt -nmin 60 -ignore_err >openssl.log 2>&1 &
pids+=($!)
sleep 1

# Each server's answer verifies and says good before it is timed.
check() {
  openssl ocsp -issuer c/ca/operator.crt -cert c/operators/admin.crt -no_nonce -url "$1" \
    -CAfile c/chain.pem -VAfile resp.pem >check.out 2>&1 && grep -q ': good$' check.out ||
    { echo "$1 does not answer good: $(cat check.out)" >&2; exit 1; }
}
check "https://127.0.0.1:$ZPORT/ocsp"
check "http://127.0.0.1:$CPORT/"
check "http://127.0.0.1:$OPORT/"

run() { # NAME URL [args]: best of RUNS
  local name=$1 url=$2 best=0 r out
  shift 2
  for r in $(seq "$RUNS"); do
    out=$(taskset -c 1 "$BENCH" --url "$url" --req req.der --conns "$CONNS" --seconds "$SECS" "$@") ||
      { echo "$name: bench_ocsp failed" >&2; exit 1; }
    echo "  $name run $r: $out" >&2
    v=$(sed -n 's/.*per_second=\([0-9]*\).*/\1/p' <<<"$out")
    [ "$v" -gt "$best" ] && best=$v
    eval "${name//[^a-z]/_}_bytes=$(sed -n 's/.*mean_bytes=\([0-9]*\).*/\1/p' <<<"$out")"
    eval "${name//[^a-z]/_}_reconn=$(sed -n 's/.*reconnects=\([0-9]*\).*/\1/p' <<<"$out")"
  done
  eval "${name//[^a-z]/_}=$best"
}
parse=$(taskset -c 1 "$BENCH" --parse 1000000 --req req.der)
echo "request reader alone: $parse" >&2
echo "OCSP from cache, $CONNS keep-alive connections, ${SECS} s runs, best of $RUNS; server on core 0, load on core 1" >&2
run ztm_post "https://127.0.0.1:$ZPORT/ocsp" --cafile c/chain.pem
run ztm_get "https://127.0.0.1:$ZPORT/ocsp" --cafile c/chain.pem --get
run cfssl "http://127.0.0.1:$CPORT/"
run openssl "http://127.0.0.1:$OPORT/"

echo
echo "ztm_ocsp_req_parse: $(sed -n 's/.*ns_per_parse=\([0-9]*\).*/\1/p' <<<"$parse") ns per request ($(stat -c %s req.der)-byte request)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
printf '\n| server | transport | signs per answer | responses/s (1 core) | bytes | ztm POST / this |\n|---|---|---|---|---|---|\n'
printf '| ztmd POST /ocsp | HTTPS keep-alive | no (pre-signed) | %s | %s | 1.0 |\n' "$ztm_post" "$ztm_post_bytes"
printf '| ztmd GET /ocsp/<b64> | HTTPS keep-alive | no (pre-signed) | %s | %s | %s |\n' "$ztm_get" "$ztm_get_bytes" "$(ratio "$ztm_post" "$ztm_get")"
printf '| cfssl ocspserve 1.2 | HTTP keep-alive | no (pre-signed) | %s | %s | %s |\n' "$cfssl" "$cfssl_bytes" "$(ratio "$ztm_post" "$cfssl")"
printf '| openssl ocsp -index | HTTP (%s reconnects) | yes | %s | %s | %s |\n' "$openssl_reconn" "$openssl" "$openssl_bytes" "$(ratio "$ztm_post" "$openssl")"
