#!/usr/bin/env bash
# failover.sh - kill -9 of the PostgreSQL primary in the middle of device
# registrations, promotion of its synchronous standby, and the proof that
# nothing was lost or signed twice (issue 7 point 4; docs/deployment.md,
# "Synchronous standby and failover").
#
#   tests/failover/failover.sh                  200 devices, 8 at a time (~1-2 min)
#   scripts/failover                            the same, building first if needed
#   DEVICES=20 PARALLEL=4 KILL_AT=0.3 tests/failover/failover.sh
#                                               the short variant (CTest: failover/short)
#
# 1. a ceremony, a primary with a synchronous standby (pg_pair.sh), ztmd on
#    the libpq multi-host URL with target_session_attrs=read-write; a ztmd
#    pointed at the standby alone must refuse to start, saying why;
# 2. DEVICES devices (key, bootstrap certificate, CSR), recorded by an
#    enrolled station; an order with quota DEVICES;
# 3. DEVICES clients, PARALLEL at a time, each registering with curl and
#    retrying the SAME request (same key, same CSR: same idempotency key,
#    DESIGN I3) on 5xx, 202 or a failed connection;
# 4. when KILL_AT of them are done: replication stalls for STALL seconds
#    (the primary's walsender stopped: commits in that window wait, and
#    die unsent), kill -9 of the primary (every process), OUTAGE seconds with no
#    primary, then pg_ctl promote of the standby;
# 5. the criteria (each a line of the summary; any FAIL exits 1):
#    - every device registered (HTTP 200), within the clients' deadline;
#    - every certificate a client received is on the new primary: same serial,
#      same DER, state issued;
#    - every certificate ztmd logged as handed out (est.issued) is there too;
#    - never signed twice: per device exactly one certificate with bytes, no
#      device was handed two serials, no reservation left "reserved",
#      ztmd dropped no signed certificate (est.record_failed / est.reconcile
#      gave_up: none); quota: the order counts exactly DEVICES;
#    - ztmd was not restarted: the same master pid, no worker died;
#    - the old primary rejoins as a synchronous standby (pg_rewind) and holds
#      the same certificates.
#
# Settings (environment): DEVICES (200), PARALLEL (8), KILL_AT (0.5),
# WORKERS (ztmd worker processes, 8), OUTAGE (1 s), STALL (0.5 s; 0: none), CLIENT_DEADLINE (90 s per device), ZTM_BIN (build/), KEEP=1.
# Needs PostgreSQL server binaries (exit 77 without), curl, openssl, psql.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export ZTM_SRC=${ZTM_SRC:-$root}
export ZTM_BIN=${ZTM_BIN:-$root/build}
DEVICES=${DEVICES:-200}
PARALLEL=${PARALLEL:-8}
KILL_AT=${KILL_AT:-0.5}
OUTAGE=${OUTAGE:-1}
WORKERS=${WORKERS:-8}
STALL=${STALL:-0.5}
CLIENT_DEADLINE=${CLIENT_DEADLINE:-90}
PAIR=$ZTM_SRC/tests/failover/pg_pair.sh
. "$ZTM_SRC/tests/e2e/lib.sh"
command -v psql >/dev/null || skip "psql is not installed (scripts/deps.sh installs postgresql)"
T0=$(date +%s)

# Stops the clients, ztmd, then both PostgreSQL nodes, then lib.sh's cleanup.
CLIENTS_PID=
fo_cleanup() {
  local rc=$?
  [ -n "$CLIENTS_PID" ] && kill -TERM "$CLIENTS_PID" 2>/dev/null
  if [ -n "${ZTMD_PID}" ] && kill -0 "$ZTMD_PID" 2>/dev/null; then
    kill -TERM "$ZTMD_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$ZTMD_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -d "$T/pair" ] && [ "${KEEP:-0}" != 1 ] && bash "$PAIR" stop "$T/pair"
  (exit "$rc")
  cleanup
}
trap fo_cleanup EXIT

# dbp SQL: a query on the current primary.
dbp() { bash "$PAIR" psql "$T/pair" "$(cat "$T/pair/primary")" -d ztm -qAtX -c "$1"; }
since() { echo "$(( $(date +%s) - T0 ))s"; }

ceremony_and_server
chmod 711 "$T" # the servers run as the postgres user and need to reach $T/pair
rc=0
bash "$PAIR" start "$T/pair" >"$T/pair.log" 2>&1 || rc=$?
[ "$rc" = 77 ] && skip "PostgreSQL: $(cat "$T/pair.log")"
[ "$rc" = 0 ] || { cat "$T/pair.log" >&2; fail "starting the primary and its standby"; }
dbp_admin() { bash "$PAIR" psql "$T/pair" a -d postgres -qAtX -c "$1"; }
dbp_admin "CREATE DATABASE ztm" >/dev/null || fail "creating the ztm database"
URL=$(bash "$PAIR" url "$T/pair" ztm)
sed -i "s|^url = sqlite:.*|url = ${URL//&/\\&}|" "$T/srv/ztmd.conf"
grep -q "^url = $URL\$" "$T/srv/ztmd.conf" || fail "ztmd.conf store url not rewritten"
# More workers than cores: each blocks on its synchronous commit, so they
# are what puts several commits in flight when the primary dies.
sed -i "s/^\[server\]$/[server]\nworkers = $WORKERS/" "$T/srv/ztmd.conf"
start_ztmd
MASTER=$(sed -n 's/.*level=info pid=\([0-9]*\) event=start .*/\1/p' "$T/ztmd.log" | head -1)
[ -n "$MASTER" ] || fail "no start line in ztmd.log"
ok "$(since) primary a and synchronous standby b ($(cat "$T/pair/ports")), ztmd $MASTER on $URL"

# A ztmd pointed at the standby alone refuses to start, saying why (it
# would fail at its first write); the multi-host URL skips the standby.
read -r _ PORT_B <"$T/pair/ports"
sed "s|^url = .*|url = postgresql://postgres@127.0.0.1:$PORT_B/ztm|" "$T/srv/ztmd.conf" >"$T/standby.conf"
rc=0
timeout 60 "$ZTMD" --config "$T/standby.conf" --port-file "$T/standby.port" >"$T/standby.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q 'is read-only (a hot standby)' "$T/standby.log" ||
  { cat "$T/standby.log" >&2; fail "ztmd on the standby alone: exit $rc, no clear refusal"; }
ok "$(since) ztmd on the standby alone refuses to start: $(grep -o 'PostgreSQL store at [^:]*:[0-9]* is read-only (a hot standby)' "$T/standby.log" | head -1)"

cd "$T"
umask 077
Q=$T/queue
enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 --key-types p256 \
  --lifetime-days 7300 >/dev/null 2>err || fail "product add: $(cat err)"
"$ZTM" order add --name WO-F --product widget --factory plant-1 --quota "$DEVICES" \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"

# Devices: a key, a self-signed bootstrap certificate, one CSR (the request
# every retry sends again), a station record. Two generators at a time.
mkdir -p dev
FW=$(printf 'widget firmware 1.0' | sha256sum | cut -c1-64)
gen() { # first last
  local i sn
  for i in $(seq "$1" "$2"); do
    sn=$(printf 'SN-%05d' "$i")
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "dev/$sn.key" \
      -subj "/CN=widget-$sn/serialNumber=$sn" -days 7300 -addext basicConstraints=critical,CA:FALSE \
      -addext extendedKeyUsage=clientAuth -out "dev/$sn.boot" 2>/dev/null || return 1
    openssl req -new -key "dev/$sn.key" -subj "/CN=$sn/serialNumber=$sn" -outform DER 2>/dev/null |
      base64 -w 64 >"dev/$sn.csr" || return 1
    "$ZTM" station record --queue "$Q" --bootstrap-cert "dev/$sn.boot" --serial "$sn" --product widget \
      --order WO-F --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1.0 --fw-sha256 "$FW" \
      --test pass 2>/dev/null || return 1
  done
}
half=$(( DEVICES / 2 ))
gen 1 "$half" & g1=$!
gen $(( half + 1 )) "$DEVICES" & g2=$!
wait "$g1" || fail "making devices 1..$half"
wait "$g2" || fail "making devices $(( half + 1 ))..$DEVICES"
"$ZTM" station sync --queue "$Q" --cert line-1.crt --key "file:$T/line-1.key" \
  --key-pass-file line-1.pass >/dev/null 2>err || fail "station sync: $(cat err)"
[ "$(dbp "SELECT recorded FROM work_orders WHERE name = 'WO-F'")" = "$DEVICES" ] ||
  fail "records not stored"
ok "$(since) $DEVICES devices recorded by station line-1, order WO-F quota $DEVICES"

# One client per device: the same request until 200, on 5xx, 202 or no
# answer (curl 000); any other answer is final. Each attempt is a line of
# attempts.log: serial attempt http-status unix-time.
cat >client.sh <<'EOF'
sn=$1
tries=0
start=$(date +%s)
while :; do
  tries=$((tries + 1))
  code=$(curl -s -o "dev/$sn.body" -w '%{http_code}' --max-time 40 --cacert "$ZTM_CA" \
    --cert "dev/$sn.boot" --key "dev/$sn.key" -H 'Content-Type: application/pkcs10' \
    --data-binary "@dev/$sn.csr" "$ZTM_SERVER/.well-known/est/device/simpleenroll") || true
  echo "$sn $tries $code $(date +%s.%N)" >>attempts.log
  case $code in
  200) echo "$sn" >>done.log; exit 0 ;;
  202 | 000 | 5??) ;;
  *) echo "$sn $code $(head -c 300 "dev/$sn.body" | tr '\n' ' ')" >>refused.log; exit 1 ;;
  esac
  [ $(( $(date +%s) - start )) -ge "$CLIENT_DEADLINE" ] && { echo "$sn gave up after $tries" >>refused.log; exit 1; }
  sleep "0.$(( 2 + RANDOM % 4 ))"
done
EOF
: >attempts.log
: >done.log
: >refused.log
export ZTM_CA ZTM_SERVER CLIENT_DEADLINE
( seq -f 'SN-%05g' 1 "$DEVICES" | xargs -P "$PARALLEL" -n 1 bash client.sh ) &
CLIENTS_PID=$!
kill_after=$(awk "BEGIN { n = int($DEVICES * $KILL_AT); print n < 1 ? 1 : n }")
while [ "$(wc -l <done.log)" -lt "$kill_after" ]; do
  kill -0 "$CLIENTS_PID" 2>/dev/null || break
  sleep 0.02
done
done_at_kill=$(wc -l <done.log)
# Replication stalls first (STALL seconds, the primary's walsender
# stopped): every commit in that window is in flight when the primary dies
# and lost with it, its outcome unknown to ztmd (an enrollment's claim,
# committed without waiting for the standby, acknowledged and then lost;
# synchronous commits never answered).
if [ "$STALL" != 0 ]; then
  bash "$PAIR" stall "$T/pair" || fail "stalling replication"
  sleep "$STALL"
fi
bash "$PAIR" kill-primary "$T/pair" >>"$T/pair.log" || fail "kill -9 of the primary"
t_kill=$(date +%s.%N)
ok "$(since) kill -9 of primary a with $done_at_kill of $DEVICES registered (replication stalled $STALL s before)"
sleep "$OUTAGE"
bash "$PAIR" promote "$T/pair" >>"$T/pair.log" || fail "promotion of the standby"
t_promote=$(date +%s.%N)
ok "$(since) standby b promoted after $(awk "BEGIN { printf \"%.1f\", $t_promote - $t_kill }") s without a primary"
clients_rc=0
wait "$CLIENTS_PID" || clients_rc=$?
CLIENTS_PID=
t_end=$(date +%s.%N)

# --- the criteria ------------------------------------------------------------------
bad=0
check() { # name condition-result detail
  if [ "$2" = 0 ]; then printf 'PASS  %-44s %s\n' "$1" "$3"; else printf 'FAIL  %-44s %s\n' "$1" "$3"; bad=1; fi
}
n_done=$(sort -u done.log | wc -l)
attempts=$(wc -l <attempts.log)
failed_attempts=$(awk '$3 != 200' attempts.log | wc -l)
last_fail=$(awk '$3 != 200 { t = $4 } END { printf "%.3f", t + 0 }' attempts.log)
echo
echo "== summary: $DEVICES devices, $PARALLEL at a time; primary killed at $done_at_kill done, $OUTAGE s outage"
echo "   $attempts requests ($failed_attempts not 200: $(awk '$3 != 200 { c[$3]++ } END { for (k in c) printf "%s x%d ", k, c[k] }' attempts.log));" \
  "last failure $(awk "BEGIN { printf \"%.1f\", ($last_fail > 0 ? $last_fail - $t_promote : 0) }") s after the promotion;" \
  "clients done $(awk "BEGIN { printf \"%.1f\", $t_end - $t_promote }") s after it"
check "every device registered" $([ "$n_done" = "$DEVICES" ] && [ "$clients_rc" = 0 ] && echo 0 || echo 1) \
  "$n_done/$DEVICES$( [ -s refused.log ] && echo "; refused: $(head -3 refused.log | tr '\n' ';')")"

# What each client holds: device serial, certificate serial, DER (hex).
: >client_certs.txt
for sn in $(sort -u done.log); do
  base64 -d "dev/$sn.body" 2>/dev/null | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
    openssl x509 -outform DER -out "dev/$sn.der" 2>/dev/null || { echo "$sn - -" >>client_certs.txt; continue; }
  serial=$(openssl x509 -inform DER -in "dev/$sn.der" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
  echo "$sn $serial $(od -An -v -tx1 "dev/$sn.der" | tr -d ' \n')" >>client_certs.txt
done
sort -o client_certs.txt client_certs.txt
dbp "SELECT d.serial || ' ' || c.serial || ' ' || encode(c.der, 'hex')
       FROM devices d JOIN certificates c ON c.owner_kind = 'device' AND c.owner_id = d.id
      WHERE c.state = 'issued' ORDER BY d.serial" >db_certs.txt
missing=$(comm -23 client_certs.txt db_certs.txt | wc -l)
check "every certificate received is on the new primary" "$([ "$missing" = 0 ] && echo 0 || echo 1)" \
  "$(wc -l <client_certs.txt) received, $missing not there byte for byte$( [ "$missing" != 0 ] && echo ": $(comm -23 client_certs.txt db_certs.txt | cut -c1-40 | head -3 | tr '\n' ';')")"

# Every certificate ztmd says it handed out (a reply whose client may have
# gone) is on the new primary.
sed -n 's/.*event=est.issued serial=\([0-9a-f]*\) ca=device .*/\1/p' "$T/ztmd.log" | sort -u >logged.txt
cut -d' ' -f2 db_certs.txt | sort -u >db_serials.txt
lost=$(comm -23 logged.txt db_serials.txt | wc -l)
check "every certificate ztmd handed out is there" "$([ "$lost" = 0 ] && echo 0 || echo 1)" \
  "$(wc -l <logged.txt) logged as issued, $lost missing"

# Never signed twice.
multi=$(dbp "SELECT count(*) FROM (SELECT owner_id FROM certificates WHERE owner_kind = 'device'
               AND (state = 'issued' OR length(der) > 0) GROUP BY owner_id HAVING count(*) <> 1) x")
reserved=$(dbp "SELECT count(*) FROM certificates WHERE state = 'reserved'")
abandoned=$(dbp "SELECT count(*) FROM certificates WHERE state = 'abandoned'")
check "one certificate per device in the store" "$([ "$multi" = 0 ] && [ "$(wc -l <db_certs.txt)" = "$DEVICES" ] && echo 0 || echo 1)" \
  "$(wc -l <db_certs.txt) issued; devices with more or fewer than one: $multi"
check "no reservation left behind" "$([ "$reserved" = 0 ] && echo 0 || echo 1)" \
  "reserved $reserved, abandoned $abandoned"
# Every serial ztmd signed is named by one of these lines (est_ops.c,
# est_reconcile.c): handed out; its issue commit failed for good; its issue
# commit's outcome unknown, reconciled. Each must be issued on the new
# primary: with one issued certificate per device above, no device had two
# certificates signed.
{
  sed -nE 's/.*event=est.issued serial=([0-9a-f]*) ca=device .*/\1/p; s/.*event=est.record_failed serial=([0-9a-f]*).*/\1/p' "$T/ztmd.log"
  sed -nE 's/.*event=est.reconcile(_wait)? serial=([0-9a-f]*) stage=record.*/\2/p' "$T/ztmd.log"
} | sort -u >signed.txt
unissued=$(comm -23 signed.txt db_serials.txt | wc -l)
check "every serial signed is issued, once (log)" "$([ "$unissued" = 0 ] && echo 0 || echo 1)" \
  "$(wc -l <signed.txt) serials signed, $unissued not issued"
echo "      (commits of unknown outcome reconciled: $(sed -n 's/.*event=est.reconcile .*stage=\([a-z]*\) outcome=\([a-z_]*\).*/\1:\2/p' "$T/ztmd.log" | sort | uniq -c | awk '{ printf "%s x%s ", $2, $1 }'))"
gaveup=$(grep -cE 'event=(est.sign_failed|est.record_failed)|event=est.reconcile .*outcome=(gave_up|dropped|resigned)' "$T/ztmd.log" || true)
check "nothing given up or signed again (log)" "$([ "$gaveup" = 0 ] && echo 0 || echo 1)" \
  "sign_failed, record_failed, gave_up, dropped, resigned: $gaveup"
prov=$(dbp "SELECT count(*) FROM devices WHERE state = 'provisioned'")
reg=$(dbp "SELECT registered FROM work_orders WHERE name = 'WO-F'")
check "quota adds up" "$([ "$prov" = "$DEVICES" ] && [ "$reg" = "$DEVICES" ] && echo 0 || echo 1)" \
  "provisioned $prov, order registered $reg"

# ztmd was not restarted.
now_master=$(sed -n 's/.*level=info pid=\([0-9]*\) event=start .*/\1/p' "$T/ztmd.log" | sort -u | tr '\n' ' ')
deaths=$(grep -cE 'event=(worker_died|worker_restart)' "$T/ztmd.log" || true)
alive=$(kill -0 "$MASTER" 2>/dev/null && echo 0 || echo 1)
check "ztmd not restarted" "$([ "$alive" = 0 ] && [ "$now_master" = "$MASTER " ] && [ "$deaths" = 0 ] && echo 0 || echo 1)" \
  "master $MASTER alive, start lines: $now_master, worker deaths: $deaths"
echo "      (reconnects that refused the standby while read-only: $(grep -c 'session is read-only' "$T/ztmd.log" || true))"
errs=$(grep -c 'level=error' "$T/ztmd.log" || true)
echo "      (ztmd logged $errs errors during the outage: $(sed -n 's/.*level=error pid=[0-9]* event=\([^ ]*\).*/\1/p' "$T/ztmd.log" | sort | uniq -c | awk '{ printf "%s x%s ", $2, $1 }'))"

# The runbook's last step: the old primary rejoins as the new standby and
# holds the same certificates.
if bash "$PAIR" rejoin "$T/pair" >>"$T/pair.log" 2>&1; then
  dbp "SELECT 1" >/dev/null
  want=$(dbp "SELECT md5(string_agg(serial || encode(der, 'hex'), ',' ORDER BY serial)) FROM certificates")
  got=$(bash "$PAIR" psql "$T/pair" a -d ztm -qAtX -c "SELECT md5(string_agg(serial || encode(der, 'hex'), ',' ORDER BY serial)) FROM certificates")
  check "old primary rejoins as synchronous standby" "$([ "$want" = "$got" ] && echo 0 || echo 1)" \
    "pg_rewind, streaming, same certificates: $([ "$want" = "$got" ] && echo yes || echo no)"
else
  check "old primary rejoins as synchronous standby" 1 "$(tail -3 "$T/pair.log" | tr '\n' ' ')"
fi
echo "== $(since) in all"
if [ "$bad" != 0 ]; then
  grep -E 'level=(error|warn)' "$T/ztmd.log" | sed -n '1,20p' >&2
  fail "failover criteria violated (KEEP=1 keeps the directory and both servers)"
fi
ok "failover: every criterion holds"
