#!/usr/bin/env bash
# Revocation end to end: devices registered with curl + openssl, revoked
# through the `ztm` CLI, and the CRL checked with `openssl verify -crl_check`
# as any relying party would: the CRL is fetched anonymously from the URL the
# certificate names (its shard), carries a matching issuingDistributionPoint,
# and its number grows across revocations and across a ztmd restart.
# Suspend/resume; a certificate revoked alone; mass revocation of one
# station's output (two-person rule: the requester cannot approve) leaves the
# other station's devices good and voids the unregistered records; a mass
# revocation racing many registrations leaves no certificate a client got
# that the CRL does not list.
. "$(dirname "$0")/lib.sh"

PUB=http://ztm.test
ceremony_and_server --public-url "$PUB" --public-listen 127.0.0.1:0
# Small shards, so the certificates of this test spread over several CRLs.
sed -i '/^\[ca.device\]$/a crl_shard_size = 4' "$T/srv/ztmd.conf"
start_ztmd
cd "$T"
umask 077
ROOT=$T/ceremony/root/root.crt
DEVICE_CA=$T/ceremony/ca/device.crt
Q1=$T/q1
Q2=$T/q2
FW=$(printf "widget firmware 1.0" | sha256sum | cut -c1-64)

# --- people: two security officers ---------------------------------------------------
for so in sofia omar; do
  "$ZTM" operator add --name $so --role security-officer >$so.code 2>/dev/null || fail "operator add $so"
  printf 'operator-key-passphrase\n' >$so.pass
  "$ZTM" operator enroll --name $so --code-file $so.code --key "file:$T/$so.key" \
    --key-pass-file $so.pass --out $so.crt 2>err || fail "operator enroll $so: $(cat err)"
done
as() { local who=$1; shift; ZTM_CERT=$T/$who.crt ZTM_KEY=file:$T/$who.key ZTM_KEY_PASS_FILE=$T/$who.pass "$ZTM" "$@"; }

# --- production: one factory, two stations, one product, one order --------------------
enrolled_station plant-1 line-1
"$ZTM" station add --factory plant-1 --name line-2 >line-2.code 2>/dev/null || fail "station add line-2"
printf 'station-key-passphrase\n' >line-2.pass
"$ZTM" station enroll --name line-2 --code-file line-2.code --key "file:$T/line-2.key" \
  --key-pass-file line-2.pass --out line-2.crt 2>err || fail "station enroll line-2: $(cat err)"
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 100 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
ok "two security officers, two stations, product, order"

EE=(-addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth)
device() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -subj "/CN=widget-$1/serialNumber=$1" -days 7300 "${EE[@]}" -out "$1.boot" 2>/dev/null || fail "openssl req $1"
}
# record QUEUE SERIAL
record() {
  "$ZTM" station record --queue "$1" --bootstrap-cert "$2.boot" --serial "$2" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1.0 --fw-sha256 "$FW" --test pass 2>err ||
    fail "record $2: $(cat err)"
}
sync_queue() {
  "$ZTM" station sync --queue "$1" --cert "$2.crt" --key "file:$T/$2.key" \
    --key-pass-file "$2.pass" >/dev/null 2>err || fail "sync $2: $(cat err)"
}
# enroll SERIAL: prints the HTTP status; SERIAL.crt on success.
enroll() {
  openssl req -new -key "$1.key" -subj /CN=x -outform DER 2>/dev/null | base64 -w 64 >"$1.csr"
  local code
  code=$(curl -s -o "$1.body" -w '%{http_code}' --cacert "$ZTM_CA" --cert "$1.boot" --key "$1.key" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$1.csr" \
    "$ZTM_SERVER/.well-known/est/device/simpleenroll")
  if [ "$code" = 200 ]; then
    base64 -d "$1.body" | openssl pkcs7 -inform DER -print_certs -out "$1.crt" 2>/dev/null || fail "reply of $1"
  fi
  echo "$code"
}
cert_serial() { openssl x509 -in "$1.crt" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
# The certificate's own CDP, fetched from ztmd (the URL's host is only a name).
cdp() { openssl x509 -in "$1.crt" -noout -ext crlDistributionPoints | grep -o 'URI:.*' | cut -c5-; }
fetch_crl() { # fetch_crl SERIAL -> SERIAL.crl.pem (no client certificate)
  local url path
  url=$(cdp "$1"); path=${url#"$PUB"}
  curl -sf --cacert "$ZTM_CA" -o "$1.crl" -D "$1.hdr" "$ZTM_SERVER$path" || return 1
  openssl crl -inform DER -in "$1.crl" -out "$1.crl.pem" 2>/dev/null
}
crl_number() { # decimal
  local v; v=$(openssl crl -in "$1.crl.pem" -noout -crlnumber | cut -d= -f2); v=${v#0x}
  echo $((16#$v))
}
# wait_number SERIAL MIN: until the CRL of SERIAL's shard has number > MIN (hex compare via printf).
wait_number() {
  for _ in $(seq 100); do
    if fetch_crl "$1" && [ $(( $(crl_number "$1") )) -gt "$2" ]; then return 0; fi
    sleep 0.1
  done
  fail "CRL of $1 did not move past number $2"
}
verify() { openssl verify -crl_check -CAfile "$ROOT" -untrusted "$DEVICE_CA" -CRLfile "$1.crl.pem" "$1.crt" >"$1.verify" 2>&1; }

for sn in SN-1 SN-2 SN-3 SN-5; do device $sn; record "$Q1" $sn; done
device SN-4; record "$Q2" SN-4
sync_queue "$Q1" line-1
sync_queue "$Q2" line-2
for sn in SN-1 SN-2 SN-4 SN-5; do
  code=$(enroll $sn); [ "$code" = 200 ] || fail "enroll $sn: $code $(cat $sn.body)"
done
ok "SN-1, SN-2, SN-5 (line-1) and SN-4 (line-2) registered; SN-3 recorded by line-1 only"

# --- the CRL as a relying party sees it ----------------------------------------------
url=$(cdp SN-1)
case "$url" in "$PUB"/crl/device/*.crl) ;; *) fail "CDP of SN-1: '$url'" ;; esac
[ "$(db "SELECT count(DISTINCT crl_shard) FROM certificates WHERE ca = 'device'")" -ge 2 ] ||
  fail "device certificates did not spread over shards"
wait_number SN-1 0
grep -qi '^content-type: application/pkix-crl' SN-1.hdr || fail "Content-Type: $(cat SN-1.hdr)"
openssl crl -in SN-1.crl.pem -noout -text >crl.txt
grep -q "Issuing Distribution Point: critical" crl.txt && grep -q "URI:$url" crl.txt ||
  fail "no IDP naming $url: $(cat crl.txt)"
grep -q "X509v3 Authority Key Identifier" crl.txt || fail "no AKI"
openssl crl -in SN-1.crl.pem -noout -CAfile "$DEVICE_CA" 2>&1 | matches 'verify OK' || fail "CRL signature"
verify SN-1 || fail "active SN-1 refused: $(cat SN-1.verify)"
ok "CRL at the certificate's CDP: DER, application/pkix-crl, no client certificate, IDP = CDP, verifies; SN-1 good"
# The same CRL over plain HTTP ([public] listen), as relying parties fetch it.
path=${url#"$PUB"}
curl -sf -D plain.hdr -o plain.crl "$ZTM_PUBLIC$path" || fail "plain GET $path"
cmp -s plain.crl SN-1.crl || fail "plain and HTTPS CRLs differ"
grep -qi '^content-type: application/pkix-crl' plain.hdr && grep -qi '^last-modified: ' plain.hdr &&
  grep -qi '^cache-control: max-age=' plain.hdr || fail "plain CRL headers: $(cat plain.hdr)"
openssl crl -inform DER -in plain.crl -out plain.crl.pem 2>/dev/null || fail "plain CRL is not DER"
openssl verify -crl_check -CAfile "$ROOT" -untrusted "$DEVICE_CA" -CRLfile plain.crl.pem SN-1.crt >/dev/null 2>&1 ||
  fail "SN-1 with the plain-HTTP CRL"
curl -sf -o plain.pem "$ZTM_PUBLIC/crl/device.pem" && grep -q 'BEGIN X509 CRL' plain.pem || fail "plain PEM bundle"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$ZTM_PUBLIC/crl/device/999.crl")" = 404 ] || fail "plain: unknown shard not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$ZTM_PUBLIC/api/v1/revocations")" = 404 ] || fail "plain: API path not 404"
ok "the same CRL over plain HTTP: identical bytes, Last-Modified and Cache-Control, PEM bundle; API paths 404 there"
curl -s -o /dev/null -w '%{http_code}' --cacert "$ZTM_CA" "$ZTM_SERVER/crl/device/999.crl" | matches 404 ||
  fail "unknown shard not 404"
curl -s -o /dev/null -w '%{http_code}' --cacert "$ZTM_CA" "$ZTM_SERVER/crl/nosuch/0.crl" | matches 404 ||
  fail "unknown CA not 404"

# --- revoke a device ---------------------------------------------------------------------
n0=$(( $(crl_number SN-1) ))
as sofia device revoke SN-1 --reason keyCompromise >out 2>err || fail "device revoke: $(cat err)"
grep -q '"state": "revoked"' out || fail "device revoke reply: $(cat out)"
wait_number SN-1 "$n0"
verify SN-1 && fail "revoked SN-1 still verifies"
grep -q 'certificate revoked' SN-1.verify || fail "SN-1: $(cat SN-1.verify)"
openssl crl -in SN-1.crl.pem -noout -text | grep -A4 "$(cert_serial SN-1 | tr a-f A-F)" | matches 'Key Compromise' ||
  fail "reason not on the CRL"
fetch_crl SN-4 && verify SN-4 || fail "SN-4 (not revoked) refused: $(cat SN-4.verify)"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'device.revoke' AND actor = 'operator:sofia'")" = 1 ] ||
  fail "device revoke not audited with the operator"
code=$(enroll SN-1); [ "$code" = 403 ] && grep -q device_ended SN-1.body || fail "revoked SN-1 re-registered: $code"
ok "ztm device revoke: CRL number grew, SN-1 rejected (keyCompromise), SN-4 still good, audited, re-registration refused"

# Bad input: clear errors, nothing changed.
as sofia device revoke SN-2 --reason certificateHold >/dev/null 2>err && fail "hold accepted as a revocation"
as sofia device revoke SN-2 --reason bogus >/dev/null 2>err && fail "bogus reason accepted"
grep -q "reason" err || fail "bad reason message: $(cat err)"
as sofia device revoke NOPE-1 >/dev/null 2>err && fail "unknown device accepted"
grep -q 404 err || fail "unknown device: $(cat err)"
"$ZTM" device revoke SN-2 --reason keyCompromise --station x >/dev/null 2>&1 && fail "usage not checked"
ZTM_CERT=$T/line-1.crt ZTM_KEY=file:$T/line-1.key ZTM_KEY_PASS_FILE=$T/line-1.pass \
  "$ZTM" device revoke SN-2 >/dev/null 2>err && fail "a station revoked a device"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-2'")" = provisioned ] || fail "SN-2 changed"
ok "hold/bogus reason, unknown device, a station's certificate: refused, nothing changed"

# --- suspend and resume ---------------------------------------------------------------
fetch_crl SN-2; n0=$(( $(crl_number SN-2) ))
as omar device suspend SN-2 >/dev/null 2>err || fail "suspend: $(cat err)"
wait_number SN-2 "$n0"
verify SN-2 && fail "suspended SN-2 verifies"
openssl crl -in SN-2.crl.pem -noout -text | grep -A4 "$(cert_serial SN-2 | tr a-f A-F)" | matches 'Certificate Hold' ||
  fail "hold not on the CRL"
curl -sf --cacert "$ZTM_CA" --cert SN-2.crt --key SN-2.key "$ZTM_SERVER/api/v1/device/whoami" -o /dev/null &&
  fail "a suspended device authenticated"
code=$(enroll SN-2); [ "$code" = 403 ] || fail "suspended SN-2 registered again: $code"
n1=$(( $(crl_number SN-2) ))
as omar device resume SN-2 >/dev/null 2>err || fail "resume: $(cat err)"
wait_number SN-2 "$n1"
verify SN-2 || fail "resumed SN-2 refused: $(cat SN-2.verify)"
curl -sf --cacert "$ZTM_CA" --cert SN-2.crt --key SN-2.key "$ZTM_SERVER/api/v1/device/whoami" -o /dev/null ||
  fail "resumed device refused"
as omar device resume SN-2 >/dev/null 2>err && fail "resume of an active device accepted"
grep -q 409 err || fail "resume twice: $(cat err)"
ok "suspend: on hold in the CRL, refused by authz and registration; resume: good again"

# --- one certificate ------------------------------------------------------------------
fetch_crl SN-5; n0=$(( $(crl_number SN-5) ))
"$ZTM" cert revoke "$(cert_serial SN-5)" --reason superseded >out 2>err || fail "cert revoke: $(cat err)"
grep -q '"reason": "superseded"' out || fail "cert revoke reply: $(cat out)"
wait_number SN-5 "$n0"
verify SN-5 && fail "revoked certificate verifies"
# The device is still active; its revoked certificate alone is refused.
code=$(curl -s -o whoami.out -w '%{http_code}' --cacert "$ZTM_CA" --cert SN-5.crt --key SN-5.key \
  "$ZTM_SERVER/api/v1/device/whoami")
[ "$code" = 401 ] || fail "a revoked device certificate still authenticates: $code $(cat whoami.out)"
"$ZTM" cert revoke 5a00zz >/dev/null 2>&1 && fail "a non-hex serial accepted"
ok "ztm cert revoke: listed (superseded); ztmd refuses the certificate (401) though the device is active"

# --- mass revocation of line-1, two people ---------------------------------------------
as sofia revocation request --station plant-1/line-1 --from 0 --to 2099-01-01T00:00:00Z \
  --reason cACompromise >req.json 2>err || fail "mass request: $(cat err)"
id=$(grep '"id"' req.json | tr -dc 0-9)
grep -q '"preview": 4' req.json || fail "preview should be 4 devices: $(cat req.json)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-2'")" = active ] || fail "a request alone changed something"
as sofia revocation approve "$id" >/dev/null 2>err && fail "the requester approved her own request"
grep -q 403 err || fail "self-approval: $(cat err)"
"$ZTM" revocation approve "$id" >/dev/null 2>err && fail "an admin approved (security officers only)"
fetch_crl SN-4; n4=$(( $(crl_number SN-4) ))
fetch_crl SN-2; n2=$(( $(crl_number SN-2) ))
as omar revocation approve "$id" >appr.json 2>err || fail "approve: $(cat err)"
grep -q '"state": "executed"' appr.json || fail "approve reply: $(cat appr.json)"
as omar revocation approve "$id" >/dev/null 2>err && fail "approved twice"
wait_number SN-2 "$n2"
verify SN-2 && fail "SN-2 survived the mass revocation"
sleep 1.5; fetch_crl SN-4
[ $(( $(crl_number SN-4) )) -eq "$n4" ] || [ "$(cdp SN-4)" = "$(cdp SN-2)" ] ||
  fail "SN-4's shard CRL was rebuilt without a change in it"
verify SN-4 || fail "line-2's SN-4 refused after line-1's mass revocation: $(cat SN-4.verify)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-3'")" = revoked ] || fail "unregistered SN-3 not voided"
code=$(enroll SN-3); [ "$code" = 403 ] && grep -q device_ended SN-3.body || fail "SN-3 registered after the mass revocation: $code"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'revocation.approve' AND actor = 'operator:omar'")" = 1 ] ||
  fail "approval not audited"
as omar revocation show "$id" | matches '"decided_by": "operator:omar"' || fail "revocation show"
ok "mass revocation: requester refused as approver, admin refused; second officer approved; line-1 revoked (SN-3 voided), line-2 good"

# --- CRL numbers survive a restart ----------------------------------------------------
fetch_crl SN-4; before=$(( $(crl_number SN-4) ))
stop_ztmd
start_ztmd
sleep 1.5
fetch_crl SN-4 || fail "CRL after restart"
[ $(( $(crl_number SN-4) )) -ge "$before" ] || fail "CRL number went back after a restart"
as sofia device revoke SN-4 --reason affiliationChanged >/dev/null 2>err || fail "revoke SN-4: $(cat err)"
wait_number SN-4 "$before"
verify SN-4 && fail "SN-4 verifies after revocation"
[ "$(db "SELECT count(*) FROM crls WHERE number < 1")" = 0 ] || fail "a shard without a CRL"
ok "CRL number after restart >= before; a revocation after the restart moves it past"

# --- a mass revocation racing 24 registrations ---------------------------------------
for i in $(seq 24); do device R-$i; record "$Q1" R-$i; done
sync_queue "$Q1" line-1
pids=()
for i in $(seq 24); do (enroll R-$i >R-$i.code) & pids+=($!); done
as sofia revocation request --station plant-1/line-1 --from 0 --to 2099-01-01T00:00:00Z \
  --reason keyCompromise >req2.json 2>err || fail "race request: $(cat err)"
id2=$(grep '"id"' req2.json | tr -dc 0-9)
as omar revocation approve "$id2" >/dev/null 2>err || fail "race approve: $(cat err)"
wait "${pids[@]}"
got=0
for i in $(seq 24); do
  c=$(cat R-$i.code)
  case "$c" in 200) got=$((got + 1)) ;; 403|202) ;; *) fail "R-$i: HTTP $c $(cat R-$i.body)" ;; esac
done
# Every certificate any client received must be on its shard's CRL.
sleep 2
for i in $(seq 24); do
  [ "$(cat R-$i.code)" = 200 ] || continue
  wait_number R-$i 0
  for _ in $(seq 50); do verify R-$i || break; sleep 0.1; fetch_crl R-$i; done
  verify R-$i && fail "R-$i holds a certificate the CRL does not list"
done
[ "$(db "SELECT count(*) FROM certificates c JOIN devices d ON d.id = c.owner_id
        JOIN records r ON r.id = d.record_id JOIN stations s ON s.id = r.station_id
        WHERE c.ca = 'device' AND c.owner_kind = 'device' AND c.state = 'issued' AND s.name = 'line-1'")" = 0 ] ||
  fail "a line-1 certificate is still good in the store"
ok "24 registrations racing a mass revocation: $got got a certificate, every one is listed; none of line-1 is good"
