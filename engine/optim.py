"""Gradient clipping and the optimisers, with PyTorch's semantics (torch.nn.utils.clip_grad_*, torch.optim)."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from . import _blas  # noqa: F401  the BLAS thread limit (engine/_blas.py)

# ---------------------------------------------------------------- clipping and optimisers (PyTorch semantics)


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """sqrt of the sum of squares of every gradient entry (torch's clip_grad_norm_ total_norm, p = 2):
    the norm of the per-parameter norms."""
    with np.errstate(all="ignore"):
        return float(np.linalg.norm([np.linalg.norm(np.asarray(g, dtype=np.float64).ravel()) for g in grads.values()]))


def clip_by_norm(grads: dict, max_norm: float) -> tuple[float, bool]:
    """In place, as torch.nn.utils.clip_grad_norm_: coefficient max_norm / (total_norm + 1e-6), applied
    when below 1 (the direction is kept: ORACLES O4). Returns (norm before clipping, clipped)."""
    total = global_norm(grads)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for k in grads:
            grads[k] = grads[k] * coef
        return total, True
    return total, False


def clip_by_value(grads: dict, clip_value: float) -> tuple[float, bool]:
    """In place, every entry into [-clip_value, clip_value] (changes the direction). Returns (norm before
    clipping, whether any entry was clipped)."""
    total = global_norm(grads)
    clipped = False
    for k in grads:
        g = grads[k]
        if (np.abs(g) > clip_value).any():
            clipped = True
            grads[k] = np.clip(g, -clip_value, clip_value)
    return total, clipped


class SGD:
    """torch.optim.SGD with momentum (dampening 0, not Nesterov, no weight decay):
    buf = g on the first step, then buf = momentum * buf + g; p -= lr * buf."""

    def __init__(self, lr: float, momentum: float = 0.0):
        self.lr, self.momentum = float(lr), float(momentum)
        self.buf: dict[str, np.ndarray] = {}

    def step(self, params: dict, grads: Mapping) -> None:
        for k, g in grads.items():
            d = g
            if self.momentum != 0.0:
                d = g.copy() if k not in self.buf else self.momentum * self.buf[k] + g
                self.buf[k] = d
            params[k] = params[k] - self.lr * d


class Adam:
    """torch.optim.Adam (betas 0.9/0.999, eps 1e-8, bias correction, no weight decay), in torch's order of
    operations: m, v moving averages; p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = float(lr), float(betas[0]), float(betas[1]), float(eps)
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}
        self.t = 0

    def step(self, params: dict, grads: Mapping) -> None:
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t
        bc2 = 1.0 - self.b2 ** self.t
        for k, g in grads.items():
            m = self.m.get(k, np.zeros_like(g))
            v = self.v.get(k, np.zeros_like(g))
            m = m + (1.0 - self.b1) * (g - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
            v = v * self.b2 + (g * g) * (1.0 - self.b2)  # exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)
            self.m[k], self.v[k] = m, v
            denom = np.sqrt(v) / math.sqrt(bc2) + self.eps
            params[k] = params[k] - (self.lr / bc1) * (m / denom)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
