"""The app in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

One Streamlit server per module on a free port. Pages are discovered from pages/, so a new page is
covered without touching this file. Widgets are found by their labels (taken from ui.config, the
single source of the sidebar's vocabulary), charts by Plotly's own DOM, never by layout position.
Every page is saved as a full-page screenshot in artifacts/screenshots/ (light-*, dark-*, ...).

Run: .venv/bin/python -m pytest tests/test_browser.py -q -m browser
Without /usr/bin/chromium these tests skip locally and fail when CI is set.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from browser_support import (
    EXCEPTION,
    PageInfo,
    chart_summary,
    choose,
    clipped_chart_text,
    contrast,
    discover_pages,
    error_text,
    exceptions_text,
    goto_ready,
    luminance,
    network_pages,
    new_context,
    page_colours,
    plot_signatures,
    press,
    query_params,
    running_app,
    screenshot,
    selectbox_value,
    slider,
    slider_values,
    wait_quiet,
    wait_ready,
    wait_rerun,
    wait_until,
)

from ui.config import FIELDS, Config, coerce
from ui.presets import PRESETS

pytestmark = pytest.mark.browser

PAGES = discover_pages()
# Pages whose charts wait for the user's Start.
WAITS_FOR_START = {"Train"}
IDS = [p.slug for p in PAGES]
# The pages whose sidebar draws the network's controls (T, ρ, H, the activation, the cell): every page but Train.
NETWORK_PAGES = network_pages(PAGES)
NETWORK_IDS = [p.slug for p in NETWORK_PAGES]

# Minimum number of charts each page must draw at default settings (the list of charts);
# a page not listed here (a new one) must draw at least one.
MIN_CHARTS = {"Home": 1, "Lesson": 1, "Unroll": 1, "Hidden state": 4, "Gradients": 4, "Spectrum": 3, "Phase diagram": 2,
              "RNN vs LSTM vs GRU": 2}

T_LABEL = FIELDS["T"].label
RHO_LABEL = FIELDS["rho"].label
H_LABEL = FIELDS["H"].label
ACT_LABEL = FIELDS["act"].label

GARBAGE = "T=abc&rho=99&act=nope&H=-5&seed=1e99&signal=%3Cscript%3E&amp=nan&unknown=1"
WORST = "T=1000&H=256&rho=3.00&act=linear"


def min_charts(p: PageInfo) -> int:
    return MIN_CHARTS.get(p.label, 1)


def config_in(query: dict[str, str]) -> Config:
    """The config an address asks for (the same parsing as the app's)."""
    return Config(**{name: coerce(name, [query[name]])[0] for name in FIELDS if name in query})


# --------------------------------------------------------------------------- fixtures

# `browser` (one Chromium for the whole test session) is in conftest.py.


@pytest.fixture(scope="module")
def app(browser):
    """The Streamlit app on a free port (the browser fixture first, so a skip starts no server)."""
    with running_app(timeout=float(os.environ.get("UNROLLED_STARTUP_TIMEOUT", "180"))) as server:
        yield server


class Tab:
    """A page in a fresh browser context, with the JavaScript errors it raised."""

    def __init__(self, browser, dark: bool = False):
        self.context = new_context(browser, dark=dark)
        self.page = self.context.new_page()
        self.js_errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.js_errors.append(str(exc)))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser):
    t = Tab(browser)
    yield t
    t.close()


def check_healthy(page, where: str, charts: int = 1, js_errors: list[str] | None = None) -> list[dict]:
    """No exception block, no traceback text, no JS error; `charts` charts each holding data."""
    assert not exceptions_text(page), f"{where}: st.exception shown: {exceptions_text(page)}"
    assert not error_text(page), f"{where}: error text on the page: {error_text(page)}"
    if js_errors is not None:
        assert not js_errors, f"{where}: JavaScript errors: {js_errors}"
    summary = chart_summary(page)
    assert len(summary) >= charts, f"{where}: expected at least {charts} charts, found {len(summary)}"
    for c in summary:
        assert c["width"] > 100 and c["height"] > 100, f"{where}: chart {c['title']!r} is collapsed: {c}"
        # Away from the defaults a chart may have nothing finite to draw; it must then say so.
        assert (c["traces"] > 0 and c["values"] > 0 and c["drawn"] > 0) or c["annotations"], \
            f"{where}: blank chart {c}"
    return summary


# --------------------------------------------------------------------------- every page, as it loads

# Per chart: its title, the margins its spec asked for and the margins Plotly laid it out with.
_MARGINS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
  const m = (gd.layout || {}).margin || {}, s = (gd._fullLayout || {})._size || {};
  return [String(((gd.layout || {}).title || {}).text || '').replace(/<[^>]+>/g, '').slice(0, 60),
          ['l', 'r', 't', 'b'].map(k => m[k]), ['l', 'r', 't', 'b'].map(k => s[k])]; })"""


@pytest.fixture(scope="module")
def light_visits(app, browser):
    """Visit every page once at defaults (1280x720, light theme); keep what each test needs."""
    out = {}
    t = Tab(browser)
    try:
        for p in PAGES:
            t.js_errors.clear()
            goto_ready(t.page, app.page_url(p), min_charts(p))
            shot = screenshot(t.page, f"light-{p.slug}")
            out[p.slug] = {
                "exceptions": exceptions_text(t.page), "errors": error_text(t.page),
                "js_errors": list(t.js_errors), "charts": chart_summary(t.page),
                "clipped": clipped_chart_text(t.page), "screenshot": shot, "colours": page_colours(t.page),
                "alerts": t.page.locator("[data-testid='stAlertContentError']").all_inner_texts(),
                "links": t.page.locator("[data-testid='stSidebar'] [data-testid='stPageLink-NavLink']")
                              .all_inner_texts(),
                "margins": t.page.evaluate(_MARGINS_JS),
                "overflow_x": t.page.evaluate("() => { const m = document.querySelector(\"[data-testid='stMain']\");"
                                              " return m ? m.scrollWidth - m.clientWidth : 0; }"),
            }
    finally:
        t.close()
    return out


@pytest.mark.parametrize("p", PAGES, ids=IDS)
def test_page_renders_at_defaults(light_visits, p):
    v = light_visits[p.slug]
    where = f"{p.label} ({v['screenshot']})"
    assert not v["exceptions"], f"{where}: st.exception: {v['exceptions']}"
    assert not v["errors"], f"{where}: error text: {v['errors']}"
    assert not v["js_errors"], f"{where}: JavaScript errors: {v['js_errors']}"
    assert not v["alerts"], f"{where}: error banner at default settings: {v['alerts']}"
    assert len(v["charts"]) >= min_charts(p), f"{where}: {len(v['charts'])} charts, want ≥ {min_charts(p)}"
    for c in v["charts"]:
        if p.label in WAITS_FOR_START and c["traces"] == 0:
            # nothing is trained yet: a chart may be empty, but never silently (a note or a drawing says why)
            assert any(a.strip() for a in c["annotations"]), f"{where}: empty chart without a note {c}"
            continue
        assert c["traces"] > 0 and c["values"] > 0 and c["drawn"] > 0, f"{where}: empty chart {c}"
        assert c["width"] > 100 and c["height"] > 100, f"{where}: collapsed chart {c}"
        assert c["right"] <= 1280 + 1, f"{where}: chart sticks out of the 1280 px window: {c}"
        assert c["title"].strip(), f"{where}: chart without a title: {c}"
    assert v["overflow_x"] <= 1, f"{where}: the main area scrolls sideways by {v['overflow_x']} px"
    assert v["screenshot"].stat().st_size > 10_000


def test_every_page_is_linked_from_the_sidebar(light_visits):
    links = [" ".join(t.split()) for t in light_visits["home"]["links"]]
    for p in PAGES:
        assert any(p.label.lower() in link.lower() for link in links), f"no sidebar link to {p.label}: {links}"


@pytest.mark.parametrize("p", PAGES, ids=IDS)
def test_chart_text_not_clipped(light_visits, p):
    """Titles, axis labels, ticks and legends fit inside their chart at 1280x720."""
    v = light_visits[p.slug]
    bad = [(c["title"][:50], t) for c, texts in zip(v["charts"], v["clipped"]) for t in texts]
    assert not bad, f"{p.label}: text cut off at the chart edge ({v['screenshot']}): {bad}"


@pytest.mark.parametrize("p", PAGES, ids=IDS)
def test_charts_are_laid_out_once(light_visits, p):
    """Each chart's margins already fit its tick labels, legend and colour bar (viz.style.settled_margins),
    so Plotly does not grow a margin and lay the chart out a second time on every redraw."""
    v = light_visits[p.slug]
    grown = [(title, asked, used) for title, asked, used in v["margins"]
             if any(a is not None and u is not None and u > a + 0.5 for a, u in zip(asked, used))]
    assert not grown, f"{p.label}: margins grown by Plotly (title, asked l r t b, used l r t b): {grown}"


# --------------------------------------------------------------------------- dark theme

@pytest.fixture(scope="module")
def dark_visits(app, browser):
    out = {}
    t = Tab(browser, dark=True)
    try:
        for p in PAGES:
            t.js_errors.clear()
            goto_ready(t.page, app.page_url(p), min_charts(p))
            out[p.slug] = {"colours": page_colours(t.page), "screenshot": screenshot(t.page, f"dark-{p.slug}"),
                           "exceptions": exceptions_text(t.page), "js_errors": list(t.js_errors),
                           "charts": chart_summary(t.page)}
    finally:
        t.close()
    return out


@pytest.mark.parametrize("p", PAGES, ids=IDS)
def test_dark_theme_renders_legibly(light_visits, dark_visits, p):
    v = dark_visits[p.slug]
    where = f"{p.label} dark ({v['screenshot']})"
    assert v["screenshot"].exists() and v["screenshot"].stat().st_size > 10_000
    assert not v["exceptions"] and not v["js_errors"], f"{where}: {v['exceptions']} {v['js_errors']}"
    bg = v["colours"]["background"]
    assert luminance(bg) < 0.1, f"{where}: the dark theme was not applied (background {bg})"
    light_bg = light_visits[p.slug]["colours"]["background"]
    assert luminance(light_bg) > 0.8, f"{p.label}: the light page has background {light_bg}"
    assert contrast(v["colours"]["text"], bg) >= 4.5, f"{where}: body text {v['colours']['text']} on {bg}"
    for i, c in enumerate(v["colours"]["charts"]):
        for part in ("title", "tick", "legend"):
            if c[part]:
                behind = c["legend_behind"] if part == "legend" else c["behind"]
                ratio = contrast(c[part], behind)
                assert ratio >= 3.0, (f"{where}: chart {i + 1} ({v['charts'][i]['title'][:40]!r}) {part} text "
                                      f"{c[part]} on {behind}: contrast {ratio:.2f} < 3")


# --------------------------------------------------------------------------- sliders and the URL

@pytest.mark.parametrize("p", [p for p in NETWORK_PAGES if p.label not in WAITS_FOR_START],
                         ids=[p.slug for p in NETWORK_PAGES if p.label not in WAITS_FOR_START])
def test_keyboard_slider_redraws_chart_and_updates_url(app, tab, p):
    page = tab.page
    goto_ready(page, app.page_url(p), min_charts(p))
    before = plot_signatures(page)
    moved = []
    for label, key in ((T_LABEL, "T"), (RHO_LABEL, "rho"), (H_LABEL, "H")):
        thumb = slider(page, label)
        old = slider_values(page).get(label)
        press(page, thumb, "ArrowRight")
        wait_ready(page, min_charts(p))
        # the address is written by the rerun: wait until it carries the value the slider shows
        wait_until(page, lambda label=label, key=key, old=old: slider_values(page).get(label) != old
                   and query_params(page).get(key) == slider_values(page).get(label),
                   f"{p.label}: {label!r} moved from {old} and the address following it")
        new = slider_values(page).get(label)
        assert new != old, f"{p.label}: ArrowRight on {label!r} left it at {old}"
        assert query_params(page).get(key) == new, f"{p.label}: URL {page.url} does not carry {key}={new}"
        moved.append(label)
        if _changes(page, lambda: plot_signatures(page) != before):
            break
    else:
        pytest.fail(f"{p.label}: no chart changed after moving {moved}")
    check_healthy(page, f"{p.label} after moving {moved}", min_charts(p), tab.js_errors)


def _changes(page, probe, timeout: float = 20_000) -> bool:
    """Whether `probe()` becomes true within `timeout` ms (for a change that may legitimately not happen)."""
    try:
        wait_until(page, probe, timeout=timeout)
    except AssertionError:
        return False
    return True


def test_slider_extremes_with_home_and_end(app, tab):
    """Both ends of the T and ρ sliders (End then Home) on the Gradients page."""
    page = tab.page
    p = next((q for q in PAGES if q.label == "Gradients"), PAGES[-1])
    goto_ready(page, app.page_url(p), min_charts(p))
    for label, key, hi, lo in ((T_LABEL, "T", FIELDS["T"].hi, FIELDS["T"].lo),
                               (RHO_LABEL, "rho", FIELDS["rho"].hi, FIELDS["rho"].lo)):
        press(page, slider(page, label), "End")
        wait_ready(page, min_charts(p))
        wait_until(page, lambda key=key, hi=hi: float(query_params(page).get(key, "nan")) == pytest.approx(hi),
                   f"{key}={hi} in the address")
        assert float(query_params(page)[key]) == pytest.approx(hi), page.url
        check_healthy(page, f"{p.label} {label} at End", min_charts(p), tab.js_errors)
        press(page, slider(page, label), "Home")
        wait_ready(page, min_charts(p))
        wait_until(page, lambda label=label, lo=lo: float(slider_values(page)[label]) == pytest.approx(lo)
                   and float(query_params(page).get(key, lo)) == pytest.approx(lo), f"{label} at {lo}")
        assert float(slider_values(page)[label]) == pytest.approx(lo)
        assert not exceptions_text(page)
    screenshot(page, f"extremes-{p.slug}")


@pytest.mark.parametrize("p", NETWORK_PAGES, ids=NETWORK_IDS)
def test_shared_url_round_trips_into_a_fresh_context(app, browser, tab, p):
    page = tab.page
    goto_ready(page, app.page_url(p), min_charts(p))
    press(page, slider(page, T_LABEL), "ArrowRight")
    press(page, slider(page, RHO_LABEL), "ArrowLeft")
    wait_rerun(page, lambda: choose(page, ACT_LABEL, "relu"))
    wait_ready(page, min_charts(p))
    want = {"T": "101", "rho": "0.89", "act": "relu"}
    wait_until(page, lambda: {k: query_params(page).get(k) for k in want} == want, f"{want} in the address")
    wait_ready(page, min_charts(p))
    shared = page.url
    q = query_params(page)
    assert q.get("T") == "101" and q.get("rho") == "0.89" and q.get("act") == "relu", shared
    sliders, act, data = slider_values(page), selectbox_value(page, ACT_LABEL), plot_signatures(page)

    other = Tab(browser)
    try:
        goto_ready(other.page, shared, min_charts(p))
        wait_until(other.page, lambda: slider_values(other.page) == sliders and plot_signatures(other.page) == data,
                   f"{p.label}: the widgets and charts of {shared}")
        assert slider_values(other.page) == sliders
        assert selectbox_value(other.page, ACT_LABEL) == act == "relu"
        assert plot_signatures(other.page) == data, f"{p.label}: same URL, different charts"
        assert query_params(other.page) == q
        check_healthy(other.page, f"{p.label} opened from {shared}", min_charts(p), other.js_errors)
    finally:
        other.close()


def test_values_survive_a_page_switch(app, tab):
    page = tab.page
    first, second = NETWORK_PAGES[3 if len(NETWORK_PAGES) > 3 else 1], NETWORK_PAGES[-1]
    goto_ready(page, app.page_url(first), min_charts(first))
    press(page, slider(page, T_LABEL), "ArrowRight", times=3)
    values = slider_values(page)
    link = page.locator("[data-testid='stSidebar'] [data-testid='stPageLink-NavLink']").filter(has_text=second.label)
    link.first.click()
    page.wait_for_url(lambda url: urlsplit(url).path.strip("/") == second.url_path, timeout=30_000)
    wait_ready(page, min_charts(second))
    wait_until(page, lambda: slider_values(page).get(T_LABEL) == "103" and query_params(page).get("T") == "103",
               f"T = 103 shown and in the address of {second.label}")
    assert slider_values(page)[T_LABEL] == values[T_LABEL] == "103"
    assert query_params(page).get("T") == "103", page.url
    check_healthy(page, f"{second.label} after switching from {first.label}", min_charts(second), tab.js_errors)


# --------------------------------------------------------------------------- bad and extreme URLs

@pytest.mark.parametrize("p", PAGES, ids=IDS)
def test_garbage_query_params_give_a_notice(app, tab, p):
    page = tab.page
    goto_ready(page, app.page_url(p, GARBAGE), min_charts(p))
    # the cleaned values replace the garbage in the address during the run: wait for that
    wait_until(page, lambda: query_params(page).get("rho") == "3.00" and "nope" not in page.url,
               "the cleaned values in the address")
    check_healthy(page, f"{p.label}?{GARBAGE}", min_charts(p), tab.js_errors)
    notices = page.locator("[data-testid='stSidebar']").inner_text()
    for key in ("T=abc", "rho=99", "act=nope"):
        assert key in notices, f"{p.label}: no notice about {key}: {notices!r}"
    q = query_params(page)  # the address now holds the cleaned values, so a copy reproduces the view
    assert q.get("rho") == "3.00" and q.get("T", "100") == "100" and q.get("act", "tanh") == "tanh", page.url
    if p not in NETWORK_PAGES:   # no network controls in this sidebar: the notices and the address are the check
        screenshot(page, f"garbage-{p.slug}")
        return
    values = slider_values(page)
    assert values[T_LABEL] == "100" and values[RHO_LABEL] == "3.00" and values[H_LABEL] == "1"
    assert selectbox_value(page, ACT_LABEL) == "tanh"
    screenshot(page, f"garbage-{p.slug}")


@pytest.mark.parametrize("p", PAGES, ids=IDS)
def test_worst_case_settings_from_the_url(app, tab, p):
    """T = 1000, H = 256, ρ = 3, linear: overflow is reported as a banner, never an exception;
    a chart with nothing finite to draw must say so (an annotation), not stay blank."""
    page = tab.page
    goto_ready(page, app.page_url(p, WORST), 1, timeout=300_000)
    screenshot(page, f"worst-{p.slug}")
    assert not exceptions_text(page), exceptions_text(page)
    assert not error_text(page), error_text(page)
    assert not tab.js_errors, tab.js_errors
    for c in chart_summary(page):
        assert (c["traces"] and c["values"]) or c["annotations"], f"{p.label}: blank chart at {WORST}: {c}"


# --------------------------------------------------------------------------- presets

def _preset_buttons(page):
    """The visible preset buttons in the sidebar's "Presets" expander (opened if needed)."""
    exp = page.locator("[data-testid='stSidebar'] [data-testid='stExpander']").filter(has_text="Presets").first
    if not exp.count():
        return exp.locator("button")
    details = exp.locator("[data-testid='stExpanderDetails']")
    if not details.locator("button").filter(visible=True).count():
        exp.locator("summary").first.click()
        details.locator("button").filter(visible=True).first.wait_for(state="visible", timeout=60_000)
    return details.locator("[data-testid='stButton'] button").filter(visible=True)


def test_sidebar_presets_click_through(app, tab):
    page = tab.page
    p = next((q for q in PAGES if q.label == "Gradients"), PAGES[0])
    goto_ready(page, app.page_url(p), min_charts(p))
    buttons = _preset_buttons(page)
    n = buttons.count()
    if n == 0:
        pytest.skip("no preset buttons in the sidebar")
    titles = [" ".join(t.split()) for t in buttons.all_inner_texts()]
    by_title = {pr.title: pr for pr in PRESETS}
    urls = {}
    for i, title in enumerate(titles):
        button = _preset_buttons(page).nth(i)
        wait_rerun(page, button.click)
        wait_ready(page, min_charts(p))
        if title in by_title:   # the rerun writes the preset into the address: wait until it has
            wait_until(page, lambda title=title: config_in(query_params(page)) == by_title[title].config,
                       f"the address of preset {title!r}")
            wait_ready(page, min_charts(p))
        check_healthy(page, f"{p.label} after preset {title!r}", min_charts(p), tab.js_errors)
        urls[title] = page.url
        screenshot(page, f"preset-{i + 1}-{p.slug}")
    assert len(set(urls.values())) == len(urls), f"two presets led to the same URL: {urls}"
    assert len(urls) == n


def _gallery_preset(button):
    """The preset a gallery button loads, from the key of its widget (`gallery_<preset key>`, which Streamlit
    puts in a class name `st-key-gallery_<preset key>`); None for another button. The grid fills its columns
    one row at a time, so the document order of the buttons is not the order of PRESETS."""
    cls = button.evaluate("b => { const e = b.closest(\"[class*='st-key-gallery_']\"); return e ? e.className : ''; }")
    keys = [c[len("st-key-gallery_"):] for c in cls.split() if c.startswith("st-key-gallery_")]
    return next((pr for pr in PRESETS if keys and pr.key == keys[0]), None)


def test_home_gallery_presets_load(app, tab):
    page = tab.page
    home = PAGES[0]
    goto_ready(page, app.page_url(home), min_charts(home))
    loads = page.locator("[data-testid='stMain'] [data-testid='stButton'] button").filter(visible=True)
    n = loads.count()
    if n == 0:
        pytest.skip("no preset gallery on the home page")
    seen = set()
    for i in range(n):
        button = loads.nth(i)
        button.scroll_into_view_if_needed()
        wait_rerun(page, button.click)
        wait_ready(page, min_charts(home))
        preset = _gallery_preset(button)
        if preset is not None:   # the rerun writes the preset into the address: wait until it has
            wait_until(page, lambda preset=preset: config_in(query_params(page)) == preset.config,
                       f"the address of the gallery's preset {preset.title!r}")
        assert not page.locator(EXCEPTION).count()
        seen.add(page.url)
    check_healthy(page, "Home after the gallery presets", min_charts(home), tab.js_errors)
    assert len(seen) >= min(n, 2), f"gallery buttons did not change the URL: {seen}"


# --------------------------------------------------------------------------- fragments
# Page-local controls rerun only their own fragment, not the whole page. A full rerun re-sends every
# element of the page, sidebar included; a fragment rerun sends only the fragment's. So the number of
# websocket messages the browser receives tells the two apart: a move of the page-local control must
# cost far fewer messages than a move of the sidebar's T slider, and the charts outside the fragment
# must keep their data.

BY_LABEL = {p.label: p for p in PAGES}


class Counted:
    """A page that counts the websocket messages it receives."""

    def __init__(self, browser):
        self.context = new_context(browser)
        self.page = self.context.new_page()
        self.received = 0
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, _payload) -> None:
        self.received += 1

    def messages(self, action, until=None) -> int:
        """Websocket messages received for `action`'s rerun: counted once the rerun has ended, `until()`
        (what the rerun must show) holds, and no message has arrived for a while (some trail the run)."""
        before = self.received
        wait_rerun(self.page, action)
        if until is not None:
            wait_until(self.page, until, "the rerun's result on the page")
        wait_ready(self.page)
        return wait_quiet(self.page, lambda: self.received, quiet_ms=1_500) - before


@pytest.fixture
def counted(browser):
    t = Counted(browser)
    yield t
    t.context.close()


def full_rerun_messages(tab: Counted) -> int:
    page = tab.page
    thumb = slider(page, T_LABEL)
    old = slider_values(page).get(T_LABEL)
    thumb.focus()
    return tab.messages(lambda: thumb.press("ArrowRight"),
                        until=lambda: slider_values(page).get(T_LABEL) != old
                        and query_params(page).get("T") == slider_values(page).get(T_LABEL))


def test_unroll_step_slider_reruns_only_its_section(app, counted):
    tab = counted
    page = tab.page
    goto_ready(page, app.page_url(BY_LABEL["Unroll"]), 1)
    full = full_rerun_messages(tab)
    charts = plot_signatures(page)
    step = slider(page, "Show the numbers at step t", within="[data-testid='stMain']")
    before = page.locator(".katex").all_inner_texts()
    step.focus()
    partial = tab.messages(lambda: step.press("ArrowLeft"), until=lambda: page.locator(".katex").all_inner_texts() != before)
    assert not exceptions_text(page)
    assert page.locator(".katex").all_inner_texts() != before      # the numbers did change
    assert plot_signatures(page) == charts                        # the graph was left alone
    assert partial * 2 < full, (partial, full)


def test_gradient_check_button_reruns_only_its_section(app, counted):
    tab = counted
    page = tab.page
    goto_ready(page, app.page_url(BY_LABEL["Gradients"]), 4)
    full = full_rerun_messages(tab)
    charts = plot_signatures(page)
    button = page.get_by_role("button", name="Check BPTT against finite differences")
    partial = tab.messages(button.click, until=lambda: page.get_by_text("Largest relative error").count())
    assert not exceptions_text(page)
    assert plot_signatures(page) == charts
    assert partial * 2 < full, (partial, full)


def test_phase_controls_rerun_only_the_map(app, counted):
    tab = counted
    page = tab.page
    goto_ready(page, app.page_url(BY_LABEL["Phase diagram"]), 2)
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


def test_sidebar_move_still_redraws_fragment_charts(app, counted):
    """The fragments are part of the full run: a sidebar change reaches the chart inside one."""
    tab = counted
    page = tab.page
    goto_ready(page, app.page_url(BY_LABEL["Hidden state"]), 4)
    before = plot_signatures(page)
    press(page, slider(page, FIELDS["T"].label), "ArrowRight")
    wait_ready(page, 4)
    wait_until(page, lambda: (len(plot_signatures(page)) == len(before)
                              and all(a != b for a, b in zip(plot_signatures(page), before))),
               "every chart redrawn")
    after = plot_signatures(page)
    assert len(after) == len(before) and all(a != b for a, b in zip(after, before))


# --------------------------------------------------------------------------- gated cells

CELL_LABEL = FIELDS["cell"].label
FB_LABEL = FIELDS["fb"].label
GATED_CHARTS = {"Hidden state": {"lstm": 6, "gru": 5}}   # c_t and one panel of gates added
COMPARE = "RNN vs LSTM vs GRU"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("p", [q for q in PAGES if q.label != COMPARE], ids=lambda q: q.slug)
def test_every_page_with_a_gated_cell(app, tab, p, cell):
    page = tab.page
    want = GATED_CHARTS.get(p.label, {}).get(cell, min_charts(p))
    goto_ready(page, app.page_url(p, f"cell={cell}"), want)
    wait_until(page, lambda: query_params(page).get("cell") == cell, f"cell={cell} in the address")
    check_healthy(page, f"{p.label} with cell={cell}", want, tab.js_errors)
    if p in NETWORK_PAGES:   # Train draws its own cell control, not the sidebar's: the address keeps the link's
        assert selectbox_value(page, CELL_LABEL) == cell
    assert query_params(page).get("cell") == cell
    if p.label in ("Hidden state", "Gradients"):
        screenshot(page, f"{cell}-{p.slug}")


def _readout(page) -> str:
    texts = page.locator("[data-testid='stAlert']").all_inner_texts()
    marker = "gradient reaching step 1:"
    # the alert's text also holds its icon's ligature name: keep from the readout on, on one line
    return next((" ".join(t[t.index(marker):].split()) for t in texts if marker in t), "")


def test_compare_page_renders_three_curves_and_the_readout(app, tab):
    page = tab.page
    p = next(q for q in PAGES if q.label == COMPARE)
    goto_ready(page, app.page_url(p), 2)
    summary = check_healthy(page, COMPARE, 2, tab.js_errors)
    assert summary[0]["traces"] >= 3, summary[0]
    text = _readout(page)
    assert text.endswith("(GRU)") and "(RNN), 10^" in text and "(LSTM), 10^" in text, text
    screenshot(page, "compare-defaults")
    # the forget-gate bias is a page control bound to the URL; moving it changes the LSTM's number only
    before = text
    press(page, slider(page, FB_LABEL, within="[data-testid='stMain']"), "End")
    wait_ready(page, 2)
    wait_until(page, lambda: float(query_params(page).get("fb", "nan")) == pytest.approx(FIELDS["fb"].hi)
               and _readout(page) not in ("", before), "fb at its top in the address and a new readout")
    assert float(query_params(page)["fb"]) == pytest.approx(FIELDS["fb"].hi), page.url
    after = _readout(page)
    assert after != before and after.split(", ")[0] == before.split(", ")[0], (before, after)
    check_healthy(page, f"{COMPARE} with fb at its top", 2, tab.js_errors)


def test_gate_bias_in_the_sidebar_follows_the_cell_and_the_url(app, tab):
    """The forget-gate bias is live for the LSTM, disabled (and kept, in the URL too) for the others."""
    page = tab.page
    p = next(q for q in PAGES if q.label == "Gradients")
    goto_ready(page, app.page_url(p, "cell=lstm"), 4)
    press(page, slider(page, FB_LABEL), "End")
    wait_ready(page, 4)
    wait_until(page, lambda: query_params(page).get("fb") == "8", "fb=8 in the address")
    assert query_params(page).get("fb") == "8" and slider_values(page)[FB_LABEL] == "8.0", page.url
    wait_rerun(page, lambda: choose(page, CELL_LABEL, "rnn"))
    wait_ready(page, 4)
    wait_until(page, lambda: "cell" not in query_params(page) and slider(page, FB_LABEL).is_disabled(),
               "cell=rnn: no cell in the address, the bias disabled")
    assert "cell" not in query_params(page) and query_params(page).get("fb") == "8", page.url
    assert slider(page, FB_LABEL).is_disabled()
    wait_rerun(page, lambda: choose(page, CELL_LABEL, "lstm"))
    wait_ready(page, 4)
    wait_until(page, lambda: query_params(page) == {"cell": "lstm", "fb": "8"}, "cell=lstm&fb=8 in the address")
    assert query_params(page) == {"cell": "lstm", "fb": "8"}, page.url
    assert not slider(page, FB_LABEL).is_disabled()
    check_healthy(page, "Gradients after switching cells", 4, tab.js_errors)


# The URL of the issue: a backtick closed the notice's code span, and the page showed a link, a
# heading, bold text and made the browser fetch a remote image.
HOSTILE_LINK = ("T=%60%5BLog%20in%20again%5D%28http%3A%2F%2F127.0.0.1%3A9%29&H=%60%21%5B%5D%28http%3A%2F%2F127.0.0.1"
                "%3A9%2Fa.png%29&act=%60%23%20BIG&seed=%60%2A%2ASession%20expired%2A%2A"
                "&signal=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&init=%3Ared%5Balarm%5D")


def test_link_values_are_shown_as_typed_never_rendered(app, tab):
    page = tab.page
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if ":9/" in r.url or r.url.endswith(":9") else None)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    goto_ready(page, app.page_url(PAGES[0], HOSTILE_LINK), min_charts(PAGES[0]))
    check_healthy(page, "hostile link", min_charts(PAGES[0]), tab.js_errors)
    side = page.locator("[data-testid='stSidebar']")
    text = side.inner_text()
    for quoted in ("T=`[Log in again](http://127.0.0", "seed=`**Session expired**", "act=`# BIG"):  # 30 characters
        assert quoted in text, (quoted, text[-1500:])
    assert page.locator("a[href*='127.0.0.1:9'], img[src*='127.0.0.1:9']").count() == 0
    assert side.locator("h1, h2, h3, strong, img:not([src^='data:'])").filter(
        has_text="BIG").count() == 0
    assert side.locator("strong").filter(has_text="Session expired").count() == 0
    assert not fetched and not dialogs, (fetched, dialogs)
