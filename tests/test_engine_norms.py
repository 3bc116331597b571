"""The batched spectral norm behind jacobian_norms and jacobian_norm_grid (engine.jacobians._norms2) agrees with
the largest singular value from numpy's SVD over the whole float64 range, and keeps inf for a non-finite
matrix; the batches of _NormBatch return the norms in the order the matrices came."""
import numpy as np
import pytest

from engine import jacobians


@pytest.mark.parametrize("S", [1, 3, 32, 130])
@pytest.mark.parametrize("scale", [1e-280, 1e-8, 1.0, 1e150, 1e290])
def test_norms_match_the_svd(S, scale):
    rng = np.random.default_rng(S)
    A = rng.normal(size=(7, S, S)) * scale
    A[1] = A[1] @ np.diag(np.logspace(0, -14, S))                          # ill-conditioned
    A[2] = np.outer(rng.normal(size=S), rng.normal(size=S)) * scale        # rank one
    ref = np.linalg.svd(A, compute_uv=False)[:, 0]
    np.testing.assert_allclose(jacobians._norms2(A.copy()), ref, rtol=2e-14, atol=0)


def test_non_finite_and_zero_matrices():
    A = np.ones((4, 3, 3))
    A[0, 1, 1] = np.nan
    A[1, 0, 2] = np.inf
    A[2] = 0.0
    out = jacobians._norms2(A)
    assert out[0] == np.inf and out[1] == np.inf and out[2] == 0.0
    assert out[3] == pytest.approx(3.0, rel=1e-15)


def test_batches_keep_the_order(monkeypatch):
    monkeypatch.setattr(jacobians, "_NORM_BATCH_BYTES", 8 * 4 * 3)   # three 2 x 2 matrices per batch
    rng = np.random.default_rng(0)
    mats = [rng.normal(size=(2, 2)) * 10.0 ** k for k in range(-5, 6)]
    batch = jacobians._NormBatch(2, len(mats))
    for M in mats:
        batch.add(M)
    np.testing.assert_allclose(batch.norms(), [np.linalg.norm(M, 2) for M in mats], rtol=1e-14)
