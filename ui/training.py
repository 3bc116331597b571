"""Train page: the limits of its runs (slots, heartbeat, refresh), its exports and its task views.

A run trains one network on one task; a race trains the three cells on the same task, data, seed and
budget, one update of each in turn. Either happens in a worker thread that belongs to the browser
session (ui.train_job; the session's lab in ui.train_lab, the task data in ui.train_data, the settings
in ui.train_settings): the script thread only starts, pauses and reads it. The numba kernels release
the GIL, so a run does not freeze the page or other sessions. Rules:

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
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from engine.batch import batch_gradients
from engine.models import generate
from engine.tasks import TaskData
from ui import keys
from ui.admission import Admission
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

if TYPE_CHECKING:
    from ui.train_job import Job

# The task data every session shares (a T = 1000 adding task is 176 MB): the cache keeps the most recently
# used tasks up to this many bytes, so links with many seeds or lengths cannot pile them up.
TASK_CACHE_BYTES = 320e6
N_EVAL = 128               # held-out sequences scored for the metric and the task view
EVAL_SHARE = 0.10          # evaluation may use at most this share of the run's time
REFRESH_SECONDS = 0.25     # the charts' refresh period while a run computes
FIRST_POINT_WAIT = 0.4     # seconds Start may wait for the first update, so the first redraw shows it
TEXT_PRIME = "The "

_LAB = keys.TRAIN_LAB       # session key: the Lab (the run and the race of this session)


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


# ---------------------------------------------------------------- names that moved
# The task data and its cache live in ui.train_data, the worker in ui.train_job (its records in ui.train_state),
# the session's lab and the address mark in ui.train_lab. Their old names here still work (resolved on first
# use, so that those modules can import the settings above without a cycle).

_MOVED = {
    **dict.fromkeys(("ByteBoundedCache", "TaskFacts", "build_model", "held_out_only", "load_task", "task_cache",
                     "task_facts", "task_nbytes", "warm_training"), "ui.train_data"),
    **dict.fromkeys(("Lane", "LaneView", "Job", "State", "TRANSITIONS", "session_alive", "current_session_id"),
                    "ui.train_job"),
    **dict.fromkeys(("Lab", "lab", "mark_live_run", "server_id", "LIVE_PARAM", "INTERRUPTED"), "ui.train_lab"),
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    task = job.progress.task
    metric = task.metric_name if task is not None else "metric"
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
