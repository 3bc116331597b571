"""Page-local controls rerun only their own fragment, not the whole page (real Chromium).

A full rerun re-sends every element of the page, sidebar included; a fragment rerun sends only the
fragment's. So the number of websocket messages the browser receives tells the two apart: a move
of the page-local control must cost far fewer messages than a move of the sidebar's T slider, and
the charts outside the fragment must keep their data.

Run: .venv/bin/python -m pytest tests/test_browser_fragments.py -q -m browser
"""
from __future__ import annotations

import os

import pytest
from browser_support import (
    CHROMIUM,
    chromium_available,
    discover_pages,
    exceptions_text,
    goto_ready,
    in_ci,
    launch_browser,
    new_context,
    plot_signatures,
    press,
    running_app,
    slider,
    wait_rerun,
)

from ui.config import FIELDS

pytestmark = pytest.mark.browser
PAGES = {p.label: p for p in discover_pages()}


@pytest.fixture(scope="module")
def browser():
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


@pytest.fixture(scope="module")
def app(browser):
    with running_app(timeout=float(os.environ.get("UNROLLED_STARTUP_TIMEOUT", "90"))) as server:
        yield server


class Counted:
    """A page that counts the websocket messages it receives."""

    def __init__(self, browser):
        self.context = new_context(browser)
        self.page = self.context.new_page()
        self.received = 0
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, _payload) -> None:
        self.received += 1

    def messages(self, action) -> int:
        before = self.received
        wait_rerun(self.page, action)
        self.page.wait_for_timeout(300)  # let any trailing message arrive
        return self.received - before


@pytest.fixture
def tab(browser):
    t = Counted(browser)
    yield t
    t.context.close()


def full_rerun_messages(tab: Counted) -> int:
    thumb = slider(tab.page, FIELDS["T"].label)
    thumb.focus()
    return tab.messages(lambda: thumb.press("ArrowRight"))


def test_unroll_step_slider_reruns_only_its_section(app, tab):
    page = tab.page
    goto_ready(page, app.page_url(PAGES["Unroll"]), 1)
    full = full_rerun_messages(tab)
    charts = plot_signatures(page)
    step = slider(page, "Show the numbers at step t", within="[data-testid='stMain']")
    before = page.locator(".katex").all_inner_texts()
    step.focus()
    partial = tab.messages(lambda: step.press("ArrowLeft"))
    assert not exceptions_text(page)
    assert page.locator(".katex").all_inner_texts() != before      # the numbers did change
    assert plot_signatures(page) == charts                        # the graph was left alone
    assert partial * 2 < full, (partial, full)


def test_gradient_check_button_reruns_only_its_section(app, tab):
    page = tab.page
    goto_ready(page, app.page_url(PAGES["Gradients"]), 4)
    full = full_rerun_messages(tab)
    charts = plot_signatures(page)
    button = page.get_by_role("button", name="Check BPTT against finite differences")
    partial = tab.messages(button.click)
    page.get_by_text("Largest relative error").wait_for(timeout=60_000)
    assert not exceptions_text(page)
    assert plot_signatures(page) == charts
    assert partial * 2 < full, (partial, full)


def test_phase_controls_rerun_only_the_map(app, tab):
    page = tab.page
    goto_ready(page, app.page_url(PAGES["Phase diagram"]), 2)
    full = full_rerun_messages(tab)
    lyapunov = [s for s in plot_signatures(page) if "Lyapunov" in s["title"]]
    assert len(lyapunov) == 1
    seeds = slider(page, "Seeds per cell", within="[data-testid='stMain']")
    seeds.focus()
    partial = tab.messages(lambda: seeds.press("ArrowLeft"))
    assert not exceptions_text(page)
    after = plot_signatures(page)
    assert lyapunov[0] in after
    assert partial * 2 < full, (partial, full)


def test_sidebar_move_still_redraws_fragment_charts(app, tab):
    """The fragments are part of the full run: a sidebar change reaches the chart inside one."""
    page = tab.page
    goto_ready(page, app.page_url(PAGES["Hidden state"]), 4)
    before = plot_signatures(page)
    press(page, slider(page, FIELDS["T"].label), "ArrowRight")
    after = plot_signatures(page)
    assert len(after) == len(before) and all(a != b for a, b in zip(after, before))
