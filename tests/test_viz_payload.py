"""viz.payload: the one narrowing rule (float32 where float32 holds the values) and the one way to thin a
series to evenly spaced samples, which every chart and cache uses."""
import numpy as np
import pytest

from viz.payload import evenly_spaced, float32_if_fits, narrow


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 100, 1001])
@pytest.mark.parametrize("k", [0, 1, 2, 5, 40, 5000])
def test_evenly_spaced_keeps_both_ends_and_at_most_k(n, k):
    idx = evenly_spaced(n, k)
    assert idx.dtype.kind == "i" and np.all(np.diff(idx) > 0)
    assert idx.size == min(n, k)                                # distinct: no index twice
    if n and k >= 2:
        assert idx[0] == 0 and idx[-1] == n - 1
    if k >= n:
        assert np.array_equal(idx, np.arange(n))
    if n > 1 and 2 <= k < n:
        gaps = np.diff(idx)
        assert gaps.max() - gaps.min() <= 1                     # evenly: gaps differ by at most one


def test_narrow_keeps_what_float32_cannot_hold():
    assert narrow(np.array([1.0, -3e37, np.inf, np.nan])).dtype == np.float32
    big = np.array([1.0, 1e200])
    assert narrow(big).dtype == np.float64 and narrow(big)[1] == 1e200
    assert np.isinf(narrow(np.array([np.inf]))[0])              # non-finite entries are kept
    gap = float32_if_fits(np.array([1.0, np.inf, -np.inf]))
    assert gap.dtype == np.float32 and np.isnan(gap[1:]).all()  # a chart draws overflow as a gap
    assert float32_if_fits(np.array([1e300, np.inf])).dtype == np.float64
