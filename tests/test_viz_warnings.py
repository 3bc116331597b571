"""A clean server log and honest charts: building every figure of an exploding or a vanishing network emits
no warning (no "overflow encountered in cast" when a payload goes to float32, no "overflow in scalar
power"), and no figure carries an inf: a value beyond float32's range stays float64, an overflowed one is
a gap (NaN)."""
import base64
import warnings

import numpy as np
import pytest
import streamlit as st
from specs import validated

import ui.figures as F
import ui.runs as R
from ui.config import Config
from ui.phase import PhaseSettings, phase_fig
from viz import compare as vc
from viz import gradients as vg
from viz.payload import float32_if_fits

CONFIGS = {
    # the forward state overflows (3^t passes 1e308 near t = 646)
    "linear-rho3-overflow": Config(T=1000, rho=3.0, act="linear"),
    # every state finite but far beyond float32's range (1.2^1000 = 1.5e79)
    "linear-rho1.2-beyond-float32": Config(T=1000, H=64, rho=1.2, act="linear"),
    # the gradient ratio reaches 10^-308 (the address of an existing readout test)
    "linear-T890-rho0.45": Config(T=890, rho=0.45, act="linear"),
    "relu-rho2-loss-all": Config(T=1000, rho=2.0, act="relu", loss="all"),
    "tanh-vanishing": Config(T=1000, rho=0.1),
    "sigmoid-vanishing-pulse": Config(T=1000, rho=0.5, act="sigmoid", signal="pulse"),
    "lstm": Config(T=1000, cell="lstm", fb=-5.0),
    "gru": Config(T=1000, cell="gru", zb=8.0, amp=10.0),
}

RUN_FIGURES = ("teaser_fig", "unroll_fig", "hidden_heatmap_fig", "saturation_fig", "pca_fig", "grad_norm_fig",
               "jacobian_fig", "jacobian_grid_fig", "dW_fig", "compare_grad_fig", "compare_gates_fig")
SPECTRUM_FIGURES = ("eigen_fig", "singular_fig", "power_fig")


def typed(obj) -> bool:
    return isinstance(obj, dict) and "bdata" in obj and "dtype" in obj


def infinite_paths(obj, path="", out=None) -> list[str]:
    """Paths of every inf in a figure's JSON (plain numbers, lists, numpy arrays, Plotly's base64 arrays)."""
    out = [] if out is None else out
    if typed(obj):
        a = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
        if a.dtype.kind == "f" and np.isinf(a).any():
            out.append(path)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            infinite_paths(v, f"{path}.{k}", out)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f" and np.isinf(obj).any():
            out.append(path)
        elif obj.dtype == object:
            infinite_paths(obj.tolist(), path, out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            infinite_paths(v, f"{path}[{i}]", out)
    elif isinstance(obj, float) and np.isinf(obj):
        out.append(path)
    return out


def check(fig, what: str) -> None:
    d = fig.to_dict()
    bad = infinite_paths(d.get("data", []), "data") + infinite_paths(d.get("frames", []), "frames")
    assert not bad, f"{what}: inf in the chart data at {bad[:5]} ({len(bad)} places)"


@pytest.fixture(autouse=True)
def fresh_caches():
    """The figures are cached per config: build them anew, so their warnings happen here."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


@pytest.mark.parametrize("name", list(CONFIGS), ids=list(CONFIGS))
def test_every_figure_builds_without_warnings_or_inf(name):
    cfg = CONFIGS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figs = {f: validated(getattr(F, f)(cfg)) for f in RUN_FIGURES}
        figs["units_fig"] = validated(F.units_fig(cfg, (1, 2, cfg.H)))
        for block in R.gate_names(cfg.cell):
            for f in SPECTRUM_FIGURES:
                figs[f"{f}[{block}]"] = validated(getattr(F, f)(F.params_config(cfg), block))
        if cfg.cell != "rnn":
            figs["gates_fig"] = validated(F.gates_fig(cfg))
        if cfg.cell == "lstm":
            figs["cell_heatmap_fig"] = validated(F.cell_heatmap_fig(cfg))
        run = R.run_bptt(cfg)
        vg.decay_readout(run.grad_h_norm)
        vg.grad_norm_caption(run.has_gradient, run.overflow_step, run.gamma, run.sigma_max, run.rho)
        vg.dW_caption(run.dW_hh_step_norm)
        runs = R.run_compare(cfg)
        vc.compare_readout({c: r.grad_h_norm for c, r in runs.items()}, {c: r.overflow_step for c, r in runs.items()})
    for what, fig in figs.items():
        check(fig, f"{name}: {what}")


def test_exploding_unroll_keeps_float64_where_float32_would_overflow():
    """The Unroll strips of an exploding run keep the states' true size, not inf."""
    cfg = CONFIGS["linear-rho1.2-beyond-float32"]
    run = R.run_bptt(cfg)
    assert np.nanmax(np.abs(run.h)) > 1e38  # the premise: float32 cannot hold these states
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = validated(F.unroll_fig(cfg))
        heat = validated(F.hidden_heatmap_fig(cfg))
    strips = [np.asarray(tr.z, dtype=np.float64) for tr in fig.data if tr.type == "heatmap"]
    assert strips and all(np.nanmax(np.abs(z)) > 1e38 and not np.isinf(z).any() for z in strips)
    z = np.asarray(heat.data[0].z, dtype=np.float64)
    assert np.nanmax(np.abs(z)) > 1e38 and not np.isinf(z).any()


def test_phase_diagram_of_an_exploding_network_builds_cleanly():
    s = PhaseSettings(act="linear", H=8, seeds=2, rho_lo=0.5, rho_hi=4.5, n_rho=16, T=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = validated(phase_fig(s, (3.0, 500)))
    check(fig, "phase diagram, linear, rho up to 4.5")


def test_float32_if_fits():
    small = float32_if_fits([1.0, -2.5, np.nan])
    assert small.dtype == np.float32 and np.isnan(small[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = float32_if_fits([1e200, -1.0, np.inf, -np.inf, np.nan])
    assert big.dtype == np.float64 and big[0] == 1e200
    assert np.isnan(big[2:]).all()  # an overflowed entry is a gap, never inf
    assert float32_if_fits(np.full(3, np.inf)).dtype == np.float32
