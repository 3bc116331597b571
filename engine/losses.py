"""The loss of one step, in one place, in the two forms the engine needs.

- From the logits z (``loss_rows``): the loss and dL/dz of rows of one step, tail-exact, for BPTT and the
  batched trainer (engine.rnn, engine.batch).
- From the outputs y = g(z) (``STEP_TERMS``): the same loss of every step of every sequence, for scoring
  predictions that have no logits, such as a task's trivial predictor (engine.tasks).

With each output paired with its loss: identity with 0.5 ||y - t||^2, softmax with the cross-entropy of the
true class, sigmoid with the binary cross-entropy; dL/dz = y - t for all three.
"""
from __future__ import annotations

import numpy as np

from .activations import _sigmoid


def loss_rows(kind: str, z: np.ndarray, y: np.ndarray, tgt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row loss (n,) and dL/dz (n, O) for logits z (n, O), outputs y = g(z) and the rows' targets
    (float (n, O), or int classes (n,) for softmax). Shared by bptt and the batched trainer."""
    with np.errstate(all="ignore"):
        if kind == "identity":
            diff = y - tgt
            return 0.5 * np.sum(diff * diff, axis=1), diff
        if kind == "softmax":
            # -log softmax(z)[c] = (m - z_c) + log(1 + sum of e^(z_j - m) over the classes j other than
            # the largest one): log1p keeps a confident right answer's loss (4.2e-18 for logits [40, 0])
            idx = np.arange(z.shape[0])
            k = z.argmax(axis=1)
            m = z[idx, k]
            E = np.exp(z - m[:, None])
            E[idx, k] = 0.0
            terms = (m - z[idx, tgt]) + np.log1p(E.sum(axis=1))
            # dL/dz_c = y_c - 1 = -(the other classes' probability), summed without the 1 - 1 = 0 of y_c - 1
            d = np.array(y, dtype=np.float64)
            d[idx, tgt] = 0.0
            d[idx, tgt] = -d.sum(axis=1)
            return terms, d
        # sigmoid + binary cross-entropy, softplus(z) - t z, exact in both tails:
        # softplus(z) = max(z, 0) + log(1 + e^-|z|), so z = 40, t = 1 gives 4.2e-18, not 40 - 40 = 0
        terms = np.sum(np.maximum(z, 0.0) - tgt * z + np.log1p(np.exp(-np.abs(z))), axis=1)
        # dL/dz = sigmoid(z) - t, for z >= 0 written (1 - t) - sigmoid(-z): a confident right
        # answer keeps its tiny gradient (-4.2e-18 at z = 40, t = 1) instead of 1 - 1 = 0
        return terms, np.where(z >= 0.0, (1.0 - tgt) - _sigmoid(-z), y - tgt)


def _term_identity(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    d = p - t
    return 0.5 * np.sum(d * d, axis=-1)


def _term_softmax(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -np.log(np.take_along_axis(p, t[..., None], axis=-1)[..., 0])


def _term_sigmoid(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -np.sum(t * np.log(p) + (1.0 - t) * np.log1p(-p), axis=-1)


# output -> the loss term of one step from the outputs (N, T, O) and the step's target
STEP_TERMS = {"identity": _term_identity, "softmax": _term_softmax, "sigmoid": _term_sigmoid}
