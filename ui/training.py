"""Train page: its own controls (URL-bound, prefixed `tr_`) and the runs behind it.

A run trains one network on one task; a race trains the three cells on the same task, data, seed and
budget, one update of each in turn. Either happens in a worker thread that belongs to the browser
session: the script thread only starts, pauses and reads it. The numba kernels release the GIL, so
a run does not freeze the page or other sessions. Rules:

- at most one run or race per session is computing (starting one pauses the other);
- at most `max_runs()` computing on the whole server (a semaphore shared by all sessions, created
  once per process); a run that finds no free slot waits and says so ("queued");
- work per run is capped (`MAX_RUN_WORK`, updates x B x T x H^2): the page shows when the budget was cut;
- a run stops when its session goes away (the browser tab closed) and pauses when the page stops
  reading its progress for `heartbeat_seconds()` (another page, or a hidden tab), so no thread
  outlives the session that started it.
"""
from __future__ import annotations

import io
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields, replace

import numpy as np
import streamlit as st

from engine import init_params, params_to_state_dict
from engine.tasks import TaskData, make_task, task_metric
from engine.train import (
    EncoderDecoder,
    EvaluationStopped,
    SequenceModel,
    Trainer,
    TrainingStopped,
    Workspace,
    batch_gradients,
    generate,
    make_dataset,
    make_seq2seq_dataset,
)
from ui.admission import Admission
from ui.plain import plain
from ui.streamlit_compat import streamlit_internal
from ui.train_settings import (  # noqa: F401  re-exported: the page, tests and benchmarks import them from here
    BATCHES,
    BUDGETS,
    CELL_TITLES,
    CELLS,
    CLIP_AT,
    CLIPS,
    DEFAULT,
    DTYPES,
    FIELD_NAMES,
    H_MAX,
    K_MAX,
    LRS,
    MAX_RUN_BYTES,
    MAX_RUN_NUMBERS,
    MAX_RUN_WORK,
    MOMENTA,
    OPT_TITLES,
    OPTIMISERS,
    RUN_BYTES_PER_NUMBER,
    SEED_MAX,
    STEPS_OF,
    T_MAX,
    T_MIN,
    TRUNCATIONS,
    TrainSettings,
    _int,
    _num,
    _pick,
    _same_number,
    _task_changed,
    fit_settings,
    memory_note,
    sanitize_url,
    task_seq_range,
    train_controls,
    truncation_note,
)
from ui.uploads import text_for

# The task data every session shares (a T = 1000 adding task is 176 MB): the cache keeps the most recently
# used tasks up to this many bytes, so links with many seeds or lengths cannot pile them up.
TASK_CACHE_BYTES = 320e6
N_EVAL = 128               # held-out sequences scored for the metric and the task view
EVAL_SHARE = 0.10          # evaluation may use at most this share of the run's time
REFRESH_SECONDS = 0.25     # the charts' refresh period while a run computes
FIRST_POINT_WAIT = 0.4     # seconds Start may wait for the first update, so the first redraw shows it
TEXT_PRIME = "The "

_LAB = "_train_lab"        # session key: the Lab (the run and the race of this session)


def max_runs() -> int:
    """Runs (or races) computing at once on this server: UNROLLED_TRAIN_SLOTS, default the core count."""
    raw = os.environ.get("UNROLLED_TRAIN_SLOTS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else max(1, os.cpu_count() or 1)


def heartbeat_seconds() -> float:
    """A run pauses when the page has not read its progress for this long (UNROLLED_TRAIN_HEARTBEAT)."""
    try:
        v = float(os.environ.get("UNROLLED_TRAIN_HEARTBEAT", "30"))
    except ValueError:
        v = 30.0
    return v if math.isfinite(v) and v > 0 else 30.0


class Slots(Admission):
    """The server-wide cap on computing runs: `Admission`'s counting semaphore, waited on until the run's
    stop() says to give up (`acquire(stop=...)`)."""

    @property
    def busy(self) -> int:
        return self.running

    def acquire(self, stop) -> bool:  # type: ignore[override]
        return super().acquire(stop=stop)


@st.cache_resource(show_spinner=False)
def slots() -> Slots:
    """One semaphore for the whole server process."""
    return Slots(max_runs())


# ---------------------------------------------------------------- tasks and models


def task_nbytes(task: TaskData) -> int:
    """Bytes of a task's arrays (those of its fields and of its info dict)."""
    values = [getattr(task, f.name) for f in fields(task)]
    values += list(getattr(task, "info", {}).values())
    return sum(v.nbytes for v in values if isinstance(v, np.ndarray))


class ByteBoundedCache:
    """Least recently used entries up to a total of ``max_bytes`` (an entry larger than that is built
    and returned, never kept). A key is built once even when several sessions ask at the same time."""

    def __init__(self, max_bytes: float, size_of):
        self.max_bytes, self.size_of = float(max_bytes), size_of
        self.entries: OrderedDict = OrderedDict()   # key -> (value, bytes)
        self.lock = threading.Lock()
        self.building: dict = {}                    # key -> Lock held while it is built

    @property
    def nbytes(self) -> int:
        return sum(b for _, b in self.entries.values())

    def get(self, key, build):
        while True:
            with self.lock:
                if key in self.entries:
                    self.entries.move_to_end(key)
                    return self.entries[key][0]
                pending = self.building.get(key)
                if pending is None:
                    pending = self.building[key] = threading.Lock()
                    pending.acquire()
                    break
            with pending:  # another session builds it: wait, then look again
                pass
        try:
            value = build()
            n = int(self.size_of(value))
            with self.lock:
                if n <= self.max_bytes:
                    self.entries[key] = (value, n)
                    while self.nbytes > self.max_bytes:
                        self.entries.popitem(last=False)
            return value
        finally:
            with self.lock:
                self.building.pop(key, None)
            pending.release()

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


@dataclass(frozen=True)
class TaskFacts:
    """What the page says about a task, without its arrays (a page's variables outlive its run: Streamlit
    keeps a closed tab's session for two minutes, and a fragment keeps the page's globals)."""

    name: str
    title: str
    arrangement: str
    baseline: float
    baseline_name: str
    metric_name: str
    info: dict
    n_out: int
    n_train: int
    n_test: int
    n_steps: int = 0    # input steps of a sequence (padded); an encoder-decoder's decoder has info["decoder_len"]
    min_steps: int = 0  # the shortest training sequence's length (n_steps when the lengths do not vary)


def task_facts(task: TaskData) -> TaskFacts:
    small = {k: v for k, v in task.info.items() if not isinstance(v, np.ndarray) or v.nbytes <= 1 << 16}
    return TaskFacts(task.name, task.title, task.arrangement, task.baseline, task.baseline_name, task.metric_name,
                     small, task.n_out, task.x_train.shape[0], task.x_test.shape[0], task.x_train.shape[1],
                     int(task.len_train.min()) if task.len_train.size else task.x_train.shape[1])


def held_out_only(task: TaskData) -> TaskData:
    """The task with its first N_EVAL held-out sequences only (what the charts read after a run), copied so
    that the full arrays can go."""
    def none(a):
        return np.empty((0,) + a.shape[1:], dtype=a.dtype)
    n = min(N_EVAL, task.x_test.shape[0])
    return replace(task, x_train=none(task.x_train), y_train=none(task.y_train), len_train=none(task.len_train),
                   x_test=task.x_test[:n].copy(), y_test=task.y_test[:n].copy(), len_test=task.len_test[:n].copy())


@st.cache_resource(show_spinner=False)
def task_cache() -> ByteBoundedCache:
    """One task cache for the whole server process."""
    return ByteBoundedCache(TASK_CACHE_BYTES, task_nbytes)


def load_task(name: str, T: int, seed: int, text: str = "") -> TaskData:
    """The task's arrays (shared by every session that asks for the same ones; never modified)."""
    def build():
        own = {"text": text_for(text)} if name == "text" and text else {}  # an uploaded text, by digest
        return make_task(name, seq_len=T, seed=seed, **own)
    return task_cache().get((name, int(T), int(seed), text), build)


def build_model(task: TaskData, cell: str, H: int, seed: int, dtype: str):
    """A fresh network for the task's arrangement, weights under PyTorch's state-dict keys."""
    D, O = task.n_in, task.n_out
    if task.arrangement == "encoder-decoder":
        enc = params_to_state_dict(init_params(D, H, 1, cell=cell, seed=seed))
        dec = params_to_state_dict(init_params(O + 1, H, O, cell=cell, output="softmax", seed=seed + 1))
        state = {**{"encoder." + k: v for k, v in enc.items() if not k.startswith("head.")},
                 **{"decoder." + k: v for k, v in dec.items()}}
        return EncoderDecoder(state, cell=cell, dtype=dtype)
    state = params_to_state_dict(init_params(D, H, O, cell=cell, seed=seed))
    return SequenceModel(state, cell=cell, output=task.output, loss=task.loss, dtype=dtype)


@st.cache_resource(show_spinner="Preparing the training kernels…")
def warm_training() -> bool:
    """Compile (or load) the batch kernels of the three cells once per process, so Start is quick."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 1))
    for cell in CELLS:
        for dtype in DTYPES:
            sd = params_to_state_dict(init_params(2, 3, 1, cell=cell, seed=0))
            batch_gradients(sd, x, y, cell=cell, dtype=dtype)
    return True


# ---------------------------------------------------------------- one network's training, recorded


@dataclass
class Lane:
    """One network being trained, and everything the charts read (filled by the worker thread)."""

    cell: str
    budget: int
    model: object = None
    trainer: Trainer | None = None
    loss: np.ndarray = None          # (budget,) batch loss before each update
    grad_norm: np.ndarray = None     # (budget,) gradient norm before clipping
    clipped: np.ndarray = None       # (budget,) bool
    seconds: np.ndarray = None       # (budget,) per update
    n: int = 0                       # updates done
    profile: np.ndarray | None = None        # ||dL/dh_t|| of the latest batch (T,)
    profile_first: np.ndarray | None = None  # ... of the first update's batch
    eval_step: list = field(default_factory=list)
    eval_loss: list = field(default_factory=list)
    eval_metric: list = field(default_factory=list)
    eval_free_metric: list = field(default_factory=list)   # encoder-decoder, one-to-many: the metric free-running
    eval_y: np.ndarray | None = None         # outputs on the evaluation sequences, latest evaluation
    eval_free_y: np.ndarray | None = None    # ... free-running (encoder-decoder, one-to-many), latest evaluation
    stopped: str | None = None               # why training stopped early (divergence)
    eval_seconds: float = 0.0

    def __post_init__(self):
        self.loss = np.full(self.budget, np.nan)
        self.grad_norm = np.full(self.budget, np.nan)
        self.clipped = np.zeros(self.budget, dtype=bool)
        self.seconds = np.zeros(self.budget)

    @property
    def finished(self) -> bool:
        return self.n >= self.budget or self.stopped is not None


@dataclass(frozen=True)
class LaneView:
    """A consistent copy of a lane for drawing (the worker keeps writing to the lane)."""

    cell: str
    n: int
    budget: int
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    seconds: np.ndarray
    profile: np.ndarray | None
    profile_first: np.ndarray | None
    eval_step: np.ndarray
    eval_loss: np.ndarray
    eval_metric: np.ndarray
    eval_free_metric: np.ndarray
    eval_y: np.ndarray | None
    stopped: str | None
    eval_free_y: np.ndarray | None = None


class Job:
    """A run (one lane) or a race (three lanes) and the thread that advances it."""

    def __init__(self, settings: TrainSettings, kind: str, session_id: str | None):
        self.settings, self.kind, self.session_id = settings, kind, session_id
        cells = (settings.cell,) if kind == "run" else CELLS
        self.lanes = {c: Lane(c, settings.steps) for c in cells}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.first_update = threading.Event()
        self.thread: threading.Thread | None = None
        self.state = "new"         # new, preparing, queued, running, paused, done, error
        self.message: str | None = None
        self.task: TaskData | None = None
        self.eval_idx: np.ndarray | None = None
        self.last_seen = time.monotonic()
        self.started_at: float | None = None
        self.first_point_at: float | None = None
        self.compute_seconds = 0.0
        self.version = 0           # bumps on every recorded update (the charts redraw on change)
        self.eval_version = 0
        self.work = Workspace()    # the passes' arrays, shared by the lanes (they take turns) and the scoring
        self.after: list[threading.Thread] = []   # workers of this session that must end before this one computes
        self.scoring: tuple[int, int, float] | None = None   # (sequences scored, of, since) during an evaluation

    # ---- what the script thread calls

    @property
    def active(self) -> bool:
        t = self.thread
        return t is not None and t.is_alive()

    @property
    def finished(self) -> bool:
        return all(lane.finished for lane in self.lanes.values())

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def start(self, n_updates: int | None = None, after=()) -> None:
        """Advance by n_updates per lane (None: to the end of the budget) in a new worker thread, which
        computes only once the threads ``after`` (this session's other workers, still stopping) have ended."""
        if self.active or self.finished:
            return
        self.after = [t for t in after if t is not None and t.is_alive() and t is not threading.current_thread()]
        self.stop_event.clear()
        self.touch()
        self.started_at = time.perf_counter()
        self.first_point_at = None
        self.message = None
        self.state = "queued"
        self.first_update.clear()
        self.thread = threading.Thread(target=self._work, args=(n_updates,), daemon=True,
                                       name=f"train-{self.kind}-{self.session_id}")
        self.thread.start()
        # A short, bounded wait: the rerun that follows the click then already draws the first point.
        self.first_update.wait(FIRST_POINT_WAIT)

    def pause(self, wait: float = 2.0) -> None:
        self.stop_event.set()
        t = self.thread
        if t is not None and t is not threading.current_thread():
            t.join(wait)

    def snapshot(self) -> dict[str, LaneView]:
        with self.lock:
            return {c: LaneView(c, ln.n, ln.budget, ln.loss[:ln.n].copy(), ln.grad_norm[:ln.n].copy(),
                                ln.clipped[:ln.n].copy(), ln.seconds[:ln.n].copy(),
                                None if ln.profile is None else ln.profile.copy(),
                                None if ln.profile_first is None else ln.profile_first.copy(),
                                np.array(ln.eval_step, dtype=np.int64), np.array(ln.eval_loss),
                                np.array(ln.eval_metric), np.array(ln.eval_free_metric), ln.eval_y, ln.stopped,
                                ln.eval_free_y)
                    for c, ln in self.lanes.items()}

    def done_and_total(self) -> tuple[int, int]:
        return sum(ln.n for ln in self.lanes.values()), sum(ln.budget for ln in self.lanes.values())

    def seconds_left(self) -> float | None:
        done, total = self.done_and_total()
        if done == 0:
            return None
        left = self.compute_seconds / done * (total - done)
        scoring = self.scoring
        if scoring is not None and scoring[0] > 0:  # the rest of this evaluation, at its own pace so far
            n, of, since = scoring
            left += (time.perf_counter() - since) / n * (of - n)
        return left

    def model(self, cell: str | None = None):
        lane = self.lanes[cell or next(iter(self.lanes))]
        return lane.model

    # ---- the worker thread

    def _should_stop(self) -> bool:
        if self.stop_event.is_set():
            return True
        if not session_alive(self.session_id):
            self.message = "Stopped: the browser session that started this run has gone."
            return True
        if time.monotonic() - self.last_seen > heartbeat_seconds():
            self.message = (f"Paused: this page stopped showing the run for {heartbeat_seconds():.0f} s (another "
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

    def _evaluate(self, lane: Lane) -> None:
        """Score the held-out sequences in chunks under the run's memory cap (MAX_RUN_NUMBERS, in the
        lanes' workspace), asking to stop before each chunk."""
        t0 = time.perf_counter()
        task, idx = self.task, self.eval_idx
        self.scoring = (0, len(idx), t0)

        def progress(done, total):
            self.scoring = (done, total, t0)
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
            self.scoring = None
            lane.eval_seconds += time.perf_counter() - t0
        with self.lock:
            lane.eval_step.append(lane.n)
            lane.eval_loss.append(res.loss)
            lane.eval_metric.append(metric)
            if free is not None:
                lane.eval_free_metric.append(free)
            lane.eval_y = res.y
            lane.eval_free_y = free_y
            self.eval_version += 1

    def _work(self, n_updates: int | None) -> None:
        try:
            self._advance(n_updates)
        finally:
            if os.environ.get("UNROLLED_TRAIN_TIMING"):  # for the browser tests and bench/bench_train_page.py
                print(f"train-end {self.kind} {self.state} {self.done_and_total()[0]} {self.message or ''}",
                      file=sys.stderr, flush=True)

    def _wait_for_predecessors(self) -> bool:
        """Wait until this session's earlier workers have ended (one computing run per session, exactly);
        False when this run is asked to stop meanwhile."""
        for t in self.after:
            while t.is_alive():
                if self._should_stop():
                    return False
                t.join(0.05)
        self.after = []
        return True

    def _advance(self, n_updates: int | None) -> None:
        if not self._wait_for_predecessors():
            self.state = "paused"
            return
        pool = slots()
        if not pool.acquire(self._should_stop):
            self.state = "paused"
            return
        try:
            self._prepare()
            self.state = "running"
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
            self.state = "done" if self.finished else "paused"
        except EvaluationStopped:
            self.state = "paused"
        except Exception as exc:  # noqa: BLE001 - shown on the page, never lost in a thread
            self.state = "error"
            self.message = f"The run failed: {type(exc).__name__}: {plain(exc)}"
        finally:
            self.work.release()  # a run that does not compute holds no pass arrays
            self._release_data()
            pool.release()

    def _release_data(self) -> None:
        """A run that stops computing keeps its weights, histories and the held-out sequences the charts
        show, not the training data (Start loads it again): a session, or a closed tab's session that
        Streamlit keeps for two minutes, holds a few MB per run instead of up to 176 MB."""
        if self.task is not None and self.task.x_train.shape[0]:
            self.task = held_out_only(self.task)
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
            return
        finally:
            self.compute_seconds += time.perf_counter() - t0
        with self.lock:
            i = lane.n
            lane.loss[i], lane.grad_norm[i] = rec.loss, rec.grad_norm
            lane.clipped[i], lane.seconds[i] = rec.clipped, rec.seconds
            lane.profile = np.asarray(rec.grad_h_norm, dtype=np.float64)
            if lane.profile_first is None:
                lane.profile_first = lane.profile
            lane.n = i + 1
            self.version += 1
            if self.first_point_at is None and self.started_at is not None:
                self.first_point_at = time.perf_counter()
        self.first_update.set()


def session_alive(session_id: str | None) -> bool:
    """False once the browser session is gone (tab closed, connection lost). Streamlit internals
    (listed in ui.streamlit_compat.STREAMLIT_INTERNALS): without them a run is not stopped early, it ends with
    its budget."""
    exists = streamlit_internal("streamlit.runtime", "exists")
    get_instance = streamlit_internal("streamlit.runtime", "get_instance")
    if session_id is None or exists is None or get_instance is None:
        return True
    try:
        if not exists():
            return True
        is_active = streamlit_internal("streamlit.runtime.runtime", "Runtime.is_active_session",
                                       obj=get_instance())
        return True if is_active is None else bool(is_active(session_id))
    except Exception:  # noqa: BLE001 - no runtime: nothing to follow
        return True


def current_session_id() -> str | None:
    """The browser session of this script run (a Streamlit internal; None when unavailable)."""
    get_ctx = streamlit_internal("streamlit.runtime.scriptrunner", "get_script_run_ctx")
    try:
        ctx = get_ctx() if get_ctx is not None else None
    except Exception:  # noqa: BLE001
        ctx = None
    if ctx is None:
        return None
    session_id = streamlit_internal("streamlit.runtime.scriptrunner_utils.script_run_context",
                                    "ScriptRunContext.session_id", obj=ctx)
    return session_id if isinstance(session_id, str) else None


# ---------------------------------------------------------------- the session's lab: a run and a race


class Lab:
    """The run and the race of one browser session; at most one of them computes."""

    def __init__(self):
        self.run: Job | None = None
        self.race: Job | None = None
        self.retired: list[threading.Thread] = []   # workers of replaced jobs that may still be stopping

    def jobs(self):
        return [j for j in (self.run, self.race) if j is not None]

    @property
    def active(self) -> Job | None:
        return next((j for j in self.jobs() if j.active), None)

    def _retire(self, job: Job | None) -> None:
        """Ask a job to stop and remember its worker until it has ended."""
        if job is not None:
            job.pause()
            if job.active:
                self.retired.append(job.thread)

    def _exclusive(self, keep: Job | None) -> list[threading.Thread]:
        """Stop every other job of this session; the workers the new one must wait for."""
        for j in self.jobs():
            if j is not keep and j.active:
                j.pause()
        self.retired = [t for t in self.retired if t.is_alive()]
        return self.retired + [j.thread for j in self.jobs() if j is not keep and j.active]

    def start(self, s: TrainSettings, n_updates: int | None = None) -> None:
        if self.run is None or self.run.settings != s or self.run.finished and n_updates is None:
            self._retire(self.run)
            self.run = Job(s, "run", current_session_id())
            self.run._prepare()
        self.run.start(n_updates, after=self._exclusive(self.run))

    def step(self, s: TrainSettings) -> None:
        if self.run is not None and self.run.active:
            return
        if self.run is not None and self.run.settings == s and self.run.finished:
            return
        self.start(s, n_updates=1)
        self.run.thread.join(1.0)  # one update: usually milliseconds; the charts follow if it takes longer

    def start_race(self, s: TrainSettings) -> None:
        if self.race is None or self.race.settings != s or self.race.finished:
            self._retire(self.race)
            self.race = Job(s, "race", current_session_id())
            self.race._prepare()
        self.race.start(after=self._exclusive(self.race))

    def pause(self) -> None:
        for j in self.jobs():
            j.pause()

    def reset(self) -> None:
        self._retire(self.run)
        self._retire(self.race)
        self.run = None
        self.race = None


def lab() -> Lab:
    if _LAB not in st.session_state:
        st.session_state[_LAB] = Lab()
    return st.session_state[_LAB]


# ---------------------------------------------------------------- a run the server lost

LIVE_PARAM = "train_live"   # in the address while a run or race computes: the id of the server process running it
INTERRUPTED = ("**The previous training run was interrupted:** the server restarted (or this tab moved to another "
               "server) while it was computing, and its progress was lost. The settings above are those of the "
               "address; press **Start** to train again.")


@st.cache_resource(show_spinner=False)
def server_id() -> str:
    """A random id of this server process (a restarted server, or another replica, has another one)."""
    import secrets

    return secrets.token_hex(6)


def mark_live_run(the_lab: Lab) -> str | None:
    """Keep the address saying whether this session's run computes (call on every full run of the page).

    A session lives in one server process: when that process dies (a crash, kill -9, a replica replaced),
    the tab reconnects to a new session that knows nothing of the run. The address it reconnects with
    still carries the old server's id, which is how the new session can tell. Returns the notice to show
    (until the next Start or Reset), else None. A copied link carries the mark too: on the same server
    with no run in this session it is simply dropped.
    """
    here = server_id()
    marked = st.query_params.get(LIVE_PARAM)
    if the_lab.active is not None:
        if marked != here:
            st.query_params[LIVE_PARAM] = here
        return None
    if marked is not None:
        del st.query_params[LIVE_PARAM]
        if marked != here and not the_lab.jobs():
            st.session_state["_tr_interrupted"] = True
    if the_lab.jobs():
        st.session_state.pop("_tr_interrupted", None)
    return INTERRUPTED if st.session_state.get("_tr_interrupted") else None


# ---------------------------------------------------------------- exports


def weights_npz(model) -> bytes:
    """The weights under PyTorch's state-dict keys (torch.load-free: numpy's .npz)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in model.state.items()})
    return buf.getvalue()


def history_csv(job: Job) -> str:
    """One row per update and network: step, cell, loss, gradient norm, clipped, seconds, and the
    held-out loss and metric where an evaluation happened after that update."""
    views = job.snapshot()
    metric = job.task.metric_name if job.task is not None else "metric"
    out = [f"cell,update,batch_loss,grad_norm_before_clipping,clipped,seconds,test_loss,test_{metric.replace(' ', '_')}"]
    for c, v in views.items():
        ev = {int(s): (l, m) for s, l, m in zip(v.eval_step, v.eval_loss, v.eval_metric)}
        for i in range(v.n):
            tl, tm = ev.get(i + 1, ("", ""))
            out.append(f"{c},{i + 1},{v.loss[i]:.10g},{v.grad_norm[i]:.10g},{int(v.clipped[i])},{v.seconds[i]:.6f},"
                       f"{tl if tl == '' else format(tl, '.10g')},{tm if tm == '' else format(tm, '.10g')}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- task views: what the network does now


def text_sample(model, task: TaskData, temperature: float, seed: int, n: int = 240, prime: str = TEXT_PRIME) -> str:
    """n characters generated by the current weights after `prime`, at `temperature`."""
    from engine.tasks import decode_text, encode_text

    vocab = task.info["vocabulary"]
    codes = encode_text(prime, vocab)
    x = np.zeros((len(codes), task.n_in))
    x[np.arange(len(codes)), codes] = 1.0
    out = generate(model, x, n, temperature=temperature, seed=seed)
    return prime + decode_text(out, vocab)


def addition_rows(task: TaskData, idx, y_teacher, y_free, n: int = 8) -> dict:
    """The first n held-out questions of the addition task as strings: the question, the target and the
    decoder's answers (every output symbol, end symbols included), and whether the free-running one is right."""
    from engine.tasks import addition_question, decode_symbols, exact_match

    symbols = task.info["output_symbols"]
    n = min(n, len(idx))
    rows = {"question": [], "target": [], "free-running answer": [], "right?": [], "teacher-forced answer": []}
    free_ok = exact_match(y_free[:n], task.y_test[idx[:n]])
    for i in range(n):
        rows["question"].append(addition_question(task.x_test[idx[i]], task.len_test[idx[i]]))
        rows["target"].append(decode_symbols(task.y_test[idx[i]], symbols))
        rows["free-running answer"].append(decode_symbols(np.asarray(y_free[i]).argmax(-1), symbols))
        rows["right?"].append("yes" if free_ok[i] else "no")
        rows["teacher-forced answer"].append(decode_symbols(np.asarray(y_teacher[i]).argmax(-1), symbols))
    return rows


def exact_matches(task: TaskData, idx, y_teacher, y_free) -> tuple[int, int]:
    """How many of the scored held-out sequences the decoder gets entirely right: (teacher-forced, free-running)."""
    from engine.tasks import exact_match

    y = task.y_test[idx]
    return int(exact_match(y_teacher, y).sum()), int(exact_match(y_free, y).sum())


def series_forecast(model, task: TaskData) -> dict:
    """One-step-ahead predictions over the whole standardised series (fed as one sequence) and a
    free-running forecast of the held-out part from the state at the split."""
    z = np.asarray(task.info["values"], dtype=np.float64)
    split = int(task.info["split"])
    x = z[None, :-1, None]
    res = batch_gradients(model.state, x, z[None, 1:, None], cell=model.cell, output="identity", loss="all")
    one_step = res.y[0, :, 0]  # prediction of z[t + 1]
    free = generate(model, z[:split, None], len(z) - split, temperature=None)[:, 0]
    return dict(values=z, split=split, one_step=one_step, free=free, labels=task.info.get("labels"),
                title=task.info.get("series_title", "series"))
