"""The Train page's views of the one-to-many task (waves) and of the length-changing encoder-decoder
(addition) in a real browser (headless Chromium through Playwright, see browser_support.py): a run to the
end of its budget, then the view and the arrangement drawn, with no text cut off, and screenshots in
artifacts/screenshots (train-waves.png, train-addition.png and the views alone).

Run: .venv/bin/python -m pytest tests/test_browser_train_arrangements.py -q -m browser
"""
from __future__ import annotations

import pytest
from browser_support import (
    CHROMIUM,
    SCREENSHOTS,
    chart_summary,
    chromium_available,
    clipped_chart_text,
    error_text,
    exceptions_text,
    goto_ready,
    in_ci,
    new_context,
    running_app,
    screenshot,
)
from test_browser_train import click, progress_matches, wait_until

pytestmark = pytest.mark.browser

RUNS = {
    "waves": ("tr_task=waves&tr_T=20&tr_H=16&tr_batch=16&tr_steps=200&tr_cell=lstm", 200,
              "Sine waves: target, teacher-forced and free-running", "one-to-many", 9),
    "add_digits": ("tr_task=add_digits&tr_T=2&tr_H=24&tr_batch=32&tr_steps=300&tr_cell=lstm", 300,
                 "Addition: the sum and the decoder's own answer", "encoder–decoder: up to 5 steps in, 4 out", 1),
}


@pytest.fixture(scope="module")
def app():
    if not chromium_available():
        msg = f"no Chromium at {CHROMIUM}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    with running_app() as server:
        yield server


def test_the_new_task_views_render(app, browser):  # `browser` is the session's one Chromium (conftest.py)
    for name, (query, steps, view_title, arrangement, n_traces) in RUNS.items():
        ctx = new_context(browser)
        page = ctx.new_page()
        try:
            goto_ready(page, app.page_url("Train", query), min_charts=2)
            click(page, "Start")
            progress_matches(page, rf"Run: {steps} of {steps} updates · done", timeout=600)
            want = f"{view_title} (update {steps})"
            view = wait_until(page, f"the {name} view after update {steps}", lambda: next(
                (c for c in chart_summary(page) if c["title"].startswith(want) and c["drawn"] >= 1), None))
            assert view["traces"] == n_traces, view
            titles = [c["title"] for c in chart_summary(page)]
            assert any(t.startswith(arrangement) for t in titles), titles
            assert any(t.endswith(" on held-out sequences") for t in titles), titles
            page.wait_for_timeout(500)
            assert not exceptions_text(page) and not error_text(page)
            screenshot(page, f"train-{name}")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            plots = page.locator(".js-plotly-plot")
            for i in range(plots.count()):
                title = plots.nth(i).evaluate(
                    "p => String(((p.layout || {}).title || {}).text || '').replace(/<[^>]+>/g, '')")
                if title.startswith(view_title):
                    plots.nth(i).screenshot(path=str(SCREENSHOTS / f"train-{name}-view.png"))
                if title.startswith(arrangement):
                    plots.nth(i).screenshot(path=str(SCREENSHOTS / f"train-{name}-arrangement.png"))
                if "held-out sequences" in title:
                    plots.nth(i).screenshot(path=str(SCREENSHOTS / f"train-{name}-metric.png"))
            clipped = [c for chart in clipped_chart_text(page) for c in chart]
            assert not clipped, clipped
        finally:
            ctx.close()
