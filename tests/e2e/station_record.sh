#!/usr/bin/env bash
# The station's record queue and signed batches: an enrolled station records
# devices whose bootstrap certificates were made with `openssl req -x509`,
# refuses malformed records, signs a batch that `openssl cms -verify` accepts
# with the station CA, and keeps its queue intact while the server does not
# take the batch (its work order does not exist yet: 403): the same bytes are
# re-sent, nothing is lost, nothing is signed twice. Then the order exists and
# POST /api/v1/records stores the records once, however often the same bytes
# arrive; a batch signed by another station, an order of another factory and
# a record past the quota are refused with nothing stored (the overbuild
# leaves an alert).
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077
Q=$T/queue
STATION_CA=$T/ceremony/ca/station.crt
ROOT=$T/ceremony/root/root.crt

"$ZTM" factory add --name acme-shenzhen >/dev/null 2>&1 || fail "factory add"
"$ZTM" station add --factory acme-shenzhen --name line-1 >line-1.code 2>/dev/null || fail "station add"
printf 'station-key-passphrase\n' >line-1.pass
"$ZTM" station enroll --name line-1 --code-file line-1.code --key "file:$T/line-1.key" \
  --key-pass-file line-1.pass --out line-1.crt 2>err || fail "station enroll: $(cat err)"
ok "station line-1 enrolled"

# Devices: a self-signed bootstrap certificate each, subject serialNumber = serial.
bootstrap() { # SERIAL [extra req args]
  local sn=$1; shift
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -addext basicConstraints=critical,CA:FALSE -keyout "dev-$sn.key" \
    -subj "/CN=device/serialNumber=$sn" -days 3650 -out "dev-$sn.crt" "$@" 2>/dev/null || fail "openssl req $sn"
}
for sn in SN-0001 SN-0002 SN-0003 SN-0004; do bootstrap $sn; done
FW=$(printf 'firmware 1.4.2' | sha256sum | cut -c1-64)
record() { # SERIAL [overrides...]: ztm station record with good defaults
  local sn=$1; shift
  "$ZTM" station record --queue "$Q" --bootstrap-cert "dev-$sn.crt" --serial "$sn" --product sensor-v2 \
    --order WO-1 --hw-rev B1 --mac 02:00:5e:10:00:0${sn: -1} --fw-version 1.4.2 --fw-sha256 "$FW" \
    --test pass "$@"
}
record SN-0001 2>err || fail "record SN-0001: $(cat err)"
openssl x509 -in dev-SN-0002.crt -outform DER -out dev-SN-0002.der
"$ZTM" station record --queue "$Q" --bootstrap-cert dev-SN-0002.der --serial SN-0002 --product sensor-v2 \
  --order WO-1 --hw-rev B1 --mac 02:00:5e:10:00:02 --fw-version 1.4.2 --fw-sha256 "$FW" --test fail \
  --key-origin injected 2>err || fail "record SN-0002 (DER certificate): $(cat err)"
record SN-0003 2>err || fail "record SN-0003: $(cat err)"
[ "$(ls "$Q/records" | sort | tr '\n' ' ')" = "SN-0001.json SN-0002.json SN-0003.json " ] || fail "queue: $(ls "$Q/records")"
[ "$(stat -c %a "$Q/records/SN-0002.json")" = 600 ] || fail "record file mode"
grep -q '"key_origin":"injected"' "$Q/records/SN-0002.json" || fail "key origin not recorded"
grep -q '"test_result":"fail"' "$Q/records/SN-0002.json" || fail "test result not recorded"
ok "three records queued (PEM and DER bootstrap certificates), files 0600"

# libztmdev's bootstrap certificate (keyUsage critical digitalSignature, no
# keyCertSign: an end-entity certificate) is self-signed too. Its own queue,
# so the counts below stay as they are.
"$ZTM_BIN/src/device/ztm-device" init --dir dev-agent --serial SN-0100 --product sensor-v2 \
  >/dev/null 2>err || fail "ztm-device init: $(cat err)"
"$ZTM" station record --queue "$T/queue-agent" --bootstrap-cert dev-agent/bootstrap.pem \
  --serial SN-0100 --product sensor-v2 --order WO-1 --hw-rev B1 --mac 02:00:5e:10:01:00 \
  --fw-version 1.4.2 --fw-sha256 "$FW" --test pass 2>err || fail "record a ztm-device bootstrap: $(cat err)"
ok "a ztm-device (libztmdev) bootstrap certificate is recorded"

# --- refusals: each exits nonzero and queues nothing ---------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
  -subj "/CN=device/serialNumber=SN-0009" -out other.csr 2>/dev/null
openssl x509 -req -in other.csr -CA dev-SN-0001.crt -CAkey dev-SN-0001.key -set_serial 7 -days 1 \
  -out not-self-signed.crt 2>/dev/null || fail "making a non-self-signed certificate"
bootstrap SN-0009
openssl req -x509 -newkey rsa:1024 -nodes -addext basicConstraints=critical,CA:FALSE -keyout weak.key -subj "/CN=device/serialNumber=SN-0009" \
  -days 1 -out weak.crt 2>/dev/null
refused() { # WHAT NEEDLE command...
  local what=$1 needle=$2; shift 2
  "$@" 2>err && fail "$what: accepted"
  grep -q -- "$needle" err || fail "$what: $(cat err)"
  [ ! -e "$Q/records/SN-0009.json" ] || fail "$what: a record was queued"
  ok "refused: $what"
}
refused "upper-case MAC" "mac" record SN-0009 --mac 02:00:5E:10:00:09
refused "MAC with dashes" "mac" record SN-0009 --mac 02-00-5e-10-00-09
refused "short firmware hash" "fw_sha256" record SN-0009 --fw-sha256 abcd
refused "serial with a slash" "serial" record SN-0009 --serial ../SN-0009
refused "serial not the certificate's" "serialNumber is not 'SN-0008'" record SN-0009 --serial SN-0008
refused "test result maybe" "pass or fail" record SN-0009 --test maybe
refused "key origin station" "device or injected" record SN-0009 --key-origin station
refused "product with a space" "product" record SN-0009 --product "sensor v2"
refused "no such certificate file" "no-such.crt" record SN-0009 --bootstrap-cert no-such.crt
"$ZTM" station record --queue "$Q" --bootstrap-cert not-self-signed.crt --serial SN-0009 --product p \
  --order o --hw-rev 1 --mac 02:00:5e:10:00:09 --fw-version 1 --fw-sha256 "$FW" --test pass 2>err &&
  fail "certificate issued by another key accepted"
grep -q 'self-issued' err || fail "not self-signed: $(cat err)"
ok "refused: bootstrap certificate not self-signed"
"$ZTM" station record --queue "$Q" --bootstrap-cert weak.crt --serial SN-0009 --product p \
  --order o --hw-rev 1 --mac 02:00:5e:10:00:09 --fw-version 1 --fw-sha256 "$FW" --test pass 2>err &&
  fail "RSA-1024 bootstrap key accepted"
grep -q '1024 bits' err || fail "weak key: $(cat err)"
ok "refused: RSA-1024 bootstrap key"
# openssl's `req -x509` default is a CA certificate (basicConstraints CA:TRUE):
# ztmd's handshake refuses it, so the station must not record it either.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-like.key \
  -subj "/CN=device/serialNumber=SN-0009" -days 1 -out ca-like.crt 2>/dev/null
openssl x509 -in ca-like.crt -noout -text | matches 'CA:TRUE' || fail "openssl req -x509 no longer makes CA:TRUE"
refused "bootstrap certificate with CA:TRUE" "is a CA certificate" record SN-0009 --bootstrap-cert ca-like.crt
cp "$Q/records/SN-0001.json" first.json
record SN-0001 --test fail 2>err && fail "second record of a queued serial accepted"
grep -q 'already queued' err || fail "duplicate: $(cat err)"
cmp -s first.json "$Q/records/SN-0001.json" || fail "the queued record changed"
ok "refused: a serial already queued (without --replace); the queued record unchanged"

# --- sync while the work order does not exist: 403, queue kept ------------------
SYNC=("$ZTM" station sync --queue "$Q" --cert line-1.crt --key "file:$T/line-1.key"
  --key-pass-file line-1.pass)
"${SYNC[@]}" 2>err && fail "sync succeeded without a work order"
grep -q '(403)' err || fail "sync: expected the server's 403: $(cat err)"
grep -q "order 'WO-1'" err || fail "sync: the refusal does not name the order: $(cat err)"
[ "$(db 'SELECT count(*) FROM records')/$(db 'SELECT count(*) FROM record_batches')" = 0/0 ] ||
  fail "a refused batch left rows"
grep -q 'kept in' err || fail "sync does not say the batch was kept: $(cat err)"
ls "$Q"/batches/*.cms >/dev/null 2>&1 || fail "no pending batch"
[ "$(ls "$Q/batches" | grep -c '\.cms$')" = 1 ] || fail "expected one pending batch: $(ls "$Q/batches")"
[ "$(ls "$Q/records" | wc -l)" = 3 ] || fail "records left the queue: $(ls "$Q/records")"
[ -z "$(ls "$Q/sent")" ] || fail "something was marked sent"
B=$(ls "$Q"/batches/*.cms)
ID=$(basename "$B" .cms)
[ "$(stat -c %a "$B")" = 600 ] || fail "batch file mode"
[ "$(wc -l <"$Q/batches/$ID.list")" = 3 ] || fail "batch list"
ok "sync: server said 403 (no order WO-1), nothing stored; batch $ID kept in batches/, all three records still queued"

# --- the batch checked by an independent party: openssl cms -verify -------------
# Trust anchor = the station CA alone (-partial_chain); the station certificate is
# a TLS client certificate, so no S/MIME purpose (-purpose any).
openssl cms -verify -inform DER -in "$B" -binary -CAfile "$STATION_CA" -partial_chain -purpose any \
  -out content.json 2>verify.err || fail "openssl cms -verify: $(cat verify.err)"
grep -q 'Verification successful' verify.err || fail "openssl: $(cat verify.err)"
# Or the whole chain up to the root (no -partial_chain): the root and the station
# CA as the only trusted certificates (OpenSSL 3.0 takes intermediates only from
# the trust store or the message).
cat "$ROOT" "$STATION_CA" >root-and-station-ca.pem
openssl cms -verify -inform DER -in "$B" -binary -CAfile root-and-station-ca.pem -purpose any \
  -out content2.json 2>verify.err || fail "openssl cms -verify to the root: $(cat verify.err)"
cmp -s content.json content2.json || fail "two verifications gave different content"
openssl cms -cmsout -print -inform DER -in "$B" >cms.txt
grep -q 'eContentType: pkcs7-data' cms.txt || fail "eContentType is not id-data"
openssl cms -verify -inform DER -in "$B" -binary -CAfile "$T/ceremony/ca/operator.crt" -partial_chain \
  -purpose any -out /dev/null 2>/dev/null && fail "openssl verified the batch against the operator CA"
for k in '"version":1' "\"batch_id\":\"$ID\"" '"factory":"acme-shenzhen"' '"name":"line-1"' \
  '"serial":"SN-0001"' '"serial":"SN-0002"' '"serial":"SN-0003"' '"key_origin":"injected"'; do
  grep -qF "$k" content.json || fail "batch content lacks $k"
done
grep -qF "\"bootstrap_cert\":\"$(openssl x509 -in dev-SN-0003.crt -outform DER | base64 -w0)\"" content.json ||
  fail "bootstrap certificate not carried byte for byte"
cp "$B" tampered.cms
sz=$(stat -c %s tampered.cms)
off=$(grep -obaF '"serial":"SN-0002"' tampered.cms | head -1 | cut -d: -f1)
printf '9' | dd of=tampered.cms bs=1 seek=$((off + 16)) conv=notrunc 2>/dev/null
[ "$(stat -c %s tampered.cms)" = "$sz" ] || fail "tampering changed the size"
openssl cms -verify -inform DER -in tampered.cms -binary -CAfile "$STATION_CA" -partial_chain \
  -purpose any -out /dev/null 2>/dev/null && fail "openssl verified a tampered batch"
ok "openssl cms -verify: good with the station CA (alone or via the root), refuses the operator CA and a tampered byte"

# --- a retry re-sends the same bytes; new records wait ----------------------------
H=$(sha256sum <"$B")
record SN-0004 2>err || fail "record SN-0004: $(cat err)"
"${SYNC[@]}" 2>err && fail "second sync succeeded"
grep -q "re-sending pending batch $ID" err || fail "the pending batch was not re-sent: $(cat err)"
[ "$(sha256sum <"$B")" = "$H" ] || fail "the pending batch changed"
[ "$(ls "$Q/batches" | grep -c '\.cms$')" = 1 ] || fail "a second batch was signed while one is pending"
[ "$(ls "$Q/records" | wc -l)" = 4 ] || fail "queue: $(ls "$Q/records")"
ok "retry: the same bytes re-sent, no new batch while one is pending, SN-0004 waits"

# --- crash recovery -------------------------------------------------------------
# A batch list whose batch was never written (crash between the two): dropped.
printf '%s SN-0001.json\n' "$(sha256sum <"$Q/records/SN-0001.json" | cut -c1-64)" \
  >"$Q/batches/ffffffffffffffffffffffffffffffff.list"
# A record re-tested after being batched: --replace; the new bytes stay queued.
record SN-0002 --replace --test pass 2>err || fail "record --replace: $(cat err)"
# The server acknowledged the batch and the station died while moving it:
# the .ack marker makes the next sync finish the move.
: >"$Q/batches/$ID.ack"
"${SYNC[@]}" 2>err && fail "third sync succeeded"
[ ! -e "$Q/batches/ffffffffffffffffffffffffffffffff.list" ] || fail "orphan batch list not dropped"
[ -f "$Q/sent/$ID/batch.cms" ] && [ -f "$Q/sent/$ID/batch.list" ] || fail "batch not moved to sent/: $(ls -R "$Q")"
cmp -s "$Q/sent/$ID/batch.cms" tampered.cms && fail "sent/ holds the wrong bytes"
[ "$(sha256sum <"$Q/sent/$ID/batch.cms")" = "$H" ] || fail "sent/ batch differs from what was signed"
[ "$(ls "$Q/sent/$ID" | sort | tr '\n' ' ')" = "SN-0001.json SN-0003.json batch.cms batch.list " ] ||
  fail "sent/$ID: $(ls "$Q/sent/$ID")"
[ "$(ls "$Q/records" | sort | tr '\n' ' ')" = "SN-0002.json SN-0004.json " ] || fail "records: $(ls "$Q/records")"
[ ! -e "$Q/batches/$ID.ack" ] && [ ! -e "$Q/batches/$ID.cms" ] || fail "acknowledged batch still pending"
B2=$(ls "$Q"/batches/*.cms)
[ "$(basename "$B2" .cms)" != "$ID" ] || fail "new batch reused the id"
openssl cms -verify -inform DER -in "$B2" -binary -CAfile "$STATION_CA" -partial_chain -purpose any \
  -out content3.json 2>/dev/null || fail "new batch does not verify"
grep -qF '"serial":"SN-0002"' content3.json && grep -qF '"serial":"SN-0004"' content3.json ||
  fail "new batch content"
grep -qF '"serial":"SN-0001"' content3.json && fail "an acknowledged record was sent again"
ok "recovery: acknowledged batch moved to sent/ (replaced record kept queued), orphan list dropped, next batch signed"

# Another sync while one holds the queue lock: refused at once.
exec 9>"$Q/lock"
flock -n 9 || fail "cannot take the lock"
"${SYNC[@]}" 2>err && fail "concurrent sync ran"
grep -q 'another sync is running' err || fail "concurrent sync: $(cat err)"
exec 9>&-
ok "one sync per queue"


# --- the upload: order WO-1 exists now ---------------------------------------------
"$ZTM" product add --name sensor-v2 --class sensor --hw-type 1.3.6.1.4.1.99999.2 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product sensor-v2 --factory acme-shenzhen --quota 3 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
"${SYNC[@]}" 2>err || fail "sync: $(cat err)"
grep -q 'HTTP 201' err || fail "sync: expected 201: $(cat err)"
[ -z "$(ls "$Q/records")" ] && [ -z "$(ls "$Q/batches")" ] || fail "queue not emptied: $(ls -R "$Q")"
[ "$(db "SELECT group_concat(serial, ' ') FROM (SELECT serial FROM records ORDER BY serial)")" = "SN-0002 SN-0004" ] ||
  fail "records in the store: $(db 'SELECT serial FROM records')"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")" = 2 ] || fail "order WO-1 recorded count"
[ "$(db "SELECT key_origin || ' ' || test_result || ' ' || mac FROM records WHERE serial = 'SN-0002'")" = \
  "device pass 02:00:5e:10:00:02" ] || fail "SN-0002 as stored: $(db "SELECT * FROM records WHERE serial = 'SN-0002'")"
[ "$(db "SELECT lower(hex(bootstrap_der)) FROM records WHERE serial = 'SN-0004'")" = \
  "$(openssl x509 -in dev-SN-0004.crt -outform DER | od -An -v -tx1 | tr -d ' \n')" ] || fail "bootstrap certificate not stored byte for byte"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'record.upload' AND outcome = 'ok'")" = 1 ] || fail "upload not audited"
ok "sync: 201, SN-0002 and SN-0004 stored with their bootstrap certificates, order WO-1 recorded 2, audited"

# The same bytes again (a retry whose answer was lost): 200, the first upload's id, nothing new.
openssl pkey -in line-1.key -passin file:line-1.pass -out line-1.plain.key 2>/dev/null || fail "decrypting the station key"
post() { # FILE: POST as line-1; prints the status, body in reply.json
  curl -s --cacert "$ZTM_CA" --cert line-1.crt --key line-1.plain.key -H 'Content-Type: application/cms' \
    --data-binary @"$1" -o reply.json -w '%{http_code}' "$ZTM_SERVER/api/v1/records" || true
}
SENT=$(ls -d "$Q"/sent/* | grep -v "/$ID\$")
FIRST=$(db 'SELECT max(id) FROM record_batches')
[ "$(post "$SENT/batch.cms")" = 200 ] || fail "re-POST: $(cat reply.json)"
grep -q "\"id\": *$FIRST" reply.json && grep -q '"duplicate": *true' reply.json || fail "re-POST reply: $(cat reply.json)"
[ "$(db 'SELECT count(*) FROM records')/$(db 'SELECT count(*) FROM record_batches')" = 2/1 ] || fail "re-POST stored something"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")" = 2 ] || fail "re-POST took quota"
ok "the same bytes again: 200 with the first upload's id, nothing stored twice"
[ "$(curl -s --cacert "$ZTM_CA" --cert line-1.crt --key line-1.plain.key -H 'Content-Type: text/plain' \
  --data-binary @"$SENT/batch.cms" -o /dev/null -w '%{http_code}' "$ZTM_SERVER/api/v1/records")" = 415 ] ||
  fail "a batch sent as text/plain was not refused with 415"
[ "$(curl -s --cacert "$ZTM_CA" -H 'Content-Type: application/cms' --data-binary @"$SENT/batch.cms" \
  -o /dev/null -w '%{http_code}' "$ZTM_SERVER/api/v1/records")" = 401 ] || fail "anonymous upload not refused with 401"
openssl pkey -in "$T/ceremony/operators/admin.key" -passin "file:$ZTM_KEY_PASS_FILE" -out admin.plain.key 2>/dev/null ||
  fail "decrypting the admin key"
[ "$(curl -s --cacert "$ZTM_CA" --cert "$ZTM_CERT" --key admin.plain.key -H 'Content-Type: application/cms' \
  --data-binary @"$SENT/batch.cms" -o /dev/null -w '%{http_code}' "$ZTM_SERVER/api/v1/records")" = 403 ] ||
  fail "an operator's upload was not refused with 403"
ok "refused: text/plain (415), no client certificate (401), an operator (403)"

# --- a batch signed by another station, uploaded by line-1: 403 --------------------
"$ZTM" station add --factory acme-shenzhen --name line-2 >line-2.code 2>/dev/null || fail "station add line-2"
"$ZTM" station enroll --name line-2 --code-file line-2.code --key "file:$T/line-2.key" \
  --key-pass-file line-1.pass --out line-2.crt 2>err || fail "station enroll line-2: $(cat err)"
for sn in SN-0005 SN-0006 SN-0007 SN-0009; do bootstrap $sn; done
Q2=$T/queue2
Q=$Q2 record SN-0005 --order WO-NONE 2>err || fail "record for line-2: $(cat err)"
"$ZTM" station sync --queue "$Q2" --cert line-2.crt --key "file:$T/line-2.key" --key-pass-file line-1.pass \
  2>err && fail "line-2 sync to an unknown order succeeded"
B2=$(ls "$Q2"/batches/*.cms)
[ "$(post "$B2")" = 403 ] || fail "line-1 uploading line-2's batch: $(cat reply.json)"
grep -q 'signed by another certificate' reply.json || fail "signer != peer: $(cat reply.json)"
[ "$(db 'SELECT count(*) FROM records')/$(db 'SELECT count(*) FROM record_batches')" = 2/1 ] || fail "another station's batch stored"
ok "refused: line-1 uploading a batch line-2 signed (403), nothing stored"

# --- an order of another factory: refused ---------------------------------------------
"$ZTM" factory add --name other-fab >/dev/null 2>&1 || fail "factory add other-fab"
"$ZTM" order add --name WO-OTHER --product sensor-v2 --factory other-fab --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add WO-OTHER: $(cat err)"
Q3=$T/queue3
Q=$Q3 record SN-0005 --order WO-OTHER 2>err || fail "record SN-0005: $(cat err)"
"$ZTM" station sync --queue "$Q3" --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  2>err && fail "a record against another factory's order was accepted"
grep -q '(403)' err && grep -q 'another factory' err || fail "other factory: $(cat err)"
[ "$(db "SELECT count(*) FROM records WHERE serial = 'SN-0005'")/$(db "SELECT recorded FROM work_orders WHERE name = 'WO-OTHER'")" = 0/0 ] ||
  fail "a record of another factory's order was stored"
ok "refused: an order of another factory (403), nothing stored"

# --- quota + 1: WO-1 has 3, 2 recorded; two more refuse the whole batch --------------
Q4=$T/queue4
Q=$Q4 record SN-0006 2>err || fail "record SN-0006: $(cat err)"
Q=$Q4 record SN-0007 2>err || fail "record SN-0007: $(cat err)"
"$ZTM" station sync --queue "$Q4" --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  2>err && fail "a batch past the quota was accepted"
grep -q '(409)' err && grep -q 'quota' err || fail "overbuild: $(cat err)"
# The quota is taken per batch; the refusal still names the record that
# crossed it: the second of the two (index 1), as one slot per record did.
grep -q 'record 1 (serial SN-0007)' err || fail "overbuild does not name SN-0007: $(cat err)"
[ "$(db "SELECT serial FROM alerts WHERE kind = 'overbuild'")" = SN-0007 ] || fail "overbuild alert serial"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")" = 2 ] || fail "quota count changed"
[ "$(db "SELECT count(*) FROM records WHERE serial IN ('SN-0006', 'SN-0007')")" = 0 ] ||
  fail "part of a refused batch was stored"
[ "$(db "SELECT count(*) FROM record_batches")" = 1 ] || fail "the refused batch was stored"
[ "$(db "SELECT count(*) FROM alerts WHERE kind = 'overbuild'")" = 1 ] || fail "no overbuild alert"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'record.upload' AND outcome <> 'ok'")" -ge 4 ] ||
  fail "refusals not audited: $(db "SELECT outcome FROM audit WHERE action = 'record.upload'")"
ok "refused: quota + 1 (409), no record of the batch stored, WO-1 still at 2, overbuild alert kept"

# --- the record that crosses the quota comes before a later bad record -----
# SN-0006 takes WO-1's last slot, SN-0007 would need a 4th; SN-0009, after
# them, names another factory's order. One slot per record refused SN-0007
# first (409); the quota taken per batch must say the same.
Q5=$T/queue5
Q=$Q5 record SN-0006 2>err || fail "record SN-0006: $(cat err)"
Q=$Q5 record SN-0007 2>err || fail "record SN-0007: $(cat err)"
Q=$Q5 record SN-0009 --order WO-OTHER 2>err || fail "record SN-0009 for WO-OTHER: $(cat err)"
"$ZTM" station sync --queue "$Q5" --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  2>err && fail "a batch past the quota, then of another factory's order, was accepted"
grep -q '(409)' err && grep -q 'record 1 (serial SN-0007)' err || fail "not the quota refusal first: $(cat err)"
[ "$(db "SELECT count(*) FROM alerts WHERE kind = 'overbuild'")" = 2 ] || fail "no second overbuild alert"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")/$(db "SELECT count(*) FROM records WHERE serial IN ('SN-0006', 'SN-0007', 'SN-0009')")" = 2/0 ] ||
  fail "part of the batch was stored"
ok "refused: the record crossing the quota is named before a later record's refusal (409)"

echo "all station record checks passed"
