"""Cached figures of the engine's runs: each builder takes a Config, reads its run from ui.runs and returns a
plain spec from viz/, shared across sessions (st.cache_resource, bounded) and encoded once."""
from __future__ import annotations

import functools
from dataclasses import replace

import streamlit as st

from ui.charts import shared
from ui.config import Config
from ui.runs import (
    run_bptt,
    run_compare,
    run_hidden,
    run_jacobians,
    run_spectrum,
)
from viz import compare as vc
from viz import gradients as vg
from viz import hidden as vh
from viz import spectrum as vs
from viz import unroll as vu
from viz.spec import Spec

_FIGS = 24  # entries kept per figure


def figure_cache(func):
    """`st.cache_resource` for a function returning a figure spec that nobody modifies afterwards
    (`ui.charts.show_chart` copies before it restyles). The spec is encoded once (`ui.charts.shared`)."""
    @functools.wraps(func)
    def build_shared(*args, **kwargs):
        return shared(func(*args, **kwargs))
    return st.cache_resource(max_entries=_FIGS, show_spinner=False)(build_shared)


def params_config(cfg: Config) -> Config:
    """`cfg` with the fields that do not change the weights set to their defaults.

    The weights depend on sizes, init, ρ, activation, output and seed, not on the sequence; figures
    of W_hh alone keyed on this stay cached (and unchanged in the browser) while T or the input move.
    """
    d = Config()
    return replace(cfg, T=d.T, signal=d.signal, amp=d.amp, loss=d.loss)


@figure_cache
def teaser_fig(cfg: Config) -> Spec:
    return vg.teaser_figure(run_bptt(cfg).grad_h_norm)


@figure_cache
def unroll_fig(cfg: Config) -> Spec:
    run = run_bptt(cfg)   # unroll_figure reads the gates and c only for a gated cell
    return vu.unroll_figure(run.h, run.grad_h_norm, run.loss_steps, cfg.act, cell=run.cell,
                            gates=run.gates, c=run.c, grad_c_norm=run.grad_c_norm)


@figure_cache
def hidden_heatmap_fig(cfg: Config) -> Spec:
    return vh.hidden_heatmap(run_bptt(cfg).h, cfg.act)


@figure_cache
def cell_heatmap_fig(cfg: Config) -> Spec:
    """The LSTM's cell state c_t (call only for cell = "lstm")."""
    return vh.hidden_heatmap(run_bptt(cfg).c, "linear", title="Cell state c_t, unit by unit",
                             label="c value")


@figure_cache
def gates_fig(cfg: Config) -> Spec:
    return vh.gates_heatmap(run_bptt(cfg).gates)


@figure_cache
def saturation_fig(cfg: Config) -> Spec:
    summary = run_hidden(cfg)
    return vh.saturation_figure(run_bptt(cfg).x, summary.saturated, summary.threshold,
                                gated=cfg.cell != "rnn")


@figure_cache
def pca_fig(cfg: Config) -> Spec:
    summary = run_hidden(cfg)
    return vh.pca_figure(summary.pca, summary.explained)


@figure_cache
def units_fig(cfg: Config, units: tuple[int, ...]) -> Spec:
    return vh.unit_trajectories(run_bptt(cfg).h, list(units))


@figure_cache
def grad_norm_fig(cfg: Config) -> Spec:
    """‖∂L/∂h_t‖ with its bounds, or the state norm up to the overflow when no gradient is finite."""
    run = run_bptt(cfg)
    if run.has_gradient or run.overflow_step is None:
        if run.cell != "rnn":
            return vg.grad_norm_figure(run.grad_h_norm, run.rho, run.sigma_max, run.gamma,
                                       grad_c_norm=run.grad_c_norm, bounds=False)
        return vg.grad_norm_figure(run.grad_h_norm, run.rho, run.sigma_max, run.gamma)
    return vg.forward_overflow_figure(run.h_norm, run.overflow_step)


@figure_cache
def jacobian_fig(cfg: Config) -> Spec:
    run, jac = run_bptt(cfg), run_jacobians(cfg)
    if run.cell != "rnn":
        path = run.cell_path_norm if run.cell == "lstm" else run.copy_path_norm
        return vg.jacobian_figure(jac.steps, jac.norms, cfg.T, run.rho, run.sigma_max, run.gamma,
                                  cell=run.cell, path_norm=path)
    return vg.jacobian_figure(jac.steps, jac.norms, cfg.T, run.rho, run.sigma_max, run.gamma)


@figure_cache
def jacobian_grid_fig(cfg: Config) -> Spec:
    jac = run_jacobians(cfg)
    return vg.jacobian_grid_figure(jac.grid_steps, jac.grid, state="h" if cfg.cell != "lstm" else "s")


@figure_cache
def dW_fig(cfg: Config) -> Spec:
    run = run_bptt(cfg)
    return vg.dW_contribution_figure(run.dW_hh_step_norm, run.overflow_step, gated=run.cell != "rnn")


@figure_cache
def eigen_fig(cfg: Config, block: str | None = None) -> Spec:
    """Eigenvalues of W_hh (or of one gate's block): call with `params_config(cfg)`."""
    spec = run_spectrum(cfg, block)
    return vs.eigen_figure(spec.eigenvalues, spec.gamma if spec.block == "h" else None,
                           name=vs.block_name(spec.block))


@figure_cache
def singular_fig(cfg: Config, block: str | None = None) -> Spec:
    """Singular values of W_hh (or of one gate's block): call with `params_config(cfg)`."""
    spec = run_spectrum(cfg, block)
    return vs.singular_figure(spec.singular_values, spec.gamma, name=vs.block_name(spec.block))


@figure_cache
def power_fig(cfg: Config, block: str | None = None) -> Spec:
    spec = run_spectrum(cfg, block)
    return vs.power_figure(spec.power_norms, spec.rho, spec.sigma_max, name=vs.block_name(spec.block))




@figure_cache
def compare_grad_fig(cfg: Config) -> Spec:
    runs = run_compare(cfg)
    return vc.compare_grad_figure({c: r.grad_h_norm for c, r in runs.items()},
                                  {c: r.overflow_step for c, r in runs.items()})


@figure_cache
def compare_gates_fig(cfg: Config) -> Spec:
    runs = run_compare(cfg)
    return vc.gates_over_time_figure(runs["lstm"].keep_gate, runs["gru"].keep_gate)
