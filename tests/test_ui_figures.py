"""Cached figures: built once per config, the same object on a repeat, equal to the pure builders."""
from specs import as_json, validated

from ui import figures, runs
from ui.config import Config
from ui.phase import PhaseSettings, lyapunov_fig, phase_fig, run_lyapunov, run_phase
from viz import gradients as vg
from viz import hidden as vh
from viz import spectrum as vs
from viz import unroll as vu
from viz.phase import lyapunov_figure, phase_figure
from viz.spec import encode


def same(a, b) -> bool:
    """Both specs valid, and the same JSON."""
    validated(a)
    return as_json(encode(a)) == as_json(encode(b))


def test_cached_figures_are_reused_and_equal_to_the_builders():
    cfg = Config(T=37, H=6, seed=3)
    run = runs.run_bptt(cfg)
    hs = runs.run_hidden(cfg)
    jac = runs.run_jacobians(cfg)
    spec = runs.run_spectrum(cfg)
    expected = {
        figures.teaser_fig: vg.teaser_figure(run.grad_h_norm),
        figures.unroll_fig: vu.unroll_figure(run.h, run.grad_h_norm, run.loss_steps, cfg.act),
        figures.hidden_heatmap_fig: vh.hidden_heatmap(run.h, cfg.act),
        figures.saturation_fig: vh.saturation_figure(run.x, hs.saturated, hs.threshold),
        figures.pca_fig: vh.pca_figure(hs.pca, hs.explained),
        figures.grad_norm_fig: vg.grad_norm_figure(run.grad_h_norm, run.rho, run.sigma_max, run.gamma),
        figures.jacobian_fig: vg.jacobian_figure(jac.steps, jac.norms, cfg.T, run.rho, run.sigma_max, run.gamma),
        figures.jacobian_grid_fig: vg.jacobian_grid_figure(jac.grid_steps, jac.grid),
        figures.dW_fig: vg.dW_contribution_figure(run.dW_hh_step_norm),
        figures.power_fig: vs.power_figure(spec.power_norms, spec.rho, spec.sigma_max),
    }
    for cached, fig in expected.items():
        first = cached(cfg)
        assert cached(cfg) is first, cached.__name__          # no rebuild on a repeat
        assert same(first, fig), cached.__name__             # exactly what the builder makes
    units = figures.units_fig(cfg, (1, 2))
    assert figures.units_fig(cfg, (1, 2)) is units and same(units, vh.unit_trajectories(run.h, [1, 2]))
    assert figures.units_fig(cfg, (2,)) is not units


def test_overflowing_forward_pass_gets_the_state_norm_figure():
    cfg = Config(T=1000, H=64, rho=3.0, act="linear", seed=0)
    run = runs.run_bptt(cfg)
    assert run.overflow_step is not None and not run.has_gradient
    assert same(figures.grad_norm_fig(cfg), vg.forward_overflow_figure(run.h_norm, run.overflow_step))


def test_weight_figures_do_not_depend_on_the_sequence():
    a = Config(T=40, H=8, seed=2, signal="sine", amp=3.0, loss="all")
    b = Config(T=900, H=8, seed=2)
    assert figures.params_config(a) == figures.params_config(b)
    assert figures.eigen_fig(figures.params_config(a)) is figures.eigen_fig(figures.params_config(b))
    # and they show the same W_hh as the full config would
    spec = runs.run_spectrum(a)
    assert same(figures.eigen_fig(figures.params_config(a)), vs.eigen_figure(spec.eigenvalues, spec.gamma))
    assert same(figures.singular_fig(figures.params_config(a)), vs.singular_figure(spec.singular_values, spec.gamma))
    # anything that changes the weights gives another figure
    for change in ({"H": 9}, {"rho": 1.1}, {"init": "orthogonal"}, {"seed": 3}, {"act": "relu"}):
        c = figures.params_config(Config(**{**b.as_dict(), **change}))
        assert c != figures.params_config(b), change


def test_phase_figures_cached_and_equal_to_the_builders():
    s = PhaseSettings(H=8, seeds=2, n_rho=16, T=30)
    fig = phase_fig(s, (0.9, 20))
    assert phase_fig(s, (0.9, 20)) is fig
    assert same(fig, phase_figure(run_phase(s), marker=(0.9, 20)))
    assert phase_fig(s, (0.9, 21)) is not fig
    assert lyapunov_fig() is lyapunov_fig()
    assert same(lyapunov_fig(), lyapunov_figure(*run_lyapunov()))
