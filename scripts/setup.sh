#!/usr/bin/env bash
# Installs what Airlock's build and tests need on a fresh Debian/Ubuntu machine, skipping
# whatever is already there: system packages (build tools, webkit2gtk for the console,
# Xvfb and WebKitWebDriver for its end-to-end tests, gnome-keyring for the keychain tests,
# Prometheus and promtool for the KPI tests),
# Node 20+ for the UI, and tauri-driver. Run as root or with sudo available.
set -euo pipefail
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
need=()
for pkg in build-essential pkg-config gnome-keyring dbus dbus-bin openssl python3 python3-venv curl \
    util-linux coreutils findutils libwebkit2gtk-4.1-dev libssl-dev libayatana-appindicator3-dev \
    librsvg2-dev libxdo-dev xvfb webkit2gtk-driver xdotool imagemagick file prometheus; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
node_ok() { command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; }
node_ok || { command -v node >/dev/null || need+=(nodejs npm); }
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# Debian 12's Node is 18; the UI's build tools need 20.19 or newer. npm's `node` package
# brings an official Node build from the npm registry.
if ! node_ok; then
  echo "installing Node 20 from the npm registry (this system's Node is $(node --version 2>/dev/null || echo missing))"
  $sudo npm install -g --no-audit --no-fund node@20
  hash -r
  node_ok || { echo "Node 20.19+ is needed for the UI build; install it and retry" >&2; exit 2; }
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 2; }
if ! command -v tauri-driver >/dev/null; then
  echo "installing tauri-driver 2.1.0 (the WebDriver bridge of the end-to-end tests)"
  cargo install tauri-driver --version 2.1.0 --locked --quiet
fi
