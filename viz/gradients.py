"""Figures for the Gradients (BPTT) page."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.style import (
    BLUE,
    FONT_SIZE,
    GREEN,
    ORANGE,
    SEQUENTIAL,
    VERMILION,
    animation_controls,
    empty,
    finite,
    frame_steps,
    log_axis,
    log_range,
    positive,
    style,
    view_band,
    widen_for,
)


def anchored_power(values, rate: float, anchor: int | None = None) -> np.ndarray:
    """values[a] · rate^(a − i) for i = 0..n−1, with a the last positive finite index.

    Computed in log space so huge or tiny powers do not overflow; entries beyond
    float64 range become 0 or inf. Returns NaN everywhere if nothing is positive.
    """
    v = positive(values)
    n = v.size
    idx = np.flatnonzero(np.isfinite(v))
    if anchor is None:
        if idx.size == 0:
            return np.full(n, np.nan)
        anchor = int(idx[-1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_rate = np.log10(rate) if rate > 0 else -np.inf
        dist = anchor - np.arange(n)
        log_vals = np.log10(v[anchor]) + dist * log_rate
        log_vals = np.where(dist == 0, np.log10(v[anchor]), log_vals)
        return np.power(10.0, np.clip(log_vals, -400.0, 400.0))


def _clip_to_view(values: np.ndarray, yrange) -> np.ndarray:
    """Keep overlay lines drawable on a log axis: clamp to a band around the view."""
    lo, hi = view_band(yrange)
    with np.errstate(invalid="ignore"):
        return np.clip(values, lo, hi)


def overlay_names(rho: float, sigma_max: float, gamma: float) -> tuple[str, str]:
    eta = gamma * sigma_max
    return (f"bound (γ·σ_max)^(T−t), γ·σ_max = {eta:.3g}",
            f"ρ^(T−t), ρ = {rho:.3g} (eigenvalue rate)")


def forward_overflow_figure(h_norm, overflow_step: int) -> go.Figure:
    """When the forward pass overflowed no gradient exists: show ‖h_t‖ up to the overflow."""
    v = positive(h_norm)
    T = v.size
    t = np.arange(1, T + 1)
    fig = go.Figure(go.Scatter(x=t, y=v, mode="lines", name="‖h_t‖ (forward pass)",
                               line=dict(color=VERMILION, width=3)))
    fig.add_vline(x=overflow_step + 1, line=dict(color="gray", dash="dash", width=2))
    fig.add_annotation(x=overflow_step + 1, y=1.0, yref="paper", text=f"overflow at t = {overflow_step + 1}",
                       showarrow=False, xanchor="right", font=dict(size=FONT_SIZE))
    style(fig, "No gradient: the forward pass overflowed. ‖h_t‖ on the way there",
          "time step t", "‖h_t‖  (log scale)", height=460, legend_below=True)
    log_axis(fig, log_range(v))
    fig.update_xaxes(range=[0.5, T + 0.5])
    return fig


def grad_norm_figure(grad_norm, rho: float, sigma_max: float, gamma: float,
                     max_frames: int = 40) -> go.Figure:
    """‖∂L/∂h_t‖ against t on a log axis, animated from t = T back to t = 1.

    Overlays: (γσ_max)^(T−t) and ρ^(T−t), both scaled to equal the gradient at the
    last step that has a finite, positive value.
    """
    g = positive(grad_norm)
    T = g.size
    t = np.arange(1, T + 1)
    title = "How much gradient reaches each step: ‖∂L/∂h_t‖"
    if not np.isfinite(g).any():
        return empty(title, "Every ‖∂L/∂h_t‖ is zero or not finite: no gradient to show.")
    yr = widen_for(log_range(g), anchored_power(g, gamma * sigma_max), anchored_power(g, rho))
    bound = _clip_to_view(anchored_power(g, gamma * sigma_max), yr)
    rate = _clip_to_view(anchored_power(g, rho), yr)
    name_bound, name_rho = overlay_names(rho, sigma_max, gamma)
    fig = go.Figure([
        go.Scatter(x=t, y=g, mode="lines+markers" if T <= 150 else "lines",
                   name="‖∂L/∂h_t‖ (BPTT)", line=dict(color=BLUE, width=3),
                   marker=dict(size=6), hovertemplate="t = %{x}<br>‖∂L/∂h_t‖ = %{y:.3e}<extra></extra>"),
        go.Scatter(x=t, y=bound, mode="lines", name=name_bound,
                   line=dict(color=VERMILION, width=2.5, dash="dash"), hoverinfo="skip"),
        go.Scatter(x=t, y=rate, mode="lines", name=name_rho,
                   line=dict(color=ORANGE, width=2.5, dash="dot"), hoverinfo="skip"),
    ])
    starts = frame_steps(T, max_frames)[::-1]  # from t = T back to t = 1
    names = [f"{s + 1}" for s in starts]
    fig.frames = [go.Frame(name=nm, traces=[0], data=[go.Scatter(x=t[s:], y=g[s:])])
                  for s, nm in zip(starts, names)]
    style(fig, title, "time step t", "‖∂L/∂h_t‖  (log scale)", height=560, legend_below=True)
    log_axis(fig, yr)
    fig.update_xaxes(range=[0.5, T + 0.5])
    animation_controls(fig, names, prefix="backprop has reached t = ", duration=90)
    return fig


def jacobian_figure(steps, norms, T: int, rho: float, sigma_max: float, gamma: float) -> go.Figure:
    """‖∂h_T/∂h_t‖ (spectral norm) with the (γσ_max)^(T−t) upper bound and ρ^(T−t)."""
    s = np.asarray(steps, dtype=int)
    j = positive(norms)
    t = s + 1
    title = "How much step t can still move the last state: ‖∂h_T/∂h_t‖"
    if not np.isfinite(j).any():
        return empty(title, "‖∂h_T/∂h_t‖ is zero or not finite at every step shown.")
    dist = T - t
    with np.errstate(all="ignore"):
        bound = np.power(10.0, np.clip(dist * np.log10(gamma * sigma_max)
                                       if gamma * sigma_max > 0 else -np.inf * (dist > 0), -400, 400))
        rate = np.power(10.0, np.clip(dist * np.log10(rho) if rho > 0
                                      else -np.inf * (dist > 0), -400, 400))
    name_bound, name_rho = overlay_names(rho, sigma_max, gamma)
    yr = widen_for(log_range(j), bound, rate)
    bound, rate = _clip_to_view(bound, yr), _clip_to_view(rate, yr)
    fig = go.Figure([
        go.Scatter(x=t, y=j, mode="lines+markers" if t.size <= 150 else "lines",
                   name="‖∂h_T/∂h_t‖₂", line=dict(color=GREEN, width=3),
                   hovertemplate="t = %{x}<br>‖∂h_T/∂h_t‖ = %{y:.3e}<extra></extra>"),
        go.Scatter(x=t, y=bound, mode="lines", name="upper " + name_bound,
                   line=dict(color=VERMILION, width=2.5, dash="dash"), hoverinfo="skip"),
        go.Scatter(x=t, y=rate, mode="lines", name=name_rho,
                   line=dict(color=ORANGE, width=2.5, dash="dot"), hoverinfo="skip"),
    ])
    style(fig, title, "time step t", "‖∂h_T/∂h_t‖₂  (log scale)", height=460, legend_below=True)
    log_axis(fig, yr)
    fig.update_xaxes(range=[float(t.min()) - 0.5, T + 0.5])
    return fig


def jacobian_grid_figure(steps, grid) -> go.Figure:
    """Heatmap of log10 ‖∂h_t/∂h_k‖ for t (rows) ≥ k (columns) on a subsampled grid."""
    s = np.asarray(steps, dtype=int) + 1
    title = "Gradient flow between any two steps: ‖∂h_t/∂h_k‖"
    with np.errstate(all="ignore"):
        z = np.log10(positive(grid))
    if not np.isfinite(z).any():
        return empty(title, "No finite, non-zero Jacobian norms to show.")
    zmin, zmax = float(np.nanmin(z)), float(np.nanmax(z))
    if zmax - zmin < 1:
        zmin, zmax = zmin - 0.5, zmax + 0.5
    ticks = np.arange(np.ceil(zmin), np.floor(zmax) + 1)
    if ticks.size > 8:
        ticks = ticks[:: int(np.ceil(ticks.size / 8))]
    labels = [f"10<sup>{int(k)}</sup>" for k in ticks]
    fig = go.Figure(go.Heatmap(
        x=s, y=s, z=z.astype(np.float32), colorscale=SEQUENTIAL, zmin=zmin, zmax=zmax,
        colorbar=dict(title=dict(text="‖∂h_t/∂h_k‖", side="right"), tickvals=ticks, ticktext=labels),
        hovertemplate="t = %{y}, k = %{x}<br>log10 ‖∂h_t/∂h_k‖ = %{z:.2f}<extra></extra>",
        hoverongaps=False))
    note = f" ({s.size}×{s.size} grid of steps)"
    style(fig, title + note, "earlier step k", "later step t", height=480)
    fig.update_yaxes(autorange=True)
    return fig


def dW_contribution_figure(step_norms) -> go.Figure:
    """Per-step Frobenius norm of step t's term in ∂L/∂W_hh, log axis."""
    v = positive(step_norms)
    T = v.size
    t = np.arange(1, T + 1)
    title = "Which steps the weight update listens to: step t's share of ∂L/∂W_hh"
    if not np.isfinite(v).any():
        return empty(title, "Every step's contribution is zero or not finite (overflow).")
    fig = go.Figure(go.Bar(x=t, y=v, marker=dict(color=BLUE, line=dict(width=0)),
                           name="‖(f′(a_t) ⊙ ∂L/∂h_t) h_{t−1}ᵀ‖_F",
                           hovertemplate="t = %{x}<br>%{y:.3e}<extra></extra>", showlegend=True))
    style(fig, title, "time step t", "Frobenius norm  (log scale)", height=420, legend_below=True)
    log_axis(fig, log_range(v))
    fig.update_layout(bargap=0.05)
    return fig


def decay_readout(grad_norm) -> str:
    """One line comparing the gradient at step 1 with the one at step T."""
    g = finite(grad_norm)
    T = g.size
    first, last = g[0], g[-1]
    if not (np.isfinite(first) and np.isfinite(last)):
        return "Some gradients are not finite (overflow), so the ratio between step 1 and step T is undefined."
    if last == 0:
        return "The gradient at the last step is exactly zero."
    if first == 0:
        return f"No gradient at all reaches step 1 from step T = {T} (it is exactly zero)."
    k = np.log10(first / last)
    if abs(k) < 0.05:
        return f"The gradient reaching step 1 is about as large as the one at step T = {T}."
    word = "smaller" if k < 0 else "larger"
    return (f"The gradient reaching step 1 is $10^{{{k:+.1f}}}$ times the one at step T = {T} "
            f"(about {10 ** abs(k):.3g}× {word}).")


def teaser_figure(grad_norm) -> go.Figure:
    """Small version of the gradient plot for the home page."""
    g = positive(grad_norm)
    T = g.size
    fig = go.Figure(go.Scatter(x=np.arange(1, T + 1), y=g, mode="lines",
                               line=dict(color=BLUE, width=3), name="‖∂L/∂h_t‖"))
    style(fig, "Live: gradient size ‖∂L/∂h_t‖ at each step", "time step t", "‖∂L/∂h_t‖ (log)", height=340)
    log_axis(fig, log_range(g))
    # Powers of ten with superscripts are wider than automargin expects: leave room explicitly.
    fig.update_yaxes(automargin=False, title_standoff=10)
    fig.update_layout(showlegend=False, margin=dict(t=60, b=60, l=110))
    return fig
