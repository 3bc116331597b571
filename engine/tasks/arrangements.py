"""The tasks of the other arrangements: digit addition (encoder-decoder of another length) and a sine wave (one-to-many), with their decoding helpers."""
from __future__ import annotations

import math

import numpy as np

from ..params import _check_int
from .common import TaskData, _check_sizes, _full_lengths, _one_hot, _rngs, _splits

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
    _check_sizes(n_train, n_test, T_in, len(ADD_INPUT))
    K = len(ADD_OUTPUT)
    return dict(**_splits(_addition_split, seed, n_train, n_test, T),
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
    _check_sizes(n_train, n_test, T, 4)
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
