"""The Unroll page with each gated cell in a real browser (headless Chromium, see test_browser.py).

Run: .venv/bin/python -m pytest tests/test_browser_unroll_cells.py -q -m browser
"""
from __future__ import annotations

import pytest
from browser_support import (
    chart_summary,
    clipped_chart_text,
    exceptions_text,
    goto_ready,
    plot_signatures,
    screenshot,
    slider,
    wait_ready,
    wait_rerun,
    wait_until,
)
from test_browser import Tab, app, check_healthy  # noqa: F401 (fixtures; `browser` is in conftest.py)

pytestmark = pytest.mark.browser

# What the graph must hold: the gate letters on the nodes, and the cell-state lane for the LSTM only.
CELLS = {"lstm": (["i", "f", "g", "o"], True), "gru": (["r", "z", "n"], False)}

_GRAPH_JS = """() => { const p = document.querySelector('.js-plotly-plot');
  const data = p._fullData || p.data || [];
  const gates = data.find(t => t.name === 'gates');
  return {title: String(((p.layout || {}).title || {}).text || ''),
          gates: gates ? [...gates.text] : [], c_lane: data.some(t => t.name === 'c_t'),
          frames: (p._transitionData && p._transitionData._frames) ? p._transitionData._frames.length : 0,
          gate_dots: p.querySelectorAll('g.trace.scatter .points path').length}; }"""


@pytest.mark.parametrize("cell", list(CELLS))
def test_unroll_draws_the_gated_cell(app, browser, cell):  # noqa: F811
    tab = Tab(browser)
    try:
        page = tab.page
        goto_ready(page, app.page_url("Unroll", f"cell={cell}"), 1)
        where = f"Unroll?cell={cell}"
        check_healthy(page, where, 1, tab.js_errors)
        graph = page.evaluate(_GRAPH_JS)
        letters, has_c = CELLS[cell]
        assert f"The unrolled {cell.upper()}:" in graph["title"], graph
        assert graph["gates"][:len(letters)] == letters and len(graph["gates"]) % len(letters) == 0, graph
        assert graph["c_lane"] == has_c, graph
        assert graph["frames"] > 2 and graph["gate_dots"] > 0, graph
        assert not [t for texts in clipped_chart_text(page) for t in texts], where
        # the step panel shows this cell's equations
        katex = " ".join(page.locator(".katex").all_inner_texts())
        assert "σ" in katex and ("c" in katex if has_c else "n" in katex)
        assert chart_summary(page)[0]["values"] > 0
        screenshot(page, f"light-unroll-{cell}")
        # another step: new numbers, the same graph
        charts = plot_signatures(page)
        step = slider(page, "Show the numbers at step t", within="[data-testid='stMain']")
        step.focus()
        wait_rerun(page, lambda: step.press("ArrowLeft"))
        wait_until(page, lambda: " ".join(page.locator(".katex").all_inner_texts()) != katex,
                   "the step panel's numbers at the new step")
        wait_ready(page, 1)
        assert not exceptions_text(page)
        assert " ".join(page.locator(".katex").all_inner_texts()) != katex
        assert plot_signatures(page) == charts
    finally:
        tab.close()
