#!/usr/bin/env bash
# The station's record queue and signed batches: an enrolled station records
# devices whose bootstrap certificates were made with `openssl req -x509`,
# refuses malformed records, signs a batch that `openssl cms -verify` accepts
# with the station CA, and keeps its queue intact while the server does not
# take the batch (the /api/v1/records endpoint answers 404 until it exists):
# the same bytes are re-sent, nothing is lost, nothing is signed twice.
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
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "dev-$sn.key" \
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

# --- refusals: each exits nonzero and queues nothing ---------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
  -subj "/CN=device/serialNumber=SN-0009" -out other.csr 2>/dev/null
openssl x509 -req -in other.csr -CA dev-SN-0001.crt -CAkey dev-SN-0001.key -set_serial 7 -days 1 \
  -out not-self-signed.crt 2>/dev/null || fail "making a non-self-signed certificate"
bootstrap SN-0009
openssl req -x509 -newkey rsa:1024 -nodes -keyout weak.key -subj "/CN=device/serialNumber=SN-0009" \
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
cp "$Q/records/SN-0001.json" first.json
record SN-0001 --test fail 2>err && fail "second record of a queued serial accepted"
grep -q 'already queued' err || fail "duplicate: $(cat err)"
cmp -s first.json "$Q/records/SN-0001.json" || fail "the queued record changed"
ok "refused: a serial already queued (without --replace); the queued record unchanged"

# --- sync against a server without /api/v1/records: 404, queue kept ------------
SYNC=("$ZTM" station sync --queue "$Q" --cert line-1.crt --key "file:$T/line-1.key"
  --key-pass-file line-1.pass)
"${SYNC[@]}" 2>err && fail "sync succeeded against a server without the endpoint"
grep -q '(404)' err || fail "sync: expected the server's 404: $(cat err)"
grep -q 'kept in' err || fail "sync does not say the batch was kept: $(cat err)"
ls "$Q"/batches/*.cms >/dev/null 2>&1 || fail "no pending batch"
[ "$(ls "$Q/batches" | grep -c '\.cms$')" = 1 ] || fail "expected one pending batch: $(ls "$Q/batches")"
[ "$(ls "$Q/records" | wc -l)" = 3 ] || fail "records left the queue: $(ls "$Q/records")"
[ -z "$(ls "$Q/sent")" ] || fail "something was marked sent"
B=$(ls "$Q"/batches/*.cms)
ID=$(basename "$B" .cms)
[ "$(stat -c %a "$B")" = 600 ] || fail "batch file mode"
[ "$(wc -l <"$Q/batches/$ID.list")" = 3 ] || fail "batch list"
ok "sync: server said 404; batch $ID kept in batches/, all three records still queued"

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

echo "all station record checks passed"
