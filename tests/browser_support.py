"""Running the app for real: a Streamlit server on a free port and headless Chromium via Playwright.

Used by tests/test_browser.py and bench/bench_app.py. Nothing here imports streamlit or the app, so
it can drive any checkout. Debian's /usr/bin/chromium is used (Playwright cannot download browsers
here); set UNROLLED_CHROMIUM to point at another binary.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = os.environ.get("UNROLLED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 720}
# Playwright waits (clicks, locators, downloads, navigations) and the page helpers below: generous, so that a
# test passes on a loaded 2-core machine (a first render compiles kernels); they only cost time when
# something is really broken.
TIMEOUT_MS = 120_000

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
RUNNING = "[data-testid='stApp'][data-test-script-state='running']"
CHART = "[data-testid='stPlotlyChart']"
PLOT = ".js-plotly-plot"
EXCEPTION = "[data-testid='stException']"
# Text that means something broke even when Streamlit did not render an stException block.
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|StreamlitAPIException|"
                        r"TypingError|NameError|KeyError:|AttributeError:|ModuleNotFoundError")


def bench_module(name: str):
    """bench/<name>.py as a module, loaded once per process (bench/ is a folder of scripts, not a package):
    the load generator's protocol client and process helpers serve the tests too."""
    key = f"unrolled_bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[key]
            raise
    return sys.modules[key]


# --------------------------------------------------------------------------- pages

@dataclass(frozen=True)
class PageInfo:
    """One page of the app: the script, its label and its URL path."""

    script: str      # "app.py" or "pages/1_Unroll.py"
    label: str       # "Home", "Unroll", "Hidden state", ...
    url_path: str    # "" for home, "Unroll", "Hidden_state", ...

    @property
    def slug(self) -> str:
        return self.url_path or "home"


# Pages with controls of their own, whose sidebar draws none of the network's controls (the cell, T, ρ, the
# activation ...: ``sidebar(network=False)`` in ui/sidebar.py). Their page links, notices and share box stay.
OWN_CONTROLS = frozenset({"Train"})


def network_pages(pages: list[PageInfo]) -> list[PageInfo]:
    """The pages whose sidebar draws the network's controls: every page except those in OWN_CONTROLS."""
    return [p for p in pages if p.label not in OWN_CONTROLS]


def discover_pages(root: Path = ROOT) -> list[PageInfo]:
    """Home plus every numbered file in pages/, in file-name order (as Streamlit orders them).

    Streamlit's URL path for pages/N_Some_name.py is "Some_name" (the number prefix is dropped).
    """
    out = [PageInfo("app.py", "Home", "")]
    for f in sorted((root / "pages").glob("[0-9]*.py"), key=lambda p: _page_sort_key(p.stem)):
        stem = re.sub(r"^\d+[_ -]*", "", f.stem)
        out.append(PageInfo(f"pages/{f.name}", stem.replace("_", " "), stem))
    return out


def _page_sort_key(stem: str) -> tuple[float, str]:
    m = re.match(r"^(\d+)", stem)
    return (float(m.group(1)) if m else float("inf"), stem)


# --------------------------------------------------------------------------- chromium

def chromium_available() -> bool:
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def launch_browser(playwright: Any, **kwargs: Any) -> Any:
    """Headless Chromium from the system package, never a downloaded one."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                      **kwargs)


def new_context(browser: Any, *, dark: bool = False, **kwargs: Any) -> Any:
    ctx = browser.new_context(viewport=VIEWPORT, device_scale_factor=1,
                              color_scheme="dark" if dark else "light", **kwargs)
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.set_default_navigation_timeout(TIMEOUT_MS)
    return ctx


# --------------------------------------------------------------------------- server

def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerExited(RuntimeError):
    """The server process ended before it answered its health check."""


@dataclass
class AppServer:
    """`streamlit run app.py` in a subprocess on a free port."""

    root: Path = ROOT
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_url(self, page: PageInfo | str = "", query: str = "") -> str:
        path = page.url_path if isinstance(page, PageInfo) else page
        q = query.lstrip("?")
        return f"{self.url}/{path}" + (f"?{q}" if q else "")

    def start(self, timeout: float = 180.0) -> AppServer:
        """Start the server and wait until it is healthy. A port picked here (self.port == 0) is free when
        picked but can be taken by another process before Streamlit binds it: then another port is tried."""
        if self.port:
            return self._start(timeout)
        for attempt in range(3):
            self.port = free_port()
            try:
                return self._start(timeout)
            except ServerExited:
                if attempt == 2 or "already in use" not in self.log_tail(200):
                    raise
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> AppServer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("UNROLLED_DEBUG", None)
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py",
               "--server.headless", "true", "--server.port", str(self.port),
               "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
        if self.log_path is None:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            self.log_path = ARTIFACTS / f"streamlit-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = 180.0) -> float:
        """Poll /_stcore/health until it answers "ok"; returns seconds since start."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerExited(f"streamlit exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    body = r.read().decode(errors="replace").strip()
                    if r.status == 200 and body.lower() == "ok":
                        return time.perf_counter() - self.started_at
                    last = f"{r.status} {body}"
            except (urllib.error.URLError, ConnectionError, OSError) as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise TimeoutError(f"streamlit not healthy after {timeout:.0f} s ({last}):\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with contextlib.suppress(OSError):
            if self._log:
                self._log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server's process group, then SIGKILL if it lingers."""
        bench_module("load").stop_group(self.proc, timeout)
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> AppServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def rss_bytes(self) -> int:
        """Resident memory of the server and all its children."""
        if self.proc is None:
            return 0
        return process_tree_rss(self.proc.pid)


@contextlib.contextmanager
def running_app(timeout: float = 180.0, fresh_numba_cache: bool = False, **kwargs: Any) -> Iterator[AppServer]:
    """Context manager: a started server, stopped on exit. `fresh_numba_cache` points
    NUMBA_CACHE_DIR at an empty temporary directory (a cold start)."""
    with contextlib.ExitStack() as stack:
        env = dict(kwargs.pop("env", {}))
        if fresh_numba_cache:
            env["NUMBA_CACHE_DIR"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="numba-"))
        server = AppServer(env=env, **kwargs)
        stack.callback(server.stop)
        server.start(timeout)
        yield server


def process_tree_rss(pid: int) -> int:
    """RSS in bytes of `pid` and its descendants (bench/load.py's rss_bytes: psutil when installed, else /proc)."""
    return bench_module("load").rss_bytes([pid])


# --------------------------------------------------------------------------- page helpers

def wait_idle(page: Any, timeout: float = TIMEOUT_MS) -> None:
    """Wait until the script run has finished (the app is idle)."""
    page.wait_for_selector(IDLE, state="attached", timeout=timeout)


# How long wait_rerun waits to see the rerun start: a loaded machine can take seconds to answer a click.
RERUN_START_MS = 15_000


def wait_rerun(page: Any, action: Any, timeout: float = TIMEOUT_MS) -> None:
    """Do `action()` and wait for the rerun it triggers to finish.

    Streamlit flips data-test-script-state to "running" and back; a fast rerun can finish between two
    looks, so a MutationObserver on the app element counts every flip to "running" after the action.
    A rerun whose "running" never reaches the DOM is not seen: then this returns after RERUN_START_MS,
    and the caller waits for what it asserts (wait_until) rather than trusting the page right away.
    """
    page.evaluate("() => { window.__unrolledRuns = 0; const app = document.querySelector(\"[data-testid='stApp']\");"
                  " if (!app || window.__unrolledObs) return;"
                  " window.__unrolledObs = new MutationObserver(() => {"
                  "   if (app.getAttribute('data-test-script-state') === 'running') window.__unrolledRuns++; });"
                  " window.__unrolledObs.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']}); }")
    action()
    try:
        page.wait_for_function("() => window.__unrolledRuns > 0", timeout=RERUN_START_MS)
    except Exception:  # noqa: BLE001 - a rerun that never starts is checked by the caller's assertions
        pass
    wait_idle(page, timeout)


def wait_charts(page: Any, min_charts: int = 1, timeout: float = TIMEOUT_MS) -> int:
    """Wait until at least `min_charts` plotly charts are drawn (an SVG and a laid-out figure);
    returns the count. Whether they hold data is for the caller to assert, so an empty chart gives
    a clear failure rather than a timeout."""
    page.wait_for_function(
        """(n) => {
            const plots = [...document.querySelectorAll('.js-plotly-plot')];
            if (plots.length < n) return false;
            return plots.every(p => p._fullLayout && Array.isArray(p.data) && p.querySelector('svg.main-svg'));
        }""", arg=min_charts, timeout=timeout)
    return page.locator(PLOT).count()


def wait_ready(page: Any, min_charts: int = 0, timeout: float = 180_000, quiet_ms: float = 300) -> int:
    """Idle script, kept idle for `quiet_ms` in a row, and charts rendered.

    A rerun can start right after the first idle (query-param sync), so the script state is polled until it
    has stayed idle for quiet_ms. That is a heuristic, not a proof that nothing else will run: a test that
    asserts on something a rerun writes (the address, a number on the page) waits for it with wait_until.
    """
    deadline = time.monotonic() + timeout / 1000
    n = 0
    while True:
        left = max(1_000.0, (deadline - time.monotonic()) * 1000)
        wait_idle(page, left)
        if min_charts:
            n = wait_charts(page, min_charts, left)
        quiet_until = time.monotonic() + quiet_ms / 1000
        while time.monotonic() < quiet_until and page.locator(IDLE).count():
            page.wait_for_timeout(50)
        if page.locator(IDLE).count():
            return n
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app did not stay idle for {quiet_ms:.0f} ms within {timeout / 1000:.0f} s")


def wait_until(page: Any, probe: Any, what: str = "", timeout: float = TIMEOUT_MS, pause_ms: float = 200) -> Any:
    """Call `probe()` until it returns something truthy and return that; the page's events are processed
    between two calls. After `timeout` ms this fails with the last value, so a test can wait for exactly
    what it then asserts (the rendered text, the address) without sleeping a fixed time."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            last = probe()
        except Exception as exc:  # noqa: BLE001 - e.g. an element replaced by a rerun while it was read
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout / 1000:.0f} s waiting for {what or probe}: last {last!r}")
        page.wait_for_timeout(pause_ms)


def wait_quiet(page: Any, count: Any, quiet_ms: float = 1_000, timeout: float = TIMEOUT_MS) -> int:
    """Poll `count()` until it has not changed for quiet_ms (e.g. the websocket messages a rerun sends,
    some of which can arrive after the app says idle); returns the final count."""
    deadline = time.monotonic() + timeout / 1000
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet_ms / 1000:
        if time.monotonic() > deadline:
            raise AssertionError(f"the count kept changing for {timeout / 1000:.0f} s (now {last})")
        page.wait_for_timeout(100)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


def goto_ready(page: Any, url: str, min_charts: int = 0, timeout: float = 180_000) -> int:
    page.goto(url, wait_until="domcontentloaded", timeout=timeout)
    page.wait_for_selector("[data-testid='stApp']", state="attached", timeout=timeout)
    return wait_ready(page, min_charts, timeout)


# Data of every plotly chart on the page, in document order: per trace, its type, name, number of
# values and two rounded checksums of its numeric arrays (x, y, z, ...), enough to tell two renders
# apart. `_fullData` holds the decoded arrays (`data` may still hold base64 "bdata" blobs).
_PLOT_SIGNATURE_JS = """
() => {
  const num = (v) => (typeof v === 'number' && isFinite(v)) ? v : (typeof v === 'string' ? v.length : 0);
  const flat = (a, out) => { if (a == null) return out;
      if (Array.isArray(a) || ArrayBuffer.isView(a)) { for (const v of a) flat(v, out); }
      else if (typeof a === 'object' && a.bdata !== undefined) { out.push(a.bdata.length); }
      else out.push(a); return out; };
  return [...document.querySelectorAll('.js-plotly-plot')].map(p => {
    const data = (p._fullData && p._fullData.length) ? p._fullData : (p.data || []);
    const traces = data.map(t => {
      let n = 0, s = 0, s2 = 0;
      for (const v of [t.x, t.y, t.z, t.r, t.theta, t.text, (t.marker || {}).color, (t.line || {}).width]) {
        const f = flat(v, []);
        for (let i = 0; i < f.length; i++) { const x = num(f[i]); n++; s += x; s2 += x * (1 + (i % 7)); }
      }
      const r = (x) => Number(x.toPrecision(10));
      return [t.type || 'scatter', String(t.name || ''), n, r(s), r(s2)];
    });
    const frames = (p._transitionData && p._transitionData._frames) ? p._transitionData._frames.length : 0;
    const title = ((p.layout || {}).title || {}).text || '';
    return {title: String(title), traces: traces, frames: frames};
  });
}
"""


def plot_signatures(page: Any) -> list[dict]:
    return page.evaluate(_PLOT_SIGNATURE_JS)


def chart_summary(page: Any) -> list[dict]:
    """Per plotly chart: title, traces, values held, drawn trace groups, annotations, size."""
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(p => {
        const r = p.getBoundingClientRect();
        const data = (p._fullData && p._fullData.length) ? p._fullData : (p.data || []);
        const len = (v) => (v && (Array.isArray(v) || ArrayBuffer.isView(v))) ? v.length : 0;
        const values = data.reduce((n, t) => n + Math.max(len(t.x), len(t.y), len(t.z), len(t.r)), 0);
        return {title: String(((p.layout || {}).title || {}).text || '').replace(/<[^>]+>/g, ''),
                traces: data.length, values: values,
                drawn: p.querySelectorAll('svg g.trace, svg .heatmaplayer image, svg .imagelayer image').length,
                annotations: [...p.querySelectorAll('.annotation-text')].map(a => a.textContent),
                width: r.width, height: r.height, right: r.right};
    })""")


# Text inside every chart (title, axis titles, tick labels, legend, colour bar) whose box sticks out
# of the chart's own box: Plotly clips those at the SVG edge, so they are cut off on screen.
_CLIPPED_TEXT_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(p => {
  const box = p.getBoundingClientRect(); const out = [];
  for (const el of p.querySelectorAll('.gtitle, .xtitle, .ytitle, .legendtext, .xtick text, .ytick text,'
                                      + ' .cbaxis text, .cbtitle text, .annotation-text')) {
    const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) continue;
    const over = Math.max(box.left - r.left, r.right - box.right, box.top - r.top, r.bottom - box.bottom);
    if (over > 2) out.push({cls: el.getAttribute('class') || el.parentNode.getAttribute('class'),
                            text: (el.textContent || '').slice(0, 60), overflow_px: Math.round(over)});
  }
  return out;
})"""


def clipped_chart_text(page: Any) -> list[list[dict]]:
    return page.evaluate(_CLIPPED_TEXT_JS)


# Colours the reader actually sees: the app background and the fill of each chart's title and
# tick labels (to check contrast in light and dark themes).
_COLOURS_JS = """() => {
  const css = (e, prop) => e ? getComputedStyle(e)[prop] : null;
  const opaque = (c) => { if (!c) return false; const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return false;
      const v = m[1].split(',').map(Number); return v.length < 4 || v[3] > 0.5; };
  const bg = css(document.querySelector("[data-testid='stApp']"), 'backgroundColor');
  const charts = [...document.querySelectorAll('.js-plotly-plot')].map(p => {
    const paper = css(p.querySelector('.main-svg'), 'backgroundColor');
    const behind = opaque(paper) ? paper : bg;
    const legendBg = css(p.querySelector('.legend rect.bg'), 'fill');
    const legendOpacity = Number(css(p.querySelector('.legend rect.bg'), 'fillOpacity') || 1);
    const pick = (sel) => css(p.querySelector(sel), 'fill');
    return {title: pick('.gtitle'), tick: pick('.xtick text') || pick('.ytick text'), legend: pick('.legendtext'),
            behind: behind, legend_behind: (opaque(legendBg) && legendOpacity > 0.5) ? legendBg : behind};
  });
  const text = css(document.querySelector("[data-testid='stMarkdownContainer'] p") || document.body, 'color');
  return {background: bg, text: text, charts: charts};
}"""


def page_colours(page: Any) -> dict:
    return page.evaluate(_COLOURS_JS)


def _rgb(css: str) -> tuple[float, float, float] | None:
    m = re.match(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)", css or "")
    return tuple(float(v) / 255 for v in m.groups()) if m else None  # type: ignore[return-value]


def luminance(css: str) -> float:
    """WCAG relative luminance of a CSS rgb() colour (0 black … 1 white)."""
    rgb = _rgb(css)
    if rgb is None:
        return float("nan")
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def exceptions_text(page: Any) -> list[str]:
    return [t.strip()[:500] for t in page.locator(EXCEPTION).all_inner_texts()]


def error_text(page: Any) -> list[str]:
    """Tracebacks or exception names visible in the main area or sidebar."""
    body = page.locator("[data-testid='stApp']").inner_text()
    return [m.group(0) for m in ERROR_TEXT.finditer(body)]


def query_params(page: Any) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit
    return dict(parse_qsl(urlsplit(page.url).query, keep_blank_values=True))


SLIDER_THUMB = "input[type='range'], [role='slider']"
SIDEBAR = "[data-testid='stSidebar']"


def slider_values(page: Any, within: str = SIDEBAR) -> dict[str, str]:
    """Widget label → shown value of every slider thumb inside `within` (the sidebar by default;
    "body" for the whole page). A select_slider shows its option text."""
    return page.evaluate("""([root, sel]) => { const r = document.querySelector(root) || document.body;
        return Object.fromEntries([...r.querySelectorAll(sel)].map(s =>
            [s.getAttribute('aria-label') || '?',
             s.getAttribute('aria-valuetext') || s.getAttribute('aria-valuenow') || s.value])); }""",
                         [within, SLIDER_THUMB])


def slider(page: Any, label: str, within: str = SIDEBAR) -> Any:
    """The slider thumb (an <input type=range> or a [role=slider]) labelled `label`, looked up inside
    `within` (the sidebar by default: pages may have their own sliders with the same label)."""
    q = label.replace("\\", "\\\\").replace('"', '\\"')
    css = f'input[type="range"][aria-label="{q}"], [role="slider"][aria-label="{q}"]'
    for root in (page.locator(within), page.locator("body")):
        by_label = root.locator(css)
        if by_label.count():
            return by_label.first
    return page.get_by_role("slider", name=label).first


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save artifacts/screenshots/<name>.png.

    Streamlit scrolls inside its main container, not the document, so Playwright's full_page mode
    sees only the viewport; for a full page we grow the viewport to the content height (same width,
    so the layout does not change), shoot, and restore it.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    size = page.viewport_size or VIEWPORT
    if not full_page:
        page.screenshot(path=str(path), animations="disabled")
        return path
    height = page.evaluate("""() => Math.max(...[document.querySelector("[data-testid='stMain']"),
        document.querySelector("[data-testid='stSidebarContent']"), document.documentElement]
        .filter(Boolean).map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, size["height"]), 16_000))})
    try:
        page.wait_for_timeout(300)
        page.screenshot(path=str(path), full_page=True, animations="disabled")
    finally:
        page.set_viewport_size(size)
    return path


def selectbox(page: Any, label: str, within: str = SIDEBAR) -> Any:
    """The st.selectbox widget whose label is `label` (inside `within`, else anywhere)."""
    for root in (page.locator(within), page.locator("body")):
        box = root.locator("[data-testid='stSelectbox']").filter(
            has=page.locator("[data-testid='stWidgetLabel']").get_by_text(label, exact=True))
        if box.count():
            return box.first
    return box.first


def selectbox_value(page: Any, label: str, within: str = SIDEBAR) -> str:
    """The option shown in a selectbox (the combobox input's value)."""
    box = selectbox(page, label, within)
    combo = box.locator("input[role='combobox'], input").first
    return combo.input_value().strip()


def choose(page: Any, label: str, option: str, within: str = SIDEBAR) -> None:
    """Open the selectbox `label` and click `option` (rerun not awaited)."""
    box = selectbox(page, label, within)
    box.scroll_into_view_if_needed()
    box.locator("[role='combobox'], [data-baseweb='select']").first.click()
    page.get_by_role("option", name=option, exact=True).first.click()


def press(page: Any, thumb: Any, key: str, times: int = 1, timeout: float = TIMEOUT_MS) -> None:
    """Focus a slider thumb and press `key` `times` times, each press awaited as one rerun."""
    for _ in range(times):
        thumb.focus()
        wait_rerun(page, lambda: thumb.press(key), timeout)
