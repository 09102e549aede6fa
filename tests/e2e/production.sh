#!/usr/bin/env bash
# The production plan against a real ztmd: products and work orders through
# `ztm product|order`, as a planner and as an auditor, with the refusals a
# user meets (unknown factory or product, quota 0, bad window, wrong role),
# each leaving the store unchanged.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077

# rows: products, orders and closed orders, for "nothing changed".
rows() { db "SELECT (SELECT count(*) FROM products) || ':' || (SELECT count(*) FROM work_orders) || ':' || (SELECT count(*) FROM work_orders WHERE state = 'closed')"; }

"$ZTM" factory add --name plant-1 >/dev/null 2>&1 || fail "factory add"

# Two operators with their own certificates: a planner and an auditor.
enroll_operator() {
  "$ZTM" operator add --name "$1" --role "$2" >"$1.code" 2>/dev/null || fail "operator add $1"
  printf '%s-key-passphrase\n' "$1" >"$1.pass"
  "$ZTM" operator enroll --name "$1" --code-file "$1.code" --key "file:$T/$1.key" \
    --key-pass-file "$1.pass" --out "$1.crt" 2>err || fail "operator enroll $1: $(cat err)"
}
enroll_operator pat planner
enroll_operator aud auditor
as() { local who=$1; shift; ZTM_CERT=$T/$who.crt ZTM_KEY=file:$T/$who.key ZTM_KEY_PASS_FILE=$T/$who.pass "$ZTM" "$@"; }

as pat product add --name sensor-v1 --class sensor --hw-type 1.3.6.1.4.1.99999.1 \
  --key-types p256,ed25519 --require-fw-hash >product.json 2>err || fail "product add: $(cat err)"
grep -q '"name": "sensor-v1"' product.json || fail "product reply: $(cat product.json)"
as aud product show --name sensor-v1 >show.json 2>err || fail "auditor product show: $(cat err)"
grep -q '"require_fw_hash": true' show.json || fail "product show: $(cat show.json)"
grep -q '"allow_injected": false' show.json || fail "product show: $(cat show.json)"
grep -q '"ed25519"' show.json && grep -q '"p256"' show.json || fail "key types: $(cat show.json)"
grep -q '"lifetime_days": 3650' show.json || fail "default lifetime: $(cat show.json)"
[ "$(db "SELECT key_kinds FROM products WHERE name = 'sensor-v1'")" = 5 ] || fail "key_kinds bitmask"
ok "planner adds a product; auditor reads it back"

now=$(date +%s)
as pat order add --name wo-1 --product sensor-v1 --factory plant-1 --quota 500 \
  --not-after 2099-12-31T00:00:00Z >order.json 2>err || fail "order add: $(cat err)"
grep -q '"state": "open"' order.json || fail "order reply: $(cat order.json)"
grep -q '"not_after": 4102358400' order.json || fail "RFC 3339 window: $(cat order.json)"
nb=$(db "SELECT not_before FROM work_orders WHERE name = 'wo-1'")
[ "$nb" -ge "$now" ] && [ "$nb" -le $((now + 60)) ] || fail "not_before defaults to now ($nb)"
as pat order add --name wo-2 --product sensor-v1 --factory plant-1 --quota 10 \
  --not-before "$now" --not-after $((now + 3600)) >/dev/null 2>err || fail "order add (Unix seconds): $(cat err)"
as aud order show --name wo-1 >show.json 2>err || fail "auditor order show: $(cat err)"
grep -q '"quota": 500' show.json && grep -q '"recorded": 0' show.json && grep -q '"registered": 0' show.json ||
  fail "order show: $(cat show.json)"
grep -q '"factory": "plant-1"' show.json && grep -q '"product": "sensor-v1"' show.json || fail "order names"
ok "planner adds orders (RFC 3339 and Unix seconds windows); auditor reads them"

# Refusals: each with its status, each leaving the tables as they were.
before=$(rows)
refuse() { # refuse STATUS WHAT CMD...
  local want=$1 what=$2; shift 2
  "$@" >/dev/null 2>err && fail "$what accepted"
  grep -q "$want" err || fail "$what: want $want, got $(cat err)"
  [ "$(rows)" = "$before" ] || fail "$what changed the store"
}
refuse 404 "unknown factory" as pat order add --name wo-x --product sensor-v1 --factory nowhere --quota 5 --not-after 2099-01-01T00:00:00Z
refuse 404 "unknown product" as pat order add --name wo-x --product nothing --factory plant-1 --quota 5 --not-after 2099-01-01T00:00:00Z
refuse 400 "quota 0" as pat order add --name wo-x --product sensor-v1 --factory plant-1 --quota 0 --not-after 2099-01-01T00:00:00Z
refuse 400 "quota 10^9+1" as pat order add --name wo-x --product sensor-v1 --factory plant-1 --quota 1000000001 --not-after 2099-01-01T00:00:00Z
refuse 400 "window reversed" as pat order add --name wo-x --product sensor-v1 --factory plant-1 --quota 5 --not-before 2099-01-02T00:00:00Z --not-after 2099-01-01T00:00:00Z
refuse 400 "February 30" as pat order add --name wo-x --product sensor-v1 --factory plant-1 --quota 5 --not-after 2099-02-30T00:00:00Z
refuse 400 "time with offset" as pat order add --name wo-x --product sensor-v1 --factory plant-1 --quota 5 --not-after 2099-01-01T00:00:00+01:00
refuse 400 "time as words" as pat order add --name wo-x --product sensor-v1 --factory plant-1 --quota 5 --not-after tomorrow
refuse 409 "order name taken" as pat order add --name wo-1 --product sensor-v1 --factory plant-1 --quota 5 --not-after 2099-01-01T00:00:00Z
refuse 409 "product name taken" as pat product add --name sensor-v1 --class sensor --hw-type 1.2.3
refuse 400 "bad OID" as pat product add --name p2 --class sensor --hw-type 1.2.x
refuse 400 "unknown key type" as pat product add --name p2 --class sensor --hw-type 1.2.3 --key-types p256,dsa
refuse 400 "lifetime 0" as pat product add --name p2 --class sensor --hw-type 1.2.3 --lifetime-days 0
refuse 403 "auditor adds a product" as aud product add --name p2 --class sensor --hw-type 1.2.3
refuse 403 "auditor adds an order" as aud order add --name wo-x --product sensor-v1 --factory plant-1 --quota 5 --not-after 2099-01-01T00:00:00Z
refuse 403 "auditor closes an order" as aud order close --name wo-1
refuse 404 "unknown order" as aud order show --name nope
refuse 404 "unknown product" as aud product show --name nope
ok "refusals: unknown factory/product (404), quota, window, OID, key type (400), taken names (409), auditor writes (403); store unchanged"

# The raw API: unknown fields and wrong types are refused too.
api() { curl -s -o reply.json -w '%{http_code}' --cacert "$ZTM_CA" --cert "$T/pat.crt" \
  --key "$T/pat.key" --pass "$(cat "$T/pat.pass")" -H 'Content-Type: application/json' "$@"; }
[ "$(api -d '{"name":"wo-y","product":"sensor-v1","factory":"plant-1","quota":5,"not_after":4102358400,"qouta":9}' \
  "$ZTM_SERVER/api/v1/orders")" = 400 ] || fail "unknown field: $(cat reply.json)"
[ "$(api -d '{"name":"wo-y","product":"sensor-v1","factory":"plant-1","quota":"5","not_after":4102358400}' \
  "$ZTM_SERVER/api/v1/orders")" = 400 ] || fail "quota as string: $(cat reply.json)"
[ "$(api -d '{"name":"p3","device_class":"x","hw_type_oid":"1.2.3","allow_injected":"yes"}' \
  "$ZTM_SERVER/api/v1/products")" = 400 ] || fail "flag as string: $(cat reply.json)"
[ "$(rows)" = "$before" ] || fail "raw refusals changed the store"
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ZTM_CA" "$ZTM_SERVER/api/v1/orders/wo-1")" = 401 ] ||
  fail "anonymous order read"
ok "raw API: unknown field, wrong types (400), no certificate (401)"

as pat order close --name wo-2 >close.json 2>err || fail "order close: $(cat err)"
grep -q '"state": "closed"' close.json || fail "close reply: $(cat close.json)"
closed_at=$(db "SELECT closed_at FROM work_orders WHERE name = 'wo-2'")
sleep 1
as pat order close --name wo-2 >/dev/null 2>err || fail "closing again: $(cat err)"
[ "$(db "SELECT closed_at FROM work_orders WHERE name = 'wo-2'")" = "$closed_at" ] || fail "closing again moved closed_at"
as aud order show --name wo-2 | matches '"state": "closed"' || fail "auditor sees the order closed"
as pat order close --name nope >/dev/null 2>err && fail "closing an unknown order"
grep -q 404 err || fail "close unknown: $(cat err)"
ok "planner closes an order (again: same closing time); unknown order 404"

for a in product.add order.add order.close; do
  [ "$(db "SELECT count(*) FROM audit WHERE action = '$a' AND actor = 'operator:pat'")" -ge 1 ] || fail "no audit of $a"
done
[ "$(db "SELECT count(*) FROM audit WHERE actor = 'operator:aud' AND action IN ('product.add','order.add','order.close')")" = 0 ] ||
  fail "auditor write audited as done"
ok "writes audited with the planner"

rc=0; "$ZTM" order add --name x 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "usage exit status $rc"
rc=0; "$ZTM" product show 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "usage exit status $rc"
ok "misuse exits 2"
echo "production checks passed"
