#!/usr/bin/env bash
# Registrations racing for a work order's quota, 64 at a time, each its own
# TLS connection with curl (ztmd with its default workers):
#  1. 64 devices built against an order of quota 24: the station's upload of
#     records 25..64 is refused (overbuild), then all 64 register at once:
#     exactly 24 certificates, 40 refused as unrecorded.
#  2. 64 devices recorded against an order of quota 64 of which 48 were
#     already registered elsewhere (set in the store): all 64 register at
#     once, exactly 16 get a certificate, 48 get 409 quota_exceeded, and the
#     order's count ends at its quota, never above.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077

enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-A --product widget --factory plant-1 --quota 24 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
"$ZTM" order add --name WO-B --product widget --factory plant-1 --quota 64 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
FW=$(printf 'fw' | sha256sum | cut -c1-64)
EE=(-addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth)

build() { # SERIAL ORDER QUEUE
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -subj "/CN=widget-$1/serialNumber=$1" -days 3650 "${EE[@]}" -out "$1.boot" 2>/dev/null ||
    fail "openssl req $1"
  openssl req -new -key "$1.key" -subj /CN=x -outform DER 2>/dev/null | base64 -w 64 >"$1.csr"
  "$ZTM" station record --queue "$3" --bootstrap-cert "$1.boot" --serial "$1" --product widget \
    --order "$2" --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 --fw-sha256 "$FW" --test pass \
    2>err || fail "record $1: $(cat err)"
}
sync_queue() { # QUEUE
  "$ZTM" station sync --queue "$1" --cert line-1.crt --key "file:$T/line-1.key" \
    --key-pass-file line-1.pass >/dev/null 2>err
}
# race PREFIX: 64 registrations at once; prints "<200s> <403s> <409s> <other>".
race() {
  local pids=() i
  for i in $(seq -w 1 64); do
    curl -s -o "$1-$i.body" -w '%{http_code}' --cacert "$ZTM_CA" --cert "$1-$i.boot" --key "$1-$i.key" \
      -H 'Content-Type: application/pkcs10' --data-binary "@$1-$i.csr" \
      "$ZTM_SERVER/.well-known/est/device/simpleenroll" >"$1-$i.code" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  tally_codes "$1" 64
}

# --- 1: quota 24, 64 built ----------------------------------------------------------
for i in $(seq -w 1 24); do build "A-$i" WO-A qa; done
sync_queue qa || fail "sync of 24 records: $(cat err)"
for i in $(seq -w 25 64); do build "A-$i" WO-A qa2; done
sync_queue qa2 && fail "records past the quota were accepted"
grep -q '409' err || fail "overbuild: $(cat err)"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-A'")" = 24 ] || fail "recorded count"
[ "$(db "SELECT count(*) FROM alerts WHERE kind = 'overbuild'")" -ge 1 ] || fail "no overbuild alert"
ok "order of quota 24: 24 records stored, the 40 more refused at upload (overbuild alert)"
read -r n200 n403 n409 other < <(race A)
[ "$n200 $n403 $n409 $other" = "24 40 0 0" ] || fail "race A: 200/403/409/other = $n200/$n403/$n409/$other"
[ "$(issued)" = 24 ] && [ "$(db "SELECT registered FROM work_orders WHERE name = 'WO-A'")" = 24 ] ||
  fail "race A: $(issued) certificates issued"
[ "$(grep -l '"error":"unrecorded"' A-*.body | wc -l)" = 40 ] || fail "race A: refusals are not 'unrecorded'"
ok "64 parallel registrations, quota 24: exactly 24 certificates, 40 refused unrecorded"

# --- 2: the registration quota itself under the race -----------------------------------
for i in $(seq -w 1 64); do build "B-$i" WO-B qb; done
sync_queue qb || fail "sync of 64 records: $(cat err)"
# 48 of the order's devices registered already (another line, another day).
db "UPDATE work_orders SET registered = 48 WHERE name = 'WO-B'"
read -r n200 n403 n409 other < <(race B)
[ "$n200 $n403 $n409 $other" = "16 0 48 0" ] || fail "race B: 200/403/409/other = $n200/$n403/$n409/$other"
[ "$(issued)" = 40 ] || fail "race B: $(issued) certificates issued in all, want 24 + 16"
[ "$(db "SELECT registered FROM work_orders WHERE name = 'WO-B'")" = 64 ] || fail "race B: registered count"
[ "$(db "SELECT count(*) FROM devices d JOIN records r ON r.id = d.record_id
        JOIN work_orders o ON o.id = r.order_id WHERE o.name = 'WO-B'")" = 16 ] || fail "race B: device rows"
[ "$(grep -l '"error":"quota_exceeded"' B-*.body | wc -l)" = 48 ] || fail "race B: refusals are not quota_exceeded"
[ "$(db "SELECT count(*) FROM certificates WHERE state = 'reserved'")" = 0 ] || fail "reservations left behind"
ok "64 parallel registrations for 16 remaining: exactly 16 certificates, 48 refused 409 quota_exceeded"
