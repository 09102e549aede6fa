#!/usr/bin/env bash
# ceremony.sh - the offline root key ceremony end to end with the real `ztm`
# and the real `openssl` CLI: init, certificate contents, encrypted root key,
# verify and tamper detection, 3-of-5 split/combine, refusals, issue-ca and
# its key-policy and lint refusals, and every CA key algorithm.
set -uo pipefail
ZTM=${ZTM_BIN:?}/src/cli/ztm
command -v openssl >/dev/null || exit 77
[ -x "$ZTM" ] || { echo "no $ZTM"; exit 1; }

work=$(mktemp -d /tmp/ztm-e2e-ceremony.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
umask 077
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   - $*"; }
bad() { fails=$((fails + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else bad "$what"; cat "$work/out"; fi; }
# A refusal must be a clean exit 1 (failure) or 2 (usage): a crash or a
# sanitizer report (abort, exit 23) is not a refusal.
refuse() {
	local what=$1 rc; shift
	"$@" >"$work/out" 2>&1; rc=$?
	if [ $rc -eq 1 ] || [ $rc -eq 2 ]; then ok "$what"; else bad "$what (exit $rc)"; cat "$work/out"; fi
}

printf 'root passphrase for tests\n' >rp
printf 'online passphrase for tests\n' >op
printf 'recovered passphrase 1\n' >np
printf 'short\n' >short

# --- init, P-256 default, 3-of-5 shares ---------------------------------------
check "init p256 with 3-of-5 shares" "$ZTM" ceremony init --dir c1 --org "Acme Devices" \
	--root-pass-file rp --shares 5 --threshold 3 --custodian alice --custodian bob
C=c1
for ca in device station operator ocsp codesign tls; do
	check "openssl verify $ca CA against root" openssl verify -CAfile $C/root/root.crt $C/ca/$ca.crt
done
check "openssl verify admin via operator CA" openssl verify -CAfile $C/root/root.crt \
	-untrusted $C/ca/operator.crt $C/operators/admin.crt
check "admin cert verifies for purpose sslclient" openssl verify -purpose sslclient \
	-CAfile $C/root/root.crt -untrusted $C/ca/operator.crt $C/operators/admin.crt
check "chain.pem holds root + 6 CAs" test "$(grep -c 'BEGIN CERTIFICATE' $C/chain.pem)" -eq 7

txt() { openssl x509 -noout -text -in "$1"; }
has() { local f=$1 t; shift; t=$(txt "$f") && grep -qE "$@" <<<"$t"; }
check "root: CA:TRUE critical" bash -c "openssl x509 -noout -text -in $C/root/root.crt | grep -A1 'Basic Constraints: critical' | grep -q 'CA:TRUE'"
check "root: keyCertSign+cRLSign critical" bash -c "openssl x509 -noout -text -in $C/root/root.crt | grep -A1 'Key Usage: critical' | grep -q 'Certificate Sign, CRL Sign'"
check "root: SKI" has $C/root/root.crt 'Subject Key Identifier'
check "root: subject" has $C/root/root.crt 'Subject: O ?= ?Acme Devices, CN ?= ?Acme Devices Root CA'
check "root: ECDSA P-256" has $C/root/root.crt 'prime256v1|P-256'
check "root: 20 years, inclusive" bash -c "nb=\$(date -d \"\$(openssl x509 -noout -startdate -in $C/root/root.crt | cut -d= -f2)\" +%s); na=\$(date -d \"\$(openssl x509 -noout -enddate -in $C/root/root.crt | cut -d= -f2)\" +%s); [ \$((na - nb)) -eq \$((7305 * 86400 - 1)) ]"
check "serial: 0x5a prefix, 17 octets" bash -c "s=\$(openssl x509 -noout -serial -in $C/ca/device.crt | cut -d= -f2); [ \${#s} -eq 34 ] && [ \${s:0:2} = 5A ]"
check "device CA: pathlen:0" bash -c "openssl x509 -noout -text -in $C/ca/device.crt | grep -A1 'Basic Constraints: critical' | grep -q 'CA:TRUE, pathlen:0'"
check "device CA: AKI" has $C/ca/device.crt 'Authority Key Identifier'
check "device CA: keyUsage per profile issuing-ca" bash -c "openssl x509 -noout -text -in $C/ca/device.crt | grep -A1 'Key Usage: critical' | grep -q 'Digital Signature, Certificate Sign, CRL Sign'"
ski() { openssl x509 -noout -ext subjectKeyIdentifier -in "$1" | tail -1 | tr -d ' '; }
aki() { openssl x509 -noout -ext authorityKeyIdentifier -in "$1" | tail -1 | tr -d ' ' | sed 's/^keyid://'; }
check "device CA: AKI = root SKI" test "$(aki $C/ca/device.crt)" = "$(ski $C/root/root.crt)"
check "admin: AKI = operator CA SKI" test "$(aki $C/operators/admin.crt)" = "$(ski $C/ca/operator.crt)"
refuse "root: no AKI (self-signed)" has $C/root/root.crt 'Authority Key Identifier'
refuse "root: no EKU" has $C/root/root.crt 'Extended Key Usage'
check "chain verifies with -x509_strict" openssl verify -x509_strict -CAfile $C/root/root.crt \
	-untrusted $C/ca/operator.crt $C/operators/admin.crt
check "device CA: EKU clientAuth" has $C/ca/device.crt 'TLS Web Client Authentication'
check "ocsp CA: EKU OCSP signing" has $C/ca/ocsp.crt 'OCSP Signing'
check "codesign CA: EKU code signing" has $C/ca/codesign.crt 'Code Signing'
check "tls CA: EKU server auth" has $C/ca/tls.crt 'TLS Web Server Authentication'
check "admin: CN=admin" has $C/operators/admin.crt 'Subject: .*CN ?= ?admin'
check "admin: CA:FALSE" has $C/operators/admin.crt 'CA:FALSE'
check "admin: digitalSignature" bash -c "openssl x509 -noout -text -in $C/operators/admin.crt | grep -A1 'Key Usage: critical' | grep -q 'Digital Signature'"
check "admin: 1 year" bash -c "nb=\$(date -d \"\$(openssl x509 -noout -startdate -in $C/operators/admin.crt | cut -d= -f2)\" +%s); na=\$(date -d \"\$(openssl x509 -noout -enddate -in $C/operators/admin.crt | cut -d= -f2)\" +%s); [ \$((na - nb)) -eq \$((365 * 86400 - 1)) ]"

# --- keys: encrypted, 0600 --------------------------------------------------------
check "root key is ENCRYPTED PRIVATE KEY" grep -q 'BEGIN ENCRYPTED PRIVATE KEY' $C/root/root.key
refuse "root key has no plain copy" grep -rq 'BEGIN PRIVATE KEY' $C
check "root key mode 0600" test "$(stat -c %a $C/root/root.key)" = 600
refuse "openssl pkey with a wrong passphrase fails" openssl pkey -in $C/root/root.key -passin pass:wrong-passphrase -noout
check "openssl pkey with the root passphrase works" openssl pkey -in $C/root/root.key -passin file:rp -noout
check "online key opens with online.pass" openssl pkey -in $C/ca/device.key -passin file:$C/online.pass -noout
check "online.pass mode 0600" test "$(stat -c %a $C/online.pass)" = 600
check "share files mode 0600" test "$(stat -c %a $C/shares/share-1.txt)" = 600

# --- verify and tamper detection -----------------------------------------------------
check "verify passes" "$ZTM" ceremony verify --dir $C
fp=$(openssl x509 -noout -fingerprint -sha256 -in $C/root/root.crt | cut -d= -f2 | tr -d : | tr A-F a-f)
check "verify with the pinned root fingerprint" "$ZTM" ceremony verify --dir $C --root-sha256 "$fp"
refuse "verify with a wrong pin" "$ZTM" ceremony verify --dir $C --root-sha256 "$(printf '%064d' 0)"
check "transcript.sig verifies with openssl" bash -c "openssl x509 -pubkey -noout -in $C/root/root.crt >pub.pem && base64 -d $C/transcript.sig >sig.der && openssl dgst -sha256 -verify pub.pem -signature sig.der $C/transcript.json"

cp -a $C t1
openssl x509 -in c1/ca/station.crt -out t1/ca/device.crt 2>/dev/null
refuse "verify fails after swapping a cert" "$ZTM" ceremony verify --dir t1
msg=$("$ZTM" ceremony verify --dir t1 2>&1); grep -q 'device.crt' <<<"$msg" && ok "message names the file" || bad "message names the file"
cp -a $C t2
sed -i 's/"alice"/"mallory"/' t2/transcript.json
refuse "verify fails after editing the transcript" "$ZTM" ceremony verify --dir t2
cp -a $C t3
echo >>t3/shares/share-2.txt
refuse "verify fails after changing a share file" "$ZTM" ceremony verify --dir t3

# --- split / combine -------------------------------------------------------------------
check "combine 3 of 5 shares from init" "$ZTM" ceremony combine --out rec1.key --pass-file np \
	--cert $C/root/root.crt $C/shares/share-5.txt $C/shares/share-2.txt $C/shares/share-3.txt
check "combined key = root public key" bash -c "diff <(openssl pkey -in rec1.key -passin file:np -pubout) <(openssl x509 -in $C/root/root.crt -pubkey -noout)"
check "split root key 3-of-5" "$ZTM" ceremony split --key $C/root/root.key --pass-file rp \
	--shares 5 --threshold 3 --out sh
check "5 share files" test "$(ls sh | wc -l)" -eq 5
check "combine shares 1,4,5" "$ZTM" ceremony combine --out rec2.key --pass-file np \
	--cert $C/root/root.crt sh/share-1.txt sh/share-4.txt sh/share-5.txt
check "same public key after split/combine" bash -c "diff <(openssl pkey -in rec2.key -passin file:np -pubout) <(openssl x509 -in $C/root/root.crt -pubkey -noout)"
refuse "combine from 2 shares fails" "$ZTM" ceremony combine --out rec3.key --pass-file np sh/share-1.txt sh/share-2.txt
check "... and writes nothing" test ! -e rec3.key
refuse "mixed shares from two splits fail" "$ZTM" ceremony combine --out rec4.key --pass-file np sh/share-1.txt sh/share-2.txt $C/shares/share-3.txt
cp sh/share-3.txt typo.txt
sed -i 's/^index: 3/index: 4/' typo.txt
refuse "a mistyped share fails its checksum" "$ZTM" ceremony combine --out rec5.key --pass-file np sh/share-1.txt sh/share-2.txt typo.txt
msg=$("$ZTM" ceremony combine --out rec5.key --pass-file np sh/share-1.txt sh/share-2.txt typo.txt 2>&1); grep -q 'typo.txt: checksum' <<<"$msg" && ok "message names the share file" || bad "message names the share file"
"$ZTM" ceremony init --dir other --root-pass-file rp >/dev/null
refuse "combine --cert with another root fails" "$ZTM" ceremony combine --out rec6.key --pass-file np --cert other/root/root.crt sh/share-1.txt sh/share-2.txt sh/share-3.txt
refuse "split into an existing share dir fails" "$ZTM" ceremony split --key $C/root/root.key --pass-file rp --shares 3 --threshold 2 --out sh

# --- refusals: non-empty dir, passphrases, usage ------------------------------------------
mkdir busy && echo keep >busy/note.txt
refuse "init into a non-empty dir fails" "$ZTM" ceremony init --dir busy --root-pass-file rp
check "... and changes nothing" bash -c "[ \"\$(ls -A busy)\" = note.txt ] && [ \"\$(cat busy/note.txt)\" = keep ]"
check "... and leaves no temp dir" bash -c "! ls -d busy.ztm-* 2>/dev/null"
refuse "init with a short root passphrase fails" "$ZTM" ceremony init --dir c-short --root-pass-file short
check "... and writes nothing" bash -c "[ ! -e c-short ] && ! ls -d c-short.ztm-* 2>/dev/null"
chmod 644 rp
refuse "init with a world-readable passphrase file fails" "$ZTM" ceremony init --dir c-perm --root-pass-file rp
chmod 600 rp
"$ZTM" ceremony init --dir c-x --shares 2 >/dev/null 2>&1; rc=$?
check "shares without threshold is a usage error (2)" test $rc -eq 2
"$ZTM" ceremony bogus >/dev/null 2>&1; rc=$?
check "unknown subcommand is a usage error (2)" test $rc -eq 2
mkdir empty
long=$(printf 'x%.0s' $(seq 1 60))
refuse "init with a 60-character --org fails the lint" "$ZTM" ceremony init --dir c-long --root-pass-file rp --org "$long"
grep -q "lint subject: CN length 68 not in 1..64" "$work/out" && ok "... naming the rule" || { bad "... naming the rule"; cat "$work/out"; }
check "... and writes nothing" bash -c "[ ! -e c-long ] && ! ls -d c-long.ztm-* 2>/dev/null"
check "init into an empty dir works" "$ZTM" ceremony init --dir empty --root-pass-file rp --online-pass-file op --operator ops1
check "online keys use --online-pass-file" openssl pkey -in empty/operators/ops1.key -passin file:op -noout
check "no online.pass when given" test ! -e empty/online.pass

# --- issue-ca from an openssl CSR -------------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ext.key 2>/dev/null
openssl req -new -key ext.key -subj "/CN=ignored subject" -out ext.csr 2>/dev/null
check "issue-ca from an openssl CSR" "$ZTM" ceremony issue-ca --dir $C --name factory-eu \
	--csr ext.csr --out factory-eu.crt --root-pass-file rp --eku clientAuth
check "issued CA verifies against the root" openssl verify -CAfile $C/root/root.crt factory-eu.crt
check "issued CA has pathlen:0" has factory-eu.crt 'CA:TRUE, pathlen:0'
check "issued CA subject comes from --name" has factory-eu.crt 'CN ?= ?Acme Devices factory-eu CA'
check "issued CA carries --eku clientAuth" has factory-eu.crt 'TLS Web Client Authentication'
refuse "... and only that" has factory-eu.crt 'TLS Web Server Authentication'
check "issued CA keyUsage per profile issuing-ca" has factory-eu.crt 'Digital Signature, Certificate Sign, CRL Sign'
check "verify passes with the issue entry" "$ZTM" ceremony verify --dir $C
check "second issue-ca chains on" "$ZTM" ceremony issue-ca --dir $C --name lab --csr ext.csr --out lab.crt --root-pass-file rp
refuse "issue-ca without --eku: no EKU" has lab.crt 'Extended Key Usage'
check "verify passes with two entries" "$ZTM" ceremony verify --dir $C
check "two issue entries" test -e $C/transcript.d/0002.json -a -e $C/transcript.d/0002.sig
refuse "issue-ca twice with one name fails" "$ZTM" ceremony issue-ca --dir $C --name lab --csr ext.csr --out lab2.crt --root-pass-file rp
check "... and adds no entry" test ! -e $C/transcript.d/0003.json
refuse "issue-ca with a wrong root passphrase fails" "$ZTM" ceremony issue-ca --dir $C --name x1 --csr ext.csr --out x1.crt --root-pass-file np
check "... and writes nothing" bash -c "[ ! -e x1.crt ] && [ ! -e $C/ca/x1.crt ] && [ ! -e $C/transcript.d/0003.json ]"
sed 's/^\(.\{40\}\)./\1A/' ext.csr >badsig.csr
refuse "issue-ca with an altered CSR fails" "$ZTM" ceremony issue-ca --dir $C --name x2 --csr badsig.csr --out x2.crt --root-pass-file rp

# Key policy and lint refusals: each exits 1, names the reason, and writes
# neither the certificate nor a transcript entry.
openssl req -new -newkey rsa:1024 -nodes -keyout rsa1024.key -subj "/CN=weak" -out rsa1024.csr 2>/dev/null
openssl ecparam -name prime256v1 -param_enc explicit -genkey -noout -out explicit.key 2>/dev/null
openssl req -new -key explicit.key -subj "/CN=curveball" -out explicit.csr 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k1.key 2>/dev/null
openssl req -new -key k1.key -subj "/CN=k1" -out k1.csr 2>/dev/null
n=0
for row in "rsa1024.csr|rsa1024.csr: CSR key refused: RSA 1024 bits < 2048" \
	"explicit.csr|explicit.csr: CSR key refused: EC key with explicit curve parameters" \
	"k1.csr|k1.csr: CSR key refused:"; do
	n=$((n + 1))
	csr=${row%%|*} why=${row#*|}
	refuse "issue-ca refuses $csr" "$ZTM" ceremony issue-ca --dir $C --name bad$n --csr $csr --out bad$n.crt --root-pass-file rp
	grep -qF "$why" "$work/out" && ok "... saying '$why'" || { bad "... saying '$why'"; cat "$work/out"; }
	check "... and writes nothing" bash -c "[ ! -e bad$n.crt ] && [ ! -e $C/ca/bad$n.crt ] && [ ! -e $C/transcript.d/0003.json ]"
done
"$ZTM" ceremony issue-ca --dir $C --name bad9 --csr ext.csr --out bad9.crt --root-pass-file rp --eku emailProtection >"$work/out" 2>&1; rc=$?
check "issue-ca with an unknown --eku is a usage error (2)" test $rc -eq 2
check "... and writes nothing" bash -c "[ ! -e bad9.crt ] && [ ! -e $C/ca/bad9.crt ] && [ ! -e $C/transcript.d/0003.json ]"
check "issue-ca with two EKUs" "$ZTM" ceremony issue-ca --dir $C --name edge --csr ext.csr --out edge.crt --root-pass-file rp --eku serverAuth,clientAuth
check "... carries both" bash -c "openssl x509 -noout -text -in edge.crt | grep -A1 'Extended Key Usage' | grep -q 'TLS Web Server Authentication, TLS Web Client Authentication'"
check "verify passes after the refusals" "$ZTM" ceremony verify --dir $C

cp -a $C t4
sed -i 's/"lab"/"lab2"/' t4/transcript.d/0002.json
refuse "verify fails after editing an issue entry" "$ZTM" ceremony verify --dir t4
cp -a $C t5
rm t5/transcript.d/0001.json t5/transcript.d/0001.sig
refuse "verify fails when an issue entry is removed" "$ZTM" ceremony verify --dir t5

# --- each algorithm -------------------------------------------------------------------
# Split/combine still handles Ed25519 keys (any PKCS#8 key).
openssl genpkey -algorithm ED25519 -pass file:rp -aes-256-cbc -out ed-split.key 2>/dev/null
check "split an Ed25519 key 2-of-3" "$ZTM" ceremony split --key ed-split.key --pass-file rp --shares 3 --threshold 2 --out ed-sh
check "combine it from 2 shares" "$ZTM" ceremony combine --out rec-ed.key --pass-file np ed-sh/share-3.txt ed-sh/share-1.txt
check "same Ed25519 public key" bash -c "diff <(openssl pkey -in rec-ed.key -passin file:np -pubout) <(openssl pkey -in ed-split.key -passin file:rp -pubout)"
for alg in p384 ed25519 rsa3072; do
	check "init $alg" "$ZTM" ceremony init --dir a-$alg --alg $alg --root-pass-file rp --shares 3 --threshold 2
	check "$alg: admin chains" openssl verify -CAfile a-$alg/root/root.crt -untrusted a-$alg/ca/operator.crt a-$alg/operators/admin.crt
	check "$alg: verify" "$ZTM" ceremony verify --dir a-$alg
	check "$alg: combine 2 of 3" "$ZTM" ceremony combine --out rec-$alg.key --pass-file np --cert a-$alg/root/root.crt a-$alg/shares/share-3.txt a-$alg/shares/share-1.txt
done
check "p384 root is P-384" has a-p384/root/root.crt 'secp384r1|P-384'
check "rsa3072 root is RSA 3072" has a-rsa3072/root/root.crt '3072 bit'

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
