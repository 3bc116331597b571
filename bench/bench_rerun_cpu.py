"""Server CPU per rerun, page by page, without a browser: what one slider move costs the server.

Each page is opened with Streamlit's AppTest (the same script run a browser triggers, figures
marshalled into their protos), then the sidebar's T slider moves by one step per rerun (a new config
every time, as in bench_app.py) and the process's CPU time (time.process_time: all threads, user +
system) is read around each `at.run()`. CPU time barely depends on how loaded the machine is, unlike
the clock, so the numbers compare across runs on a shared machine. The wall time is printed beside it.

With --profile PAGE the moves on that page run under cProfile and the top functions (cumulative time)
are printed.

Run by hand (not a test):  .venv/bin/python bench/bench_rerun_cpu.py [--moves 12] [--profile Unroll]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import machine, pct  # noqa: E402

PAGES = {
    "Home": "app.py",
    "Lesson": "pages/0_Lesson.py",
    "Unroll": "pages/1_Unroll.py",
    "Hidden state": "pages/2_Hidden_state.py",
    "Gradients": "pages/3_Gradients.py",
    "Spectrum": "pages/4_Spectrum.py",
    "Phase diagram": "pages/5_Phase_diagram.py",
    "RNN vs LSTM vs GRU": "pages/6_RNN_vs_LSTM_vs_GRU.py",
    "Train": "pages/7_Train.py",
}
# the slider each page's moves change: the sidebar's T, or on Train its own T (the network it would train;
# no run is started, so this is the cost of the page's set-up view: the task's arrangement and empty charts)
SLIDER_KEY = {"pages/7_Train.py": "tr_T"}


def share_script_cache() -> None:
    """A server compiles each page script once (one ScriptCache in its Runtime); AppTest makes a new
    cache on every run, so every rerun would pay for compiling the page again (Streamlit's magic
    rewrites the AST first: 20-50 ms for the larger pages). One cache for the whole benchmark, as a
    server has, keeps that out of the figures."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = ScriptCache()
    for module in (app_test, local_script_runner):
        module.ScriptCache = lambda: shared


def open_page(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    if page != "app.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


_PROFILE: list[cProfile.Profile] = []   # the active profile, enabled inside the script thread


def _profile_script_thread() -> None:
    """The script runs in a thread of its own: profile it there, around the script's execution."""
    from streamlit.runtime.scriptrunner import exec_code, script_runner

    original = exec_code.exec_func_with_error_handling

    def profiled(func, ctx):
        if not _PROFILE:
            return original(func, ctx)
        _PROFILE[0].enable()
        try:
            return original(func, ctx)
        finally:
            _PROFILE[0].disable()

    script_runner.exec_func_with_error_handling = profiled


def moves(page: str, n: int, query: dict[str, str] | None = None, profile: cProfile.Profile | None = None):
    """(CPU ms per rerun, wall ms per rerun, spec bytes) for `n` moves of T (+1 each) on `page`."""
    at = open_page(page)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    key = SLIDER_KEY.get(page, "T")
    cpu, wall = [], []
    for i in range(n + 1):
        slider = at.slider(key=key)
        slider.set_value(int(slider.value) + 1)
        c0, w0 = time.process_time(), time.perf_counter()
        if profile is not None and i > 0:
            _PROFILE[:] = [profile]
        at.run()
        _PROFILE.clear()
        c1, w1 = time.process_time(), time.perf_counter()
        assert not at.exception, [e.value for e in at.exception]
        if i > 0:  # the first move also warms the page's own caches
            cpu.append((c1 - c0) * 1000)
            wall.append((w1 - w0) * 1000)
    spec = sum(len(c.proto.spec) for c in at.get("plotly_chart"))
    return cpu, wall, spec


def main(argv: list[str] | None = None) -> int:
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=12)
    ap.add_argument("--pages", default="", help="comma-separated labels (default: all)")
    ap.add_argument("--profile", default="", help="a page label to profile with cProfile")
    ap.add_argument("--root", default=str(ROOT), help="checkout whose app runs (e.g. an older commit "
                    "exported with `git archive`, to compare two versions on the same machine)")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime)")
    args = ap.parse_args(argv)
    ROOT = Path(args.root).resolve()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)

    print("bench_rerun_cpu:", machine())
    print("load   :", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    import plotly.io as pio
    try:
        import orjson  # noqa: F401
        have = "orjson installed"
    except ImportError:
        have = "no orjson"
    print("json   :", f"plotly engine {pio.json.config.default_engine!r}, {have}")
    print("app    :", ROOT)
    pages = PAGES
    if args.pages:
        wanted = {w.strip().lower() for w in args.pages.split(",")}
        pages = {k: v for k, v in PAGES.items() if k.lower() in wanted}
    if args.profile:
        pages = {k: v for k, v in PAGES.items() if k.lower() == args.profile.lower()}
    if args.profile:
        _profile_script_thread()
    share_script_cache()
    import numpy as np
    print("numpy  :", f"hugepage madvise {'on' if np._core.multiarray._get_madvise_hugepage() else 'off'} "
          f"(NUMPY_MADVISE_HUGEPAGE={os.environ.get('NUMPY_MADVISE_HUGEPAGE', 'unset')})")
    open_page("app.py")  # compile / load the kernels once before timing

    print(f"\n{'page':<20}{'moves':>6}{'CPU p50':>9}{'CPU p95':>9}{'wall p50':>10}{'spec KB':>9}")
    for label, page in pages.items():
        prof = cProfile.Profile() if args.profile else None
        cpu, wall, spec = moves(page, args.moves, profile=prof)
        print(f"{label:<20}{len(cpu):>6}{pct(cpu, 50):>9.0f}{pct(cpu, 95):>9.0f}{pct(wall, 50):>10.0f}"
              f"{spec / 1024:>9.0f}", flush=True)
        if prof is not None:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(args.sort).print_stats(args.top)
            print(out.getvalue())
    print("\nCPU: time.process_time() around at.run() after the sidebar's T (Train: its own T) moved by +1 (a new config each "
          "time; defaults otherwise), in ms; the first move of each page is not counted. spec: the bytes of "
          "the page's Plotly figure JSON.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
