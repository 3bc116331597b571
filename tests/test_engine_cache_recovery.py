"""A corrupt, read-only or missing numba cache never takes the engine down (engine/_cache.py), and the
server's /_stcore/health answers 503 when the engine does not compute (engine.selfcheck, ui/__init__.py).

Each cache case runs the engine in a fresh interpreter with its own NUMBA_CACHE_DIR: a first run fills the
cache, the files are overwritten with garbage (or the cache made read-only), and a new interpreter must
give the same numbers and say once, per file, what it did. A read-only cache is made both ways: by chmod
(as root, in an interpreter without the capability to override file modes, when setpriv can drop it) and
by a PermissionError on every delete and write."""
from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import engine
from engine import _cache
from tests.browser_support import AppServer

ROOT = Path(__file__).resolve().parent.parent
AS_ROOT = os.geteuid() == 0
# root without these capabilities is refused by file modes like any user
DROP_FILE_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
GARBAGE = random.Random(0).randbytes(512)

# The engine in a fresh interpreter: argv[1] says when the cache becomes read-only ("never", "after-import":
# the kernels are declared while it is writable, "before-import": no writable place from the start), argv[2]
# how ("chmod", or "refuse": every delete and write raises PermissionError).
RUN = textwrap.dedent("""
    import json, os, sys

    cache_dir, when, how = os.environ["NUMBA_CACHE_DIR"], sys.argv[1], sys.argv[2]

    def read_only():
        if how == "chmod":
            for d, _, _ in os.walk(cache_dir):
                os.chmod(d, 0o555)
            return
        from numba.core import caching

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Read-only file system")

        unlink = os.unlink
        os.unlink = lambda p, *a, **k: refuse() if str(p).startswith(cache_dir) else unlink(p, *a, **k)
        caching._CacheLocator.ensure_cache_path = refuse
        caching.IndexDataCacheFile._open_for_write = refuse

    if when == "before-import":
        read_only()
    import engine
    if when == "after-import":
        read_only()
    tr = engine.bptt(engine.init_params(2, 3, 2, seed=0), engine.make_input("normal", 5, 2),
                     engine.make_target("identity", "last", 5, 2))
    print(json.dumps({"loss": tr.loss, "h": tr.h.tolist(), "dW_hh": tr.grads.W_hh.tolist()}))
""")


def _run_async(coro):
    """asyncio.run in a thread of its own: earlier tests in the same process (Playwright's sync API) may
    leave an event loop set on the main thread."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@functools.cache
def chmod_is_obeyed() -> bool:
    """Whether a directory made read-only by chmod refuses a new file in an interpreter of run_engine."""
    if not AS_ROOT:
        return True
    if shutil.which("setpriv") is None:
        return False
    code = ("import os, tempfile; d = tempfile.mkdtemp(); os.chmod(d, 0o555)\n"
            "try:\n    open(os.path.join(d, 'f'), 'w')\nexcept PermissionError:\n    print('refused')\n"
            "os.chmod(d, 0o755); os.rmdir(d)")
    p = subprocess.run([*DROP_FILE_CAPS, sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    return p.returncode == 0 and p.stdout.strip() == "refused"


def run_engine(cache_dir: Path, when: str = "never", how: str = "refuse", **env) -> tuple[dict, str]:
    """(the bptt result, stderr) of the engine in a new interpreter using ``cache_dir``; ``when`` and
    ``how`` it becomes read-only (see RUN)."""
    if how == "chmod" and not chmod_is_obeyed():
        pytest.skip("running as root, and setpriv cannot drop the capability to override file modes")
    full_env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT), **env}
    prefix = DROP_FILE_CAPS if how == "chmod" and AS_ROOT else []
    p = subprocess.run([*prefix, sys.executable, "-c", RUN, when, how], cwd=ROOT, env=full_env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def cache_files(cache_dir: Path, pattern: str) -> list[Path]:
    return sorted(cache_dir.glob(f"engine_*/{pattern}"))


def corrupt(cache_dir: Path, pattern: str) -> list[Path]:
    files = cache_files(cache_dir, pattern)
    assert files, f"the first run left no {pattern} files in {cache_dir}"
    for f in files:
        f.write_bytes(GARBAGE)
    return files


def writable_again(path: Path) -> None:
    for d, _, _ in os.walk(path):
        os.chmod(d, 0o755)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> tuple[Path, dict]:
    """A numba cache filled by one run of the engine, and that run's result."""
    cache_dir = tmp_path_factory.mktemp("numba-filled")
    result, err = run_engine(cache_dir)
    assert "numba cache" not in err, err
    return cache_dir, result


@pytest.fixture
def cache(filled, tmp_path) -> Path:
    """A copy of the filled cache for one test (chmod-ed back after it, so it can be deleted)."""
    copy = tmp_path / "numba"
    shutil.copytree(filled[0], copy)
    yield copy
    writable_again(tmp_path)


def assert_same(result: dict, expected: dict) -> None:
    assert result == expected     # the same machine code, compiled again: the same bits


@pytest.mark.parametrize("pattern", ["*.nbi", "*.nbc"])
def test_corrupt_cache_files_are_removed_and_their_kernels_compiled_again(filled, cache, pattern):
    files = corrupt(cache, pattern)
    result, err = run_engine(cache)
    assert_same(result, filled[1])
    for f in files:       # one warning per file, naming it
        assert err.count(f"numba cache file {f} could not be loaded") == 1, err
        assert f"numba cache file {f} could not be loaded" in err
    assert "removed it, compiling" in err
    for f in files:       # written again, valid: the next start loads it without a word
        assert f.exists() and f.read_bytes() != GARBAGE
    result, err = run_engine(cache)
    assert_same(result, filled[1])
    assert "numba cache" not in err, err


READ_ONLY_BY = pytest.mark.parametrize("how", ["chmod", "refuse"])


@READ_ONLY_BY
def test_a_corrupt_read_only_cache_still_computes(filled, cache, how):
    files = corrupt(cache, "*.nbi") + corrupt(cache, "*.nbc")
    result, err = run_engine(cache, "after-import", how)
    assert_same(result, filled[1])
    assert "it cannot be removed (read-only cache)" in err, err
    assert all(f.read_bytes() == GARBAGE for f in files)      # nothing deleted, nothing written
    assert "Traceback" not in err


@READ_ONLY_BY
def test_a_cache_that_stops_being_writable_still_computes(filled, tmp_path, how):
    cache_dir = tmp_path / "numba"
    try:
        result, err = run_engine(cache_dir, "after-import", how)
    finally:
        writable_again(tmp_path)
    assert_same(result, filled[1])
    assert "cannot be written" in err and "compiled in memory and not saved" in err, err
    assert err.count("cannot be written") == 1, err     # once per cache directory, not per kernel
    assert not cache_files(cache_dir, "*.nbi")


@READ_ONLY_BY
def test_no_writable_cache_directory_anywhere_compiles_in_memory(filled, tmp_path, how):
    cache_dir = tmp_path / "numba"
    cache_dir.mkdir()
    try:
        # only NUMBA_CACHE_DIR is a candidate, so nothing lands next to the sources or in the home directory
        result, err = run_engine(cache_dir, "before-import", how,
                                 NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator")
    finally:
        writable_again(tmp_path)
    assert_same(result, filled[1])
    assert err.count("no writable numba cache directory") == 1, err
    assert not cache_files(cache_dir, "*.nbi")


def test_the_hooks_are_installed_on_the_numba_internals_they_wrap():
    from numba.core import caching, dispatcher

    assert caching.Cache.load_overload is _cache._load_overload
    assert caching.Cache.save_overload is _cache._save_overload
    assert dispatcher.Dispatcher.enable_caching is _cache._enable_caching
    cache_file = caching.IndexDataCacheFile("/nonexistent", "f-1.py311", None)     # the attributes used
    assert cache_file._index_path.endswith("f-1.py311.nbi") and callable(cache_file._load_index)
    assert cache_file._data_path("f-1.py311.1.nbc").endswith("f-1.py311.1.nbc")
    assert callable(caching.Cache._index_key)


# --------------------------------------------------------------------------- the self-check

@pytest.fixture
def fresh_check(monkeypatch):
    """A self-check with no remembered result."""
    monkeypatch.setattr(_cache, "_check", _cache._SelfCheck())


def test_the_selfcheck_runs_every_cell(fresh_check):
    assert engine.selfcheck(max_age=0) == (True, "ok")


def test_the_selfcheck_says_what_failed_and_remembers_for_a_while(fresh_check, monkeypatch):
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("kernel gone")

    monkeypatch.setattr(_cache, "_check_cells", broken)
    assert engine.selfcheck() == (False, "engine self-check failed: RuntimeError: kernel gone")
    engine.selfcheck()
    assert len(calls) == 1                      # within max_age: the same answer, not another run
    engine.selfcheck(max_age=0)
    assert len(calls) == 2


def test_a_selfcheck_that_does_not_finish_is_not_ok(fresh_check, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(_cache, "_check_cells", lambda: release.wait(30))
    try:
        ok, message = engine.selfcheck(wait=0.05)
        assert not ok and "still running" in message
        monkeypatch.setattr(_cache, "SELFCHECK_HUNG_S", 0.0)
        ok, message = engine.selfcheck(wait=0.05)
        assert not ok and "has not finished" in message
    finally:
        release.set()


def test_the_async_selfcheck_answers_while_a_check_is_still_running(fresh_check, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(_cache, "_check_cells", lambda: release.wait(30))
    try:
        t0 = time.monotonic()
        ok, message = _run_async(engine.selfcheck_async(wait=0.1))
        assert not ok and "still running" in message
        assert time.monotonic() - t0 < 5
    finally:
        release.set()
    assert _run_async(engine.selfcheck_async(wait=10)) == (True, "ok")


def test_the_health_route_answers_503_with_the_reason_when_the_engine_fails(monkeypatch):
    """Streamlit's own /_stcore/health endpoint, on a running runtime, with a failing engine check."""
    from starlette.requests import Request
    from streamlit.runtime.runtime import Runtime, RuntimeState
    from streamlit.web.server.starlette.starlette_routes import create_health_routes

    import ui

    ui.health_checks_engine(Runtime)                   # as when ui is imported in a running server
    assert ui.health_checks_engine(Runtime) is False   # installed once
    assert getattr(Runtime.__dict__["is_ready_for_browser_connection"].fget, "checks_engine", False), \
        "Streamlit moved Runtime.is_ready_for_browser_connection: /_stcore/health no longer checks the engine"
    runtime = object.__new__(Runtime)
    runtime._state = RuntimeState.NO_SESSIONS_CONNECTED
    endpoint = create_health_routes(runtime, None)[0].endpoint
    request = Request({"type": "http", "method": "GET", "path": "/_stcore/health", "headers": [],
                       "query_string": b"", "scheme": "http", "server": ("127.0.0.1", 80)})

    async def failing(**kwargs):
        return False, "engine self-check failed: RuntimeError: kernel gone"

    async def passing(**kwargs):
        return True, "ok"

    monkeypatch.setattr(engine, "selfcheck_async", passing)
    response = _run_async(endpoint(request))
    assert (response.status_code, response.body) == (200, b"ok")
    monkeypatch.setattr(engine, "selfcheck_async", failing)
    response = _run_async(endpoint(request))
    assert (response.status_code, response.body) == (503, b"engine self-check failed: RuntimeError: kernel gone")
    runtime._state = RuntimeState.STOPPING                 # Streamlit's own reasons still come first
    response = _run_async(endpoint(request))
    assert (response.status_code, response.body) == (503, b"Runtime is shutting down")


# --------------------------------------------------------------------------- a real server

# Loaded by the server's interpreter at start (a sitecustomize module first on PYTHONPATH): while the file
# named by UNROLLED_TEST_ENGINE_BROKEN exists, the engine's bptt raises, as a kernel that cannot run would.
BREAK_ENGINE = textwrap.dedent("""
    import os

    import engine.rnn

    _bptt, _flag = engine.rnn.bptt, os.environ["UNROLLED_TEST_ENGINE_BROKEN"]

    def bptt(*args, **kwargs):
        if os.path.exists(_flag):
            raise RuntimeError("this kernel cannot run")
        return _bptt(*args, **kwargs)

    engine.rnn.bptt = bptt
""")


def get(url: str, timeout: float = 60.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def poll_health(server: AppServer, want: int, within: float = 30.0) -> tuple[int, str]:
    deadline = time.monotonic() + within
    while True:
        status, body = get(f"{server.url}/_stcore/health", timeout=10)
        if status == want or time.monotonic() > deadline:
            return status, body
        time.sleep(0.5)


@pytest.mark.slow
def test_a_live_server_reports_an_engine_that_does_not_compute(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BREAK_ENGINE)
    flag = tmp_path / "broken"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "UNROLLED_TEST_ENGINE_BROKEN": str(flag),
           "STREAMLIT_SERVER_SCRIPT_HEALTH_CHECK_ENABLED": "true"}
    with AppServer(env=env) as server:
        # the home page run once in the server (as by a first visitor) installs the engine check
        assert get(f"{server.url}/_stcore/script-health-check", timeout=120) == (200, "ok")
        assert poll_health(server, 200, within=120) == (200, "ok")     # the first check may compile
        flag.touch()
        status, body = poll_health(server, 503)
        assert status == 503, (status, body)
        assert body == "engine self-check failed: RuntimeError: this kernel cannot run"
        flag.unlink()
        assert poll_health(server, 200) == (200, "ok")     # the engine computes again: ready again
        assert "engine self-check failed: RuntimeError: this kernel cannot run" in server.log_tail(200)
