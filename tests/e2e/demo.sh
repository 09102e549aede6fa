#!/usr/bin/env bash
# ztm demo end to end: a whole factory of 20 devices and the five attacks.
# It must exit 0, and every count its summary prints must be what sqlite3
# reads from the data directory's store afterwards (issue 3 acceptance:
# "its summary matches the store"). Then: the data directory is refused a
# second time, misuse exits 2, ztmd is gone after the run, the devices'
# own directories say active, and --serve keeps ztmd up until SIGTERM.
. "$(dirname "$0")/lib.sh"

cd "$T"
D=$T/demo
N=20

"$ZTM" demo --devices $N --dir "$D" >out 2>err || { cat out err; fail "ztm demo exited $?"; }
grep -q '^result OK' out || fail "no OK result: $(cat out)"
cmp -s <(sed -n '/^== Summary/,$p' out | grep -v '^took ') <(sed -n '/^== Summary/,$p' "$D/summary.txt") ||
  fail "summary.txt differs from the printed summary"
ok "ztm demo --devices $N: exit 0, result OK"

q() { sqlite3 -batch -noheader "$D/server/ztm.db" "$1"; }
# printed LABEL NAME: the number after NAME on the summary line starting with LABEL.
printed() {
  grep "^$1" out | head -1 | sed "s/^$1//" | tr -s ' ' '\n' | awk -v k="$2" 'p { print; exit } $0 == k { p = 1 }'
}
same() { [ "$2" = "$3" ] || fail "$1: printed '$2', the store has '$3'"; }

for s in manufactured provisioned active suspended revoked retired quarantined; do
  same "devices $s" "$(printed 'devices by state' $s)" "$(q "SELECT count(*) FROM devices WHERE state = '$s'")"
done
[ "$(printed 'devices by state' active)" = $N ] || fail "not $N devices active"
for o in WO-1 WO-2; do
  for f in quota recorded registered; do
    same "$o $f" "$(printed "work order $o" $f)" "$(q "SELECT $f FROM work_orders WHERE name = '$o'")"
  done
done
for s in line-1 line-2; do
  same "station $s" "$(printed stations $s)" "$(q "SELECT state FROM stations WHERE name = '$s'")"
done
# Every CA with issued certificates is printed with its count, and no other
# (ztmd's OCSP responder certificates have their own line).
q "SELECT ca, count(*) FROM certificates WHERE state = 'issued' AND profile <> 'ocsp' GROUP BY ca" | while IFS='|' read -r ca n; do
  same "certificates of CA $ca" "$(printed 'certificates by CA' "$ca")" "$n"
done
[ "$(grep '^certificates by CA' out | wc -w)" = $((3 + 2 * $(q "SELECT count(DISTINCT ca) FROM certificates WHERE state = 'issued' AND profile <> 'ocsp'"))) ] ||
  fail "certificates line lists other CAs: $(grep '^certificates by CA' out)"
q "SELECT kind, count(*) FROM alerts GROUP BY kind" | while IFS='|' read -r kind n; do
  same "alerts $kind" "$(printed 'alerts by kind' "$kind")" "$n"
done
same "alerts total" "$(printed 'alerts by kind' total)" "$(q "SELECT count(*) FROM alerts")"
same "OCSP responders" "$(grep '^OCSP responders' out | awk '{print $3}')" \
  "$(q "SELECT count(*) FROM certificates WHERE state = 'issued' AND profile = 'ocsp'")"
ok "every count of the summary equals the store (devices by state, orders, stations, certificates, alerts)"

# The attack table: six rows, each refused as expected, with the server's code.
for row in 'replayed bootstrap after activation +SN-00001 +403 bootstrap_replay +yes' \
  'unrecorded device +SN-OFFBOOK-1 +403 unrecorded +yes' \
  "over-quota device: record upload +SN-000$((N + 1)) +409 overbuild +yes" \
  "over-quota device: registration +SN-000$((N + 1)) +403 unrecorded +yes" \
  'cloned device +F2-00001 +403 clone +yes' \
  'device recorded by a revoked station +F2-00002 +403 station_revoked +yes'; do
  grep -qE "^$row:" out || fail "attack row not as expected: $row"
done
# What the server wrote for them: the refusals are in its audit log too.
for code in bootstrap_replay unrecorded clone station_revoked; do
  [ "$(q "SELECT count(*) FROM audit WHERE outcome = '$code'")" -ge 1 ] || fail "no audit entry $code"
done
[ "$(q "SELECT state FROM devices WHERE serial = 'F2-00001'")" = quarantined ] || fail "clone not quarantined"
[ "$(q "SELECT count(*) FROM devices WHERE serial IN ('SN-OFFBOOK-1', 'SN-000$((N + 1))', 'F2-00002')")" = 0 ] ||
  fail "an attacker's device is in the store"
ok "attack table: six refusals with the server's status and code; audited; clone quarantined"

# The devices' own view (libztmdev's state file, read by the agent).
[ "$(ls "$D/devices" | wc -l)" = $N ] || fail "not $N device directories"
"$ZTM_BIN/src/device/ztm-device" status --dir "$D/devices/SN-00007" >st || fail "ztm-device status"
grep -q '^state: active$' st && grep -q '^certificate: operational$' st || fail "device SN-00007: $(cat st)"
openssl verify -CAfile "$D/ceremony/root/root.crt" -untrusted "$D/ceremony/ca/device.crt" \
  <(openssl x509 -in "$D/devices/SN-00007/device.pem") >/dev/null || fail "device certificate does not verify"
ok "device directories: $N, active, operational certificate chains to the root"

# ztmd ran as its own process and is gone after the run.
pid=$(sed -n 's/.*ztmd (pid \([0-9]*\)) healthy.*/\1/p' "$D/demo.log" | head -1)
[ -n "$pid" ] || fail "no ztmd pid in demo.log"
! kill -0 "$pid" 2>/dev/null || fail "ztmd $pid still running after the demo"
grep -q 'event=stop status=0' "$D/server/ztmd.log" || fail "ztmd did not stop cleanly"
# Under the sanitizer build: no report from ztmd or from any ztm command.
! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$D/server/ztmd.log" "$D/demo.log" err ||
  fail "sanitizer report: $(grep -hE -A8 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$D/server/ztmd.log" "$D/demo.log" err | head -40)"
ok "ztmd was a separate process (pid $pid) and stopped cleanly"

# A second run into the same directory is refused and changes nothing.
sum=$(q "SELECT count(*) FROM certificates")
rc=0; "$ZTM" demo --devices 2 --dir "$D" >out2 2>err2 || rc=$?
[ $rc = 1 ] && grep -q 'not empty' err2 || fail "existing directory: exit $rc $(cat err2)"
[ "$(q "SELECT count(*) FROM certificates")" = "$sum" ] || fail "the refused run changed the store"
rc=0; "$ZTM" demo --devices 0 --dir "$T/x" >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] && [ ! -e "$T/x" ] || fail "--devices 0: exit $rc"
rc=0; "$ZTM" demo --bogus >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "unknown option: exit $rc"
ok "refused: an existing data directory (1, unchanged), --devices 0 and an unknown option (2)"

# --serve: the summary, then ztmd keeps answering until SIGTERM.
"$ZTM" demo --devices 2 --dir "$T/serve" --serve --quiet >serve.out 2>serve.err &
demo=$!
for _ in $(seq 3000); do grep -q 'keeps running' serve.out 2>/dev/null && break; sleep 0.1; done
grep -q 'keeps running' serve.out || { kill $demo; fail "--serve: $(cat serve.out serve.err)"; }
url=$(sed -n 's/^ztmd keeps running at \([^ ]*\) .*/\1/p' serve.out)
curl -sf --cacert "$T/serve/ceremony/chain.pem" "$url/healthz" >/dev/null || { kill $demo; fail "--serve: $url not healthy"; }
"$ZTM" order show --name WO-1 --server "$url" --ca "$T/serve/ceremony/chain.pem" \
  --cert "$T/serve/ceremony/operators/admin.crt" --key "file:$T/serve/ceremony/operators/admin.key" \
  --key-pass-file "$T/serve/ceremony/online.pass" >order.json 2>&1 || { kill $demo; fail "--serve: admin API: $(cat order.json)"; }
grep -q '"registered": *2' order.json || { kill $demo; fail "--serve: order $(cat order.json)"; }
kill -TERM $demo
rc=0; wait $demo || rc=$?
[ $rc = 0 ] || fail "--serve: exit $rc after SIGTERM: $(cat serve.err)"
! curl -s --max-time 2 --cacert "$T/serve/ceremony/chain.pem" "$url/healthz" >/dev/null 2>&1 || fail "--serve: ztmd still answers"
ok "--serve: ztmd answers (health, admin API) until SIGTERM, then the demo stops it and exits 0"
