"""Figures for the Hidden state page."""
from __future__ import annotations

import numpy as np
from plotly.colors import sample_colorscale

from viz.payload import evenly_spaced, float32_if_fits
from viz.spec import (
    Spec,
    add_scatter,
    add_trace,
    figure,
    heatmap,
    scatter,
    subplots,
    update_annotations,
    update_layout,
    update_xaxes,
    update_yaxes,
)
from viz.style import (
    BLUE,
    DIVERGING,
    FONT_SIZE,
    GATE_LABELS,
    GREEN,
    GREY,
    INK,
    NOTE_BG,
    ORANGE,
    PURPLE,
    SEQUENTIAL,
    SIGNED_GATES,
    SKY,
    VERMILION,
    YELLOW,
    animation_controls,
    colorscale,
    empty,
    finite,
    frame_steps,
    style,
)

LINE_COLORS = (BLUE, ORANGE, GREEN, VERMILION, PURPLE, SKY, YELLOW)
MAX_HEATMAP_CELLS = 40_000


def symmetric_limit(h, activation: str) -> float:
    """Half-width of the fixed, symmetric colour scale for h."""
    if activation in ("tanh", "sigmoid"):
        return 1.0
    m = np.nanmax(np.abs(finite(h))) if np.isfinite(finite(h)).any() else 1.0
    return float(m) if m > 0 else 1.0


def time_stride(T: int, H: int, max_cells: int = MAX_HEATMAP_CELLS) -> int:
    """Show every k-th step so that the heatmap stays under `max_cells` cells."""
    return max(1, int(np.ceil(T * H / max_cells)))


def hidden_heatmap(h, activation: str, *, title: str = "Hidden state h_t, unit by unit",
                   label: str = "h value") -> Spec:
    """h as units (rows) × time (columns), diverging colours, fixed symmetric scale.

    Also draws the LSTM's cell state c (pass activation "linear": its scale follows the data,
    since c is not bounded), with its own `title` and colour-bar `label`."""
    h = finite(h)
    T, H = h.shape
    k = time_stride(T, H)
    cols = np.arange(0, T, k)
    M = symmetric_limit(h, activation)
    z = float32_if_fits(h[cols].T)  # float64 when a state is beyond float32's range: never inf
    fig = figure([heatmap(
        z=z, x=(cols + 1).astype(np.int32), y=np.arange(1, H + 1, dtype=np.int32),
        colorscale=colorscale(DIVERGING), zmin=-M, zmax=M, zmid=0,
        colorbar=dict(title=dict(text=label, side="right")),
        hovertemplate="t = %{x}, unit %{y}<br>" + label.split()[0] + " = %{z:.3f}<extra></extra>")])
    if k > 1:
        title += f"  (every {k}th step shown)"
    style(fig, title, "time step t", "hidden unit", height=440)
    update_yaxes(fig, autorange="reversed" if H > 1 else True)
    return fig


def gates_heatmap(gates) -> Spec:
    """One heatmap per gate (units × time), stacked on one time axis.

    Sigmoid gates (values in [0, 1]) on the sequential scale with one colour bar from 0 to 1; the
    tanh candidate (g for the LSTM, n for the GRU) on the signed diverging scale from −1 to 1.
    """
    names = list(gates)
    title = "Gates over time, unit by unit"
    if not names:
        return empty(title, "The vanilla RNN has no gates.")
    T, H = np.asarray(gates[names[0]]).shape
    k = time_stride(T, H * len(names))
    cols = np.arange(0, T, k)
    n = len(names)
    fig = subplots(n, vertical_spacing=0.06,
                   titles=[GATE_LABELS.get(g, g) + (" (−1 … 1)" if g in SIGNED_GATES else " (0 … 1)")
                           for g in names])
    for r, g in enumerate(names, start=1):
        z = finite(np.asarray(gates[g])[cols].T).astype(np.float32)
        signed = g in SIGNED_GATES
        add_trace(fig, heatmap(
            z=z, x=(cols + 1).astype(np.int32), y=np.arange(1, H + 1, dtype=np.int32),
            coloraxis="coloraxis2" if signed else "coloraxis", name=GATE_LABELS.get(g, g),
            hovertemplate=f"{g}: t = %{{x}}, unit %{{y}}<br>{g} = %{{z:.3f}}<extra></extra>"), row=r)
        update_yaxes(fig, row=r, autorange="reversed" if H > 1 else True)
    update_layout(
        fig,
        coloraxis=dict(colorscale=colorscale(SEQUENTIAL), cmin=0.0, cmax=1.0,
                       colorbar=dict(title=dict(text="gate value (σ)", side="right", font=dict(size=FONT_SIZE)),
                                     x=1.0, y=1.0, yanchor="top", len=0.48, thickness=18,
                                     tickfont=dict(size=FONT_SIZE - 1))),
        coloraxis2=dict(colorscale=colorscale(DIVERGING), cmin=-1.0, cmax=1.0,
                        colorbar=dict(title=dict(text="candidate (tanh)", side="right", font=dict(size=FONT_SIZE)),
                                      x=1.0, y=0.0, yanchor="bottom", len=0.48, thickness=18,
                                      tickfont=dict(size=FONT_SIZE - 1))))
    if k > 1:
        title += f"  (every {k}th step shown)"
    style(fig, title, "", "", height=170 * n + 120)
    update_xaxes(fig, row=n, title=dict(text="time step t"))
    for r in range(1, n + 1):
        update_yaxes(fig, row=r, title=dict(text="unit"))
    update_annotations(fig, font=dict(size=FONT_SIZE))
    return fig


def unit_trajectories(h, units) -> Spec:
    """Selected units' h_t against t (units are 1-based)."""
    h = finite(h)
    T, H = h.shape
    t = np.arange(1, T + 1)
    units = [u for u in units if 1 <= u <= H]
    if not units:
        return empty("Chosen units over time", "Pick at least one unit above.")
    h = float32_if_fits(h)  # float64 when a value is beyond float32's range: never inf (overflow is a gap)
    fig = figure([
        scatter(x=t, y=h[:, u - 1], mode="lines", name=f"unit {u}",
                line=dict(color=LINE_COLORS[i % len(LINE_COLORS)], width=2.5))
        for i, u in enumerate(units)])
    style(fig, "Chosen units over time", "time step t", "h_t (unit value)", height=400)
    return fig


MAX_PATH_POINTS = 200   # points of the drawn path (long sequences are thinned)
MAX_DOTS = 30            # time-coloured dots along it: few enough to tell apart on a projector
PATH_SEGMENTS = 8        # the path is cut into this many pieces, each in the colour of its time


def _segments(n: int, k: int = PATH_SEGMENTS) -> list[tuple[int, int]]:
    """[a, b] index ranges (inclusive, neighbours share an end) splitting 0..n−1 into ≤ k pieces."""
    if n < 2:
        return [(0, max(n - 1, 0))]
    edges = evenly_spaced(n, min(k, n - 1) + 1)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def pca_figure(coords, explained, max_frames: int = 40) -> Spec:
    """The 2-D PCA path of h_t coloured by time, animated as it is traced out.

    The path is a thin line whose pieces take the colour of their time (sequential scale, with a
    colour bar), dots at a subset of steps, and labelled start and end markers. Long sequences are
    thinned to at most MAX_PATH_POINTS points (the last step is kept).
    """
    c_all = finite(coords)
    T = c_all.shape[0]
    keep = np.unique(np.concatenate([np.arange(0, T, max(1, int(np.ceil(T / MAX_PATH_POINTS)))), [T - 1]]))
    c = c_all[keep]
    title = "Path of the hidden state (first two principal components)"
    if not np.isfinite(c).any():
        return empty(title, "The hidden state is not finite, so it has no principal components.")
    t = (keep + 1).astype(np.int32)
    n = t.size
    ok = np.isfinite(c).all(axis=1)
    lo, hi = np.nanmin(c[ok], axis=0), np.nanmax(c[ok], axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        pad = 0.1 * np.maximum(hi - lo, 1e-6)
        pad = np.where(np.isfinite(pad), pad, 0.0)
        c32 = float32_if_fits(c)  # float64 when a coordinate is beyond float32's range; NaN (a gap) if not finite
    t_max = max(T, 2)
    segs = _segments(n)
    mid = [(t[a] + t[b]) / 2 for a, b in segs]
    seg_colors = sample_colorscale(SEQUENTIAL, [float((m - 1) / (t_max - 1)) for m in mid])
    traces = [scatter(x=c32[a: b + 1, 0], y=c32[a: b + 1, 1], mode="lines", hoverinfo="skip",
                      line=dict(color=col, width=1.25), opacity=0.5, showlegend=False,
                      name=f"path t = {t[a]}–{t[b]}")
              for (a, b), col in zip(segs, seg_colors)]
    dots = evenly_spaced(n, MAX_DOTS)
    traces.append(scatter(
        x=c32[dots, 0], y=c32[dots, 1], mode="markers", name="h_t (colour = time t)", showlegend=False,
        marker=dict(color=t[dots], colorscale=colorscale(SEQUENTIAL), cmin=1, cmax=t_max, size=11,
                    line=dict(width=1, color=GREY),
                    colorbar=dict(title=dict(text="step t", side="right"), thickness=16)),
        hovertemplate="t = %{marker.color}<br>PC1 = %{x:.3f}<br>PC2 = %{y:.3f}<extra></extra>"))
    first = int(np.flatnonzero(ok)[0])
    last = int(np.flatnonzero(ok)[-1])
    hover = "t = %{customdata}<br>PC1 = %{x:.3f}<br>PC2 = %{y:.3f}<extra></extra>"
    traces.append(scatter(
        x=[c32[first, 0]], y=[c32[first, 1]], customdata=[t[first]], mode="markers", name="start",
        showlegend=False, hovertemplate=hover, cliponaxis=False,
        marker=dict(symbol="circle", size=18, color=sample_colorscale(SEQUENTIAL, [0.0])[0],
                    line=dict(width=2.5, color="#ffffff"))))
    traces.append(scatter(
        x=[c32[last, 0]], y=[c32[last, 1]], customdata=[t[last]], mode="markers", name="end",
        showlegend=False, hovertemplate=hover, cliponaxis=False,
        marker=dict(symbol="diamond", size=20, color=sample_colorscale(SEQUENTIAL, [1.0])[0],
                    line=dict(width=2.5, color=INK))))
    centre = 0.5 * (lo + hi)
    ann = []
    for i, text in ((first, f"<b>t = {t[first]}</b> start"), (last, f"<b>t = {t[last]}</b> end")):
        # the label points at its marker from the side facing the middle of the plot, so it never
        # leaves the chart; its light box keeps it legible over the path in both themes
        sx = -1.0 if c32[i, 0] >= centre[0] else 1.0
        sy = -1.0 if c32[i, 1] >= centre[1] else 1.0
        ann.append(dict(x=float(c32[i, 0]), y=float(c32[i, 1]), text=text, showarrow=True,
                        arrowhead=0, arrowwidth=1.5, arrowcolor=INK, ax=55 * sx, ay=-40 * sy,
                        font=dict(size=FONT_SIZE, color=INK), bgcolor=NOTE_BG, bordercolor=GREY,
                        borderwidth=1, borderpad=3))
    # Frames: each path piece cut at the frame's step and the dots so far; the labelled start
    # and end markers stay put. Same number of points as the static figure.
    stops = frame_steps(n, max_frames)
    names = [f"{t[e]}" for e in stops]
    frames = []
    for e, nm in zip(stops, names):
        data = [scatter(x=c32[a: min(b, e) + 1, 0], y=c32[a: min(b, e) + 1, 1]) if a <= e
                else scatter(x=[], y=[]) for a, b in segs]
        d = dots[dots <= e]
        data.append(scatter(x=c32[d, 0], y=c32[d, 1], marker=dict(color=t[d])))
        frames.append(dict(name=nm, traces=list(range(len(segs) + 1)), data=data))
    fig = figure(traces, dict(showlegend=False, annotations=ann), frames)
    ev = finite(explained)
    xl = f"PC1 ({100 * ev[0]:.0f}% of variance)" if ev.size > 0 and np.isfinite(ev[0]) else "PC1"
    yl = f"PC2 ({100 * ev[1]:.0f}% of variance)" if ev.size > 1 and np.isfinite(ev[1]) else "PC2"
    style(fig, title, xl, yl, height=560)
    update_xaxes(fig, range=[float(lo[0] - pad[0]), float(hi[0] + pad[0])])
    update_yaxes(fig, range=[float(lo[1] - pad[1]), float(hi[1] + pad[1])])
    animation_controls(fig, names, prefix="up to t = ", duration=80)
    return fig


def saturation_figure(x, saturated_fraction, threshold: float = 0.1, gated: bool = False) -> Spec:
    """Input signal (top) and the fraction of saturated units (bottom) on one time axis.

    For a gated cell (`gated`) the fraction counts every gate unit whose nonlinearity has a
    derivative below the threshold (a gate pinned open or shut)."""
    x = finite(x)
    s = finite(saturated_fraction)
    T, D = x.shape
    t = np.arange(1, T + 1)
    fig = subplots(2, vertical_spacing=0.12,
                   titles=("input x_t",
                           f"fraction of gate units with |σ′| or |tanh′| < {threshold:g}" if gated
                           else f"fraction of units with |f′(a_t)| < {threshold:g}"))
    for d in range(min(D, 7)):
        add_scatter(fig, row=1, x=t, y=x[:, d].astype(np.float32), mode="lines", name=f"input {d + 1}",
                    line=dict(color=LINE_COLORS[d % len(LINE_COLORS)], width=2))
    add_scatter(fig, row=2, x=t, y=s.astype(np.float32), mode="lines", fill="tozeroy", name="saturated fraction",
                line=dict(color=VERMILION, width=2))
    style(fig, "Input and saturation: gates pinned open or shut" if gated
          else "Input and saturation: flat f′ blocks the gradient", "", "", height=520)
    update_xaxes(fig, row=2, title=dict(text="time step t"))
    update_yaxes(fig, row=1, title=dict(text="x_t"))
    update_yaxes(fig, row=2, title=dict(text="fraction"), range=[0, 1.02])
    update_annotations(fig, font=dict(size=16))
    return fig
