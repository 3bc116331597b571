"""Teacher links and chart export in a real browser: hidden controls, limited pages, projector mode, the
toolbar's PNG and SVG, a chart's CSV, and every page in an embedded 960 × 600 frame.

Run: .venv/bin/python -m pytest tests/test_browser_classroom.py -q -m browser
"""
from __future__ import annotations

import csv
import io

import pytest
from browser_support import (
    SIDEBAR,
    TIMEOUT_MS,
    goto_ready,
    query_params,
    screenshot,
    slider_values,
    wait_ready,
    wait_until,
)
from test_browser import Tab, app, check_healthy  # noqa: F401 (fixtures; `browser` is in conftest.py)

from ui import charts

pytestmark = pytest.mark.browser

LINK = "T=30&rho=1.20&hide=rho,H,presets&pages=Unroll,Gradients&projector=1"
HIDDEN = ("Spectral radius ρ of W_hh", "Hidden units H")


def _caption(page) -> str:
    return page.locator("[data-testid='stCaptionContainer']").filter(has_text="Network:").first.inner_text()


def test_a_teacher_link_hides_applies_limits_enlarges_and_exports(app, browser):  # noqa: F811
    tab = Tab(browser)
    tab.context.close()
    tab.context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    tab.context.set_default_timeout(TIMEOUT_MS)   # Playwright's 30 s is short for a loaded machine
    page = tab.page = tab.context.new_page()
    page.on("pageerror", lambda exc: tab.js_errors.append(str(exc)))
    try:
        goto_ready(page, app.page_url("Gradients", LINK), min_charts=4)
        check_healthy(page, "Gradients", charts=4, js_errors=tab.js_errors)
        # hidden controls are absent, their values are the link's
        shown = slider_values(page)
        assert not set(HIDDEN) & set(shown) and shown["Sequence length T"] == "30", shown
        assert page.locator(f"{SIDEBAR} [data-testid='stExpander'] summary").filter(has_text="Presets").count() == 0
        assert "ρ = 1.20" in _caption(page) and "T = 30" in _caption(page)
        # only the pages the link names (and Home) in the sidebar
        links = page.locator(f"{SIDEBAR} [data-testid='stPageLink'] a").all_inner_texts()
        assert [t.split()[-1] for t in links] == ["Home", "Unroll", "Gradients"], links   # (icon name, label)
        # projector mode: tick labels of at least 20 px, main lines of at least 4 px
        sizes = page.evaluate("""() => { const p = document.querySelector('.js-plotly-plot');
            return [parseFloat(getComputedStyle(p.querySelector('.xtick text')).fontSize),
                    p._fullData[0].line.width]; }""")
        assert sizes[0] >= 20 and sizes[1] >= 4, sizes

        # the toolbar: PNG at the configured size, SVG from the added button
        plot = page.locator(".js-plotly-plot").first
        plot.hover()
        height = page.evaluate("() => document.querySelector('.js-plotly-plot')._context.toImageButtonOptions.height")
        with page.expect_download() as png:
            plot.locator(".modebar-btn[data-title^='Download plot as a PNG']").click(force=True)
        from PIL import Image
        with Image.open(png.value.path()) as im:
            assert im.format == "PNG" and im.size == (charts.IMAGE_WIDTH * charts.IMAGE_SCALE, height * charts.IMAGE_SCALE)
        assert png.value.suggested_filename == "unrolled-gradients-grad-norm.png"
        with page.expect_download() as svg:
            plot.locator("[data-unrolled-svg]").click(force=True)
        text = open(svg.value.path(), encoding="utf-8").read()
        assert text.startswith("<svg") and f'width="{charts.IMAGE_WIDTH}"' in text[:400]

        # the CSV under the chart holds the chart's numbers, exactly
        with page.expect_download() as got:
            page.locator(".st-key-csv_grad_norm button").first.click()
        rows = list(csv.reader(io.StringIO(open(got.value.path(), encoding="utf-8").read())))
        drawn = page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot')._fullData[0].y)")
        assert rows[0][1].startswith("‖∂L/∂h_t‖ (BPTT): y")
        assert [float(r[1]) for r in rows[1:1 + len(drawn)]] == drawn

        # a page switch through the sidebar keeps the link: hiding, pages, projector and the values
        page.locator(f"{SIDEBAR} [data-testid='stPageLink'] a").filter(has_text="Unroll").click()
        page.wait_for_url("**/Unroll?**")
        wait_ready(page, min_charts=1)
        wait_until(page, lambda: query_params(page).get("rho") == "1.20" and "ρ = 1.20" in _caption(page),
                   "the link's values on Unroll")
        q = query_params(page)
        assert (set(q.get("hide", "").split(",")), q.get("pages"), q.get("projector"), q.get("rho")) == \
            ({"rho", "H", "presets"}, "Unroll,Gradients", "1", "1.20"), q
        assert not set(HIDDEN) & set(slider_values(page))
        assert "ρ = 1.20" in _caption(page)
    finally:
        tab.close()


def test_hide_sidebar_and_every_page_embedded_in_a_960_by_600_frame(app, browser):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 960, "height": 600})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    try:
        goto_ready(page, app.page_url("Gradients", "hide=sidebar&rho=1.10&embed=true"), min_charts=4)
        assert not page.locator(SIDEBAR).is_visible()
        assert "ρ = 1.10" in _caption(page)
        for path, charts_ in (("", 1), ("Unroll", 1), ("Hidden_state", 4), ("Phase_diagram", 1), ("Train", 1)):
            goto_ready(page, app.page_url(path, "embed=true"), min_charts=charts_)
            wide = page.evaluate("""() => { const m = document.querySelector("[data-testid='stMain']");
                const plots = [...document.querySelectorAll('.js-plotly-plot')].map(p => p.getBoundingClientRect().right);
                return {doc: document.documentElement.scrollWidth - window.innerWidth,
                        main: m.scrollWidth - m.clientWidth, chart: Math.max(0, ...plots) - window.innerWidth}; }""")
            assert max(wide.values()) <= 1, (path, wide)
            screenshot(page, f"embed-960x600-{path or 'home'}", full_page=False)
    finally:
        ctx.close()
