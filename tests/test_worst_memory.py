"""The worst case of issue "one visitor cannot take the class down", on a real server: bench/bench_worst_memory.py
plays the hostile visitor (every page at its heaviest, eight Train links of 176 MB tasks, two tabs that Start
and Reset at the largest settings at once, float32, a race) and the server's resident memory must stay under
the 1.5 GB limit of deploy/k8s.yaml, with no error and the closed tab's run stopped within a second."""
from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import bench_module

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    return bench_module("bench_worst_memory")


@pytest.mark.slow
def test_one_visitor_cannot_take_a_server_over_its_memory_limit(tmp_path):
    bench = _bench()
    out = bench.run(tabs=2, hold=8.0, log=tmp_path / "server.log")
    phases = {k: round(v / 2**20) for k, v in out["phases"].items()}
    assert not out["errors"], out["errors"]
    assert set(phases) == {"pages", "links", "resets", "float32 + race", "close"}
    assert out["peak"] <= bench.LIMIT_BYTES, f"peak {out['peak'] / 2**20:.0f} MiB; by phase {phases}"
    assert out["stop_seconds"] is not None and out["stop_seconds"] <= 1.5, out["stop_seconds"]
