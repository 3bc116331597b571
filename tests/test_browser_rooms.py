"""A classroom in a real browser: a teacher and two students in three browser contexts. The students
follow a slider move, a page switch and a Lesson step; they answer the Lesson's question, the teacher
sees the count and reveals it, and both students see the class's answers. Each follow is timed.

Run: .venv/bin/python -m pytest tests/test_browser_rooms.py -q -m browser
"""
from __future__ import annotations

import time

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
    wait_until,
)
from test_browser import Tab, app, check_healthy  # noqa: F401 (fixtures; `browser` is in conftest.py)

from ui.lesson import STEPS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
T_LABEL = "Sequence length T"
# Below the pages' own 10 s fallback check (ui/rooms/page.FALLBACK_SECONDS): a student slower than this was
# not pushed by the hub (ui/rooms/push.py). bench/load.py --room measures the latency itself.
FOLLOW_LIMIT_S = 8.0


def _heading(page) -> str:
    h = page.locator("[data-testid='stMain'] h1")
    return h.first.inner_text() if h.count() else ""


def _follow_seconds(pages, probe, what: str) -> float:
    """Seconds until `probe(page)` holds on every page."""
    t0 = time.monotonic()
    for p in pages:
        wait_until(p, lambda p=p: probe(p), what, timeout=FOLLOW_LIMIT_S * 1000, pause_ms=50)
    return time.monotonic() - t0


def test_a_teacher_and_two_students(app, browser):  # noqa: F811
    teacher, s1, s2 = Tab(browser), Tab(browser), Tab(browser)
    try:
        goto_ready(teacher.page, app.page_url("Unroll", "room=new"), min_charts=1)
        wait_until(teacher.page, lambda: "teach" in query_params(teacher.page), "the teacher's address")
        q = query_params(teacher.page)
        code, key = q["room"], q["teach"]
        box = teacher.page.locator("[data-testid='stExpander']").filter(has_text=f"Classroom {code}")
        assert box.count() == 1
        assert box.locator("img").count() >= 1, "the QR code"
        link = box.locator("code").first.inner_text()
        assert link.endswith(f"?room={code}") and key not in link

        students = [s1, s2]
        for s in students:
            goto_ready(s.page, app.page_url("Unroll", f"room={code}"), min_charts=1)
            wait_until(s.page, lambda s=s: s.page.get_by_text("Following the teacher").count() > 0, "the banner")
            assert "teach" not in query_params(s.page)
        wait_until(teacher.page, lambda: "2" in teacher.page.locator("[data-testid='stMetricValue']").first.inner_text(),
                   "two students counted", timeout=30_000)

        # a slider move
        before = slider_values(teacher.page)[T_LABEL]
        press(teacher.page, slider(teacher.page, T_LABEL), "ArrowRight", times=3)
        wanted = slider_values(teacher.page)[T_LABEL]
        assert wanted != before
        moved = _follow_seconds([s.page for s in students],
                                lambda p: slider_values(p).get(T_LABEL) == wanted, f"T = {wanted} on the students")
        screenshot(teacher.page, "room-teacher")
        screenshot(s1.page, "room-student")

        # a page switch to the Lesson, then the next step
        teacher.page.locator(f"{SIDEBAR} [data-testid='stPageLink'] a").filter(has_text="Lesson").first.click()
        wait_ready(teacher.page)
        switched = _follow_seconds([s.page for s in students], lambda p: _heading(p).startswith("1."),
                                   "the Lesson on the students")
        n = next(i for i, st in enumerate(STEPS, 1) if st.question is not None and i > 1)
        for _ in range(n - 1):
            teacher.page.get_by_role("button", name="Next").first.click()
            wait_ready(teacher.page)
        stepped = _follow_seconds([s.page for s in students], lambda p: _heading(p).startswith(f"{n}."),
                                  f"step {n} on the students")
        for s in students:
            assert query_params(s.page).get("step") == str(n)

        # the question as a poll: both answer, the teacher sees the count and reveals
        step = STEPS[n - 1]
        for s in students:
            assert s.page.get_by_role("button", name="Reveal the answer").count() == 0, "only the teacher reveals"
            s.page.locator("[data-testid='stRadio']").get_by_text(step.question.options[step.question.answer],
                                                                  exact=True).click()
            wait_ready(s.page)
        wait_until(teacher.page, lambda: teacher.page.get_by_text("2 of 2 answered").count() > 0,
                   "2 of 2 answered", timeout=30_000)
        teacher.page.get_by_role("button", name="Reveal the answer").first.click()
        wait_ready(teacher.page)
        revealed = _follow_seconds([s.page for s in students],
                                   lambda p: p.get_by_text("The class's answers").count() > 0, "the reveal")
        screenshot(s2.page, "room-student-reveal", full_page=True)
        for s in students:
            assert s.page.get_by_text("Right:").count() > 0
            bars = s.page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(p => p.data)
                .filter(d => d.length === 1 && d[0].type === 'bar' && d[0].orientation === 'h').map(d => d[0].x)""")
            counts = [0] * len(step.question.options)
            counts[step.question.answer] = 2
            assert counts in bars, bars
        for t in (teacher, s1, s2):
            check_healthy(t.page, "Lesson", charts=1, js_errors=t.js_errors)
        print(f"\nfollow seconds (two students, this machine): slider {moved:.2f}, page {switched:.2f}, "
              f"step {stepped:.2f}, reveal {revealed:.2f}")
    finally:
        for t in (teacher, s1, s2):
            t.close()


def test_a_student_can_explore_and_follow_again(app, browser):  # noqa: F811
    teacher, s = Tab(browser), Tab(browser)
    try:
        goto_ready(teacher.page, app.page_url("Gradients", "room=new"), min_charts=1)
        wait_until(teacher.page, lambda: "teach" in query_params(teacher.page), "the teacher's address")
        code = query_params(teacher.page)["room"]
        goto_ready(s.page, app.page_url("Gradients", f"room={code}"), min_charts=1)
        s.page.get_by_role("button", name="Explore on my own").click()
        wait_until(s.page, lambda: s.page.get_by_text("Exploring on your own").count() > 0, "exploring")
        mine = slider_values(s.page)[T_LABEL]
        press(teacher.page, slider(teacher.page, T_LABEL), "ArrowLeft", times=2)
        theirs = slider_values(teacher.page)[T_LABEL]
        time.sleep(2.0)
        assert slider_values(s.page)[T_LABEL] == mine, "an exploring student keeps their own view"
        s.page.get_by_role("button", name="Follow again").click()
        _follow_seconds([s.page], lambda p: slider_values(p).get(T_LABEL) == theirs, "following again")
    finally:
        teacher.close()
        s.close()


def test_an_unknown_room_is_the_normal_page(app, browser):  # noqa: F811
    t = Tab(browser)
    try:
        goto_ready(t.page, app.page_url("Unroll", "room=AAAAAAAAAAAA"), min_charts=1)
        wait_until(t.page, lambda: t.page.get_by_text("There is no classroom with the code").count() > 0, "the notice")
        check_healthy(t.page, "Unroll", charts=1, js_errors=t.js_errors)
        assert "room" not in query_params(t.page)
    finally:
        t.close()

