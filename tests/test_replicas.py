"""Two replicas behind Debian's nginx (scripts/serve.sh), driven by bench/load.py's protocol client:
a Streamlit session completes through the proxy, each replica answers its health check, the metrics
endpoint is refused at the proxy, and a browser's requests and websockets all stay on one replica."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve.sh"


def _load_module():
    """bench/ is not a package: load the script as a module (once per process)."""
    if "unrolled_bench_load" not in sys.modules:
        spec = importlib.util.spec_from_file_location("unrolled_bench_load", ROOT / "bench" / "load.py")
        sys.modules["unrolled_bench_load"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["unrolled_bench_load"])
    return sys.modules["unrolled_bench_load"]


load = _load_module()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _nginx() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def _port_free(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_ports(n: int) -> int:
    """The first of n consecutive free ports (the replicas take base, base + 1, ...)."""
    for _ in range(200):
        base = load.free_port()
        if base + n < 65535 and all(_port_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no consecutive free ports")


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes, list[str]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:   # a loaded machine answers slowly
            return r.status, r.read(), r.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        return e.code, e.read(), []


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if _nginx() is None:
        msg = "nginx is not installed (apt-get install nginx; scripts/test.sh installs it)"
        if _in_ci():
            pytest.fail(f"CI is set but {msg}")
        pytest.skip(msg)
    run_dir = tmp_path_factory.mktemp("serve")
    listen, base = load.free_port(), _free_ports(2)
    env = {**os.environ, "UNROLLED_RUN_DIR": str(run_dir), "UNROLLED_LISTEN": f"127.0.0.1:{listen}",
           "UNROLLED_BASE_PORT": str(base)}
    out = open(run_dir / "serve.out", "wb")
    proc = subprocess.Popen(["bash", str(SERVE), "2"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240   # two Streamlit servers and nginx, on a loaded 2-core machine
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve.sh exited with {proc.returncode}:\n{(run_dir / 'serve.out').read_text()}")
            with contextlib.suppress(OSError):
                if _get(f"http://127.0.0.1:{listen}/_stcore/health")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the proxy did not answer:\n{(run_dir / 'serve.out').read_text()}")
            time.sleep(0.3)
        yield {"url": f"http://127.0.0.1:{listen}", "port": listen, "replicas": [base, base + 1],
               "run_dir": run_dir}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        # serve.sh's trap stops nginx and the replicas (each in a process group of its own)
        for f in run_dir.glob("replica-*.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError, OSError):
                os.killpg(int(f.read_text()), signal.SIGKILL)
        out.close()


def _logged(run_dir: Path, cookie: str, path: str = "") -> list[str]:
    """The upstream of every logged request of this cookie (to `path`, if given), from the proxy's access log."""
    log = (run_dir / "logs" / "nginx-access.log").read_text()
    return [m.group(2) for m in re.finditer(r'"GET (\S+) [^"]*" \d+ \d+ upstream=(\S+) replica_cookie=(\S+)', log)
            if m.group(3) == cookie and path in m.group(1)]


def _upstreams(run_dir: Path, cookie: str, path: str = "") -> set[str]:
    """The replicas the proxy sent this cookie's requests (to `path`, if given) to, from its access log."""
    return set(_logged(run_dir, cookie, path))


def _wait_logged(run_dir: Path, cookies: list[str], path: str = "", n: int = 1, timeout: float = 60) -> None:
    """Wait until the access log holds at least n requests of each cookie: nginx writes a request's line
    after it has answered it (a websocket's when it closes), so a client can be done before its line is."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [c for c in cookies if len(_logged(run_dir, c, path)) < n]
        if not missing:
            return
        assert time.monotonic() < deadline, f"no {n} logged request(s) to {path or '/'} for {missing[:3]}"
        time.sleep(0.2)


def _run(coro):
    """asyncio.run in a thread of its own: in a full test run Playwright's sync API (the session-wide
    browser) keeps an event loop running in the main thread, where asyncio.run refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.mark.slow
def test_two_replicas_behind_nginx(served):
    url, run_dir = served["url"], served["run_dir"]
    # each replica answers its own health check; the proxy refuses the metrics endpoint a replica has
    for port in served["replicas"]:
        assert _get(f"http://127.0.0.1:{port}/_stcore/health")[:2] == (200, b"ok")
    assert _get(f"http://127.0.0.1:{served['replicas'][0]}/_stcore/metrics")[0] == 200
    assert _get(f"{url}/_stcore/metrics")[0] == 404
    assert _get(f"{url}/_stcore/metrics?x=1")[0] == 404

    # a session through the proxy: the page, the websocket, a slider move, no exception
    async def session(cookie: str | None = None):
        c = load.Client("127.0.0.1", served["port"], "Spectrum", timeout=90, cookie=cookie)
        try:
            await c.open()
            assert "rho" in c.widgets and "T" in c.widgets
            await c.move("T", 50)
            assert "T=50" in c.query
            return c.cookie
        finally:
            await c.close()

    jar = _run(session())
    sticky = dict(p.strip().partition("=")[::2] for p in jar.split(";"))["unrolled_replica"]
    # the same browser again (a reload: a new websocket with the cookie it has)
    _run(session(cookie=jar))
    _wait_logged(run_dir, [sticky], "/_stcore/stream", n=2)   # both sessions' websockets
    assert len(_upstreams(run_dir, sticky, "/_stcore/stream")) == 1, "the websockets changed replica"
    assert len(_upstreams(run_dir, sticky)) == 1, "the page and its websockets reached different replicas"

    # kill -9 the replica this browser is on: it reconnects through the proxy (to the other replica while
    # serve.sh starts the dead one again) and its session completes there
    port = int(next(iter(_upstreams(run_dir, sticky, "/_stcore/stream"))).rsplit(":", 1)[1])
    pid_file = run_dir / f"replica-{port}.pid"
    dead = int(pid_file.read_text())
    os.killpg(dead, signal.SIGKILL)
    _run(session(cookie=jar))
    deadline = time.monotonic() + 240
    while True:   # started again, on the same port
        with contextlib.suppress(OSError, ValueError):
            if int(pid_file.read_text()) != dead and _get(f"http://127.0.0.1:{port}/_stcore/health")[0] == 200:
                break
        assert time.monotonic() < deadline, "serve.sh did not start the killed replica again"
        time.sleep(0.5)

    # new browsers are spread over both replicas (20 cookies on one replica: chance 2^-19); nginx tries the
    # restarted replica again once its fail_timeout (5 s) has passed; tried until a generous deadline
    want = {f"127.0.0.1:{p}" for p in served["replicas"]}
    deadline = time.monotonic() + 90
    attempt = 0
    while True:
        names = [f"student{attempt}-{i}" for i in range(20)]
        for name in names:
            assert _get(f"{url}/_stcore/health", {"Cookie": f"unrolled_replica={name}"})[0] == 200
        _wait_logged(run_dir, names)
        used = set().union(*(_upstreams(run_dir, name) for name in names))
        if used == want or time.monotonic() > deadline:
            break
        attempt += 1
        time.sleep(1)
    assert used == want
    # a first visit gets the cookie that the hash used
    status, _, cookies = _get(f"{url}/_stcore/health")
    assert status == 200 and any(c.startswith("unrolled_replica=") and "HttpOnly" in c for c in cookies)
