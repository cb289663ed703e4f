#!/usr/bin/env bash
# The console's end-to-end tests: the debug app in a real window under Xvfb (a private one
# unless DISPLAY is set and AIRLOCK_E2E_USE_DISPLAY=1), inside a private gnome-keyring,
# driven by tests/e2e/console.py through tauri-driver + WebKitWebDriver. Screenshots go to
# $AIRLOCK_E2E_OUT (default screenshots/e2e). Xvfb is stopped by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${AIRLOCK_IN_KEYRING_SESSION:-}" ]; then
  exec "$root/tests/harness/with-keyring.sh" "$0" "$@"
fi
target=$(cd "$root" && ${CARGO:-cargo} metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
app="$target/debug/airlock-console"
cli="$target/debug/airlock"
for bin in "$app" "$cli"; do
  [ -x "$bin" ] || { echo "e2e: $bin is missing; run make build" >&2; exit 2; }
done
command -v tauri-driver >/dev/null || { echo "e2e: tauri-driver is missing; run make setup" >&2; exit 2; }
out="${AIRLOCK_E2E_OUT:-$root/screenshots/e2e}"
mkdir -p "$out"
xvfb_pid=""
if [ "${AIRLOCK_E2E_USE_DISPLAY:-0}" != 1 ]; then
  for n in $(seq 90 140); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { display=":$n"; break; }
  done
  Xvfb "$display" -screen 0 1440x900x24 -nolisten tcp >"$out/xvfb.log" 2>&1 &
  xvfb_pid=$!
  trap '[ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
  export DISPLAY="$display"
fi
python3 "$root/tests/e2e/console.py" --app "$app" --cli "$cli" --out "$out"
