#!/usr/bin/env bash
# Checks the deployment files as far as this machine can (it has no container engine, so the
# image is never built here): the systemd unit with `systemd-analyze verify`, the compose file
# and the Dockerfile read and checked for what they promise (two nodes on PostgreSQL, the
# readiness check, a non-root user, the data volume).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin="${PAYMUX_BIN:-target/debug/paymux}"
[[ -x "$bin" ]] || { echo "check-deploy: $bin not built" >&2; exit 2; }

if command -v systemd-analyze >/dev/null; then
    unit=$(mktemp -d)/paymux.service
    # verify wants ExecStart's binary to exist: point it at the one just built.
    sed "s#/usr/local/bin/paymux#$(realpath "$bin")#" deploy/paymux.service >"$unit"
    systemd-analyze verify "$unit"
    echo "check-deploy: deploy/paymux.service verified"
else
    echo "check-deploy: no systemd-analyze here; the unit is not verified"
fi

python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyyaml </dev/null
python3 - <<'PY'
import re
import yaml

compose = yaml.safe_load(open("compose.yaml"))
services = compose["services"]
nodes = [name for name in services if name.startswith("paymux")]
assert len(nodes) == 2, nodes
for name in nodes:
    service = services[name]
    url = service["environment"]["PAYMUX_DATABASE_URL"]
    assert url.startswith("postgres://") and "@postgres:5432/" in url, url
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
    assert any(port.endswith(":8080") for port in service["ports"]), service["ports"]
    assert any(v.endswith(":/var/lib/paymux") for v in service["volumes"]), service["volumes"]
assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
for volume in compose["volumes"]:
    assert any(volume + ":" in v for s in services.values() for v in s.get("volumes", [])), volume

docker = open("Dockerfile").read()
lines = [l.strip() for l in docker.splitlines() if l.strip() and not l.lstrip().startswith("#")]
stages = [l for l in lines if l.startswith("FROM ")]
assert len(stages) == 2 and " AS build" in stages[0], stages
user = [l for l in lines if l.startswith("USER ")]
assert user and user[-1].split()[1] not in ("root", "0"), user
assert any(l.startswith("HEALTHCHECK") for l in lines)
assert re.search(r"CMD curl -fsS http://127\.0\.0\.1:8080/readyz", docker)
assert 'VOLUME ["/var/lib/paymux"]' in docker
assert "--locked" in docker
print("check-deploy: compose.yaml and Dockerfile hold what they promise")

# The alert rules and the dashboard ask only for metrics the gateway exports.
source = open("crates/paymux-server/src/metrics.rs").read()
exported = set(re.findall(r'"(paymux_[a-z_]+)"', source))
histograms = set(re.findall(r'histogram!\(\s*"(paymux_[a-z_]+)"', source))
known = exported | {h + s for h in histograms for s in ("_bucket", "_count", "_sum")}
def check(expr, where):
    for name in re.findall(r"\b(paymux_[a-z_]+)", expr):
        assert name in known, f"{where}: {name} is not a metric paymux exports"
rules = yaml.safe_load(open("deploy/prometheus/alerts.yml"))
alerts = [r for g in rules["groups"] for r in g["rules"]]
assert len(alerts) >= 5 and all({"alert", "expr"} <= set(r) for r in alerts)
for rule in alerts:
    check(rule["expr"], rule["alert"])
import json
dashboard = json.load(open("deploy/grafana/paymux.json"))
targets = [t for p in dashboard["panels"] for t in p["targets"]]
assert targets
for target in targets:
    check(target["expr"], dashboard["title"])
print(f"check-deploy: {len(alerts)} alert rules and {len(targets)} dashboard queries use exported metrics")
PY
