"""State norms, the PCA path and the saturation fraction (engine/analysis.py)."""
import numpy as np
import pytest

import engine


def test_state_norms_match_numpy_and_survive_extremes():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(50, 7))
    np.testing.assert_allclose(engine.state_norms(h), np.linalg.norm(h, axis=1), rtol=1e-14)
    ext = np.array([[1e200, 1e200], [1e-200, 1e-200], [0.0, 0.0], [np.inf, 1.0], [np.nan, 1.0]])
    out = engine.state_norms(ext)
    np.testing.assert_allclose(out[:3], [np.sqrt(2) * 1e200, np.sqrt(2) * 1e-200, 0.0], rtol=1e-14)
    assert out[3] == np.inf and np.isnan(out[4])


def test_pca_2d_equals_a_projection_on_the_top_singular_vectors():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(60, 5)) @ np.diag([5.0, 2.0, 0.5, 0.1, 0.01])
    coords, explained = engine.pca_2d(h)
    hc = h - h.mean(axis=0)
    u, s, vt = np.linalg.svd(hc, full_matrices=False)
    for k in range(2):  # equal up to the sign of each axis
        sign = np.sign(coords[:, k] @ (hc @ vt[k]))
        np.testing.assert_allclose(sign * coords[:, k], hc @ vt[k], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(explained, s[:2] ** 2 / (s**2).sum(), rtol=1e-12)
    assert explained[0] > explained[1] > 0


def test_pca_2d_edge_cases():
    coords, explained = engine.pca_2d(np.zeros((10, 3)))  # no variance
    assert np.all(coords == 0.0) and np.all(np.isnan(explained))
    coords, _ = engine.pca_2d(np.arange(6.0)[:, None])  # one unit: second axis is 0
    assert np.all(coords[:, 1] == 0.0) and np.all(np.isfinite(coords))
    h = np.vstack([np.random.default_rng(2).normal(size=(5, 3)), [[np.inf, 0, 0]]])
    coords, _ = engine.pca_2d(h)  # an overflowed row is NaN, the others are placed
    assert np.isnan(coords[-1]).all() and np.isfinite(coords[:-1]).all()
    coords, explained = engine.pca_2d(np.ones((1, 3)))  # a single state: nothing to project
    assert np.isnan(coords).all() and np.isnan(explained).all()


def test_saturated_fraction_counts_flat_units():
    d = np.array([[1.0, 0.05, 0.0, 0.5], [0.09, 0.09, 0.2, 0.1]])
    np.testing.assert_allclose(engine.saturated_fraction(d), [0.5, 0.5])
    np.testing.assert_allclose(engine.saturated_fraction(d, threshold=0.2), [0.5, 0.75])
    p = engine.init_params(1, 16, 1, spectral_radius=0.9, seed=3)
    loud = engine.forward(p, engine.make_input("normal", 80, 1, amplitude=5.0)).fprime
    quiet = engine.forward(p, engine.make_input("normal", 80, 1, amplitude=0.1)).fprime
    assert engine.saturated_fraction(loud).mean() > engine.saturated_fraction(quiet).mean()


@pytest.mark.parametrize("call, name", [
    (lambda: engine.state_norms(np.ones(3)), "h"),
    (lambda: engine.state_norms("abc"), "h"),
    (lambda: engine.state_norms([["a", "b"]]), "h"),
    (lambda: engine.pca_2d([[1.0], [1.0, 2.0]]), "h"),
    (lambda: engine.pca_2d(np.ones((0, 3))), "h"),
    (lambda: engine.saturated_fraction(np.ones(4)), "fprime"),
    (lambda: engine.saturated_fraction(np.ones((2, 2)), threshold="x"), "threshold"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
