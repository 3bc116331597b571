"""Figures for the Spectrum page."""
from __future__ import annotations

import numpy as np

from viz.spec import Spec, add_scatter, bar, figure, scatter, update_layout, update_xaxes, update_yaxes
from viz.style import (
    BLUE,
    GATE_LABELS,
    GREY,
    ORANGE,
    VERMILION,
    empty,
    log_axis,
    log_range,
    positive,
    style,
    view_band,
    widen_for,
)


def block_name(block: str) -> str:
    """Name of a recurrent block: W_hh for the vanilla RNN, W_h<gate> (PyTorch's naming) for a gate."""
    return "W_hh" if block == "h" else f"W_h{block}"


def block_title(block: str) -> str:
    """W_hh, or e.g. "W_hf (forget gate f)"."""
    return "W_hh" if block == "h" else f"{block_name(block)} ({GATE_LABELS.get(block, block)})"


def _circle(r: float, n: int = 181):
    th = np.linspace(0, 2 * np.pi, n)
    return r * np.cos(th), r * np.sin(th)


def eigen_figure(eigs, gamma: float | None, name: str = "W_hh") -> Spec:
    """Eigenvalues of W_hh (or of the recurrent block `name`) in the complex plane, with |λ| = 1
    and |λ| = 1/γ (gamma None: the unit circle only, as for a gate's block, which no single
    nonlinearity turns into a step Jacobian)."""
    ev = np.asarray(eigs, dtype=complex)
    circle_only = gamma is None
    inv_g = 1.0 if circle_only else 1.0 / gamma
    fig = figure()
    cx, cy = _circle(1.0)
    unit_name = "unit circle |λ| = 1" + (" = 1/γ" if abs(inv_g - 1.0) <= 1e-12 and not circle_only else "")
    add_scatter(fig, x=cx, y=cy, mode="lines", name=unit_name,
                line=dict(color=GREY, width=2, dash="dash"), hoverinfo="skip")
    if abs(inv_g - 1.0) > 1e-12:
        gx, gy = _circle(inv_g)
        add_scatter(fig, x=gx, y=gy, mode="lines", name=f"|λ| = 1/γ = {inv_g:g}",
                    line=dict(color=VERMILION, width=2, dash="dot"), hoverinfo="skip")
    add_scatter(fig, x=ev.real, y=ev.imag, mode="markers", name=f"eigenvalues λ of {name}",
                marker=dict(color=BLUE, size=9, line=dict(width=1, color="white")),
                hovertemplate="λ = %{x:.3f} %{y:+.3f}i<extra></extra>")
    finite_abs = np.abs(ev[np.isfinite(ev)])
    r = max(1.15, 1.1 * inv_g if inv_g < 5 else 1.15,
            1.1 * float(finite_abs.max()) if finite_abs.size else 1.0)
    title = f"Eigenvalues of {name}"
    style(fig, title, "real part", "imaginary part", height=520, legend_above=True)
    if len(fig["data"]) > 2:  # in a half-width column three legend entries take three rows: keep the title clear
        update_layout(fig, margin=dict(t=165), height=560)
    update_xaxes(fig, range=[-r, r], zeroline=True)
    update_yaxes(fig, range=[-r, r], scaleanchor="x", scaleratio=1, zeroline=True)
    return fig


def singular_figure(sv, gamma: float, name: str = "W_hh") -> Spec:
    """Singular values of W_hh (or of the recurrent block `name`), descending, as bars, with the
    1/γ line."""
    s = np.sort(np.asarray(sv, dtype=float))[::-1]
    inv_g = 1.0 / gamma
    idx = np.arange(1, s.size + 1)
    above = s > inv_g
    fig = figure([bar(x=idx, y=s, name="singular values σ_i",
                      marker=dict(color=np.where(above, VERMILION, BLUE).tolist(),
                                  line=dict(width=0)),
                      hovertemplate="σ_%{x} = %{y:.3f}<extra></extra>")])
    add_scatter(fig, x=[0.5, s.size + 0.5], y=[inv_g, inv_g], mode="lines",
                name=f"1/γ = {inv_g:g}: bars above it can let gradients grow",
                line=dict(color=GREY, width=3, dash="dash"))
    style(fig, f"Singular values of {name}", "index i (largest first)", "σ_i",
          height=420, legend_above=True)
    update_layout(fig, bargap=0.1)
    update_xaxes(fig, range=[0.5, s.size + 0.5])
    return fig


def _power_line(base: float, k: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        lb = np.log10(base) if base > 0 else -np.inf
        logs = np.where(k == 0, 0.0, k * lb)
        return np.power(10.0, np.clip(logs, -400, 400))


def power_figure(power_norms, rho: float, sigma_max: float, name: str = "W_hh") -> Spec:
    """‖W_hh^k‖₂ (or of the recurrent block `name`) against k, with ρ^k (eventual rate) and
    σ_max^k (upper bound)."""
    p = positive(power_norms)
    k = np.arange(p.size)
    title = f"Transient growth: ‖{name}ᵏ‖₂ against ρᵏ"
    if not np.isfinite(p).any():
        return empty(title, f"‖{name}ᵏ‖ is zero for every k ≥ 1 ({name} = 0).")
    k_arr = np.arange(p.size)
    yr = widen_for(log_range(p), _power_line(rho, k_arr), _power_line(sigma_max, k_arr), extra=3.0)
    lo, hi = view_band(yr)
    fig = figure([
        scatter(x=k, y=p, mode="lines", name=f"‖{name}ᵏ‖₂ (what the gradient feels, linear case)" if name == "W_hh"
                else f"‖{name}ᵏ‖₂",
                line=dict(color=BLUE, width=3),
                hovertemplate="k = %{x}<br>‖Wᵏ‖ = %{y:.3e}<extra></extra>"),
        scatter(x=k, y=np.clip(_power_line(rho, k), lo, hi), mode="lines",
                name=f"ρᵏ, ρ = {rho:.3g} (eigenvalues only)",
                line=dict(color=ORANGE, width=2.5, dash="dot"), hoverinfo="skip"),
        scatter(x=k, y=np.clip(_power_line(sigma_max, k), lo, hi), mode="lines",
                name=f"σ_maxᵏ, σ_max = {sigma_max:.3g} (upper bound)",
                line=dict(color=VERMILION, width=2.5, dash="dash"), hoverinfo="skip"),
    ])
    style(fig, title, "power k", "norm  (log scale)", height=460, legend_above=True)
    log_axis(fig, yr)
    return fig
