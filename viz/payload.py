"""Chart data for the browser and the caches: float32 halves a payload, but only where float32 holds the
values; long series are thinned to evenly spaced samples."""
from __future__ import annotations

import numpy as np

FLOAT32_SAFE = 1e38  # float32 ends at 3.4e38; above this a value keeps float64


def narrow(a) -> np.ndarray:
    """``a`` as float32 when every finite |value| is below 1e38, else as it is (float64): an exploding
    run's 1e200 stays 1e200 instead of becoming inf in the cast. Non-finite entries are kept."""
    arr = np.asarray(a)
    with np.errstate(all="ignore"):
        finite = arr[np.isfinite(arr)]
        if finite.size and np.abs(finite).max() >= FLOAT32_SAFE:
            return arr
    return arr.astype(np.float32)


def float32_if_fits(a) -> np.ndarray:
    """``a`` with every non-finite entry as NaN (a gap: how the charts draw an overflowed state), narrowed
    as ``narrow`` does."""
    arr = np.asarray(a, dtype=np.float64)
    ok = np.isfinite(arr)
    if not ok.all():
        arr = np.where(ok, arr, np.nan)
    return narrow(arr)


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """At most ``k`` increasing indices into range(n), evenly spread with both ends kept (all of range(n)
    when k >= n; none when n or k is 0)."""
    return np.unique(np.linspace(0, n - 1, max(0, min(n, k))).round().astype(int))
