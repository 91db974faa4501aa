#!/usr/bin/env bash
# Property-based tests of the whole API from its own OpenAPI document: schemathesis generates
# requests from /openapi.json (valid and invalid ones, and chains of them: create a charge,
# refund it, ...) against a real server and checks that nothing answers 5xx and that every
# answer's status, content type, headers and body are the ones the document declares.
#
#   scripts/fuzz-api.sh                  # uses target/debug/paymux
#   PAYMUX_BIN=target/release/paymux FUZZ_EXAMPLES=500 scripts/fuzz-api.sh
#
# Installs schemathesis (pinned in tests/fuzz/requirements.txt) into tests/fuzz/.venv itself.
# The seed is fixed so a run is repeatable; FUZZ_SEED picks another.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$repo_root/tests/fuzz"
venv="$fuzz_dir/.venv"
bin="${PAYMUX_BIN:-target/debug/paymux}"
case "$bin" in /*) ;; *) bin="$repo_root/$bin" ;; esac
[ -x "$bin" ] || { echo "fuzz-api: no paymux binary at $bin" >&2; exit 2; }

stamp="$venv/.requirements"
if ! cmp -s "$fuzz_dir/requirements.txt" "$stamp" 2>/dev/null; then
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$fuzz_dir/requirements.txt"
    cp "$fuzz_dir/requirements.txt" "$stamp"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Channels need a secrets key to be configured; the fuzzer configures them too.
head -c 32 /dev/urandom | base64 > "$work/secrets.key"
key="$("$bin" init --data-dir "$work/data" --json | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["test_secret_key"])')"
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 --secrets-key-file "$work/secrets.key" \
    --test-refund-delay-ms 10 --webhook-deny-networks private >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
base=""
for _ in $(seq 1 100); do
    base="$(sed -n 's/^paymux listening on //p' "$work/serve.out")"
    [ -n "$base" ] && break
    sleep 0.1
done
[ -n "$base" ] || { echo "fuzz-api: the server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

status=0
# schemathesis keeps a cache in the working directory: let it be the throwaway one.
cd "$work"
"$venv/bin/st" run "$base/openapi.json" \
    -H "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "${FUZZ_EXAMPLES:-25}" --seed "${FUZZ_SEED:-20261205}" --workers 2 \
    --no-color || status=$?
if grep -q "request failed" "$work/serve.log"; then
    echo "fuzz-api: the server logged failed requests:" >&2
    grep "request failed" "$work/serve.log" | head -20 >&2
    status=1
fi
exit "$status"
