"""Results from the literature (shared/ORACLES.md) as tests."""
import naive
import numpy as np
import pytest
from naive import assert_close, make_case
from scipy.optimize import brentq

import engine

# ---------------------------------------------------------------- O1 exact BPTT


@pytest.mark.parametrize("loss", ["last", "all"])
@pytest.mark.parametrize("activation", naive.ACTIVATION_NAMES)
def test_O1_recursion_and_weight_gradient_sums(activation, loss):
    p, x, target, h0 = make_case(activation, "identity", loss, T=11, H=6, seed=11)
    tr = engine.bptt(p, x, target, h0=h0, loss=loss)
    T = x.shape[0]
    # delta_t = W_hy^T dl_t/dy_t + W_hh^T [f'(a_{t+1}) * delta_{t+1}]
    dY = tr.y - (target if loss == "all" else np.vstack([np.zeros((T - 1, p.n_out)), target[None]]))
    if loss == "last":
        dY[:-1] = 0.0
    for t in range(T):
        want = p.W_hy.T @ dY[t]
        if t + 1 < T:
            want = want + p.W_hh.T @ (tr.fprime[t + 1] * tr.grad_h[t + 1])
        assert_close(tr.grad_h[t], want, what=f"delta_{t + 1}")
    assert_close(tr.grad_a, tr.fprime * tr.grad_h, what="g_t = f'(a_t) * delta_t")
    H_prev = np.vstack([h0[None], tr.h[:-1]])
    assert_close(tr.grads.W_hh, sum(np.outer(tr.grad_a[t], H_prev[t]) for t in range(T)), what="dW_hh")
    assert_close(tr.grads.W_hx, sum(np.outer(tr.grad_a[t], x[t]) for t in range(T)), what="dW_hx")
    assert_close(tr.grads.b_h, tr.grad_a.sum(axis=0), what="db_h")


# ---------------------------------------------------------------- O2 linear RNN


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 1.1, 1.7])
def test_O2_orthogonal_times_rho_gives_rho_powers(rho):
    T = 60
    p = engine.init_params(3, 10, 2, init="orthogonal", spectral_radius=rho, activation="linear", seed=3)
    x = engine.make_input("normal", T, 3, seed=1)
    tr = engine.bptt(p, x, engine.make_target("identity", "last", T, 2))
    want = rho ** (T - 1 - np.arange(T))  # step t+1 (0-based t) is T-(t+1) steps from the end
    np.testing.assert_allclose(tr.jacobian_norm, want, rtol=1e-12, atol=0)
    G = engine.jacobian_norm_grid(tr, [0, 10, 31, 59])
    s = np.array([0, 10, 31, 59])
    for i in range(4):
        for j in range(i + 1):
            assert G[i, j] == pytest.approx(rho ** (s[i] - s[j]), rel=1e-12)
    # and the gradient norm itself: ||dL/dh_t|| = rho^(T-t) ||dL/dh_T|| (orthogonal keeps lengths)
    np.testing.assert_allclose(tr.grad_h_norm, want * tr.grad_h_norm[-1], rtol=1e-12)


def test_O2_linear_jacobian_is_a_matrix_power():
    T = 25
    p = engine.init_params(2, 6, 3, init="gaussian", spectral_radius=1.05, activation="linear", seed=9)
    x = engine.make_input("normal", T, 2, seed=2)
    tr = engine.bptt(p, x, engine.make_target("identity", "last", T, 3))
    W = p.W_hh
    for k in range(T):
        Wk = np.linalg.matrix_power(W, T - 1 - k)
        # the explicit Jacobian product is W^(T-k), entry by entry
        np.testing.assert_array_equal(naive.jacobian(W, tr.fprime, T - 1, k), naive.jacobian(W, np.ones_like(tr.fprime), T - 1, k))
        assert_close(naive.jacobian(W, tr.fprime, T - 1, k), Wk, rtol=1e-13, what=f"dh_T/dh_{k + 1}")
        # gradient with the loss at T only: dL/dh_k = (W^T)^(T-k) dL/dh_T
        assert_close(tr.grad_h[k], Wk.T @ tr.grad_h[-1], rtol=1e-12, what=f"delta_{k + 1}")
    # norms: ||W^(T-k)||_2 from power_norms
    pn = engine.power_norms(W, T - 1)
    assert_close(tr.jacobian_norm, pn[::-1], rtol=1e-12, what="jacobian_norm vs power_norms")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_O2_gelfand_slope_tends_to_log_rho(seed):
    W = engine.init_params(1, 20, 1, seed=seed, spectral_radius=0.97).W_hh
    log_rho = np.log10(engine.spectral_radius(W))
    lp = engine.power_norms(W, 600, log10=True)
    k = np.arange(300, 601)
    slope = np.polyfit(k, lp[300:], 1)[0]
    assert slope == pytest.approx(log_rho, abs=2e-4)
    # ||W^n||^(1/n) -> rho, and the bound rho^n <= ||W^n|| <= sigma_max^n holds for every n
    n = np.arange(1, 601)
    assert np.all(lp[1:] >= n * log_rho - 1e-9)
    assert np.all(lp[1:] <= n * np.log10(engine.spectral_norm(W)) + 1e-9)
    assert lp[600] / 600 == pytest.approx(log_rho, abs=2e-3)


def test_O2_gelfand_slope_from_the_engine_jacobians():
    T = 400
    p = engine.init_params(1, 12, 1, init="gaussian", spectral_radius=0.95, activation="linear", seed=4)
    tr = engine.forward(p, engine.make_input("normal", T, 1))
    d = T - 1 - np.arange(T)
    sel = (d >= 150) & (d <= 350)
    slope = np.polyfit(d[sel], np.log(tr.jacobian_norm[sel]), 1)[0]
    assert slope == pytest.approx(np.log(0.95), abs=5e-3)


def test_O2_power_norms_log10_survive_beyond_float_range():
    W = 3.0 * np.eye(2)
    lp = engine.power_norms(W, 1000, log10=True)
    np.testing.assert_allclose(lp, np.arange(1001) * np.log10(3.0), rtol=1e-12)
    assert np.isinf(engine.power_norms(W, 1000)[-1])


# ---------------------------------------------------------------- O3 Pascanu's bound


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_O3_bound_holds_for_every_W_and_input(activation):
    gamma = engine.activation_gamma(activation)
    assert gamma == {"tanh": 1.0, "sigmoid": 0.25}[activation]
    T, H = 30, 8
    for seed in range(40):
        rng = np.random.default_rng(seed)
        eta = rng.uniform(0.3, 0.99)
        W = rng.normal(size=(H, H)) * rng.uniform(0.1, 3.0, size=(H, 1))  # rows of different scales
        W *= (eta / gamma) / engine.spectral_norm(W)
        p = engine.RNNParams(W_hx=3 * rng.normal(size=(H, 2)), W_hh=W, b_h=rng.normal(size=H),
                             W_hy=rng.normal(size=(1, H)), b_y=np.zeros(1), activation=activation)
        assert engine.spectral_norm(p.W_hh) * gamma == pytest.approx(eta, rel=1e-12)
        tr = engine.forward(p, rng.normal(size=(T, 2)) * rng.uniform(0.1, 5), h0=rng.normal(size=H))
        bound = eta ** (T - 1 - np.arange(T))
        assert np.all(tr.jacobian_norm <= bound * (1 + 1e-12)), seed
        s = [0, 7, 15, 29]
        G = engine.jacobian_norm_grid(tr, s)
        for i in range(4):
            for j in range(i):
                assert G[i, j] <= eta ** (s[i] - s[j]) * (1 + 1e-12)


def test_O3_sigma_above_one_over_gamma_is_not_sufficient_for_explosion():
    # sigma_max = 2 for tanh but saturated units (large bias) kill the gradient anyway.
    H = 4
    W = 2.0 * np.eye(H)
    p = engine.RNNParams(W_hx=np.ones((H, 1)), W_hh=W, b_h=5 * np.ones(H), W_hy=np.ones((1, H)), b_y=np.zeros(1))
    tr = engine.forward(p, np.zeros((40, 1)))
    assert engine.spectral_norm(W) > 1 / engine.activation_gamma("tanh")
    assert tr.jacobian_norm[0] < 1e-20


# ---------------------------------------------------------------- O6 latching (Bengio 1994)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_O6_single_unit_latch(sign):
    """a_t = 2 tanh(a_{t-1}) is the engine's unit with W_hh = [[2]], no input and no bias: a_t = 2 h_{t-1}
    and h_{t-1} = tanh(a_{t-1}). Stable fixed points a* = +-1.9150 where the step derivative
    2 (1 - tanh(a*)^2) = 0.1664, so dL/dh shrinks about 6x per step once latched."""
    a_star = brentq(lambda a: 2 * np.tanh(a) - a, 0.5, 3.0)
    assert a_star == pytest.approx(1.9150, abs=5e-5)
    slope = 2 * (1 - np.tanh(a_star) ** 2)
    assert slope == pytest.approx(0.1664, abs=5e-5)

    T = 80
    p = engine.RNNParams(W_hx=np.zeros((1, 1)), W_hh=[[2.0]], b_h=np.zeros(1), W_hy=[[1.0]], b_y=np.zeros(1))
    tr = engine.bptt(p, np.zeros((T, 1)), [0.0], h0=[sign * 0.3])
    assert tr.a[-1, 0] == pytest.approx(sign * a_star, rel=1e-12)
    assert 2 * tr.h[-1, 0] == pytest.approx(sign * a_star, rel=1e-12)
    ratio = tr.grad_h_norm[:-1] / tr.grad_h_norm[1:]  # shrink factor per step going back
    np.testing.assert_allclose(ratio[20:], slope, rtol=1e-10)
    np.testing.assert_allclose(tr.jacobian_norm[20:-1] / tr.jacobian_norm[21:], slope, rtol=1e-10)
    assert 1 / ratio[-1] == pytest.approx(6.0, rel=0.01)


# ---------------------------------------------------------------- O7 Saxe


def test_O7_gaussian_rho_vs_sigma_max():
    H = 400
    for seed in range(2):
        W = engine.init_params(1, H, 1, init="gaussian", seed=seed).W_hh
        assert engine.spectral_radius(W) == pytest.approx(1.0, abs=0.1)
        assert engine.spectral_norm(W) == pytest.approx(2.0, abs=0.1)
        Ws = engine.init_params(1, H, 1, init="gaussian", seed=seed, spectral_radius=1.0).W_hh
        rho, smax = engine.spectral_radius(Ws), engine.spectral_norm(Ws)
        assert rho == pytest.approx(1.0, rel=1e-12)
        assert 1.8 <= smax / rho <= 2.2
        # so "rho = 1" still violates O3's sufficient condition sigma_max * gamma < 1 for tanh
        assert smax * engine.activation_gamma("tanh") > 1


def test_O7_orthogonal_keeps_lengths():
    p = engine.init_params(1, 50, 1, init="orthogonal", seed=1)
    np.testing.assert_allclose(engine.singular_values(p.W_hh), 1.0, rtol=1e-13)
    assert engine.spectral_radius(p.W_hh) == pytest.approx(1.0, rel=1e-12)
    v = np.random.default_rng(0).normal(size=50)
    w = v.copy()
    for _ in range(100):
        w = p.W_hh @ w
    assert np.linalg.norm(w) == pytest.approx(np.linalg.norm(v), rel=1e-12)


# ---------------------------------------------------------------- O9 IRNN


@pytest.mark.parametrize("H", [1, 5, 32])
def test_O9_irnn_holds_its_state(H):
    p = engine.init_params(3, H, 2, init="identity", activation="relu", seed=H)
    np.testing.assert_array_equal(p.W_hh, np.eye(H))
    np.testing.assert_array_equal(p.b_h, np.zeros(H))
    h0 = np.random.default_rng(H).uniform(0.1, 2.0, size=H)
    T = 200
    tr = engine.bptt(p, np.zeros((T, 3)), np.zeros(2), h0=h0)
    np.testing.assert_array_equal(tr.h, np.tile(h0, (T, 1)))
    np.testing.assert_array_equal(tr.fprime, np.ones((T, H)))
    np.testing.assert_array_equal(tr.jacobian_norm, np.ones(T))
    # gradients pass through unchanged
    np.testing.assert_array_equal(tr.grad_h, np.tile(tr.grad_h[-1], (T, 1)))


def test_O9_irnn_inactive_units_are_cut():
    H = 4
    p = engine.init_params(1, H, 1, init="identity", activation="relu")
    h0 = np.array([1.0, 0.0, 2.0, 0.0])
    tr = engine.forward(p, np.zeros((30, 1)), h0=h0)
    np.testing.assert_array_equal(tr.h, np.tile(h0, (30, 1)))
    np.testing.assert_array_equal(tr.jacobian_norm, np.ones(30))  # the active units carry norm 1
    np.testing.assert_array_equal(tr.fprime[:, [1, 3]], 0.0)


# ---------------------------------------------------------------- O12 non-normal transient growth


def test_O12_nonnormal_transient_growth():
    p = engine.init_params(1, 2, 1, init="nonnormal", spectral_radius=0.9, nonnormal_strength=5.0)
    np.testing.assert_array_equal(p.W_hh, np.array([[0.9, 5.0], [0.0, 0.9]]))
    assert engine.spectral_radius(p.W_hh) == pytest.approx(0.9, rel=1e-12)
    assert engine.spectral_norm(p.W_hh) > 5.0
    pn = engine.power_norms(p.W_hh, 80)
    assert pn[0] == 1.0
    assert int(np.argmax(pn)) == 9
    assert pn[9] == pytest.approx(19.4, rel=0.01)
    assert pn[59] == pytest.approx(0.65, rel=0.01)
    for k in (1, 9, 59, 80):
        assert pn[k] == pytest.approx(np.linalg.norm(np.linalg.matrix_power(p.W_hh, k), 2), rel=1e-12)
    # the same curve from the engine: a linear RNN with this W_hh has ||dh_T/dh_{T-k}|| = ||W^k||
    T = 81
    lin = p.replace(activation="linear")
    tr = engine.forward(lin, np.zeros((T, 1)))
    assert_close(tr.jacobian_norm[::-1], pn, rtol=1e-12, what="jacobian_norm vs ||W^k||")


def test_O12_nonnormal_larger_H_has_all_eigenvalues_rho():
    p = engine.init_params(2, 6, 1, init="nonnormal", spectral_radius=0.8, nonnormal_strength=2.0)
    np.testing.assert_array_equal(np.diag(p.W_hh), 0.8)
    np.testing.assert_array_equal(np.diag(p.W_hh, 1), 2.0)
    assert np.count_nonzero(p.W_hh) == 6 + 5
    assert engine.spectral_radius(p.W_hh) == pytest.approx(0.8, rel=1e-12)


# ---------------------------------------------------------------- spectrum helpers


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity"])
@pytest.mark.parametrize("rho", [0.3, 1.0, 2.5])
def test_spectral_radius_is_set_exactly(init, rho):
    W = engine.init_params(2, 17, 1, init=init, spectral_radius=rho, seed=5).W_hh
    assert engine.spectral_radius(W) == pytest.approx(rho, rel=1e-12)
    assert engine.spectral_radius(engine.scale_to_spectral_radius(W, 0.5)) == pytest.approx(0.5, rel=1e-12)
    assert engine.spectral_norm(W) >= engine.spectral_radius(W) * (1 - 1e-12)
    sv = engine.singular_values(W)
    assert np.all(np.diff(sv) <= 0) and sv[0] == engine.spectral_norm(W)
    assert np.max(np.abs(engine.eigenvalues(W))) == pytest.approx(rho, rel=1e-12)
