"""Summaries of a run that the pages show: state norms, the 2-D principal-component path of the
hidden state, and how saturated the units are. Arrays in, arrays out."""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from .params import check_number


def _matrix(name: str, X) -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64) if not isinstance(X, (str, bytes)) else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array of shape (T, H) with T, H >= 1")
    return np.ascontiguousarray(arr)


def state_norms(h) -> np.ndarray:
    """(T,) Euclidean norm of every row of h (T, H), scaled by the row's largest entry so that 1e200
    does not overflow and 1e-200 does not underflow when squared; inf where a row overflowed, NaN where
    it holds a NaN."""
    h = _matrix("h", h)
    out = np.empty(h.shape[0])
    with np.errstate(all="ignore"):
        K.row_norms(h, out)
    return out


def pca_2d(h) -> tuple[np.ndarray, np.ndarray]:
    """The path of h_t (T, H) on its first two principal axes.

    Returns (coords (T, 2), explained (2,)): coordinates of every finite state (NaN rows where the
    state is not finite, or too large to centre) and the fraction of variance along each axis (NaN
    when fewer than two finite states exist). With one unit the second coordinate is 0; with no
    variance at all every coordinate is 0.
    """
    h = _matrix("h", h)
    T = h.shape[0]
    coords = np.full((T, 2), np.nan)
    explained = np.full(2, np.nan)
    with np.errstate(all="ignore"):
        ok = np.isfinite(h).all(axis=1)
        # values near the float64 limit overflow when centred; such rows count as not finite
        if ok.any():
            ok &= np.isfinite(h - h.mean(axis=0, where=ok[:, None])).all(axis=1)
        if ok.sum() < 2:
            return coords, explained
        hc = h[ok] - h[ok].mean(axis=0)
        _, s, vt = np.linalg.svd(hc, full_matrices=False)
        k = min(2, vt.shape[0])
        coords[ok, :k] = hc @ vt[:k].T
        if k == 1:
            coords[ok, 1] = 0.0
        total = float((s**2).sum())
        if total > 0:
            explained[:k] = s[:k] ** 2 / total
        else:
            coords[ok] = 0.0
    return coords, explained


def saturated_fraction(fprime, threshold: float = 0.1) -> np.ndarray:
    """(T,) fraction of units whose |f'(a_t)| is below ``threshold`` at each step: the units through
    which almost no gradient can pass (why tanh networks vanish faster than the linear bound)."""
    d = _matrix("fprime", fprime)
    threshold = check_number("threshold", threshold)
    with np.errstate(invalid="ignore"):
        return np.mean(np.abs(d) < threshold, axis=1)
