"""The exploding-gradient cliff of a one-unit RNN (Pascanu, Mikolov & Bengio 2013, Fig. 6; ORACLES O18).

The network: h_t = w * sigma(h_{t-1}) + b for t = 1..T from a fixed h_0, sigma the logistic sigmoid, and the
loss L(w, b) = (h_T - target)^2. For w above 4 the map has two stable fixed points, and which one h_T ends
near depends on (w, b): across the border between the two basins h_T jumps, and L rises as a near-vertical
wall. On the wall the gradient is huge (the derivative of h_T grows like the product of w * sigma'(h_t) at
the unstable fixed point), so a plain gradient step that lands there is thrown far away, while a step whose
gradient is clipped by its norm (engine.optim.clip_by_norm, ORACLES O4) moves at most lr * threshold.

All functions take numbers or arrays and broadcast; the loss and its gradient are exact (forward-mode
sensitivities of h_t, vectorised numpy; ``state_gradients`` gives the backward pass for one point).
Bad input raises ValueError naming the argument.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .optim import clip_by_norm
from .params import is_integer, is_number

T_STEPS = 20          # steps of the recurrence
H0 = 0.5              # h_0
TARGET = 0.0          # the loss wants h_T = 0
MAX_T = 500
MAX_GRID = 400        # points per axis of a surface
MAX_STEPS = 1_000     # gradient-descent updates


def _sigmoid(a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-a))


def _check_T(T) -> int:
    if not is_integer(T) or not 1 <= int(T) <= MAX_T:
        raise ValueError(f"T must be an integer in [1, {MAX_T}], got {T!r}")
    return int(T)


def _check_real(name: str, v) -> float:
    if not is_number(v) or not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    return float(v)


def _check_array(name: str, v) -> np.ndarray:
    if isinstance(v, (str, bytes)) or v is None:
        raise ValueError(f"{name} must be a finite number or array of numbers, got {v!r}")
    a = np.asarray(v)
    if a.dtype.kind not in "iuf" or a.dtype == bool or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a finite number or array of numbers, got {v!r}")
    return a.astype(np.float64)


@dataclass(frozen=True)
class CliffLoss:
    """Loss, gradient and final state at each point of broadcast (w, b) arrays (all of one shape).
    grad_w, grad_b may be inf where the derivative of h_T overflows (data, not an exception)."""

    loss: np.ndarray
    grad_w: np.ndarray
    grad_b: np.ndarray
    h_T: np.ndarray

    @property
    def grad_norm(self) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.hypot(self.grad_w, self.grad_b)


def cliff_loss(w, b, *, T: int = T_STEPS, h0: float = H0, target: float = TARGET) -> CliffLoss:
    """L = (h_T - target)^2 and its exact gradient (dL/dw, dL/db) at every (w, b) (numbers or arrays
    that broadcast). The sensitivities s_t = dh_t/dw and r_t = dh_t/db run forward with h_t:
    s_t = sigma(h_{t-1}) + w sigma'(h_{t-1}) s_{t-1}, r_t = 1 + w sigma'(h_{t-1}) r_{t-1}, s_0 = r_0 = 0."""
    T = _check_T(T)
    h0, target = _check_real("h0", h0), _check_real("target", target)
    w, b = _check_array("w", w), _check_array("b", b)
    try:
        w, b = np.broadcast_arrays(w, b)
    except ValueError:
        raise ValueError(f"w and b must broadcast to one shape, got {w.shape} and {b.shape}") from None
    h = np.full(w.shape, h0)
    s = np.zeros(w.shape)  # dh_t/dw
    r = np.zeros(w.shape)  # dh_t/db
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(T):
            sig = _sigmoid(h)
            gain = w * sig * (1.0 - sig)  # dh_t/dh_{t-1} = w sigma'(h_{t-1})
            s = sig + gain * s
            r = 1.0 + gain * r
            h = w * sig + b
        e = h - target
        return CliffLoss(e * e, 2.0 * e * s, 2.0 * e * r, h)


@dataclass(frozen=True)
class StateGradients:
    """The backward pass at one (w, b): h (T + 1,) = h_0..h_T, delta (T + 1,) = dL/dh_t for t = 0..T,
    and the gradient (dL/dw, dL/db) as the sum of each step's term."""

    h: np.ndarray
    delta: np.ndarray
    grad_w: float
    grad_b: float


def state_gradients(w, b, *, T: int = T_STEPS, h0: float = H0, target: float = TARGET) -> StateGradients:
    """BPTT at one point: delta_T = 2 (h_T - target), delta_{t-1} = w sigma'(h_{t-1}) delta_t;
    dL/dw = sum_t delta_t sigma(h_{t-1}), dL/db = sum_t delta_t."""
    T = _check_T(T)
    w, b = _check_real("w", w), _check_real("b", b)
    h0, target = _check_real("h0", h0), _check_real("target", target)
    h = np.empty(T + 1)  # (T + 1,)
    h[0] = h0
    for t in range(1, T + 1):
        h[t] = w * _sigmoid(h[t - 1]) + b
    sig = _sigmoid(h[:-1])  # (T,) sigma(h_{t-1}) for t = 1..T
    delta = np.empty(T + 1)  # (T + 1,)
    delta[T] = 2.0 * (h[T] - target)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T, 0, -1):
            delta[t - 1] = w * sig[t - 1] * (1.0 - sig[t - 1]) * delta[t]
        return StateGradients(h, delta, float(np.sum(delta[1:] * sig)), float(np.sum(delta[1:])))


@dataclass(frozen=True)
class CliffSurface:
    """L over a grid: w (nw,), b (nb,), loss and grad_norm (nb, nw) (rows follow b, as a heatmap's z)."""

    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray


def _check_axis(name: str, lo, hi, n) -> np.ndarray:
    lo, hi = _check_real(f"{name}_range[0]", lo), _check_real(f"{name}_range[1]", hi)
    if not lo < hi:
        raise ValueError(f"{name}_range must be (low, high) with low < high, got ({lo}, {hi})")
    if not is_integer(n) or not 2 <= int(n) <= MAX_GRID:
        raise ValueError(f"n must be an integer in [2, {MAX_GRID}], got {n!r}")
    return np.linspace(lo, hi, int(n))


def _pair(name: str, v) -> tuple:
    if isinstance(v, (str, bytes)) or np.ndim(v) != 1 or len(v) != 2:
        raise ValueError(f"{name} must be a pair of two numbers, got {v!r}")
    return tuple(v)


def cliff_surface(w_range=(0.0, 10.0), b_range=(-8.0, 2.0), n: int = 161, *, T: int = T_STEPS, h0: float = H0,
                  target: float = TARGET) -> CliffSurface:
    """The loss and the gradient's norm on an n x n grid over w_range x b_range."""
    w = _check_axis("w", *_pair("w_range", w_range), n)
    b = _check_axis("b", *_pair("b_range", b_range), n)
    W, B = np.meshgrid(w, b)  # (nb, nw)
    res = cliff_loss(W, B, T=T, h0=h0, target=target)
    return CliffSurface(w, b, res.loss, res.grad_norm)


@dataclass(frozen=True)
class CliffPath:
    """Gradient descent from a start point: points (n + 1, 2) of (w, b), loss (n + 1,), grad_norm (n,)
    before clipping, clipped (n,) whether clipping scaled that step, and ``stopped``: None, or why the
    path ended early (a gradient that is not finite)."""

    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    stopped: str | None

    @property
    def step_lengths(self) -> np.ndarray:
        return np.hypot(*np.diff(self.points, axis=0).T)


def descend(start, *, lr: float, steps: int, clip: float | None = None, T: int = T_STEPS, h0: float = H0,
            target: float = TARGET) -> CliffPath:
    """``steps`` plain gradient-descent updates (w, b) <- (w, b) - lr * g from ``start`` = (w, b), with g
    clipped by its norm to ``clip`` first when given (clip_by_norm: g <- clip * g / (|g| + 1e-6) when that
    shrinks it; the direction is kept)."""
    w, b = (_check_real(f"start[{i}]", v) for i, v in enumerate(_pair("start", start)))
    lr = _check_real("lr", lr)
    if lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not is_integer(steps) or not 1 <= int(steps) <= MAX_STEPS:
        raise ValueError(f"steps must be an integer in [1, {MAX_STEPS}], got {steps!r}")
    if clip is not None and (_check_real("clip", clip) <= 0):
        raise ValueError(f"clip must be a finite number > 0 (or None), got {clip!r}")
    T = _check_T(T)
    h0, target = _check_real("h0", h0), _check_real("target", target)
    points, losses, norms, clipped = [(w, b)], [], [], []
    stopped = None
    for _ in range(int(steps)):
        res = cliff_loss(w, b, T=T, h0=h0, target=target)
        losses.append(float(res.loss))
        g = {"w": np.array(float(res.grad_w)), "b": np.array(float(res.grad_b))}
        if not all(np.isfinite(v) for v in g.values()):
            stopped = f"the gradient at (w, b) = ({w:.4g}, {b:.4g}) is not finite"
            break
        if clip is None:
            norms.append(float(np.hypot(g["w"], g["b"])))
            clipped.append(False)
        else:
            norm, was = clip_by_norm(g, float(clip))
            norms.append(norm)
            clipped.append(was)
        w, b = w - lr * float(g["w"]), b - lr * float(g["b"])
        points.append((w, b))
    if stopped is None:
        losses.append(float(cliff_loss(w, b, T=T, h0=h0, target=target).loss))
    return CliffPath(np.array(points), np.array(losses), np.array(norms), np.array(clipped, dtype=bool), stopped)
