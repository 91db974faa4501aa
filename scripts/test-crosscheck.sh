#!/usr/bin/env bash
# Cross-check suite: channel libraries against paymux's channel simulators (the library as the
# merchant's client) and against paymux's adapters (a fake channel built on the library's own
# signing code, driven through paymux). WeChat and Alipay: third-party libraries, unchanged from
# their registries. UnionPay: no library for it installs from the registries these machines
# reach, so an acp 5.1.0 client written for the suite on `cryptography` stands in
# (tests/crosscheck/unionpay_support.py).
#
#   scripts/test-crosscheck.sh                      # uses target/debug/paymux
#   PAYMUX_BIN=target/release/paymux scripts/test-crosscheck.sh
#
# Environment:
#   PAYMUX_BIN      server binary (default target/debug/paymux, relative to the repo root)
#   PYTHON          interpreter used to create the venv (default python3)
#   PYTEST_ADDOPTS  extra pytest options (e.g. "-k wechat -x")
#
# Idempotent and non-interactive: reuses tests/crosscheck/.venv, reinstalling only when
# requirements.txt or requirements-isolated.txt changes.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite_dir="$repo_root/tests/crosscheck"
venv="$suite_dir/.venv"

die() { echo "test-crosscheck: $*" >&2; exit 2; }

bin="${PAYMUX_BIN:-target/debug/paymux}"
case "$bin" in /*) ;; *) bin="$repo_root/$bin" ;; esac
[ -f "$bin" ] || die "paymux binary not found: $bin (run \`cargo build -p paymux\` or set PAYMUX_BIN)"
[ -x "$bin" ] || die "paymux binary is not executable: $bin"
export PAYMUX_BIN="$bin"

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python not found"
if [ ! -x "$venv/bin/python" ]; then
    echo "test-crosscheck: creating $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" </dev/null || die "could not create a venv (on Debian: apt-get install python3-venv)"
fi
req_hash="$(cat "$suite_dir/requirements.txt" "$suite_dir/requirements-isolated.txt" | sha256sum | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$req_hash" ]; then
    echo "test-crosscheck: installing Python requirements"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$suite_dir/requirements.txt" </dev/null
    # Packages whose import name clashes with another's: a directory of their own, no deps.
    rm -rf "$venv/isolated"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --no-deps --target "$venv/isolated" -r "$suite_dir/requirements-isolated.txt" </dev/null
    echo "$req_hash" >"$stamp"
fi

echo "test-crosscheck: against $PAYMUX_BIN"
cd "$suite_dir"
exec "$venv/bin/python" -m pytest -ra -p no:cacheprovider . </dev/null
