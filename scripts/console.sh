#!/usr/bin/env bash
# `make run`: opens the console on the embedded default — the last workspace, else the demo
# (a local folder as the bucket, a local key in the keychain, SQLite for the registry).
# With a desktop session it opens the window. With no display it starts the app under Xvfb
# with a private keychain, saves screenshots of the overview and a release page to
# ./screenshots/, and says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=$(cd "$root" && ${CARGO:-cargo} metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
app="$target/debug/airlock-console"
[ -x "$app" ] || { echo "run: $app is missing; run make build" >&2; exit 2; }
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
    echo "no D-Bus session: the console runs with a private keychain (tests/harness/with-keyring.sh)"
    exec "$root/tests/harness/with-keyring.sh" "$app" --demo "$@"
  fi
  exec "$app" --demo "$@"
fi
echo "no display (DISPLAY/WAYLAND_DISPLAY unset): starting the console under Xvfb to take screenshots"
mkdir -p "$root/screenshots"
AIRLOCK_E2E_OUT="$root/screenshots" exec "$root/tests/harness/with-keyring.sh" \
  bash -c '
    set -euo pipefail
    for n in $(seq 90 140); do [ -e "/tmp/.X11-unix/X$n" ] || { display=":$n"; break; }; done
    Xvfb "$display" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
    xvfb=$!; trap "kill $xvfb 2>/dev/null || true" EXIT
    for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
    DISPLAY="$display" python3 "$1/tests/e2e/screenshots.py" --app "$2" --out "$1/screenshots"
  ' _ "$root" "$app"
