#!/usr/bin/env bash
# Runs a command inside its own D-Bus session with a real, unlocked gnome-keyring serving
# the Secret Service, and its own keyring data folder (so a developer's own keyring is never
# touched). Usage: tests/harness/with-keyring.sh COMMAND [ARGS...]
# The keyring daemon is stopped (by PID) when the command ends.
set -euo pipefail

if [ -z "${AIRLOCK_IN_KEYRING_SESSION:-}" ]; then
  export AIRLOCK_IN_KEYRING_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi

data=$(mktemp -d /tmp/airlock-keyring.XXXXXX)
export XDG_DATA_HOME="$data" XDG_CONFIG_HOME="$data/config" XDG_RUNTIME_DIR="$data/run"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# The password only unlocks this throwaway test keyring.
out=$(printf '%s' "airlock-test-keyring" | gnome-keyring-daemon --unlock --components=secrets --daemonize)
eval "$out"
export GNOME_KEYRING_CONTROL
pid=${GNOME_KEYRING_PID:-}
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; then
    break
  fi
  sleep 0.1
done
"$@"
