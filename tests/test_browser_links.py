"""A shared link keeps its settings through page switches, in a real browser (see test_browser.py).

Streamlit drops the parameters bound on one page from the address when the sidebar switches to another,
so the first switch of a session used to leave a bare address (a reload or a copy gave the defaults).
Here a link is opened, every page is reached through the sidebar's links, and on each the address bar
must carry the whole config, and a reload of that address must show the same widgets and charts.

Run: .venv/bin/python -m pytest tests/test_browser_links.py -q -m browser
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from browser_support import (
    OWN_CONTROLS,
    SIDEBAR,
    discover_pages,
    goto_ready,
    plot_signatures,
    press,
    query_params,
    running_app,
    selectbox_value,
    slider,
    slider_values,
    wait_ready,
    wait_until,
)
from test_browser import MIN_CHARTS, Tab, app, check_healthy  # noqa: F401 (fixtures; `browser` is in conftest.py)

from ui.config import FIELDS, Config, coerce

pytestmark = pytest.mark.browser

PAGES = discover_pages()
# The report opened /Gradients?T=300&H=64&amp=1.5&rho=1.10 and switched to Spectrum; a smaller network
# keeps the nine pages (and their reloads) quick, and a choice field checks the selectboxes too.
LINK = "T=60&H=12&amp=1.5&rho=1.10&act=relu"
START = "Gradients"
CHOICES = [FIELDS[n].label for n in ("cell", "act", "signal", "init")]


def config_in(query: dict[str, str]) -> Config:
    """The config an address asks for (the same parsing as the app's)."""
    return Config(**{name: coerce(name, [query[name]])[0] for name in FIELDS if name in query})


def sidebar_state(page) -> dict[str, str]:
    """What the sidebar shows: every slider and the choices."""
    state = slider_values(page)
    state.update({label: selectbox_value(page, label) for label in CHOICES})
    return state


def test_a_link_keeps_its_settings_through_every_page_switch_and_reload(app, browser):  # noqa: F811
    start = next(p for p in PAGES if p.url_path == START)
    i = PAGES.index(start)
    # the report's switch first, then every other page, and back to the start
    route = PAGES[i + 1:] + PAGES[:i + 1]
    tab = Tab(browser)
    try:
        page = tab.page
        goto_ready(page, app.page_url(start, LINK), MIN_CHARTS.get(start.label, 1))
        linked = config_in(dict(p.split("=") for p in LINK.split("&")))
        wait_until(page, lambda: config_in(query_params(page)) == linked, f"the config of {LINK} in the address")
        asked = config_in(query_params(page))
        assert asked == linked != Config(), page.url
        shown = sidebar_state(page)
        for p in route:
            where = f"{p.label} (switched to from the sidebar)"
            link = page.locator(f"{SIDEBAR} [data-testid='stPageLink-NavLink']").filter(has_text=p.label)
            link.first.click()
            page.wait_for_url(lambda url, p=p: urlsplit(url).path.strip("/") == p.url_path, timeout=120_000)
            wait_ready(page, MIN_CHARTS.get(p.label, 1))
            # the address bar carries the whole config, right after the switch (written by the page's run)
            wait_until(page, lambda: config_in(query_params(page)) == asked, f"{where}: the config in the address")
            assert config_in(query_params(page)) == asked, f"{where}: address {page.url}"
            # the sidebar's gate biases move into the main area on the comparison page; a page with controls of
            # its own (Train) draws none of the network's in the sidebar: there the address is the check
            network = p.label not in OWN_CONTROLS
            now = sidebar_state(page) if network else {}
            assert {k: v for k, v in now.items() if k in shown} == \
                {k: v for k, v in shown.items() if k in now}, where
            url, widgets, charts = page.url, slider_values(page, "body"), plot_signatures(page)
            check_healthy(page, where, MIN_CHARTS.get(p.label, 1), tab.js_errors)

            page.reload(wait_until="domcontentloaded")
            wait_ready(page, MIN_CHARTS.get(p.label, 1))
            where = f"{p.label} reloaded from {url}"
            wait_until(page, lambda: config_in(query_params(page)) == asked and slider_values(page, "body") == widgets
                       and plot_signatures(page) == charts, f"{where}: the same address, widgets and charts")
            assert config_in(query_params(page)) == asked, f"{where}: address {page.url}"
            assert slider_values(page, "body") == widgets, where
            assert not network or sidebar_state(page) == now, where
            assert plot_signatures(page) == charts, f"{where}: the reload drew different charts"
            check_healthy(page, where, MIN_CHARTS.get(p.label, 1), tab.js_errors)
    finally:
        tab.close()


@pytest.fixture
def fresh_app(browser):
    """A server of its own: after the walk through every page on the shared server this test failed once in a
    full run while passing alone, so it starts from a clean server."""
    with running_app() as server:
        yield server


def _shows_its_address(page) -> bool:
    """The T and H sliders show the config the address asks for (its defaults for what it leaves out)."""
    want, shown = config_in(query_params(page)), slider_values(page)
    return (shown.get(FIELDS["T"].label), shown.get(FIELDS["H"].label)) == (str(want.T), str(want.H))


def test_back_and_forward_across_pages_show_what_the_address_says(fresh_app, browser):  # noqa: F811
    """Each history entry now carries the config; going back or forward shows that config (Streamlit
    would reset the widgets whose parameter it drops on the page change to their defaults).

    How many entries the walk leaves in the history is Streamlit's and the browser's business: on a loaded
    machine a page switch can leave an extra entry (the new page before its config was written), so Back
    is pressed until the first page is reached (at most 4 times), and every entry on the way must show what
    its address says."""
    first = next(p for p in PAGES if p.url_path == "Unroll")
    second = next(p for p in PAGES if p.url_path == "Hidden_state")
    tab = Tab(browser)
    try:
        page = tab.page
        goto_ready(page, fresh_app.page_url(first, "T=60&H=12"), MIN_CHARTS.get(first.label, 1))
        page.locator(f"{SIDEBAR} [data-testid='stPageLink-NavLink']").filter(has_text=second.label).first.click()
        page.wait_for_url(lambda url: urlsplit(url).path.strip("/") == second.url_path, timeout=120_000)
        wait_ready(page, MIN_CHARTS.get(second.label, 1))
        press(page, slider(page, FIELDS["T"].label), "ArrowRight", times=2)
        wait_until(page, lambda: query_params(page).get("T") == "62", "T=62 in the address")
        for step, path, T in ((page.go_back, first.url_path, 60), (page.go_forward, second.url_path, 62)):
            for hop in range(1, 5):
                step(wait_until="domcontentloaded")
                wait_ready(page, 1)
                # the history entry's config reaches the widgets in the page's run: wait for what is asserted
                wait_until(page, lambda: _shows_its_address(page),
                           f"the widgets showing the address {page.url} after {step.__name__} #{hop}")
                wait_ready(page, 1)
                assert _shows_its_address(page), (page.url, slider_values(page))
                check_healthy(page, f"{urlsplit(page.url).path} after {step.__name__} #{hop}", 1, tab.js_errors)
                if urlsplit(page.url).path.strip("/") == path and config_in(query_params(page)) == Config(T=T, H=12):
                    break
            else:
                pytest.fail(f"{step.__name__} pressed 4 times never reached {path} with T={T}, H=12 ({page.url})")
            shown = slider_values(page)
            assert (shown[FIELDS["T"].label], shown[FIELDS["H"].label]) == (str(T), "12"), (page.url, shown)
    finally:
        tab.close()
