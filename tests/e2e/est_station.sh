#!/usr/bin/env bash
# A station enrolls with nothing but curl and openssl (RFC 7030 simpleenroll
# with a one-time code), then every refusal the platform issue lists, each
# leaving the store unchanged.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
S=$ZTM_SERVER
ROOT=$T/ceremony/root/root.crt
cd "$T"

"$ZTM" factory add --name acme-shenzhen >/dev/null 2>&1 || fail "factory add"
"$ZTM" station add --factory acme-shenzhen --name line-1 >code 2>/dev/null || fail "station add"
CODE=$(cat code)
[ ${#CODE} -ge 32 ] || fail "enrollment code looks too short: '$CODE'"
[ "$(db "SELECT state FROM stations WHERE name='line-1'")" = pending ] || fail "station not pending"
db "SELECT count(*) FROM enroll_codes WHERE hex(hash) LIKE '%$(printf %s "$CODE" | tr a-z A-Z | cut -c1-8)%'" | matches '^0$' ||
  fail "the code itself appears in the store"
ok "admin created factory and station, code printed once"

# --- the independent client: curl + openssl only --------------------------
curl -sf --cacert "$ROOT" "$S/.well-known/est/cacerts" -o cacerts.b64 -D cacerts.hdr || fail "GET cacerts"
grep -qi '^content-type: application/pkcs7-mime' cacerts.hdr || fail "cacerts content type"
grep -qi '^content-transfer-encoding: base64' cacerts.hdr || fail "cacerts transfer encoding"
base64 -d cacerts.b64 >cacerts.p7 || fail "cacerts not base64"
openssl pkcs7 -inform DER -in cacerts.p7 -print_certs -out cacerts.pem || fail "cacerts not PKCS#7"
[ "$(grep -c 'BEGIN CERTIFICATE' cacerts.pem)" -ge 3 ] || fail "cacerts holds too few certificates"
ok "cacerts: certs-only PKCS#7, base64"

curl -sf --cacert "$ROOT" "$S/.well-known/est/csrattrs" -o csrattrs.b64 || fail "GET csrattrs"
base64 -d csrattrs.b64 | openssl asn1parse -inform DER | matches prime256v1 || fail "csrattrs"
ok "csrattrs asks for P-256 / ecdsa-with-SHA256"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out station.key 2>/dev/null
openssl req -new -key station.key -subj "/CN=line-1" -outform DER -out station.csr
base64 -w 64 station.csr >station.csr.b64
enroll() { # enroll USER:CODE CSR-B64-FILE OUT -> prints HTTP status
  curl -s --cacert "$ROOT" -u "$1" -H 'Content-Type: application/pkcs10' \
    --data-binary @"$2" -o "$3" -w '%{http_code}' "$S/.well-known/est/simpleenroll"
}
snapshot before
st=$(enroll "line-1:$CODE" station.csr.b64 station.p7.b64)
[ "$st" = 200 ] || fail "simpleenroll returned $st: $(cat station.p7.b64)"
base64 -d station.p7.b64 | openssl pkcs7 -inform DER -print_certs -out station.pem || fail "reply not PKCS#7"
openssl verify -CAfile "$ROOT" -untrusted cacerts.pem station.pem | matches ': OK' || fail "openssl verify"
openssl x509 -in station.pem -noout -subject | matches 'CN *= *line-1' || fail "subject CN"
openssl x509 -in station.pem -noout -subject | matches 'OU *= *acme-shenzhen' || fail "subject OU"
openssl x509 -in station.pem -noout -ext extendedKeyUsage | matches 'TLS Web Client Authentication' || fail "EKU"
[ "$(openssl x509 -in station.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" = \
  "$(openssl pkey -in station.key -pubout -outform DER | sha256sum)" ] || fail "certificate is not for our key"
SERIAL=$(openssl x509 -in station.pem -noout -serial | cut -d= -f2 | tr A-F a-f)
[ ${#SERIAL} -eq 34 ] || fail "serial is not 17 octets: $SERIAL"
case $SERIAL in 5a*) ;; *) fail "serial has no fixed positive prefix: $SERIAL" ;; esac
[ "$(db "SELECT hex(der) FROM certificates WHERE serial='$SERIAL' AND state='issued'")" = \
  "$(openssl x509 -in station.pem -outform DER | xxd -p | tr -d '\n' | tr a-f A-F)" ] || fail "stored bytes differ"
[ "$(db "SELECT state || ',' || cert_serial FROM stations WHERE name='line-1'")" = "enrolled,$SERIAL" ] || fail "station state"
ok "station enrolled with curl + openssl; openssl verify OK; store holds identical bytes"

# I3: a retry with the same code and key after a lost response: same certificate.
st=$(enroll "line-1:$CODE" station.csr.b64 retry.p7.b64)
[ "$st" = 200 ] || fail "retry returned $st"
cmp -s station.p7.b64 retry.p7.b64 || fail "retry returned a different certificate"
[ "$(db "SELECT count(*) FROM certificates WHERE owner_kind='station'")" = 1 ] || fail "retry issued a second certificate"
ok "retry with the same code and key returns the same certificate"

# The station uses its certificate: re-enrollment over mTLS (RFC 7030 §4.2.2).
openssl req -new -key station.key -subj "/CN=line-1" -outform DER | base64 >reenroll.b64
st=$(curl -s --cacert "$ROOT" --cert station.pem --key station.key -H 'Content-Type: application/pkcs10' \
  --data-binary @reenroll.b64 -o renewed.b64 -w '%{http_code}' "$S/.well-known/est/simplereenroll")
[ "$st" = 200 ] || fail "simplereenroll returned $st: $(cat renewed.b64)"
base64 -d renewed.b64 | openssl pkcs7 -inform DER -print_certs -out renewed.pem
openssl verify -CAfile "$ROOT" -untrusted cacerts.pem renewed.pem | matches ': OK' || fail "renewed cert"
NEWSERIAL=$(openssl x509 -in renewed.pem -noout -serial | cut -d= -f2 | tr A-F a-f)
[ "$NEWSERIAL" != "$SERIAL" ] || fail "renewal kept the serial"
[ "$(db "SELECT cert_serial FROM stations WHERE name='line-1'")" = "$NEWSERIAL" ] || fail "station not moved to the new cert"
ok "simplereenroll with the station certificate"

# --- refusals: each leaves certificates, codes and stations unchanged -------
snapshot ref
audit0=$(db "SELECT count(*) FROM audit")

"$ZTM" station add --factory acme-shenzhen --name line-2 >code2 2>/dev/null || fail "station add line-2"
CODE2=$(cat code2)
snapshot ref

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key 2>/dev/null
openssl req -new -key other.key -subj "/CN=line-2" -outform DER | base64 >other.csr.b64

check_refused() { # NAME WANT-STATUS GOT-STATUS
  [ "$3" = "$2" ] || fail "$1: expected $2, got $3"
  same_as ref
  ok "refused ($2): $1; store unchanged"
}

check_refused "reused code (another key)" 401 "$(enroll "line-1:$CODE" other.csr.b64 out)"
check_refused "wrong code" 401 "$(enroll "line-2:0000-1111-2222-3333-4444-5555-6666-7777" other.csr.b64 out)"
check_refused "no code" 401 "$(curl -s --cacert "$ROOT" -H 'Content-Type: application/pkcs10' --data-binary @other.csr.b64 -o out -w '%{http_code}' "$S/.well-known/est/simpleenroll")"

# CSR whose signature is invalid: flip the last bit of the signature.
openssl req -new -key other.key -subj "/CN=line-2" -outform DER -out good2.csr
cp good2.csr bad.csr; sz=$(stat -c %s bad.csr)
last=$(xxd -s $((sz - 1)) -l 1 -p bad.csr); flip=$(printf '%02x' $((0x$last ^ 0x01)))
printf "\\x$flip" | dd of=bad.csr bs=1 seek=$((sz - 1)) conv=notrunc 2>/dev/null
base64 bad.csr >bad.csr.b64
check_refused "CSR with an invalid signature" 400 "$(enroll "line-2:$CODE2" bad.csr.b64 out)"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out weak.key 2>/dev/null
openssl req -new -key weak.key -subj "/CN=line-2" -outform DER | base64 >weak.b64
check_refused "RSA-1024 key" 400 "$(enroll "line-2:$CODE2" weak.b64 out)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k1.key 2>/dev/null
openssl req -new -key k1.key -subj "/CN=line-2" -outform DER | base64 >k1.b64
check_refused "secp256k1 key (not allowed)" 400 "$(enroll "line-2:$CODE2" k1.b64 out)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:explicit -out explicit.key 2>/dev/null
openssl req -new -key explicit.key -subj "/CN=line-2" -outform DER | base64 >explicit.b64
check_refused "explicit EC parameters" 400 "$(enroll "line-2:$CODE2" explicit.b64 out)"

printf 'this is not base64 !!!\n' >junk.b64
check_refused "malformed base64" 400 "$(enroll "line-2:$CODE2" junk.b64 out)"
head -c 300 /dev/urandom | base64 >junkder.b64
check_refused "malformed DER" 400 "$(enroll "line-2:$CODE2" junkder.b64 out)"
head -c $((200 * 1024)) /dev/zero | base64 >huge.b64
check_refused "body over the cap" 413 "$(enroll "line-2:$CODE2" huge.b64 out)"

# Expired code: age the code in the store (as if its TTL had passed).
db "UPDATE enroll_codes SET expires_at = 1 WHERE kind = 'station' AND used_at = 0"
snapshot ref
check_refused "expired code" 401 "$(enroll "line-2:$CODE2" other.csr.b64 out)"

audit1=$(db "SELECT count(*) FROM audit")
[ "$audit1" -ge $((audit0 + 9)) ] || fail "refusals were not audited ($audit0 -> $audit1)"
ok "every refusal is in the audit log"

# --- the admin API needs an operator certificate of our operator CA -------
st=$(curl -s --cacert "$ROOT" -H 'Content-Type: application/json' -d '{"name":"x"}' -o out -w '%{http_code}' "$S/api/v1/factories")
check_refused "admin API without a client certificate" 401 "$st"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout foreign-ca.key -out foreign-ca.crt \
  -subj "/CN=Foreign CA" -days 2 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout foreign.key -subj "/CN=admin" -out foreign.csr 2>/dev/null
openssl x509 -req -in foreign.csr -CA foreign-ca.crt -CAkey foreign-ca.key -CAcreateserial -days 1 -out foreign.crt 2>/dev/null
st=$(curl -s --cacert "$ROOT" --cert foreign.crt --key foreign.key -H 'Content-Type: application/json' \
  -d '{"name":"x"}' -o out -w '%{http_code}' "$S/api/v1/factories" || true)
case $st in 000|401|403) ;; *) fail "foreign-CA operator certificate got $st" ;; esac
same_as ref
ok "refused: operator certificate from a foreign CA (status $st); store unchanged"

# A station certificate is not an operator: the admin API says 403.
st=$(curl -s --cacert "$ROOT" --cert renewed.pem --key station.key -H 'Content-Type: application/json' \
  -d '{"name":"x"}' -o out -w '%{http_code}' "$S/api/v1/factories")
check_refused "station certificate on the admin API" 403 "$st"

# The superseded certificate: a retry of its re-enrollment (same CSR) gets
# the same new certificate back (I3); anything else is refused.
st=$(curl -s --cacert "$ROOT" --cert station.pem --key station.key -H 'Content-Type: application/pkcs10' \
  --data-binary @reenroll.b64 -o renewed2.b64 -w '%{http_code}' "$S/.well-known/est/simplereenroll")
[ "$st" = 200 ] || fail "re-enrollment retry with the superseded certificate got $st"
cmp -s renewed.b64 renewed2.b64 || fail "re-enrollment retry returned a different certificate"
same_as ref
ok "re-enrollment retry after a lost response returns the same certificate"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rekey.key 2>/dev/null
openssl req -new -key rekey.key -subj "/CN=line-1" -outform DER | base64 >rekey.b64
st=$(curl -s --cacert "$ROOT" --cert station.pem --key station.key -H 'Content-Type: application/pkcs10' \
  --data-binary @rekey.b64 -o out -w '%{http_code}' "$S/.well-known/est/simplereenroll")
check_refused "superseded station certificate asking for a new key" 401 "$st"
st=$(curl -s --cacert "$ROOT" --cert station.pem --key station.key -o out -w '%{http_code}' \
  "$S/api/v1/stations/acme-shenzhen/line-1")
check_refused "superseded certificate on any other endpoint" 401 "$st"

# A reservation left by a request that died: a fresh one means "in
# progress" (202, nothing consumed); one older than any request can live is
# given up and the enrollment goes through.
"$ZTM" station add --factory acme-shenzhen --name line-3 >code3 2>/dev/null || fail "station add line-3"
CODE3=$(cat code3)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out l3.key 2>/dev/null
openssl req -new -key l3.key -subj "/CN=line-3" -outform DER | base64 >l3.b64
spki=$(openssl pkey -in l3.key -pubout -outform DER | sha256sum | cut -c1-64)
idem=$({ printf code; printf %s "$CODE3" | openssl dgst -sha256 -binary; printf %s "$spki"; } | sha256sum | cut -c1-64)
sid=$(db "SELECT id FROM stations WHERE name='line-3'")
insert_reserved() { # SERIAL CREATED_AT
  db "INSERT INTO certificates (serial, ca, profile, subject, state, idem_key, spki_sha256, owner_kind, owner_id,
      not_before, not_after, created_at) VALUES ('$1', 'station', 'station', 'CN=line-3', 'reserved', '$idem',
      '$spki', 'station', $sid, 0, 0, $2)"
}
insert_reserved 5aee01 "$(date +%s)"
snapshot ref
st=$(curl -s --cacert "$ROOT" -u "line-3:$CODE3" -H 'Content-Type: application/pkcs10' --data-binary @l3.b64 \
  -D l3.hdr -o out -w '%{http_code}' "$S/.well-known/est/simpleenroll")
[ "$st" = 202 ] || fail "enrollment with a fresh reservation in flight got $st"
grep -qi '^retry-after: *[0-9]' l3.hdr || fail "202 without Retry-After"
same_as ref
ok "same enrollment in flight: 202 + Retry-After, nothing consumed"
# A reservation may belong to a live request for max(2 x [server] timeout,
# the 600 s reconciliation hold) + 60 s (ztmd_reservation_lifetime): with the
# default 30 s timeout, 660 s. 500 s old is still in flight; 700 s old is dead.
db "UPDATE certificates SET created_at = $(( $(date +%s) - 500 )) WHERE serial = '5aee01'"
st=$(curl -s --cacert "$ROOT" -u "line-3:$CODE3" -H 'Content-Type: application/pkcs10' --data-binary @l3.b64 \
  -o out -w '%{http_code}' "$S/.well-known/est/simpleenroll")
[ "$st" = 202 ] || fail "enrollment behind a 500 s old reservation got $st"
db "UPDATE certificates SET state = 'abandoned' WHERE serial = '5aee01'"
insert_reserved 5aee02 "$(( $(date +%s) - 700 ))"
st=$(enroll "line-3:$CODE3" l3.b64 l3.p7.b64)
[ "$st" = 200 ] || fail "enrollment behind a stale reservation got $st: $(cat l3.p7.b64)"
[ "$(db "SELECT state FROM certificates WHERE serial = '5aee02'")" = abandoned ] || fail "stale reservation not abandoned"
ok "a reservation older than any request is given up; the enrollment goes through"

echo "all EST station checks passed"
