"""The Lesson page in a real browser (headless Chromium, see test_browser.py): one walk through its flow.

Run: .venv/bin/python -m pytest tests/test_browser_lesson.py -q -m browser
"""
from __future__ import annotations

import pytest
from browser_support import (
    SIDEBAR,
    goto_ready,
    press,
    query_params,
    screenshot,
    slider,
    slider_values,
    wait_ready,
    wait_rerun,
    wait_until,
)
from test_browser import Tab, app, check_healthy  # noqa: F401 (fixtures; `browser` is in conftest.py)

from ui.config import FIELDS
from ui.lesson import STEPS

pytestmark = pytest.mark.browser

T_LABEL, H_LABEL = FIELDS["T"].label, FIELDS["H"].label


def heading(page) -> str:
    return page.locator("[data-testid='stMain'] h1").first.inner_text().strip()


def click(page, name: str, until=None, what: str = "") -> None:
    """Click the first button called `name` in the main area, wait for the rerun, then until `until()`
    holds (what the rerun must show: the test asserts on the page, not on the rerun having ended)."""
    button = page.locator("[data-testid='stMain']").get_by_role("button", name=name).first
    wait_rerun(page, button.click)
    wait_ready(page, 1)
    if until is not None:
        wait_until(page, until, what or f"the page after {name!r}")
        wait_ready(page, 1)


def heading_is(page, want: str):
    """A probe for wait_until: the page's heading is `want` (read errors while a rerun replaces it count as no)."""
    return lambda: page.locator("[data-testid='stMain'] h1").count() and heading(page) == want


def test_lesson_flow_next_try_this_reveal_and_a_direct_link(app, browser):  # noqa: F811
    tab = Tab(browser)
    try:
        page = tab.page
        goto_ready(page, app.page_url("Lesson", "step=1"), 1)
        wait_until(page, heading_is(page, f"1. {STEPS[0].title}"), "step 1's heading")
        assert heading(page) == f"1. {STEPS[0].title}"
        check_healthy(page, "Lesson step 1", 1, tab.js_errors)

        click(page, "Next", until=lambda: heading_is(page, f"2. {STEPS[1].title}")()
              and query_params(page).get("step") == "2")
        assert heading(page) == f"2. {STEPS[1].title}"
        assert query_params(page).get("step") == "2", page.url

        # "Try this" sets the sidebar (and its address) and keeps the step in the address
        click(page, "Try this", until=lambda: (slider_values(page).get(T_LABEL), slider_values(page).get(H_LABEL),
                                               query_params(page).get("T"), query_params(page).get("H"),
                                               query_params(page).get("step")) == ("8", "8", "8", "8", "2"))
        shown = slider_values(page)
        assert (shown[T_LABEL], shown[H_LABEL]) == ("8", "8"), shown
        q = query_params(page)
        assert (q.get("T"), q.get("H"), q.get("step")) == ("8", "8", "2"), page.url
        page.get_by_text("Look for:").first.wait_for(timeout=120_000)
        # a sidebar widget writing its own value into the address leaves the step there
        press(page, slider(page, T_LABEL), "ArrowRight")
        wait_ready(page, 1)
        wait_until(page, lambda: query_params(page).get("T") == "9", "T=9 in the address")
        assert query_params(page).get("T") == "9" and query_params(page).get("step") == "2", page.url

        # predict, then reveal
        q2 = STEPS[1].question
        answer = page.locator("[data-testid='stMain'] [data-testid='stRadio']").get_by_text(q2.options[q2.answer])
        wait_rerun(page, answer.click)
        wait_ready(page, 1)
        click(page, "Reveal the answer")
        page.get_by_text("Right:").first.wait_for(timeout=120_000)
        page.get_by_text("89 in all").first.wait_for(timeout=120_000)
        check_healthy(page, "Lesson step 2 after Try this and Reveal", 1, tab.js_errors)
        screenshot(page, "lesson-step-2")

        # a lecturer's link opens its step (bad values are clamped: tests/test_app_lesson.py)
        goto_ready(page, app.page_url("Lesson", "step=4"), 1)
        wait_until(page, lambda: page.locator("[data-testid='stMain'] h1").count()
                   and heading(page).startswith("4. Vanishing and exploding gradients"), "step 4's heading")
        assert heading(page).startswith("4. Vanishing and exploding gradients"), heading(page)
        assert query_params(page).get("step") == "4"
        check_healthy(page, "Lesson?step=4", 1, tab.js_errors)

        # the sidebar lists the lesson, and Home links to its first step
        home = page.locator(f"{SIDEBAR} [data-testid='stPageLink-NavLink']").filter(has_text="Home").first
        home.click()
        page.wait_for_url(lambda url: "/Lesson" not in url, timeout=120_000)
        wait_ready(page, 1)
        page.get_by_text("Start the guided lesson").first.click()
        page.wait_for_url(lambda url: "/Lesson" in url, timeout=120_000)
        wait_ready(page, 1)
        wait_until(page, lambda: heading_is(page, f"1. {STEPS[0].title}")() and query_params(page).get("step") == "1",
                   "the lesson's first step")
        assert heading(page) == f"1. {STEPS[0].title}" and query_params(page).get("step") == "1", page.url
    finally:
        tab.close()


def test_the_four_steps_on_training_in_practice_render_and_their_experiments_load(app, browser):  # noqa: F811
    """Steps 8-11 from a lecturer's link: heading, a chart with data, no error; each "Try this" loads its
    experiment into the step's own controls (or the sidebar) and says what to look for."""
    tab = Tab(browser)
    try:
        page = tab.page
        for n in range(8, len(STEPS) + 1):
            s = STEPS[n - 1]
            goto_ready(page, app.page_url("Lesson", f"step={n}"), 1)
            wait_until(page, heading_is(page, f"{n}. {s.title}"), f"step {n}'s heading")
            assert query_params(page).get("step") == str(n), page.url
            check_healthy(page, f"Lesson?step={n}", 1, tab.js_errors)
            screenshot(page, f"lesson-step-{n}")
            click(page, "Try this", until=lambda: page.get_by_text("Loaded.").count() > 0, what=f"step {n} loaded")
            check_healthy(page, f"Lesson step {n} after Try this", 1, tab.js_errors)
            assert query_params(page).get("step") == str(n), page.url
            screenshot(page, f"lesson-step-{n}-tried")
    finally:
        tab.close()
