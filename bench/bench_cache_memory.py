"""What distinct configs cost in server memory, and where it stops: every cache has a bound.

One process, Streamlit AppTest: the pages in --pages are shown for config after config, each with a
new seed (defaults otherwise, or --query), so nothing is served from a cache, and the process's RSS
is printed every --every configs. While the caches fill, RSS grows by about the size of one config's
entries; once the bounds are reached (64 runs, 24 figures per figure function, ...) it levels off,
and 1000 configs cost what the bounds hold.

Run by hand (not a test):  .venv/bin/python bench/bench_cache_memory.py [--configs 200] [--every 20]
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from _common import machine  # noqa: E402

PAGES = {"Unroll": "pages/1_Unroll.py", "Hidden state": "pages/2_Hidden_state.py",
         "Gradients": "pages/3_Gradients.py", "Spectrum": "pages/4_Spectrum.py"}


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", type=int, default=200)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--pages", default="Unroll,Hidden state,Gradients,Spectrum")
    ap.add_argument("--query", default="", help="extra URL settings, e.g. T=1000&H=256")
    args = ap.parse_args(argv)
    from streamlit.testing.v1 import AppTest

    pages = [PAGES[p.strip()] for p in args.pages.split(",")]
    extra = dict(kv.split("=", 1) for kv in args.query.split("&") if "=" in kv)
    print("bench_cache_memory:", machine())
    print("load   :", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("pages  :", ", ".join(pages), "| query:", args.query or "defaults", "| a new seed per config")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    base = rss_mb()
    print(f"\n{'configs':>8}{'RSS MB':>9}{'growth MB':>11}{'MB/config':>11}{'s':>7}")
    print(f"{0:>8}{base:>9.0f}{0:>11.0f}{'':>11}{0:>7.0f}", flush=True)
    t0 = time.perf_counter()
    prev, prev_n = base, 0
    for n in range(1, args.configs + 1):
        for page in pages:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
            for k, v in {**extra, "seed": str(n)}.items():
                at.query_params[k] = v
            at.run()
            at.switch_page(page).run()
            assert not at.exception, [e.value for e in at.exception]
        if n % args.every == 0:
            del at
            gc.collect()
            r = rss_mb()
            print(f"{n:>8}{r:>9.0f}{r - base:>11.0f}{(r - prev) / (n - prev_n):>11.2f}"
                  f"{time.perf_counter() - t0:>7.0f}", flush=True)
            prev, prev_n = r, n
    print("\nRSS: this process (/proc/self/status VmRSS) after gc; MB/config over the last interval.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
