"""The Train page in a real browser (headless Chromium through Playwright, see browser_support.py).

Start makes the loss chart grow, Pause stops it, a race draws three curves and the baseline, two
sessions train at once, leaving the page ends the run. The slow test runs the default race (adding
problem, T = 100) long enough to show the vanilla RNN above and the LSTM below half the baseline.

Run: .venv/bin/python -m pytest tests/test_browser_train.py -q -m browser   (add -m "browser and not slow"
to skip the long race)
"""
from __future__ import annotations

import re
import time

import pytest
from browser_support import (
    CHROMIUM,
    chromium_available,
    error_text,
    exceptions_text,
    goto_ready,
    in_ci,
    new_context,
    running_app,
    screenshot,
)

from viz.train import thin

pytestmark = pytest.mark.browser

SMALL = "tr_T=20&tr_H=8&tr_batch=8"
LONG = "tr_T=50&tr_H=16&tr_batch=16&tr_steps=10000"  # a run that lasts minutes

# points of a named trace in the chart whose title starts with a prefix (-1: no such chart or trace)
_POINTS_JS = """([prefix, name]) => {
  const p = [...document.querySelectorAll('.js-plotly-plot')]
      .find(p => String(((p.layout || {}).title || {}).text || '').replace(/<[^>]+>/g, '').startsWith(prefix));
  if (!p) return -1;
  const t = (p.data || []).find(t => String(t.name || '').startsWith(name));
  return t && t.x ? t.x.length : -1;
}"""
_TRACES_JS = """(prefix) => {
  const p = [...document.querySelectorAll('.js-plotly-plot')]
      .find(p => String(((p.layout || {}).title || {}).text || '').replace(/<[^>]+>/g, '').startsWith(prefix));
  return p ? (p.data || []).map(t => [String(t.name || ''), t.x ? t.x.length : 0,
                                      t.y ? Array.from(t.y).slice(-1)[0] : null]) : null;
}"""


_SHOWN_JS = """() => {
  const p = [...document.querySelectorAll('.js-plotly-plot')]
      .map(p => String(((p.layout || {}).title || {}).text || '').replace(/<[^>]+>/g, ''))
      .find(t => t.startsWith('Loss:'));
  const m = p ? p.match(/after (\\d+) of/) : null;
  return m ? Number(m[1]) : -1;
}"""


def points(page, prefix: str = "Loss:", name: str = "smoothed") -> int:
    """Updates drawn on the loss chart (its title counts them; the curve itself is thinned to 400 points),
    or the number of points of another chart's trace."""
    if prefix == "Loss:" and name == "smoothed":
        return page.evaluate(_SHOWN_JS) if page.evaluate(_POINTS_JS, [prefix, name]) > 0 else -1
    return page.evaluate(_POINTS_JS, [prefix, name])


def traces(page, prefix: str):
    return page.evaluate(_TRACES_JS, prefix)


def progress_text(page) -> list[str]:
    return page.locator("[data-testid='stProgress']").all_inner_texts()


def progress_matches(page, pattern: str, timeout: float = 300) -> re.Match:
    """Wait until a rendered progress bar's text matches the regular expression; return the match."""
    deadline = time.monotonic() + timeout
    while True:
        for text in progress_text(page):
            m = re.search(pattern, text)
            if m:
                return m
        if time.monotonic() > deadline:
            raise AssertionError(f"no progress bar matching {pattern!r} after {timeout} s: {progress_text(page)}")
        page.wait_for_timeout(200)


def wait_until(page, what: str, cond, timeout: float = 120):
    """Poll cond() (which reads the page) until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen after {timeout} s (progress {progress_text(page)})")
        page.wait_for_timeout(200)


# Generous: the first update of a fresh server compiles the training kernels, which takes a minute or more
# when another process holds one of the two cores.
def wait_points(page, at_least: int, timeout: float = 300, prefix: str = "Loss:", name: str = "smoothed") -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = points(page, prefix, name)
        if n >= at_least:
            return n
        page.wait_for_timeout(200)
    raise AssertionError(f"{prefix} {name}: fewer than {at_least} points after {timeout} s "
                         f"(have {points(page, prefix, name)}; progress {progress_text(page)})")


def click(page, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()


@pytest.fixture(scope="module")
def app():
    if not chromium_available():
        msg = f"no Chromium at {CHROMIUM}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    with running_app(env={"UNROLLED_TRAIN_TIMING": "1"}) as server:
        yield server


@pytest.fixture
def page(app, browser):  # `browser` is the session's one Chromium (conftest.py)
    ctx = new_context(browser)
    p = ctx.new_page()
    yield p
    ctx.close()


def test_page_loads(app, page):
    goto_ready(page, app.page_url("Train"), min_charts=2)
    assert not exceptions_text(page) and not error_text(page)
    for label in ("Start", "Pause", "Step", "Reset", "Race"):
        assert page.get_by_role("button", name=label, exact=True).count() == 1
    names = [t[0] for t in traces(page, "Loss:")]
    assert any(n.startswith("baseline:") for n in names)


def test_start_grows_the_loss_chart_and_pause_stops_it(app, page):
    goto_ready(page, app.page_url("Train", LONG), min_charts=2)
    t0 = time.monotonic()
    click(page, "Start")
    first = wait_points(page, 1)
    seconds_to_first = time.monotonic() - t0
    grown = wait_points(page, first + 5)
    assert grown > first
    screenshot(page, "train-browser-running")
    click(page, "Pause")
    # The progress bar says "paused" once the worker has stopped; wait until the loss chart shows the same
    # count as that bar, then check that it stays there (nothing computes any more).
    frozen = int(progress_matches(page, r"Run: (\d+) of 10000 updates · paused").group(1))
    wait_until(page, f"the loss chart at {frozen} updates", lambda: points(page) == frozen)
    page.wait_for_timeout(2500)
    assert points(page) == frozen, "the loss chart kept growing after Pause"
    click(page, "Step")
    wait_points(page, frozen + 1)
    progress_matches(page, rf"Run: {frozen + 1} of 10000 updates · paused")
    click(page, "Reset")
    # Reset forgets the run: the progress bar goes and the loss chart starts again at 0 updates
    wait_until(page, "the page after Reset", lambda: not progress_text(page) and page.evaluate(_SHOWN_JS) == 0)
    assert not exceptions_text(page)
    print(f"Start -> first point: {seconds_to_first:.2f} s")


def test_race_draws_three_curves_and_the_baseline(app, page):
    goto_ready(page, app.page_url("Train", SMALL + "&tr_steps=50"), min_charts=2)
    click(page, "Race")
    progress_matches(page, r"Race: 150 of 150 updates · done")
    # the chart is redrawn after the progress bar of the same refresh: wait for its three full curves
    t = wait_until(page, "the race chart with 50 updates per cell",
                   lambda: (lambda t: t if t and len(t) >= 3 and all(k == 50 for _, k, _ in t[:3]) else None)(
                       traces(page, "Smoothed training loss")))
    names = [n for n, _, _ in t]
    assert names[:3] == ["RNN", "LSTM", "GRU"], names
    assert all(k == 50 for _, k, _ in t[:3]), t
    assert any(n.startswith("baseline:") for n in names)
    assert not exceptions_text(page)


def test_two_sessions_train_at_once(app, browser):
    pages = []
    for _ in range(2):
        ctx = new_context(browser)
        p = ctx.new_page()
        goto_ready(p, app.page_url("Train", LONG), min_charts=2)
        pages.append((ctx, p))
    try:
        for _, p in pages:
            click(p, "Start")
        before = [wait_points(p, 1) for _, p in pages]
        after = [wait_points(p, b + 5) for (_, p), b in zip(pages, before)]
        assert all(a > b for a, b in zip(after, before))
    finally:  # closing the tabs ends both runs (their sessions go away)
        for ctx, _ in pages:
            ctx.close()


def test_leaving_the_page_ends_the_run(app, browser):
    ctx = new_context(browser)
    p = ctx.new_page()
    goto_ready(p, app.page_url("Train", LONG), min_charts=2)
    click(p, "Start")
    wait_points(p, 3)
    ended_before = app.log_tail(10_000).count("train-end")
    ctx.close()  # the tab goes away: its session ends, and so must the run
    # The session's end stops the run at its next update; failing that, the heartbeat (30 s) pauses it.
    # The deadline covers both on a loaded machine.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        log = app.log_tail(10_000)
        if log.count("train-end") > ended_before:
            break
        time.sleep(0.5)
    tail = [line for line in app.log_tail(10_000).splitlines() if line.startswith("train-end")]
    assert len(tail) > ended_before, "the run did not end after its tab closed"
    assert "has gone" in tail[-1] or "stopped showing" in tail[-1], tail[-1]


@pytest.mark.slow
def test_default_race_rnn_stays_lstm_leaves_the_baseline(app, page):
    """The lecture demo: adding problem, T = 100, H = 32, Adam 1e-2, clip 1, B = 32, 600 updates each."""
    goto_ready(page, app.page_url("Train"), min_charts=2)
    click(page, "Race")
    progress_matches(page, r"Race: 1800 of 1800 updates · done", timeout=1500)
    drawn = len(thin(600))  # the curves are thinned to at most MAX_POINTS points
    full = wait_until(page, "the race chart with 600 updates per cell",
                      lambda: (lambda t: t if t and len(t) >= 3 and all(k == drawn for _, k, _ in t[:3]) else None)(
                          traces(page, "Smoothed training loss")))
    t = {n: last for n, _, last in full}
    baseline = 1 / 12
    screenshot(page, "train-browser-race")
    assert t["RNN"] > baseline / 2, t
    assert t["LSTM"] < baseline / 2, t
