"""Heavy computations go through one limit for the whole server process, so that a few heavy views
(the phase diagram at its largest, T = 1000 with H = 256, the finite-difference check of a big network)
cannot take every core from the sessions that only move a slider.

What counts as heavy is an estimate of the work in multiply-adds (`cost_*` below); from
`HEAVY_WORK` = 2·10⁸ up, about 0.2 s or more of one core here, a computation needs a slot. There are
`heavy_slots()` of them: the environment variable UNROLLED_HEAVY_SLOTS, default one less than the
core count (at least one), so one core stays free for light reruns. While a computation waits for a
slot its page says so ("Busy: N heavy computations are running; yours is queued."), and the slot's
numba kernels run on `kernel_threads()` threads, so even the parallel phase-diagram sweep leaves a
core free. The kernels release the GIL (`nogil=True`), so the other sessions' scripts run meanwhile.

`heavy_slot(cost)` is called inside the cached `run_*` functions, so only a real computation waits:
a result already in the cache (another student asked for the same view) is served at once. It is
reentrant: a heavy function calling another one holds one slot, never two.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

import streamlit as st

from engine.params import CELLS

HEAVY_WORK = 2e8          # multiply-adds from which a computation is heavy (about 0.2 s of one core)
MAX_WAIT_SECONDS = 600.0  # a computation queued longer than this gives up (QueueTimeout)


class QueueTimeout(RuntimeError):
    """No slot became free within the wait limit."""


def heavy_slots() -> int:
    """Heavy computations running at once: UNROLLED_HEAVY_SLOTS, default cores − 1 (at least 1)."""
    raw = os.environ.get("UNROLLED_HEAVY_SLOTS", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, (os.cpu_count() or 1) - 1)


def kernel_threads() -> int:
    """numba threads a heavy computation may use (its parallel sweep): the cores a slot leaves free
    for others are not taken back by the sweep's own threads."""
    return max(1, (os.cpu_count() or 1) - 1)


class Admission:
    """A counting semaphore that also knows how many hold a slot and how many wait."""

    def __init__(self, n: int):
        self.n = n
        self._sem = threading.Semaphore(n)
        self._lock = threading.Lock()
        self.running = 0
        self.waiting = 0

    def try_acquire(self) -> bool:
        if self._sem.acquire(blocking=False):
            with self._lock:
                self.running += 1
            return True
        return False

    def acquire(self, timeout: float | None = None, stop=None) -> bool:
        """Wait for a slot: True once held; False after `timeout` seconds or when `stop()` says to give up
        (polled every 0.2 s)."""
        with self._lock:
            self.waiting += 1
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._sem.acquire(timeout=0.2 if deadline is None else
                                        max(0.0, min(0.2, deadline - time.monotonic()))):
                if (stop is not None and stop()) or (deadline is not None and time.monotonic() >= deadline):
                    return False
            with self._lock:
                self.running += 1
            return True
        finally:
            with self._lock:
                self.waiting -= 1

    def release(self) -> None:
        with self._lock:
            self.running -= 1
        self._sem.release()


@st.cache_resource(max_entries=1, show_spinner=False)
def admission() -> Admission:
    """The one limit of this server process (shared by every session)."""
    return Admission(heavy_slots())


_held = threading.local()   # slots held by this thread (reentrancy)


def busy_message(adm: Admission) -> str:
    n = adm.running
    return (f"Busy: {n} heavy computation{'s are' if n != 1 else ' is'} running; yours is queued "
            f"and starts as soon as one finishes.")


@contextlib.contextmanager
def heavy_slot(cost: float, *, max_wait: float = MAX_WAIT_SECONDS) -> Iterator[bool]:
    """Run the body within the server-wide limit when `cost` (multiply-adds) is heavy; yields whether
    a slot is held. While it waits, a message says so in the page (removed once the slot is free).
    Raises QueueTimeout after `max_wait` seconds without a slot. The slot is released on exit, also
    when the body raises."""
    depth = getattr(_held, "depth", 0)
    if cost < HEAVY_WORK or depth > 0:
        yield depth > 0
        return
    adm = admission()
    if not adm.try_acquire():
        note = st.empty()
        note.info(busy_message(adm), icon=":material/hourglass_top:")
        t0 = time.monotonic()
        if not adm.acquire(timeout=max_wait):
            raise QueueTimeout(f"no free slot for a heavy computation after {time.monotonic() - t0:.0f} s "
                               f"({adm.running} running, {adm.waiting} waiting)")
        note.empty()
    _held.depth = depth + 1
    threads = _limit_kernel_threads()
    try:
        yield True
    finally:
        _held.depth = depth
        _restore_kernel_threads(threads)
        adm.release()


def _limit_kernel_threads() -> int | None:
    """numba's thread count is per thread: cap this one's, return the old value to restore."""
    try:
        import numba
        old = numba.get_num_threads()
        numba.set_num_threads(min(old, kernel_threads()))
        return old
    except Exception:  # noqa: BLE001 - no parallel layer: nothing to limit
        return None


def _restore_kernel_threads(old: int | None) -> None:
    if old is not None:
        import numba
        numba.set_num_threads(old)


# --------------------------------------------------------------------------- cost estimates
# Multiply-adds, roughly: what decides whether a computation waits for a slot.

def cost_bptt(T: int, H: int, cell: str = "rnn") -> float:
    """Forward and backward pass: two products with the (G·H, H) recurrent matrix per step."""
    return 2.0 * (CELLS[cell].n_gates if cell in CELLS else 1) * T * H * H


def cost_jacobians(T: int, S: int, budget: float) -> float:
    """The step-Jacobian products and SVDs, which ui.runs.jacobian_plan caps at `budget`."""
    return cost_bptt(T, S) + min(T * float(S) ** 3, budget)
