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
