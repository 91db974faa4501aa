#!/usr/bin/env bash
# Official-SDK conformance suite: drives a real paymux server with the
# unmodified Ping++ SDKs (Python pingpp==2.7.2, Node pingpp@2.1.6), in test
# mode and (test_live.py, live.test.js) in live mode against the
# `paymux simulate wechat|alipay` simulators, which the suite starts itself.
#
#   scripts/test-sdk.sh                       # uses target/debug/paymux
#   PAYMUX_BIN=target/release/paymux scripts/test-sdk.sh
#   PAYMUX_SDK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test scripts/test-sdk.sh
#
# Environment:
#   PAYMUX_BIN             server binary (default target/debug/paymux, relative to the repo root)
#   PYTHON                 interpreter used to create the venv (default python3)
#   PAYMUX_SDK_KEEP_DATA=1 keep each test server's temp data dir and logs
#   PYTEST_ADDOPTS         extra pytest options (e.g. "-k refund -x")
#   PAYMUX_SDK_DATABASE_URL  run on PostgreSQL instead of SQLite: every test server
#                          gets a fresh database paymux_sdk_<pid>_<random>, created
#                          via psql through this URL and dropped when it stops
#
# Idempotent and non-interactive: reuses tests/sdk/.venv (reinstalling only
# when requirements.txt changes) and runs `npm ci` in tests/sdk. Runs both
# suites even if the first fails; exits non-zero if either fails.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sdk_dir="$repo_root/tests/sdk"
venv="$sdk_dir/.venv"

die() { echo "test-sdk: $*" >&2; exit 2; }

# --- server binary --------------------------------------------------------
bin="${PAYMUX_BIN:-target/debug/paymux}"
case "$bin" in /*) ;; *) bin="$repo_root/$bin" ;; esac
[ -f "$bin" ] || die "paymux binary not found: $bin (run \`cargo build -p paymux\` or set PAYMUX_BIN)"
[ -x "$bin" ] || die "paymux binary is not executable: $bin"
export PAYMUX_BIN="$bin"

command -v openssl >/dev/null || die "openssl is required (RSA keys for the signature tests and the live-mode Alipay app)"
command -v node >/dev/null || die "node (>= 20) is required"
command -v npm >/dev/null || die "npm is required"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "node >= 20 is required (found $(node --version))"

# --- storage engine -------------------------------------------------------
pg_url="${PAYMUX_SDK_DATABASE_URL:-}"
if [ -z "$pg_url" ]; then
    engine="SQLite"
    echo "test-sdk: storage engine: $engine"
else
    case "$pg_url" in
        postgres://*|postgresql://*) ;;
        *) die "PAYMUX_SDK_DATABASE_URL must be a postgres:// or postgresql:// URL" ;;
    esac
    # shown without the password (user:password@ and ?password=)
    shown="$(printf '%s' "$pg_url" | sed -E 's#^([a-z]+://[^:/@?]*):[^/?]*@#\1@#; s#([?&])password=[^&]*&?#\1#; s#[?&]$##')"
    engine="PostgreSQL at $shown"
    echo "test-sdk: storage engine: $engine"
    command -v psql >/dev/null || die "psql is required when PAYMUX_SDK_DATABASE_URL is set (on Debian: apt-get install postgresql-client)"
    pg() { PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}" psql "$pg_url" -X -q -v ON_ERROR_STOP=1 "$@" </dev/null; }
    pg -c 'select 1' >/dev/null || die "cannot connect to PostgreSQL at $shown (psql -c 'select 1' failed)"
    # drop databases left behind by earlier crashed runs (not those of live processes)
    for db in $(pg -At -c "SELECT datname FROM pg_database WHERE datname LIKE 'paymux\_sdk\_%'"); do
        pid="${db#paymux_sdk_}"; pid="${pid%%_*}"
        if kill -0 "$pid" 2>/dev/null; then continue; fi
        echo "test-sdk: dropping stale database $db"
        pg -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
    done
fi

# --- python venv ----------------------------------------------------------
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python not found"
if [ ! -x "$venv/bin/python" ]; then
    echo "test-sdk: creating $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" </dev/null || die "could not create a venv (on Debian: apt-get install python3-venv)"
fi
req_hash="$(sha256sum "$sdk_dir/requirements.txt" | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$req_hash" ]; then
    echo "test-sdk: installing Python requirements"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$sdk_dir/requirements.txt" </dev/null
    echo "$req_hash" >"$stamp"
fi

# --- node modules ---------------------------------------------------------
echo "test-sdk: npm ci"
(cd "$sdk_dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null)

# --- run ------------------------------------------------------------------
status=0
echo "test-sdk: Python SDK suite (pingpp 2.7.2) against $PAYMUX_BIN on $engine"
(cd "$sdk_dir/python" && "$venv/bin/python" -m pytest </dev/null) || status=1

echo "test-sdk: Node SDK suite (pingpp 2.1.6) against $PAYMUX_BIN on $engine"
(cd "$sdk_dir" && node --test --test-reporter=spec node/ </dev/null) || status=1

if [ "$status" -eq 0 ]; then
    echo "test-sdk: all SDK conformance tests passed"
else
    echo "test-sdk: SDK conformance tests FAILED" >&2
fi
exit "$status"
