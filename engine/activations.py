"""Activation and output registries.

Each activation keeps its function, its derivative and gamma = sup |f'| together. The integer
``code`` is what the numba kernels see (kernels take only arrays and scalars); the numpy
functions are the slow, readable versions used by references and by the pages.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Activation:
    name: str
    code: int
    gamma: float  # sup over a of |f'(a)|: the constant in Pascanu's bound (ORACLES O3)
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]  # derivative as a function of the pre-activation a


def _sigmoid(a):
    e = np.exp(-np.abs(a))  # <= 1: no overflow, and both tails keep their relative accuracy
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _dsigmoid(a):
    e = np.exp(-np.abs(a))
    return e / (1.0 + e) ** 2


def _dtanh(a):
    # 1 - tanh^2 rounds to 0 for |a| > 19; 4e/(1+e)^2 with e = exp(-2|a|) stays exact far beyond
    e = np.exp(-2.0 * np.abs(a))
    return np.where(np.abs(a) < 0.625, 1.0 - np.tanh(a) ** 2, 4.0 * e / (1.0 + e) ** 2)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", 0, 1.0, np.tanh, _dtanh),
    "relu": Activation("relu", 1, 1.0, lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(np.float64)),
    "sigmoid": Activation("sigmoid", 2, 0.25, _sigmoid, _dsigmoid),
    "linear": Activation("linear", 3, 1.0, lambda a: np.asarray(a, dtype=np.float64).copy(), np.ones_like),
}

# Output functions g and the loss each one is paired with (the gradient wrt the logits is then
# always y - target, which is why these pairs are the textbook ones).
OUTPUTS: tuple[str, ...] = ("identity", "softmax", "sigmoid")


def output_values(kind: str, Z: np.ndarray) -> np.ndarray:
    """y = g(z) of the output function ``kind`` for logits Z (..., O): z itself, the softmax over the last
    axis, or the tail-exact logistic sigmoid (sigmoid(-40) = 4.2e-18, not 0)."""
    with np.errstate(all="ignore"):
        if kind == "identity":
            return Z
        if kind == "sigmoid":
            return _sigmoid(Z)
        E = np.exp(Z - Z.max(axis=-1, keepdims=True))
        return E / E.sum(axis=-1, keepdims=True)
OUTPUT_LOSS = {"identity": "0.5 * squared error", "softmax": "cross-entropy", "sigmoid": "binary cross-entropy"}
LOSSES: tuple[str, ...] = ("last", "all")


def activation_gamma(name: str) -> float:
    """sup |f'| of the named activation (1 for tanh/relu/linear, 1/4 for sigmoid)."""
    return get_activation(name).gamma


def get_activation(name: str) -> Activation:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def check_output(name: str) -> str:
    if not isinstance(name, str) or name not in OUTPUTS:
        raise ValueError(f"output must be one of {list(OUTPUTS)}, got {name!r}")
    return name


def check_loss(name: str) -> str:
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {name!r}")
    return name
