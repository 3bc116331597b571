"""Shared timing helpers for the benchmarks: contenders alternate inside one process so that
machine noise hits all of them alike; we report medians."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


def alternate(contenders: dict, repeats: int, min_time: float = 0.0) -> dict:
    """Call every contender once per round, round after round; return {name: median seconds}."""
    times = {name: [] for name in contenders}
    for fn in contenders.values():  # warm-up round (JIT, caches, allocator)
        fn()
    start = time.perf_counter()
    r = 0
    while r < repeats or time.perf_counter() - start < min_time:
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        r += 1
    return {name: float(np.median(v)) for name, v in times.items()}


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (q in 0..100); nan for no values."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def uptime() -> str:
    """The machine's load as `uptime` prints it (printed beside a table: a busy machine skews medians)."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def print_total(t_start: float) -> None:
    """A long benchmark's last lines: the seconds since `t_start` (perf_counter) and the machine's load."""
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    print("uptime:", uptime())
