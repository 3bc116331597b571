"""A light session's rerun latency while heavy sessions compute, in one server process.

Every session is a Streamlit AppTest in a thread of this process, so they share the process's caches,
its GIL, its numba threads and the admission limit (ui/admission.py), as browser sessions of one
server do (the websocket and the browser are left out). The light session moves the sidebar's T
slider on the Unroll page (defaults otherwise, a new config every move) and its wall time per rerun
is recorded: idle first, then with 1, 2 and 3 heavy sessions running. Each heavy session loops over
the Gradients page at T = 1000, H = 256 with a new seed every rerun (a full BPTT plus the step-Jacobian
products and SVDs, nothing served from a cache), alternating with the Phase diagram at the largest map
the per-request limit allows (H = 64, 128 values of ρ, 16 seeds, T = 520).

Run by hand (not a test):  .venv/bin/python bench/bench_heavy.py [--moves 8] [--root DIR]
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import machine  # noqa: E402

HEAVY_GRADIENTS = {"T": "1000", "H": "256"}
HEAVY_PHASE = {"ph_follow": "false", "ph_H": "64", "ph_res": "128", "ph_seeds": "16", "ph_T": "520"}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def open_page(page: str, query: dict[str, str] | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page != "app.py":
        at.switch_page(page).run()
    return at


class Heavy(threading.Thread):
    """One heavy session: reruns heavy views until told to stop."""

    seeds = itertools.count(1000)

    def __init__(self, n: int):
        super().__init__(daemon=True)
        self.n, self.halt, self.runs, self.errors = n, threading.Event(), 0, 0

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                if self.runs % 2 == 0:
                    at = open_page("pages/3_Gradients.py", {**HEAVY_GRADIENTS, "seed": str(next(self.seeds))})
                else:
                    at = open_page("pages/5_Phase_diagram.py", {**HEAVY_PHASE, "seed": str(next(self.seeds))})
                self.errors += bool(at.exception)
            except Exception:  # noqa: BLE001 - counted, the load goes on
                self.errors += 1
            self.runs += 1


def light_moves(n: int) -> list[float]:
    at = open_page("pages/1_Unroll.py")
    times = []
    for i in range(n + 1):
        s = at.slider(key="T")
        s.set_value(int(s.value) + 1)
        t0 = time.perf_counter()
        at.run()
        if i > 0:
            times.append((time.perf_counter() - t0) * 1000)
    assert not at.exception, [e.value for e in at.exception]
    return times


def main(argv: list[str] | None = None) -> int:
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=8)
    ap.add_argument("--heavy", default="0,1,2,3", help="numbers of heavy sessions to try")
    ap.add_argument("--root", default=str(ROOT))
    args = ap.parse_args(argv)
    ROOT = Path(args.root).resolve()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)

    print("bench_heavy:", machine())
    print("load   :", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("app    :", ROOT)
    try:
        from ui.admission import heavy_slots
        print("limit  :", f"{heavy_slots()} heavy slot(s) (ui/admission.py)")
    except ImportError:
        print("limit  : none (no ui/admission.py)")
    open_page("app.py")                       # kernels compiled or loaded before timing
    light_moves(2)
    print(f"\n{'heavy sessions':>14}{'p50 ms':>9}{'p95 ms':>9}{'× idle':>8}{'cores used':>12}{'heavy done':>12}"
          f"{'errors':>8}  load",
          flush=True)
    idle = None
    for k in (int(v) for v in args.heavy.split(",")):
        heavy = [Heavy(i) for i in range(k)]
        for h in heavy:
            h.start()
        if heavy:
            time.sleep(3.0)                   # let them get going
        c0, w0 = time.process_time(), time.perf_counter()
        times = light_moves(args.moves)
        cores = (time.process_time() - c0) / (time.perf_counter() - w0)
        for h in heavy:
            h.halt.set()
        p50 = pct(times, 50)
        idle = p50 if k == 0 else idle
        ratio = p50 / idle if idle else float("nan")
        print(f"{k:>14}{p50:>9.0f}{pct(times, 95):>9.0f}{ratio:>8.2f}{cores:>12.2f}{sum(h.runs for h in heavy):>12}"
              f"{sum(h.errors for h in heavy):>8}  {os.getloadavg()[0]:.1f}", flush=True)
        for h in heavy:
            h.join(600)
    print("\ncores used: this process's CPU seconds per wall second while the light session moved (heavy work "
          "included); heavy done: heavy page runs finished meanwhile.")
    print("light: wall ms per rerun of the Unroll page after a +1 move of T (AppTest, same process); heavy: "
          "Gradients at T = 1000, H = 256 (new seed each run) alternating with the largest phase map.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
