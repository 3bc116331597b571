"""The Train page's worker: a run or a race advanced by a thread that owns its state and publishes frozen progress.

Ownership. Everything a worker changes (the lanes, the trainers, the task arrays, the state) belongs to the
job's worker thread while it is alive; the script thread reads only `Progress`, a frozen snapshot the worker
replaces under one lock (`Job.progress`). The script thread talks to the worker through commands: `start`
(a new worker with its number of updates), `pause` (the stop event) and `close` (the close event, then a
stop), and the page's heartbeat (`touch`), each thread-safe. While no worker is alive the commands that
start or close a job make its transition themselves, under the job's command lock; the table `TRANSITIONS`
is checked on every one (`IllegalTransition`).

One computing run per session, exactly: the jobs of a session (its `Lab`) share one gate, a lock a worker
holds from before it takes a training slot until it has released its arrays. A new run waits for the gate,
that is for the previous worker's acknowledgement that it has stopped computing, however long its last update
takes; Pause and Reset only ask, and wait at most a short while so that the page stays responsive. A worker
asks whether to stop between updates and between the chunks of an evaluation.

States: QUEUED (waiting for the session's gate or a server slot), PREPARING (loading the task, building the
networks and trainers, inside the slot), RUNNING, then PAUSED, DONE or FAILED ("error"); CLOSED after Reset.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import replace

import numpy as np

from engine.batch import EvaluationStopped, Workspace
from engine.models import EncoderDecoder, make_dataset, make_seq2seq_dataset
from engine.tasks import TaskData, task_metric
from engine.trainer import Trainer, TrainingStopped
from ui.plain import plain
from ui.train_data import build_model, held_out_only, load_task
from ui.train_settings import CELLS, MAX_RUN_NUMBERS, TrainSettings
from ui.train_state import (  # noqa: F401 - the states, their table and the session helpers, with the job
    TRANSITIONS,
    Beat,
    IllegalTransition,
    Lane,
    LaneView,
    Progress,
    State,
    check_transition,
    current_session_id,
    lane_view,
    session_alive,
)
from ui.training import EVAL_SHARE, FIRST_POINT_WAIT, N_EVAL, heartbeat_seconds, slots

S = State


class Job:
    """A run (one lane) or a race (three lanes) and the thread that advances it."""

    def __init__(self, settings: TrainSettings, kind: str, session_id: str | None,
                 gate: threading.Lock | None = None):
        self.settings, self.kind, self.session_id = settings, kind, session_id
        cells = (settings.cell,) if kind == "run" else CELLS
        self.lanes = {c: Lane(c, settings.steps) for c in cells}   # the worker's
        self.lock = threading.Lock()             # guards `_progress` (and the lanes while a view is built)
        self.stop_event = threading.Event()      # command: stop computing (Pause)
        self.close_event = threading.Event()     # command: never compute again (Reset)
        self.first_update = threading.Event()
        self.idle = threading.Event()            # the worker's acknowledgement: nothing computes
        self.idle.set()
        self.gate = gate if gate is not None else threading.Lock()   # one computing worker per session
        self._commands = threading.RLock()       # start, pause and close, one at a time
        self._owner: threading.Thread | None = None   # the worker while alive: the only writer of the state
        self._beat = Beat()
        self.thread: threading.Thread | None = None
        self.task: TaskData | None = None
        self.eval_idx: np.ndarray | None = None
        self.work = Workspace()    # the passes' arrays, shared by the lanes (they take turns) and the scoring
        done, total = self._counts()
        self._progress = Progress(S.NEW, None, {}, done, total, 0, 0, 0.0, None, None, None, None)
        self._views_at = -1

    # ---- what the script thread reads

    @property
    def progress(self) -> Progress:
        with self.lock:
            return self._progress

    @property
    def state(self) -> State:
        return self.progress.state

    @property
    def message(self) -> str | None:
        return self.progress.message

    @property
    def scoring(self) -> tuple[int, int, float] | None:
        return self.progress.scoring

    @property
    def version(self) -> int:
        return self.progress.version

    @property
    def eval_version(self) -> int:
        return self.progress.eval_version

    @property
    def compute_seconds(self) -> float:
        return self.progress.compute_seconds

    @property
    def first_point_at(self) -> float | None:
        return self.progress.first_point_at

    @property
    def active(self) -> bool:
        t = self.thread
        return t is not None and t.is_alive()

    @property
    def finished(self) -> bool:
        return all(v.finished for v in self.snapshot().values())

    def snapshot(self) -> dict[str, LaneView]:
        """The lanes as of the latest published update (built once per version)."""
        with self.lock:
            p = self._progress
            if self._views_at != p.version or not p.views:
                self._progress = p = replace(p, views={c: lane_view(ln) for c, ln in self.lanes.items()})
                self._views_at = p.version
            return p.views

    def done_and_total(self) -> tuple[int, int]:
        p = self.progress
        return p.done, p.total

    def seconds_left(self) -> float | None:
        p = self.progress
        if p.done == 0:
            return None
        left = p.compute_seconds / p.done * (p.total - p.done)
        if p.scoring is not None and p.scoring[0] > 0:  # the rest of this evaluation, at its own pace so far
            n, of, since = p.scoring
            left += (time.perf_counter() - since) / n * (of - n)
        return left

    def model(self, cell: str | None = None):
        lane = self.lanes[cell or next(iter(self.lanes))]
        return lane.model

    # ---- commands (any thread)

    def touch(self) -> None:
        self._beat.touch()

    def start(self, n_updates: int | None = None, after=()) -> None:
        """Advance by n_updates per lane (None: to the end of the budget) in a new worker thread, which
        computes once it holds the session's gate (and the threads ``after`` have ended)."""
        with self._commands:
            if self._owner is not None or self.active or self.finished or self.close_event.is_set():
                return
            after = [t for t in after if t is not None and t.is_alive() and t is not threading.current_thread()]
            self.stop_event.clear()
            self.touch()
            self.first_update.clear()
            self.idle.clear()
            self._set(S.QUEUED, message=None, first_point_at=None)   # no worker yet: the command's transition
            worker = threading.Thread(target=self._work, args=(n_updates, after), daemon=True,
                                      name=f"train-{self.kind}-{self.session_id}")
            self._owner = worker
            worker.start()
            self.thread = worker   # published only once started: pause() and Lab.step() join it without the lock
        # A short, bounded wait: the rerun that follows the click then already draws the first point.
        self.first_update.wait(FIRST_POINT_WAIT)

    def pause(self, wait: float = 2.0) -> None:
        """Ask the worker to stop, and wait up to `wait` seconds for its acknowledgement (a later run of the
        session waits for the acknowledgement itself, through the gate)."""
        self.stop_event.set()
        if self.thread is not threading.current_thread():
            self.idle.wait(wait)
            t = self.thread
            if t is not None and self.idle.is_set():
                t.join(wait)

    def close(self, wait: float | None = None) -> None:
        """Stop for good (Reset): the worker, if any, ends in CLOSED; without one the job is CLOSED now. Waits
        for the worker's acknowledgement as `pause` does (its default without `wait`)."""
        self.close_event.set()
        self.pause() if wait is None else self.pause(wait)
        with self._commands:
            if self._owner is None and self.progress.state is not S.CLOSED:
                self._set(S.CLOSED)

    # ---- state, published

    def _set(self, new: State | None = None, **changes) -> None:
        """Publish a new progress (a transition when `new` is given): the owner's only way to change it."""
        me = threading.current_thread()
        assert self._owner is None or self._owner is me, "only a job's worker changes its state"
        with self.lock:
            p = self._progress
            if new is not None and new is not p.state:
                check_transition(p.state, new)
                changes["state"] = new
            self._progress = replace(p, **changes)

    def _counts(self) -> tuple[int, int]:
        return sum(ln.n for ln in self.lanes.values()), sum(ln.budget for ln in self.lanes.values())

    # ---- the worker thread

    def _should_stop(self) -> bool:
        if self.stop_event.is_set() or self.close_event.is_set():
            return True
        if not session_alive(self.session_id):
            self._set(message="Stopped: the browser session that started this run has gone.")
            return True
        if self._beat.age() > heartbeat_seconds():
            self._set(message=f"Paused: this page stopped showing the run for {heartbeat_seconds():.0f} s (another "
                              "page, or a hidden tab). Start resumes it.")
            return True
        return False

    def _prepare(self) -> None:
        """The task, the training data and a trainer per lane (again after `_release_data`)."""
        s = self.settings
        if all(lane.trainer is not None and lane.trainer.data is not None for lane in self.lanes.values()):
            return
        if self.task is None or self.task.x_train.shape[0] == 0:
            self.task = load_task(s.task, s.T, s.seed, s.text)
            n_test = self.task.x_test.shape[0]
            self.eval_idx = np.arange(min(N_EVAL, n_test))
        task = self.task
        if task.arrangement == "encoder-decoder":   # outputs of their own length (info["decoder_len"])
            train = make_seq2seq_dataset(task.x_train, task.y_train, task.len_train, n_out=task.n_out)
        else:
            train = make_dataset(task.x_train, task.y_train, task.len_train, output=task.output, loss=task.loss,
                                 n_out=task.n_out)
        clip_norm = s.clip_at if s.clip == "norm" else None
        clip_value = s.clip_at if s.clip == "value" else None
        for lane in self.lanes.values():
            if lane.trainer is not None:
                lane.trainer.data = train   # resumed: the same rows, in the trainer's own order
            else:
                lane.model = build_model(task, lane.cell, s.H, s.seed, s.dtype)
                lane.trainer = Trainer(lane.model, train, optimizer=s.opt, lr=s.lr,
                                       momentum=s.mom if s.opt == "sgd" else 0.0, clip_norm=clip_norm,
                                       clip_value=clip_value, truncate=s.truncate, batch=s.batch, seed=s.seed,
                                       workspace=self.work)
        self._set(task=self.task, eval_idx=self.eval_idx)

    def _evaluate(self, lane: Lane) -> None:
        """Score the held-out sequences in chunks under the run's memory cap (MAX_RUN_NUMBERS, in the
        lanes' workspace), asking to stop before each chunk."""
        t0 = time.perf_counter()
        task, idx = self.task, self.eval_idx
        self._set(scoring=(0, len(idx), t0))

        def progress(done, total):
            self._set(scoring=(done, total, t0))
        try:
            with np.errstate(all="ignore"):  # a diverging network's metric may overflow: it is shown as it is
                res = lane.model.evaluate(task.x_test[idx], task.y_test[idx], task.len_test[idx],
                                          max_numbers=MAX_RUN_NUMBERS, stop=self._should_stop, progress=progress,
                                          _work=self.work)
                metric = float(task_metric(task, res.y, task.y_test[idx], task.len_test[idx]))
                free = free_y = None
                if isinstance(lane.model, EncoderDecoder):   # the decoder on its own outputs, as at test time
                    free_y = lane.model.free_running(task.x_test[idx], task.len_test[idx], task.y_test.shape[1],
                                                     max_numbers=MAX_RUN_NUMBERS, stop=self._should_stop)
                elif task.arrangement == "one-to-many":      # its own previous outputs fed back, as at test time
                    free_y = lane.model.free_running(task.x_test[idx], task.len_test[idx], task.info["feedback"],
                                                     max_numbers=MAX_RUN_NUMBERS, stop=self._should_stop)
                if free_y is not None:
                    free = float(task_metric(task, free_y, task.y_test[idx], task.len_test[idx]))
        finally:
            self._set(scoring=None)
            lane.eval_seconds += time.perf_counter() - t0
        with self.lock:
            lane.eval_step.append(lane.n)
            lane.eval_loss.append(res.loss)
            lane.eval_metric.append(metric)
            if free is not None:
                lane.eval_free_metric.append(free)
            lane.eval_y = res.y
            lane.eval_free_y = free_y
            p = self._progress
            self._progress = replace(p, version=p.version + 1, eval_version=p.eval_version + 1)

    def _work(self, n_updates: int | None, after=()) -> None:
        try:
            self._advance(n_updates, after)
        finally:
            with self._commands:
                if self.close_event.is_set():
                    self._set(S.CLOSED)
                self._owner = None
                self.idle.set()
            if os.environ.get("UNROLLED_TRAIN_TIMING"):  # for the browser tests and bench/bench_train_page.py
                print(f"train-end {self.kind} {self.state} {self.done_and_total()[0]} {self.message or ''}",
                      file=sys.stderr, flush=True)

    def _wait_for_gate(self, after=()) -> bool:
        """Hold the session's gate: every earlier worker of this session has stopped computing (one computing
        run per session, exactly). False when this run is asked to stop meanwhile."""
        for t in after:
            while t.is_alive():
                if self._should_stop():
                    return False
                t.join(0.05)
        while not self.gate.acquire(timeout=0.05):
            if self._should_stop():
                return False
        return True

    def _advance(self, n_updates: int | None, after=()) -> None:
        """The worker's run: QUEUED until it holds the gate and a slot, PREPARING, RUNNING, then PAUSED, DONE or
        FAILED. Called on the worker thread (or by a test on its own thread, with no worker alive)."""
        if self.progress.state is not S.QUEUED:   # called directly, without start()
            self._set(S.QUEUED)
        if not self._wait_for_gate(after):
            self._set(S.PAUSED)
            return
        try:
            pool = slots()
            if not pool.acquire(self._should_stop):
                self._set(S.PAUSED)
                return
            try:
                self._compute(n_updates)
            finally:
                self.work.release()  # a run that does not compute holds no pass arrays
                self._release_data()
                pool.release()
        finally:
            self.gate.release()

    def _compute(self, n_updates: int | None) -> None:
        try:
            self._set(S.PREPARING)
            self._prepare()
            self._set(S.RUNNING)
            goal = {c: ln.budget if n_updates is None else min(ln.budget, ln.n + n_updates)
                    for c, ln in self.lanes.items()}
            while not self._should_stop():
                todo = [ln for c, ln in self.lanes.items() if not ln.finished and ln.n < goal[c]]
                if not todo:
                    break
                for lane in todo:  # a race: one update of each cell in turn
                    self._update(lane)
                    if lane.stopped is None and lane.eval_seconds < EVAL_SHARE * lane.seconds[:lane.n].sum():
                        self._evaluate(lane)
            for lane in self.lanes.values():
                if lane.eval_step and lane.eval_step[-1] != lane.n:
                    self._evaluate(lane)
            self._set(S.DONE if all(ln.finished for ln in self.lanes.values()) else S.PAUSED)
        except EvaluationStopped:
            self._set(S.PAUSED)
        except Exception as exc:  # noqa: BLE001 - shown on the page, never lost in a thread
            self._set(S.FAILED, message=f"The run failed: {type(exc).__name__}: {plain(exc)}")

    def _release_data(self) -> None:
        """A run that stops computing keeps its weights, histories and the held-out sequences the charts
        show, not the training data (Start loads it again): a session, or a closed tab's session that
        Streamlit keeps for two minutes, holds a few MB per run instead of up to 176 MB."""
        if self.task is not None and self.task.x_train.shape[0]:
            self.task = held_out_only(self.task)
            self._set(task=self.task)
        for lane in self.lanes.values():
            if lane.trainer is not None:
                lane.trainer.data = None

    def _update(self, lane: Lane) -> None:
        t0 = time.perf_counter()
        try:
            rec = lane.trainer.step()
        except TrainingStopped as exc:
            with self.lock:
                lane.stopped = f"update {exc.step}: {exc.reason}"
                p = self._progress
                self._progress = replace(p, version=p.version + 1,
                                         compute_seconds=p.compute_seconds + time.perf_counter() - t0)
            return
        seconds = time.perf_counter() - t0
        with self.lock:
            i = lane.n
            lane.loss[i], lane.grad_norm[i] = rec.loss, rec.grad_norm
            lane.clipped[i], lane.seconds[i] = rec.clipped, rec.seconds
            lane.profile = np.asarray(rec.grad_h_norm, dtype=np.float64)
            if lane.profile_first is None:
                lane.profile_first = lane.profile
            lane.n = i + 1
            p = self._progress
            first = p.first_point_at if p.first_point_at is not None else time.perf_counter()
            self._progress = replace(p, done=p.done + 1, version=p.version + 1, first_point_at=first,
                                     compute_seconds=p.compute_seconds + seconds)
        self.first_update.set()
