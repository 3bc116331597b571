"""Shared pytest setup: the repository root on sys.path, so that `import engine` and `import naive` work
however pytest is started, and the one Chromium every browser test shares. Markers live in pyproject.toml."""
import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
for _p in (ROOT, TESTS):
    if _p not in sys.path:
        sys.path.insert(0, _p)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def browser():
    """One Playwright and one headless Chromium for every browser test module: Playwright's sync API
    cannot run two instances at once in one process."""
    from browser_support import CHROMIUM, chromium_available, in_ci, launch_browser

    if not chromium_available():
        msg = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set UNROLLED_CHROMIUM)"
        if in_ci():
            pytest.fail(f"CI is set but {msg}")
        pytest.skip(msg)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        if in_ci():
            pytest.fail(f"CI is set but playwright is not importable: {exc}")
        pytest.skip(f"playwright not installed: {exc}")
    with sync_playwright() as pw:
        b = launch_browser(pw)
        yield b
        b.close()


@pytest.fixture
def stop_runs(monkeypatch):
    """No training run outlives its test, even a failed one: every job a test starts is stopped and joined at
    the end (Reset waits only 2 s for the worker, which a loaded machine can exceed), so that it cannot hold a
    training slot (or a core) while the next test runs. Used by the AppTest modules of the Train page."""
    import threading

    from ui import training as tr

    started: list = []
    start = tr.Job.start

    def recording_start(self, *args, **kwargs):
        started.append(self)
        return start(self, *args, **kwargs)

    monkeypatch.setattr(tr.Job, "start", recording_start)
    yield started
    for job in started:
        job.pause(wait=120)
    alive = [t.name for t in threading.enumerate() if t.name.startswith("train-") and t.is_alive()]
    assert not [j for j in started if j.active], f"runs still computing after their test: {alive}"
