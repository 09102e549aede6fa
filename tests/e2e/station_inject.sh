#!/usr/bin/env bash
# Key injection (issue 3 point 6): `ztm station inject` generates a device's
# key in memory, records it with key_origin injected, uploads the record,
# registers the device over EST with the bootstrap certificate and writes a
# PKCS#12 bundle (key + operational certificate + chain) that openssl and
# curl read with the passphrase. Refusals write no bundle: a product that
# forbids injected keys, an existing bundle path, a passphrase file others
# can read, a short passphrase, a device that failed its test.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077
Q=$T/queue
ROOT=$T/ceremony/root/root.crt
DEVICE_CA=$T/ceremony/ca/device.crt

"$ZTM" factory add --name plant-1 >/dev/null 2>&1 || fail "factory add"
"$ZTM" station add --factory plant-1 --name line-1 >line-1.code 2>/dev/null || fail "station add"
printf 'station-key-passphrase\n' >line-1.pass
"$ZTM" station enroll --name line-1 --code-file line-1.code --key "file:$T/line-1.key" \
  --key-pass-file line-1.pass --out line-1.crt 2>err || fail "station enroll: $(cat err)"
"$ZTM" product add --name gizmo --class sensor --hw-type 1.3.6.1.4.1.99999.8 \
  --key-types p256,p384,ed25519 --allow-injected >/dev/null 2>err || fail "product gizmo: $(cat err)"
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 --key-types p256 \
  >/dev/null 2>err || fail "product widget: $(cat err)"
"$ZTM" order add --name WO-G --product gizmo --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order WO-G: $(cat err)"
"$ZTM" order add --name WO-W --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order WO-W: $(cat err)"
FW=$(printf 'gizmo firmware 1.0' | sha256sum | cut -c1-64)
printf 'bundle-passphrase-for-tests\n' >bundle.pass
mkdir out
ok "factory, enrolled station, product gizmo (injected keys allowed), product widget (not)"

# inject SERIAL PRODUCT ORDER [options]: the station's whole injection.
inject() {
  local sn=$1 product=$2 order=$3; shift 3
  "$ZTM" station inject --queue "${QUEUE:-$Q}" --serial "$sn" --product "$product" --order "$order" \
    --hw-rev B --mac 02:00:5e:00:00:42 --fw-version 1.0 --fw-sha256 "$FW" \
    --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass "$@"
}
recorded() { db "SELECT recorded FROM work_orders WHERE name = '$1'"; }
certs() { db "SELECT count(*) FROM certificates WHERE ca = 'device' AND profile = 'device' AND state = 'issued'"; }

# --- the happy path --------------------------------------------------------------------
inject INJ-1 gizmo WO-G --test pass --bundle out/INJ-1.p12 --bundle-pass-file bundle.pass 2>err ||
  fail "inject INJ-1: $(cat err)"
[ -f out/INJ-1.p12 ] || fail "no bundle"
[ "$(stat -c %a out/INJ-1.p12)" = 600 ] || fail "bundle mode $(stat -c %a out/INJ-1.p12)"
[ "$(ls out)" = INJ-1.p12 ] || fail "leftovers next to the bundle: $(ls out)"
openssl pkcs12 -in out/INJ-1.p12 -passin file:bundle.pass -nodes -out INJ-1.pem 2>err ||
  fail "openssl cannot read the bundle: $(cat err)"
openssl pkcs12 -in out/INJ-1.p12 -passin pass: -nodes -out nopass.pem 2>/dev/null &&
  fail "the bundle opened without its passphrase"
openssl pkcs12 -in out/INJ-1.p12 -passin pass:wrong-passphrase -nodes -out wrong.pem 2>/dev/null &&
  fail "the bundle opened with a wrong passphrase"
grep -q 'PRIVATE KEY' nopass.pem wrong.pem 2>/dev/null && fail "a key came out without the passphrase"
ok "bundle written 0600, alone; openssl reads it with the passphrase, not without or with another"

# What it holds: one key, the device certificate with the friendlyName
# <product>-<serial>, the device CA and the root.
openssl pkcs12 -in out/INJ-1.p12 -passin file:bundle.pass -nodes -nocerts -out INJ-1.key 2>/dev/null
openssl pkcs12 -in out/INJ-1.p12 -passin file:bundle.pass -clcerts -nokeys -out INJ-1.crt 2>/dev/null
openssl pkcs12 -in out/INJ-1.p12 -passin file:bundle.pass -cacerts -nokeys -out INJ-1.chain 2>/dev/null
[ "$(grep -c 'PRIVATE KEY-----' INJ-1.key)" = 2 ] || fail "bundle should hold one key"
[ "$(grep -c 'BEGIN CERTIFICATE' INJ-1.crt)" = 1 ] && [ "$(grep -c 'BEGIN CERTIFICATE' INJ-1.chain)" = 2 ] ||
  fail "bundle should hold the device certificate and two CA certificates"
[ "$(openssl x509 -in INJ-1.crt -noout -pubkey)" = "$(openssl pkey -in INJ-1.key -pubout)" ] ||
  fail "the certificate is not for the bundled key"
grep -q 'friendlyName: gizmo-INJ-1' INJ-1.key && grep -q 'friendlyName: gizmo-INJ-1' INJ-1.crt ||
  fail "friendlyName of the key and certificate"
openssl verify -CAfile "$ROOT" -untrusted INJ-1.chain -purpose sslclient INJ-1.crt >/dev/null 2>&1 ||
  fail "the certificate does not verify to the root with the bundled chain"
openssl x509 -in INJ-1.crt -noout -subject -nameopt RFC2253 | matches 'serialNumber=INJ-1' ||
  fail "certificate subject: $(openssl x509 -in INJ-1.crt -noout -subject)"
openssl pkcs12 -in out/INJ-1.p12 -passin file:bundle.pass -info -noout >info 2>&1 || fail "pkcs12 -info"
grep -q 'MAC: sha256, Iteration 600000' info || fail "MAC: $(grep MAC info)"
[ "$(grep -c 'PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256' info)" = 2 ] ||
  fail "key and certificate bags not PBES2/AES-256-CBC/600000: $(cat info)"
ok "bundle: one key, its certificate (friendlyName gizmo-INJ-1), device CA + root; AES-256-CBC, 600000 iterations, HMAC-SHA256"

[ "$(db "SELECT key_origin FROM records WHERE serial = 'INJ-1'")" = injected ] || fail "record key_origin"
[ "$(db "SELECT state FROM devices WHERE serial = 'INJ-1'")" = provisioned ] || fail "device not provisioned"
[ "$(db "SELECT registered FROM work_orders WHERE name = 'WO-G'")" = 1 ] || fail "registration not counted"
[ -z "$(ls "$Q/records")" ] || fail "record still queued: $(ls "$Q/records")"
! grep -rqs 'PRIVATE KEY' "$Q" || fail "a key in the queue"
! grep -qs 'PRIVATE KEY' "$T"/*.tmp.* 2>/dev/null || fail "a temporary key file"
ok "record key_origin injected uploaded, device provisioned, no key anywhere but the bundle"

# The bundle is a working credential: curl activates the device with it.
curl -sf --cacert "$ZTM_CA" --cert-type P12 --cert "out/INJ-1.p12:$(cat bundle.pass)" \
  "$ZTM_SERVER/api/v1/device/whoami" >who.json || fail "whoami with the bundle"
grep -q '"activated":true' who.json || fail "whoami: $(cat who.json)"
[ "$(db "SELECT state FROM devices WHERE serial = 'INJ-1'")" = active ] || fail "device not active"
ok "curl with the bundle as client certificate activates the device"

# The other key types.
for kt in p384 ed25519; do
  inject INJ-$kt gizmo WO-G --test pass --key-type $kt --bundle out/INJ-$kt.p12 \
    --bundle-pass-file bundle.pass 2>err || fail "inject $kt: $(cat err)"
  openssl pkcs12 -in out/INJ-$kt.p12 -passin file:bundle.pass -nodes -nocerts 2>/dev/null |
    openssl pkey -noout -text 2>/dev/null | head -1 >kt.txt
  case $kt in
    p384) grep -q '384 bit' kt.txt ;;
    ed25519) grep -qi 'ED25519' kt.txt ;;
  esac || fail "$kt bundle holds: $(cat kt.txt)"
  [ "$(db "SELECT state FROM devices WHERE serial = 'INJ-$kt'")" = provisioned ] || fail "$kt not provisioned"
done
ok "P-384 and Ed25519 keys injected and registered"

# --- refusals before any key exists: nothing recorded, nothing written ---------------
# refused_early NAME WANT-IN-MESSAGE inject-args...
refused_early() {
  local name=$1 want=$2; shift 2
  local r0 c0
  r0=$(recorded WO-G); c0=$(certs)
  inject "$@" 2>"$name.err" && fail "$name: inject succeeded"
  grep -q -- "$want" "$name.err" || fail "$name: message $(cat "$name.err")"
  [ "$(recorded WO-G)" = "$r0" ] && [ "$(certs)" = "$c0" ] || fail "$name: something recorded or issued"
  [ -z "$(ls "$Q/records")" ] || fail "$name: something queued"
  ok "refused: $name ($(tail -1 "$name.err"))"
}
printf 'old bytes\n' >out/taken.p12
refused_early existing_bundle 'already exists' INJ-2 gizmo WO-G --test pass --bundle out/taken.p12 \
  --bundle-pass-file bundle.pass
[ "$(cat out/taken.p12)" = 'old bytes' ] || fail "the existing bundle was changed"
cp bundle.pass loose.pass && chmod 644 loose.pass
refused_early pass_file_mode 'readable by others' INJ-2 gizmo WO-G --test pass --bundle out/INJ-2.p12 \
  --bundle-pass-file loose.pass
printf 'short\n' >short.pass
refused_early short_pass 'shorter than 12' INJ-2 gizmo WO-G --test pass --bundle out/INJ-2.p12 \
  --bundle-pass-file short.pass
refused_early no_dir 'not a directory' INJ-2 gizmo WO-G --test pass --bundle nowhere/INJ-2.p12 \
  --bundle-pass-file bundle.pass
refused_early key_type 'key-type must be' INJ-2 gizmo WO-G --test pass --bundle out/INJ-2.p12 \
  --bundle-pass-file bundle.pass --key-type rsa3072
refused_early bad_mac 'mac' INJ-2 gizmo WO-G --test pass --bundle out/INJ-2.p12 \
  --bundle-pass-file bundle.pass --mac 02-00-5e-00-00-42
refused_early long_cn 'longer than 64' "INJ-$(printf '%060d' 0)" gizmo WO-G --test pass \
  --bundle out/INJ-2.p12 --bundle-pass-file bundle.pass
[ ! -e out/INJ-2.p12 ] || fail "a refused injection wrote a bundle"

# --- a device that failed its test: recorded as failed, no key handed out -------------
r0=$(recorded WO-G)
inject INJ-F gizmo WO-G --test fail --bundle out/INJ-F.p12 --bundle-pass-file bundle.pass 2>err &&
  fail "inject of a failed device succeeded"
grep -q 'failed its test' err || fail "failed device: $(cat err)"
[ ! -e out/INJ-F.p12 ] || fail "failed device got a bundle"
[ "$(db "SELECT test_result || ' ' || key_origin FROM records WHERE serial = 'INJ-F'")" = 'fail injected' ] ||
  fail "failed device not recorded"
[ -z "$(db "SELECT state FROM devices WHERE serial = 'INJ-F'")" ] || fail "failed device registered"
ok "a device that failed its test is recorded (fail, injected) and gets no bundle"

# --- the record does not upload (here: its order is closed) --------------------------
"$ZTM" order add --name WO-C --product gizmo --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order WO-C: $(cat err)"
"$ZTM" order close --name WO-C >/dev/null 2>err || fail "order close: $(cat err)"
c0=$(certs)
QUEUE=$T/queue-closed inject INJ-C gizmo WO-C --test pass --bundle out/INJ-C.p12 \
  --bundle-pass-file bundle.pass 2>err && fail "inject against a closed order succeeded"
grep -q 'INJ-C not injected: its record did not upload' err && grep -q 'closed' err ||
  fail "upload refused: $(cat err)"
[ ! -e out/INJ-C.p12 ] && [ "$(certs)" = "$c0" ] || fail "upload refused: bundle or certificate"
[ -s "$T/queue-closed/records/INJ-C.json" ] && ls "$T/queue-closed/batches/"*.cms >/dev/null 2>&1 ||
  fail "upload refused: the record should stay queued, its batch pending"
ok "record refused at upload: no bundle, the record stays queued as evidence"

# --- the product forbids injected keys ----------------------------------------------
# Refused at registration (vet injected_key_forbidden: the record stays on
# the server as evidence, with an alert) or, where the server checks product
# policy at ingest, at upload; either way no certificate and no bundle. Its
# own queue: a batch refused at ingest stays pending in its queue.
c0=$(certs)
QUEUE=$T/queue-widget inject INJ-W widget WO-W --test pass --bundle out/INJ-W.p12 \
  --bundle-pass-file bundle.pass 2>err && fail "inject for a product that forbids it succeeded"
grep -q 'INJ-W not injected' err && grep -q 'injected' err || fail "forbidden: message $(cat err)"
[ ! -e out/INJ-W.p12 ] || fail "forbidden: a bundle was written"
[ "$(certs)" = "$c0" ] || fail "forbidden: a certificate was issued"
[ -z "$(db "SELECT state FROM devices WHERE serial = 'INJ-W'")" ] || fail "forbidden: device row"
if [ -n "$(db "SELECT id FROM records WHERE serial = 'INJ-W'")" ]; then
  grep -q 'injected_key_forbidden' err || fail "forbidden: message $(cat err)"
  [ "$(db "SELECT key_origin FROM records WHERE serial = 'INJ-W'")" = injected ] || fail "forbidden: record"
  [ "$(db "SELECT count(*) FROM alerts WHERE kind = 'injected_key_forbidden'")" = 1 ] ||
    fail "forbidden: no alert"
  [ "$(db "SELECT count(*) FROM audit WHERE outcome = 'injected_key_forbidden'")" -ge 1 ] ||
    fail "forbidden: not audited"
  ok "refused at registration: injected_key_forbidden, alert + audit, the record stays as evidence, no bundle"
else
  ok "refused at upload: $(tail -1 err); no bundle"
fi

# --- the server is down: nothing done before a key exists ----------------------------
stop_ztmd
inject INJ-D gizmo WO-G --test pass --bundle out/INJ-D.p12 --bundle-pass-file bundle.pass 2>err &&
  fail "inject with the server down succeeded"
grep -q 'nothing done' err || fail "server down: $(cat err)"
[ -z "$(ls "$Q/records")" ] && [ ! -e out/INJ-D.p12 ] || fail "server down: something queued or written"
ok "refused with the server down: $(tail -1 err)"
