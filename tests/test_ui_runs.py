"""Cached runs: budgets, the numbers they hand to the pages, fallbacks."""
import numpy as np
import pytest

import engine
from ui.config import Config
from ui.runs import (
    Run,
    build,
    jacobian_plan,
    power_kmax,
    run_bptt,
    run_default_fallback,
    run_hidden,
    run_jacobians,
    run_spectrum,
    run_step_numbers,
)


@pytest.mark.parametrize("T,H", [(1, 1), (2, 256), (100, 32), (1000, 32), (1000, 128), (100, 256), (1000, 256)])
def test_jacobian_plan_stays_within_budget(T, H):
    start, curve, grid = jacobian_plan(T, H)
    c = float(H) ** 3
    n = grid.size
    cost = (T - start) * c + n * n / 2 * 11 * c + (0 if curve is None else T * c + curve.size * 10 * c)
    assert cost < 1.2e10
    assert grid[-1] == T - 1 and grid[0] >= start and np.all(np.diff(grid) > 0)
    if curve is not None:
        assert curve[-1] == T - 1 and curve[0] == 0
    assert 1 <= power_kmax(T, H) <= T


def test_run_matches_the_engine():
    cfg = Config(T=40, H=8, seed=5)
    run = run_bptt(cfg)
    params, x, target = build(cfg)
    tr = engine.bptt(params, x, target, loss=cfg.loss)
    np.testing.assert_array_equal(run.grad_h_norm, tr.grad_h_norm)
    assert run.rho == pytest.approx(0.9) and run.gamma == 1.0
    assert run.loss_steps == (39,)
    assert run_bptt(Config(T=5, loss="all")).loss_steps == (0, 1, 2, 3, 4)


def test_step_numbers_add_up():
    cfg = Config(T=30, H=6, act="tanh", seed=2)
    for t in (1, 17, 30):
        sn = run_step_numbers(cfg, t)
        np.testing.assert_allclose(sn.Wx + sn.Wh + sn.b_h, sn.a_t, atol=1e-12)
        np.testing.assert_allclose(np.tanh(sn.a_t), sn.h_t, atol=1e-12)
    assert np.all(run_step_numbers(cfg, 1).h_prev == 0)


def test_jacobians_last_row_is_the_curve():
    cfg = Config(T=50, H=8)
    jac = run_jacobians(cfg)
    assert jac.first_step == 0
    last_row = jac.grid[-1]
    idx = np.searchsorted(jac.steps, jac.grid_steps)
    np.testing.assert_allclose(last_row, jac.norms[idx], rtol=1e-8)
    big = run_jacobians(Config(T=200, H=256))
    assert big.first_step > 0 and big.steps[-1] == 199 and big.norms[-1] == pytest.approx(1.0)


def test_hidden_summary_pca_and_saturation():
    cfg = Config(T=80, H=16, amp=5.0)
    hs = run_hidden(cfg)
    assert hs.pca.shape == (80, 2) and np.all(np.isfinite(hs.pca))
    assert 0 < hs.explained.sum() <= 1 + 1e-12
    run = run_bptt(cfg)
    np.testing.assert_allclose(hs.saturated, np.mean(np.abs(run.fprime) < 0.1, axis=1))
    assert hs.saturated.mean() > run_hidden(Config(T=80, H=16, amp=0.1)).saturated.mean()
    z = run_hidden(Config(T=10, H=4, signal="zeros"))  # h = 0 throughout: no variance, no crash
    assert np.all(np.isfinite(z.pca))
    ov = run_hidden(Config(T=1000, H=16, rho=3.0, act="linear"))
    assert ov.pca.shape == (1000, 2)


def test_spectrum_of_nonnormal_preset():
    sp = run_spectrum(Config(T=60, H=2, init="nonnormal", rho=0.9, act="linear"))
    assert sp.rho == pytest.approx(0.9) and sp.power_norms.size == 61
    assert 19 < sp.power_norms.max() < 20  # O12


def test_h_norm_does_not_overflow_before_the_state_does():
    h = np.array([[1e200, 1e200], [3.0, 4.0], [0.0, 0.0], [np.inf, 1.0]])
    z = np.zeros(4)
    run = Run(x=h, h=h, a=h, fprime=h, y=h, loss=0.0, grad_h_norm=z, dW_hh_step_norm=z, overflow_step=3,
              overflow_phase="forward", rho=1.0, sigma_max=1.0, gamma=1.0, loss_steps=(3,))
    np.testing.assert_allclose(run.h_norm[:3], [np.sqrt(2) * 1e200, 5.0, 0.0])
    assert run.h_norm[3] == np.inf and run.has_gradient  # zeros are finite gradients


def test_fallback_to_defaults_on_engine_errors():
    def picky(cfg):
        if cfg != Config():
            raise ValueError("n_hidden: not supported here")
        return "default run"

    assert run_default_fallback(picky, Config()) == ("default run", None)
    result, err = run_default_fallback(picky, Config(T=5))
    assert result == "default run" and "n_hidden" in err
