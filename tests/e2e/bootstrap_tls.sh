#!/usr/bin/env bash
# Self-signed device bootstrap certificates pass the TLS handshake, marked
# unverified, and authenticate nothing but device enrollment; a self-signed
# CA certificate and a certificate of a foreign CA still fail the handshake.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
ROOT=$T/ceremony/root/root.crt
cd "$T"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout boot.key -out boot.crt \
  -subj "/serialNumber=SN0001/CN=widget-SN0001" -days 7300 \
  -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth 2>/dev/null
code() { curl -s --cacert "$ROOT" -o body -w '%{http_code}' "$@" || true; }

[ "$(code --cert boot.crt --key boot.key "$ZTM_SERVER/healthz")" = 200 ] || fail "bootstrap certificate refused at the handshake"
ok "a self-signed bootstrap certificate passes the handshake"

[ "$(code --cert boot.crt --key boot.key -H 'Content-Type: application/json' -d '{"name":"x"}' \
  "$ZTM_SERVER/api/v1/factories")" = 401 ] || fail "bootstrap certificate on the admin API"
grep -q 'bootstrap' body || fail "refusal does not say why: $(cat body)"
openssl req -new -key boot.key -subj /CN=x -outform DER | base64 >csr.b64
[ "$(code --cert boot.crt --key boot.key -H 'Content-Type: application/pkcs10' --data-binary @csr.b64 \
  "$ZTM_SERVER/.well-known/est/simplereenroll")" = 401 ] || fail "bootstrap certificate on simplereenroll"
[ "$(code --cert boot.crt --key boot.key "$ZTM_SERVER/metrics")" = 401 ] || fail "bootstrap certificate on /metrics"
ok "a bootstrap certificate authenticates nothing else (401)"

# The bootstrap certificate's own signature is not what the handshake
# checks (docs/vetting.md, "Proof of possession"): one with a broken
# self-signature still passes, marked bootstrap, and still authenticates
# nothing else; what it may do rests on the key it proves in the handshake.
openssl x509 -in boot.crt -outform DER -out boot.der
n=$(stat -c %s boot.der)
byte=$(xxd -s $((n - 4)) -l 1 -p boot.der); flip=$(printf '%02x' $((0x$byte ^ 0x01)))
printf "\\x$flip" | dd of=boot.der bs=1 seek=$((n - 4)) conv=notrunc 2>/dev/null
openssl x509 -inform DER -in boot.der -out badsig.crt
openssl x509 -in badsig.crt -noout 2>/dev/null || fail "badsig.crt does not parse"
cmp -s boot.crt badsig.crt && fail "the signature was not changed"
[ "$(code --cert badsig.crt --key boot.key "$ZTM_SERVER/healthz")" = 200 ] || fail "a broken self-signature failed the handshake"
[ "$(code --cert badsig.crt --key boot.key "$ZTM_SERVER/metrics")" = 401 ] || fail "broken self-signature on /metrics"
ok "a broken self-signature passes the handshake as a bootstrap certificate, and authenticates nothing else"

# A bootstrap certificate's dates say nothing (its holder can sign itself
# new ones): an expired one, and one not valid yet (a device clock ahead),
# still pass as bootstrap certificates and reach registration, where the
# record decides (here: none, 403 unrecorded) -- not "expired" (401).
cat >ca.cnf <<'CNF'
[ca]
default_ca = d
[d]
database = db/index
new_certs_dir = db
serial = db/serial
default_md = sha256
policy = p
x509_extensions = e
unique_subject = no
[p]
serialNumber = supplied
commonName = supplied
[e]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF
mkdir -p db && : >db/index && echo 01 >db/serial
openssl req -new -key boot.key -subj "/serialNumber=SN0001/CN=widget-SN0001" -out boot.csr 2>/dev/null
for dates in "20200101000000Z 20200102000000Z expired" "20990101000000Z 20990102000000Z not-yet-valid"; do
  set -- $dates
  openssl ca -batch -config ca.cnf -selfsign -keyfile boot.key -in boot.csr -startdate "$1" -enddate "$2" \
    -out "$3.crt" >/dev/null 2>&1 || fail "making the $3 bootstrap certificate"
  [ "$(code --cert "$3.crt" --key boot.key "$ZTM_SERVER/healthz")" = 200 ] || fail "$3 bootstrap certificate failed the handshake"
  [ "$(code --cert "$3.crt" --key boot.key "$ZTM_SERVER/metrics")" = 401 ] && grep -q 'bootstrap' body ||
    fail "$3 bootstrap certificate not taken as one: $(cat body)"
  [ "$(code --cert "$3.crt" --key boot.key -H 'Content-Type: application/pkcs10' --data-binary @csr.b64 \
    "$ZTM_SERVER/.well-known/est/simpleenroll")" = 403 ] && grep -q 'unrecorded' body ||
    fail "$3 bootstrap certificate did not reach registration: $(cat body)"
done
ok "an expired and a not-yet-valid bootstrap certificate are still bootstrap certificates: registration decides"

# The key policy holds at the handshake: an RSA key with e=3 (TLS itself
# would take it) is refused, as a station would refuse to record it.
openssl req -x509 -newkey rsa:2048 -pkeyopt rsa_keygen_pubexp:3 -nodes -keyout e3.key -out e3.crt \
  -subj "/serialNumber=SN0002/CN=widget-SN0002" -days 30 \
  -addext basicConstraints=critical,CA:FALSE 2>/dev/null
[ "$(code --cert e3.crt --key e3.key "$ZTM_SERVER/healthz")" = 000 ] || fail "a weak bootstrap key passed the handshake"
ok "a self-signed certificate whose key fails the key policy fails the handshake"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
  -subj "/CN=rogue root" -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
[ "$(code --cert ca.crt --key ca.key "$ZTM_SERVER/healthz")" = 000 ] || fail "self-signed CA certificate passed the handshake"
ok "a self-signed CA certificate fails the handshake"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -subj /CN=leaf -out leaf.csr 2>/dev/null
openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out leaf.crt 2>/dev/null
[ "$(code --cert leaf.crt --key leaf.key "$ZTM_SERVER/healthz")" = 000 ] || fail "foreign-CA leaf passed the handshake"
ok "a certificate from a foreign CA fails the handshake"
echo "bootstrap TLS checks passed"
