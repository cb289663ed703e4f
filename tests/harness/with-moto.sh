#!/usr/bin/env bash
# Runs a command against a private moto server (S3, KMS, CloudFront in memory) on a free
# 127.0.0.1 port, with a sanitised AWS environment so a developer's own AWS setup never leaks
# in. Usage: tests/harness/with-moto.sh COMMAND [ARGS...]
# The command sees AIRLOCK_TEST_MOTO_ENDPOINT, AIRLOCK_TEST_PYTHON (the pinned venv from
# python-env.sh) and test credentials. moto is stopped (by PID) when the command ends; the
# script exits with the command's exit code. Nests with with-keyring.sh either way round.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$("$here/python-env.sh")
moto_server="$(dirname "$python")/moto_server"

tmp=$(mktemp -d /tmp/airlock-moto.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'cleanup; trap - INT; kill -INT $$' INT
trap 'cleanup; exit 143' TERM

# Nothing from the developer's AWS configuration may reach the command.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL \
  AWS_ROLE_ARN AWS_ROLE_SESSION_NAME AWS_WEB_IDENTITY_TOKEN_FILE AWS_CA_BUNDLE \
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
for v in $(compgen -e AWS_ENDPOINT_URL_ || true); do unset "$v"; done
: >"$tmp/config"
: >"$tmp/credentials"
export AWS_CONFIG_FILE="$tmp/config" AWS_SHARED_CREDENTIALS_FILE="$tmp/credentials"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

# A free port: the kernel picks one, and nothing may answer on it (an old server would
# otherwise pass the readiness check). The window until moto binds it is small; retry.
port=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
  p=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
if [ -z "$port" ]; then
  echo "with-moto.sh: found no free port on 127.0.0.1" >&2
  exit 1
fi

log="$tmp/moto.log"
# The trap stops moto by PID; the parent-death signal also stops it if this script is
# killed with SIGKILL (setpriv execs moto_server, so $! is moto's own PID).
deathsig=()
if command -v setpriv >/dev/null; then deathsig=(setpriv --pdeathsig TERM); fi
"${deathsig[@]}" "$moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
endpoint="http://127.0.0.1:$port"

ready=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
  if curl -sf -o /dev/null --max-time 2 "$endpoint/moto-api/"; then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "with-moto.sh: moto_server did not answer on $endpoint/moto-api/ within 60 s (log follows)" >&2
  cat "$log" >&2
  exit 1
fi

export AIRLOCK_TEST_MOTO_ENDPOINT="$endpoint" AIRLOCK_TEST_PYTHON="$python"
rc=0
"$@" || rc=$?
exit "$rc"
