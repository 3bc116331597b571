"""The engine's loss of whole sequences in numpy (which steps it covers, per sequence and per set) and the tasks' metrics."""
from __future__ import annotations

import math

import numpy as np

from ..losses import STEP_TERMS

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
