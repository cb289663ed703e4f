#!/usr/bin/env bash
# Creates or updates the repository's Python virtual environment (.venv at the repo root)
# from tests/harness/requirements.txt, and prints the venv's python path on stdout (its only
# stdout output). Idempotent: the sha256 of requirements.txt is recorded in
# .venv/.airlock-requirements and nothing is done while it matches.
# Usage: tests/harness/python-env.sh   (bootstrap interpreter: $AIRLOCK_BOOTSTRAP_PYTHON or python3)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$root/.venv"
req="$here/requirements.txt"
stamp="$venv/.airlock-requirements"
py="$venv/bin/python"

want=$(sha256sum "$req" | cut -d' ' -f1)
up_to_date() { [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }

if ! up_to_date; then
  # Two harnesses starting at once must not install into the same venv together: hold a lock
  # on requirements.txt itself (flock is advisory; this leaves no lock file behind).
  exec 9<"$req"
  flock 9
  if ! up_to_date; then
    rm -f "$stamp"
    if [ ! -x "$py" ] || ! "$py" -c 'import sys' 2>/dev/null; then
      echo "python-env.sh: creating $venv" >&2
      "${AIRLOCK_BOOTSTRAP_PYTHON:-python3}" -m venv --clear "$venv" >&2
    fi
    echo "python-env.sh: installing tests/harness/requirements.txt into $venv" >&2
    "$py" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2
    printf '%s\n' "$want" >"$stamp"
  fi
  exec 9<&-
fi
printf '%s\n' "$py"
