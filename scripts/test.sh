#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (they start the real server),
# then the official Ping++ SDK conformance suite (Python pingpp 2.7.2, Node pingpp 2.1.6).
# Installs what the SDK suite needs (a venv under tests/sdk/.venv, npm ci) by itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --locked -p paymux
cargo test --locked --workspace
PAYMUX_BIN=target/debug/paymux scripts/test-sdk.sh
