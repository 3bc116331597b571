"""The Train page's speed in real headless Chromium, against `python -m engine.train` on the same settings.

Measures:
  * Start -> first point: from the click on Start to the loss chart showing update 1 (polled every
    20 ms in the page);
  * refresh rate during the run: how often the loss chart in the browser shows a new update count
    (client), and how often the page's progress part ran on the server and how long each took
    (server, from the UNROLLED_TRAIN_TIMING log lines);
  * run throughput: updates per second of the page's run (server side, evaluation included) over the
    same updates timed for `python -m engine.train` with the same task, cell, sizes, optimiser and
    clipping; the command line runs before and after the page, and the ratio uses their mean, since
    the machine's load changes in between.

Run by hand (not a test):  .venv/bin/python bench/bench_train_page.py [--steps 400] [--cell lstm]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import goto_ready, launch_browser, new_context, running_app  # noqa: E402

_SHOWN_JS = """() => {
  const t = [...document.querySelectorAll('.js-plotly-plot')]
      .map(p => String(((p.layout || {}).title || {}).text || '').replace(/<[^>]+>/g, ''))
      .find(t => t.startsWith('Loss:'));
  const m = t ? t.match(/after (\\d+) of/) : null;
  return m ? Number(m[1]) : -1;
}"""


def cli(args) -> dict:
    """Updates per second of python -m engine.train on the page's settings."""
    cmd = [sys.executable, "-m", "engine.train", "--task", "adding", "--seq-len", str(args.T), "--cell", args.cell,
           "--hidden", str(args.H), "--batch", str(args.batch), "--optimizer", "adam", "--lr", "0.01",
           "--clip-norm", "1", "--steps", str(args.steps), "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    rows = [json.loads(line) for line in out if line.startswith("{")]
    final = rows[-1]
    per_update = [r["seconds"] for r in rows if "step" in r and "loss" in r]
    return dict(updates_per_s=final["steps"] / final["seconds"], median_update_s=sorted(per_update)[len(per_update) // 2])


def page_run(args) -> dict:
    from playwright.sync_api import sync_playwright

    query = f"tr_task=adding&tr_cell={args.cell}&tr_T={args.T}&tr_H={args.H}&tr_batch={args.batch}&tr_steps={args.steps}"
    with running_app(env={"UNROLLED_TRAIN_TIMING": "1"}) as app, sync_playwright() as pw:
        browser = launch_browser(pw)
        page = new_context(browser).new_page()
        goto_ready(page, app.page_url("Train", query), min_charts=2)
        page.wait_for_timeout(1000)
        t0 = time.perf_counter()
        click_wall = time.time()
        page.get_by_role("button", name="Start", exact=True).click()
        seen = []  # (seconds since the click, update count shown)
        while time.perf_counter() - t0 < 600:
            n = page.evaluate(_SHOWN_JS)
            if not seen or n != seen[-1][1]:
                seen.append((time.perf_counter() - t0, n))
            if n >= args.steps:
                break
            page.wait_for_timeout(20)
        browser.close()
        log = app.log_path.read_text().splitlines()
    first = next(t for t, n in seen if n >= 1)
    changes = [(t, n) for t, n in seen if n >= 1]
    span = changes[-1][0] - changes[0][0]
    refresh = [line.split() for line in log if line.startswith("train-refresh")]
    refresh = [(float(r[1]) - click_wall, float(r[2]), int(r[3])) for r in refresh if float(r[1]) >= click_wall]
    running = [r for r in refresh if 0 < r[2] < args.steps]
    srv_span = running[-1][0] - running[0][0] if len(running) > 1 else float("nan")
    durations = sorted(r[1] for r in running) or [float("nan")]
    served = next((t + d for t, d, n in refresh if n >= 1), float("nan"))
    return dict(first_point_s=first, first_point_server_s=served, client_refresh_per_s=(len(changes) - 1) / span if span > 0 else float("nan"),
                server_refresh_per_s=(len(running) - 1) / srv_span if srv_span > 0 else float("nan"),
                refresh_p50_s=durations[len(durations) // 2], refresh_max_s=durations[-1],
                updates_per_s=(running[-1][2] - running[0][2]) / srv_span if srv_span > 0 else float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--H", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    before = cli(args)
    page = page_run(args)
    after = cli(args)
    cli_rate = (before["updates_per_s"] + after["updates_per_s"]) / 2
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"settings: adding, {args.cell}, T = {args.T}, H = {args.H}, B = {args.batch}, Adam 1e-2, clip norm 1, "
          f"{args.steps} updates")
    print(f"Start -> first point on the loss chart: {page['first_point_s']:.2f} s in the browser, "
          f"{page['first_point_server_s']:.2f} s until the server had sent it   (target <= 1 s)")
    print(f"refresh in the browser: {page['client_refresh_per_s']:.1f} /s; on the server: "
          f"{page['server_refresh_per_s']:.1f} /s, each p50 {page['refresh_p50_s'] * 1e3:.0f} ms, "
          f"max {page['refresh_max_s'] * 1e3:.0f} ms   (target >= 4 /s)")
    print(f"run throughput: page {page['updates_per_s']:.1f} updates/s, command line {before['updates_per_s']:.1f} "
          f"before / {after['updates_per_s']:.1f} after -> ratio {page['updates_per_s'] / cli_rate:.0%}   "
          "(target >= 80 %)")


if __name__ == "__main__":
    main()
