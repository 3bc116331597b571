"""Chart data for the browser: float32 halves a figure's payload, but only where float32 holds the values."""
from __future__ import annotations

import numpy as np

FLOAT32_SAFE = 1e38  # float32 ends at 3.4e38; above this a value keeps float64


def float32_if_fits(a) -> np.ndarray:
    """``a`` with every non-finite entry as NaN (a gap: how the charts draw an overflowed state) and as
    float32 when every finite |value| is below 1e38, else float64: an exploding run's 1e200 stays
    1e200 in the chart instead of becoming inf in the cast (the policy of ui.runs.compact)."""
    arr = np.asarray(a, dtype=np.float64)
    ok = np.isfinite(arr)
    if not ok.all():
        arr = np.where(ok, arr, np.nan)
    if ok.any() and np.abs(arr[ok]).max() >= FLOAT32_SAFE:
        return arr
    return arr.astype(np.float32)
