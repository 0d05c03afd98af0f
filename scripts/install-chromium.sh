#!/usr/bin/env bash
# Install Debian's headless-capable Chromium and its WebDriver for the browser tests
# (tests/test_web_browser.py), the way scripts/start-postgres.sh installs PostgreSQL.
# Prints the chromium and chromedriver paths; exits 0 without installing when both exist.
set -euo pipefail
have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
if ! have; then
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    echo "install-chromium: not root and no sudo: install chromium and chromium-driver by hand" >&2
    exit 1
  fi
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "installing chromium and chromium-driver with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq chromium chromium-driver >&2
fi
have || { echo "install-chromium: chromium or chromedriver still missing" >&2; exit 1; }
echo "$(command -v chromium) $(command -v chromedriver)"
