"""The Train page's data: the task arrays every session shares (a byte-bounded cache), what the page says about
a task without its arrays, and a fresh network for a task's arrangement."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, fields, replace

import numpy as np
import streamlit as st

from engine import init_params, params_to_state_dict
from engine.batch import batch_gradients
from engine.models import EncoderDecoder, SequenceModel, initial_state
from engine.tasks import TaskData, make_task
from ui.train_settings import CELLS, DTYPES
from ui.training import N_EVAL, TASK_CACHE_BYTES
from ui.uploads import text_for


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
    ed = task.arrangement == "encoder-decoder"
    state = initial_state(cell, task.n_in, H, task.n_out, seed=seed, encoder_decoder=ed)
    if ed:
        return EncoderDecoder(state, cell=cell, dtype=dtype)
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
