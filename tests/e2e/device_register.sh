#!/usr/bin/env bash
# Device registration end to end, with only curl and openssl as the device
# (plain RFC 7030): a bootstrap certificate from `openssl req -x509`, a
# station records it, the device enrolls over TLS with that certificate and
# gets an operational certificate whose subject and SAN come from the record;
# a retry gets the same bytes; the first use of the new certificate activates
# the device and the bootstrap credential is refused from then on.
# Then every vetting refusal, each with its own EST error code, an audit
# entry, an alert where it signals an attack, no certificate issued and the
# order's registration count unchanged.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077
Q=$T/queue
ROOT=$T/ceremony/root/root.crt
DEVICE_CA=$T/ceremony/ca/device.crt
[ -s "$DEVICE_CA" ] || fail "no device CA in the ceremony"

enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 --key-types p256 \
  --require-fw-hash --lifetime-days 7300 >/dev/null 2>err || fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 40 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
"$ZTM" order add --name WO-2 --product widget --factory plant-1 --quota 5 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add WO-2: $(cat err)"
FW=$(printf 'widget firmware 2.0.1' | sha256sum | cut -c1-64)
FW_BAD=$(printf 'patched firmware' | sha256sum | cut -c1-64)
# The firmware release process (tests/e2e/firmware.sh) signs releases; here
# the approval is one imported release row (docs/firmware.md "Vetting").
db "INSERT INTO fw_releases (product_id, version, security_version, size, sha256, channel,
      origin, submitted_by, submitted_at, signed_at, state)
    SELECT id, 'imported-1', 0, 0, '$FW', 'production', 'imported', 'system:import', 1, 1,
      'signed' FROM products WHERE name = 'widget'"
ok "factory, enrolled station, product widget (P-256 only, approved firmware required), orders"

# A bootstrap certificate is an end-entity certificate (openssl's default
# for -x509 is a CA, which TLS servers refuse as a client certificate).
EE=(-addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth)
# device SERIAL [CN] [curve]: a key and a self-signed bootstrap certificate.
device() {
  local sn=$1 cn=${2:-widget-$1} curve=${3:-P-256}
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:$curve -nodes -keyout "$sn.key" \
    -subj "/CN=$cn/serialNumber=$sn" -days 7300 "${EE[@]}" -out "$sn.boot" 2>/dev/null || fail "openssl req $sn"
}
# record SERIAL [options]: the station records the device (queued).
record() {
  local sn=$1; shift
  "$ZTM" station record --queue "$Q" --bootstrap-cert "$sn.boot" --serial "$sn" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 2.0.1 --fw-sha256 "$FW" \
    --test pass "$@" 2>err || fail "record $sn: $(cat err)"
}
sync_queue() {
  "$ZTM" station sync --queue "$Q" --cert line-1.crt --key "file:$T/line-1.key" \
    --key-pass-file line-1.pass >/dev/null 2>err || fail "sync: $(cat err)"
}
# enroll NAME CERT KEY [CSR-KEY] [CSR-SUBJECT]: EST simpleenroll with curl;
# the CSR by openssl. Prints the HTTP status; the body lands in NAME.body.
enroll() {
  local name=$1 cert=$2 key=$3 csrkey=${4:-$3} subj=${5:-/CN=x}
  openssl req -new -key "$csrkey" -subj "$subj" -outform DER 2>/dev/null | base64 -w 64 >"$name.csr"
  curl -s -o "$name.body" -w '%{http_code}' --cacert "$ZTM_CA" --cert "$cert" --key "$key" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$name.csr" \
    "$ZTM_SERVER/.well-known/est/device/simpleenroll"
}
certs() { db "SELECT count(*) FROM certificates WHERE ca = 'device' AND profile = 'device' AND state = 'issued'"; }
registered() { db "SELECT registered FROM work_orders WHERE name = '$1'"; }

for sn in SN-100 SN-101 SN-102; do device $sn; record $sn; done
sync_queue
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")" = 3 ] || fail "records not stored"

# --- the happy path, curl + openssl only --------------------------------------------
code=$(enroll e1 SN-100.boot SN-100.key SN-100.key /CN=anything/serialNumber=SN-100)
[ "$code" = 200 ] || fail "enroll SN-100: HTTP $code $(cat e1.body)"
base64 -d e1.body >e1.p7 || fail "reply is not base64"
openssl pkcs7 -inform DER -in e1.p7 -print_certs -out SN-100.crt 2>/dev/null || fail "reply is not PKCS#7 certs-only"
[ "$(grep -c 'BEGIN CERTIFICATE' SN-100.crt)" = 1 ] || fail "reply should hold only the issued certificate"
openssl verify -CAfile "$ROOT" -untrusted "$DEVICE_CA" -purpose sslclient SN-100.crt >/dev/null 2>&1 ||
  fail "the operational certificate does not verify to the root"
openssl x509 -in SN-100.crt -noout -subject -nameopt RFC2253 >subj
grep -q 'serialNumber=SN-100' subj && grep -q 'CN=SN-100' subj && grep -q 'OU=widget' subj &&
  grep -q 'O=ZTM Test OEM' subj || fail "subject not from the record: $(cat subj)"
grep -q anything subj && fail "the CSR's subject leaked into the certificate"
# The SAN, decoded: otherName hardwareModuleName (RFC 4108) {hwType, hwSerialNum}.
off=$(openssl asn1parse -in SN-100.crt | grep -A1 'Subject Alternative Name' | tail -1 | cut -d: -f1 | tr -d ' ')
openssl asn1parse -in SN-100.crt -strparse "$off" >san || fail "SAN not decodable"
grep -q 'OBJECT *:1.3.6.1.5.5.7.8.4$' san && grep -q 'OBJECT *:1.3.6.1.4.1.99999.7$' san &&
  grep -q 'OCTET STRING *:SN-100$' san || fail "no hardwareModuleName SAN {product hwType, serial}: $(cat san)"
[ "$(openssl x509 -in SN-100.crt -noout -pubkey)" = "$(openssl pkey -in SN-100.key -pubout)" ] ||
  fail "the certificate is not for the device key"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-100'")" = provisioned ] || fail "device not provisioned"
[ "$(registered WO-1)" = 1 ] || fail "registration not counted"
# The store's row carries the certificate's own validity (EST reserves the
# serial before it signs, so the row learns it at issue).
sn=$(openssl x509 -in SN-100.crt -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
nb=$(date -u -d "$(openssl x509 -in SN-100.crt -noout -startdate | cut -d= -f2)" +%s)
na=$(date -u -d "$(openssl x509 -in SN-100.crt -noout -enddate | cut -d= -f2)" +%s)
[ "$(db "SELECT not_before || ' ' || not_after FROM certificates WHERE serial = '$sn'")" = "$nb $na" ] ||
  fail "certificate row validity: $(db "SELECT not_before, not_after FROM certificates WHERE serial = '$sn'") want $nb $na"
ok "curl + openssl: registered SN-100; subject and hardwareModuleName SAN from the record; provisioned"

# The operational certificate's lifetime: the product's 7300 days, cut at the device CA's end.
ca_end=$(date -d "$(openssl x509 -in "$DEVICE_CA" -noout -enddate | cut -d= -f2)" +%s)
end=$(date -d "$(openssl x509 -in SN-100.crt -noout -enddate | cut -d= -f2)" +%s)
[ "$end" -le "$ca_end" ] && [ "$end" -gt $(( $(date +%s) + 3000 * 86400 )) ] ||
  fail "lifetime: ends $end, CA ends $ca_end"
ok "lifetime from the product, never past the device CA"

# --- retry after a lost response: same bytes (I3) -------------------------------------
code=$(enroll e1b SN-100.boot SN-100.key)
[ "$code" = 200 ] && cmp -s e1.body e1b.body || fail "retry did not return the same certificate ($code)"
[ "$(certs)" = 1 ] && [ "$(registered WO-1)" = 1 ] || fail "retry issued or counted again"
ok "retry returns the same certificate; nothing issued or counted twice"

# 16 parallel retries of one device: one certificate.
code=$(enroll e2 SN-101.boot SN-101.key)
[ "$code" = 200 ] || fail "enroll SN-101: $code"
pids=()
for i in $(seq 16); do
  curl -s -o "par$i.body" -w '%{http_code}\n' --cacert "$ZTM_CA" --cert SN-101.boot --key SN-101.key \
    -H 'Content-Type: application/pkcs10' --data-binary @e2.csr \
    "$ZTM_SERVER/.well-known/est/device/simpleenroll" >"par$i.code" &
  pids+=($!)
done
wait "${pids[@]}"
for i in $(seq 16); do
  c=$(cat "par$i.code")
  [ "$c" = 200 ] || [ "$c" = 202 ] || fail "parallel retry $i: HTTP $c"
  [ "$c" = 202 ] || cmp -s e2.body "par$i.body" || fail "parallel retry $i got other bytes"
done
[ "$(certs)" = 2 ] && [ "$(registered WO-1)" = 2 ] || fail "parallel retries: $(certs) certificates"
ok "16 parallel retries of one device: one certificate"

# --- activation -------------------------------------------------------------------
curl -sf --cacert "$ZTM_CA" --cert SN-100.boot --key SN-100.key "$ZTM_SERVER/api/v1/device/whoami" \
  -o /dev/null && fail "whoami accepted the bootstrap certificate"
curl -sf --cacert "$ZTM_CA" --cert SN-100.crt --key SN-100.key "$ZTM_SERVER/api/v1/device/whoami" \
  >who.json || fail "whoami with the operational certificate"
grep -q '"state":"active"' who.json && grep -q '"activated":true' who.json || fail "whoami: $(cat who.json)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-100'")" = active ] || fail "device not active"
curl -sf --cacert "$ZTM_CA" --cert SN-100.crt --key SN-100.key "$ZTM_SERVER/api/v1/device/whoami" \
  >who2.json || fail "second whoami"
grep -q '"activated":false' who2.json || fail "second whoami: $(cat who2.json)"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'device.activate'")" = 1 ] || fail "activation not audited once"
ok "first use of the operational certificate activates the device; the second changes nothing"

# --- refusals ----------------------------------------------------------------------
# refused NAME STATUS CODE ALERT(0/1) enroll-args...: the EST error body names
# CODE; no certificate, no registration; an audit entry; an alert when ALERT.
refused() {
  local name=$1 want_status=$2 want=$3 alert=$4; shift 4
  local c0 r0 a0 al0 code
  c0=$(certs); r0=$(registered WO-1); a0=$(db "SELECT count(*) FROM audit WHERE outcome = '$want'")
  al0=$(db "SELECT count(*) FROM alerts WHERE kind = '$want'")
  code=$(enroll "$name" "$@")
  [ "$code" = "$want_status" ] || fail "$name: HTTP $code, want $want_status: $(cat "$name.body")"
  grep -q "\"error\":\"$want\"" "$name.body" || fail "$name: body $(cat "$name.body")"
  [ "$(certs)" = "$c0" ] && [ "$(registered WO-1)" = "$r0" ] || fail "$name: something was issued or counted"
  [ "$(db "SELECT count(*) FROM audit WHERE outcome = '$want'")" -gt "$a0" ] || fail "$name: not audited"
  [ "$(db "SELECT count(*) FROM alerts WHERE kind = '$want'")" = $((al0 + alert)) ] ||
    fail "$name: alerts $(db "SELECT count(*) FROM alerts WHERE kind = '$want'") (before $al0, want +$alert)"
  ok "refused: $name -> $want_status $want$([ "$alert" = 1 ] && echo ', alert')"
}

device SN-900
refused unrecorded 403 unrecorded 1 SN-900.boot SN-900.key
device SN-OTHER-KEY
refused csr_key_mismatch 403 csr_key_mismatch 1 SN-102.boot SN-102.key SN-OTHER-KEY.key
# Same key, another bootstrap certificate claiming another serial.
openssl req -x509 -key SN-102.key -subj "/CN=widget-SN-777/serialNumber=SN-777" -days 30 "${EE[@]}" -out SN-102.lie 2>/dev/null
refused serial_mismatch 403 serial_mismatch 1 SN-102.lie SN-102.key
refused csr_serial_mismatch 403 serial_mismatch 1 SN-102.boot SN-102.key SN-102.key /serialNumber=SN-778
openssl req -x509 -key SN-102.key -subj "/CN=gadget-SN-102/serialNumber=SN-102" -days 30 "${EE[@]}" -out SN-102.gadget 2>/dev/null
refused product_mismatch 403 product_mismatch 1 SN-102.gadget SN-102.key

device SN-103; record SN-103 --test fail
device SN-104; record SN-104 --fw-sha256 "$FW_BAD"
device SN-105 widget-SN-105 P-384; record SN-105
sync_queue
refused test_failed 403 test_failed 0 SN-103.boot SN-103.key
refused firmware_not_approved 403 firmware_not_approved 1 SN-104.boot SN-104.key
refused key_type 403 key_type 0 SN-105.boot SN-105.key

# Replay: SN-100 is active; its bootstrap credential is refused.
refused bootstrap_replay 403 bootstrap_replay 1 SN-100.boot SN-100.key

# Clone: another key recorded under SN-101's serial (a second board with a
# copied serial). Refused, alerted, SN-101 quarantined.
mkdir clone && (cd clone && device SN-101) && mv clone/SN-101.key SN-101-clone.key &&
  mv clone/SN-101.boot SN-101-clone.boot
openssl pkcs7 -inform DER -in <(base64 -d e2.body) -print_certs -out SN-101.crt 2>/dev/null
"$ZTM" station record --queue "$Q" --bootstrap-cert SN-101-clone.boot --serial SN-101 --product widget \
  --order WO-1 --hw-rev A --mac 02:00:5e:00:00:09 --fw-version 2.0.1 --fw-sha256 "$FW" --test pass \
  --replace 2>err || fail "record the clone: $(cat err)"
sync_queue
refused clone 403 clone 1 SN-101-clone.boot SN-101-clone.key
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-101'")" = quarantined ] || fail "clone: serial not quarantined"
refused quarantined 403 quarantined 1 SN-101-clone.boot SN-101-clone.key
code=$(curl -s -o q.body -w '%{http_code}' --cacert "$ZTM_CA" --cert SN-101.crt --key SN-101.key \
  "$ZTM_SERVER/api/v1/device/whoami")
[ "$code" = 401 ] || fail "a quarantined device's certificate was accepted: $code"
ok "the quarantined serial's operational certificate is refused too"

# A closed work order registers nothing more.
device SN-106; record SN-106; sync_queue
"$ZTM" order close --name WO-1 >/dev/null 2>err || fail "order close: $(cat err)"
refused order_closed 403 order_closed 0 SN-106.boot SN-106.key

# A revoked station: records it made, or uploaded, at or after the
# revocation time count for nothing; earlier ones stay valid.
record_wo2() { record "$1" --order WO-2; }
device SN-108; record_wo2 SN-108; sync_queue
sleep 1; since=$(date +%s); sleep 1
device SN-109; record_wo2 SN-109; sync_queue
"$ZTM" station revoke --factory plant-1 --name line-1 --since "$since" >/dev/null 2>err ||
  fail "station revoke: $(cat err)"
refused_wo2() { # the same checks, against WO-2's count
  local c0 r0 code
  c0=$(certs); r0=$(registered WO-2)
  code=$(enroll "$1" "$1.boot" "$1.key")
  [ "$code" = 403 ] && grep -q '"error":"station_revoked"' "$1.body" || fail "$1: HTTP $code $(cat "$1.body")"
  [ "$(certs)" = "$c0" ] && [ "$(registered WO-2)" = "$r0" ] || fail "$1: something was issued or counted"
}
refused_wo2 SN-109
ok "refused: a record made after the station's revocation time -> 403 station_revoked"
code=$(enroll e108 SN-108.boot SN-108.key)
[ "$code" = 200 ] && [ "$(registered WO-2)" = 1 ] || fail "a record made before the revocation time: $code $(cat e108.body)"
ok "a record made and uploaded before that time still registers"

# --- not a device at all: wrong label, garbage CSR -----------------------------------
device SN-107
code=$(curl -s -o lbl.body -w '%{http_code}' --cacert "$ZTM_CA" --cert SN-107.boot --key SN-107.key \
  -H 'Content-Type: application/pkcs10' --data-binary @e1.csr "$ZTM_SERVER/.well-known/est/station/simpleenroll")
[ "$code" = 403 ] || fail "bootstrap at the station label: $code"
code=$(curl -s -o junk.body -w '%{http_code}' --cacert "$ZTM_CA" --cert SN-107.boot --key SN-107.key \
  -H 'Content-Type: application/pkcs10' --data-binary 'bm90IGEgQ1NS' "$ZTM_SERVER/.well-known/est/device/simpleenroll")
[ "$code" = 400 ] || fail "garbage CSR: $code"
[ "$(certs)" = 3 ] || fail "something was issued"
ok "refused: the station label (403) and a garbage CSR (400)"
