"""The numbers the app's sentences quote about gradients, computed by the engine at the settings each
sentence refers to. Every test rounds the engine's value the way the sentence does and finds that exact
text in the sentence (read from the lesson steps, the presets or the page source), so a change of either
the engine or the text fails here.
"""
import ast
from pathlib import Path

import numpy as np
import pytest

import engine
from ui.config import Config
from ui.lesson import STEPS, n_parameters, parameter_readout, torch_parameters
from ui.presets import PRESETS_BY_KEY
from ui.runs import build
from viz.phase import PhaseMap, phase_caption

ROOT = Path(__file__).resolve().parent.parent
BY_KEY = {s.key: s for s in STEPS}


def source_text(*path: str) -> str:
    """Every string literal of a page's source (adjacent literals joined, as Python joins them),
    one per line; f-strings contribute their literal parts."""
    tree = ast.parse((ROOT.joinpath(*path)).read_text())
    return "\n".join(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))


HOME = source_text("app.py")
CELLS_PAGE = source_text("pages", "6_RNN_vs_LSTM_vs_GRU.py")
MINUS = "\u2212"


def trace(cfg: Config):
    params, x, target = build(cfg)
    return engine.bptt(params, x, target, loss=cfg.loss)


def log_ratio(g) -> float:
    """log10(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖)."""
    return float(np.log10(g[0]) - np.log10(g[-1]))


def tex(k: float) -> str:
    """10^k as the lesson writes it: 10^{-22.8}, 10^{+12.8}."""
    return f"10^{{{k:+.1f}}}"


def plain(k: float) -> str:
    """10^k as the presets write it: 10^−0.3 (a real minus sign), 10^+0.4."""
    return f"10^{k:+.1f}".replace("-", MINUS)


def text(key: str) -> str:
    return BY_KEY[key].text


def why(key: str) -> str:
    return BY_KEY[key].question.why


def preset(key: str) -> str:
    p = PRESETS_BY_KEY[key]
    return p.blurb + " " + p.look


# --------------------------------------------------------------------------- item 1: ρ is not the rate

def test_the_long_run_rate_at_the_defaults_is_not_rho():
    tr = trace(Config())
    k = log_ratio(tr.grad_h_norm)
    assert round(k, 1) == -22.8 and tex(k) in text("vanishing")
    per_step = 10 ** (k / 99)
    assert f"{per_step:.2f}" == "0.59"
    assert "about 0.59 per step" in text("vanishing") and "about 0.59 per step" in HOME
    rho_only = 99 * np.log10(0.9)
    assert round(rho_only, 1) == -4.5 and "$\\rho^{99}$ alone would give $10^{-4.5}$" in text("vanishing")
    mean_fprime = float(np.mean(tr.fprime))
    assert f"{mean_fprime:.2f}" == "0.70" and "$f'$ = 0.70 on average" in text("vanishing")
    assert "Lyapunov exponent" in text("vanishing")
    assert "For linear units the eigenvalues of $W_{hh}$ decide the long-run rate" in HOME


def test_for_linear_units_rho_is_the_rate():
    """Orthogonal W_hh scaled by ρ, linear units: exactly ρ per step (ORACLES O2)."""
    cfg = Config(init="orthogonal", rho=0.9, act="linear")
    k = log_ratio(trace(cfg).grad_h_norm)
    assert k == pytest.approx(99 * np.log10(0.9), abs=1e-9)


# --------------------------------------------------------------------------- item 2: IRNN needs active units

def test_irnn_preset_keeps_the_gradient_over_the_active_units():
    cfg = PRESETS_BY_KEY["irnn"].config
    assert (cfg.act, cfg.init, cfg.rho, cfg.signal, cfg.T, cfg.H) == ("relu", "identity", 1.0, "pulse", 100, 32)
    assert PRESETS_BY_KEY["irnn"].page == "pages/3_Gradients.py"
    tr = trace(cfg)
    active = int(np.count_nonzero(tr.h[0] > 0))
    assert active == 14 and f"the {active} units the pulse switched on" in preset("irnn")
    assert np.array_equal(tr.h[-1], tr.h[0])                     # the state is copied unchanged
    g = tr.grad_h_norm
    assert np.ptp(g[:-1]) == 0                                   # one size at every step before T
    k = log_ratio(g)
    assert round(k, 1) == -0.3 and plain(k) in preset("irnn")
    on = tr.h[-1] > 0                                            # the first step back keeps only these
    assert g[-2] == pytest.approx(np.linalg.norm(tr.grad_h[-1][on]), rel=1e-12)
    assert f"drops the {cfg.H - active} units that are off" in preset("irnn")
    assert "a pulse at t = 1" in preset("irnn")


def test_irnn_without_input_passes_no_gradient():
    cfg = PRESETS_BY_KEY["irnn"].config
    from dataclasses import replace
    tr = trace(replace(cfg, signal="zeros"))
    assert np.all(tr.h == 0) and tr.grad_h_norm[-1] > 0
    assert np.all(tr.grad_h_norm[:-1] == 0)                      # ReLU′(0) = 0: nothing before step T
    assert "ReLU′(0) = 0" in preset("irnn") and "no gradient reaches any step before T" in preset("irnn")


# --------------------------------------------------------------------------- item 4: the bound

def test_the_bound_guarantees_nothing_at_the_defaults():
    cfg = Config()
    params = build(cfg)[0]
    eta = engine.activation_gamma("tanh") * engine.spectral_norm(params.W_hh)
    assert f"{eta:.2f}" == "1.35" and "\\gamma\\,\\sigma_{\\max} = 1.35" in text("vanishing")
    allowed = 99 * np.log10(eta)
    assert round(allowed, 1) == 12.8 and tex(allowed) in text("vanishing")
    tr = trace(cfg)
    assert np.log10(tr.jacobian_norm[0]) <= allowed              # an upper bound, far from the truth
    assert tex(log_ratio(tr.grad_h_norm)) in text("vanishing")
    assert "**can explode**, but need not" in text("vanishing")
    assert "at 1 or above it guarantees nothing" in text("vanishing")
    assert "guarantees nothing" in HOME


def test_products_of_jacobians_are_written_in_order_and_transposed():
    for eq in (BY_KEY["vanishing"].equations[0], HOME):
        assert "J_{k+1}^{\\top} J_{k+2}^{\\top} \\cdots J_T^{\\top}" in eq
    assert "\\prod_{t=k+1}^{T}" not in HOME


# --------------------------------------------------------------------------- item 5: ρ = 0 is not W_hh = 0

def test_rho_zero_is_not_a_zero_matrix_for_the_non_normal_init():
    H = Config().H
    W = build(Config(rho=0.0))[0].W_hh
    assert np.all(W == 0)                                        # gaussian at ρ = 0: no self-loop
    W = build(Config(init="nonnormal", rho=0.0))[0].W_hh
    assert engine.spectral_radius(W) == 0
    np.testing.assert_array_equal(W, 5.0 * np.eye(H, k=1))       # 5 times a shift matrix
    h = np.linalg.norm(trace(Config(T=40, signal="pulse", init="nonnormal", rho=0.0, act="linear")).h, axis=1)
    growth = h[1:H] / h[:H - 1]
    assert round(float(np.median(growth))) == 5                  # about 5 times per step
    assert np.all(h[:H] > 0) and np.all(h[H:] == 0)              # zero from t = H + 1
    w = why("recurrence")
    assert "5 times a shift matrix" in w and "about 5 times per step" in w and "from $t = H + 1$" in w


# --------------------------------------------------------------------------- items 6 and 7: the LSTM

def test_lstm_forget_gate_multiplies_only_the_direct_path():
    leaky = trace(Config(cell="lstm", fb=0.0))
    k = log_ratio(leaky.grad_h_norm)
    assert round(k, 1) == -19.8 and tex(k) in why("gated")
    direct = float(np.log10(leaky.cell_path_norm[0]))
    assert round(direct, 1) == -28.8 and tex(direct) in why("gated")
    assert k > direct + 5                                        # the paths through h carry far more
    assert "terms through $h_{t-1}$" in text("gated")


def test_an_lstm_can_still_explode():
    cfg = Config(cell="lstm", init="nonnormal", rho=3.0, fb=5.0, signal="zeros")
    tr = trace(cfg)
    assert tr.overflow_step is None
    k = log_ratio(tr.grad_h_norm)
    assert round(k, 1) == 44.3 and tex(k) in text("gated")
    assert "non-normal init at $\\rho = 3$, forget-gate bias 5 and no input" in text("gated")


def test_forget_bias_one_is_only_a_mild_help():
    cfg = Config(cell="lstm")
    assert cfg.fb == 1.0
    tr = trace(cfg)
    f = float(np.mean(tr.gates["f"]))
    assert f"{f:.2f}" == "0.70" and "f_t \\approx 0.70" in text("gated")
    k = log_ratio(tr.grad_h_norm)
    assert round(k, 1) == -8.0 and tex(k) in text("gated")
    for t in (text("gated"), CELLS_PAGE):
        assert "Gers et" in t and "Jozefowicz" in t and "Tallec & Ollivier" in t and "PyTorch" in t
    assert "1 or more" not in text("gated") and "1 or more" not in CELLS_PAGE


def test_the_forget_bias_help_quotes_the_engine():
    from ui.config import FIELDS

    help_text = FIELDS["fb"].help
    assert "halved every step" not in help_text and "only the direct path" in help_text
    for fb in (0.0, 1.0, 5.0):
        assert f"{1 / (1 + np.exp(-fb)):.2f} at {fb:g}" in help_text
    assert Config().T == 100
    for fb, where in ((0.0, "at bias 0"), (1.0, "at 1"), (5.0, "at 5")):
        k = log_ratio(trace(Config(cell="lstm", fb=fb)).grad_h_norm)
        assert f"{plain(k)} {where}" in help_text


def test_pytorch_starts_the_forget_bias_at_zero_and_counts_two_bias_vectors():
    torch = pytest.importorskip("torch")
    H = Config().H
    lstm = torch.nn.LSTM(1, H)
    b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()[H:2 * H]
    assert np.abs(b).max() < 2 / np.sqrt(H)                      # uniform around 0, no forget bias of 1
    for cell, module in (("lstm", lstm), ("gru", torch.nn.GRU(1, H))):
        cfg = Config(cell=cell)
        counted = sum(p.numel() for p in module.parameters()) + H + 1   # plus the linear read-out
        assert torch_parameters(cfg) == counted
        extra = counted - n_parameters(cfg)
        assert extra == (4 * H if cell == "lstm" else 2 * H)
        assert f"counts {extra:,} more" in parameter_readout(cfg)
    assert "PyTorch" not in parameter_readout(Config())


def test_leaky_forget_preset():
    cfg = PRESETS_BY_KEY["leaky_forget"].config
    k = log_ratio(trace(cfg).grad_h_norm)
    assert round(k, 1) == -29.4 and plain(k) in preset("leaky_forget")
    at_09 = log_ratio(trace(Config(cell="lstm", fb=0.0)).grad_h_norm)
    assert plain(at_09) in preset("leaky_forget")


# --------------------------------------------------------------------------- item 8: gates and weight blocks

def test_gates_and_weight_blocks():
    assert len(engine.CELLS["lstm"].gates) == 4 and len(engine.CELLS["gru"].gates) == 3
    t = text("gated")
    assert "three gates and a candidate, four weight blocks" in t
    assert "two gates and candidate make three" in t
    assert "two gates and a candidate (three weight blocks)" in CELLS_PAGE
    assert "three gates instead of four" not in CELLS_PAGE and "three gate blocks" not in t
    assert "Chung et al. (2014) swap" in t and "Chung et al. (2014) swap" in HOME


# --------------------------------------------------------------------------- item 9: great difficulty

def test_great_difficulty_not_impossibility():
    w = why("uses")
    assert "cannot hold" not in w and "great difficulty" in w and "Bengio et al. 1994" in w
    assert "Le et al. (2015)" in w and "$T = 150$" in w
    assert "great difficulty" in text("vanishing") and "great difficulty" in HOME
    assert "cannot learn" not in text("vanishing") and "cannot learn" not in HOME


# --------------------------------------------------------------------------- item 10: the smaller fixes

def test_the_shortfall_from_1_2_to_the_99_is_the_overlap_with_the_dominant_eigenvector():
    cfg = BY_KEY["vanishing"].try_config
    params = build(cfg)[0]
    tr = trace(cfg)
    k = log_ratio(tr.grad_h_norm)
    lam, V = np.linalg.eig(params.W_hh.T)
    c = np.linalg.solve(V, tr.grad_h[-1])
    top = np.isclose(np.abs(lam), np.abs(lam).max(), atol=1e-9)
    assert np.allclose(np.abs(lam[top]), 1.2)
    part = np.real(V[:, top] @ c[top])
    overlap = float(np.log10(np.linalg.norm(part) / np.linalg.norm(tr.grad_h[-1])))
    assert round(overlap, 1) == -1.3 and tex(overlap) in why("vanishing")
    assert round(99 * np.log10(1.2) + overlap, 1) == round(k, 1) == 6.5   # 7.8 − 1.3: nothing else is left
    assert "other eigenvalues" not in why("vanishing")


def test_the_arrangements_answer_names_the_product_it_quotes():
    last, every = trace(Config()), trace(BY_KEY["arrangements"].try_config)
    j = float(np.log10(engine.jacobian_norms(last, [0])[0]))
    assert j == pytest.approx(float(np.log10(engine.jacobian_norms(every, [0])[0])), abs=1e-12)
    assert round(j, 1) == -21.7
    assert f"\\lVert\\partial h_{{100}}/\\partial h_1\\rVert$ is {tex(j).join('$$')}" in why("arrangements")
    assert "exactly as before" not in why("arrangements")


def test_sigma_max_is_near_two_rho_only_for_large_H():
    cfg = PRESETS_BY_KEY["rho1"].config
    assert cfg.H == 128
    s = engine.spectral_norm(build(cfg)[0].W_hh)
    assert f"{s:.2f}" == "1.88" and "σ_max = 1.88" in preset("rho1") and "reach 1.88" in preset("rho1")
    bound = engine.bound_radius("gaussian", n_hidden=32, activation="tanh")
    ratio = 1 / bound
    assert 1.5 < ratio < 1.75                                    # at H = 32, well short of 2
    pm = PhaseMap(rhos=np.array([0.5, 1.0]), ratios=np.zeros((2, 5)), bound=bound, gamma=1.0, init="gaussian",
                  activation="tanh", n_hidden=32, n_seeds=8)
    cap = phase_caption(pm, None, True)
    assert f"at H = 32 its σ_max is about {ratio:.2f}ρ" in cap and f"ρ = {bound:.2f}" in cap


def test_the_edge_preset_is_not_called_the_edge_of_stability():
    assert "stability" not in PRESETS_BY_KEY["edge"].title.lower()
    k = log_ratio(trace(PRESETS_BY_KEY["edge"].config).grad_h_norm)
    assert abs(k) < 1e-9                                         # all singular values 1: neither grows nor shrinks


def test_the_gradients_caption_says_when_the_bound_guarantees_nothing():
    from viz.gradients import grad_norm_caption
    params = build(Config())[0]
    sigma, rho = engine.spectral_norm(params.W_hh), engine.spectral_radius(params.W_hh)
    cap = grad_norm_caption(True, None, 1.0, sigma, rho)
    assert "at 1.35 ≥ 1 it guarantees nothing either way" in cap and "linear units only" in cap
    assert "below 1 it guarantees vanishing" in grad_norm_caption(True, None, 1.0, 0.5, 0.4)
