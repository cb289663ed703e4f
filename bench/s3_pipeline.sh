#!/usr/bin/env bash
# The baseline bench/s3.sh compares Airlock with: the release script OTA teams commonly
# write today, kept as such a team would write it.
#  1. a manifest of `sha256sum` lines for every file, sorted by path;
#  2. `aws kms sign` of the manifest's SHA-256 (DIGEST, RSASSA_PKCS1_V1_5_SHA_256);
#  3. `aws s3 sync` of the bundle into its own versioned folder releases/VERSION/, then the
#     manifest and its signature beside it;
#  4. `aws s3 cp` of latest.json, the pointer devices poll.
# Every `aws` call goes to the moto server of tests/harness/with-moto.sh, with the awscli
# of its virtual environment (next to $AIRLOCK_TEST_PYTHON); nothing from the system's.
# The bucket and the KMS key (an alias) must exist: bench/s3.sh creates them.
# Usage: bench/s3_pipeline.sh BUNDLE_DIR VERSION
#   PIPELINE_BUCKET (default bench-pipeline), PIPELINE_KMS_KEY (default alias/bench-pipeline)
set -euo pipefail

bundle=${1:?usage: bench/s3_pipeline.sh BUNDLE_DIR VERSION}
version=${2:?usage: bench/s3_pipeline.sh BUNDLE_DIR VERSION}
endpoint=${AIRLOCK_TEST_MOTO_ENDPOINT:?run inside tests/harness/with-moto.sh}
awscli=${AWS_CLI:-$(dirname "${AIRLOCK_TEST_PYTHON:?run inside tests/harness/with-moto.sh}")/aws}
bucket=${PIPELINE_BUCKET:-bench-pipeline}
key=${PIPELINE_KMS_KEY:-alias/bench-pipeline}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}

aws() { "$awscli" --endpoint-url "$endpoint" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="s3://$bucket/releases/$version"

# 1. Manifest: "<sha256>  ./<path>" per file, sorted by path (bytewise, locale-independent).
(cd "$bundle" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) \
  >"$work/MANIFEST.sha256"

# 2. Sign the manifest's digest with the release key held in KMS.
openssl dgst -sha256 -binary "$work/MANIFEST.sha256" >"$work/MANIFEST.sha256.digest"
aws kms sign --key-id "$key" --message "fileb://$work/MANIFEST.sha256.digest" \
  --message-type DIGEST --signing-algorithm RSASSA_PKCS1_V1_5_SHA_256 \
  --query Signature --output text | base64 -d >"$work/MANIFEST.sha256.sig"

# 3. The bundle into its own folder, then the manifest and signature beside it.
aws s3 sync "$bundle" "$dest/" --no-progress --only-show-errors
aws s3 cp "$work/MANIFEST.sha256" "$dest/MANIFEST.sha256" --only-show-errors
aws s3 cp "$work/MANIFEST.sha256.sig" "$dest/MANIFEST.sha256.sig" --only-show-errors

# 4. Flip the pointer last, so devices never see a half-uploaded release.
cat >"$work/latest.json" <<EOF
{
  "version": "$version",
  "base": "releases/$version/",
  "manifest": "releases/$version/MANIFEST.sha256",
  "manifestSha256": "$(sha256sum "$work/MANIFEST.sha256" | cut -d' ' -f1)",
  "signature": "releases/$version/MANIFEST.sha256.sig",
  "signingAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"
}
EOF
aws s3 cp "$work/latest.json" "s3://$bucket/latest.json" --content-type application/json \
  --cache-control no-cache --only-show-errors
