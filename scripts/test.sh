#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (they start the real server), then the
# official Ping++ SDK conformance suite (Python pingpp 2.7.2, Node pingpp 2.1.6) and the
# property-based API tests generated from /openapi.json (scripts/fuzz-api.sh), the management
# console's browser tests (scripts/test-browser.sh: Playwright driving Debian's chromium), and the
# channel cross-checks (scripts/test-crosscheck.sh: wechatpy, Alipay's official SDK and
# python-alipay-sdk, and an acp client of our own on `cryptography`, against the simulators and
# the adapters); then the
# integration and SDK suites again on PostgreSQL, when one is reachable at
# PAYMUX_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test; under CI it must be).
# Installs what the SDK suite needs (a venv under tests/sdk/.venv, npm ci) by itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --locked -p paymux
cargo test --locked --workspace
PAYMUX_BIN=target/debug/paymux scripts/test-sdk.sh
PAYMUX_BIN=target/debug/paymux scripts/fuzz-api.sh
PAYMUX_BIN=target/debug/paymux scripts/test-browser.sh
PAYMUX_BIN=target/debug/paymux scripts/test-crosscheck.sh

pg_url="${PAYMUX_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! command -v psql >/dev/null || ! psql "$pg_url" -qtAc 'select 1' >/dev/null 2>&1; then
    if [[ "${CI:-}" == "true" ]]; then
        echo "test: PostgreSQL is not reachable at $pg_url" >&2
        exit 1
    fi
    echo "test: PostgreSQL is not reachable at $pg_url; skipping the PostgreSQL runs"
    exit 0
fi
echo "test: the integration and SDK suites on PostgreSQL ($pg_url)"
# Databases left behind by crashed runs.
psql "$pg_url" -qtAc "SELECT datname FROM pg_database WHERE datname LIKE 'paymux_t_%'" |
    while read -r name; do
        [[ -n "$name" ]] && psql "$pg_url" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
    done
PAYMUX_TEST_DATABASE_URL="$pg_url" cargo test --locked -p paymux --test api
PAYMUX_TEST_DATABASE_URL="$pg_url" cargo test --locked -p paymux-server --test schema --test time_and_balances --test webhooks --test console --test live_wechat --test live_alipay --test live_unionpay
PAYMUX_SDK_DATABASE_URL="$pg_url" PAYMUX_BIN=target/debug/paymux scripts/test-sdk.sh
