"""Validation of the batched passes' inputs: float types, padded batches, state dicts, truncation and budgets."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from . import limits as L
from .params import params_from_state_dict

if TYPE_CHECKING:
    from .batch import _Net

DTYPES = {"float64": np.float64, "float32": np.float32}
SD_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias")


def _check_dtype(dtype) -> type:
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    for v in DTYPES.values():
        if dtype is v or (isinstance(dtype, np.dtype) and dtype == v):
            return v
    raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")


def check_batch(x, y, lengths, *, output: str, loss: str, n_out: int | None = None):
    """Validate a padded batch against the data convention; returns (x (B, T, D) float64, y, lengths (B,)).
    x is the caller's array itself when it is float64 with zero padding already (nothing here writes to it).

    y: (B, O) float (identity/sigmoid, last), (B,) int (softmax, last), (B, T, O) float (all),
    (B, T) int (softmax, all). NaN anywhere inside a sequence's valid steps is refused; the padding
    is ignored (NaN allowed there) and zeroed.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise ValueError("x must be a numeric array of shape (B, T, D)")
    xa = np.asarray(x)
    if xa.ndim != 3 or min(xa.shape) < 1 or xa.dtype.kind not in "iuf" or xa.dtype == bool:
        raise ValueError(f"x must be a real array of shape (B, T, D) with B, T, D >= 1, got shape {xa.shape}")
    B, T, _ = xa.shape
    if lengths is None:
        ln = np.full(B, T, dtype=np.int64)
    else:
        ln = np.asarray(lengths)
        if ln.shape != (B,) or ln.dtype.kind not in "iu":
            raise ValueError(f"lengths must be an integer array of shape (B,) = ({B},)")
        if (ln < 1).any() or (ln > T).any():
            raise ValueError(f"lengths must lie in [1, T] = [1, {T}]")
        ln = ln.astype(np.int64)
    valid = np.arange(T)[None, :] < ln[:, None]  # (B, T)
    short = np.flatnonzero(ln < T)
    if xa.dtype == np.float64 and not any(xa[b, ln[b]:].any() for b in short):
        pass  # float64 with zero padding already (a task's own arrays): used as it is, not copied
    else:
        xa = np.where(valid[:, :, None], xa.astype(np.float64), 0.0)
    if not np.isfinite(xa).all():
        raise ValueError("x must be finite (no NaN or inf) within each sequence's length")
    if isinstance(y, (str, bytes)) or y is None:
        raise ValueError("y must be a numeric array")
    ya = np.asarray(y)
    if ya.dtype.kind not in "iuf" or ya.dtype == bool:
        raise ValueError(f"y must be numeric, got dtype {ya.dtype}")
    if output == "softmax":
        want, text = ((B,), f"(B,) = ({B},)") if loss == "last" else ((B, T), f"(B, T) = ({B}, {T})")
        if ya.shape != want:
            raise ValueError(f"y must have shape {text} of integer classes for a softmax output, got {ya.shape}")
        yv = ya if loss == "last" else np.where(valid, ya, 0)
        if not np.isfinite(yv).all() or (yv != np.round(yv)).any() or (yv < 0).any() or (
                n_out is not None and (yv >= n_out).any()):
            raise ValueError(f"y must hold integer classes in [0, {n_out if n_out is not None else 'O'})")
        return xa, yv.astype(np.int64), ln
    if loss == "last" and (ya.ndim != 2 or ya.shape[0] != B or (n_out is not None and ya.shape[1] != n_out)):
        raise ValueError(f"y must have shape (B, O) = ({B}, {n_out if n_out is not None else 'O'}), got {ya.shape}")
    if loss == "all" and (ya.ndim != 3 or ya.shape[:2] != (B, T) or (n_out is not None and ya.shape[2] != n_out)):
        raise ValueError(f"y must have shape (B, T, O) = ({B}, {T}, {n_out if n_out is not None else 'O'}), "
                         f"got {ya.shape}")
    yv = ya.astype(np.float64) if loss == "last" else np.where(valid[:, :, None], ya.astype(np.float64), 0.0)
    if not np.isfinite(yv).all():
        raise ValueError("y must be finite (no NaN or inf) within each sequence's length")
    if output == "sigmoid" and ((yv < 0) | (yv > 1)).any():
        raise ValueError("y for a sigmoid output must lie in [0, 1]")
    return xa, yv, ln


def check_state_dict(state: Mapping, cell: str) -> dict[str, np.ndarray]:
    """A validated float64 copy of a state dict (the checks of params_from_state_dict)."""
    params_from_state_dict(state, cell=cell)  # raises ValueError naming the key
    out = {}
    for k in SD_KEYS:
        v = state[k]
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        out[k] = np.array(v, dtype=np.float64)
    return out

def _check_truncate(truncate, T: int) -> tuple[int, int]:
    if truncate is None:
        return T, T
    try:
        k1, k2 = (int(v) for v in truncate)
        bad = any(isinstance(v, (bool, np.bool_)) or float(v) != int(v) for v in truncate)
    except (TypeError, ValueError):
        raise ValueError(f"truncate must be a pair (k1, k2) of positive integers, got {truncate!r}") from None
    if bad or k1 < 1 or k2 < 1:
        raise ValueError(f"truncate must be a pair (k1, k2) of positive integers, got {truncate!r}")
    return min(k1, T), k2


def _check_batch_budget(shape: tuple, net: _Net, dt) -> None:
    """Refuse a batch x of ``shape`` (B, T, D) whose pass would need too much memory or time
    (limits.MAX_BATCH_NUMBERS, MAX_BATCH_WORK), before anything of its size is allocated."""
    if len(shape) != 3:
        return  # check_batch names the wrong shape
    B, T, D = shape
    GH, H = net.W_hh.shape
    args = f"x: B = {B} sequences of T = {T} steps with H = {H}, D = {D}" + (
        f" ({net.cell}, {GH // H} gate blocks)" if GH > H else "")
    itemsize = np.dtype(dt).itemsize
    L.check_budget(args, T * B * GH, L.MAX_BATCH_NUMBERS, "T x B x G H numbers per array",
                   bytes_each=itemsize * L.BATCH_BYTES)
    L.check_budget(args, T * B * GH * (H + D), L.MAX_BATCH_WORK, "T x B x G H (H + D) for the forward and backward "
                   "passes", seconds=L.BATCH_SECONDS)
