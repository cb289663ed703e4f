#!/usr/bin/env bash
# `make demo-cli`: a scripted tour of the command line on the
# embedded default — a local folder as the bucket, a local signing key in the OS keychain,
# SQLite for the registry — in ./demo (removed and recreated on each run).
# Without a desktop keychain (no D-Bus session), it runs inside a private gnome-keyring.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -z "${AIRLOCK_IN_KEYRING_SESSION:-}" ]; then
  exec "$root/tests/harness/with-keyring.sh" "$0" "$@"
fi
# The binary `make build` made, wherever CARGO_TARGET_DIR puts it.
target=$(cd "$root" && ${CARGO:-cargo} metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
airlock="$target/debug/airlock"
demo="$root/demo"
rm -rf "$demo" && mkdir -p "$demo/workspace" "$demo/bundle-1.0.0/js" "$demo/bundle-1.1.0/js"
printf '<!doctype html><script src="js/app.js"></script>\n' | tee "$demo/bundle-1.0.0/index.html" > "$demo/bundle-1.1.0/index.html"
echo 'console.log("shop 1.0.0")' > "$demo/bundle-1.0.0/js/app.js"
echo 'console.log("shop 1.1.0")' > "$demo/bundle-1.1.0/js/app.js"
cd "$demo/workspace"
# Every step must succeed, except those marked `refused`, which must be refused (exit 1):
# any other outcome fails the tour.
step() { printf '\n\033[1m$ airlock %s\033[0m\n' "$*"; "$airlock" "$@"; }
refused() {
  printf '\n\033[1m$ airlock %s\033[0m   (refused, as it should be)\n' "$*"
  local rc=0; "$airlock" "$@" || rc=$?
  [ "$rc" -eq 1 ] || { echo "expected a refusal (exit 1), got exit $rc" >&2; exit 1; }
}
export AIRLOCK_ACTOR=ana
step init --store "file://$demo/store"
step release shop-ios ../bundle-1.0.0 --version 1.0.0 --description "First OTA release"
refused promote shop-ios --from Staging --to Production
AIRLOCK_ACTOR=bob step approve shop-ios 1.0.0 --channel Production
step promote shop-ios --from Staging --to Production --percent 100
step release shop-ios ../bundle-1.1.0 --version 1.1.0 --description "Checkout fix"
AIRLOCK_ACTOR=bob step approve shop-ios 1.1.0 --channel Production
step promote shop-ios --from Staging --to Production
step expand shop-ios Production --next
step verify shop-ios Production --install-id device-42
step status shop-ios
step expand shop-ios Production --percent 100
step rollback shop-ios Production --reason "crash-free sessions fell below 99.5 %"
step verify shop-ios Production --install-id device-42
step log shop-ios
printf '\nThe store is in %s; the workspace (airlock.toml, airlock.db) in %s.\n' "$demo/store" "$demo/workspace"
