#!/usr/bin/env bash
# Installs what Airlock's build and tests need on a fresh Debian/Ubuntu machine, skipping
# whatever is already there. Run as root or with sudo available.
set -euo pipefail
need=()
for pkg in build-essential pkg-config gnome-keyring dbus dbus-bin openssl python3 python3-venv curl util-linux coreutils findutils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 2; }
