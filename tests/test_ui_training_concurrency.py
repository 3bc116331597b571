"""The Train page's worker under concurrent commands: its state table, one computing run per session, and
consistent progress snapshots while many threads start, pause, step, race and reset at random."""
from __future__ import annotations

import random
import threading
import time

import pytest

from ui import train_job as tj
from ui.train_lab import Lab
from ui.train_settings import TrainSettings
from ui.train_state import TRANSITIONS, IllegalTransition, State, check_transition

S = State


@pytest.fixture(autouse=True)
def _patient_heartbeat(monkeypatch):
    """No run pauses for want of a page watching it (a first compile of the kernels can take long)."""
    monkeypatch.setenv("UNROLLED_TRAIN_HEARTBEAT", "600")


def tiny(**kw) -> TrainSettings:
    return TrainSettings(**{"T": 5, "H": 4, "batch": 4, "steps": 40, **kw})


# ---------------------------------------------------------------- the table


def test_every_state_has_its_row_and_closed_is_final():
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[S.CLOSED] == frozenset()
    for old, targets in TRANSITIONS.items():
        assert old not in targets, f"{old} -> itself is not a transition"
        if old is not S.CLOSED:
            assert S.CLOSED in targets, f"Reset must close a {old} job"


def test_every_state_is_reachable_from_new():
    seen, todo = {S.NEW}, [S.NEW]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(State)


@pytest.mark.parametrize("old,new", [(S.NEW, S.RUNNING), (S.DONE, S.QUEUED), (S.CLOSED, S.QUEUED),
                                     (S.QUEUED, S.DONE), (S.PAUSED, S.RUNNING), (S.RUNNING, S.QUEUED)])
def test_an_illegal_transition_raises(old, new):
    with pytest.raises(IllegalTransition, match=f"{old.name} -> {new.name}"):
        check_transition(old, new)


def test_states_compare_with_the_page_strings():
    assert S.PAUSED == "paused" and S.DONE == "done" and S.FAILED == "error" and S.QUEUED == "queued"
    assert f"{S.DONE}" == "done"


def test_a_run_goes_along_the_table_and_close_ends_it():
    seen = []
    job = tj.Job(tiny(steps=5), "run", None)
    original = job._set

    def recording(new=None, **changes):
        if new is not None and new is not job.progress.state:
            seen.append((job.progress.state, new))
        original(new, **changes)
    job._set = recording
    job.start()
    job.thread.join(60)
    assert job.state == S.DONE and job.done_and_total() == (5, 5), (job.message, seen, job.done_and_total())
    assert [n for _, n in seen] == [S.QUEUED, S.PREPARING, S.RUNNING, S.DONE]
    job.start()                       # finished: nothing happens
    assert job.state == S.DONE and not job.active
    job.close()
    assert job.state == S.CLOSED
    job.start()                       # closed: nothing happens
    assert job.state == S.CLOSED and not job.active


def test_close_while_computing_ends_in_closed():
    job = tj.Job(tiny(steps=100_000, T=20, H=8), "run", None)
    job.start()
    deadline = time.monotonic() + 60
    while job.done_and_total()[0] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    job.close(wait=60)
    assert not job.active and job.state == S.CLOSED and job.idle.is_set()
    assert 2 <= job.done_and_total()[0] < 100_000


def test_preparation_happens_on_the_worker_inside_the_slot(monkeypatch):
    """Nothing is loaded on the thread that presses Start: the worker loads the task once it holds a slot."""
    where = []
    load = tj.load_task

    def recording(*args, **kwargs):
        where.append((threading.current_thread().name, tj.slots().busy))
        return load(*args, **kwargs)
    monkeypatch.setattr(tj, "load_task", recording)
    base = tj.slots().busy
    job = tj.Job(tiny(steps=3), "run", None)
    job.start()
    job.thread.join(60)
    assert job.state == S.DONE
    assert len(where) == 1 and where[0][0].startswith("train-run") and where[0][1] >= base + 1


# ---------------------------------------------------------------- many threads, random commands


def test_random_commands_from_many_threads_keep_every_invariant(monkeypatch):
    computing: dict[int, int] = {}
    busiest: dict[int, int] = {}
    errors: list[str] = []
    count_lock = threading.Lock()
    compute = tj.Job._compute
    check = tj.check_transition

    def counted(self, n_updates):
        key = id(self.gate)
        with count_lock:
            computing[key] = computing.get(key, 0) + 1
            busiest[key] = max(busiest.get(key, 0), computing[key])
        try:
            time.sleep(random.random() * 0.003)    # widen the window in which two could overlap
            return compute(self, n_updates)
        finally:
            with count_lock:
                computing[key] -= 1

    def checked(old, new):
        try:
            check(old, new)
        except IllegalTransition as exc:
            errors.append(str(exc))
            raise
    monkeypatch.setattr(tj.Job, "_compute", counted)
    monkeypatch.setattr(tj, "check_transition", checked)
    hook = threading.excepthook

    def escaped(args):
        errors.append(f"{args.thread.name}: {args.exc_type.__name__}: {args.exc_value}")
    threading.excepthook = escaped

    labs = [Lab(), Lab()]       # two sessions: each computes at most one run, both may compute at once
    settings = [tiny(seed=s, steps=st_) for s in (0, 1) for st_ in (30, 200)]
    stop = threading.Event()
    seen_states: set = set()

    def commands(k: int):
        rng = random.Random(k)
        the_lab = labs[k % 2]
        try:
            while not stop.is_set():
                cmd = rng.choice(("start", "start", "step", "race", "pause", "reset", "touch"))
                s = rng.choice(settings)
                if cmd == "start":
                    the_lab.start(s, n_updates=rng.choice((None, 3)))
                elif cmd == "step":
                    the_lab.step(s)
                elif cmd == "race":
                    the_lab.start_race(s)
                elif cmd == "pause":
                    the_lab.pause()
                elif cmd == "reset":
                    the_lab.reset()
                else:
                    for job in the_lab.jobs():
                        job.touch()
                time.sleep(rng.random() * 0.02)
        except Exception as exc:  # noqa: BLE001 - collected: the test fails with it
            errors.append(f"command thread {k}: {type(exc).__name__}: {exc}")

    def reader():
        try:
            while not stop.is_set():
                for the_lab in labs:
                    for job in the_lab.jobs():
                        p = job.progress
                        seen_states.add(p.state)
                        assert isinstance(p.state, State)
                        assert 0 <= p.done <= p.total == sum(v for v in (job.settings.steps,)) * len(job.lanes)
                        assert p.state is not S.DONE or p.done == p.total or any(
                            v.stopped for v in job.snapshot().values())
                        if p.scoring is not None:
                            assert 0 <= p.scoring[0] <= p.scoring[1]
                        for v in job.snapshot().values():
                            assert 0 <= v.n <= v.budget and len(v.loss) == len(v.grad_norm) == v.n
                            assert len(v.eval_step) == len(v.eval_loss) == len(v.eval_metric)
                        job.seconds_left()
                time.sleep(0.001)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"reader: {type(exc).__name__}: {exc!r}")

    threads = [threading.Thread(target=commands, args=(k,), name=f"cmd-{k}") for k in range(8)]
    threads.append(threading.Thread(target=reader, name="reader"))
    pool = tj.slots()
    base = pool.busy
    try:
        for t in threads:
            t.start()
        time.sleep(4.0)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        for the_lab in labs:
            the_lab.reset()
        workers = [t for t in threading.enumerate() if t.name.startswith("train-")]
        for t in workers:
            t.join(60)
        threading.excepthook = hook
    assert not [t.name for t in threads if t.is_alive()], "a command thread did not end"
    assert not [t.name for t in workers if t.is_alive()], "a worker did not end"
    assert not errors, errors[:5]
    assert busiest and max(busiest.values()) == 1, busiest
    assert pool.busy == base
    assert {S.RUNNING} <= seen_states, seen_states
