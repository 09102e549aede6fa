#!/usr/bin/env bash
# pg_two_nodes.sh - two ztmd nodes on one PostgreSQL (issue 7, point 2):
# the same configuration and CA files, the same database, their own ports,
# started at the same moment on an empty database. Checked through both:
#  1. the record quota: 8 station batches of 8 records for an order of quota
#     40, uploaded at once, half through each node: exactly 5 batches (40
#     records) stored; then 64 registrations at once, split over the nodes:
#     exactly 40 certificates, 24 refused as unrecorded;
#  2. the registration quota: 64 recorded devices of an order with 40
#     registrations left, 64 registrations at once over both nodes: exactly
#     40 certificates, 24 refused 409 quota_exceeded;
#  3. no serial twice (the certificates handed out and the store agree);
#  4. a retry on the other node returns the same certificate (DESIGN I3), and
#     16 parallel first attempts of one device split over both nodes give one
#     certificate (the others 202, in progress);
#  5. a clone registered on node B after its original on node A: refused,
#     alert, serial quarantined;
#  6. CRL numbers only grow when both nodes publish (revoke on A, revoke on
#     B), and both nodes serve a CRL listing both;
#  7. OCSP: after a revocation on A, node B's pre-signed answer says revoked
#     within the documented bound (docs/ocsp.md: [ocsp] poll_ms, 200 ms here).
export ZTM_E2E_STORE=pg
. "$(dirname "$0")/lib.sh"

ceremony_and_server --public-url http://ztm.test --public-listen 127.0.0.1:0
printf '\n[ocsp]\npoll_ms = 200\n' >>"$T/srv/ztmd.conf"
cd "$T"
umask 077
DEVICE_CA=$T/ceremony/ca/device.crt

# --- two nodes, started together on an empty database ------------------------------
start_ztmd_node a; PID_A=$NODE_PID
start_ztmd_node b; PID_B=$NODE_PID
wait_ztmd_node a "$PID_A"; A=$NODE_URL; PUB_A=$NODE_PUBLIC
wait_ztmd_node b "$PID_B"; B=$NODE_URL; PUB_B=$NODE_PUBLIC
[ "$A" != "$B" ] || fail "both nodes on one port"
export ZTM_SERVER=$A
[ "$(db "SELECT count(*) FROM operators WHERE role = 'admin'")" = 1 ] || fail "bootstrap admin not exactly once"
[ "$(db "SELECT max(version) FROM schema_version")" = "$(db "SELECT count(*) FROM schema_version")" ] ||
  fail "migrations applied twice"
[ "$(db "SELECT count(*) FROM (SELECT ca FROM certificates WHERE profile = 'ocsp' AND state = 'issued'
        GROUP BY ca HAVING count(*) > 1) x")" = 0 ] || fail "two OCSP responder certificates for one CA and period"
ok "nodes a ($A) and b ($B) started at once on one empty database: migrations, admin, responders once"

# --- people, stations, product, orders: set up through both nodes -------------------
enrolled_station plant-1 line-1
ZTM_SERVER=$B "$ZTM" station add --factory plant-1 --name line-2 >line-2.code 2>/dev/null || fail "station add line-2 on b"
printf 'station-key-passphrase\n' >line-2.pass
ZTM_SERVER=$B "$ZTM" station enroll --name line-2 --code-file line-2.code --key "file:$T/line-2.key" \
  --key-pass-file line-2.pass --out line-2.crt 2>err || fail "station enroll line-2 on b: $(cat err)"
ZTM_SERVER=$B "$ZTM" operator add --name sofia --role security-officer >sofia.code 2>/dev/null || fail "operator add"
printf 'operator-key-passphrase\n' >sofia.pass
"$ZTM" operator enroll --name sofia --code-file sofia.code --key "file:$T/sofia.key" \
  --key-pass-file sofia.pass --out sofia.crt 2>err || fail "operator enroll sofia: $(cat err)"
as_sofia() { ZTM_CERT=$T/sofia.crt ZTM_KEY=file:$T/sofia.key ZTM_KEY_PASS_FILE=$T/sofia.pass "$ZTM" "$@"; }
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product add: $(cat err)"
for o in "WO-R 40" "WO-G 64" "WO-X 10"; do
  set -- $o
  ZTM_SERVER=$B "$ZTM" order add --name "$1" --product widget --factory plant-1 --quota "$2" \
    --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add $1: $(cat err)"
done
ok "station line-1 through a, line-2 and a security officer through b; orders WO-R (40), WO-G (64), WO-X"

FW=$(printf 'fw' | sha256sum | cut -c1-64)
EE=(-addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth)
build() { # SERIAL ORDER QUEUE [extra record options]
  local sn=$1 order=$2 q=$3; shift 3
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$sn.key" \
    -subj "/CN=widget-$sn/serialNumber=$sn" -days 3650 "${EE[@]}" -out "$sn.boot" 2>/dev/null ||
    fail "openssl req $sn"
  openssl req -new -key "$sn.key" -subj /CN=x -outform DER 2>/dev/null | base64 -w 64 >"$sn.csr"
  "$ZTM" station record --queue "$q" --bootstrap-cert "$sn.boot" --serial "$sn" --product widget \
    --order "$order" --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 --fw-sha256 "$FW" --test pass \
    "$@" 2>err || fail "record $sn: $(cat err)"
}
sync_via() { # SERVER QUEUE STATION
  ZTM_SERVER=$1 "$ZTM" station sync --queue "$2" --cert "$3.crt" --key "file:$T/$3.key" \
    --key-pass-file "$3.pass" >/dev/null 2>"$2.err"
}
enroll_via() { # SERVER SERIAL OUTNAME: HTTP status on stdout, body in OUTNAME.body
  curl -s -o "$3.body" -w '%{http_code}' --cacert "$ZTM_CA" --cert "$2.boot" --key "$2.key" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$2.csr" \
    "$1/.well-known/est/device/simpleenroll"
}
node_of() { if [ $(( 10#$1 % 2 )) = 1 ]; then echo "$A"; else echo "$B"; fi; }
# race PREFIX: PREFIX-01..64 register at once, odd ones through a, even ones
# through b; prints "<200s> <403s> <409s> <other>".
race() {
  local pids=() i
  for i in $(seq -w 1 64); do
    enroll_via "$(node_of "$i")" "$1-$i" "$1-$i" >"$1-$i.code" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  tally_codes "$1" 64
}
pem_of() { base64 -d "$1.body" | openssl pkcs7 -inform DER -print_certs -out "$2" 2>/dev/null; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }

# --- 1: the record quota, contended through both nodes -----------------------------
for q in 1 2 3 4 5 6 7 8; do
  for k in 1 2 3 4 5 6 7 8; do build "R-$(printf %02d $(( (q - 1) * 8 + k )))" WO-R "qr$q"; done
done
pids=()
for q in 1 2 3 4; do sync_via "$A" "qr$q" line-1 & pids+=($!); done
for q in 5 6 7 8; do sync_via "$B" "qr$q" line-2 & pids+=($!); done
accepted=0
for p in "${pids[@]}"; do if wait "$p"; then accepted=$((accepted + 1)); fi; done
[ "$accepted" = 5 ] || fail "record quota: $accepted of 8 batches of 8 accepted for a quota of 40"
[ "$(db "SELECT recorded FROM work_orders WHERE name = 'WO-R'")" = 40 ] || fail "recorded count"
[ "$(db "SELECT count(*) FROM records r JOIN work_orders o ON o.id = r.order_id WHERE o.name = 'WO-R'")" = 40 ] ||
  fail "record rows"
[ "$(db "SELECT count(*) FROM alerts WHERE kind = 'overbuild'")" -ge 3 ] || fail "no overbuild alerts"
ok "8 batches of 8 uploaded at once through both nodes for quota 40: exactly 5 stored, 3 refused (overbuild)"

read -r n200 n403 n409 other < <(race R)
[ "$n200 $n403 $n409 $other" = "40 24 0 0" ] || fail "race R: 200/403/409/other = $n200/$n403/$n409/$other"
[ "$(issued)" = 40 ] && [ "$(db "SELECT registered FROM work_orders WHERE name = 'WO-R'")" = 40 ] ||
  fail "race R: $(issued) certificates issued"
[ "$(grep -l '"error":"unrecorded"' R-*.body | wc -l)" = 24 ] || fail "race R: refusals are not 'unrecorded'"
ok "64 registrations at once over both nodes, 40 recorded: exactly 40 certificates, 24 unrecorded"

# --- 2: the registration quota, contended through both nodes -----------------------
for i in $(seq -w 1 64); do build "G-$i" WO-G qg; done
sync_via "$B" qg line-2 || fail "sync of 64 records: $(cat qg.err)"
# 24 of the order's devices registered already (another line, another day).
db "UPDATE work_orders SET registered = 24 WHERE name = 'WO-G'" >/dev/null
read -r n200 n403 n409 other < <(race G)
[ "$n200 $n403 $n409 $other" = "40 0 24 0" ] || fail "race G: 200/403/409/other = $n200/$n403/$n409/$other"
[ "$(issued)" = 80 ] || fail "race G: $(issued) certificates issued in all, want 40 + 40"
[ "$(db "SELECT registered FROM work_orders WHERE name = 'WO-G'")" = 64 ] || fail "race G: registered count"
[ "$(grep -l '"error":"quota_exceeded"' G-*.body | wc -l)" = 24 ] || fail "race G: refusals are not quota_exceeded"
[ "$(db "SELECT count(*) FROM certificates WHERE state = 'reserved'")" = 0 ] || fail "reservations left behind"
ok "64 registrations at once over both nodes, 40 left on the order: exactly 40 certificates, 24 x 409"

# --- 3: serials -----------------------------------------------------------------------
: >served
for f in R-*.code G-*.code; do
  n=${f%.code}
  [ "$(cat "$f")" = 200 ] || continue
  pem_of "$n" "$n.crt" || fail "reply of $n is not PKCS#7"
  openssl verify -CAfile "$T/ceremony/root/root.crt" -untrusted "$DEVICE_CA" "$n.crt" >/dev/null 2>&1 ||
    fail "$n: certificate does not verify"
  serial_of "$n.crt" >>served
done
[ "$(wc -l <served)" = 80 ] && [ "$(sort -u served | wc -l)" = 80 ] || fail "duplicate serials among those served"
db "SELECT serial FROM certificates WHERE ca = 'device' AND profile = 'device' AND state = 'issued'" | sort >stored
sort served | diff - stored >/dev/null || fail "served and stored serials differ"
[ "$(db "SELECT count(*) - count(DISTINCT serial) FROM certificates")" = 0 ] || fail "duplicate serials in the store"
[ "$(db "SELECT count(*) FROM devices d JOIN certificates c ON c.serial = d.cert_serial
        WHERE c.state = 'issued'")" = 80 ] || fail "devices and certificates disagree"
ok "80 certificates served, 80 distinct serials, exactly the store's issued device certificates"

# --- 4: idempotent retries across nodes ----------------------------------------------
build X-1 WO-X qx; build X-2 WO-X qx
sync_via "$A" qx line-1 || fail "sync qx: $(cat qx.err)"
[ "$(enroll_via "$A" X-1 x1a)" = 200 ] || fail "X-1 on a: $(cat x1a.body)"
[ "$(enroll_via "$B" X-1 x1b)" = 200 ] && cmp -s x1a.body x1b.body ||
  fail "a retry on node b did not return node a's certificate"
[ "$(db "SELECT count(*) FROM certificates c JOIN devices d ON d.id = c.owner_id
        WHERE c.owner_kind = 'device' AND d.serial = 'X-1'")" = 1 ] || fail "X-1: more than one certificate"
ok "a retry on node b returns the certificate node a issued; nothing issued twice"
pids=()
for i in $(seq 16); do
  if [ $((i % 2)) = 1 ]; then n=$A; else n=$B; fi
  enroll_via "$n" X-2 "x2-$i" >"x2-$i.code" &
  pids+=($!)
done
wait "${pids[@]}" || true
first=
for i in $(seq 16); do
  c=$(cat "x2-$i.code")
  case $c in
    200) if [ -z "$first" ]; then first=x2-$i.body; else cmp -s "$first" "x2-$i.body" || fail "X-2 attempt $i got other bytes"; fi ;;
    202) ;;
    *) fail "X-2 attempt $i: HTTP $c $(cat "x2-$i.body")" ;;
  esac
done
[ "$(enroll_via "$B" X-2 x2-last)" = 200 ] || fail "X-2 after the race: $(cat x2-last.body)"
[ -z "$first" ] || cmp -s "$first" x2-last.body || fail "X-2: the last retry got other bytes"
[ "$(db "SELECT count(*) FROM certificates c JOIN devices d ON d.id = c.owner_id
        WHERE c.owner_kind = 'device' AND d.serial = 'X-2' AND c.state = 'issued'")" = 1 ] ||
  fail "X-2: not exactly one certificate"
[ "$(db "SELECT registered FROM work_orders WHERE name = 'WO-X'")" = 2 ] || fail "WO-X counted $(db "SELECT registered FROM work_orders WHERE name = 'WO-X'")"
ok "16 first attempts of one device over both nodes at once: one certificate, one registration; 200s identical"

# --- 5: a clone on node b after its original on node a --------------------------------
build C-1 WO-X qc
sync_via "$A" qc line-1 || fail "sync qc: $(cat qc.err)"
[ "$(enroll_via "$A" C-1 c1)" = 200 ] || fail "original C-1 on a: $(cat c1.body)"
mkdir clone
(cd clone && build C-1 WO-X "$T/qclone" --replace) || fail "clone record"
sync_via "$B" qclone line-2 || fail "sync the clone: $(cat qclone.err)"
al0=$(db "SELECT count(*) FROM alerts WHERE kind = 'clone'")
code=$(cd clone && enroll_via "$B" C-1 clone)
[ "$code" = 403 ] && grep -q '"error":"clone"' clone/clone.body || fail "clone on b: HTTP $code $(cat clone/clone.body)"
[ "$(db "SELECT count(*) FROM alerts WHERE kind = 'clone'")" = $((al0 + 1)) ] || fail "no clone alert"
[ "$(db "SELECT state FROM devices WHERE serial = 'C-1'")" = quarantined ] || fail "C-1 not quarantined"
[ "$(db "SELECT count(*) FROM certificates c JOIN devices d ON d.id = c.owner_id
        WHERE c.owner_kind = 'device' AND d.serial = 'C-1'")" = 1 ] || fail "the clone got a certificate"
ok "a clone registered on b after its original on a: 403 clone, alert, serial quarantined, nothing issued"

# --- 6: CRL numbers with both nodes publishing --------------------------------------
crl_path() { openssl x509 -in "$1" -noout -ext crlDistributionPoints | grep -o 'URI:.*' | cut -c5- |
  sed -E 's|^https?://[^/]+||'; }
# fetch_crl BASE-URL PATH OUT: DER -> OUT.pem; prints the CRL number (decimal).
fetch_crl() {
  curl -sf -o "$3.der" "$1$2" || return 1
  openssl crl -inform DER -in "$3.der" -out "$3.pem" 2>/dev/null || return 1
  local v; v=$(openssl crl -in "$3.pem" -noout -crlnumber | cut -d= -f2); v=${v#0x}
  echo $((16#$v))
}
lists() { openssl crl -in "$1.pem" -noout -text | matches -i "Serial Number: $2\$"; }
# wait_crl BASE PATH OUT MIN SERIAL...: until the CRL's number > MIN and it lists every SERIAL.
wait_crl() {
  local base=$1 path=$2 out=$3 min=$4 n s good; shift 4
  for _ in $(seq 150); do
    if n=$(fetch_crl "$base" "$path" "$out") && [ "$n" -gt "$min" ]; then
      good=1
      for s in "$@"; do lists "$out" "$s" || good=0; done
      [ "$good" = 1 ] && { echo "$n"; return 0; }
    fi
    sleep 0.1
  done
  return 1
}
# Two issued certificates from the R race, one revoked through each node.
mapfile -t got < <(ls R-*.crt | head -3)
[ "${#got[@]}" = 3 ] || fail "need 3 certificates from race R"
path=$(crl_path "${got[0]}")
[ "$path" = "$(crl_path "${got[1]}")" ] || fail "two R certificates in different CRL shards"
s0=$(serial_of "${got[0]}"); s1=$(serial_of "${got[1]}"); s2=$(serial_of "${got[2]}")
n0=$(wait_crl "$PUB_A" "$path" crl0 0) || fail "no CRL for $path"
dev0=$(db "SELECT serial FROM devices WHERE cert_serial = '$s0'")
dev1=$(db "SELECT serial FROM devices WHERE cert_serial = '$s1'")
ZTM_SERVER=$A as_sofia device revoke "$dev0" --reason keyCompromise >/dev/null 2>err || fail "revoke $dev0 on a: $(cat err)"
n1=$(wait_crl "$PUB_A" "$path" crl1 "$n0" "$s0") || fail "CRL from a does not list $s0 past number $n0"
ZTM_SERVER=$B as_sofia device revoke "$dev1" --reason superseded >/dev/null 2>err || fail "revoke $dev1 on b: $(cat err)"
n2=$(wait_crl "$PUB_B" "$path" crl2 "$n1" "$s0" "$s1") || fail "CRL from b does not list both past number $n1"
n2a=$(wait_crl "$PUB_A" "$path" crl2a "$n1" "$s0" "$s1") || fail "CRL from a does not list both past number $n1"
[ "$n0" -lt "$n1" ] && [ "$n1" -lt "$n2" ] && [ "$n2a" -ge "$n2" ] || fail "CRL numbers $n0 $n1 $n2 $n2a"
[ "$(db "SELECT count(*) FROM revocation_log WHERE serial IN ('$s0', '$s1')")" = 2 ] || fail "revocation log"
for f in crl2 crl2a; do
  openssl crl -in "$f.pem" -noout -CAfile "$DEVICE_CA" 2>&1 | matches 'verify OK' || fail "$f: CRL signature"
done
ok "revoked on a, then on b: CRL numbers $n0 < $n1 < $n2 (a serves $n2a), both nodes' CRLs list both"

# --- 7: OCSP convergence across nodes -------------------------------------------------
ocsp_status() { # BASE CERT: good / revoked / ... (node's pre-signed answer: no nonce)
  openssl ocsp -issuer "$DEVICE_CA" -cert "$2" -url "$1/ocsp" -no_nonce -noverify 2>/dev/null |
    sed -n "s|^$2: ||p"
}
st=$(ocsp_status "$PUB_B" "${got[2]}"); [ "$st" = good ] || fail "OCSP on b before: '$st'"
st=$(ocsp_status "$PUB_A" "${got[2]}"); [ "$st" = good ] || fail "OCSP on a before: '$st'"
dev2=$(db "SELECT serial FROM devices WHERE cert_serial = '$s2'")
t0=$(date +%s%N)
ZTM_SERVER=$A as_sofia device revoke "$dev2" --reason keyCompromise >/dev/null 2>err || fail "revoke $dev2 on a: $(cat err)"
for _ in $(seq 100); do
  st=$(ocsp_status "$PUB_B" "${got[2]}")
  [ "$st" = revoked ] && break
  sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$st" = revoked ] || fail "node b's OCSP answer still '$st' ${ms} ms after the revocation on a"
# The bound (docs/ocsp.md): poll_ms (200) plus signing that tick's changes;
# the margin is for a loaded 2-core machine and the CLI's own round trip
# (ZTM_OCSP_BOUND_MS: scripts/test --asan sets it for the sanitizer build).
bound=${ZTM_OCSP_BOUND_MS:-3000}
[ "$ms" -le "$bound" ] || fail "node b converged after ${ms} ms, bound $bound"
# Node a's other worker learns it the same way (each worker polls): the same bound.
for _ in $(seq $((bound / 50))); do
  st=$(ocsp_status "$PUB_A" "${got[2]}")
  [ "$st" = revoked ] && break
  sleep 0.05
done
[ "$st" = revoked ] || fail "node a's OCSP answer still '$st' after its own revocation (bound $bound ms)"
ok "revoked on a: node b's pre-signed OCSP answer says revoked after ${ms} ms (poll_ms 200)"

kill -0 "$PID_A" && kill -0 "$PID_B" || fail "a node died"
ok "both nodes alive"
