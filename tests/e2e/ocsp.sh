#!/usr/bin/env bash
# OCSP (RFC 6960) at /ocsp with `openssl ocsp` as the relying party: good for
# an active device, revoked (reason and time) for a revoked station
# certificate and a revoked device, unknown for a foreign serial of our CA, unauthorized for
# another issuer; with and without nonce, SHA-1 and SHA-256 CertIDs, POST and
# GET; every response verifies against the delegated responder certificate,
# which ztmd issued from the CA itself; a status change shows in the
# pre-signed (nonce-less) answers of every worker as soon as the revoking
# request returned (the node's revocation notice; the poll is only for
# changes made elsewhere, see pg_two_nodes.sh).
# The same over the public plain-HTTP listener ([public] listen), which
# serves OCSP, CRLs and /healthz and nothing else (404), logs refusals but
# not successful answers, and reads pipelined and broken requests safely.
. "$(dirname "$0")/lib.sh"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077
ceremony_and_server --public-listen 127.0.0.1:0
C=$T/ceremony
# A long poll: every status change below must show at once, by the notice
# alone (docs/ocsp.md, "Convergence").
printf '\n[ocsp]\npoll_ms = 30000\nresponse_lifetime = 10m\n' >>"$T/srv/ztmd.conf"
start_ztmd

# --- responder certificates -----------------------------------------------------
[ "$(db "SELECT group_concat(ca, ',') FROM (SELECT ca FROM certificates WHERE profile = 'ocsp' AND state = 'issued' ORDER BY ca)")" = device,operator,station ] ||
  fail "responder certificates in the store: $(db "SELECT ca, state FROM certificates WHERE profile = 'ocsp'")"
for ca in device station operator; do
  db "SELECT hex(der) FROM certificates WHERE profile = 'ocsp' AND ca = '$ca'" | xxd -r -p |
    openssl x509 -inform DER -out "resp-$ca.pem" || fail "responder $ca certificate"
  openssl verify -CAfile "$C/root/root.crt" -untrusted "$C/ca/$ca.crt" -purpose ocsphelper "resp-$ca.pem" >/dev/null ||
    fail "responder $ca does not chain to its CA"
  openssl x509 -in "resp-$ca.pem" -noout -ext extendedKeyUsage,noCheck >ext.txt
  grep -q 'OCSP Signing' ext.txt && grep -q 'OCSP No Check' ext.txt || fail "responder $ca extensions: $(cat ext.txt)"
  [ "$(openssl x509 -in "resp-$ca.pem" -noout -issuer -nameopt RFC2253)" = "$(openssl x509 -in "$C/ca/$ca.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject/issuer/')" ] ||
    fail "responder $ca is not issued by the $ca CA"
done
life=$(( $(date -d "$(openssl x509 -in resp-device.pem -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) ))
[ "$life" -gt 3 ] && [ "$life" -le $((7 * 86400)) ] || fail "responder lifetime $life s"
ok "one responder per CA, issued by that CA, OCSPSigning + ocsp-nocheck, at most 7 days, recorded in the store"

# --- an active device -------------------------------------------------------------
"$DEV" init --dir d1 --serial SN-0001 --product widget >/dev/null || fail "init"
enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err || fail "product: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
"$ZTM" station record --queue q --bootstrap-cert d1/bootstrap.pem --serial SN-0001 --product widget \
  --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 \
  --fw-sha256 "$(printf fw | sha256sum | cut -c1-64)" --test pass 2>err || fail "record: $(cat err)"
"$ZTM" station sync --queue q --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  >/dev/null 2>err || fail "sync: $(cat err)"
"$DEV" enroll --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err || fail "enroll: $(cat err)"
"$DEV" activate --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err || fail "activate: $(cat err)"

# ask ISSUER CERT-OR-SERIAL VAFILE [openssl ocsp options...]: the status line.
ask() {
  local issuer=$1 what=$2 va=$3
  shift 3
  local sel=(-cert "$what")
  case $what in 0x*) sel=(-serial "$what") ;; esac
  # openssl wants the digest before -cert/-serial.
  openssl ocsp "$@" -issuer "$issuer" "${sel[@]}" -url "$ZTM_SERVER/ocsp" -CAfile "$ZTM_CA" \
    -VAfile "$va" >ask.out 2>ask.err || { cat ask.err >&2; return 1; }
  grep -q 'Response verify OK' ask.err || { cat ask.err >&2; return 1; }
  cat ask.out
}

for opt in "" -no_nonce -sha256 "-sha256 -no_nonce"; do
  # shellcheck disable=SC2086
  out=$(ask "$C/ca/device.crt" d1/device.pem resp-device.pem $opt) || fail "device $opt: not verified"
  grep -q '^d1/device.pem: good$' <<<"$out" || fail "device $opt: $out"
done
# Without -VAfile: the responder is found in the response and checked by
# openssl's own rules (issued by the certificate's CA, OCSPSigning).
openssl ocsp -issuer "$C/ca/device.crt" -cert d1/device.pem -url "$ZTM_SERVER/ocsp" -CAfile "$ZTM_CA" \
  >out 2>err || fail "chain verification: $(cat err)"
grep -q 'Response verify OK' err && grep -q ': good$' out || fail "chain verification: $(cat out err)"
ok "active device: good, verified against the responder certificate and through the chain; nonce and SHA-256 CertIDs"

# Unknown: a serial of our device CA that was never issued.
out=$(ask "$C/ca/device.crt" 0x5a00112233445566778899aabbccddeeff resp-device.pem -no_nonce) || fail "unknown: not verified"
grep -q ': unknown$' <<<"$out" || fail "foreign serial: $out"
# Unauthorized: a CertID of an issuer we do not answer for (the root).
openssl ocsp -issuer "$C/root/root.crt" -serial 0x5a01 -url "$ZTM_SERVER/ocsp" -CAfile "$ZTM_CA" >out 2>&1 || true
grep -q 'unauthorized (6)' out || fail "other issuer: $(cat out)"
ok "foreign serial of our CA: unknown (signed); another issuer: unauthorized"

# --- a revoked certificate: every worker says so once the revoke returned -----------
# Both workers pre-signed "good" for it; neither may answer from before the
# revocation, so no client is told "revoked" and then "good".
for _ in 1 2 3 4; do
  out=$(ask "$C/ca/station.crt" line-1.crt resp-station.pem -no_nonce) || fail "station before revoke"
  grep -q ': good$' <<<"$out" || fail "station before revoke: $out"
done
"$ZTM" station revoke --factory plant-1 --name line-1 >/dev/null 2>err || fail "station revoke: $(cat err)"
# Each worker signs its own copy of a pre-signed answer (ECDSA: different
# bytes), so the distinct answers count the workers that gave them.
rm -f after.*.der
for i in $(seq 24); do
  out=$(ask "$C/ca/station.crt" line-1.crt resp-station.pem -no_nonce -respout "after.$i.der") ||
    fail "station after revoke"
  grep -q ': revoked$' <<<"$out" || fail "answer $i after the revoke returned: $out"
  workers=$(for f in after.*.der; do sha256sum <"$f"; done | sort -u | wc -l)
  [ "$i" -ge 8 ] && [ "$workers" -ge 2 ] && break
done
[ "$workers" -ge 2 ] || fail "the answers after the revoke came from $workers worker(s), not both"
# openssl names reasons 0..8 only: privilegeWithdrawn (9) shows as its value.
out=$(ask "$C/ca/station.crt" line-1.crt resp-station.pem -no_nonce -resp_text) || fail "resp_text"
grep -q 'Revocation Reason: (UNKNOWN) (0x9)' <<<"$out" && grep -q 'Revocation Time:' <<<"$out" ||
  fail "revoked: $out"
rt=$(date -d "$(sed -n 's/^ *Revocation Time: //p' <<<"$out" | head -1)" +%s)
st=$(db "SELECT revoked_at FROM revocations WHERE serial = '$(openssl x509 -in line-1.crt -noout -serial | cut -d= -f2 | tr A-F a-f)'")
[ "$rt" = "$st" ] || fail "revocation time $rt, store says $st"
out=$(ask "$C/ca/station.crt" line-1.crt resp-station.pem) || fail "station with nonce"
grep -q ': revoked$' <<<"$out" || fail "station with nonce: $out"
ok "revoked station certificate: revoked, privilegeWithdrawn (9), the store's revocation time; every answer of both workers ($i asked) from the moment the revoke returned, with a 30 s poll"

# --- GET (RFC 6960 A.1, RFC 5019) ----------------------------------------------------
openssl ocsp -issuer "$C/ca/device.crt" -cert d1/device.pem -no_nonce -reqout req.der >/dev/null 2>&1 ||
  fail "reqout"
b64=$(base64 -w0 req.der)
enc=$(printf '%s' "$b64" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')
url=$(printf '%s' "$b64" | tr '+/' '-_' | tr -d '=')
for p in "$enc" "$url"; do
  curl -sf --cacert "$ZTM_CA" -D hdr -o resp.der "$ZTM_SERVER/ocsp/$p" || fail "GET /ocsp/$p"
  grep -qi '^content-type: application/ocsp-response' hdr || fail "GET content type: $(cat hdr)"
  grep -qi '^cache-control: max-age=[0-9]*, public' hdr || fail "GET cache headers: $(cat hdr)"
  openssl ocsp -respin resp.der -reqin req.der -issuer "$C/ca/device.crt" -cert d1/device.pem \
    -VAfile resp-device.pem >out 2>err || fail "GET response: $(cat err)"
  grep -q 'Response verify OK' err && grep -q ': good$' out || fail "GET response: $(cat out err)"
done
ok "GET with percent-encoded base64 and with base64url: good, verified, RFC 5019 cache headers"

# --- malformed requests: unsigned malformedRequest, audited, nothing else changed --
snapshot before
a0=$(db "SELECT count(*) FROM audit WHERE action = 'ocsp'")
printf 'not DER' >junk
curl -sf --cacert "$ZTM_CA" -H 'Content-Type: application/ocsp-request' --data-binary @junk \
  -o r1 "$ZTM_SERVER/ocsp" || fail "junk POST"
curl -sf --cacert "$ZTM_CA" -H 'Content-Type: text/plain' --data-binary @req.der -o r2 "$ZTM_SERVER/ocsp" ||
  fail "wrong content type"
curl -sf --cacert "$ZTM_CA" -o r3 "$ZTM_SERVER/ocsp/AAAA" || fail "junk GET"
for f in r1 r2 r3; do
  [ "$(xxd -p "$f")" = 30030a0101 ] || fail "$f: $(xxd -p "$f")"
done
[ "$(db "SELECT count(*) FROM audit WHERE action = 'ocsp'")" = $((a0 + 3)) ] || fail "refusals not audited"
same_as before
ok "malformed requests: malformedRequest (unsigned), audited, store unchanged"

# --- the public plain-HTTP listener --------------------------------------------------
[ -n "${ZTM_PUBLIC:-}" ] || fail "no public listener port"
# ask_plain: ask over http:// ($ZTM_PUBLIC), same checks as ask.
ask_plain() {
  local issuer=$1 what=$2 va=$3
  shift 3
  openssl ocsp "$@" -issuer "$issuer" -cert "$what" -url "$ZTM_PUBLIC/ocsp" -CAfile "$ZTM_CA" \
    -VAfile "$va" >ask.out 2>ask.err || { cat ask.err >&2; return 1; }
  grep -q 'Response verify OK' ask.err || { cat ask.err >&2; return 1; }
  cat ask.out
}
ok_before=$(grep -c 'event=request method=POST path="/ocsp" status=200' "$T/ztmd.log" || true)
for opt in "" -no_nonce "-sha256 -no_nonce"; do
  # shellcheck disable=SC2086
  out=$(ask_plain "$C/ca/device.crt" d1/device.pem resp-device.pem $opt) || fail "plain device $opt: not verified"
  grep -q '^d1/device.pem: good$' <<<"$out" || fail "plain device $opt: $out"
done
out=$(ask_plain "$C/ca/station.crt" line-1.crt resp-station.pem -no_nonce) || fail "plain station"
grep -q ': revoked$' <<<"$out" || fail "plain station: $out"
curl -sf -D hdr -o resp.der "$ZTM_PUBLIC/ocsp/$url" || fail "plain GET"
openssl ocsp -respin resp.der -reqin req.der -issuer "$C/ca/device.crt" -cert d1/device.pem \
  -VAfile resp-device.pem >out 2>err || fail "plain GET response: $(cat err)"
grep -q 'Response verify OK' err && grep -q ': good$' out || fail "plain GET response: $(cat out err)"
# RFC 5019 §6.2 caching headers: Last-Modified = thisUpdate, Expires = nextUpdate.
tu=$(openssl ocsp -respin resp.der -noverify -resp_text 2>/dev/null | sed -n 's/^ *This Update: //p' | head -1)
nu=$(openssl ocsp -respin resp.der -noverify -resp_text 2>/dev/null | sed -n 's/^ *Next Update: //p' | head -1)
lm=$(sed -n 's/^[Ll]ast-[Mm]odified: \(.*\)\r$/\1/p' hdr)
ex=$(sed -n 's/^[Ee]xpires: \(.*\)\r$/\1/p' hdr)
[ -n "$lm" ] && [ "$(date -d "$lm" +%s)" = "$(date -d "$tu" +%s)" ] || fail "Last-Modified '$lm', thisUpdate '$tu'"
[ -n "$ex" ] && [ "$(date -d "$ex" +%s)" = "$(date -d "$nu" +%s)" ] || fail "Expires '$ex', nextUpdate '$nu'"
grep -qi '^etag: "[0-9a-f]\{16\}"' hdr && grep -qi '^cache-control: max-age=[0-9]*, public, no-transform, must-revalidate' hdr &&
  grep -qi '^date: ' hdr && grep -qi '^content-type: application/ocsp-response' hdr || fail "plain GET headers: $(cat hdr)"
# Each worker signs its own copy: the ETag is the same exactly when the bytes are.
for _ in 1 2 3 4; do
  curl -sf -D hdr2 -o resp2.der "$ZTM_PUBLIC/ocsp/$url" || fail "plain GET again"
  if cmp -s resp.der resp2.der; then same=1; else same=0; fi
  if [ "$(grep -i '^etag' hdr)" = "$(grep -i '^etag' hdr2)" ]; then tags=1; else tags=0; fi
  [ "$same" = "$tags" ] || fail "ETag and bytes disagree: $(grep -i '^etag' hdr hdr2)"
done
ok "plain HTTP: openssl ocsp -url http:// good/revoked, verified; GET with Last-Modified, Expires, ETag, Cache-Control"

# Successful answers are counted, not logged; refusals are logged and audited.
[ "$(grep -c 'event=request method=POST path="/ocsp" status=200' "$T/ztmd.log" || true)" = "$ok_before" ] ||
  fail "successful OCSP answers were logged"
curl -sf "$ZTM_PUBLIC/healthz" | matches -x ok || fail "plain /healthz"
a0=$(db "SELECT count(*) FROM audit WHERE action = 'ocsp'")
curl -sf -H 'Content-Type: application/ocsp-request' --data-binary @junk -o r4 "$ZTM_PUBLIC/ocsp" || fail "plain junk POST"
[ "$(xxd -p r4)" = 30030a0101 ] || fail "plain junk: $(xxd -p r4)"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'ocsp'")" = $((a0 + 1)) ] || fail "plain refusal not audited"
grep -q 'path="/ocsp" status=200 .*listener=public' "$T/ztmd.log" || fail "plain refusal not logged"
ok "plain HTTP: successes not logged (metrics count them), refusals logged and audited"

# Nothing but OCSP, CRLs and /healthz: the API, EST and /metrics do not exist here.
for p in /api/v1/devices /api/v1/whoami /.well-known/est/cacerts /.well-known/est/simpleenroll /metrics /ui/ /; do
  code=$(curl -s -o body -w '%{http_code}' "$ZTM_PUBLIC$p")
  [ "$code" = 404 ] || fail "plain GET $p: $code $(cat body)"
  grep -q '"error":"not_found"' body || fail "plain GET $p body: $(cat body)"
done
for p in /.well-known/est/simpleenroll /.well-known/est/simplereenroll /api/v1/records /api/v1/devices/SN-0001/revoke; do
  code=$(curl -s -o body -w '%{http_code}' -H 'Content-Type: application/pkcs10' --data-binary @req.der "$ZTM_PUBLIC$p")
  [ "$code" = 404 ] || fail "plain POST $p: $code $(cat body)"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$ZTM_PUBLIC/ocsp") ; [ "$code" = 405 ] || fail "DELETE /ocsp: $code"
# The same paths still answer on the mTLS port (to the admin).
curl -sf --cacert "$ZTM_CA" --cert "$ZTM_CERT" --key "$T/ceremony/operators/admin.key" \
  --pass "$(cat "$ZTM_KEY_PASS_FILE")" -o /dev/null "$ZTM_SERVER/api/v1/devices" || true
ok "plain HTTP: /api, EST, /metrics, /ui are 404 (GET and POST); wrong method 405"

# Keep-alive and pipelining: two requests in one write, two answers in order;
# a broken head gets 400 and the connection is closed.
exec 3<>"/dev/tcp/127.0.0.1/${ZTM_PUBLIC##*:}"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nosuch HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n' >&3
timeout 5 cat <&3 >pipe.out || fail "pipelined: no close"
exec 3<&-
# (A JSON body ends without a newline: the next status line follows it.)
[ "$(grep -ao 'HTTP/1\.1 [0-9][0-9][0-9]' pipe.out | tr '\n' ,)" = "HTTP/1.1 200,HTTP/1.1 404,HTTP/1.1 200," ] ||
  fail "pipelined: $(cat pipe.out)"
raw() { # raw REQUEST -> the status line of the answer, after which ztmd closed
  exec 3<>"/dev/tcp/127.0.0.1/${ZTM_PUBLIC##*:}"
  printf "$1" >&3
  timeout 5 cat <&3 >raw.out || fail "no close after: $1"
  exec 3<&-
  head -1 raw.out | tr -d '\r'
}
[ "$(raw 'GET /healthz HTTP/1.1\nHost: x\n\n')" = "HTTP/1.1 400 Bad Request" ] || fail "bare LF: $(cat raw.out)"
[ "$(raw 'GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ] || fail "space before colon: $(cat raw.out)"
[ "$(raw 'POST /ocsp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')" = "HTTP/1.1 501 Not Implemented" ] ||
  fail "chunked: $(cat raw.out)"
[ "$(raw 'POST /ocsp HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n')" = "HTTP/1.1 413 Content Too Large" ] ||
  fail "over the body cap: $(cat raw.out)"
[ "$(raw "GET /healthz HTTP/1.1\r\nX: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n")" = "HTTP/1.1 431 Request Header Fields Too Large" ] ||
  fail "over the header cap: $(cat raw.out)"
grep -q 'event=refused status=501 listener=public' "$T/ztmd.log" || fail "head refusal not logged"
curl -sf "$ZTM_PUBLIC/healthz" >/dev/null || fail "listener gone after refusals"
ok "plain HTTP: keep-alive, pipelined answers in order; bare LF, bad field, chunked, over-cap body and head refused (400, 400, 501, 413, 431) and closed"

# --- a revoked device ------------------------------------------------------------------
"$ZTM" device revoke SN-0001 --reason keyCompromise >/dev/null 2>err || fail "device revoke: $(cat err)"
for i in 1 2 3 4 5 6; do
  out=$(ask "$C/ca/device.crt" d1/device.pem resp-device.pem -no_nonce -resp_text) || fail "device after revoke"
  grep -q ': revoked$' <<<"$out" && grep -q 'Revocation Reason: keyCompromise (0x1)' <<<"$out" ||
    fail "revoked device, answer $i: $out"
done
rt=$(date -d "$(sed -n 's/^ *Revocation Time: //p' <<<"$out" | head -1)" +%s)
st=$(db "SELECT revoked_at FROM revocations WHERE serial = '$(openssl x509 -in d1/device.pem -noout -serial | cut -d= -f2 | tr A-F a-f)'")
[ "$rt" = "$st" ] || fail "device revocation time $rt, store says $st"
ok "revoked device: revoked, keyCompromise (1), the store's revocation time"
