"""docker-compose.yml, the Dockerfile and the monitoring files, validated without an engine."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "helm" / "streamrec" / "files"
SECRETS = {
    "REDIS_PASSWORD": "r-secret",
    "GRAFANA_ADMIN_PASSWORD": "g-secret",
    "STREAMREC_API_KEY": "w-secret",
}


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose not found: .ci/system-deps installs Debian's package")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [tool, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=clean | env,
        cwd=ROOT,
    )


def test_compose_is_valid_and_wired():
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) >= {
        "kafka",
        "redis",
        "topics",
        "worker",
        "reader",
        "prometheus",
        "grafana",
    }
    assert services["kafka"]["image"].startswith("apache/kafka:4")
    assert "--appendonly" in services["redis"]["command"]
    assert "r-secret" in services["redis"]["command"]
    for name in ("kafka", "redis", "worker", "reader", "prometheus", "grafana"):
        assert "healthcheck" in services[name], name
    worker = services["worker"]
    assert "ports" not in worker and "container_name" not in worker  # --scale worker=N works
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["reader"]["environment"]["STREAMREC_REDIS__PASSWORD"] == "r-secret"
    mounted = " ".join(str(v) for v in services["grafana"]["volumes"])
    assert "dashboard.json" in mounted


def test_compose_refuses_to_start_without_the_secrets():
    result = compose_config({})
    assert result.returncode != 0 and "set REDIS_PASSWORD" in result.stderr


@pytest.mark.parametrize("key", [None, ""], ids=["unset", "empty"])
def test_compose_writes_are_closed_without_a_key(key):
    """Unset or empty, the write key stops compose with the variable named: an empty key
    must never reach the reader as "no key needed"."""
    env = {k: v for k, v in SECRETS.items() if k != "STREAMREC_API_KEY"}
    if key is not None:
        env["STREAMREC_API_KEY"] = key
    result = compose_config(env)
    assert result.returncode != 0 and "set STREAMREC_API_KEY" in result.stderr


def test_compose_reader_gets_the_key_and_hides_neighbours():
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    reader = yaml.safe_load(result.stdout)["services"]["reader"]["environment"]
    assert reader["STREAMREC_API_KEY"] == "w-secret"
    assert reader["STREAMREC_HIDE_NEIGHBOUR_RATINGS"] == "true"
    assert "STREAMREC_ALLOW_ANONYMOUS_WRITES" not in reader


def test_dockerfile_passes_hadolint():
    tool = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([tool, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM python:3.11-slim") == 2  # multi-stage, slim base
    assert re.search(r"^USER 10001", text, re.M)
    assert re.search(r"^HEALTHCHECK .*streamrec\", \"health", text, re.M)
    assert 'ENTRYPOINT ["streamrec"]' in text


def build_context() -> set[str]:
    """What `docker build .` would send: files not matched by .dockerignore (its simple
    patterns: a name or glob, with ! exceptions; later lines win)."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), line.lstrip("!")))
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    kept = set()
    for path in tracked:
        ignored = False
        for negate, pattern in rules:
            pattern = pattern.removeprefix("**/")
            parts = path.split("/")
            hit = any(
                fnmatch.fnmatch("/".join(parts[: k + 1]), pattern) for k in range(len(parts))
            ) or fnmatch.fnmatch(parts[-1], pattern)
            if hit:
                ignored = not negate
        if not ignored:
            kept.add(path)
    return kept


def test_build_context_holds_the_package_and_nothing_else():
    context = build_context()
    assert {"pyproject.toml", "README.md", "Dockerfile"} - context == {"Dockerfile"}
    assert any(p.startswith("streams/") for p in context)
    assert any(p.startswith("app/static/") for p in context)
    assert not [p for p in context if p.startswith(("tests/", "helm/", "docs/", ".ci/", "bench/"))]


def test_alert_rules_check_and_unit_tests_pass():
    check = subprocess.run(
        ["promtool", "check", "rules", str(FILES / "alerts.yaml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        ["promtool", "test", "rules", str(ROOT / "tests" / "monitoring" / "alerts_test.yaml")],
        capture_output=True,
        text=True,
    )
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


def exported_metric_names() -> set[str]:
    from prometheus_client import REGISTRY

    import app.metrics  # noqa: F401
    import streams.commands.evaluate
    import streams.metrics  # noqa: F401

    names = {"up"}
    for family in REGISTRY.collect():  # labelled metrics have no samples until used
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        names.add(family.name)
        names.update(family.name + s for s in suffixes.get(family.type, []))
    return names


def test_dashboard_and_alerts_only_use_metrics_that_exist():
    known = exported_metric_names()
    dashboard = json.loads((FILES / "dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((FILES / "alerts.yaml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = set()
    for expr in exprs:
        used.update(re.findall(r"\b((?:streamrec|faust)_[a-z_]+|up)\b", expr))
    assert used and used <= known, used - known
    titles = {p["title"] for p in dashboard["panels"]}
    for wanted in (
        "Events/s",
        "lag",
        "Freshness",
        "Stale",
        "Reader latency",
        "Dead letters",
        "accuracy",
    ):
        assert any(wanted.lower() in t.lower() for t in titles), wanted
