"""Shared timing helpers for the benchmarks: contenders alternate inside one process so that
machine noise hits all of them alike; we report medians."""
from __future__ import annotations

import os
import platform
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
