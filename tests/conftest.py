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
