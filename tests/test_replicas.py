"""Two replicas behind Debian's nginx (scripts/serve.sh), driven by bench/st_client.py's protocol client:
a Streamlit session completes through the proxy, each replica answers its health check, the metrics
endpoint is refused at the proxy, and a browser's requests and websockets all stay on one replica.
The proxy replaces a replica cookie it did not issue, sends its security headers, answers 429 past the
per-address limits, and the replicas refuse a websocket whose Host is not an allowed one. A classroom spans
both replicas through the redis-server serve.sh starts."""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from browser_support import bench_module

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve.sh"


load = bench_module("load")
st_client = bench_module("st_client")
load_room = bench_module("load_room")


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


REQ_PER_IP = 20    # requests per second per address in the served fixture (bursts of 80)
CONN_PER_IP = 8    # connections in progress per address
COOKIE = re.compile(r"unrolled_replica=([0-9a-f]{32}); Path=/; HttpOnly; SameSite=Lax")


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
    listen, base, redis_port = load.free_port(), _free_ports(2), load.free_port()
    # low per-address limits, so that the tests below reach them (each from an address of its own)
    env = {**os.environ, "UNROLLED_RUN_DIR": str(run_dir), "UNROLLED_LISTEN": f"127.0.0.1:{listen}",
           "UNROLLED_BASE_PORT": str(base), "UNROLLED_REQ_PER_IP": str(REQ_PER_IP),
           "UNROLLED_CONN_PER_IP": str(CONN_PER_IP), "UNROLLED_REDIS_PORT": str(redis_port)}
    env.pop("UNROLLED_ALLOWED_HOSTS", None)
    env.pop("UNROLLED_ROOMS_URL", None)     # serve.sh starts a redis-server for the replicas' rooms
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
               "run_dir": run_dir, "redis_port": redis_port}
    finally:
        load.stop_group(proc, 20)
        # serve.sh's trap stops nginx and the replicas (each in a process group of its own)
        for f in run_dir.glob("replica-*.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError, OSError):
                os.killpg(int(f.read_text()), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, ValueError, OSError):
            os.kill(int((run_dir / "redis.pid").read_text()), signal.SIGKILL)
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
        c = st_client.Client("127.0.0.1", served["port"], "Spectrum", timeout=90, cookie=cookie)
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
    while True:
        names = []
        for _ in range(20):   # a first request each, then one with the cookie it was given
            status, _, cookies = _get(f"{url}/_stcore/health")
            assert status == 200
            names.append(next(m.group(1) for c in cookies if (m := COOKIE.fullmatch(c))))
            assert _get(f"{url}/_stcore/health", {"Cookie": f"unrolled_replica={names[-1]}"})[0] == 200
        _wait_logged(run_dir, names)
        used = set().union(*(_upstreams(run_dir, name) for name in names))
        if used == want or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert used == want
    # a first visit gets the cookie that the hash used
    status, _, cookies = _get(f"{url}/_stcore/health")
    assert status == 200 and any(c.startswith("unrolled_replica=") and "HttpOnly" in c for c in cookies)


def _keyed(run_dir: Path, key: str) -> list[tuple[str, str]]:
    """(cookie sent, upstream) of every logged request the proxy routed by `key`."""
    log = (run_dir / "logs" / "nginx-access.log").read_text()
    return [(m.group(2), m.group(1)) for m in re.finditer(
        r'upstream=(\S+) replica_cookie=(\S+) replica_key=(\S+) ', log) if m.group(3) == key]


@pytest.mark.slow
def test_a_cookie_the_proxy_did_not_issue_is_a_new_browser(served):
    url, run_dir = served["url"], served["run_dir"]
    assert (run_dir / "nginx.conf").stat().st_mode & 0o077 == 0   # it holds this run's cookie values
    forged = ["anything", "0" * 32, "student-1", "ab" * 16]
    fresh = []
    for value in forged:
        status, _, cookies = _get(f"{url}/_stcore/health", {"Cookie": f"unrolled_replica={value}"})
        assert status == 200
        (m,) = [m for c in cookies if (m := COOKIE.fullmatch(c))]
        assert m.group(1) != value
        fresh.append(m.group(1))
    assert len(set(fresh)) > 1   # drawn at random for each, not one value for every forger
    # routed by the fresh value, exactly like a browser without a cookie (an earlier browser may have drawn
    # the same value from the pool: its requests are routed by it too)
    for value, new in zip(forged, fresh):
        deadline = time.monotonic() + 60
        while value not in [sent for sent, _ in _keyed(run_dir, new)]:
            assert time.monotonic() < deadline, f"no logged request with cookie {value} routed by {new}"
            time.sleep(0.2)
    # an issued cookie is kept: no new Set-Cookie, routed by it, to the same replica every time
    key = fresh[0]
    for _ in range(5):
        status, _, cookies = _get(f"{url}/_stcore/health", {"Cookie": f"unrolled_replica={key}"})
        assert status == 200 and not any(c.startswith("unrolled_replica=") for c in cookies)
    _wait_logged(run_dir, [key], n=5)
    assert len({up for _, up in _keyed(run_dir, key)}) == 1


def _headers(url: str, headers: dict | None = None, source: str = "127.0.0.1") -> tuple[int, dict[str, list[str]]]:
    """Status and headers (name in lower case -> every value) of a GET sent from the address `source`."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", parts.path or "/", headers=headers or {})
        r = conn.getresponse()
        r.read()
        out: dict[str, list[str]] = {}
        for k, v in r.getheaders():
            out.setdefault(k.lower(), []).append(v)
        return r.status, out
    finally:
        conn.close()


@pytest.mark.slow
def test_security_headers_on_every_answer(served):
    url = served["url"]
    status, body, _ = _get(url + "/")
    assert status == 200
    script = re.search(rb'src="\.?/?(static/[^"]+\.js)"', body)
    assert script, body[:500]
    for path, want in (("/", 200), ("/" + script.group(1).decode(), 200), ("/_stcore/health", 200),
                       ("/_stcore/metrics", 404)):
        status, h = _headers(url + path)
        assert status == want, path
        assert h.get("x-content-type-options") == ["nosniff"], (path, h)
        assert h.get("x-frame-options") == ["SAMEORIGIN"], path
        assert h.get("referrer-policy") == ["same-origin"], path


def _upgrade(port: int, host: str, source: str = "127.0.0.1") -> tuple[int, socket.socket]:
    """Open /_stcore/stream as a browser would, with this Host header: the answer's status and the socket
    (left open: a websocket that was accepted stays connected until the caller closes it)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n"
               "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, s


@pytest.mark.slow
def test_replicas_refuse_a_websocket_for_another_host(served):
    port = served["port"]
    # server.allowedHosts (serve.sh's default for 127.0.0.1: that and localhost): Streamlit checks the
    # Host of the websocket only; the page itself is served to any Host
    for host, want in ((f"127.0.0.1:{port}", 101), (f"localhost:{port}", 101), ("evil.example.org", 403),
                       (f"rebound.example.org:{port}", 403)):
        status, s = _upgrade(port, host)
        s.close()
        assert status == want, host
    assert _headers(f"{served['url']}/", {"Host": "evil.example.org"})[0] == 200
    # the replica itself, without the proxy, refuses it too
    status, s = _upgrade(served["replicas"][0], "evil.example.org")
    s.close()
    assert status == 403


@pytest.mark.slow
def test_too_many_requests_from_one_address_get_429(served):
    """Past the burst (4 x UNROLLED_REQ_PER_IP at once), requests from one address are answered 429, with
    the headers; another address is not affected. From 127.0.0.2, so no other test shares the budget."""
    url = served["url"] + "/_stcore/health"

    def one(_):
        return _headers(url, source="127.0.0.2")

    # fewer at once than CONN_PER_IP, which would answer 429 as well
    with concurrent.futures.ThreadPoolExecutor(max_workers=CONN_PER_IP // 2) as pool:
        answers = list(pool.map(one, range(40 * REQ_PER_IP // 2)))
    codes = [status for status, _ in answers]
    assert set(codes) <= {200, 429}
    assert codes.count(200) >= 4 * REQ_PER_IP and codes.count(429) > 0, codes
    refused = next(h for status, h in answers if status == 429)
    assert refused.get("x-content-type-options") == ["nosniff"]
    assert _headers(url, source="127.0.0.1")[0] == 200


@pytest.mark.slow
def test_too_many_connections_from_one_address_get_429(served):
    """A websocket counts against UNROLLED_CONN_PER_IP for as long as it is open."""
    port = served["port"]
    held = []
    try:
        for _ in range(CONN_PER_IP):
            status, s = _upgrade(port, f"127.0.0.1:{port}", source="127.0.0.3")
            held.append(s)
            assert status == 101
        status, s = _upgrade(port, f"127.0.0.1:{port}", source="127.0.0.3")
        held.append(s)
        assert status == 429
        status, s = _upgrade(port, f"127.0.0.1:{port}", source="127.0.0.4")   # another address
        held.append(s)
        assert status == 101
    finally:
        for s in held:
            s.close()


def test_serve_refuses_a_limit_that_is_not_a_number(tmp_path):
    for name in ("UNROLLED_REQ_PER_IP", "UNROLLED_CONN_PER_IP"):
        env = {**os.environ, "UNROLLED_RUN_DIR": str(tmp_path / "run"), name: "50r/s"}
        r = subprocess.run(["bash", str(SERVE), "2"], env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and name in r.stderr
        assert not (tmp_path / "run").exists()


def _cookie_on_each_replica(served) -> dict[int, str]:
    """A proxy cookie for each replica (port -> unrolled_replica value), read from the access log."""
    url, run_dir = served["url"], served["run_dir"]
    found: dict[int, str] = {}
    deadline = time.monotonic() + 90
    while len(found) < len(served["replicas"]):
        assert time.monotonic() < deadline, f"no cookie for every replica: {found}"
        status, _, cookies = _get(f"{url}/_stcore/health")
        assert status == 200
        name = next(m.group(1) for c in cookies if (m := COOKIE.fullmatch(c)))
        assert _get(f"{url}/_stcore/health", {"Cookie": f"unrolled_replica={name}"})[0] == 200   # logged with it
        _wait_logged(run_dir, [name])
        (upstream,) = _upstreams(run_dir, name)
        found.setdefault(int(upstream.rsplit(":", 1)[1]), name)
    return found


@pytest.mark.slow
def test_a_student_on_another_replica_follows_the_teacher_through_redis(served):
    """The teacher on one replica, a student on the other: the room lives in the redis-server serve.sh
    started, and Redis publish/subscribe reruns the student's page. Killing the student's replica loses
    only that connection: the student reconnects and follows again."""
    cookies = _cookie_on_each_replica(served)
    (t_port, t_cookie), (s_port, s_cookie) = sorted(cookies.items())
    host, port = "127.0.0.1", served["port"]

    async def scenario():
        teacher = st_client.Client(host, port, "Unroll", query="room=new", timeout=90,
                                   cookie=f"unrolled_replica={t_cookie}")
        await teacher.open()
        q = urllib.parse.parse_qs(teacher.query)
        code = q["room"][0]
        assert "teach" in q

        async def follower():
            s = load_room.Listener(host, port, "Unroll", query=f"room={code}", timeout=90,
                                   cookie=f"unrolled_replica={s_cookie}")
            await s.open()
            return s

        async def followed(s, value):
            t0 = time.perf_counter()
            await teacher.move("T", value)
            while s.redrawn_with(float(value), t0) is None:
                assert time.perf_counter() - t0 < 30, f"the student did not follow to T = {value}"
                await asyncio.sleep(0.05)
            assert not s._problems, s._problems
            return s.redrawn_with(float(value), t0) - t0

        student = await follower()
        first = await followed(student, 60)
        # the student's replica dies: its connection goes, the teacher's stays
        os.killpg(int((served["run_dir"] / f"replica-{s_port}.pid").read_text()), signal.SIGKILL)
        await student.close()
        await asyncio.sleep(1.0)
        student = await follower()                       # the proxy sends the reload to a live replica
        assert any(v == 60.0 for _, v in student.t_changes), "the reloaded page shows the teacher's T"
        again = await followed(student, 80)
        await student.close()
        await teacher.close()
        return first, again

    first, again = _run(scenario())
    print(f"\nfollow across replicas: {first:.2f} s; after the student's replica died and the page reloaded: {again:.2f} s")
    # the room is in Redis: the store's keys are there
    import redis

    r = redis.Redis(host="127.0.0.1", port=served["redis_port"], decode_responses=True)
    assert r.keys("unrolled:room:*"), "the room is kept in the redis-server serve.sh started"
