"""What every task shares: the containers TaskData and TaskSpec, and the helpers the generators and loaders use."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..limits import MAX_ELEMENTS
from ..params import check_number

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # engine/data
ARRANGEMENTS: tuple[str, ...] = ("many-to-one", "many-to-many", "one-to-many", "encoder-decoder")
SPLITS: tuple[str, ...] = ("train", "test")


# ---------------------------------------------------------------- containers


@dataclass(frozen=True, eq=False)
class TaskData:
    """One task's arrays and what a trainer needs to know about them (see the engine.tasks docstring for
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


# ---------------------------------------------------------------- shared helpers


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the train and the test split, so n_test never changes the train set."""
    train, test = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(train), np.random.default_rng(test)


def _check_size(name: str, n: int, T: int, D: int) -> None:
    if n * T * D > MAX_ELEMENTS:
        raise ValueError(f"{name} * steps * inputs must be at most {MAX_ELEMENTS:,} numbers, got {n} x {T} x {D}; "
                         f"lower {name} or seq_len")


def _check_sizes(n_train: int, n_test: int, T: int, D: int) -> None:
    """Both splits within the size limit (the train split is checked first)."""
    _check_size("n_train", n_train, T, D)
    _check_size("n_test", n_test, T, D)


def _splits(split: Callable[..., tuple], seed: int, n_train: int, n_test: int, *args) -> dict:
    """The train and the test arrays of a generator ``split(rng, n, *args) -> (x, y, lengths)``, each split
    drawn from its own generator (``_rngs``), as the fields x_train .. len_test of TaskData."""
    rng_train, rng_test = _rngs(seed)
    x_tr, y_tr, l_tr = split(rng_train, n_train, *args)
    x_te, y_te, l_te = split(rng_test, n_test, *args)
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te)


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


# ---------------------------------------------------------------- the trivial predictor several tasks share


def _prior_outputs(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The training class frequencies (add-one smoothed) at every step."""
    prior = _class_prior(task.y_train, task.n_out)
    return np.broadcast_to(prior, x.shape[:2] + (task.n_out,)).copy()  # (N, T, O)

