"""The app as a user feels it, in real headless Chromium (Playwright, Debian's /usr/bin/chromium).

Measures, and prints as a table against the targets of the speed issue:
  * per page: sidebar slider release (keyboard, T += 1 each move, so every move is a new config and
    nothing is served from the run cache) → the script run has finished and the Plotly charts hold
    the new data; p50 / p95 / max over the moves; and the bytes the page's first load received
    over the websocket (the figure payload);
  * cold start: `streamlit run` with an empty numba cache (NUMBA_CACHE_DIR = a fresh directory) to
    the first full render of the home page (charts drawn); warm start: the same with that cache
    now filled;
  * server memory (RSS of the server and its children) after 5 concurrent browser sessions have
    visited every page, and the peak seen while they did.

Run by hand (not a test):  .venv/bin/python bench/bench_app.py [--moves 24] [--sessions 5]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import browser_support as bs  # noqa: E402
from _common import machine, pct  # noqa: E402

TARGETS = {"p50": 150.0, "p95": 300.0, "cold": 20.0, "warm": 5.0, "rss": 400.0}

# The clock is the page's own (performance.now()), so Playwright's round trips do not count:
#   t0    the keydown on the slider (event.timeStamp),
#   idle  the script state going back to notRunning after it was running,
#   plot  the last DOM change inside any Plotly chart (a MutationObserver on every chart).
# A move is done once the script is idle and the charts' data differ from before (a run so fast that
# the "running" state never reaches the DOM still counts: changed data means it happened); the
# latency is then max(idle, plot) - t0, read after the charts have been quiet for QUIET_MS.
QUIET_MS = 150

_REDRAWN_JS = """(prev) => {
  const app = document.querySelector("[data-testid='stApp']");
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  return JSON.stringify(window.__benchSig()) !== prev;
}"""

# A move that changes only the layout (the Train page's budget slider sets the x range and the title)
# is a redraw too: the signature is the charts' data plus each chart's title and x-axis range.
_LAYOUT_SIGNATURE_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(p => {
  const l = p._fullLayout || p.layout || {};
  return [String((l.title || {}).text || ''), JSON.stringify((l.xaxis || {}).range || null)]; })"""

_QUIET_JS = """(quiet) => performance.now() - Math.max(window.__benchPlot || 0, window.__benchIdle || 0) > quiet"""

_ARM_JS = """() => {
  window.__benchRan = false; window.__benchT0 = null; window.__benchIdle = 0; window.__benchPlot = 0;
  window.__benchSent = null;
  const app = document.querySelector("[data-testid='stApp']");
  if (window.__benchObs) window.__benchObs.disconnect();
  window.__benchObs = new MutationObserver(() => {
    const state = app.getAttribute('data-test-script-state');
    if (state === 'running') window.__benchRan = true;
    else if (state === 'notRunning') window.__benchIdle = performance.now(); });
  window.__benchObs.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  if (window.__benchPlotObs) window.__benchPlotObs.disconnect();
  window.__benchPlotObs = new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentNode;
      if (el && el.closest && el.closest("[data-testid='stPlotlyChart']")) { window.__benchPlot = performance.now(); return; }
    } });
  window.__benchPlotObs.observe(document.querySelector("[data-testid='stMain']") || document.body,
                                {subtree: true, childList: true, attributes: true, characterData: true});
  if (!window.__benchKey) {
    window.__benchKey = true;
    document.addEventListener('keydown', (e) => { if (window.__benchT0 === null) window.__benchT0 = e.timeStamp; }, true);
  }
}"""

_LATENCY_JS = """() => [Math.max(window.__benchIdle, window.__benchPlot) - window.__benchT0,
                         (window.__benchWs || window.__benchT0) - window.__benchT0,
                         (window.__benchSent || window.__benchT0) - window.__benchT0]"""

# Installed before the page's own scripts: the time (page clock) of the last websocket message received,
# and of the first one sent after the keydown (the widget's new value: keydown → sent is the frontend's
# own delay before it tells the server, e.g. a debounce).
# The server's part of a move is keydown → the last message of the rerun (the browser sends the widget
# value, the server reruns the script and streams the deltas; the network is local); the browser's part
# is the rest, up to the last chart redrawn.
_WS_CLOCK_JS = """() => {
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', () => { window.__benchWs = performance.now(); });
    const send = ws.send.bind(ws);
    ws.send = (d) => { if (window.__benchT0 !== null && window.__benchT0 !== undefined && !window.__benchSent)
                         window.__benchSent = performance.now();
                       return send(d); };
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
}"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def wait_server_idle(pid: int, window: float = 1.0, below: float = 0.05, limit: float = 300.0) -> float:
    """Seconds until process `pid` used less than `below` of one core over `window` seconds (the
    first visit starts compiling the kernels the page did not need in a background thread; the slider
    moves are timed after it, as a user who comes back to the page would see them)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - c0 < below * window:
            break
    return time.monotonic() - t0


def verdict(value: float, target: float) -> str:
    return "pass" if value <= target else "MISS"


def chromium_version() -> str:
    try:
        out = subprocess.run([bs.CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout
        return out.strip().split(" built")[0] or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def streamlit_version() -> str:
    try:
        from importlib.metadata import version
        return version("streamlit")
    except Exception:  # noqa: BLE001
        return "?"


# --------------------------------------------------------------------------- measurements

def time_start(browser, numba_dir: str, root: Path = ROOT) -> tuple[float, float]:
    """(seconds to healthy, seconds to the home page fully drawn), from the process start."""
    server = bs.AppServer(root=root, env={"NUMBA_CACHE_DIR": numba_dir})
    try:
        healthy = server.start(timeout=180).wait_healthy(5)
        ctx = bs.new_context(browser)
        page = ctx.new_page()
        bs.goto_ready(page, server.page_url(""), 1, timeout=180_000)
        rendered = time.perf_counter() - server.started_at
        ctx.close()
        return healthy, rendered
    finally:
        server.stop()


def slider_latency(browser, server: bs.AppServer, p: bs.PageInfo, moves: int):
    """Milliseconds from keydown to the last chart redrawn, for `moves` presses of ArrowRight on T;
    the server's part of each (keydown → last websocket message); the websocket bytes received while
    the page first loaded; the server's CPU milliseconds per move (all its threads)."""
    ctx = bs.new_context(browser)
    ctx.add_init_script(f"({_WS_CLOCK_JS})()")
    page = ctx.new_page()
    received = [0]
    loading = [True]

    def on_ws(ws):
        def count(payload):
            if loading[0]:
                received[0] += len(payload)
        ws.on("framereceived", count)

    page.on("websocket", on_ws)
    try:
        bs.goto_ready(page, server.page_url(p), 1, timeout=180_000)
        page.wait_for_timeout(300)
        loading[0] = False
        label, within = control(p)
        thumb = bs.slider(page, label, within)
        page.evaluate(f"() => {{ const data = {bs._PLOT_SIGNATURE_JS.strip()}; "
                      f"window.__benchSig = () => [data(), ({_LAYOUT_SIGNATURE_JS})()]; }}")
        # two unrecorded moves: the first rerun after load also warms the page's own caches
        times: list[float] = []
        server_times: list[float] = []
        input_times: list[float] = []
        cpu0 = 0.0
        for i in range(moves + 2):
            if i == 2:
                cpu0 = cpu_seconds(server.proc.pid)
            prev = page.evaluate("() => JSON.stringify(window.__benchSig())")
            page.evaluate(_ARM_JS)
            thumb.focus()
            thumb.press(_direction(thumb) if label != TRAIN_CONTROL else ("ArrowRight", "ArrowLeft")[i % 2])
            page.wait_for_function(_REDRAWN_JS, arg=prev, polling="raf", timeout=60_000)
            page.wait_for_function(_QUIET_JS, arg=QUIET_MS, polling="raf", timeout=10_000)
            dt, ds, di = (float(v) for v in page.evaluate(_LATENCY_JS))
            if i >= 2:
                times.append(dt)
                server_times.append(ds)
                input_times.append(di)
        cpu_ms = (cpu_seconds(server.proc.pid) - cpu0) * 1000.0 / max(moves, 1)
        if bs.exceptions_text(page):
            print(f"  ! {p.label}: exception after the moves: {bs.exceptions_text(page)}", file=sys.stderr)
        return times, server_times, input_times, received[0], cpu_ms
    finally:
        ctx.close()


def _t_label() -> str:
    from ui.config import FIELDS
    return FIELDS["T"].label


# The Train page's charts do not depend on T before a run (the sidebar has no T there, and its own T
# slider changes the data of the next run only): its move is the "Updates (budget)" slider in the main
# area, which every chart of the run panel draws as its x range. It alternates right and left: larger
# budgets are capped by the per-run work limit, so a run of right presses would stop changing anything
# (the run panel caches no figure, so a value seen two moves ago is drawn again from scratch).
TRAIN_CONTROL = "Updates (budget)"


def control(p: bs.PageInfo) -> tuple[str, str]:
    """The slider a move presses on page `p`, and where it is looked up."""
    if p.script.endswith("_Train.py"):
        return TRAIN_CONTROL, "body"
    return _t_label(), bs.SIDEBAR


def _direction(thumb) -> str:
    """ArrowRight, or ArrowLeft once the thumb is at its maximum (a short list of options bounces)."""
    now, top = (thumb.get_attribute(a) for a in ("aria-valuenow", "aria-valuemax"))
    try:
        return "ArrowLeft" if float(now) >= float(top) else "ArrowRight"
    except (TypeError, ValueError):
        return "ArrowRight"


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, bs.process_tree_rss(self.pid))
            time.sleep(self.every)

    def stop(self) -> int:
        self._halt.set()
        self.join(2)
        return self.peak


def rss_after_sessions(browser, server: bs.AppServer, sessions: int) -> tuple[float, float, float]:
    """(MB before, MB after `sessions` concurrent sessions visited every page, peak MB)."""
    before = server.rss_bytes()
    sampler = RssSampler(server.proc.pid)
    sampler.start()
    contexts = [bs.new_context(browser) for _ in range(sessions)]
    pages = [c.new_page() for c in contexts]
    try:
        for p in bs.discover_pages():
            for tab in pages:  # all sessions ask at once, then we wait for each
                tab.goto(server.page_url(p), wait_until="commit", timeout=180_000)
            for tab in pages:
                bs.wait_ready(tab, 1, timeout=180_000)
        time.sleep(1.0)
        after = server.rss_bytes()
    finally:
        peak = sampler.stop()
        for c in contexts:
            c.close()
    mb = 1024 * 1024
    return before / mb, after / mb, max(peak, after) / mb


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=24, help="slider moves per page (≥ 20)")
    ap.add_argument("--sessions", type=int, default=5, help="concurrent sessions for the RSS figure")
    ap.add_argument("--pages", default="", help="comma-separated page labels (default: all)")
    ap.add_argument("--skip-start", action="store_true", help="skip the cold and warm start timings")
    ap.add_argument("--skip-rss", action="store_true", help="skip the memory measurement")
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--numba-cache", default="",
                    help="NUMBA_CACHE_DIR for the slider and memory runs (default: the one the cold start "
                         "filled); a kept directory spares a compile on a busy machine")
    ap.add_argument("--root", default=str(ROOT),
                    help="checkout whose app is served (default: this one); e.g. an older commit exported "
                         "with `git archive`, to compare two versions under the same machine load")
    args = ap.parse_args(argv)
    if not bs.chromium_available():
        print(f"no Chromium at {bs.CHROMIUM}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    root = Path(args.root).resolve()
    pages = bs.discover_pages(root)
    if args.pages:
        wanted = {w.strip().lower() for w in args.pages.split(",")}
        pages = [p for p in pages if p.label.lower() in wanted or p.slug.lower() in wanted]

    print("Unrolled app benchmark,", _dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    print("machine :", machine())
    print("load    :", " ".join(f"{x:.2f}" for x in os.getloadavg()), "(1/5/15 min load average at start)")
    print("software:", f"streamlit {streamlit_version()}, {chromium_version()}, headless, "
          f"viewport {bs.VIEWPORT['width']}x{bs.VIEWPORT['height']}")
    if root != ROOT:
        print("app     :", root)
    print("command :", shlex.join([os.path.relpath(sys.executable, ROOT), "bench/bench_app.py", *(argv or sys.argv[1:])]))
    print(flush=True)

    rows = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="numba-bench-") as numba_dir:
        browser = bs.launch_browser(pw)
        if not args.skip_start:
            cold_h, cold = time_start(browser, numba_dir, root)      # empty cache: compiles and writes it
            warm_h, warm = time_start(browser, numba_dir, root)      # same directory, now filled
        numba_dir = args.numba_cache or numba_dir
        with bs.running_app(timeout=180, root=root, port=args.port,
                            env={"NUMBA_CACHE_DIR": numba_dir}) as server:
            bs.goto_ready(browser.new_page(viewport=bs.VIEWPORT), server.page_url(""), 1, timeout=180_000)
            settled = wait_server_idle(server.proc.pid)
            print(f"  server idle after the first visit ({settled:.1f} s: the background warm-up of the "
                  "other kernels)", file=sys.stderr, flush=True)
            for p in pages:
                times, server_times, input_times, payload, cpu_ms = slider_latency(browser, server, p,
                                                                                   args.moves)
                browser_times = [t - s for t, s in zip(times, server_times)]
                rows.append((p.label, len(times), pct(times, 50), pct(times, 95), max(times), payload,
                             pct(server_times, 50), pct(browser_times, 50), cpu_ms, pct(input_times, 50)))
                print(f"  measured {p.label}: p50 {pct(times, 50):.0f} ms", file=sys.stderr, flush=True)
        # memory on a fresh server, so the figure is what 5 users cost, not what the moves cached
        if not args.skip_rss:
            with bs.running_app(timeout=180, root=root, port=args.port,
                                env={"NUMBA_CACHE_DIR": numba_dir}) as server:
                rss_before, rss_after, rss_peak = rss_after_sessions(browser, server, args.sessions)
        browser.close()

    print(f"{'page':<16}{'moves':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'input':>7}{'server':>8}{'browser':>9}"
          f"{'CPU ms':>8}{'payload KB':>12}   p50 ≤ {TARGETS['p50']:.0f}  p95 ≤ {TARGETS['p95']:.0f}")
    for label, n, p50, p95, mx, payload, srv, brw, cpu, inp in rows:
        print(f"{label:<16}{n:>6}{p50:>9.0f}{p95:>9.0f}{mx:>9.0f}{inp:>7.0f}{srv:>8.0f}{brw:>9.0f}{cpu:>8.0f}"
              f"{payload / 1024:>12.0f}   {verdict(p50, TARGETS['p50']):<10}{verdict(p95, TARGETS['p95'])}")
    print()
    if not (args.skip_start and args.skip_rss):
        print(f"{'measure':<52}{'value':>10}   target      result")
    if not args.skip_start:
        print(f"{'cold start, empty numba cache → home drawn':<52}{cold:>9.1f}s   ≤ {TARGETS['cold']:.0f} s      "
              f"{verdict(cold, TARGETS['cold'])}   (healthy after {cold_h:.1f} s)")
        print(f"{'warm start, numba cache filled → home drawn':<52}{warm:>9.1f}s   ≤ {TARGETS['warm']:.0f} s       "
              f"{verdict(warm, TARGETS['warm'])}   (healthy after {warm_h:.1f} s)")
    if not args.skip_rss:
        print(f"{f'server RSS after {args.sessions} sessions × {len(bs.discover_pages())} pages':<52}"
              f"{rss_after:>8.0f}MB   ≤ {TARGETS['rss']:.0f} MB    {verdict(rss_after, TARGETS['rss'])}   "
              f"(idle {rss_before:.0f} MB, peak {rss_peak:.0f} MB)")
    print()
    print("slider move: keyboard ArrowRight on the sidebar's T slider (T = 100 → 100+moves+2, a new config each "
          f"time; on the Train page its own \"{TRAIN_CONTROL}\" slider, back and forth, whose value every chart "
          "of the run panel draws), timed in the page from the keydown to the later of script state running → notRunning and the "
          f"last DOM change in any Plotly chart (read once the charts changed data and were quiet for {QUIET_MS} ms); "
          "the first 2 moves are not counted. input: p50 of keydown → the first websocket message the page sends (the frontend's own delay before the server hears of the move; part of server). server: p50 of keydown → last websocket message of the rerun; "
          "browser: p50 of the rest (decoding, Plotly drawing); CPU ms: the server process's CPU time per move "
          "(all threads, /proc; far less sensitive to the machine's load than the clock). payload: websocket bytes received by the page's first load. "
          "RSS: server process and children (psutil, else /proc VmRSS).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
