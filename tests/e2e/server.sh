#!/usr/bin/env bash
# server.sh - ztmd's HTTP/TLS core with real processes, curl and openssl:
# mTLS and TLS 1.3 policy, caps, routing, metrics across workers, worker
# restart after kill -9, graceful stop, and --check on a bad config.
set -euo pipefail
ZTMD=${ZTM_BIN:?}/src/server/ztmd
command -v curl >/dev/null && command -v openssl >/dev/null || exit 77
[ -x "$ZTMD" ] || { echo "no $ZTMD"; exit 1; }

dir=$(mktemp -d /tmp/ztm-server-e2e.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" $(pgrep -P "$pid" || true) 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; echo "--- ztmd log" >&2; tail -30 log >&2 || true; exit 1; }
# grep -q on all of its input (as lib.sh's): a grep -q that stops reading
# early can kill its producer with SIGPIPE under pipefail.
matches() {
	local in
	in=$(cat)
	grep -q "$@" <<<"$in"
}

# --- a test PKI: CA, server cert for 127.0.0.1/localhost, a client cert,
# and a client cert from a foreign CA.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
newkey ca.key
openssl req -x509 -new -key ca.key -out ca.pem -subj /CN=ztm-test-ca -days 2 2>/dev/null
newkey fca.key
openssl req -x509 -new -key fca.key -out fca.pem -subj /CN=foreign-ca -days 2 2>/dev/null
issue() { # name issuer extensions
	newkey "$1.key"
	openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
	printf '%s\n' "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
		-out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}
issue server ca "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
issue client ca "extendedKeyUsage=clientAuth"
issue foreign fca "extendedKeyUsage=clientAuth"

cat >ztmd.conf <<CONF
[server]
listen = 127.0.0.1:0
workers = 2
max_header_bytes = 8192
max_body_bytes = 65536
timeout = 10s
grace = 5s

[tls]
cert = $dir/server.pem
key = $dir/server.key
client_ca = $dir/ca.pem

[store]
url = sqlite:$dir/ztm.db

[ca]
root = $dir/ca.pem

# The test CA doubles as the operator CA so that "client" can be the
# bootstrap admin: /metrics is for operators (authz.c).
[ca.operator]
cert = $dir/ca.pem
key = file:$dir/ca.key

[bootstrap]
admin_cert = $dir/client.pem
CONF

# --- --check: a good config passes; a bad one fails naming the line.
"$ZTMD" --config ztmd.conf --check >check.out 2>&1 || { cat check.out; fail "--check on a good config"; }
sed 's/^workers = 2/workers = lots/' ztmd.conf >bad.conf
if "$ZTMD" --config bad.conf --check >check.out 2>&1; then fail "--check accepted workers = lots"; fi
grep -q "bad.conf:3: \[server\] workers" check.out || { cat check.out; fail "--check message lacks the line"; }
sed '1a wokers = 2' ztmd.conf >bad2.conf
if "$ZTMD" --config bad2.conf --check >check.out 2>&1; then fail "--check accepted an unknown key"; fi
grep -q "unknown key 'wokers' in \[server\] at bad2.conf:2" check.out || { cat check.out; fail "unknown key message"; }

# --- start
"$ZTMD" --config ztmd.conf --port-file port 2>log &
pid=$!
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
[ -s port ] || fail "no port file"
port=$(cat port)
url=https://localhost:$port
C=(curl -sS -m 10 --cacert ca.pem)
code() { "${C[@]}" -o body -w '%{http_code}' "$@" || true; }

[ "$(code "$url/healthz")" = 200 ] && grep -qx ok body || fail "healthz without client cert"
[ "$(code --cert client.pem --key client.key "$url/healthz")" = 200 ] || fail "healthz with client cert"
if "${C[@]}" --cert foreign.pem --key foreign.key "$url/healthz" >/dev/null 2>&1; then
	fail "foreign-CA client certificate accepted"
fi
if "${C[@]}" --tls-max 1.2 "$url/healthz" >/dev/null 2>&1; then fail "TLS 1.2 accepted"; fi
if echo | openssl s_client -connect 127.0.0.1:"$port" -tls1_2 -CAfile ca.pem >/dev/null 2>&1; then
	fail "openssl s_client -tls1_2 accepted"
fi
# (s_client's exit status after stdin EOF is not meaningful: read its output.)
echo | openssl s_client -connect 127.0.0.1:"$port" -tls1_3 -CAfile ca.pem >s_client.out 2>&1 || true
grep -q "New, TLSv1.3" s_client.out || { cat s_client.out; fail "TLS 1.3 handshake"; }
grep -q "Verify return code: 0 (ok)" s_client.out || fail "server chain does not verify"
grep -q "Acceptable client certificate CA names" s_client.out || fail "server did not request a client certificate"
grep -q "CN = ztm-test-ca" s_client.out || fail "client CA list lacks the CA"

head -c 100000 /dev/zero >big
[ "$(code -X POST --data-binary @big "$url/healthz")" = 413 ] || fail "over-cap body not 413"
hdr=$(head -c 9000 /dev/zero | tr '\0' a)
c=$(code -H "X-Big: $hdr" "$url/healthz")
case $c in 400 | 413 | 431 | 000) ;; *) fail "oversized header answered $c" ;; esac
[ "$(code "$url/no/such/path")" = 404 ] || fail "unknown path not 404"
grep -q '"error":"not_found"' body || fail "404 body is not the JSON error: $(cat body)"
[ "$(code -X DELETE "$url/healthz")" = 405 ] || fail "wrong method not 405"

# Requests spread over both workers; /metrics must count all of them.
for _ in $(seq 20); do [ "$(code "$url/healthz")" = 200 ] || fail "healthz in loop"; done
[ "$(code "$url/metrics")" = 401 ] || fail "metrics without a client certificate is not 401"
[ "$(code --cert client.pem --key client.key "$url/metrics")" = 200 ] || fail "metrics"
# Prometheus text format 0.0.4: comments, or name{labels} value.
grep -vE '^# (HELP|TYPE) ' body | grep -vE '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? -?[0-9.eE+-]+$' \
	&& fail "metrics lines not in Prometheus text format"
n=$(sed -n 's/^ztmd_http_requests_total{route="\/healthz",status="200"} //p' body)
[ "$n" = 22 ] || fail "healthz 200 counted $n, want 22"
f=$(sed -n 's/^ztmd_tls_handshake_failures_total //p' body)
[ "$f" -ge 3 ] || fail "tls handshake failures counted $f, want >= 3"
grep -q '^ztmd_http_requests_total{route="none",status="404"} 1$' body || fail "404 not counted"
grep -q '^ztmd_http_requests_in_flight 1$' body || fail "in-flight gauge"
grep -q 'event=request method=GET path="/healthz" status=200' log || fail "no request log line"

# --- the checkpointer (SQLite): a third child, no listener, checkpoints the
# log ten times a second and says so in the metrics.
ckpt() { sed -n 's/.* pid=\([0-9]*\) event=checkpointer_start .*/\1/p' log | tail -1; }
cp_pid=$(ckpt)
[ -n "$cp_pid" ] && pgrep -P "$pid" | matches -x "$cp_pid" || fail "no checkpointer process: $(pgrep -P "$pid" | tr '\n' ' ')"
ls -l "/proc/$cp_pid/fd" 2>/dev/null | matches 'socket:' && fail "the checkpointer holds a socket"
# A reader in a worker may hold back one run (its snapshot keeps frames in
# the log): the log must be copied in full within a few runs.
for _ in $(seq 30); do
	sleep 0.1
	[ "$(code --cert client.pem --key client.key "$url/metrics")" = 200 ] || fail "metrics for checkpoints"
	n=$(sed -n 's/^ztmd_store_checkpoints_total //p' body)
	w=$(sed -n 's/^ztmd_store_wal_frames //p' body)
	c=$(sed -n 's/^ztmd_store_wal_frames_checkpointed //p' body)
	[ "${n:-0}" -ge 2 ] && [ -n "$w" ] && [ "$w" = "$c" ] && break
done
[ "${n:-0}" -ge 2 ] || fail "checkpoints counted: '$n'"
[ -n "$w" ] && [ "$w" = "$c" ] || fail "log after a checkpoint: $w frames, $c copied"
grep -q '^ztmd_store_checkpoint_failures_total 0$' body || fail "checkpoint failures"
# kill -9: restarted like a worker, not counted as a worker restart.
kill -9 "$cp_pid"
for _ in $(seq 50); do [ "$(ckpt)" != "$cp_pid" ] && break; sleep 0.1; done
[ "$(ckpt)" != "$cp_pid" ] || fail "checkpointer not restarted"
grep -q "event=worker_died slot=2 kind=checkpointer pid=$cp_pid exit=-1 signal=9" log ||
	fail "checkpointer death not logged"
grep -q "event=worker_restart slot=2 kind=checkpointer" log || fail "checkpointer restart not logged"
[ "$(code --cert client.pem --key client.key "$url/metrics")" = 200 ] || fail "metrics after checkpointer restart"
grep -q '^ztmd_worker_restarts_total 0$' body || fail "checkpointer restart counted as a worker's"

# --- kill -9 of one worker: the master restarts it, service continues.
others() { pgrep -P "$pid" | grep -vx "$(ckpt)" | sort || true; }
workers=$(others)
[ "$(echo "$workers" | wc -l)" = 2 ] || fail "want 2 workers, have: $workers"
victim=$(echo "$workers" | head -1)
kill -9 "$victim"
for _ in $(seq 50); do
	now=$(others)
	[ "$(echo "$now" | wc -l)" = 2 ] && ! echo "$now" | matches -x "$victim" && break
	sleep 0.1
done
now=$(others)
echo "$now" | matches -x "$victim" && fail "killed worker still listed"
[ "$(echo "$now" | wc -l)" = 2 ] || fail "worker not restarted: $now"
for _ in $(seq 6); do [ "$(code "$url/healthz")" = 200 ] || fail "healthz after worker restart"; done
grep -q "event=worker_died slot=[01] kind=worker pid=$victim exit=-1 signal=9" log || fail "worker death not logged"
[ "$(code --cert client.pem --key client.key "$url/metrics")" = 200 ] || fail "metrics after restart"
grep -q '^ztmd_worker_restarts_total 1$' body || fail "restart not counted"

# --- SIGTERM: exit 0 within the grace period (5s).
kill -TERM "$pid"
t0=$(date +%s)
rc=0
wait "$pid" || rc=$?
t1=$(date +%s)
pid=
[ "$rc" = 0 ] || fail "ztmd exited $rc after SIGTERM"
[ $((t1 - t0)) -le 5 ] || fail "stop took $((t1 - t0))s"
grep -q "event=stop status=0" log || fail "no stop line"
# Both workers drained and exited 0 (under ASan a leak would change that).
[ "$(grep -c 'event=worker_exit slot=[01] kind=worker pid=[0-9]* status=0' log)" = 2 ] || fail "workers did not exit 0"
grep -q 'event=worker_exit slot=2 kind=checkpointer pid=[0-9]* status=0' log || fail "checkpointer did not exit 0"
grep -q 'event=checkpointer_stop' log || fail "checkpointer stop not logged"
[ ! -e port ] || fail "port file left behind"
# --- connection cap: one worker, one connection. While an idle TLS
# connection is open, a second client is not accepted; after it closes, it is.
sed -e 's/^workers = 2/workers = 1/' -e 's/^grace = 5s/grace = 1s\nmax_connections = 1/' \
	ztmd.conf >cap.conf
"$ZTMD" --config cap.conf --port-file port 2>>log &
pid=$!
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
port=$(cat port)
url=https://localhost:$port
(sleep 3 | openssl s_client -connect 127.0.0.1:"$port" -CAfile ca.pem >/dev/null 2>&1) &
holder=$!
sleep 0.5
[ "$(code -m 1 "$url/healthz")" = 000 ] || fail "second connection accepted over max_connections = 1"
wait "$holder" || true
[ "$(code "$url/healthz")" = 200 ] || fail "not accepting again after the connection closed"
grep -q "event=accept_paused connections=1" log || fail "accept pause not logged"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "capped ztmd exited $rc"
# --- the public plain-HTTP listener under the same caps: one connection per
# worker, and an idle connection is closed after [server] timeout (1 s here),
# after which the next client is accepted.
sed -e 's/^timeout = 10s/timeout = 1s/' cap.conf >pcap.conf
printf '\n[public]\nlisten = 127.0.0.1:0\nport_file = %s/pport\n' "$dir" >>pcap.conf
rm -f port pport
"$ZTMD" --config pcap.conf --port-file port 2>>log &
pid=$!
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
[ -s pport ] || fail "no public port file"
purl=http://127.0.0.1:$(cat pport)
[ "$(code "$purl/healthz")" = 200 ] || fail "public /healthz"
[ "$(code "$purl/metrics")" = 404 ] || fail "public /metrics is not 404"
exec 3<>"/dev/tcp/127.0.0.1/$(cat pport)" # idle: sends nothing
sleep 0.3
[ "$(code -m 0.5 "$purl/healthz")" = 000 ] || fail "public: second connection accepted over max_connections = 1"
grep -q "event=accept_paused listener=public connections=1" log || fail "public accept pause not logged"
sleep 1.5 # the idle connection times out and is closed
timeout 2 cat <&3 >/dev/null || fail "idle public connection not closed after the timeout"
exec 3<&-
[ "$(code "$purl/healthz")" = 200 ] || fail "public: not accepting again after the idle connection was closed"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "ztmd with a public listener exited $rc"
[ ! -e pport ] || fail "public port file left behind"
echo "server e2e: ok"
