"""A classroom under load (`bench/load.py --room`): one teacher moving a slider every few seconds, N students
following, no browser, each speaking Streamlit's own protocol (bench/st_client.py).

The teacher opens ``/<page>?room=new`` (and so becomes the teacher of a new room) and moves the sidebar's
T slider every --every seconds. Each student opens the student link ``/<page>?room=<code>`` and then only
listens: the server reruns the student's page itself when the teacher changes something
(ui/rooms/push.py). A student's update is done when its page has been redrawn with the teacher's new
value: the run whose deltas carry the new T has finished. Its latency is from the teacher's move being
sent to that. Errors: an exception or the pages' error message in a student's deltas, a lost
connection, and an update that does not arrive within --timeout.

It reports, per number of students: teacher moves, student updates, p50/p95/max latency, errors, the
server's CPU (% of one core over the moves) and the CPU seconds per student update, with the load.
"""
from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import parse_qs

from load_server import cpu_seconds, rss_bytes
from st_client import Client, StudentError

T_VALUES = (40, 60, 80, 120, 160, 200)
T_KEYS = ("T", "tr_T", "ph_T")   # the sequence-length slider: the sidebar's, the Train page's, the Phase diagram's


class Listener(Client):
    """A student's tab: remembers when T changed in its deltas and when each run finished."""

    def __init__(self, *args, t_key: str = "T", **kwargs):
        super().__init__(*args, **kwargs)
        self.t_key = t_key
        self.t_changes: list[tuple[float, float]] = []      # (perf_counter, value)
        self.finished_at: list[float] = []

    def _delta(self, delta) -> None:
        super()._delta(delta)
        if delta.WhichOneof("type") != "new_element" or delta.new_element.WhichOneof("type") != "slider":
            return
        s = delta.new_element.slider
        key = s.query_param_key if s.HasField("query_param_key") else s.label
        if key == self.t_key and s.value:
            self.t_changes.append((time.perf_counter(), float(s.value[0])))

    def _handle(self, msg) -> None:
        super()._handle(msg)
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished == 0:
            self.finished_at.append(time.perf_counter())

    def redrawn_with(self, value: float, since: float) -> float | None:
        """When the first finished run after T became `value` (after `since`) ended, or None."""
        changed = next((t for t, v in self.t_changes if t >= since and v == value), None)
        if changed is None:
            return None
        return next((t for t in self.finished_at if t >= changed), None)


async def classroom(n: int, host: str, port: int, page: str, moves: int, every: float, timeout: float,
                    pids: list[int], ramp: float) -> dict:
    teacher = Client(host, port, page, query="room=new", timeout=timeout)
    errors: list[str] = []
    students: list[Listener] = []
    latencies: list[float] = []
    wall = cpu = float("nan")
    peak = 0
    try:
        await teacher.open()
        q = parse_qs(teacher.query)
        if "room" not in q or "teach" not in q:
            raise StudentError("protocol", f"no room in the teacher's address: {teacher.query!r}")
        code = q["room"][0]
        t_key = next((k for k in T_KEYS if k in teacher.widgets), None)
        if t_key is None:
            raise StudentError("protocol", f"/{page} has no sequence-length slider ({', '.join(T_KEYS)}) to move")

        async def join(i: int) -> None:
            await asyncio.sleep(ramp * i / max(1, n))
            s = Listener(host, port, page, query=f"room={code}", timeout=timeout, t_key=t_key)
            try:
                await s.open()
                students.append(s)
            except StudentError as exc:
                errors.append(f"{exc.kind}: {exc.detail}")
                await s.close()
            except Exception as exc:  # noqa: BLE001 - refused, reset
                errors.append(f"disconnect: {type(exc).__name__}: {exc}")
                await s.close()

        await asyncio.gather(*(join(i) for i in range(n)))
        await asyncio.sleep(2.0)                 # the last opens settle
        peak = rss_bytes(pids)
        cpu0, t_start = cpu_seconds(pids), time.perf_counter()
        current = None
        for m in range(moves):
            value = T_VALUES[m % len(T_VALUES)]
            if value == current:
                value = T_VALUES[(m + 1) % len(T_VALUES)]
            t0 = time.perf_counter()
            await teacher.move(t_key, value)
            current = value
            deadline = t0 + timeout
            waiting = list(students)
            while waiting and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
                still = []
                for s in waiting:
                    done = s.redrawn_with(float(value), t0)
                    if done is None:
                        still.append(s)
                    else:
                        latencies.append(done - t0)
                waiting = still
            for _ in waiting:
                errors.append(f"timeout: a student was not redrawn with T = {value} within {timeout:g} s")
            for s in students:
                if s._problems:
                    errors += [f"{k}: {d[:160]}" for k, d in s._problems]
                    s._problems.clear()
            peak = max(peak, rss_bytes(pids))
            await asyncio.sleep(max(0.0, every - (time.perf_counter() - t0)))
        wall = time.perf_counter() - t_start
        cpu = cpu_seconds(pids) - cpu0
    except StudentError as exc:                  # the teacher's page: reported as an error, never a traceback
        errors.append(f"teacher {exc.kind}: {exc.detail}")
    finally:
        await teacher.close()
        for s in students:
            await s.close()
    lat = sorted(latencies)

    def pct(q):
        if not lat:
            return float("nan")
        k = (len(lat) - 1) * q / 100
        lo = int(k)
        return lat[lo] + (lat[min(lo + 1, len(lat) - 1)] - lat[lo]) * (k - lo)

    updates = len(lat)
    return {"students": n, "joined": len(students), "moves": moves, "updates": updates,
            "p50_ms": 1e3 * pct(50), "p95_ms": 1e3 * pct(95), "max_ms": 1e3 * (lat[-1] if lat else float("nan")),
            "errors": len(errors), "error_samples": errors[:5],
            "cpu_pct": 100.0 * cpu / wall if pids else float("nan"),
            "cpu_ms_per_update": 1e3 * cpu / updates if pids and updates else float("nan"),
            "rss_peak_mb": peak / 2**20 if pids else float("nan"), "load": os.getloadavg()}


HEADER = ("students  joined  moves  updates   p50 ms   p95 ms   max ms  errors   CPU %  CPU ms/update  "
          "RSS MB  load")


def fmt(r: dict) -> str:
    return (f"{r['students']:8d}  {r['joined']:6d}  {r['moves']:5d}  {r['updates']:7d}  {r['p50_ms']:7.0f}  "
            f"{r['p95_ms']:7.0f}  {r['max_ms']:7.0f}  {r['errors']:6d}  {r['cpu_pct']:6.0f}  "
            f"{r['cpu_ms_per_update']:13.1f}  {r['rss_peak_mb']:6.0f}  "
            + " ".join(f"{v:.2f}" for v in r["load"]))
