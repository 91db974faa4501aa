#!/usr/bin/env bash
# Runs the README's run command (the first line of its first `sh` block) exactly as written,
# waits until the gateway it starts answers /readyz, then stops it. A fresh clone's first command
# must work; this keeps it so. The data directory it creates is removed unless it existed before.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command=$(awk '/^```sh/{getline; sub(/[[:space:]]+#.*/, ""); print; exit}' README.md)
[[ -n "$command" ]] || { echo "readme-run: no run command found in README.md" >&2; exit 1; }
address=127.0.0.1:8080
if curl -s -o /dev/null "http://$address/healthz"; then
    echo "readme-run: $address is already taken; cannot try the README's command" >&2
    exit 1
fi
had_data=false
[[ -e paymux-data ]] && had_data=true
log=$(mktemp)
echo "readme-run: $command"
# Its own process group, so stopping it stops cargo and the gateway cargo started.
setsid bash -c "$command" >"$log" 2>&1 &
group=$!
stop() {
    kill -TERM -- "-$group" 2>/dev/null || true
    wait "$group" 2>/dev/null || true
    [[ "$had_data" == true ]] || rm -rf paymux-data
}
trap stop EXIT
# The first run builds the release binary: allow it the time that takes.
for _ in $(seq 1 1800); do
    if curl -fsS "http://$address/readyz" >/dev/null 2>&1; then
        grep -q "paymux listening on http://$address" "$log" || {
            cat "$log" >&2
            echo "readme-run: the gateway answers but did not say where it listens" >&2
            exit 1
        }
        echo "readme-run: the gateway answers on $address"
        exit 0
    fi
    if ! kill -0 "$group" 2>/dev/null; then
        tail -n 40 "$log" >&2
        echo "readme-run: \`$command\` exited before the gateway answered" >&2
        exit 1
    fi
    sleep 1
done
tail -n 40 "$log" >&2
echo "readme-run: no answer on $address after 30 minutes" >&2
exit 1
