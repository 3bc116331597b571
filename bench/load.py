"""A class on one server: N simulated students, no browser, each speaking Streamlit's own protocol.

Each student does what a browser tab does: fetches the page (which, behind scripts/serve.sh, also
gets the proxy's stickiness cookie), opens the websocket `/_stcore/stream` with that cookie, sends
the `rerun_script` BackMsg a browser sends for a page address (query string, page name), reads the
ForwardMsgs (new_session, deltas, page_info_changed, session_status_changed, script_finished) and then
makes a bounded number of moves: one sidebar slider (rho, T or H) set to a new value, sent as
`rerun_script` with the widget states, like the browser after a slider release. A move is done when
`script_finished` arrives (FINISHED_SUCCESSFULLY); its latency is from sending the BackMsg to that.
Between moves the student thinks (exponential, mean --think seconds). With --train, a student on the
Train page presses Start and keeps the live panel refreshing (the fragment reruns the server asks for
with auto_rerun) through its moves.

Errors: an exception element or the pages' error message ("Something went wrong ...") in the deltas,
a script compilation error, a lost connection and a move slower than --timeout.

Per number of students it prints: moves, p50/p95/max move latency, page-open latency, errors, the
server's resident memory (peak during the phase, summed over all replicas) and its CPU use (% of one
core, averaged over the phase), with the machine's load average.

    .venv/bin/python bench/load.py --students 1 10 30 --think 2          # starts its own server
    bash scripts/serve.sh 2 &                                             # or: two replicas + nginx
    .venv/bin/python bench/load.py --url http://127.0.0.1:8080 --students 30 --think 2

Only 127.0.0.1 (or localhost) is ever contacted; every loop is bounded in count and time. The protocol client
is bench/st_client.py; starting the server and measuring its processes, bench/load_server.py.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:   # bench/ is a folder of scripts: its helper modules are found beside them
    sys.path.insert(0, str(HERE))

from load_server import (  # noqa: E402, F401  (re-exported: the tests use them from here)
    ROOT,
    STREAMLIT_RUN_TIMEOUT,
    Server,
    _tree,
    cpu_seconds,
    free_port,
    replicas,
    rss_bytes,
    stop_group,
    threads_of,
    wait_healthy,
)
from st_client import ERROR_TEXT, Client, StudentError, Widget, _proto  # noqa: E402, F401  (re-exported)

LOOPBACK = {"127.0.0.1", "localhost"}
PAGES = ("", "Unroll", "Hidden_state", "Gradients", "Spectrum", "Phase_diagram", "RNN_vs_LSTM_vs_GRU")
TRAIN_PAGE = "Train"
# The values a student moves the sidebar sliders to: a class follows the same lecture, so students mostly
# land on the same few settings (as on the presets), with the whole range of each slider in play.
MOVES = {
    "rho": ("0.50", "0.80", "0.90", "0.95", "1.00", "1.05", "1.10", "1.20", "1.50", "2.00"),
    "T": (20, 50, 100, 200, 300, 500, 1000),
    "H": (8, 16, 32, 64, 128, 256),
}


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default);
    nan for no values."""
    if not values:
        return float("nan")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Tally:
    """What the students of one phase measured."""

    moves: list[float] = field(default_factory=list)    # seconds per slider move
    opens: list[float] = field(default_factory=list)    # seconds from websocket open to the page drawn
    refreshes: int = 0                                  # live-panel reruns while training
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    uploads: int = 0

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if detail and len(self.error_samples) < 5:
            self.error_samples.append(f"{kind}: {detail[:200]}")

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    def summary(self) -> dict:
        ms = [1000 * v for v in self.moves]
        op = [1000 * v for v in self.opens]
        return {"moves": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
                "max_ms": max(ms) if ms else float("nan"), "open_p50_ms": percentile(op, 50),
                "open_max_ms": max(op) if op else float("nan"), "refreshes": self.refreshes,
                "errors": self.n_errors, "error_kinds": dict(self.errors), "uploads": self.uploads}


# --------------------------------------------------------------------------- students


UPLOAD_LABEL = "Input sequence (.csv)"   # the sidebar's uploader of an input sequence (ui/uploads.py)


def upload_file(rng: random.Random) -> tuple[str, bytes]:
    """A student's file: mostly a valid T x D CSV, sometimes one the app must refuse (text, NaN, ragged)."""
    T, D = rng.randint(10, 300), rng.randint(1, 3)
    rows = [",".join(f"{rng.gauss(0, 1):.4f}" for _ in range(D)) for _ in range(T)]
    kind = rng.random()
    if kind < 0.1:
        rows[rng.randrange(T)] = "not,a,number"
    elif kind < 0.2:
        rows[rng.randrange(T)] += ",1.0,2.0"
    elif kind < 0.25:
        rows[rng.randrange(T)] = ",".join(["nan"] * D)
    header = ",".join("xyz"[:D])
    return f"student-{rng.getrandbits(20):05x}.csv", (header + "\n" + "\n".join(rows) + "\n").encode()


async def student(i: int, host: str, port: int, page: str, moves: int, think: float, timeout: float,
                  tally: Tally, rng: random.Random, train: bool, start_delay: float, upload: bool = False) -> None:
    await asyncio.sleep(start_delay)
    c = Client(host, port, page, timeout=timeout)
    try:
        try:
            tally.opens.append(await c.open())
        except StudentError as exc:
            tally.error(exc.kind, exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - refused, reset, a failed handshake
            tally.error("disconnect", f"open /{page}: {type(exc).__name__}: {exc}")
            return
        if upload and UPLOAD_LABEL in c.widgets:
            try:
                name, data = upload_file(rng)
                tally.moves.append(await c.upload(UPLOAD_LABEL, name, data))
                tally.uploads += 1
            except StudentError as exc:
                tally.error(exc.kind, exc.detail)
                return
        training = False
        if train and page == TRAIN_PAGE:
            try:
                await c.press("Start")
                training = True
            except StudentError as exc:
                tally.error(exc.kind, exc.detail)
                return
        keys = [k for k in MOVES if k in c.widgets]
        if not keys:
            tally.error("protocol", f"no sidebar slider found on /{page}")
            return
        for _ in range(moves):
            pause = rng.expovariate(1.0 / think) if think > 0 else 0.0
            if training:
                # the browser keeps refreshing the live panel while its student thinks
                end = time.perf_counter() + pause
                while time.perf_counter() < end and c.auto_rerun is not None:
                    await asyncio.sleep(min(c.auto_rerun[0], max(0.0, end - time.perf_counter())))
                    if time.perf_counter() < end:
                        try:
                            if await c.refresh():
                                tally.refreshes += 1
                        except StudentError as exc:
                            tally.error(exc.kind, exc.detail)
                            return
                await asyncio.sleep(max(0.0, end - time.perf_counter()))
            else:
                await asyncio.sleep(pause)
            key = rng.choice(keys)
            current = c.states.get(c.widgets[key].id, c.widgets[key].default)
            choices = [v for v in MOVES[key] if str(v) != str(current) and not (
                c.widgets[key].kind == "slider" and current is not None and float(v) == float(current))]
            try:
                tally.moves.append(await c.move(key, rng.choice(choices)))
            except StudentError as exc:
                tally.error(exc.kind, exc.detail)
                if exc.kind in ("disconnect", "timeout"):
                    return
    finally:
        await c.close()


# --------------------------------------------------------------------------- one phase


async def run_phase(n: int, host: str, port: int, pages: list[str], moves: int, think: float, timeout: float,
                    seed: int, train: bool, pids: list[int], ramp: float) -> tuple[Tally, dict]:
    tally = Tally()
    rng = random.Random(seed * 1000 + n)
    peak = [rss_bytes(pids)]
    stop = asyncio.Event()

    async def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_bytes(pids))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    sampler = asyncio.create_task(sample())
    tasks = [student(i, host, port, rng.choice(pages), moves, think, timeout, tally,
                     random.Random(rng.random()), train, rng.uniform(0, ramp)) for i in range(n)]
    await asyncio.gather(*tasks)
    stop.set()
    await sampler
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pids) - cpu0
    res = {"rss_peak_mb": peak[0] / 2**20 if pids else float("nan"),
           "rss_end_mb": rss_bytes(pids) / 2**20 if pids else float("nan"),
           "cpu_pct": 100.0 * cpu / wall if pids else float("nan"), "wall_s": wall,
           "load": os.getloadavg()}
    return tally, res


async def warm_up(host: str, port: int, pages: list[str]) -> Tally:
    """Open every page once, one after the other (no moves)."""
    tally = Tally()
    for page in pages:
        await student(0, host, port, page, 0, 0.0, STREAMLIT_RUN_TIMEOUT * 2, tally, random.Random(0), False, 0.0)
    return tally


async def soak(host: str, port: int, pages: list[str], seconds: float, per_minute: float, moves: int, think: float,
               timeout: float, seed: int, train: bool, pids: list[int], settle: float, every: float = 60.0,
               upload_share: float = 0.0) -> dict:
    """Students come and go for `seconds`: arrivals at random (Poisson, `per_minute`), each on a random page
    (on Train with `train`: Start, then the live panel while it moves; a share `upload_share` first uploads an
    input sequence, now and then one the app must refuse), `moves` moves, then the tab closes.
    Prints a line every `every` seconds (sessions open, RSS, threads, errors so far); after the last one
    leaves, waits `settle` seconds (Streamlit keeps a closed tab's session two minutes) and measures again."""
    tally = Tally()
    rng = random.Random(seed)
    open_now = [0]
    rows = []

    def row(label: str) -> dict:
        r = {"t": label, "open": open_now[0], "rss_mb": rss_bytes(pids) / 2**20, "threads": threads_of(pids),
             "errors": tally.n_errors, "moves": len(tally.moves), "load": os.getloadavg()[0]}
        rows.append(r)
        print(f"  {r['t']:>8} {r['open']:>5d} {r['rss_mb']:8.0f} {r['threads']:8d} {r['moves']:7d} {r['errors']:7d}"
              f"   {r['load']:.2f}", flush=True)
        return r

    async def one(i: int) -> None:
        open_now[0] += 1
        try:
            await student(i, host, port, rng.choice(pages), moves, think, timeout, tally, random.Random(rng.random()),
                          train, 0.0, upload=rng.random() < upload_share)
        finally:
            open_now[0] -= 1

    print(f"  {'time':>8} {'open':>5} {'RSS MB':>8} {'threads':>8} {'moves':>7} {'errors':>7}   load")
    base = row("start")
    t0 = time.perf_counter()
    next_row = every
    tasks, i = [], 0
    while (elapsed := time.perf_counter() - t0) < seconds:
        if elapsed >= next_row:
            row(f"{elapsed / 60:.0f} min")
            next_row += every
        await asyncio.sleep(min(rng.expovariate(per_minute / 60.0), max(0.1, next_row - elapsed)))
        if time.perf_counter() - t0 < seconds:
            tasks.append(asyncio.create_task(one(i)))
            i += 1
    await asyncio.gather(*tasks)
    end = row("all gone")
    await asyncio.sleep(settle)
    settled = row(f"+{settle:.0f} s")
    s = tally.summary()
    return {"sessions": i, "start": base, "end": end, "settled": settled, "rows": rows, **s,
            "error_samples": tally.error_samples}


def fmt_row(n: int, s: dict, r: dict) -> str:
    def f(v, spec="7.0f"):
        return format(v, spec) if isinstance(v, (int, float)) and math.isfinite(v) else " " * (len(format(0, spec)) - 3) + "n/a"
    return (f"{n:>8d} {s['moves']:>6d} {f(s['p50_ms'])} {f(s['p95_ms'])} {f(s['max_ms'])} {f(s['open_p50_ms'])} "
            f"{s['errors']:>6d} {f(r['rss_peak_mb'])} {f(r['cpu_pct'], '6.0f')} {r['wall_s']:6.1f}  "
            f"{r['load'][0]:.2f} {r['load'][1]:.2f}")


HEADER = (f"{'students':>8} {'moves':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'open ms':>7} {'errors':>6} "
          f"{'RSS MB':>7} {'CPU %':>6} {'wall s':>6}  load 1/5 min")


def check_host(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        raise SystemExit(f"refusing {url!r}: this load generator only talks to http://127.0.0.1")
    return "127.0.0.1", parts.port or 80


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, nargs="+", default=[1, 10, 30], help="numbers of students, one phase each")
    ap.add_argument("--moves", type=int, default=10, help="slider moves per student (bounded)")
    ap.add_argument("--think", type=float, default=2.0, help="mean think time between moves, seconds (exponential)")
    ap.add_argument("--ramp", type=float, default=None, help="students arrive over this many seconds (default: --think)")
    ap.add_argument("--pages", nargs="+", default=None,
                    help="URL paths to open ('' or home for the home page); default: every view page at random")
    ap.add_argument("--train", action="store_true", help="students on the Train page press Start and watch it")
    ap.add_argument("--room", action="store_true",
                    help="a classroom (bench/load_room.py): one teacher moves T every --every seconds, the students "
                         "follow; --students gives the class sizes, --moves the teacher's moves")
    ap.add_argument("--every", type=float, default=5.0, help="with --room: seconds between the teacher's moves")
    ap.add_argument("--url", default=None, help="a running server or proxy (http://127.0.0.1:PORT); default: start one")
    ap.add_argument("--port", type=int, default=0, help="port of the server this script starts (default: a free one)")
    ap.add_argument("--pids", type=int, nargs="*", default=None, help="server processes to measure (with --url)")
    ap.add_argument("--run-dir", default=str(ROOT / ".run" / "serve"),
                    help="scripts/serve.sh's run directory: with --url, its replicas are measured")
    ap.add_argument("--timeout", type=float, default=120.0, help="a move slower than this is an error (seconds)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--soak", type=float, default=0.0,
                    help="instead of phases: students come and go for this many seconds (see soak())")
    ap.add_argument("--per-minute", type=float, default=10.0, help="with --soak: arrivals per minute")
    ap.add_argument("--settle", type=float, default=150.0, help="with --soak: seconds to wait after the last one")
    ap.add_argument("--upload-share", type=float, default=0.0,
                    help="with --soak: share of students who first upload an input sequence (.csv)")
    a = ap.parse_args(argv)
    if any(n < 1 or n > 500 for n in a.students) or not 0 <= a.moves <= 1000 or a.think < 0:
        ap.error("--students in [1, 500], --moves in [0, 1000], --think >= 0")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    pages = [("" if p in ("home", "/") else p.strip("/")) for p in (a.pages or list(PAGES))]
    if a.train and TRAIN_PAGE not in pages:
        pages.append(TRAIN_PAGE)
    server = None
    warm_ports: list[int] = []
    if a.url:
        host, port = check_host(a.url)
        wait_healthy(host, port, 300)   # e.g. scripts/serve.sh still starting its replicas
        found = replicas(Path(a.run_dir)) if a.pids is None else {}
        pids = a.pids if a.pids is not None else list(found.values())
        warm_ports = sorted(found) or [port]
        where = a.url + (f" ({len(pids)} server processes measured)" if pids else " (server not measured)")
    else:
        host, port = "127.0.0.1", a.port or free_port()
        server = Server(port, ROOT / "artifacts" / f"load-server-{port}.log")
        t0 = time.perf_counter()
        server.start()
        pids = [server.proc.pid]
        warm_ports = [port]
        where = f"{sys.executable} -m streamlit run app.py on port {port} (healthy after {time.perf_counter() - t0:.1f} s)"
    results = []
    try:
        # a warm-up visit of every page on every replica (directly on its port), so the phases measure
        # warm servers, not first imports and the JIT's cache loads
        t0 = time.perf_counter()
        warm_errors: list[str] = []
        for wp in warm_ports:
            warm = asyncio.run(warm_up(host, wp, pages))
            warm_errors += warm.error_samples
        print(f"load: {where}")
        print(f"      warm-up: every page opened once on {len(warm_ports)} server(s) in "
              f"{time.perf_counter() - t0:.1f} s, errors {len(warm_errors)}"
              + (f" ({'; '.join(warm_errors)})" if warm_errors else ""))
        print(f"      {a.moves} moves per student of rho, T or H, think {a.think:g} s (exponential), pages: "
              f"{', '.join(p or 'home' for p in pages)}{', training on Train' if a.train else ''}; "
              f"cpus {os.cpu_count()}, load at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        if a.room:
            from load_room import HEADER as ROOM_HEADER
            from load_room import classroom
            from load_room import fmt as room_row

            page = next((p for p in pages if p), "Unroll")
            print(f"room: one teacher on /{page} moves T every {a.every:g} s, {a.moves} moves; the students follow")
            print(ROOM_HEADER)
            for n in a.students:
                res = asyncio.run(classroom(n, host, port, page, a.moves, a.every, a.timeout, pids,
                                            a.think if a.ramp is None else a.ramp))
                print(room_row(res), flush=True)
                if res["error_samples"]:
                    print("         errors: " + "; ".join(res["error_samples"]))
                results.append(res)
            a.students = []
        elif a.soak > 0:
            print(f"soak: {a.soak / 60:g} min, about {a.per_minute:g} arrivals per minute, {a.moves} moves each")
            res = asyncio.run(soak(host, port, pages, a.soak, a.per_minute, a.moves, a.think, a.timeout, a.seed,
                                   a.train, pids, a.settle, upload_share=a.upload_share))
            print(f"soak: {res['sessions']} sessions, {res['uploads']} uploads, {res['moves']} moves and uploads, p50 {res['p50_ms']:.0f} ms, p95 "
                  f"{res['p95_ms']:.0f} ms, errors {res['errors']}"
                  + (f" ({'; '.join(res['error_samples'])})" if res.get('error_samples') else "")
                  + f"; RSS {res['start']['rss_mb']:.0f} -> {res['end']['rss_mb']:.0f} -> "
                  f"{res['settled']['rss_mb']:.0f} MB, threads {res['start']['threads']} -> "
                  f"{res['end']['threads']} -> {res['settled']['threads']}")
            results.append(res)
            a.students = []
        else:
            print(HEADER)
        for n in a.students:
            tally, res = asyncio.run(run_phase(n, host, port, pages, a.moves, a.think, a.timeout, a.seed, a.train,
                                               pids, a.think if a.ramp is None else a.ramp))
            s = tally.summary()
            print(fmt_row(n, s, res), flush=True)
            if tally.error_samples:
                print("         errors: " + "; ".join(tally.error_samples))
            if tally.refreshes:
                print(f"         live-panel refreshes while training: {tally.refreshes}")
            results.append({"students": n, **s, **res})
    finally:
        if server is not None:
            server.stop()
    print("latency: rerun_script sent -> script_finished received, per slider move; open: the page's first run. "
          "RSS: peak of the server processes (all replicas); CPU: their CPU time / wall time.")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"argv": sys.argv[1:], "where": where, "results": results}, indent=1,
                                           default=str))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
