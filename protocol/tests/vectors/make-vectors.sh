#!/usr/bin/env bash
# Regenerates the derived test vectors in this folder from the committed TEST keys and bundle/,
# using only sha256sum, openssl, base64 and python3's json module: an implementation independent
# of the Rust crate, so the vector tests catch any drift in the crate's encodings.
# The keys themselves were generated once with:
#   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.key.pem
#   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
#       -pkeyopt ec_param_enc:named_curve -out p256.key.pem
#   openssl pkey -in <key>.key.pem -pubout -out <key>.pub.pem
# RSA PKCS#1 v1.5 signatures are deterministic, so re-running reproduces every file except
# pointer.p256.sig (ECDSA is randomised; any fresh signature is an equally good vector).
set -euo pipefail
cd "$(dirname "$0")"

keyid() { openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
pae() { # pae <payload type> <payload file>
  printf 'DSSEv1 %d %s %d ' "${#1}" "$1" "$(wc -c < "$2")"
  cat "$2"
}
envelope() { # envelope <payload type> <payload file> <sig file> <keyid>
  python3 - "$@" <<'EOF'
import base64, json, sys
ptype, payload, sig, keyid = sys.argv[1:]
env = {"payloadType": ptype,
       "payload": base64.b64encode(open(payload, "rb").read()).decode(),
       "signatures": [{"keyid": keyid,
                       "sig": base64.b64encode(open(sig, "rb").read()).decode()}]}
sys.stdout.write(json.dumps(env, indent=2, ensure_ascii=False) + "\n")
EOF
}
objref() { printf '{"sha256":"%s","size":%d}' "$(sha256sum < "$1" | cut -d' ' -f1)" "$(wc -c < "$1")"; }

RSA_KEYID=$(keyid rsa2048.pub.pem)
BUNDLE_HASH=$(cd bundle && find . -type f -printf '%P\n' | LC_ALL=C sort \
  | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1)

# manifest.json: pretty JSON (2-space indent) plus a newline, files sorted by path bytewise.
(cd bundle && find . -type f -printf '%P\n' | LC_ALL=C sort | while IFS= read -r p; do
  printf '%s\t%s\t%d\n' "$p" "$(sha256sum < "$p" | cut -d' ' -f1)" "$(wc -c < "$p")"
done) | python3 -c '
import json, sys
files = [dict(zip(("path", "sha256", "size"), l.rstrip("\n").split("\t"))) for l in sys.stdin]
for f in files: f["size"] = int(f["size"])
m = {"app": "shop-ios", "version": "1.4.0", "files": files, "bundleHash": sys.argv[1]}
sys.stdout.write(json.dumps(m, indent=2, ensure_ascii=False) + "\n")' "$BUNDLE_HASH" > manifest.json

# release.dsse.json: compact payload, PAE, RSA signature, envelope.
python3 -c '
import json, sys
s = {"app": "shop-ios", "version": "1.4.0", "createdAt": "2026-11-23T10:20:00Z",
     "minNativeVersion": "2.3.0", "manifest": json.loads(sys.argv[1]), "bundleHash": sys.argv[2],
     "description": "Faster checkout.\nFixes the \"Pay\" button \u2014 d\u00e9j\u00e0 vu."}
sys.stdout.write(json.dumps(s, separators=(",", ":"), ensure_ascii=False))' \
  "$(objref manifest.json)" "$BUNDLE_HASH" > release.payload.json
pae application/vnd.airlock.release+json release.payload.json > release.pae
openssl dgst -sha256 -sign rsa2048.key.pem -out release.sig release.pae
envelope application/vnd.airlock.release+json release.payload.json release.sig "$RSA_KEYID" \
  > release.dsse.json

# pointer.dsse.json: seq 42, nothing current yet, 1.4.0 rolling out to 50 %.
LOG_HEAD=$(printf 'example log entry\n' | sha256sum | cut -d' ' -f1)
printf '{"app":"shop-ios","channel":"production","seq":42,"logHead":"%s",' "$LOG_HEAD" \
  > pointer.payload.json
printf '"issuedAt":"2026-11-23T10:20:00Z","expiresAt":"2026-11-30T10:20:00Z","current":null,' \
  >> pointer.payload.json
printf '"rollout":{"version":"1.4.0","release":%s,"basisPoints":5000,"rolloutId":"%s"}}' \
  "$(objref release.dsse.json)" shop-ios-1.4.0-r1 >> pointer.payload.json
pae application/vnd.airlock.pointer+json pointer.payload.json > pointer.pae
openssl dgst -sha256 -sign rsa2048.key.pem -out pointer.sig pointer.pae
envelope application/vnd.airlock.pointer+json pointer.payload.json pointer.sig "$RSA_KEYID" \
  > pointer.dsse.json
if [ ! -s pointer.p256.sig ] || ! openssl dgst -sha256 -verify p256.pub.pem \
    -signature pointer.p256.sig pointer.pae > /dev/null; then
  openssl dgst -sha256 -sign p256.key.pem -out pointer.p256.sig pointer.pae
fi

# Self-check with openssl.
openssl dgst -sha256 -verify rsa2048.pub.pem -signature release.sig release.pae
openssl dgst -sha256 -verify rsa2048.pub.pem -signature pointer.sig pointer.pae
openssl dgst -sha256 -verify p256.pub.pem -signature pointer.p256.sig pointer.pae
echo "rsa keyid  $RSA_KEYID"
echo "p256 keyid $(keyid p256.pub.pem)"
echo "bundleHash $BUNDLE_HASH"
