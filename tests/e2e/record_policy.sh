#!/usr/bin/env bash
# The product's policy at record ingest (issue 3 points 3 and 6): a batch
# holding a record with an injected key for a product that forbids them is
# refused whole (403, nothing stored, the order's count unchanged, the refusal
# audited); the same kind of record for a product that allows injected keys is
# stored. A record without a firmware hash never gets in: the station refuses
# to queue it, and a batch signed by hand (openssl cms -sign with the station
# key) carrying one is refused at the format (400) while the same batch with
# the hash is stored.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077

"$ZTM" factory add --name acme >/dev/null 2>&1 || fail "factory add"
"$ZTM" station add --factory acme --name line-1 >line-1.code 2>/dev/null || fail "station add"
printf 'station-key-passphrase\n' >line-1.pass
"$ZTM" station enroll --name line-1 --code-file line-1.code --key "file:$T/line-1.key" \
  --key-pass-file line-1.pass --out line-1.crt 2>err || fail "station enroll: $(cat err)"
openssl pkey -in line-1.key -passin file:line-1.pass -out line-1.plain.key 2>/dev/null || fail "decrypting the key"
"$ZTM" product add --name strict --class sensor --hw-type 1.3.6.1.4.1.99999.2 --require-fw-hash \
  >/dev/null 2>err || fail "product strict: $(cat err)"
"$ZTM" product add --name lenient --class sensor --hw-type 1.3.6.1.4.1.99999.3 --allow-injected \
  >/dev/null 2>err || fail "product lenient: $(cat err)"
for o in WO-S:strict WO-L:lenient; do
  "$ZTM" order add --name "${o%:*}" --product "${o#*:}" --factory acme --quota 10 \
    --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order ${o%:*}: $(cat err)"
done
ok "products strict (require_fw_hash, no injected keys) and lenient (injected keys allowed), an order each"

FW=$(printf 'firmware 2.0' | sha256sum | cut -c1-64)
record() { # QUEUE SERIAL PRODUCT ORDER ORIGIN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -addext basicConstraints=critical,CA:FALSE -keyout "dev-$2.key" \
    -subj "/CN=device/serialNumber=$2" -days 3650 -out "dev-$2.crt" 2>/dev/null || fail "openssl req $2"
  "$ZTM" station record --queue "$1" --bootstrap-cert "dev-$2.crt" --serial "$2" --product "$3" \
    --order "$4" --hw-rev A --mac 02:00:5e:10:00:01 --fw-version 2.0 --fw-sha256 "$FW" --test pass \
    --key-origin "$5" 2>err || fail "record $2: $(cat err)"
}
sync_q() { "$ZTM" station sync --queue "$1" --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass; }
recorded() { db "SELECT recorded FROM work_orders WHERE name = '$1'"; }
stored() { db "SELECT (SELECT count(*) FROM records) || '/' || (SELECT count(*) FROM record_batches)"; }

# --- an injected key for a product that forbids them: the whole batch refused ----------
record q1 SN-0001 strict WO-S device
record q1 SN-0002 strict WO-S injected
sync_q q1 2>err && fail "a batch with an injected key for product strict was accepted"
grep -q '(403)' err || fail "injected: want 403: $(cat err)"
grep -q '(serial SN-0002): product strict forbids injected keys' err || fail "injected: message: $(cat err)"
[ "$(stored)" = 0/0 ] || fail "injected: stored $(stored)"
[ "$(recorded WO-S)" = 0 ] || fail "injected: WO-S recorded $(recorded WO-S)"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'record.upload' AND outcome = 'policy'
  AND detail LIKE '%(serial SN-0002): product strict forbids injected keys'")" = 1 ] ||
  fail "injected: refusal not audited: $(db "SELECT outcome, detail FROM audit WHERE action = 'record.upload'")"
ok "refused (403): an injected key for product strict; SN-0001 of the same batch not stored either; WO-S at 0; audited"

# --- the same for a product that allows them: stored ------------------------------------
record q2 SN-0003 lenient WO-L injected
record q2 SN-0004 lenient WO-L device
sync_q q2 2>err || fail "lenient: $(cat err)"
grep -q 'HTTP 201' err || fail "lenient: want 201: $(cat err)"
[ "$(db "SELECT key_origin FROM records WHERE serial = 'SN-0003'")" = injected ] || fail "SN-0003 not stored as injected"
[ "$(recorded WO-L)" = 2 ] || fail "lenient: WO-L recorded $(recorded WO-L)"
ok "accepted (201): an injected key for product lenient, stored as injected, WO-L at 2"

# --- no firmware hash ------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -addext basicConstraints=critical,CA:FALSE -keyout dev-SN-0005.key \
  -subj "/CN=device/serialNumber=SN-0005" -days 3650 -out dev-SN-0005.crt 2>/dev/null
"$ZTM" station record --queue q3 --bootstrap-cert dev-SN-0005.crt --serial SN-0005 --product strict \
  --order WO-S --hw-rev A --mac 02:00:5e:10:00:05 --fw-version 2.0 --test pass 2>err &&
  fail "a record without --fw-sha256 was queued"
grep -q -- '--fw-sha256 is required' err || fail "no hash: $(cat err)"
ok "refused by the station: a record without a firmware hash"

# A batch made by hand: the station's record of SN-0005, queued for an order that
# does not exist yet (so sync keeps it), its content re-signed with openssl.
record q4 SN-0005 strict WO-NONE device
sync_q q4 2>/dev/null && fail "sync to an unknown order succeeded"
openssl cms -verify -inform DER -in q4/batches/*.cms -binary -noverify -out content.json 2>/dev/null ||
  fail "reading the pending batch"
sign() { # IN OUT
  openssl cms -sign -binary -nodetach -nosmimecap -md sha256 -signer line-1.crt -inkey line-1.plain.key \
    -in "$1" -outform DER -out "$2" 2>err || fail "openssl cms -sign: $(cat err)"
}
post() { # FILE: prints the status
  curl -s --cacert "$ZTM_CA" --cert line-1.crt --key line-1.plain.key -H 'Content-Type: application/cms' \
    --data-binary @"$1" -o reply.json -w '%{http_code}' "$ZTM_SERVER/api/v1/records" || true
}
sed 's/"order":"WO-NONE"/"order":"WO-S"/' content.json >good.json
sed "s/\"fw_sha256\":\"$FW\"/\"fw_sha256\":\"\"/" good.json >nohash.json
grep -q '"fw_sha256":""' nohash.json && grep -q '"order":"WO-S"' nohash.json || fail "editing the batch content"
sign nohash.json nohash.cms
sign good.json good.cms
[ "$(post nohash.cms)" = 400 ] || fail "a batch without a firmware hash: $(cat reply.json)"
grep -q 'fw_sha256' reply.json || fail "no hash: $(cat reply.json)"
[ "$(db "SELECT count(*) FROM records WHERE serial = 'SN-0005'")" = 0 ] || fail "SN-0005 stored without a hash"
[ "$(recorded WO-S)" = 0 ] || fail "no hash: WO-S recorded $(recorded WO-S)"
[ "$(post good.cms)" = 201 ] || fail "the hand-signed batch with its hash: $(cat reply.json)"
[ "$(db "SELECT lower(hex(fw_sha256)) FROM records WHERE serial = 'SN-0005'")" = "$FW" ] || fail "SN-0005 not stored with its hash"
[ "$(recorded WO-S)" = 1 ] || fail "WO-S recorded $(recorded WO-S)"
ok "a hand-signed batch without the firmware hash: 400, nothing stored; the same with the hash: 201"

echo "all record policy checks passed"
