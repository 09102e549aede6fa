#!/usr/bin/env bash
# kill -9 of ztmd (master and workers) while 150 recorded devices register
# at once (curl, 48 connections in parallel, each device its own bootstrap
# certificate). After the restart (DESIGN I4): every certificate a device
# received is in the store with the same bytes; every device then retries
# and gets exactly one certificate - the one it already had, if it had one
# (I3); the order's registration count equals the devices registered; no
# reservation is left and no device holds two certificates.
. "$(dirname "$0")/lib.sh"

N=150
ceremony_and_server
start_ztmd
cd "$T"
umask 077

enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 1000 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
FW=$(printf 'fw' | sha256sum | cut -c1-64)
mkdir d out out2
for i in $(seq -w 1 $N); do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "d/$i.key" \
    -subj "/CN=widget-SN-$i/serialNumber=SN-$i" -days 3650 -addext basicConstraints=critical,CA:FALSE \
    -out "d/$i.boot" 2>/dev/null || fail "openssl req $i"
  openssl req -new -key "d/$i.key" -subj /CN=x -outform DER 2>/dev/null | base64 -w 64 >"d/$i.csr"
  "$ZTM" station record --queue q --bootstrap-cert "d/$i.boot" --serial "SN-$i" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 --fw-sha256 "$FW" --test pass \
    2>err || fail "record $i: $(cat err)"
done
"$ZTM" station sync --queue q --max 40 --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  >/dev/null 2>err || fail "sync: $(cat err)"
ok "$N devices built and recorded"

mkcfg() { # OUTDIR: one curl transfer per device
  local i
  for i in $(seq -w 1 $N); do
    printf 'url = "%s/.well-known/est/device/simpleenroll"\ncacert = "%s"\ncert = "d/%s.boot"\nkey = "d/%s.key"\n' \
      "$ZTM_SERVER" "$ZTM_CA" "$i" "$i"
    printf 'header = "Content-Type: application/pkcs10"\ndata-binary = "@d/%s.csr"\noutput = "%s/%s.b64"\nwrite-out = "%%{http_code} %%{filename_effective}\\n"\nnext\n' \
      "$i" "$1" "$i"
  done
}
mkcfg out | sed '$d' >reg.cfg

curl -s --parallel --parallel-max 48 -K reg.cfg >statuses 2>curl1.err &
CURL=$!
for _ in $(seq 600); do
  [ "$(issued)" -ge $((N / 4)) ] && break
  sleep 0.05
done
kill -KILL -- "-$ZTMD_PID" 2>/dev/null || fail "kill -9 of the ztmd process group"
wait "$ZTMD_PID" 2>/dev/null || true
ZTMD_PID=
wait "$CURL" || true
got=$(grep -c '^200 ' statuses || true)
reserved=$(db "SELECT count(*) FROM certificates WHERE state = 'reserved'")
midway=$(db "SELECT count(*) FROM devices WHERE state = 'manufactured'")
ok "killed ztmd with -9: $got devices had a certificate, $reserved reservations in flight, $midway registrations half done"
[ "$got" -gt 0 ] && [ "$got" -lt "$N" ] || fail "the kill did not land mid-run ($got of $N)"

# Every certificate a device received is in the store, issued, same bytes.
while read -r code f; do
  [ "$code" = 200 ] || continue
  base64 -d "$f" | openssl pkcs7 -inform DER -print_certs 2>/dev/null | openssl x509 -outform DER -out c.der ||
    fail "unreadable reply $f"
  serial=$(openssl x509 -inform DER -in c.der -noout -serial | cut -d= -f2 | tr A-F a-f)
  [ "$(xxd -p c.der | tr -d '\n' | tr a-f A-F)" = "$(db "SELECT hex(der) FROM certificates WHERE serial = '$serial' AND state = 'issued'")" ] ||
    fail "a certificate device $f received is not in the store"
done <statuses
ok "every certificate a device received is in the store with the same bytes"

start_ztmd
[ "$(db "SELECT count(*) FROM certificates WHERE state = 'reserved'")" = 0 ] || fail "reservations after restart"
mkcfg out2 | sed '$d' >retry.cfg
curl -s --parallel --parallel-max 24 -K retry.cfg >statuses2 2>curl2.err || true
# A retry racing another's first attempt may be told 202: ask those again.
for _ in 1 2 3; do
  grep -q '^202 ' statuses2 || break
  sleep 1
  grep '^202 ' statuses2 | while read -r _ f; do
    i=$(basename "$f" .b64)
    printf '%s out2/%s.b64\n' "$(curl -s -o "out2/$i.b64" -w '%{http_code}' --cacert "$ZTM_CA" \
      --cert "d/$i.boot" --key "d/$i.key" -H 'Content-Type: application/pkcs10' \
      --data-binary "@d/$i.csr" "$ZTM_SERVER/.well-known/est/device/simpleenroll")" "$i"
  done >again
  grep -v '^202 ' statuses2 >s2 || true
  cat s2 again >statuses2
done
[ "$(grep -c '^200 ' statuses2)" = "$N" ] ||
  fail "retries: $(grep -vc '^200 ' statuses2) of $N without a certificate: $(grep -v '^200 ' statuses2 | head -3)"
while read -r code f; do
  [ "$code" = 200 ] || continue
  cmp -s "$f" "out2/$(basename "$f")" || fail "device $(basename "$f" .b64) got another certificate on retry"
done <statuses
ok "after the restart all $N devices registered (the $midway half-done ones resumed without new quota); those that had a certificate got the same bytes"

[ "$(issued)" = "$N" ] || fail "$(issued) device certificates for $N devices"
[ "$(db "SELECT count(*) FROM (SELECT owner_id FROM certificates WHERE ca = 'device' AND profile = 'device' AND state = 'issued'
        GROUP BY owner_id HAVING count(*) > 1)")" = 0 ] || fail "a device holds two certificates"
[ "$(db "SELECT registered FROM work_orders WHERE name = 'WO-1'")" = "$N" ] || fail "registration count"
[ "$(db "SELECT count(*) FROM devices WHERE state = 'provisioned'")" = "$N" ] || fail "devices not provisioned"
[ "$(db "SELECT count(*) FROM certificates WHERE state = 'reserved'")" = 0 ] || fail "reservations left"
ok "one certificate per device, registered = $N, every device provisioned, no reservation left"
