"""The synthetic generators of the classic memory tasks: the adding problem, copy memory, sequence reversal and a long-range label."""
from __future__ import annotations

import math

import numpy as np

from ..params import _check_int
from .common import TaskData, _check_sizes, _full_lengths, _one_hot, _splits

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
    _check_sizes(n_train, n_test, T, 2)
    # the sum of two U[0, 1] has mean 1 and variance 2/12: predicting 1 costs 0.5 * 1/6 per sequence
    return dict(**_splits(_adding_split, seed, n_train, n_test, T),
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
    _check_sizes(n_train, n_test, T + 2 * C, K + 2)
    # memoryless: blank for sure until the recall, then a uniform guess among K symbols, C times
    return dict(**_splits(_copy_split, seed, n_train, n_test, T, K, C),
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
    _check_sizes(n_train, n_test, T, K)
    return dict(**_splits(_reverse_split, seed, n_train, n_test, T, K),
                n_in=K, n_out=K, baseline=T * math.log(K), info={"decoder_len": T, "n_symbols": K})


def _trivial_uniform(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return np.full(x.shape[:2] + (task.n_out,), 1.0 / task.n_out)  # (N, T, O)


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
    _check_sizes(n_train, n_test, T, C + M)
    # labels are uniform: the class prior can do no better than ln C per sequence
    return dict(**_splits(_longrange_split, seed, n_train, n_test, T, C, M, L0),
                n_in=C + M, n_out=C, baseline=math.log(C),
                info={"n_classes": C, "n_distractors": M, "min_len": L0, "label_step": 0,
                      "tokens": tuple(f"label {c}" for c in range(C)) + tuple(f"distractor {m}" for m in range(M))})
