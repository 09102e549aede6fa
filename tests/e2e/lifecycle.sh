#!/usr/bin/env bash
# Device lifecycle against a real ztmd (docs/lifecycle.md): ztm-device renew
# with the same key (old certificate superseded, not revoked) and with
# --rekey (old certificate revoked, superseded; the new key in key.pem);
# renewal before the product's window refused; an expired certificate
# refused without a grace period and renewed with one (the certificate is
# made expired by re-signing it with the device CA: no waiting for days);
# a new key for a known serial is a clone without a replacement record and
# registers with one (old certificates revoked, no quota); retire revokes
# everything and every later registration, re-enrollment and use is refused
# with device_retired.
. "$(dirname "$0")/lib.sh"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077

ceremony_and_server
start_ztmd
enrolled_station plant-1 line-1
# Lifetime 1 day, window 7: every certificate is in its window at once.
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 --lifetime-days 1 \
  --renew-window-days 7 >prod.json 2>err || fail "product add: $(cat err)"
grep -q '"renew_window_days": 7' prod.json && grep -q '"renew_grace_days": 0' prod.json ||
  fail "product policy: $(cat prod.json)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
FW=$(printf 'fw' | sha256sum | cut -c1-64)

# record QUEUE DIR SERIAL [station record options]
record() {
  local q=$1 d=$2 sn=$3
  shift 3
  "$ZTM" station record --queue "$q" --bootstrap-cert "$d/bootstrap.pem" --serial "$sn" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 --fw-sha256 "$FW" --test pass "$@" \
    2>err || fail "record $d: $(cat err)"
}
sync_queue() {
  "$ZTM" station sync --queue "$1" --cert line-1.crt --key "file:$T/line-1.key" \
    --key-pass-file line-1.pass >/dev/null 2>err
}
dev() { "$DEV" "$1" --dir "$2" --server "$ZTM_SERVER" --ca "$ZTM_CA" "${@:3}"; }
cert_serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f'; }
spki() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | sha256sum | cut -c1-64; }
reg() { db "SELECT registered FROM work_orders WHERE name = 'WO-1'"; }

for i in 1 2 3 4; do
  "$DEV" init --dir d$i --serial SN-000$i --product widget >/dev/null || fail "init d$i"
  record q d$i SN-000$i
done
sync_queue q || fail "sync: $(cat err)"
for i in 1 2 3 4; do
  dev enroll d$i >/dev/null 2>err || fail "enroll d$i: $(cat err)"
  dev activate d$i >/dev/null 2>err || fail "activate d$i: $(cat err)"
done
[ "$(reg)" = 4 ] || fail "registered $(reg)"
ok "four devices registered and active (product lifetime 1 day, renewal window 7 days)"

# --- renew with the same key --------------------------------------------------------
old=$(cert_serial d1/device.pem)
key_before=$(spki d1/key.pem)
cp d1/device.pem d1.old.pem
dev renew d1 >/dev/null 2>err || fail "renew d1: $(cat err)"
new=$(cert_serial d1/device.pem)
[ "$new" != "$old" ] || fail "renew: same certificate"
[ "$(spki d1/key.pem)" = "$key_before" ] || fail "renew changed the key"
[ "$(db "SELECT cert_serial || ' ' || state FROM devices WHERE serial = 'SN-0001'")" = "$new active" ] ||
  fail "store after renew: $(db "SELECT cert_serial, state FROM devices WHERE serial = 'SN-0001'")"
[ "$(db "SELECT count(*) FROM revocations WHERE serial = '$old'")" = 0 ] || fail "same-key renewal revoked the old certificate"
openssl verify -CAfile "$T/ceremony/root/root.crt" -untrusted "$T/ceremony/ca/device.crt" d1/device.pem \
  >/dev/null 2>&1 || fail "renewed certificate does not verify"
openssl x509 -in d1/device.pem -noout -subject -nameopt RFC2253 | matches 'serialNumber=SN-0001' ||
  fail "renewed subject"
code=$(curl -s -o who.json -w '%{http_code}' --cacert "$ZTM_CA" --cert d1.old.pem --key d1/key.pem \
  "$ZTM_SERVER/api/v1/device/whoami")
[ "$code" = 401 ] || fail "superseded certificate: whoami $code"
dev activate d1 >/dev/null 2>err || fail "whoami with the renewed certificate: $(cat err)"
[ "$(reg)" = 4 ] || fail "renewal took quota"
ok "renew, same key: new certificate installed and current; the old one superseded (401), not revoked; no quota"

# --- re-key ---------------------------------------------------------------------------
old=$(cert_serial d1/device.pem)
dev renew d1 --rekey >/dev/null 2>err || fail "renew --rekey d1: $(cat err)"
new=$(cert_serial d1/device.pem)
[ "$new" != "$old" ] || fail "rekey: same certificate"
[ "$(spki d1/key.pem)" != "$key_before" ] || fail "rekey kept the old key"
[ ! -e d1/key.new.pem ] || fail "key.new.pem left after the rekey"
[ "$(stat -c %a d1/key.pem)" = 600 ] || fail "new key.pem mode"
[ "$(openssl x509 -in d1/device.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)" = "$(spki d1/key.pem)" ] ||
  fail "the new certificate is not for the new key"
[ "$(db "SELECT key_spki_sha256 FROM devices WHERE serial = 'SN-0001'")" = "$(spki d1/key.pem)" ] ||
  fail "store: device key not moved"
# Both older certificates of the old key are revoked (superseded = 4).
[ "$(db "SELECT count(*) FROM revocations r JOIN certificates c ON c.serial = r.serial
         JOIN devices d ON d.id = c.owner_id AND c.owner_kind = 'device'
         WHERE d.serial = 'SN-0001' AND r.reason = 4")" = 2 ] ||
  fail "rekey revocations: $(db "SELECT serial, reason FROM revocations")"
[ "$(db "SELECT count(*) FROM revocations WHERE serial = '$new'")" = 0 ] || fail "the new certificate is revoked"
dev activate d1 >/dev/null 2>err || fail "whoami after rekey: $(cat err)"
"$DEV" status --dir d1 | matches '^state: active$' || fail "device state after rekey"
ok "renew --rekey: new key in key.pem (0600), certificate for it; every certificate of the old key revoked (superseded)"

# --- the renewal window -----------------------------------------------------------------
"$ZTM" product set --name widget --renew-window-days 0 >/dev/null 2>err || fail "product set: $(cat err)"
cp d2/device.pem d2.before
rc=0; dev renew d2 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: renewal_too_early' err || fail "early renewal: $rc $(cat err)"
cmp -s d2/device.pem d2.before || fail "a refused renewal changed the device"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'est.reenroll-device' AND outcome = 'renewal_too_early'")" = 1 ] ||
  fail "early renewal not audited"
"$ZTM" product set --name widget --renew-window-days 7 >/dev/null 2>err || fail "product set: $(cat err)"
ok "renewal before the product's window: 403 renewal_too_early, audited, device unchanged"

# --- expired: refused without grace, renewed with it -------------------------------------
# The device CA re-signs d2's certificate (same serial, same key) with a
# validity that ends now: as if the device had been offline past its end.
sn2=$(cert_serial d2/device.pem)
openssl req -new -key d2/key.pem -subj "/CN=SN-0002/serialNumber=SN-0002" -out d2.csr 2>/dev/null
printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n' >ext
openssl x509 -req -in d2.csr -CA "$T/ceremony/ca/device.crt" -CAkey "$T/ceremony/ca/device.key" \
  -passin "file:$T/ceremony/online.pass" -set_serial "0x$sn2" -days 0 -extfile ext -out d2/device.pem \
  2>/dev/null || fail "re-signing d2's certificate"
sleep 2
openssl verify -CAfile "$T/ceremony/root/root.crt" -untrusted "$T/ceremony/ca/device.crt" d2/device.pem \
  >verify.out 2>&1 && fail "the re-signed certificate still verifies"
grep -q 'certificate has expired' verify.out || fail "the re-signed certificate: $(cat verify.out)"
rc=0; dev renew d2 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: certificate_expired' err || fail "expired without grace: $rc $(cat err)"
code=$(curl -s -o who.json -w '%{http_code}' --cacert "$ZTM_CA" --cert d2/device.pem --key d2/key.pem \
  "$ZTM_SERVER/api/v1/device/whoami")
[ "$code" = 401 ] || fail "expired certificate: whoami $code"
code=$(curl -s -o prod.json -w '%{http_code}' --cacert "$ZTM_CA" --cert d2/device.pem --key d2/key.pem \
  "$ZTM_SERVER/api/v1/products/widget")
[ "$code" = 401 ] || fail "expired certificate: products $code"
"$ZTM" product set --name widget --renew-grace-days 30 >/dev/null 2>err || fail "product set grace: $(cat err)"
dev renew d2 >/dev/null 2>err || fail "expired with grace: $(cat err)"
openssl verify -CAfile "$T/ceremony/root/root.crt" -untrusted "$T/ceremony/ca/device.crt" d2/device.pem \
  >/dev/null 2>&1 || fail "the certificate renewed after expiry does not verify"
dev activate d2 >/dev/null 2>err || fail "whoami after late renewal: $(cat err)"
ok "expired certificate: 403 certificate_expired without grace (and 401 everywhere else); renewed within the grace period"

# --- replacement ------------------------------------------------------------------------
# d4b: SN-0004 with a new key but an ordinary record: a clone, quarantined.
"$DEV" init --dir d4b --serial SN-0004 --product widget >/dev/null || fail "init d4b"
record q d4b SN-0004
sync_queue q || fail "sync d4b: $(cat err)"
rc=0; dev enroll d4b 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: clone' err || fail "new key without replacement: $rc $(cat err)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-0004'")" = quarantined ] || fail "clone not quarantined"
ok "a new key for a registered serial without a replacement record: clone, quarantined"

# d3b: SN-0003 repaired (new key), recorded as a replacement.
old3=$(cert_serial d3/device.pem)
"$DEV" init --dir d3b --serial SN-0003 --product widget >/dev/null || fail "init d3b"
record q d3b SN-0003 --replacement
sync_queue q || fail "sync replacement: $(cat err)"
recorded=$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")
dev enroll d3b >/dev/null 2>err || fail "replacement enroll: $(cat err)"
dev activate d3b >/dev/null 2>err || fail "replacement activate: $(cat err)"
[ "$(db "SELECT state || ' ' || key_spki_sha256 FROM devices WHERE serial = 'SN-0003'")" = "active $(spki d3b/key.pem)" ] ||
  fail "store after replacement: $(db "SELECT state, key_spki_sha256 FROM devices WHERE serial = 'SN-0003'")"
[ "$(db "SELECT reason FROM revocations WHERE serial = '$old3'")" = 4 ] || fail "old certificate not revoked (superseded)"
code=$(curl -s -o who.json -w '%{http_code}' --cacert "$ZTM_CA" --cert d3/device.pem --key d3/key.pem \
  "$ZTM_SERVER/api/v1/device/whoami")
[ "$code" = 401 ] || fail "the replaced device's certificate: whoami $code"
[ "$(reg)" = 4 ] || fail "replacement took registration quota ($(reg))"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")" = "$recorded" ] || fail "replacement changed recorded"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'device.replace' AND object = 'SN-0003'")" = 1 ] ||
  fail "replacement not audited"
[ "$(db "SELECT count(*) FROM devices WHERE state = 'quarantined'")" = 1 ] || fail "replacement quarantined"
ok "replacement record: the new key registers (no quota), old certificates revoked (superseded), audited"

# A replacement for a serial that was never registered is refused at ingest.
"$DEV" init --dir d9 --serial SN-0009 --product widget >/dev/null || fail "init d9"
record q9 d9 SN-0009 --replacement
rc=0; sync_queue q9 || rc=$?
[ $rc != 0 ] && grep -q 'not registered' err || fail "replacement of an unregistered serial: $rc $(cat err)"
ok "replacement for an unregistered serial: refused at ingest"

# --- end of life ----------------------------------------------------------------------
"$ZTM" device retire SN-0002 >ret.json 2>err || fail "retire: $(cat err)"
grep -q '"state": "retired"' ret.json || fail "retire reply: $(cat ret.json)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-0002'")" = retired ] || fail "store: not retired"
[ "$(db "SELECT count(*) FROM certificates c JOIN devices d ON d.id = c.owner_id
         WHERE c.owner_kind = 'device' AND d.serial = 'SN-0002' AND c.state = 'issued'")" = 0 ] ||
  fail "a certificate of the retired device is still valid"
[ "$(db "SELECT reason FROM revocations WHERE serial = '$(cert_serial d2/device.pem)'")" = 5 ] ||
  fail "current certificate not revoked with cessationOfOperation"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'device.retire' AND object = 'SN-0002' AND outcome = 'ok'")" = 1 ] ||
  fail "retire not audited"
rc=0; dev renew d2 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: device_retired' err || fail "renew after retire: $rc $(cat err)"
rc=0; dev renew d2 --rekey 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: device_retired' err || fail "rekey after retire: $rc $(cat err)"
code=$(curl -s -o who.json -w '%{http_code}' --cacert "$ZTM_CA" --cert d2/device.pem --key d2/key.pem \
  "$ZTM_SERVER/api/v1/device/whoami")
[ "$code" = 403 ] && grep -q '"error":"device_retired"' who.json || fail "whoami after retire: $code $(cat who.json)"
# Registration with its bootstrap credential (curl on the device's behalf).
openssl req -new -key d2/key.pem -subj "/CN=widget-SN-0002/serialNumber=SN-0002" -outform DER 2>/dev/null |
  base64 -w 64 >boot.csr
code=$(curl -s -o boot.body -w '%{http_code}' --cacert "$ZTM_CA" --cert d2/bootstrap.pem --key d2/key.pem \
  -H 'Content-Type: application/pkcs10' --data-binary @boot.csr "$ZTM_SERVER/.well-known/est/device/simpleenroll")
[ "$code" = 403 ] && grep -q '"error":"device_retired"' boot.body || fail "registration after retire: $code $(cat boot.body)"
# A repair cannot bring it back either.
"$DEV" init --dir d2b --serial SN-0002 --product widget >/dev/null || fail "init d2b"
record q2 d2b SN-0002 --replacement
rc=0; sync_queue q2 || rc=$?
[ $rc != 0 ] && grep -q 'retired, not replaceable' err || fail "replacement of a retired device: $rc $(cat err)"
"$ZTM" device retire SN-0002 >ret.json 2>err || fail "retire again: $(cat err)"
grep -q '"already_retired": true' ret.json || fail "retire again: $(cat ret.json)"
rc=0; "$ZTM" device retire SN-9999 >/dev/null 2>err || rc=$?
[ $rc = 1 ] && grep -q 'not found' err || fail "retire unknown: $rc $(cat err)"
rc=0; "$ZTM" device retire 'bad serial' >/dev/null 2>err || rc=$?
[ $rc = 2 ] || fail "retire with a bad serial: $rc"
ok "retire: every certificate revoked (cessationOfOperation), audited; renewal, re-key, use, registration and replacement refused with device_retired; repeatable"
