"""deploy/: the Kubernetes manifests parse and say what the README promises; the Dockerfile is read
(no container runtime on the test machines)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _quantity(q: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3, "": 1}
    m = re.fullmatch(r"([\d.]+)(Ki|Mi|Gi|m|)", str(q))
    assert m, q
    return float(m.group(1)) * units[m.group(2)]


@pytest.fixture(scope="module")
def docs():
    yaml = pytest.importorskip("yaml")
    out = [d for d in yaml.safe_load_all((DEPLOY / "k8s.yaml").read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in out}


def test_deployment(docs):
    dep = docs[("Deployment", "unrolled")]
    spec = dep["spec"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert {"name": "http", "containerPort": 8501} in c["ports"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}, probe
    res = c["resources"]
    for kind in ("cpu", "memory"):
        assert _quantity(res["requests"][kind]) <= _quantity(res["limits"][kind])
    assert _quantity(res["limits"]["memory"]) >= 1.0 * 2**30   # the measured worst case of one process is ~0.8 GB
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["NUMBA_NUM_THREADS"] == env["UNROLLED_TRAIN_SLOTS"] == str(int(_quantity(res["limits"]["cpu"])))


def test_service_and_ingress_keep_a_browser_on_one_replica(docs):
    svc = docs[("Service", "unrolled")]
    assert svc["spec"]["sessionAffinity"] == "ClientIP"
    assert svc["spec"]["selector"] == {"app": "unrolled"}
    ing = docs[("Ingress", "unrolled")]
    a = ing["metadata"]["annotations"]
    assert a["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert a["nginx.ingress.kubernetes.io/affinity-mode"] == "persistent"
    assert int(a["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"]
    deny = docs[("Ingress", "unrolled-metrics-denied")]
    assert deny["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/_stcore/metrics"
    assert "0.0.0.0/0" in deny["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"]


def test_dockerfile():
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())   # join continued lines
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert "libgomp1" in text and "COPY requirements.txt ." in text and "pip install -r requirements.txt" in text
    user = next(i for i, ln in enumerate(lines) if ln.startswith("USER "))
    assert lines[user].split()[1] not in ("root", "0")
    assert user < next(i for i, ln in enumerate(lines) if ln.startswith("CMD "))
    assert "python deploy/warm_cache.py" in text and (DEPLOY / "warm_cache.py").exists()
    assert "/_stcore/health" in next(ln for ln in text.splitlines() if "urlopen" in ln)
    cmd = next(ln for ln in lines if ln.startswith("CMD "))
    assert '"--server.address", "0.0.0.0"' in cmd and '"--server.port", "8501"' in cmd
