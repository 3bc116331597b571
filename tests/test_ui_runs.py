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


# --------------------------------------------------------------------------- gated cells

from ui.presets import PRESETS_BY_KEY  # noqa: E402
from ui.runs import cell_config, compare_config, gate_path_norm, run_block_rates, run_compare, state_size  # noqa: E402
from viz.compare import decay_exponent  # noqa: E402


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_run_matches_the_engine(cell):
    cfg = Config(cell=cell, T=30, H=6, fb=2.0, zb=1.5, seed=4)
    run = run_bptt(cfg)
    params, x, target = build(cfg)
    assert params.cell == cell
    tr = engine.bptt(params, x, target, loss=cfg.loss)
    np.testing.assert_array_equal(run.grad_h_norm, tr.grad_h_norm)
    assert set(run.gates) == set(engine.CELLS[cell].gates)
    assert all(g.dtype == np.float32 and g.shape == (30, 6) for g in run.gates.values())
    if cell == "lstm":
        assert run.c.dtype == np.float32  # |c| is far inside float32's range: half the cached bytes
        np.testing.assert_array_equal(run.c, tr.c.astype(np.float32))
        np.testing.assert_array_equal(run.grad_c_norm, tr.grad_c_norm)
        np.testing.assert_allclose(run.cell_path_norm, tr.cell_path_norm, rtol=1e-12)
        # the forget-gate bias sits on the f block of b_h
        np.testing.assert_array_equal(params.b_h[6:12], 2.0)
        assert state_size(cfg) == 12
    else:
        assert run.c is None and run.grad_c_norm is None
        np.testing.assert_array_equal(params.b_h[6:12], 1.5)
        assert state_size(cfg) == 6
        assert run.copy_path_norm[-1] == 1.0
    # one rate per gate block, each drawn at the sidebar's rho
    rates = run_block_rates(cfg)
    assert tuple(rates) == engine.CELLS[cell].gates
    assert all(r == pytest.approx(0.9) for r, _ in rates.values())


def test_gate_path_norm_is_the_engine_cell_path_for_the_forget_gate():
    cfg = Config(cell="lstm", T=50, H=5, fb=0.5, seed=2)
    params, x, target = build(cfg)
    tr = engine.bptt(params, x, target)
    np.testing.assert_allclose(gate_path_norm(tr.gates["f"]), tr.cell_path_norm, rtol=1e-12)
    # a naive product for one step
    f = tr.gates["f"]
    assert gate_path_norm(f)[10] == pytest.approx(np.prod(f[11:], axis=0).max(), rel=1e-10)


def test_gated_spectrum_shows_one_block():
    cfg = Config(cell="gru", H=8)
    spec = run_spectrum(cfg, "z")
    assert spec.block == "z" and spec.gamma == 0.25 and spec.rho == pytest.approx(0.9)
    assert run_spectrum(cfg, "n").gamma == 1.0
    assert run_spectrum(Config(H=8)).block == "h"


def test_compare_runs_the_three_cells_on_the_same_input():
    cfg = Config(cell="lstm", T=25, H=4, act="tanh", fb=3.0, zb=2.0, seed=7)
    runs = run_compare(compare_config(cfg))
    assert list(runs) == ["rnn", "lstm", "gru"]
    assert [r.cell for r in runs.values()] == ["rnn", "lstm", "gru"]
    for cell, r in runs.items():
        full = run_bptt(cell_config(cfg, cell))
        np.testing.assert_array_equal(r.grad_h_norm, full.grad_h_norm)
        np.testing.assert_array_equal(full.x, run_bptt(cell_config(cfg, "rnn")).x)  # the same input
        if cell != "rnn":
            np.testing.assert_array_equal(r.keep_gate, full.gates["f" if cell == "lstm" else "z"])
    assert runs["rnn"].keep_gate is None
    assert cell_config(Config(act="relu"), "lstm").act == "tanh"
    assert cell_config(cfg, "lstm").fb == 3.0 and cell_config(cfg, "lstm").zb == Config().zb
    assert cell_config(cfg, "gru").zb == 2.0 and cell_config(cfg, "gru").fb == Config().fb


def _exponents(key: str) -> dict[str, float]:
    runs = run_compare(compare_config(PRESETS_BY_KEY[key].config))
    return {c: decay_exponent(r.grad_h_norm) for c, r in runs.items()}, runs


def test_preset_lstm_keeps_the_gradient():
    k, runs = _exponents("lstm_keeps")
    assert k["lstm"] > -1.0            # measured +0.4: no decay over 99 steps
    assert k["rnn"] < -20.0            # measured -22.8
    assert runs["lstm"].keep_gate.mean() > 0.98   # measured 0.988
    assert "10^+0.4" in PRESETS_BY_KEY["lstm_keeps"].look and "10^−22.8" in PRESETS_BY_KEY["lstm_keeps"].look
    assert round(k["lstm"], 1) == 0.4 and round(k["rnn"], 1) == -22.8


def test_preset_a_leaky_forget_gate_vanishes_like_halving():
    cfg = PRESETS_BY_KEY["leaky_forget"].config
    run = run_bptt(cfg)
    f = run.gates["f"]
    assert abs(f.mean() - 0.5) < 0.01 and f.min() > 0.35 and f.max() < 0.65
    # the cell path halves every step: 0.5^99 = 1.6e-30 (measured 2.3e-30)
    assert 1e-31 < run.cell_path_norm[0] < 1e-28
    k = decay_exponent(run.grad_h_norm)
    assert -31 < k < -27 and round(k) == -29   # measured -29.4; the look line says about 10^−29
    kc = np.log10(run.grad_c_norm[0] / run.grad_c_norm[-1])
    assert kc < -25                              # measured -28.1


def test_preset_gru_copies_the_state():
    k, runs = _exponents("gru_copies")
    z = runs["gru"].keep_gate
    assert round(float(z.mean()), 3) == 0.996       # measured 0.9959
    assert k["gru"] > -0.5 and round(k["gru"], 1) == -0.2   # measured -0.15
    assert round(k["rnn"], 1) == -22.8
    assert "10^−0.2" in PRESETS_BY_KEY["gru_copies"].look


def test_cached_arrays_are_compact_unless_the_run_explodes():
    from ui.runs import compact

    small = run_bptt(Config(T=30, H=6))
    assert small.a.dtype == np.float32 and small.fprime.dtype == np.float32
    big = run_bptt(Config(T=700, H=8, act="linear", rho=3.0))  # beyond float32's range, below float64's
    assert big.a.dtype == np.float64 and np.isfinite(big.a).any() and np.nanmax(np.abs(big.a[np.isfinite(big.a)])) > 1e38
    assert compact(np.array([1.0, np.inf])).dtype == np.float32  # inf stays inf either way
    assert compact(np.array([1e200])).dtype == np.float64
