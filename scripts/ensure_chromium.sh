#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests when it is missing (`make test` runs this).
# Idempotent and quiet: it does nothing when a browser is already there (CHROME_BIN,
# chromium or chromium-browser on PATH). Exits non-zero with a hint when it cannot install;
# the browser test then fails with the same hint (it never skips).
set -euo pipefail

for candidate in "${CHROME_BIN:-}" chromium chromium-browser; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
    exit 0
  fi
done

hint="install Chromium yourself (Debian/Ubuntu: apt-get install chromium) and put it on PATH, or set CHROME_BIN"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: Chromium is missing and apt-get is not available: $hint" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "ensure_chromium: Chromium is missing and installing it needs root: $hint" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
packages=(chromium fonts-liberation)  # fonts: readable screenshots without the recommends
echo "ensure_chromium: installing Debian's ${packages[*]} (once, about a minute)..." >&2
install() {
  $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
}
if ! install 2>/dev/null; then
  $sudo apt-get update -qq >/dev/null
  install || { echo "ensure_chromium: apt-get could not install chromium: $hint" >&2; exit 1; }
fi
command -v chromium >/dev/null 2>&1 || { echo "ensure_chromium: no chromium after install: $hint" >&2; exit 1; }
