"""Figures and readout for the RNN vs LSTM vs GRU page: the same input through the three cells."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from viz.spec import (
    Spec,
    add_hline,
    add_scatter,
    add_trace,
    figure,
    scatter,
    update_layout,
    update_xaxes,
    update_yaxes,
)
from viz.style import CELL_COLORS, CELL_NAMES, GREY, empty, finite, log_axis, log_range, positive, style

SYMBOLS = {"rnn": "circle", "lstm": "diamond", "gru": "square"}   # shape as well as colour tells them apart
DASHES = {"rnn": "solid", "lstm": "dash", "gru": "dot"}


def decay_exponent(grad_norm) -> float | None:
    """log10(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖), the exponent of the Gradients page's readout; None when that
    ratio is not a finite number (overflow, or a zero at either end)."""
    g = finite(grad_norm)
    if g.size == 0:
        return None
    first, last = g[0], g[-1]
    if not (np.isfinite(first) and np.isfinite(last)) or first <= 0 or last <= 0:
        return None
    return float(np.log10(first / last))


def power_text(k: float) -> str:
    """10^−7.3 / 10^+2.1 / 10^0.0, the exponent to one decimal with a true minus sign."""
    r = round(k, 1)
    sign = "−" if r < 0 else "+" if r > 0 else ""
    return f"10^{sign}{abs(r):.1f}"


def cell_exponent_text(grad_norm, overflow_step: int | None = None) -> str:
    """The readout's term for one cell: a power of ten, or why there is none."""
    k = decay_exponent(grad_norm)
    if k is not None:
        return power_text(k)
    g = finite(grad_norm)
    if overflow_step is not None or (g.size and not np.isfinite(g).all()):
        step = overflow_step + 1 if overflow_step is not None else int(np.flatnonzero(~np.isfinite(g))[0]) + 1
        return f"overflow at t = {step}"
    if g.size and g[-1] == 0:
        return "no gradient at step T"
    return "exactly 0"


def compare_readout(grads: Mapping[str, np.ndarray], overflow: Mapping[str, int | None] | None = None) -> str:
    """'gradient reaching step 1: 10^−a (RNN), 10^−b (LSTM), 10^−c (GRU)', each exponent being
    log10(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖) for that cell."""
    overflow = overflow or {}
    parts = [f"{cell_exponent_text(g, overflow.get(c))} ({CELL_NAMES[c]})" for c, g in grads.items()]
    return "gradient reaching step 1: " + ", ".join(parts)


def compare_grad_figure(grads: Mapping[str, np.ndarray],
                        overflow: Mapping[str, int | None] | None = None) -> Spec:
    """‖∂L/∂h_t‖ of each cell against t on one log axis (colour, dash and marker differ per cell)."""
    overflow = overflow or {}
    title = "Gradient reaching each step, ‖∂L/∂h_t‖: RNN vs LSTM vs GRU"
    series = {c: positive(g) for c, g in grads.items()}
    if not any(np.isfinite(v).any() for v in series.values()):
        return empty(title, "No cell has a finite, non-zero gradient to show.")
    fig = figure()
    T = max(v.size for v in series.values())
    for c, v in series.items():
        t = np.arange(1, v.size + 1)
        term = cell_exponent_text(grads[c], overflow.get(c))
        name = f"{CELL_NAMES[c]}  ({term} at t = 1)" if term.startswith("10^") else f"{CELL_NAMES[c]}  ({term})"
        add_scatter(fig, x=t, y=v, mode="lines+markers", name=name,
                    line=dict(color=CELL_COLORS[c], width=3.5, dash=DASHES[c]),
                    # a symbol per cell on a few points: tells the lines apart in greyscale too
                    marker=dict(symbol=SYMBOLS[c], size=11, maxdisplayed=14,
                                line=dict(width=1, color="white")),
                    hovertemplate=f"{CELL_NAMES[c]}<br>t = %{{x}}<br>‖∂L/∂h_t‖ = %{{y:.3e}}<extra></extra>")
    style(fig, title, "step t", "‖∂L/∂h_t‖  (log scale)", height=540, legend_above=True)
    log_axis(fig, log_range(*series.values()))
    update_xaxes(fig, range=[0.5, T + 0.5])
    update_layout(fig, showlegend=True, hovermode="x unified")
    return fig


def _band(t, lo, hi, color: str, name: str, group: str, rank: int) -> list[dict]:
    """A filled band between lo and hi (one legend entry, at legend rank `rank`)."""
    rgba = "rgba({},{},{},0.16)".format(*(int(color[i:i + 2], 16) for i in (1, 3, 5)))
    return [scatter(x=t, y=hi, mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False,
                    legendgroup=group, legendrank=rank),
            scatter(x=t, y=lo, mode="lines", line=dict(width=0), fill="tonexty", fillcolor=rgba,
                    hoverinfo="skip", name=name, legendgroup=group, legendrank=rank)]


def gates_over_time_figure(f, z) -> Spec:
    """The LSTM's forget gate f_t and the GRU's update gate z_t over time: the mean over units as a
    line, the range from the smallest to the largest unit as a band. Both gates are in [0, 1]."""
    title = "The gates that keep the past: LSTM forget gate f_t, GRU update gate z_t"
    f, z = finite(f), finite(z)
    if f.size == 0 and z.size == 0:
        return empty(title, "No gate values to show.")
    fig = figure()
    shown = [(c, g, label) for c, g, label in (("lstm", f, "LSTM forget gate f_t"), ("gru", z, "GRU update gate z_t"))
             if g.size]
    stats = {}
    with np.errstate(all="ignore"):
        for c, g, _ in shown:
            stats[c] = (np.nanmin(g, axis=1), np.nanmax(g, axis=1), np.nanmean(g, axis=1))
    # bands first, both mean lines on top of them, so a line never hides under the other cell's band
    for rank, (c, g, label) in enumerate(shown):
        t = np.arange(1, g.shape[0] + 1)
        lo, hi, _ = stats[c]
        for tr in _band(t, lo.astype(np.float32), hi.astype(np.float32), CELL_COLORS[c],
                        f"{label}: smallest to largest unit", c, 10 + rank):
            add_trace(fig, tr)
    for rank, (c, g, label) in enumerate(shown):
        t = np.arange(1, g.shape[0] + 1)
        add_scatter(fig, x=t, y=stats[c][2].astype(np.float32), mode="lines", name=f"{label}: mean over units",
                    legendgroup=c, legendrank=rank, line=dict(color=CELL_COLORS[c], width=4.5, dash=DASHES[c]),
                    hovertemplate=f"{label}<br>t = %{{x}}<br>mean = %{{y:.3f}}<extra></extra>")
    add_hline(fig, 1.0, line=dict(color=GREY, width=1.5, dash="dot"))
    style(fig, title, "step t", "gate value (0 = shut, 1 = open)", height=460, legend_above=True)
    update_yaxes(fig, range=[-0.02, 1.04])
    update_layout(fig, showlegend=True, margin=dict(t=150))
    return fig
