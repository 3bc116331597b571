"""Server memory in the worst case: browser sessions filling the caches with heavy configurations.

Starts `streamlit run app.py`, then opens sessions in headless Chromium one after another; each visits
every network page with one heavy configuration (T = 1000, H = 256, each cell, exploding and saturated
regimes), so every cache fills with the largest entries the app makes. Prints the server's RSS (the
process and its children) when idle, after each session, and the peak sampled every 0.1 s, against
the target of 600 MB.

Run by hand (not a test):  .venv/bin/python bench/bench_memory.py [--sessions 6]
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import browser_support as bs  # noqa: E402
from _common import machine  # noqa: E402
from bench_app import RssSampler  # noqa: E402

TARGET_MB = 600.0
HEAVY = [
    "T=1000&H=256&act=linear&rho=3.00",
    "T=1000&H=256&cell=lstm",
    "T=1000&H=256&cell=gru&zb=6.00",
    "T=1000&H=256&amp=5.00&seed=1",
    "T=1000&H=256&cell=lstm&fb=5.00&seed=2",
    "T=1000&H=256&act=relu&init=identity&rho=1.00&signal=zeros",
]
PAGES = ("Unroll", "Hidden_state", "Gradients", "Spectrum", "RNN_vs_LSTM_vs_GRU")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=len(HEAVY))
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    print(f"bench_memory: {machine()}")
    with bs.running_app() as server, sync_playwright() as pw:
        browser = bs.launch_browser(pw)
        warm = bs.new_context(browser)
        bs.goto_ready(warm.new_page(), server.page_url(""), 1)  # compile the kernels before measuring
        warm.close()
        idle = server.rss_bytes() / 2**20
        sampler = RssSampler(server.proc.pid)
        sampler.start()
        print(f"idle after the first page: {idle:7.0f} MB")
        t0 = time.perf_counter()
        for s in range(args.sessions):
            query = HEAVY[s % len(HEAVY)]
            ctx = bs.new_context(browser)
            page = ctx.new_page()
            for name in PAGES:
                bs.goto_ready(page, server.page_url(name, query), 1, timeout=300_000)
            ctx.close()
            print(f"after session {s + 1} ({query}): {server.rss_bytes() / 2**20:7.0f} MB "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
        peak = sampler.stop() / 2**20
        final = server.rss_bytes() / 2**20
        caches = cache_bytes(server.url)
        browser.close()
    ok = "pass" if peak <= TARGET_MB else "MISS"
    print(f"\nsessions {args.sessions}   idle {idle:.0f} MB   final {final:.0f} MB   peak {peak:.0f} MB   "
          f"target peak <= {TARGET_MB:.0f} MB: {ok}")
    if caches:
        total = sum(caches.values())
        print(f"\nStreamlit's caches at the end (/_stcore/metrics, the size Streamlit estimates): {total / 2**20:.0f} MB")
        for name, n in sorted(caches.items(), key=lambda kv: -kv[1])[:12]:
            print(f"  {n / 2**20:7.1f} MB  {name}")
        print(f"  the rest of the RSS, {final - total / 2**20:.0f} MB: the interpreter, numpy, numba, plotly, "
              "Streamlit, sessions' state and what the allocator keeps")
    return 0


def cache_bytes(base: str) -> dict[str, int]:
    """Bytes per cached function, summed over its entries, from the server's metrics endpoint (text format:
    `cache_memory_bytes{cache_type="st_cache_data",cache="module.function"} 1234`)."""
    import urllib.request

    try:
        with urllib.request.urlopen(base + "/_stcore/metrics", timeout=30) as r:
            text = r.read().decode("utf-8", "replace")
    except OSError as exc:
        print(f"(no metrics: {exc})")
        return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("cache_memory_bytes{"):
            continue
        labels, _, value = line.rpartition(" ")
        m = re.search(r'cache_type="([^"]*)",cache="([^"]*)"', labels)
        if m is None:
            continue
        key = f"{m.group(2)} ({m.group(1)})"
        out[key] = out.get(key, 0) + int(float(value))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
