"""deploy/: the Kubernetes manifests parse and say what the README promises; the Dockerfile is read
(no container runtime on the test machines)."""
from __future__ import annotations

import os
import re
import subprocess
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
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}, probe
    # the startup probe runs the home page once, which makes /_stcore/health check the engine too
    assert c["startupProbe"]["httpGet"] == {"path": "/_stcore/script-health-check", "port": "http"}
    assert {"name": "STREAMLIT_SERVER_SCRIPT_HEALTH_CHECK_ENABLED", "value": "true"} in c["env"]
    res = c["resources"]
    for kind in ("cpu", "memory"):
        assert _quantity(res["requests"][kind]) <= _quantity(res["limits"][kind])
    assert res["limits"]["memory"] == "1536Mi"   # the goal: no visitor takes a server above 1.5 GB
    # the thread pool and the slots follow the CPU limit (os.cpu_count() sees the node); the app reads each
    # as a plain integer, which resourceFieldRef with divisor 1 gives (the limit rounded up)
    env = {e["name"]: e for e in c["env"]}
    for name in ("NUMBA_NUM_THREADS", "UNROLLED_TRAIN_SLOTS", "UNROLLED_CPU_LIMIT"):
        assert env[name]["valueFrom"] == {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}, name
    assert "UNROLLED_HEAVY_SLOTS" not in env   # derived from UNROLLED_CPU_LIMIT by deploy/entrypoint.sh


def _dockerfile_env() -> dict[str, str]:
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    out = {}
    for ln in text.splitlines():
        if ln.startswith("ENV "):
            out.update(re.findall(r"(\w+)=(\S+)", ln))
    return out


def test_pod_is_hardened(docs):
    pod = docs[("Deployment", "unrolled")]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsUser"] != 0
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # the writable places are emptyDirs: /tmp (also HOME) and the numba cache's runtime copy
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    env = _dockerfile_env()
    assert env["HOME"] == "/tmp" and env["NUMBA_CACHE_DIR"] == "/var/cache/unrolled/numba"
    for path in ("/tmp", env["NUMBA_CACHE_DIR"]):
        assert path in mounts, path
        assert "emptyDir" in volumes[mounts[path]], path
        assert not any(m.get("readOnly") for m in c["volumeMounts"] if m["mountPath"] == path)


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
    assert [p["path"] for p in deny["spec"]["rules"][0]["http"]["paths"]] == ["/_stcore/metrics",
                                                                              "/_stcore/script-health-check"]
    assert "0.0.0.0/0" in deny["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"]


def test_dockerfile():
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())   # join continued lines
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    # the base image is an argument: the header says how to pin it by digest
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim" and lines[1] == "FROM ${BASE_IMAGE}"
    assert "docker buildx imagetools inspect python:3.11-slim" in text
    assert "--build-arg BASE_IMAGE=python:3.11-slim@sha256:" in text
    assert "libgomp1" in text and "COPY requirements.txt ." in text and "pip install -r requirements.txt" in text
    # the code is root's: copied without --chown, the cache warmed as root, only then the app user
    copies = [ln for ln in lines if ln.startswith("COPY ")]
    assert "COPY . ." in copies and not any("--chown" in ln for ln in copies)
    warm = next(i for i, ln in enumerate(lines) if "python deploy/warm_cache.py" in ln)
    assert "NUMBA_CACHE_DIR=/opt/numba-cache" in lines[warm] and (DEPLOY / "warm_cache.py").exists()
    assert "chmod -R a+rX,go-w /app /opt/numba-cache" in lines[warm]
    user = next(i for i, ln in enumerate(lines) if ln.startswith("USER "))
    assert lines[user].split()[1] not in ("root", "0")
    assert warm < user < next(i for i, ln in enumerate(lines) if ln.startswith("CMD "))
    assert lines.index('ENTRYPOINT ["/bin/sh", "/app/deploy/entrypoint.sh"]') > user
    assert (DEPLOY / "entrypoint.sh").exists()
    assert "deploy" not in (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert "/_stcore/health" in next(ln for ln in text.splitlines() if "urlopen" in ln)
    cmd = next(ln for ln in lines if ln.startswith("CMD "))
    assert '"--server.address", "0.0.0.0"' in cmd and '"--server.port", "8501"' in cmd


def _entrypoint(tmp_path, **env) -> dict[str, str]:
    """Run deploy/entrypoint.sh with `env` as its command: the environment it hands over."""
    base = {"PATH": os.environ["PATH"], "NUMBA_CACHE_DIR": str(tmp_path / "run"),
            "UNROLLED_NUMBA_PREBUILT": str(tmp_path / "prebuilt")}
    out = subprocess.run(["sh", str(DEPLOY / "entrypoint.sh"), "env"], env={**base, **env}, check=True,
                         capture_output=True, text=True).stdout
    return dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)


def test_entrypoint_copies_the_prebuilt_cache_and_sizes_the_heavy_slots(tmp_path):
    (tmp_path / "prebuilt" / "engine_abc").mkdir(parents=True)
    (tmp_path / "prebuilt" / "engine_abc" / "k-1.py311.nbi").write_bytes(b"index")
    (tmp_path / "run" / "engine_abc").mkdir(parents=True)
    (tmp_path / "run" / "engine_abc" / "left-over.nbc").write_bytes(b"x")   # from an earlier start: removed
    env = _entrypoint(tmp_path, UNROLLED_CPU_LIMIT="2")
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == ["engine_abc", "k-1.py311.nbi"]
    assert (tmp_path / "run" / "engine_abc" / "k-1.py311.nbi").read_bytes() == b"index"
    assert env["UNROLLED_HEAVY_SLOTS"] == "1"
    assert _entrypoint(tmp_path, UNROLLED_CPU_LIMIT="4")["UNROLLED_HEAVY_SLOTS"] == "3"
    assert _entrypoint(tmp_path, UNROLLED_CPU_LIMIT="1")["UNROLLED_HEAVY_SLOTS"] == "1"
    assert _entrypoint(tmp_path, UNROLLED_CPU_LIMIT="4", UNROLLED_HEAVY_SLOTS="2")["UNROLLED_HEAVY_SLOTS"] == "2"
    assert "UNROLLED_HEAVY_SLOTS" not in _entrypoint(tmp_path)   # plain docker run: the app's default


def test_numba_passes_over_a_cache_dir_it_cannot_write(tmp_path, monkeypatch):
    """Why deploy/entrypoint.sh copies the cache: numba uses NUMBA_CACHE_DIR only if it can create a file
    there. If a numba update used a read-only directory as it is, the copy would no longer be needed."""
    caching = pytest.importorskip("numba.core.caching")
    monkeypatch.setattr(caching.config, "CACHE_DIR", str(tmp_path))

    def f(x):
        return x

    assert caching.UserProvidedCacheLocator.from_function(f, __file__) is not None

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(caching.tempfile, "TemporaryFile", refuse)
    assert caching.UserProvidedCacheLocator.from_function(f, __file__) is None


def test_the_replicas_share_the_classroom_through_a_redis_without_disk(docs):
    """The app's pods get UNROLLED_ROOMS_URL naming the rooms' Service; Redis keeps nothing on disk and only
    the app's pods may reach it."""
    app = docs[("Deployment", "unrolled")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in app["env"]}
    rooms = docs[("Service", "unrolled-rooms")]
    port = rooms["spec"]["ports"][0]["port"]
    assert env["UNROLLED_ROOMS_URL"] == f"redis://{rooms['metadata']['name']}:{port}/0"
    redis = docs[("Deployment", "unrolled-rooms")]
    assert redis["spec"]["replicas"] == 1
    assert rooms["spec"]["selector"] == redis["spec"]["template"]["metadata"]["labels"]
    (c,) = redis["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
    assert c["securityContext"]["readOnlyRootFilesystem"] and redis["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    policy = docs[("NetworkPolicy", "unrolled-rooms")]
    assert policy["spec"]["podSelector"]["matchLabels"] == redis["spec"]["template"]["metadata"]["labels"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"][0]["podSelector"]["matchLabels"] == docs[("Deployment", "unrolled")]["spec"]["selector"]["matchLabels"]
