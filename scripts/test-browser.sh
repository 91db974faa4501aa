#!/usr/bin/env bash
# Browser tests of the management console (/dashboard/): Playwright drives Debian's chromium
# against real `paymux serve` processes (one per test module, each on a fresh temp data dir),
# the official pingpp SDK (2.7.2) creates the charges and checks the keys.
#
#   scripts/test-browser.sh                          # uses target/debug/paymux
#   scripts/test-browser.sh -k test_key_roll         # arguments go to pytest
#   PAYMUX_BIN=target/release/paymux scripts/test-browser.sh
#
# Environment:
#   PAYMUX_BIN                  server binary (default target/debug/paymux, relative to the repo root)
#   PAYMUX_CHROMIUM             browser (default /usr/bin/chromium, installed with apt-get if missing)
#   PYTHON                      interpreter used to create the venv (default python3)
#   PAYMUX_BROWSER_KEEP_DATA=1  keep each test server's temp data dir and log
#   PYTEST_ADDOPTS              extra pytest options
#
# Idempotent and non-interactive: installs chromium only when it is missing, reuses
# tests/browser/.venv (reinstalling only when requirements.txt changes). Screenshots go to
# target/browser-screenshots/ (emptied at the start of each run). Exits non-zero on failure.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
browser_dir="$repo_root/tests/browser"
venv="$browser_dir/.venv"
shots="$repo_root/target/browser-screenshots"

die() { echo "test-browser: $*" >&2; exit 2; }

# --- server binary --------------------------------------------------------
bin="${PAYMUX_BIN:-target/debug/paymux}"
case "$bin" in /*) ;; *) bin="$repo_root/$bin" ;; esac
[ -f "$bin" ] || die "paymux binary not found: $bin (run \`cargo build -p paymux\` or set PAYMUX_BIN)"
[ -x "$bin" ] || die "paymux binary is not executable: $bin"
export PAYMUX_BIN="$bin"

# --- chromium -------------------------------------------------------------
chromium="${PAYMUX_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
    [ "$chromium" = /usr/bin/chromium ] || die "PAYMUX_CHROMIUM is not an executable: $chromium"
    command -v apt-get >/dev/null || die "/usr/bin/chromium is missing and there is no apt-get to install it"
    [ "$(id -u)" -eq 0 ] || die "/usr/bin/chromium is missing; install it as root: apt-get install chromium"
    echo "test-browser: installing chromium (apt-get)"
    install_chromium() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium </dev/null
    }
    if ! install_chromium; then
        echo "test-browser: apt-get install failed; running apt-get update and trying again"
        DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
        install_chromium || die "could not install chromium with apt-get"
    fi
    [ -x "$chromium" ] || die "chromium was installed but $chromium is not there"
fi
export PAYMUX_CHROMIUM="$chromium"
# Chinese glyphs, so screenshots of the pages (Chinese by default) can be read. Optional.
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null)" ] && [ "$(id -u)" -eq 0 ]; then
    echo "test-browser: installing a Chinese font (apt-get install fonts-wqy-microhei)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-wqy-microhei </dev/null >/dev/null ||
        echo "test-browser: no Chinese font; screenshots of Chinese pages show boxes"
fi
echo "test-browser: $("$chromium" --version 2>/dev/null || echo "chromium at $chromium")"

# --- python venv ----------------------------------------------------------
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python not found"
if [ ! -x "$venv/bin/python" ]; then
    echo "test-browser: creating $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" </dev/null || die "could not create a venv (on Debian: apt-get install python3-venv)"
fi
req_hash="$(sha256sum "$browser_dir/requirements.txt" | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$req_hash" ]; then
    echo "test-browser: installing Python requirements"
    # Playwright's own browser download is never used (nor possible here): chromium above.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check --no-input -r "$browser_dir/requirements.txt" </dev/null
    echo "$req_hash" >"$stamp"
fi

# --- run ------------------------------------------------------------------
rm -rf "$shots"
mkdir -p "$shots"
export PAYMUX_BROWSER_SCREENSHOTS="$shots"

status=0
echo "test-browser: console browser tests against $PAYMUX_BIN"
(cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$venv/bin/python" -m pytest "$@" </dev/null) || status=$?

echo "test-browser: screenshots in $shots ($(find "$shots" -name '*.png' | wc -l) files)"
if [ "$status" -eq 0 ]; then
    echo "test-browser: all browser tests passed"
else
    echo "test-browser: browser tests FAILED (pytest exit $status)" >&2
fi
exit "$status"
