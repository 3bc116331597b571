"""Train page settings: the URL-bound controls (prefixed `tr_`), their option tables and limits, and the
checks that fit a combination to the server's caps."""
from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import TYPE_CHECKING

import streamlit as st

from engine.tasks import TASKS
from ui import keys
from ui.config import BIND, CELL_LABELS, CELLS
from ui.state import Registry, Setting, check_link, link_notice, settings_class
from ui.uploads import text_digest

if TYPE_CHECKING:
    from ui.train_data import TaskFacts

OPTIMISERS = ("adam", "sgd")
CLIPS = ("norm", "value", "off")
TRUNCATIONS = ("full", "truncated")
DTYPES = ("float64", "float32")
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
MOMENTA = (0.0, 0.5, 0.9, 0.99)
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CLIP_AT = (0.01, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)
BUDGETS = (10, 50, 100, 200, 300, 400, 500, 600, 800, 1000, 1500, 2000, 3000, 5000, 10000)
T_MIN, T_MAX, H_MAX, K_MAX, SEED_MAX = 1, 1000, 256, 1000, 10_000
MAX_RUN_WORK = 2.0e10      # updates x B x T x H^2 per network (about 2 minutes of LSTM on one core)
# Memory of one update: the batched forward keeps every gate of every step of every sequence for the
# backward pass, at most 65 bytes per number T x B x 4H in float64 (measured: 50-60 for the LSTM, the
# largest cell, which a race also trains; tests/test_ui_training_memory.py). 4e6 numbers is about 260 MB per
# run: two runs at the cap (the server's two training slots) beside the fullest caches stay under the
# 1.5 GB of deploy/k8s.yaml (bench/bench_worst_memory.py). Without the cap B = 256, T = 1000, H = 256 would
# ask for 17 GB for a single update.
MAX_RUN_NUMBERS = 4.0e6    # T x B x 4 x H
RUN_BYTES_PER_NUMBER = 65  # float64 (half in float32): measured, see tests/test_ui_training_memory.py
MAX_RUN_BYTES = MAX_RUN_NUMBERS * RUN_BYTES_PER_NUMBER   # what one run or race may hold for its passes

CELL_TITLES = CELL_LABELS
# Tasks whose T (the page's slider) is not their number of input steps: T -> the steps of their longest input
# (what the memory and work caps count). Addition: two numbers of up to T digits and the plus sign.
STEPS_OF = {"add_digits": lambda T: 2 * T + 1}
OPT_TITLES = {"adam": "Adam", "sgd": "SGD"}


def _s(name: str, kind: str, default, lo=None, hi=None, options=None) -> Setting:
    return Setting(name, name, kind, lo, hi, options, default=default, param=f"tr_{name}")


# Every control of the page, in the order of TrainSettings' fields; "text" is not in the address.
TRAIN = Registry((
    _s("task", "choice", "adding", options=tuple(TASKS)),
    _s("cell", "choice", "lstm", options=CELLS),
    _s("T", "int", 100, T_MIN, T_MAX),
    _s("H", "int", 32, 1, H_MAX),
    _s("opt", "choice", "adam", options=OPTIMISERS),
    _s("lr", "grid", 1e-2, options=LRS),
    _s("mom", "grid", 0.9, options=MOMENTA),
    _s("batch", "grid", 32, options=BATCHES),
    _s("clip", "choice", "norm", options=CLIPS),
    _s("clip_at", "grid", 1.0, options=CLIP_AT),
    _s("trunc", "choice", "full", options=TRUNCATIONS),
    _s("k1", "int", 10, 1, K_MAX),
    _s("k2", "int", 20, 1, K_MAX),
    _s("dtype", "choice", "float64", options=DTYPES),
    _s("seed", "int", 0, 0, SEED_MAX),
    _s("steps", "grid", 600, options=BUDGETS),
    # the digest of an uploaded text for the character model ("": the Python documentation)
    Setting("text", "text", "str", default="", param=None),
), link_notice, strict=True)


@settings_class(TRAIN, kinds={"batch": "int", "steps": "int"})
class TrainSettings:
    """Everything a run depends on (primitives: hashable, the URL, the cache key of the task data): the
    settings of `TRAIN`."""

    @property
    def work(self) -> float:
        """updates x B x T x H^2: what MAX_RUN_WORK caps."""
        return float(self.steps) * self.batch * self.steps_per_sequence * self.H * self.H

    @property
    def numbers(self) -> float:
        """T x B x 4H: the numbers one update keeps for its backward pass, what MAX_RUN_NUMBERS caps."""
        return float(self.steps_per_sequence) * self.batch * 4 * self.H

    @property
    def steps_per_sequence(self) -> int:
        """The input steps of the task's sequences at this T (the addition task's T is its digits per number)."""
        return STEPS_OF.get(self.task, lambda T: T)(self.T)

    @property
    def truncate(self) -> tuple[int, int] | None:
        return (self.k1, self.k2) if self.trunc == "truncated" else None

    def describe(self, cell: str | None = None) -> str:
        c = cell or self.cell
        opt = f"{OPT_TITLES[self.opt]} lr {self.lr:g}" + (f", momentum {self.mom:g}" if self.opt == "sgd" else "")
        clip = {"norm": f"clip norm {self.clip_at:g}", "value": f"clip value {self.clip_at:g}", "off": "no clipping"}[
            self.clip]
        bptt = "full BPTT" if self.trunc == "full" else f"truncated BPTT (k1 = {self.k1}, k2 = {self.k2})"
        return (f"{TASKS[self.task].title}, {CELL_TITLES[c]}, T = {self.T}, H = {self.H}, {opt}, B = {self.batch}, "
                f"{clip}, {bptt}, {self.dtype}, seed {self.seed}")


def memory_note() -> str:
    """The page's sentence on the memory cap of a run (MAX_RUN_NUMBERS, MAX_RUN_BYTES)."""
    return (f"One run or race holds at most about {MAX_RUN_BYTES / 1e6:.0f} MB of the server's memory for its "
            f"passes (T × B × 4H ≤ {MAX_RUN_NUMBERS / 1e6:.0f} million numbers, half the bytes in float32); the "
            f"held-out sequences are scored in chunks of the same size.")


DEFAULT = TrainSettings()
FIELD_NAMES = tuple(f.name for f in fields(TrainSettings))


def task_seq_range(task: str) -> tuple[int, int]:
    lo, hi = TASKS[task].seq_len_range
    return max(lo, T_MIN), min(hi, T_MAX)


def truncation_note(s: TrainSettings, task: TaskFacts) -> str | None:
    """The sentence for truncated BPTT on sequences of different lengths read at their end (many-to-one, or an
    encoder): truncation counts steps on the padded time axis, and the loss reaches a short sequence through
    its padding (engine.batch.batch_gradients), so k2 may not reach its real steps at all."""
    if s.truncate is None or task.arrangement not in ("many-to-one", "encoder-decoder"):
        return None
    T, shortest, k2 = task.n_steps, task.min_steps, s.k2
    if not shortest or shortest > T - k2:
        return None
    reader = "the read-out" if task.arrangement == "many-to-one" else "the decoder"
    return (f"**Truncation and padding:** steps are counted on the padded time axis (T = {T}), and a sequence's "
            f"loss reaches its last real step through its padding. With k2 = {k2}, a sequence of {T - k2} steps or "
            f"fewer (the shortest here has {shortest}) sends no gradient to the recurrent weights: only {reader} "
            f"learns from it. k2 = {T - shortest + 1} or more reaches every sequence's last step.")


def fit_settings(s: TrainSettings) -> tuple[TrainSettings, list[str]]:
    """Adjust impossible or too heavy combinations; each adjustment comes with a sentence."""
    notes = []
    lo, hi = task_seq_range(s.task)
    if not lo <= s.T <= hi:
        T = min(max(s.T, lo), hi)
        notes.append(f"The {TASKS[s.task].title.lower()} needs T in [{lo}, {hi}]: T = {s.T} became T = {T}.")
        s = replace(s, T=T)
    if s.trunc == "truncated" and s.k1 > s.T:
        notes.append(f"k1 = {s.k1} is longer than the sequence: every chunk ends at T = {s.T} (full BPTT when "
                     f"k2 ≥ T).")
    if s.numbers > MAX_RUN_NUMBERS:
        T_steps = s.steps_per_sequence
        fits = [b for b in BATCHES if float(T_steps) * b * 4 * s.H <= MAX_RUN_NUMBERS] or [BATCHES[0]]
        notes.append(f"**Batch reduced:** B = {s.batch} sequences × {T_steps} steps × 4 gates × H = {s.H} would keep "
                     f"{s.numbers:.3g} numbers (about {s.numbers * RUN_BYTES_PER_NUMBER / 1e9:.1f} GB) for one update, over the limit "
                     f"of {MAX_RUN_NUMBERS:.3g} per run (the server is shared). This run uses **B = {fits[-1]}**.")
        s = replace(s, batch=fits[-1])
    if s.work > MAX_RUN_WORK:
        steps = max(1, int(MAX_RUN_WORK // (s.batch * s.steps_per_sequence * s.H * s.H)))
        notes.append(f"**Budget reduced:** {s.steps} updates × B = {s.batch} × {s.steps_per_sequence} steps × H² = {s.H}² is "
                     f"{s.work:.3g} multiply-adds, over the limit of {MAX_RUN_WORK:.3g} per run (the server is "
                     f"shared). This run stops after **{steps}** updates.")
        s = replace(s, steps=steps)
    return s, notes


def _task_changed() -> None:
    """A new task starts at its own default sequence length (the URL follows)."""
    task = st.session_state.get("tr_task", DEFAULT.task)
    if task in TASKS:
        st.session_state["tr_T"] = int(min(max(TASKS[task].seq_len, T_MIN), T_MAX))


def train_controls() -> tuple[TrainSettings, list[str]]:
    """The page's widgets (main area, URL-bound) -> (settings after adjustment, notes)."""
    with st.container(border=True):
        c = st.columns(4, gap="medium")
        task = c[0].selectbox("Task", tuple(TASKS), index=tuple(TASKS).index(DEFAULT.task), key="tr_task",
                              on_change=_task_changed, help="What the network learns; each task brings its own "
                              "data, arrangement, loss, metric and trivial baseline.", **BIND)
        cell = c[1].selectbox("Cell", CELLS, index=CELLS.index(DEFAULT.cell), key="tr_cell",
                              help="rnn: vanilla tanh RNN; lstm, gru: PyTorch's gated cells.", **BIND)
        T = c[2].slider("Sequence length T", T_MIN, T_MAX, DEFAULT.T, key="tr_T",
                        help="Steps per sequence (for the adding problem: how far apart the two marked "
                             "values can be; for digit addition, add_digits: the most digits of each number, "
                             "so a question has up to 2T + 1 steps).", **BIND)
        H = c[3].slider("Hidden units H", 1, H_MAX, DEFAULT.H, key="tr_H", **BIND)
        c = st.columns(4, gap="medium")
        opt = c[0].selectbox("Optimiser", OPTIMISERS, key="tr_opt", help="Adam or SGD, update for update as "
                             "torch.optim.", **BIND)
        lr = c[1].select_slider("Learning rate", LRS, value=DEFAULT.lr, key="tr_lr", **BIND)
        batch = c[2].select_slider("Batch size B", BATCHES, value=DEFAULT.batch, key="tr_batch", **BIND)
        steps = c[3].select_slider("Updates (budget)", BUDGETS, value=DEFAULT.steps, key="tr_steps",
                                   help="Updates per run, and per cell in a race.", **BIND)
        c = st.columns(4, gap="medium")
        clip = c[0].selectbox("Gradient clipping", CLIPS, key="tr_clip",
                              help="norm: rescale the whole gradient when its norm is above the threshold "
                                   "(keeps the direction); value: clip every entry; off: none.", **BIND)
        clip_at = c[1].select_slider("Clipping threshold", CLIP_AT, value=DEFAULT.clip_at, key="tr_clip_at",
                                     disabled=clip == "off", **BIND)
        trunc = c[2].selectbox("BPTT", TRUNCATIONS, key="tr_trunc",
                               help="full: back to step 1. truncated: every k1 steps, back k2 steps.", **BIND)
        k = c[3].columns(2)
        k1 = k[0].number_input("k1", 1, K_MAX, DEFAULT.k1, key="tr_k1", disabled=trunc == "full", **BIND)
        k2 = k[1].number_input("k2", 1, K_MAX, DEFAULT.k2, key="tr_k2", disabled=trunc == "full", **BIND)
        c = st.columns(4, gap="medium")
        mom = c[0].select_slider("SGD momentum", MOMENTA, value=DEFAULT.mom, key="tr_mom",
                                 disabled=opt != "sgd", **BIND)
        dtype = c[1].selectbox("Float type", DTYPES, key="tr_dtype",
                               help="float64 is exact to the last digit; float32 is what GPUs use.", **BIND)
        seed = c[2].number_input("Seed", 0, SEED_MAX, DEFAULT.seed, key="tr_seed",
                                 help="Data, initial weights and batch order.", **BIND)
    raw = TrainSettings(task=_pick(task, TASKS, DEFAULT.task), cell=_pick(cell, CELLS, DEFAULT.cell),
                        T=_int(T, DEFAULT.T), H=_int(H, DEFAULT.H), opt=_pick(opt, OPTIMISERS, DEFAULT.opt),
                        lr=_num(lr, LRS, DEFAULT.lr), mom=_num(mom, MOMENTA, DEFAULT.mom),
                        batch=_int(batch, DEFAULT.batch), clip=_pick(clip, CLIPS, DEFAULT.clip),
                        clip_at=_num(clip_at, CLIP_AT, DEFAULT.clip_at),
                        trunc=_pick(trunc, TRUNCATIONS, DEFAULT.trunc), k1=_int(k1, DEFAULT.k1),
                        k2=_int(k2, DEFAULT.k2), dtype=_pick(dtype, DTYPES, DEFAULT.dtype),
                        seed=_int(seed, DEFAULT.seed), steps=_int(steps, DEFAULT.steps),
                        text=text_digest() if task == "text" else "")
    settings, notes = fit_settings(raw)
    if settings.text:
        notes.append("The character model learns **your text** (uploaded under “Your own data” in the sidebar) "
                     "instead of the Python documentation.")
    return settings, notes


def _pick(v, options, default):
    return v if v in options else default


def _int(v, default: int) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return int(f) if math.isfinite(f) else default


def _num(v, options, default: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return min(options, key=lambda o: abs(o - f)) if math.isfinite(f) else default


def sanitize_url() -> list[str]:
    """Once per session, before the widgets exist: URL values a widget cannot take are replaced by the
    nearest valid one (numbers) or dropped (choices), so a garbage link opens the page with a notice
    instead of an error. Returns the notices."""
    return check_link(TRAIN, "tr_", keys.TR_URL_CHECKED, keys.TR_URL_NOTICES)


def _same_number(raw: str, v: float) -> bool:
    try:
        return float(raw) == v
    except ValueError:
        return False
