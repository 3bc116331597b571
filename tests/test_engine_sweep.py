"""sweep_spectral_radius (the phase diagram) and lyapunov_exponent (the edge of chaos)."""
import naive
import numpy as np
import pytest

import engine

# ---------------------------------------------------------------- O2 for the sweep


@pytest.mark.parametrize("H", [1, 7, 16])
def test_sweep_linear_orthogonal_is_exactly_rho_powers(H):
    rhos = np.array([0.05, 0.5, 0.9, 0.999, 1.0, 1.001, 1.1, 1.5, 2.0])
    T = 150
    out = engine.sweep_spectral_radius(rhos, T, n_hidden=H, n_seeds=3, init="orthogonal", activation="linear", seed=2)
    assert out.shape == (rhos.size, T) and out.dtype == np.float64
    want = (T - np.arange(1, T + 1))[None, :] * np.log10(rhos)[:, None]
    np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-9)
    assert (out[:, -1] == 0.0).all()


def test_sweep_rho_zero_is_minus_infinity():
    out = engine.sweep_spectral_radius([0.0, 1.0], 6, n_hidden=4, n_seeds=2, init="orthogonal", activation="linear")
    assert np.isneginf(out[0, :-1]).all() and out[0, -1] == 0.0
    np.testing.assert_allclose(out[1], 0.0, atol=1e-12)


@pytest.mark.parametrize("activation", naive.ACTIVATION_NAMES)
def test_sweep_last_column_is_exactly_zero(activation):
    out = engine.sweep_spectral_radius([0.3, 0.9, 1.2], 40, n_hidden=6, n_seeds=3, activation=activation)
    assert (out[:, -1] == 0.0).all()


def test_sweep_far_below_float_range_stays_exact():
    """Ratios like 1e-1000 are far outside float64; the sweep renormalises so they stay exact."""
    T = 5000
    out = engine.sweep_spectral_radius([0.5], T, n_hidden=3, n_seeds=1, init="orthogonal", activation="linear")
    assert out[0, 0] == pytest.approx((T - 1) * np.log10(0.5), rel=1e-10)


# ---------------------------------------------------------------- against the naive computation


@pytest.mark.parametrize(
    "init,activation",
    [("gaussian", "tanh"), ("gaussian", "sigmoid"), ("orthogonal", "relu"), ("identity", "linear"),
     ("orthogonal", "tanh"), ("gaussian", "linear")],
)
def test_sweep_matches_naive(init, activation):
    rhos = [0.4, 0.95, 1.3]
    T, H, S, seed = 12, 5, 3, 7
    out = engine.sweep_spectral_radius(rhos, T, n_hidden=H, n_seeds=S, init=init, activation=activation, seed=seed)
    ref, per, overflow = naive.sweep(rhos, T, n_hidden=H, n_seeds=S, init=init, activation=activation, seed=seed)
    assert not overflow.any()
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)


def test_sweep_seed_changes_networks_and_inputs():
    a = engine.sweep_spectral_radius([0.9], 20, n_hidden=5, n_seeds=2, seed=0)
    b = engine.sweep_spectral_radius([0.9], 20, n_hidden=5, n_seeds=2, seed=1)
    c = engine.sweep_spectral_radius([0.9], 20, n_hidden=5, n_seeds=2, seed=0)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, c)


def test_sweep_rows_are_independent_of_the_other_rhos():
    """Every seed keeps its matrix across rhos: a row depends only on its own rho."""
    full = engine.sweep_spectral_radius([0.5, 1.0, 1.5], 30, n_hidden=6, n_seeds=3)
    one = engine.sweep_spectral_radius([1.0], 30, n_hidden=6, n_seeds=3)
    np.testing.assert_array_equal(full[1], one[0])


# ---------------------------------------------------------------- NaN exactly where the forward pass overflows


@pytest.mark.parametrize(
    "activation,init,rho,T",
    [
        ("linear", "orthogonal", 3.0, 600),  # 3^600 < 1e308: finite
        ("linear", "orthogonal", 3.0, 700),  # 3^700 overflows
        ("linear", "gaussian", 1.5, 400),
        ("linear", "gaussian", 6.0, 400),
        ("relu", "orthogonal", 20.0, 400),
        # relu maps a NaN pre-activation to 0: a mid-sequence overflow must not be hidden by a finite end state
        ("relu", "gaussian", 50.0, 400),
        ("tanh", "gaussian", 50.0, 400),
    ],
)
def test_sweep_nan_only_where_forward_overflows(activation, init, rho, T):
    H, S = 8, 4
    out = engine.sweep_spectral_radius([rho], T, n_hidden=H, n_seeds=S, init=init, activation=activation)
    # Which seeds overflow, by the engine's own forward pass (validated against naive elsewhere).
    overflowed = []
    X = np.random.default_rng(0).normal(size=(S, T, 1))
    for s in range(S):
        p = engine.init_params(1, H, 1, init=init, seed=s, activation=activation)
        p = p.replace(W_hh=p.W_hh * (rho / engine.spectral_radius(p.W_hh)))
        overflowed.append(engine.forward(p, X[s]).overflow_step is not None)
    if any(overflowed):
        assert np.isnan(out).all()
    else:
        assert not np.isnan(out).any()


def test_sweep_overflow_cases_cover_both_outcomes():
    """Guard for the parametrisation above: linear rho=3 is finite at T=600 and NaN at T=700."""
    a = engine.sweep_spectral_radius([3.0], 600, n_hidden=4, n_seeds=2, init="orthogonal", activation="linear")
    b = engine.sweep_spectral_radius([3.0, 0.5], 700, n_hidden=4, n_seeds=2, init="orthogonal", activation="linear")
    assert np.isfinite(a).all()
    assert np.isnan(b[0]).all() and np.isfinite(b[1]).all()


# ---------------------------------------------------------------- O8 Lyapunov exponent


def _reference_W(gain, n, seed):
    return np.random.default_rng(seed).normal(0.0, gain / np.sqrt(n), size=(n, n))


@pytest.mark.slow
def test_O8_edge_of_chaos():
    """n = 400: negative below g = 1, about 0 just above, about +0.15 at g = 2 (mean of 4 seeds).

    At finite n the spectral radius of W is a few % above g, so at g = 0.95 the exponent is about
    log rho(W) ~ -0.02 rather than the large-n log 0.95 = -0.05."""
    seeds = range(4)
    lam = {g: np.array([engine.lyapunov_exponent(g, n_hidden=400, steps=2000, burn_in=500, seed=s) for s in seeds])
           for g in (0.95, 1.05, 2.0)}
    assert lam[0.95].mean() < -0.005
    assert abs(lam[1.05].mean()) < 0.01
    assert lam[2.0].mean() == pytest.approx(0.15, abs=0.02)
    assert (lam[2.0] > 0.1).all()
    # Below the edge the state decays to 0, so the exponent is log rho(W) of the linearisation.
    for s in seeds:
        log_rho = np.log(engine.spectral_radius(_reference_W(0.95, 400, s)))
        if log_rho < -0.01:
            assert lam[0.95][s] == pytest.approx(log_rho, abs=2e-3)


def test_lyapunov_small_gain_is_log_rho():
    """Fast version of O8's ordered side: for small g the exponent is log rho(W) (h -> 0)."""
    for s in range(3):
        lam = engine.lyapunov_exponent(0.5, n_hidden=30, steps=400, burn_in=200, seed=s)
        assert lam == pytest.approx(np.log(engine.spectral_radius(_reference_W(0.5, 30, s))), abs=5e-3)
    assert engine.lyapunov_exponent(2.0, n_hidden=60, steps=400, burn_in=200, seed=0) > 0.05


def test_lyapunov_deterministic_by_seed():
    a = engine.lyapunov_exponent(1.5, n_hidden=20, steps=100, burn_in=10, seed=3)
    b = engine.lyapunov_exponent(1.5, n_hidden=20, steps=100, burn_in=10, seed=3)
    c = engine.lyapunov_exponent(1.5, n_hidden=20, steps=100, burn_in=10, seed=4)
    assert a == b and a != c and isinstance(a, float)


def test_sweep_dead_relu_seeds_are_left_out_not_nan():
    """A relu network whose last state is all zeros gives dL/dh_T = 0: no ratio exists. Such a seed is
    counted as dead and left out of the mean; NaN stays reserved for overflow (issue: 0/0 gave NaN)."""
    rhos = [0.5, 0.9, 1.0]
    solo = [engine.sweep_spectral_radius(rhos, 20, n_hidden=1, n_seeds=1, activation="relu", seed=s,
                                         return_dead=True) for s in range(6)]
    dead_seeds = [s for s, (_, d) in enumerate(solo) if d.all()]
    live_seeds = [s for s, (_, d) in enumerate(solo) if not d.any()]
    assert dead_seeds and live_seeds  # both outcomes occur among these seeds
    for s in dead_seeds:
        r, _ = solo[s]
        assert np.isneginf(r).all() and not np.isnan(r).any()
    for s in live_seeds:
        r, _ = solo[s]  # -inf where a unit switched off on the way back; never NaN
        assert not np.isnan(r).any() and (r[:, -1] == 0).all()


def test_sweep_mean_skips_dead_seeds():
    rhos = np.array([0.5, 0.9])
    r, dead = engine.sweep_spectral_radius(rhos, 20, n_hidden=1, n_seeds=6, activation="relu", return_dead=True)
    assert dead.shape == (2,) and (dead > 0).all() and (dead < 6).all()
    assert not np.isnan(r).any() and (r[:, -1] == 0).all()
    plain = engine.sweep_spectral_radius(rhos, 20, n_hidden=1, n_seeds=6, activation="relu")
    np.testing.assert_array_equal(plain, r)
