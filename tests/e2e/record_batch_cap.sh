#!/usr/bin/env bash
# The record batch has a body cap of its own ([server] max_batch_bytes), larger
# than every other request's (max_body_bytes, 64 KiB): a batch over 64 KiB is
# stored; one over max_batch_bytes gets 413 and nothing is stored; any other
# route still refuses a body over 64 KiB. `ztm station sync --max-bytes` splits
# the queue into batches that fit, and refuses a record that fits no batch.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
# 128 KiB for batches, so that "over the cap" takes 200 records, not 8,000.
sed -i 's/^\[server\]$/[server]\nmax_batch_bytes = 131072/' "$T/srv/ztmd.conf"
grep -q '^max_batch_bytes = 131072$' "$T/srv/ztmd.conf" || fail "could not set max_batch_bytes"
start_ztmd
cd "$T"
umask 077
Q=$T/queue

"$ZTM" factory add --name fab >/dev/null 2>&1 || fail "factory add"
"$ZTM" station add --factory fab --name line-1 >line-1.code 2>/dev/null || fail "station add"
printf 'station-key-passphrase\n' >line-1.pass
"$ZTM" station enroll --name line-1 --code-file line-1.code --key "file:$T/line-1.key" \
  --key-pass-file line-1.pass --out line-1.crt 2>err || fail "station enroll: $(cat err)"
"$ZTM" product add --name sensor --class sensor --hw-type 1.3.6.1.4.1.99999.2 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product sensor --factory fab --quota 1000 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"

# 200 devices: one bootstrap key (P-256) and certificate each, recorded.
FW=$(printf 'fw' | sha256sum | cut -c1-64)
for i in $(seq -w 1 200); do
  sn=SN-$i
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -addext basicConstraints=critical,CA:FALSE -keyout /dev/null \
    -subj "/CN=device/serialNumber=$sn" -days 30 -out "dev.crt" 2>/dev/null || fail "openssl req $sn"
  "$ZTM" station record --queue "$Q" --bootstrap-cert dev.crt --serial "$sn" --product sensor \
    --order WO-1 --hw-rev B1 --mac "02:00:5e:00:0${i:0:1}:${i:1:2}" --fw-version 1.0 \
    --fw-sha256 "$FW" --test pass 2>err || fail "record $sn: $(cat err)"
done
[ "$(ls "$Q/records" | wc -l)" = 200 ] || fail "queue: $(ls "$Q/records" | wc -l) records"
ok "200 records queued"

SYNC=("$ZTM" station sync --queue "$Q" --cert line-1.crt --key "file:$T/line-1.key"
  --key-pass-file line-1.pass)

# One batch of all 200 (the client told it may be 16 MiB): over the server's 128 KiB.
"${SYNC[@]}" --max-bytes 16777216 2>err && fail "a batch over max_batch_bytes was accepted"
grep -q '(413)' err || fail "expected 413: $(cat err)"
B=$(ls "$Q"/batches/*.cms)
SIZE=$(stat -c %s "$B")
[ "$SIZE" -gt 131072 ] || fail "the batch is only $SIZE bytes"
[ "$(db 'SELECT count(*) FROM records')/$(db 'SELECT count(*) FROM record_batches')" = 0/0 ] ||
  fail "a refused batch left rows"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")" = 0 ] || fail "quota taken"
ok "a batch of $SIZE bytes (over max_batch_bytes 131072): 413, nothing stored, batch kept"
# The operator drops the batch the server will never take; the records are still queued.
rm -f "$Q"/batches/*

# A record whose batch alone is over --max-bytes: refused before anything is signed or sent.
"${SYNC[@]}" --max-bytes 1024 2>err && fail "sync with --max-bytes 1024 succeeded"
grep -q 'over --max-bytes 1024' err || fail "--max-bytes 1024: $(cat err)"
[ -z "$(ls "$Q/batches")" ] || fail "a batch over --max-bytes was written: $(ls "$Q/batches")"
ok "a record that fits no batch of --max-bytes: refused by the station, nothing written"

# Split to fit: every batch within 128 KiB, the first over 64 KiB (max_body_bytes).
"${SYNC[@]}" --max-bytes 131072 2>err || fail "sync: $(cat err)"
N=$(grep -c 'HTTP 201' err)
[ "$N" -ge 2 ] || fail "expected at least two batches: $(cat err)"
for f in "$Q"/sent/*/batch.cms; do
  [ "$(stat -c %s "$f")" -le 131072 ] || fail "$f is $(stat -c %s "$f") bytes"
done
BIG=$(for f in "$Q"/sent/*/batch.cms; do stat -c %s "$f"; done | sort -n | tail -1)
[ "$BIG" -gt 65536 ] || fail "no batch over 64 KiB (largest $BIG)"
[ "$(db 'SELECT count(*) FROM records')/$(db 'SELECT count(*) FROM record_batches')" = "200/$N" ] ||
  fail "stored: $(db 'SELECT count(*) FROM records') records, $(db 'SELECT count(*) FROM record_batches') batches"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-1'")" = 200 ] || fail "quota count"
[ -z "$(ls "$Q/records")" ] || fail "records left in the queue"
ok "--max-bytes 131072: $N batches (largest $BIG bytes, over max_body_bytes), 200 records stored"

# Any other route keeps max_body_bytes: 70,000 bytes to the products API is 413.
openssl pkey -in "$T/ceremony/operators/admin.key" -passin "file:$ZTM_KEY_PASS_FILE" \
  -out admin.plain.key 2>/dev/null || fail "decrypting the admin key"
head -c 70000 /dev/zero | tr '\0' ' ' >big.json
CODE=$(curl -s --cacert "$ZTM_CA" --cert "$ZTM_CERT" --key admin.plain.key \
  -H 'Content-Type: application/json' --data-binary @big.json -o reply.json -w '%{http_code}' \
  "$ZTM_SERVER/api/v1/products" || true)
[ "$CODE" = 413 ] || fail "70,000 bytes to /api/v1/products: $CODE $(cat reply.json)"
ok "70,000 bytes to /api/v1/products: 413 (max_body_bytes)"

echo "all record batch cap checks passed"
