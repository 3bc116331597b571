"""Learnable sequence tasks: synthetic generators and offline real data, each with its trivial baseline.

    from engine.tasks import make_task, baseline_loss
    task = make_task("adding", seq_len=100, seed=0)
    task.x_train.shape, task.y_train.shape      # (10000, 100, 2), (10000, 1)
    task.baseline, baseline_loss(task)          # 1/12 (analytic) and the constant predictor, measured

Data convention (shared with engine/train.py): x (N, T, D) float64, zero after each sequence's length;
lengths (N,) int64 in [1, T]; y by (output, loss): identity "last" (N, O) float64, identity "all"
(N, T, O) float64, softmax "last" (N,) int64, softmax "all" (N, T) int64 (0 after each length). The loss of
one sequence is the one ``engine.bptt`` defines (identity: 0.5 * sum ||y - target||^2 over the covered
steps; softmax: sum of cross-entropies); the loss of a set is the mean over its sequences.

One-to-many (``waves``): x holds the condition at step 1 only and, at every later step, the previous target
in the input channels ``info["feedback"]`` (teacher forcing, as in training); running free, a network writes
its own previous output there instead (``SequenceModel.free_running``). Encoder-decoder (``reverse``,
``add_digits``): y (N, T_out) int64 holds the decoder's classes, ``T_out = info["decoder_len"]`` independent of the
input's T; lengths are the inputs', and the decoder's loss and metric cover every one of its steps.

Every task is a ``TaskSpec`` in ``TASKS``: its generator or loader, its trivial predictor, its metric and
its defaults. ``task.baseline`` is the trivial predictor's expected loss (analytic for the generators,
exact over the data for the real sets); ``baseline_loss`` measures it on the arrays. Nothing here
downloads: the real data ship in engine/data (see its README) or in an optional package.
"""
from __future__ import annotations

import gzip
import importlib
import importlib.resources
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .limits import MAX_ELEMENTS, MAX_SEQUENCES, MAX_TEXT_CHARS  # the size limits, with the engine's others
from .losses import STEP_TERMS
from .params import _check_int, check_number, check_seed

DATA_DIR = Path(__file__).with_name("data")
ARRANGEMENTS: tuple[str, ...] = ("many-to-one", "many-to-many", "one-to-many", "encoder-decoder")
SPLITS: tuple[str, ...] = ("train", "test")
UNKNOWN = "\ufffd"  # the one symbol every character outside the vocabulary maps to


# ---------------------------------------------------------------- containers


@dataclass(frozen=True, eq=False)
class TaskData:
    """One task's arrays and what a trainer needs to know about them (see the module docstring for
    the shapes). ``baseline`` is the trivial predictor's expected loss per sequence in the engine's
    loss; ``info`` holds task-specific extras (vocabulary, series scale, class names, decoder length,
    and ``baseline_metric``: the trivial predictor's metric on the test split)."""

    name: str
    title: str
    arrangement: str
    output: str
    loss: str
    x_train: np.ndarray
    y_train: np.ndarray
    len_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    len_test: np.ndarray
    n_in: int
    n_out: int
    baseline: float
    baseline_name: str
    metric_name: str
    info: dict


@dataclass(frozen=True)
class TaskSpec:
    """A task in the registry. ``make(seq_len, n_train, n_test, seed, **options)`` returns the fields of
    TaskData that depend on the data; ``trivial(task, x, lengths)`` returns the trivial predictor's
    outputs (N, T, O) (probabilities for softmax) for inputs x; ``metric`` scores outputs like the
    network's. ``options`` are the task's keyword options with their defaults."""

    title: str
    arrangement: str
    output: str
    loss: str
    seq_len: int
    n_train: int
    n_test: int
    seq_len_range: tuple[int, int]
    make: Callable[..., dict]
    trivial: Callable[..., np.ndarray]
    metric_name: str
    baseline_name: str
    options: dict
    about: str


# ---------------------------------------------------------------- the engine's loss, in numpy


def _mask_last(lengths: np.ndarray, T: int) -> np.ndarray:
    return np.arange(T)[None, :] == (lengths - 1)[:, None]  # (N, T)


def _mask_all(lengths: np.ndarray, T: int) -> np.ndarray:
    return np.arange(T)[None, :] < lengths[:, None]  # (N, T)


def _spread_last(y: np.ndarray, T: int) -> np.ndarray:
    # one target per sequence, seen at every step; the mask keeps only the last valid one
    return np.broadcast_to(y[:, None], (y.shape[0], T) + y.shape[1:])


def _spread_all(y: np.ndarray, T: int) -> np.ndarray:
    return y


# loss mode -> (which steps the loss covers, the target of every step)
LOSS_STEPS = {"last": (_mask_last, _spread_last), "all": (_mask_all, _spread_all)}


def _covered(output: str, loss: str, y_pred, y_true, lengths):
    """Validated (outputs (N, T, O), targets per step, mask (N, T) of the steps the loss covers)."""
    if output not in STEP_TERMS:
        raise ValueError(f"output must be one of {list(STEP_TERMS)}, got {output!r}")
    if loss not in LOSS_STEPS:
        raise ValueError(f"loss must be one of {list(LOSS_STEPS)}, got {loss!r}")
    p = np.asarray(y_pred, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"y_pred must have shape (N, T, O), got shape {p.shape}")
    N, T, O = p.shape
    lengths = np.asarray(lengths)
    if lengths.shape != (N,) or lengths.dtype.kind not in "iu" or (lengths < 1).any() or (lengths > T).any():
        raise ValueError(f"lengths must be an integer array of shape (N,) = ({N},) with values in [1, {T}]")
    y = np.asarray(y_true)
    classes = output == "softmax"
    rows = (N, T) if loss == "all" else (N,)
    want = rows if classes else rows + (O,)
    if y.shape != want or (classes and y.dtype.kind not in "iu"):
        kind = "integer classes" if classes else "float targets"
        raise ValueError(f"y_true must hold {kind} of shape {want} for output {output!r} and loss {loss!r}, got {y.dtype} {y.shape}")
    mask_of, spread = LOSS_STEPS[loss]
    mask = mask_of(lengths, T)
    t = spread(y, T)
    if classes:
        if ((t < 0) | (t >= O))[mask].any():
            raise ValueError(f"y_true must hold classes in [0, {O}) on the covered steps")
        t = np.where(mask, t, 0)  # padding may hold anything; keep the gather in range
    return p, t, mask


def _step_terms(output: str, p, t, mask) -> np.ndarray:
    with np.errstate(all="ignore"):  # padding may be NaN; it is masked out below
        return np.where(mask, STEP_TERMS[output](p, t), 0.0)  # (N, T)


def sequence_losses(output: str, loss: str, y_pred, y_true, lengths) -> np.ndarray:
    """The loss of every sequence (N,), exactly as ``engine.bptt`` defines it, from the outputs
    y_pred (N, T, O) (probabilities for softmax and sigmoid); steps past each length are ignored."""
    p, t, mask = _covered(output, loss, y_pred, y_true, lengths)
    return np.sum(_step_terms(output, p, t, mask), axis=1)


def sequence_loss(output: str, loss: str, y_pred, y_true, lengths) -> float:
    """The loss of a set: the mean over its sequences of ``sequence_losses``."""
    return float(np.mean(sequence_losses(output, loss, y_pred, y_true, lengths)))


# ---------------------------------------------------------------- metrics


def _metric_mse(output, loss, y_pred, y_true, lengths) -> float:
    p, t, mask = _covered(output, loss, y_pred, y_true, lengths)
    with np.errstate(all="ignore"):
        sq = np.where(mask[..., None], (p - t) ** 2, 0.0)
    return float(sq.sum() / (mask.sum() * p.shape[2]))


def _metric_accuracy(output, loss, y_pred, y_true, lengths) -> float:
    p, t, mask = _covered(output, loss, y_pred, y_true, lengths)
    hit = np.argmax(np.nan_to_num(p, nan=-np.inf), axis=-1) == t
    return float(hit[mask].mean())


def _metric_cross_entropy(output, loss, y_pred, y_true, lengths) -> float:
    p, t, mask = _covered(output, loss, y_pred, y_true, lengths)
    return float(_step_terms(output, p, t, mask).sum() / mask.sum())


def _metric_perplexity(output, loss, y_pred, y_true, lengths) -> float:
    return math.exp(_metric_cross_entropy(output, loss, y_pred, y_true, lengths))


# metric name -> (output, loss, y_pred (N, T, O), y_true, lengths) -> float, over the covered steps
METRICS = {
    "MSE": _metric_mse,
    "accuracy": _metric_accuracy,
    "cross-entropy per step": _metric_cross_entropy,
    "perplexity": _metric_perplexity,
}


# ---------------------------------------------------------------- shared helpers


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the train and the test split, so n_test never changes the train set."""
    train, test = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(train), np.random.default_rng(test)


def _check_size(name: str, n: int, T: int, D: int) -> None:
    if n * T * D > MAX_ELEMENTS:
        raise ValueError(f"{name} * steps * inputs must be at most {MAX_ELEMENTS:,} numbers, got {n} x {T} x {D}; "
                         f"lower {name} or seq_len")


def _check_fraction(name: str, value, lo: float, hi: float) -> float:
    what = f"a number in [{lo}, {hi}]"
    value = check_number(name, value, what)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _one_hot(codes: np.ndarray, D: int) -> np.ndarray:
    """codes (N, T) int in [0, D), -1 for padding -> (N, T, D) float64, all zero on padding."""
    x = np.zeros(codes.shape + (D,))  # (N, T, D)
    where = np.nonzero(codes >= 0)
    x[where + (codes[where],)] = 1.0
    return x


def _full_lengths(n: int, T: int) -> np.ndarray:
    return np.full(n, T, dtype=np.int64)


def _class_prior(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Add-one smoothed class frequencies of the training labels, so no class gets probability 0."""
    return (np.bincount(y.ravel(), minlength=n_classes) + 1.0) / (y.size + n_classes)


def _prior_outputs(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    prior = _class_prior(task.y_train, task.n_out)
    return np.broadcast_to(prior, x.shape[:2] + (task.n_out,)).copy()  # (N, T, O)


def _window_weights(n_values: int, T: int) -> np.ndarray:
    """How often, on average over a window start drawn uniformly from the W = n_values - T starts,
    each target position 1 .. n_values - 1 falls inside a window of T targets (the weights sum to T)."""
    W = n_values - T
    q = np.arange(n_values - 1)  # target q + 1 is covered by starts max(0, q - T + 1) .. min(q, W - 1)
    return (np.minimum(q, W - 1) - np.maximum(q - T + 1, 0) + 1) / W


def _windows(values: np.ndarray, T: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n windows of T + 1 consecutive values (N, T + 1), starts drawn uniformly with replacement."""
    starts = rng.integers(0, len(values) - T, n)
    return values[starts[:, None] + np.arange(T + 1)[None, :]]


def _optional_module(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this data set needs the optional package {package!r}, which is not installed: "
                          f"pip install {package}") from exc


# ---------------------------------------------------------------- adding problem (O10)


def _adding_split(rng: np.random.Generator, n: int, T: int):
    x = np.zeros((n, T, 2))  # (N, T, 2): value, marker
    x[:, :, 0] = rng.random((n, T))
    i = rng.integers(0, T, n)
    j = rng.integers(0, T - 1, n)
    j += j >= i  # two distinct marked steps, every pair equally likely
    rows = np.arange(n)
    x[rows, i, 1] = 1.0
    x[rows, j, 1] = 1.0
    y = (x[rows, i, 0] + x[rows, j, 0])[:, None]  # (N, 1)
    return x, y, _full_lengths(n, T)


def _make_adding(T: int, n_train: int, n_test: int, seed: int) -> dict:
    _check_size("n_train", n_train, T, 2)
    _check_size("n_test", n_test, T, 2)
    rng_train, rng_test = _rngs(seed)
    x_tr, y_tr, l_tr = _adding_split(rng_train, n_train, T)
    x_te, y_te, l_te = _adding_split(rng_test, n_test, T)
    # the sum of two U[0, 1] has mean 1 and variance 2/12: predicting 1 costs 0.5 * 1/6 per sequence
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te,
                n_in=2, n_out=1, baseline=1.0 / 12.0, info={"baseline_mse": 1.0 / 6.0})


def _trivial_adding(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return np.ones(x.shape[:2] + (1,))  # (N, T, 1)


# ---------------------------------------------------------------- copy memory (O11)


def _copy_split(rng: np.random.Generator, n: int, T: int, n_symbols: int, n_copy: int):
    steps = T + 2 * n_copy  # n_copy symbols, T - 1 blanks, the delimiter, n_copy blanks
    delimiter = n_symbols + 1  # classes: 0 blank, 1 .. n_symbols the symbols
    symbols = rng.integers(1, n_symbols + 1, (n, n_copy))
    codes = np.zeros((n, steps), dtype=np.int64)  # (N, T + 2 n_copy)
    codes[:, :n_copy] = symbols
    codes[:, n_copy + T - 1] = delimiter
    y = np.zeros((n, steps), dtype=np.int64)  # blank until the delimiter's n_copy echoes
    y[:, -n_copy:] = symbols
    return _one_hot(codes, n_symbols + 2), y, _full_lengths(n, steps)


def _make_copy(T: int, n_train: int, n_test: int, seed: int, n_symbols=8, n_copy=10) -> dict:
    K = _check_int("n_symbols", n_symbols, 2, 64)
    C = _check_int("n_copy", n_copy, 1, 100)
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        _check_size(name, n, T + 2 * C, K + 2)
    rng_train, rng_test = _rngs(seed)
    x_tr, y_tr, l_tr = _copy_split(rng_train, n_train, T, K, C)
    x_te, y_te, l_te = _copy_split(rng_test, n_test, T, K, C)
    # memoryless: blank for sure until the recall, then a uniform guess among K symbols, C times
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te,
                n_in=K + 2, n_out=K + 1, baseline=C * math.log(K),
                info={"delay": T, "n_symbols": K, "n_copy": C, "blank": 0, "delimiter": K + 1,
                      "baseline_per_step": C * math.log(K) / (T + 2 * C)})


def _trivial_copy(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    C, K = task.info["n_copy"], task.info["n_symbols"]
    p = np.zeros(x.shape[:2] + (K + 1,))  # (N, T + 2C, K + 1)
    p[:, :-C, 0] = 1.0
    p[:, -C:, 1:] = 1.0 / K
    return p


# ---------------------------------------------------------------- sequence reversal (encoder-decoder)


def _reverse_split(rng: np.random.Generator, n: int, T: int, K: int):
    codes = rng.integers(0, K, (n, T))  # (N, T)
    return _one_hot(codes, K), codes[:, ::-1].copy(), _full_lengths(n, T)


def _make_reverse(T: int, n_train: int, n_test: int, seed: int, n_symbols=8) -> dict:
    K = _check_int("n_symbols", n_symbols, 2, 64)
    _check_size("n_train", n_train, T, K)
    _check_size("n_test", n_test, T, K)
    rng_train, rng_test = _rngs(seed)
    x_tr, y_tr, l_tr = _reverse_split(rng_train, n_train, T, K)
    x_te, y_te, l_te = _reverse_split(rng_test, n_test, T, K)
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te,
                n_in=K, n_out=K, baseline=T * math.log(K), info={"decoder_len": T, "n_symbols": K})


def _trivial_uniform(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return np.full(x.shape[:2] + (task.n_out,), 1.0 / task.n_out)  # (N, T, O)


# ---------------------------------------------------------------- digit addition (encoder-decoder, another length)

ADD_INPUT = tuple("0123456789") + ("+",)     # input symbols: the ten digits and the plus sign
ADD_OUTPUT = tuple("0123456789") + ("■",)    # output classes: the ten digits and the end symbol


def _operands(rng: np.random.Generator, n: int, n_digits: int) -> np.ndarray:
    """n numbers whose digit count is uniform in [1, n_digits], uniform among the numbers of that many
    digits (0 .. 9 for one digit)."""
    d = rng.integers(1, n_digits + 1, n)
    lo = np.where(d == 1, 0, 10 ** (d - 1))
    return lo + (rng.random(n) * (10 ** d - lo)).astype(np.int64)


def _addition_split(rng: np.random.Generator, n: int, n_digits: int):
    a, b = _operands(rng, n, n_digits), _operands(rng, n, n_digits)
    T_in, T_out = 2 * n_digits + 1, n_digits + 2
    codes = np.full((n, T_in), -1, dtype=np.int64)  # (N, T_in), -1 for padding
    y = np.full((n, T_out), len(ADD_OUTPUT) - 1, dtype=np.int64)  # (N, T_out): the sum, then end symbols
    lengths = np.empty(n, dtype=np.int64)
    plus = len(ADD_INPUT) - 1
    for i in range(n):
        question = [int(c) for c in str(a[i])] + [plus] + [int(c) for c in str(b[i])]
        codes[i, :len(question)] = question
        lengths[i] = len(question)
        answer = [int(c) for c in str(a[i] + b[i])]
        y[i, :len(answer)] = answer
    return _one_hot(codes, len(ADD_INPUT)), y, lengths


def _make_addition(T: int, n_train: int, n_test: int, seed: int) -> dict:
    # T = the most digits of an operand: the question has 2T + 1 steps at most, the answer T + 1 digits
    # and at least one end symbol (T + 2 decoder steps)
    T_in, T_out = 2 * T + 1, T + 2
    _check_size("n_train", n_train, T_in, len(ADD_INPUT))
    _check_size("n_test", n_test, T_in, len(ADD_INPUT))
    rng_train, rng_test = _rngs(seed)
    x_tr, y_tr, l_tr = _addition_split(rng_train, n_train, T)
    x_te, y_te, l_te = _addition_split(rng_test, n_test, T)
    K = len(ADD_OUTPUT)
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te,
                n_in=len(ADD_INPUT), n_out=K, baseline=T_out * math.log(K),
                info={"decoder_len": T_out, "n_digits": T, "input_symbols": ADD_INPUT, "output_symbols": ADD_OUTPUT,
                      "end": K - 1})


def _trivial_uniform_decoder(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    T_out = task.info["decoder_len"]
    return np.full((x.shape[0], T_out, task.n_out), 1.0 / task.n_out)  # (N, T_out, O)


def decode_symbols(codes, symbols: tuple[str, ...], *, end: int | None = None) -> str:
    """Codes (L,) as a string of symbols; with ``end``, the string stops at the first end symbol."""
    out = []
    for c in np.asarray(codes).ravel():
        if end is not None and int(c) == end:
            break
        out.append(symbols[int(c)])
    return "".join(out)


def addition_question(x_row: np.ndarray, length: int) -> str:
    """The question "123+45" of one input sequence x (T_in, 11) of the addition task."""
    return decode_symbols(np.asarray(x_row)[:int(length)].argmax(-1), ADD_INPUT)


def exact_match(y_pred, y_true) -> np.ndarray:
    """Per sequence (N,): True when the most likely class is the target at every step of y_true (N, T)."""
    p, t = np.asarray(y_pred, dtype=np.float64), np.asarray(y_true)
    if p.ndim != 3 or t.shape != p.shape[:2]:
        raise ValueError(f"y_pred must have shape (N, T, O) and y_true (N, T), got {p.shape} and {t.shape}")
    return (np.argmax(np.nan_to_num(p, nan=-np.inf), axis=-1) == t).all(axis=1)


# ---------------------------------------------------------------- a sine wave from its frequency and phase (one-to-many)

WAVE_CONDITION = (0, 1, 2)   # input channels of step 1: omega (radians per step), sin(phase), cos(phase)
WAVE_FEEDBACK = (3,)         # input channel of steps 2 .. T: the previous value of the wave


def _waves_split(rng: np.random.Generator, n: int, T: int, min_period: float, max_period: float):
    period = rng.uniform(min_period, max_period, n)
    omega = 2.0 * np.pi / period
    phase = rng.uniform(0.0, 2.0 * np.pi, n)
    y = np.sin(omega[:, None] * np.arange(T)[None, :] + phase[:, None])  # (N, T): y_k = sin(omega (k-1) + phase)
    x = np.zeros((n, T, 4))  # (N, T, 4): the condition at step 1 only; the previous target after it
    x[:, 0, 0], x[:, 0, 1], x[:, 0, 2] = omega, np.sin(phase), np.cos(phase)
    x[:, 1:, 3] = y[:, :-1]  # teacher forcing: step t reads the true y_{t-1}
    return x, y[:, :, None].copy(), _full_lengths(n, T), np.stack([omega, phase], axis=1)


def _make_waves(T: int, n_train: int, n_test: int, seed: int, min_period=6, max_period=16) -> dict:
    P0 = _check_int("min_period", min_period, 2, 1000)
    P1 = _check_int("max_period", max_period, 2, 1000)
    if P1 < P0:
        raise ValueError(f"max_period must be at least min_period = {P0}, got {P1}")
    _check_size("n_train", n_train, T, 4)
    _check_size("n_test", n_test, T, 4)
    rng_train, rng_test = _rngs(seed)
    x_tr, y_tr, l_tr, _ = _waves_split(rng_train, n_train, T, P0, P1)
    x_te, y_te, l_te, cond_te = _waves_split(rng_test, n_test, T, P0, P1)
    # the phase is uniform, so E[sin^2] = 1/2 at every step: always predicting 0 costs 0.5 * T/2 per sequence
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te,
                n_in=4, n_out=1, baseline=T / 4.0,
                info={"condition_channels": WAVE_CONDITION, "feedback": WAVE_FEEDBACK, "condition_steps": 1,
                      "min_period": P0, "max_period": P1, "baseline_mse": 0.5, "condition_test": cond_te})


def _trivial_zero(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return np.zeros(x.shape[:2] + (task.n_out,))  # (N, T, O)


# ---------------------------------------------------------------- long-range label among distractors


def _longrange_split(rng: np.random.Generator, n: int, T: int, n_classes: int, n_distractors: int, min_len: int):
    lengths = rng.integers(min_len, T + 1, n)
    labels = rng.integers(0, n_classes, n)
    codes = n_classes + rng.integers(0, n_distractors, (n, T))  # (N, T) distractor tokens
    codes[:, 0] = labels  # the label token comes first: length - 1 steps before the loss looks
    codes[np.arange(T)[None, :] >= lengths[:, None]] = -1  # padding
    return _one_hot(codes, n_classes + n_distractors), labels, lengths.astype(np.int64)


def _make_longrange(T: int, n_train: int, n_test: int, seed: int, n_classes=2, n_distractors=6, min_len=None) -> dict:
    C = _check_int("n_classes", n_classes, 2, 32)
    M = _check_int("n_distractors", n_distractors, 1, 64)
    L0 = max(1, T // 2) if min_len is None else _check_int("min_len", min_len, 1, T)
    _check_size("n_train", n_train, T, C + M)
    _check_size("n_test", n_test, T, C + M)
    rng_train, rng_test = _rngs(seed)
    x_tr, y_tr, l_tr = _longrange_split(rng_train, n_train, T, C, M, L0)
    x_te, y_te, l_te = _longrange_split(rng_test, n_test, T, C, M, L0)
    # labels are uniform: the class prior can do no better than ln C per sequence
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te,
                n_in=C + M, n_out=C, baseline=math.log(C),
                info={"n_classes": C, "n_distractors": M, "min_len": L0, "label_step": 0,
                      "tokens": tuple(f"label {c}" for c in range(C)) + tuple(f"distractor {m}" for m in range(M))})


# ---------------------------------------------------------------- real time series


def _csv_rows(path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()[1:] if line.strip()]


def _read_csv_series(filename: str) -> tuple[tuple[str, ...], np.ndarray]:
    rows = _csv_rows(DATA_DIR / filename)
    return tuple(r[0] for r in rows), np.array([float(r[1]) for r in rows])


def _load_airline():
    return _read_csv_series("Airline.csv")


def _load_lynx():
    return _read_csv_series("Lynx.csv")


def _package_file(package: str, *parts: str):
    """A data file inside an optional package, found without importing its heavy submodules."""
    root = importlib.resources.files(_optional_module(package, package))
    return root.joinpath(*parts)


def _load_sunspots():
    rows = _csv_rows(_package_file("statsmodels", "datasets", "sunspots", "sunspots.csv"))
    return tuple(str(int(float(r[0]))) for r in rows), np.array([float(r[1]) for r in rows])


def _load_co2():
    rows = _csv_rows(_package_file("statsmodels", "datasets", "co2", "co2.csv"))  # weekly, yyyymmdd, gaps empty
    month = np.array([int(r[0]) // 100 for r in rows])
    value = np.array([float(r[1]) if r[1].strip() else np.nan for r in rows])
    months = np.unique(month)
    seen = ~np.isnan(value)
    total = np.bincount(np.searchsorted(months, month[seen]), weights=value[seen], minlength=len(months))
    count = np.bincount(np.searchsorted(months, month[seen]), minlength=len(months))
    index = (months // 100) * 12 + months % 100  # months since year 0, to interpolate the months with no reading
    has = count > 0
    means = np.interp(index, index[has], total[has] / count[has])
    return tuple(f"{m // 100}-{m % 100:02d}" for m in months), means


@dataclass(frozen=True)
class SeriesSource:
    title: str
    load: Callable[[], tuple[tuple[str, ...], np.ndarray]]
    transform: str  # key of TRANSFORMS, applied before standardising
    step: str  # what one time step is
    package: str | None  # optional package it ships in; None: vendored in engine/data
    citation: str


TRANSFORMS = {"none": lambda v: v, "log": np.log}

SERIES = {
    "airline": SeriesSource("Airline passengers (monthly, 1949-1960, thousands)", _load_airline, "log", "month", None,
                            "Box, Jenkins & Reinsel, Time Series Analysis (1976), series G; file from aeon (BSD-3)"),
    "lynx": SeriesSource("Canadian lynx trappings (yearly, 1821-1934)", _load_lynx, "log", "year", None,
                         "Campbell & Walker, JRSS A 140 (1977) 411-431; file from aeon (BSD-3)"),
    "sunspots": SeriesSource("Yearly sunspot numbers (1700-2008)", _load_sunspots, "none", "year", "statsmodels",
                             "statsmodels.datasets.sunspots (public domain)"),
    "co2": SeriesSource("Mauna Loa CO2 (monthly means, 1958-2001, ppm)", _load_co2, "none", "month", "statsmodels",
                        "statsmodels.datasets.co2 (public domain)"),
}


def available_series() -> tuple[str, ...]:
    """The series that load here and now: the shipped ones, and those whose optional package is installed."""
    return tuple(name for name, source in SERIES.items()
                 if source.package is None or importlib.util.find_spec(source.package) is not None)


def _make_series(T: int, n_train: int, n_test: int, seed: int, series="lynx", test_fraction=0.2) -> dict:
    if not isinstance(series, str) or series not in SERIES:
        raise ValueError(f"series must be one of {list(SERIES)}, got {series!r}")
    fraction = _check_fraction("test_fraction", test_fraction, 0.05, 0.5)
    source = SERIES[series]
    labels, raw = source.load()
    values = TRANSFORMS[source.transform](raw)
    n_test_values = max(2, round(len(values) * fraction))
    split = len(values) - n_test_values  # train: values[:split], test: values[split:], in time order
    longest = min(split, n_test_values) - 1
    if T > longest:
        raise ValueError(f"seq_len must be at most {longest} for series {series!r} ({split} train and {n_test_values} "
                         f"test values with test_fraction={fraction}), got {T}")
    _check_size("n_train", n_train, T, 1)
    _check_size("n_test", n_test, T, 1)
    mean, std = float(values[:split].mean()), float(values[:split].std())
    z = (values - mean) / std  # standardised with the train part's statistics only
    rng_train, rng_test = _rngs(seed)
    w_tr, w_te = _windows(z[:split], T, n_train, rng_train), _windows(z[split:], T, n_test, rng_test)
    test_part = z[split:]
    # persistence ("next = current") misses each step by the change d; expected over the window starts
    d = np.diff(test_part)
    baseline = 0.5 * float(np.sum(d * d * _window_weights(len(test_part), T)))
    return dict(x_train=w_tr[:, :-1, None], y_train=w_tr[:, 1:, None], len_train=_full_lengths(n_train, T),
                x_test=w_te[:, :-1, None], y_test=w_te[:, 1:, None], len_test=_full_lengths(n_test, T),
                n_in=1, n_out=1, baseline=baseline,
                info={"series": series, "series_title": source.title, "step": source.step,
                      "transform": source.transform, "mean": mean, "std": std, "values": z, "labels": labels,
                      "split": split, "citation": source.citation})


def _trivial_persistence(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return x[:, :, :1].copy()  # (N, T, 1): predict the value just seen


# ---------------------------------------------------------------- Japanese Vowels (UCI, via aeon's files)


@lru_cache(maxsize=4)
def _read_ts(filename: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """A multivariate .ts file: one case a line, dimensions separated by ':', values by ',', the class
    label last. Returns the cases as (L_i, D) arrays and the labels as ints from 0 (read-only)."""
    cases, labels = [], []
    with gzip.open(DATA_DIR / filename, "rt", encoding="utf-8") as f:
        in_data = False
        for line in f:
            line = line.strip()
            if not in_data:
                in_data = line.lower() == "@data"
                continue
            if line:
                *dims, label = line.split(":")
                case = np.array([[float(v) for v in dim.split(",")] for dim in dims]).T  # (L, D)
                case.setflags(write=False)
                cases.append(case)
                labels.append(int(label) - 1)
    y = np.array(labels, dtype=np.int64)
    y.setflags(write=False)
    return tuple(cases), y


def _pad(cases, T: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((len(cases), T, cases[0].shape[1]))  # (N, T, D)
    lengths = np.array([len(c) for c in cases], dtype=np.int64)
    for i, c in enumerate(cases):
        x[i, :len(c)] = c
    return x, lengths


def _make_vowels(T: int, n_train: int, n_test: int, seed: int, standardise=True) -> dict:
    standardise = _check_bool("standardise", standardise)
    train_cases, train_labels = _read_ts("JapaneseVowels_TRAIN.ts.gz")
    test_cases, test_labels = _read_ts("JapaneseVowels_TEST.ts.gz")
    n_train = _check_int("n_train", n_train, 1, len(train_cases))
    n_test = _check_int("n_test", n_test, 1, len(test_cases))
    rng_train, rng_test = _rngs(seed)
    pick_tr = rng_train.permutation(len(train_cases))[:n_train]
    pick_te = rng_test.permutation(len(test_cases))[:n_test]
    x_tr, l_tr = _pad([train_cases[i] for i in pick_tr], T)
    x_te, l_te = _pad([test_cases[i] for i in pick_te], T)
    y_tr, y_te = train_labels[pick_tr].copy(), test_labels[pick_te].copy()
    D = x_tr.shape[2]
    mean, std = np.zeros(D), np.ones(D)
    if standardise:  # per coefficient, over the valid train frames only; padding stays 0
        frames = x_tr[_mask_all(l_tr, T)]
        mean, std = frames.mean(axis=0), frames.std(axis=0)
        x_tr = np.where(_mask_all(l_tr, T)[..., None], (x_tr - mean) / std, 0.0)
        x_te = np.where(_mask_all(l_te, T)[..., None], (x_te - mean) / std, 0.0)
    prior = _class_prior(y_tr, 9)
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te,
                n_in=D, n_out=9, baseline=float(np.mean(-np.log(prior[y_te]))),
                info={"class_names": tuple(f"speaker {k}" for k in range(1, 10)), "mean": mean, "std": std,
                      "citation": "M. Kudo, J. Toyama, M. Shimbo, Pattern Recognition Letters 20 (1999) "
                                  "1103-1111; UCI Machine Learning Repository, doi:10.24432/C5NS47 (CC BY 4.0)"})


# ---------------------------------------------------------------- character language model


@lru_cache(maxsize=1)
def _python_docs() -> str:
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    return "\n".join(topics[k] for k in sorted(topics))


def _check_text(text) -> str:
    if text is None:
        return _python_docs()
    if not isinstance(text, str):
        raise ValueError(f"text must be a string (or None for the Python documentation), got {type(text).__name__}")
    if not text:
        raise ValueError("text must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text must have at most {MAX_TEXT_CHARS:,} characters, got {len(text):,}")
    return text


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def build_vocabulary(text: str, vocab_size: int) -> tuple[str, ...]:
    """The vocab_size - 1 most frequent characters of text (ties by code point), after UNKNOWN at 0."""
    V = _check_int("vocab_size", vocab_size, 2, 512)
    points, counts = np.unique(_code_points(_check_text(text)), return_counts=True)
    order = np.lexsort((points, -counts))[:V - 1]
    return (UNKNOWN,) + tuple(chr(int(c)) for c in points[order])


def encode_text(text: str, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Character indices into vocabulary (N,) int64; a character outside it maps to 0 (UNKNOWN)."""
    known = np.array([ord(c) for c in vocabulary[1:]], dtype=np.uint32)
    order = np.argsort(known)
    sorted_points = known[order]
    points = _code_points(text)
    pos = np.minimum(np.searchsorted(sorted_points, points), len(sorted_points) - 1)
    hit = sorted_points[pos] == points
    return np.where(hit, order[pos] + 1, 0).astype(np.int64)


def decode_text(indices, vocabulary: tuple[str, ...]) -> str:
    return "".join(vocabulary[int(i)] for i in np.asarray(indices).ravel())


def _make_text(T: int, n_train: int, n_test: int, seed: int, text=None, vocab_size=64, test_fraction=0.1) -> dict:
    source = _check_text(text)
    fraction = _check_fraction("test_fraction", test_fraction, 0.05, 0.5)
    vocabulary = build_vocabulary(source, vocab_size)
    V = len(vocabulary)
    codes = encode_text(source, vocabulary)
    n_test_chars = math.ceil(len(codes) * fraction)
    split = len(codes) - n_test_chars  # train: the first characters, test: the last ones
    if min(split, n_test_chars) < T + 1:
        raise ValueError(f"text is too short for seq_len={T}: its {len(codes)} characters leave {split} for training "
                         f"and {n_test_chars} for testing (test_fraction={fraction}), and each part needs "
                         f"seq_len + 1 = {T + 1}; give more text or lower seq_len")
    _check_size("n_train", n_train, T, V)
    _check_size("n_test", n_test, T, V)
    rng_train, rng_test = _rngs(seed)
    w_tr, w_te = _windows(codes[:split], T, n_train, rng_train), _windows(codes[split:], T, n_test, rng_test)
    unigram = _class_prior(w_tr[:, 1:], V)
    # the unigram's cross-entropy on a window of the test text, expected over the window starts
    surprise = -np.log(unigram[codes[split + 1:]])
    baseline = float(np.sum(surprise * _window_weights(n_test_chars, T)))
    return dict(x_train=_one_hot(w_tr[:, :-1], V), y_train=w_tr[:, 1:].copy(), len_train=_full_lengths(n_train, T),
                x_test=_one_hot(w_te[:, :-1], V), y_test=w_te[:, 1:].copy(), len_test=_full_lengths(n_test, T),
                n_in=V, n_out=V, baseline=baseline,
                info={"vocabulary": vocabulary, "unknown": UNKNOWN, "unigram": unigram,
                      "source": "Python documentation (pydoc_data.topics)" if text is None else "your text",
                      "n_chars": len(codes), "split": split,
                      "unknown_fraction": float(np.mean(codes == 0))})


# ---------------------------------------------------------------- the registry


TASKS: dict[str, TaskSpec] = {
    "adding": TaskSpec(
        "Adding problem", "many-to-one", "identity", "last", 100, 10_000, 1_000, (2, 100_000),
        _make_adding, _trivial_adding, "MSE", "always predict 1.0 (the mean of the target)", {},
        "Values U[0, 1] beside a marker channel with exactly two 1s; the target is the sum of the two marked "
        "values, read at the last step."),
    "copy": TaskSpec(
        "Copy memory", "many-to-many", "softmax", "all", 100, 2_000, 200, (1, 100_000),
        _make_copy, _trivial_copy, "cross-entropy per step",
        "memoryless: blank until the recall, then a uniform guess among the symbols",
        {"n_symbols": 8, "n_copy": 10},
        "n_copy symbols from n_symbols, seq_len - 1 blanks, a delimiter, n_copy blanks (seq_len + 2 n_copy steps); "
        "the network answers blank until the delimiter has passed, then the symbols in order."),
    "reverse": TaskSpec(
        "Sequence reversal", "encoder-decoder", "softmax", "all", 10, 5_000, 500, (1, 10_000),
        _make_reverse, _trivial_uniform, "accuracy", "a uniform guess among the symbols at every step",
        {"n_symbols": 8},
        "An encoder reads seq_len symbols; a decoder started from its last state writes them in reverse "
        "(y has info['decoder_len'] steps)."),
    "add_digits": TaskSpec(
        "Digit addition: \"123+45\" → \"168\"", "encoder-decoder", "softmax", "all", 3, 5_000, 500, (1, 9),
        _make_addition, _trivial_uniform_decoder, "accuracy",
        "a uniform guess among the 11 symbols at each step", {},
        "An encoder reads a question such as 123+45 (two numbers of 1 to seq_len digits, so the question's length "
        "varies); a decoder started from its last state writes the sum's digits and then end symbols ■, "
        "seq_len + 2 steps in all (y has info['decoder_len'] steps; the accuracy counts the end symbols too)."),
    "waves": TaskSpec(
        "Sine wave from its frequency and phase", "one-to-many", "identity", "all", 40, 2_000, 200, (2, 10_000),
        _make_waves, _trivial_zero, "MSE", "always predict 0 (the mean of the wave)",
        {"min_period": 6, "max_period": 16},
        "Step 1 reads a condition (ω in radians per step, sin φ, cos φ; period uniform in [min_period, "
        "max_period] steps, phase φ uniform); the network writes y_k = sin(ω (k − 1) + φ) for k = 1 .. seq_len. "
        "In training, step k also reads the true y_(k−1) (teacher forcing, the input's fourth channel); "
        "free-running, it reads its own previous output there instead (info['feedback'])."),
    "series": TaskSpec(
        "Real time series, next step", "many-to-many", "identity", "all", 12, 500, 100, (1, 100_000),
        _make_series, _trivial_persistence, "MSE", "persistence: the next value equals the current one",
        {"series": "lynx", "test_fraction": 0.2},
        "Windows of a real series standardised with the train part's statistics; train on the first part "
        "in time, test on the last; predict every next value. Lynx (the default) and sunspots cycle, so a "
        "network can beat persistence; the airline series trends past anything seen in training."),
    "vowels": TaskSpec(
        "Japanese Vowels: which speaker?", "many-to-one", "softmax", "last", 29, 270, 370, (29, 10_000),
        _make_vowels, _prior_outputs, "accuracy", "the training class frequencies (add-one smoothed)",
        {"standardise": True},
        "Nine speakers say /ae/; 12 LPC cepstrum coefficients per frame, 7-29 frames (zero-padded); "
        "classify the speaker at each utterance's last frame."),
    "text": TaskSpec(
        "Character language model", "many-to-many", "softmax", "all", 50, 1_000, 100, (1, 10_000),
        _make_text, _prior_outputs, "perplexity", "unigram: the training character frequencies (add-one smoothed)",
        {"text": None, "vocab_size": 64, "test_fraction": 0.1},
        "Predict every next character of the Python documentation shipped with CPython, or of your text; "
        "rare characters share one unknown symbol."),
    "longrange": TaskSpec(
        "Long-range label among distractors", "many-to-one", "softmax", "last", 50, 2_000, 500, (2, 10_000),
        _make_longrange, _prior_outputs, "accuracy", "the training class frequencies (add-one smoothed)",
        {"n_classes": 2, "n_distractors": 6, "min_len": None},
        "A label token at the first step, then distractor tokens up to a length drawn from [min_len, seq_len]; "
        "the class is read at each sequence's last valid step, length - 1 steps after the label."),
}


def get_task(name: str) -> TaskSpec:
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"name must be one of {list(TASKS)}, got {name!r}")
    return TASKS[name]


# ---------------------------------------------------------------- public API


def make_task(name: str, *, seq_len: int | None = None, n_train: int | None = None, n_test: int | None = None,
              seed: int = 0, **options) -> TaskData:
    """Build a task's train and test arrays (deterministic in seed; the train set does not depend on
    n_test). None takes the task's default (``TASKS[name]``); ``options`` are the task's own (see
    ``TASKS[name].options``). Bad input raises ValueError naming the argument."""
    spec = get_task(name)
    T = spec.seq_len if seq_len is None else _check_int("seq_len", seq_len, *spec.seq_len_range)
    n_tr = spec.n_train if n_train is None else _check_int("n_train", n_train, 1, MAX_SEQUENCES)
    n_te = spec.n_test if n_test is None else _check_int("n_test", n_test, 1, MAX_SEQUENCES)
    seed = check_seed(seed)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(f"{unknown[0]} is not an option of task {name!r}; its options are {sorted(spec.options)}")
    data = spec.make(T, n_tr, n_te, seed, **{**spec.options, **options})
    task = TaskData(name=name, title=spec.title, arrangement=spec.arrangement, output=spec.output, loss=spec.loss,
                    baseline_name=spec.baseline_name, metric_name=spec.metric_name, **data)
    task.info["baseline_metric"] = task_metric(task, baseline_predictions(task, "test"), task.y_test, task.len_test)
    return task


def _check_task(task) -> TaskData:
    if not isinstance(task, TaskData):
        raise ValueError(f"task must be a TaskData from make_task, got {type(task).__name__}")
    return task


def _split_arrays(task: TaskData, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return getattr(task, f"x_{split}"), getattr(task, f"y_{split}"), getattr(task, f"len_{split}")


def _output_lengths(task: TaskData, y_true, lengths):
    """The lengths of the output sequences: an encoder-decoder's ``lengths`` are its inputs', and its decoder
    writes (and is scored on) every one of its steps."""
    if task.arrangement == "encoder-decoder":
        y = np.asarray(y_true)
        return np.full(y.shape[0] if y.ndim else 0, y.shape[1] if y.ndim == 2 else 1, dtype=np.int64)
    return lengths


def task_metric(task: TaskData, y_pred, y_true, lengths) -> float:
    """The task's metric (``task.metric_name``) of the outputs y_pred (N, T, O) (probabilities for
    softmax) against targets y_true shaped like task.y_test, over the steps the loss covers (for an
    encoder-decoder: every decoder step; ``lengths`` are the inputs')."""
    task = _check_task(task)
    return METRICS[task.metric_name](task.output, task.loss, y_pred, y_true, _output_lengths(task, y_true, lengths))


def baseline_predictions(task: TaskData, split: str = "test") -> np.ndarray:
    """The trivial predictor's outputs (N, T, O) on a split, fitted on the train split only."""
    task = _check_task(task)
    x, _, lengths = _split_arrays(task, split)
    return TASKS[task.name].trivial(task, x, lengths)


def baseline_loss(task: TaskData, split: str = "test") -> float:
    """MEASURED: the trivial predictor's loss on a split (mean over sequences, the engine's loss)."""
    task = _check_task(task)
    _, y, lengths = _split_arrays(task, split)
    return sequence_loss(task.output, task.loss, baseline_predictions(task, split), y,
                         _output_lengths(task, y, lengths))
