"""The Train page's job records: the states and their transitions, a lane (one network's training, as the worker
writes it), the frozen views and progress the page reads, and the browser session a job belongs to."""
from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from engine.tasks import TaskData
from engine.trainer import Trainer
from ui.streamlit_compat import current_session_id, streamlit_internal  # noqa: F401  (current_session_id: re-exported)


class State(enum.StrEnum):
    """A job's state; the values are the strings the page and its tests compare with."""

    NEW = "new"
    QUEUED = "queued"
    PREPARING = "preparing"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "error"
    CLOSED = "closed"


S = State
TRANSITIONS: dict[State, frozenset[State]] = {
    S.NEW: frozenset({S.QUEUED, S.CLOSED}),
    S.QUEUED: frozenset({S.PREPARING, S.PAUSED, S.CLOSED}),
    S.PREPARING: frozenset({S.RUNNING, S.PAUSED, S.FAILED, S.CLOSED}),
    S.RUNNING: frozenset({S.PAUSED, S.DONE, S.FAILED, S.CLOSED}),
    S.PAUSED: frozenset({S.QUEUED, S.CLOSED}),
    S.DONE: frozenset({S.CLOSED}),
    S.FAILED: frozenset({S.QUEUED, S.CLOSED}),
    S.CLOSED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change that TRANSITIONS does not allow."""


def check_transition(old: State, new: State) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"{old.name} -> {new.name} is not a transition of a training job")


# ---------------------------------------------------------------- one network's training, recorded


@dataclass
class Lane:
    """One network being trained, and everything the charts read (the worker's own: the page reads views)."""

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

    @property
    def finished(self) -> bool:
        return self.n >= self.budget or self.stopped is not None


def lane_view(ln: Lane) -> LaneView:
    return LaneView(ln.cell, ln.n, ln.budget, ln.loss[:ln.n].copy(), ln.grad_norm[:ln.n].copy(),
                    ln.clipped[:ln.n].copy(), ln.seconds[:ln.n].copy(),
                    None if ln.profile is None else ln.profile.copy(),
                    None if ln.profile_first is None else ln.profile_first.copy(),
                    np.array(ln.eval_step, dtype=np.int64), np.array(ln.eval_loss), np.array(ln.eval_metric),
                    np.array(ln.eval_free_metric), ln.eval_y, ln.stopped, ln.eval_free_y)


@dataclass(frozen=True)
class Progress:
    """What the page reads of a job: one consistent, immutable moment of it."""

    state: State
    message: str | None
    views: dict          # cell -> LaneView (built when the page asks, for the version it asks at)
    done: int
    total: int
    version: int         # bumps on every recorded update (the charts redraw on change)
    eval_version: int
    compute_seconds: float
    scoring: tuple[int, int, float] | None   # (sequences scored, of, since) during an evaluation
    task: TaskData | None
    eval_idx: np.ndarray | None
    first_point_at: float | None


class Beat:
    """The page's heartbeat: the last time it read the job's progress (written by the script thread)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._t = time.monotonic()

    def touch(self) -> None:
        with self._lock:
            self._t = time.monotonic()

    def age(self) -> float:
        with self._lock:
            return time.monotonic() - self._t


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
