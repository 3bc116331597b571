"""The Train page's memory and its one-run-per-session rule, without a page: the estimate of what a run
holds (MAX_RUN_BYTES) against the allocations of real runs, the byte-bounded task cache, the scoring that
stops within a second, and a new run that waits for the session's previous worker."""
from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest

from engine.trainer import Trainer
from ui import training as tr

# ---------------------------------------------------------------- what one run holds


@pytest.mark.parametrize("task,cell,T,H,B,dtype", [
    ("adding", "lstm", 1000, 64, 16, "float64"),
    ("adding", "gru", 1000, 64, 16, "float64"),
    ("adding", "lstm", 1000, 64, 16, "float32"),
    ("vowels", "lstm", 800, 64, 16, "float64"),
    ("reverse", "lstm", 100, 256, 32, "float64"),
])
def test_a_run_stays_within_its_announced_memory(task, cell, T, H, B, dtype):
    """One update, then the scoring of the 128 held-out sequences (in chunks): every allocation of the
    worker at its peak is within T x B x 4H x RUN_BYTES_PER_NUMBER (half in float32), the estimate the
    page announces (MAX_RUN_BYTES at the cap)."""
    s, _ = tr.fit_settings(tr.TrainSettings(task=task, cell=cell, T=T, H=H, batch=B, dtype=dtype, steps=3))
    job = tr.Job(s, "run", None)
    job._prepare()
    tracemalloc.start()
    try:
        job._advance(1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    lane = job.lanes[cell]
    assert job.state == "paused" and lane.n == 1 and lane.eval_step == [1], (job.state, job.message)
    held_out = min(tr.N_EVAL, job.task.x_test.shape[0])
    whole_scoring = T * held_out * 4 * H * np.dtype(dtype).itemsize * tr.RUN_BYTES_PER_NUMBER / 8
    bound = s.numbers * np.dtype(dtype).itemsize * tr.RUN_BYTES_PER_NUMBER / 8
    assert peak <= bound, f"{peak / 1e6:.0f} MB > {bound / 1e6:.0f} MB"
    assert peak < whole_scoring / 2     # the scoring did not run the 128 sequences at once
    assert job.work.nbytes == 0         # a run that stopped computing holds no pass arrays


def test_the_largest_run_fits_the_cap():
    s, _ = tr.fit_settings(tr.TrainSettings(task="adding", cell="lstm", T=1000, H=256, batch=256, steps=10))
    assert s.numbers <= tr.MAX_RUN_NUMBERS and s.numbers * tr.RUN_BYTES_PER_NUMBER <= tr.MAX_RUN_BYTES
    assert f"{tr.MAX_RUN_BYTES / 1e6:.0f} MB" in tr.memory_note()


# ---------------------------------------------------------------- the task cache, in bytes


def test_byte_bounded_cache_keeps_recent_entries_up_to_its_bytes():
    c = tr.ByteBoundedCache(100, len)
    built = []

    def make(n):
        def build():
            built.append(n)
            return b"x" * n
        return build
    assert c.get("a", make(40)) == b"x" * 40 and c.get("b", make(40)) and c.nbytes == 80
    c.get("a", make(40))                 # a is now the most recent
    c.get("c", make(40))                 # over 100: b, the least recent, goes
    assert list(c.entries) == ["a", "c"] and c.nbytes == 80 and built == [40, 40, 40]
    assert c.get("huge", make(500)) == b"x" * 500 and "huge" not in c.entries   # built, never kept
    assert c.nbytes <= 100


def test_byte_bounded_cache_builds_a_key_once_for_simultaneous_callers():
    c = tr.ByteBoundedCache(1e6, len)
    calls, out = [], []

    def build():
        calls.append(1)
        time.sleep(0.2)
        return b"v"
    threads = [threading.Thread(target=lambda: out.append(c.get("k", build))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert calls == [1] and out == [b"v"] * 5


def test_links_with_many_seeds_do_not_pile_up_task_data():
    """The finding: /Train?tr_T=1000&tr_seed=N for N = 1..8 kept 8 tasks of 176 MB."""
    tr.task_cache.clear()
    for seed in range(1, 5):
        task = tr.load_task("adding", 1000, seed)
        assert tr.task_nbytes(task) > 150e6
        assert tr.task_cache().nbytes <= tr.TASK_CACHE_BYTES
    assert tr.load_task("adding", 1000, 4) is task          # the most recent is kept
    assert len(tr.task_cache().entries) == int(tr.TASK_CACHE_BYTES // tr.task_nbytes(task))
    tr.task_cache.clear()


# ---------------------------------------------------------------- stopping, and one run per session


def test_a_stop_during_the_scoring_is_honoured_within_a_second():
    s, _ = tr.fit_settings(tr.TrainSettings(task="adding", cell="lstm", T=1000, H=128, batch=8, steps=5))
    job = tr.Job(s, "run", None)
    job._prepare()
    job.start()
    deadline = time.monotonic() + 60
    while (job.scoring is None or job.scoring[0] == 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.scoring is not None, "the run never reached its first scoring"
    assert job.seconds_left() > 0          # the progress text counts the scoring still to do
    t0 = time.perf_counter()
    job.stop_event.set()
    job.thread.join(5)
    assert not job.thread.is_alive() and time.perf_counter() - t0 < 1.0
    assert job.state == "paused" and job.scoring is None and job.work.nbytes == 0


def test_one_session_never_computes_two_runs(monkeypatch):
    """Start, Reset, Start, Reset, Start while each old worker is still inside a long update: the new run
    waits for it, so the session never holds two training slots."""
    slow = threading.Event()
    step = Trainer.step

    def long_step(self):
        if slow.is_set():
            time.sleep(0.6)            # an update that does not look at the stop request
        return step(self)
    monkeypatch.setattr(Trainer, "step", long_step)

    def pause(self, wait=0.05):
        self.stop_event.set()
        t = self.thread
        if t is not None and t is not threading.current_thread():
            t.join(wait)                # shorter than an update: the worker outlives the click
    monkeypatch.setattr(tr.Job, "pause", pause)
    pool = tr.slots()
    base = pool.busy
    lab = tr.Lab()
    busiest = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            busiest[0] = max(busiest[0], pool.busy - base)
            time.sleep(0.002)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        slow.set()
        for seed in range(3):
            lab.start(tr.TrainSettings(T=12, H=6, batch=8, steps=50, seed=seed))
            time.sleep(0.3)
            if seed < 2:
                lab.reset()
        workers = [t for t in lab.retired]
        assert workers, "the old workers ended at once: the test would not see two at a time"
        slow.clear()
        lab.run.thread.join(30)
    finally:
        done.set()
        watcher.join()
        lab.reset()
    assert busiest[0] == 1
    assert lab.run is None and all(not t.is_alive() for t in workers)
