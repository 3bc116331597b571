"""A light session's rerun latency while heavy sessions compute, on one server.

One `streamlit run app.py` process; every session speaks Streamlit's websocket protocol as a browser
tab does (the clients of bench/load.py), so the sessions share the server's caches, its GIL, its numba
threads and the admission limit (ui/admission.py), and nothing else. The light session opens the
Unroll page and moves the sidebar's T slider by one (a new config every move, nothing cached) with a
short pause between moves; its time per move is rerun_script sent → script_finished received. It is
measured idle first, then beside 1, 2 and 3 heavy sessions. Each heavy session opens, again and again,
the Gradients page at T = 1000, H = 256 with a new seed every time (a full BPTT plus the step-Jacobian
products and SVDs, nothing served from a cache), alternating with the Phase diagram at the largest map
the per-request limit allows (H = 64, 128 values of ρ, 16 seeds, T = 520).

Run by hand (not a test):  .venv/bin/python bench/bench_heavy.py [--moves 12] [--heavy 0,1,2,3]
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import load  # noqa: E402
from _common import machine, pct  # noqa: E402

HEAVY_GRADIENTS = {"T": "1000", "H": "256"}
HEAVY_PHASE = {"ph_follow": "false", "ph_H": "64", "ph_res": "128", "ph_seeds": "16", "ph_T": "520"}
TARGET = 2.0           # a light session's p50 beside three heavy ones, as a multiple of its idle p50
PAUSE_S = 0.3          # between two moves of the light session
TIMEOUT_S = 300.0


class Heavy:
    """One heavy session: opens heavy views, a new seed each, until told to stop."""

    seeds = itertools.count(1000)

    def __init__(self, port: int):
        self.port, self.runs, self.errors, self.halt = port, 0, 0, asyncio.Event()
        self.problems: list[str] = []

    async def run(self) -> None:
        while not self.halt.is_set():
            page, query = (("Gradients", HEAVY_GRADIENTS) if self.runs % 2 == 0 else
                           ("Phase_diagram", HEAVY_PHASE))
            c = load.Client("127.0.0.1", self.port, page, urlencode({**query, "seed": str(next(self.seeds))}),
                            timeout=TIMEOUT_S)
            try:
                await c.open()
            except Exception as exc:  # noqa: BLE001 - counted and reported, the load goes on
                self.errors += 1
                self.problems.append(f"{page}: {type(exc).__name__}: {exc}")
            finally:
                await c.close()
            self.runs += 1


async def light_moves(port: int, n: int) -> list[float]:
    """Seconds per move of T (+1 each) on the Unroll page, after one unrecorded move."""
    c = load.Client("127.0.0.1", port, "Unroll", timeout=TIMEOUT_S)
    try:
        await c.open()
        w = c.widgets.get("T")
        if w is None:
            raise RuntimeError("the Unroll page has no slider with key T")
        T = int(float(w.default))
        times = []
        for i in range(n + 1):
            await asyncio.sleep(PAUSE_S)
            T += 1
            dt = await c.move("T", T)
            if i > 0:
                times.append(dt * 1000.0)
        return times
    finally:
        await c.close()


async def phase(port: int, pids: list[int], k: int, moves: int) -> dict:
    heavy = [Heavy(port) for _ in range(k)]
    tasks = [asyncio.create_task(h.run()) for h in heavy]
    if heavy:
        await asyncio.sleep(3.0)              # let them get going
    c0, w0 = load.cpu_seconds(pids), time.perf_counter()
    times = await light_moves(port, moves)
    cores = (load.cpu_seconds(pids) - c0) / (time.perf_counter() - w0)
    done = sum(h.runs for h in heavy)
    for h in heavy:
        h.halt.set()
    await asyncio.gather(*tasks)              # each stops after the view it is computing
    return dict(times=times, cores=cores, done=done, errors=sum(h.errors for h in heavy),
                problems=[p for h in heavy for p in h.problems])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=12)
    ap.add_argument("--heavy", default="0,1,2,3", help="numbers of heavy sessions to try")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from ui.admission import heavy_slots

    print("bench_heavy:", machine())
    print("load   :", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("limit  :", f"{heavy_slots()} heavy slot(s) (ui/admission.py)")
    port = args.port or load.free_port()
    with tempfile.TemporaryDirectory(prefix="bench-heavy-") as tmp:
        server = load.Server(port, Path(tmp) / "server.log")
        server.start()
        try:
            pids = load._tree(server.proc.pid)
            warm = load.Client("127.0.0.1", port, "", timeout=TIMEOUT_S)

            async def first() -> None:           # kernels compiled or loaded before timing
                try:
                    await warm.open()
                finally:
                    await warm.close()
                await light_moves(port, 2)
            asyncio.run(first())
            time.sleep(20.0)                     # the background warm-up of the other kernels
            print(f"\n{'heavy sessions':>14}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'× idle':>8}{'cores used':>12}"
                  f"{'heavy done':>12}{'errors':>8}  load", flush=True)
            idle = None
            worst = float("nan")
            for k in (int(v) for v in args.heavy.split(",")):
                r = asyncio.run(phase(port, pids, k, args.moves))
                p50 = pct(r["times"], 50)
                idle = p50 if k == 0 else idle
                ratio = p50 / idle if idle else float("nan")
                worst = ratio
                print(f"{k:>14}{p50:>9.0f}{pct(r['times'], 95):>9.0f}{max(r['times']):>9.0f}{ratio:>8.2f}"
                      f"{r['cores']:>12.2f}{r['done']:>12}{r['errors']:>8}  {os.getloadavg()[0]:.1f}", flush=True)
                for p in r["problems"][:3]:
                    print(f"{'':>14}error: {p}")
        finally:
            server.stop()
    print(f"\nlast row's p50 × idle ≤ {TARGET:.0f}: {'pass' if worst <= TARGET else 'MISS'}")
    print("light: ms per move of the sidebar's T on the Unroll page (+1, a new config each; rerun_script sent → "
          f"script_finished received over the websocket), {PAUSE_S} s apart; heavy: Gradients at T = 1000, "
          "H = 256 (new seed each) alternating with the largest phase map, each a fresh session's first run. "
          "cores used: the server's CPU seconds per wall second while the light session moved; heavy done: heavy "
          "page runs finished meanwhile.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
