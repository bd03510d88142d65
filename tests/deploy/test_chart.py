"""The Helm chart: lint, render every ci/*-values.yaml, validate every manifest against the
Kubernetes schemas (kubernetes-validate ships them offline), and check the rules that the
values promise (security context, probes, secrets, replica bound)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "streamrec"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


def helm() -> str:
    found = os.environ.get("STREAMREC_HELM") or shutil.which("helm")
    cached = Path.home() / ".cache" / "streamrec" / "bin" / "helm"
    if not found and cached.exists():
        found = str(cached)
    if not found:
        pytest.fail("helm not found: `make tools` installs it (go install, pinned version)")
    return found


def render(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [helm(), "template", "t", str(CHART), *args]
    return subprocess.run(cmd, capture_output=True, text=True)


def manifests(*args: str) -> list[dict]:
    result = render(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_there_are_ci_values_files():
    assert {p.name for p in CI_VALUES} >= {"default-values.yaml", "production-values.yaml"}


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_lint_passes(values):
    result = subprocess.run(
        [helm(), "lint", "--strict", str(CHART), "-f", str(values)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_manifest_is_valid_kubernetes(values, tmp_path):
    docs = manifests("-f", str(values))
    plain = [d for d in docs if d["kind"] not in CRD_KINDS]
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(plain))
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.31.0", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(plain)
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            assert doc["spec"]["endpoints"][0]["port"] in ("metrics", "http")


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_pods_are_locked_down_and_probed(values):
    for doc in manifests("-f", str(values)):
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True and ctx["capabilities"]["drop"] == ["ALL"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert container["resources"]["limits"]
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            if container["name"] == "reader":
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_existing_secret_is_used_and_none_is_created():
    docs = manifests("-f", str(CHART / "ci" / "production-values.yaml"))
    assert not [d for d in docs if d["kind"] == "Secret"]
    worker = next(
        d for d in docs if d["kind"] == "Deployment" and "worker" in d["metadata"]["name"]
    )
    env = worker["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env} == {"streamrec-credentials"}


def test_passwords_go_to_the_secret_not_the_configmap():
    docs = manifests("-f", str(CHART / "ci" / "minimal-values.yaml"))
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert "change-me" not in yaml.safe_dump(config)
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert set(secret["data"]) == {"redis-password", "api-key"}


def test_more_workers_than_partitions_is_refused():
    result = render("--set", "worker.replicas=9", "--set", "topics.ratingsPartitions=8")
    assert result.returncode != 0 and "must not exceed topics.ratingsPartitions" in result.stderr


def test_the_schema_rejects_bad_values():
    result = render("--set", "kafka.securityProtocol=BOGUS")
    assert result.returncode != 0 and "securityProtocol" in result.stderr
    result = render("--set", "redis.url=http://nope")
    assert result.returncode != 0 and "redis" in result.stderr


def test_prometheus_rule_is_the_checked_rule_file(tmp_path):
    docs = manifests("-f", str(CHART / "ci" / "production-values.yaml"))
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    shipped = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    count = sum(len(group["rules"]) for group in shipped["groups"])
    assert count >= 8  # every alert of the rule file, none lost in the wrapping
    assert result.returncode == 0 and f"SUCCESS: {count} rules found" in result.stdout, (
        result.stdout
    )


def test_notes_tell_how_to_read_a_top_n(tmp_path):
    """``helm install --dry-run`` needs a cluster; render NOTES.txt inside a ConfigMap."""
    chart = tmp_path / "streamrec"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    wrapper = (
        '{{- define "notes.text" }}' + notes + "{{- end }}\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |-\n"
        '{{ include "notes.text" . | indent 4 }}\n'
    )
    (chart / "templates" / "notes-test.yaml").write_text(wrapper)
    args = ["--namespace", "recs", "-s", "templates/notes-test.yaml"]
    result = subprocess.run(
        [helm(), "template", "t", str(chart), *args], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    text = yaml.safe_load(result.stdout)["data"]["notes"]
    assert "kubectl port-forward --namespace recs svc/t-streamrec-reader 8080:8080" in text
    assert "curl -s localhost:8080/v1/users/196/recommendations?n=10" in text


def _reader_env(docs: list[dict]) -> dict[str, dict]:
    reader = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("reader")
    )
    return {e["name"]: e for e in reader["spec"]["template"]["spec"]["containers"][0]["env"]}


def _decoded(secret: dict, key: str) -> str:
    import base64

    return base64.b64decode(secret["data"][key]).decode()


def test_writes_are_closed_by_default_with_a_generated_key():
    """No apiKey: a random key in the chart's Secret, bitnami style (``lookup`` keeps the
    stored one across upgrades; without a cluster, as here, a new one is drawn)."""
    docs = manifests()
    secret = next(d for d in docs if d["kind"] == "Secret")
    key = _decoded(secret, "api-key")
    assert len(key) == 40 and key.isalnum()
    again = next(d for d in manifests() if d["kind"] == "Secret")
    assert _decoded(again, "api-key") != key  # random, not a constant baked into the chart
    ref = _reader_env(docs)["STREAMREC_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"] and ref["key"] == "api-key"
    template = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace' in template


def test_a_given_key_is_used_and_only_the_reader_sees_it():
    docs = manifests("--set", "apiKey=my-write-key")
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert _decoded(secret, "api-key") == "my-write-key"
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"].endswith("worker"):
            env = doc["spec"]["template"]["spec"]["containers"][0]["env"]
            assert "STREAMREC_API_KEY" not in {e["name"] for e in env}
    assert "my-write-key" not in yaml.safe_dump([d for d in docs if d["kind"] != "Secret"])


@pytest.mark.parametrize("key", ["two words", "kéy"])
def test_the_schema_refuses_a_key_no_header_can_carry(key):
    result = render("--set-string", f"apiKey={key}")
    assert result.returncode != 0 and "apiKey" in result.stderr


def test_neighbours_ratings_are_hidden_by_default():
    assert _reader_env(manifests())["STREAMREC_HIDE_NEIGHBOUR_RATINGS"]["value"] == "true"
    shown = manifests("--set", "reader.hideNeighbourRatings=false")
    assert _reader_env(shown)["STREAMREC_HIDE_NEIGHBOUR_RATINGS"]["value"] == "false"


def _ingress_paths(*args: str) -> dict[str, str]:
    docs = manifests("--set", "ingress.enabled=true", *args)
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    return {p["path"]: p["pathType"] for p in paths}


def test_the_ingress_routes_the_api_and_the_page_only():
    assert _ingress_paths() == {"/v1": "Prefix", "/": "Exact"}  # not /metrics, not /docs
    with_docs = _ingress_paths("--set", "ingress.exposeDocs=true")
    assert with_docs == {
        "/v1": "Prefix",
        "/": "Exact",
        "/docs": "Exact",
        "/redoc": "Exact",
        "/openapi.json": "Exact",
    }


def test_a_redis_cluster_is_named_to_every_process():
    docs = manifests("-f", str(CHART / "ci" / "redis-cluster-values.yaml"))
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert config["data"]["STREAMREC_REDIS__CLUSTER"] == "true"
    assert config["data"]["STREAMREC_REDIS__WAIT_REPLICAS"] == "1"
    plain = next(d for d in manifests() if d["kind"] == "ConfigMap")
    assert "STREAMREC_REDIS__CLUSTER" not in plain["data"]
    assert "STREAMREC_REDIS__WAIT_REPLICAS" not in plain["data"]
