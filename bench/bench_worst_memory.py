"""The most memory one visitor can make one server hold, against the 1.5 GB limit of deploy/k8s.yaml.

Starts `streamlit run app.py` and plays a hostile visitor over Streamlit's own protocol (bench/load.py's
client: the server does exactly what it does for a browser tab), sampling the server's resident memory
every 50 ms:

1. pages:   every network page opened with each of the heaviest configurations (T = 1000, H = 256, every
            cell, exploding and saturated), so that every figure and run cache fills with its largest
            entries;
2. links:   /Train?tr_T=1000&tr_seed=N for N = 1..8 (each link builds a 176 MB task);
3. resets:  in each of --tabs tabs (default 2, the server's training slots), Start at the largest
            settings (LSTM, T = 1000, H = 256), wait, Reset, Start, Reset, Start: the tabs train at the
            same time;
4. float32: the same run in float32, and a Race at the largest settings;
5. close:   the tabs are closed; the time until the server's last worker has stopped (from its log).

Prints the peak after each phase and the overall peak against 1536 MiB, with the load average.

    .venv/bin/python bench/bench_worst_memory.py [--tabs 2] [--hold 20]
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib.util
import os
import re
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if "unrolled_bench_load" not in sys.modules:   # bench/ is not a package
    _spec = importlib.util.spec_from_file_location("unrolled_bench_load", HERE / "load.py")
    sys.modules["unrolled_bench_load"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["unrolled_bench_load"])
load = sys.modules["unrolled_bench_load"]
sys.path.insert(0, str(HERE))
from _common import machine  # noqa: E402

LIMIT_BYTES = 1536 * 2**20    # deploy/k8s.yaml: limits.memory
HEAVY = (
    "T=1000&H=256&act=linear&rho=3.00",
    "T=1000&H=256&cell=lstm",
    "T=1000&H=256&cell=gru&zb=6.00",
    "T=1000&H=256&cell=lstm&fb=5.00&seed=2",
    "T=1000&H=256&act=relu&init=identity&rho=1.00&signal=zeros",
)
PAGES = ("Unroll", "Hidden_state", "Gradients", "Spectrum", "RNN_vs_LSTM_vs_GRU")
LARGEST = "tr_task=adding&tr_cell=lstm&tr_T=1000&tr_H=256&tr_batch=256&tr_steps=10000"


class Sampler(threading.Thread):
    """The server's RSS every 50 ms; peak() since the last mark()."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.stop_flag = pid, threading.Event()
        self.all_peak = self.phase_peak = 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            rss = load.rss_bytes([self.pid])
            self.all_peak = max(self.all_peak, rss)
            self.phase_peak = max(self.phase_peak, rss)
            time.sleep(0.05)

    def mark(self) -> int:
        p, self.phase_peak = self.phase_peak, 0
        return p


async def _open(page: str, query: str, port: int) -> "load.Client":
    c = load.Client("127.0.0.1", port, page, query, timeout=300)
    await c.open()
    return c


async def _keep_refreshing(c, seconds: float) -> None:
    """What the open tab does while it trains: the live panel's reruns."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        if c.auto_rerun is None or not await c.refresh():
            await asyncio.sleep(0.25)
        else:
            await asyncio.sleep(c.auto_rerun[0])


async def visitor(port: int, tabs: int, hold: float, report) -> None:
    for query in HEAVY:                                   # 1. pages
        for page in PAGES:
            c = await _open(page, query, port)
            await c.close()
    report("pages")
    for seed in range(1, 9):                              # 2. links
        c = await _open("Train", f"tr_T=1000&tr_seed={seed}", port)
        await c.close()
    report("links")
    clients = [await _open("Train", LARGEST + f"&tr_seed={i}", port) for i in range(tabs)]   # 3. resets
    for round_ in range(3):
        for c in clients:
            await c.press("Start")
        await asyncio.gather(*(_keep_refreshing(c, 4.0 if round_ < 2 else hold) for c in clients))
        if round_ < 2:
            for c in clients:
                await c.press("Reset")
    report("resets")
    for c in clients:                                     # 4. float32, a race
        await c.close()
    c32 = await _open("Train", LARGEST + "&tr_dtype=float32", port)
    await c32.press("Start")
    await _keep_refreshing(c32, hold)
    await c32.press("Reset")
    await c32.press("Race")
    await _keep_refreshing(c32, hold)
    report("float32 + race")
    closed = time.time()
    await c32.close()                                      # 5. close
    report("close", closed)


def run(tabs: int = 2, hold: float = 20.0, log: Path | None = None) -> dict:
    """Play the visitor on a fresh server; returns {"phases": {name: peak bytes}, "peak": bytes,
    "idle": bytes, "stop_seconds": seconds from closing the last tab to its worker's end (None if the
    log did not say), "errors": [...]}."""
    log = log or ROOT / ".run" / "bench_worst_memory.log"
    os.environ["UNROLLED_TRAIN_TIMING"] = "1"     # the server logs each worker's end
    server = load.Server(load.free_port(), log)
    server.start()
    out: dict = {"phases": {}, "errors": []}
    try:
        out["idle"] = load.rss_bytes([server.proc.pid])
        sampler = Sampler(server.proc.pid)
        sampler.start()
        closed_at = {}

        def report(name, closed=None):
            out["phases"][name] = sampler.mark()
            if closed is not None:
                closed_at["t"] = closed
            print(f"  {name:<16} peak {out['phases'][name] / 2**20:7.0f} MiB", flush=True)
        try:
            # in a thread of its own: the caller's thread may already have an event loop (a test process)
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, visitor(server.port, tabs, hold, report)).result()
        except load.StudentError as exc:
            out["errors"].append(f"{exc.kind}: {exc.detail}")
        # the worker of the closed tab: its "train-end" line, stamped by the log's modification time
        deadline = time.time() + 30
        ends = 0
        while time.time() < deadline:
            text = log.read_text(errors="replace")
            if text.count("train-end") > ends and "t" in closed_at:
                ends = text.count("train-end")
                out["stop_seconds"] = log.stat().st_mtime - closed_at["t"]
            if "t" in closed_at and ends and time.time() - log.stat().st_mtime > 2:
                break
            time.sleep(0.1)
        out.setdefault("stop_seconds", None)
        sampler.stop_flag.set()
        sampler.join()
        out["peak"] = sampler.all_peak
        text = log.read_text(errors="replace")
        out["errors"] += re.findall(r"^(?:Traceback|MemoryError).*$", text, flags=re.M)
    finally:
        server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tabs", type=int, default=2, help="tabs training at once (default: 2 training slots)")
    ap.add_argument("--hold", type=float, default=20.0, help="seconds each last run trains before the next phase")
    a = ap.parse_args(argv)
    print(f"bench_worst_memory: {machine()} load {os.getloadavg()}")
    out = run(a.tabs, a.hold)
    print(f"idle {out['idle'] / 2**20:.0f} MiB; peak {out['peak'] / 2**20:.0f} MiB against the limit of "
          f"{LIMIT_BYTES / 2**20:.0f} MiB ({'within' if out['peak'] <= LIMIT_BYTES else 'OVER'}); closing the "
          f"last tab stopped its run in "
          f"{'?' if out['stop_seconds'] is None else format(out['stop_seconds'], '.1f')} s; errors: "
          f"{out['errors'] or 'none'}; load after {os.getloadavg()}")
    return 0 if out["peak"] <= LIMIT_BYTES and not out["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
