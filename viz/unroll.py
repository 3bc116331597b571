"""The unrolled computation graph, animated: forward pass, then backward pass."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from plotly.colors import sample_colorscale

from viz.payload import float32_if_fits
from viz.spec import Spec, figure, update_layout, update_xaxes, update_yaxes
from viz.style import (
    DIVERGING,
    FONT_SIZE,
    GREY,
    INK,
    PURPLE,
    SEQUENTIAL,
    SMALL_SIZE,
    VERMILION,
    WEIGHT_COLORS,
    animation_controls,
    colorscale,
    finite,
    positive,
    style,
)

MAX_UNITS_SHOWN = 8
GRAD_LABEL_SIZE = 15  # the ‖∂L/∂h_t‖ numbers over the backward arrows, read from the back of a room
_LOW = 0.12  # skip the darkest end of the sequential scale: faint arrows stay visible on dark themes
GRAD_SCALE = [[i / 10, c] for i, c in enumerate(sample_colorscale(SEQUENTIAL, [_LOW + (1 - _LOW) * i / 10
                                                                               for i in range(11)]))]
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sub(n: int) -> str:
    return str(n).translate(_SUB)


def short_number(v: float) -> str:
    """One significant figure and a bare exponent ("3e-24", "2e-1"): narrow enough to sit over an
    arrow between two columns at projector font sizes."""
    if not np.isfinite(v):
        return "overflow"
    if v == 0:
        return "0"
    m, e = f"{v:.0e}".split("e")
    return f"{m}e{int(e)}"


def window(T: int, head: int = 3, tail: int = 5) -> list[int | None]:
    """0-based steps drawn as columns; None marks the ellipsis for long sequences."""
    if T <= head + tail + 1:
        return list(range(T))
    return list(range(head)) + [None] + list(range(T - tail, T))


def _strip_cells(h, real, xs, m: int, half_width: float):
    """Cell centres, values, step labels and column index for the h_t strips.

    Heatmap cell edges fall halfway between centres, so two empty (NaN) cells sit between
    neighbouring strips to keep every real cell exactly `w` wide.
    """
    w = min(2 * half_width * 0.9 / m, 0.12)
    x, z, t, col = [], [], [], []
    prev_last = None
    for k, (i, s) in enumerate(real):
        centres = xs[i] + (np.arange(m) - (m - 1) / 2.0) * w
        if prev_last is not None:
            x += [prev_last + w, centres[0] - w]
            z += [np.nan, np.nan]
            t += [0, 0]
            col += [-1, -1]
        x += centres.tolist()
        z += h[s, :m].tolist()
        t += [s + 1] * m
        col += [k] * m
        prev_last = centres[-1]
    # float32 unless a state is beyond its range (an exploding linear network): then float64, never inf
    return (np.asarray(x), float32_if_fits(z), np.asarray(t, dtype=np.int32), np.asarray(col))


def grad_style(g: np.ndarray, min_decades: float = 0.0) -> tuple[list[float], list[str], float, float]:
    """Arrow widths and colours from log10 gradient norms (NaN → thin grey).

    With `min_decades` the scale spans at least that many decades below the largest norm, so
    norms that hardly change (a gradient that is kept) are drawn alike instead of stretched from
    thinnest to thickest."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log10(positive(g))
    ok = np.isfinite(lg)
    lo, hi = (float(lg[ok].min()), float(lg[ok].max())) if ok.any() else (0.0, 1.0)
    if hi - lo < min_decades:
        lo = hi - min_decades
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    u = np.where(ok, (lg - lo) / (hi - lo), 0.0)
    widths = np.where(ok, 1.5 + 10.5 * u, 1.0).tolist()
    shade = (_LOW + (1 - _LOW) * np.clip(u, 0, 1)).tolist()
    colors = [c if k else GREY for c, k in zip(sample_colorscale(SEQUENTIAL, shade), ok)]
    return widths, colors, lo, hi


def unroll_figure(h, grad_h_norm, loss_steps, activation: str = "tanh", *, cell: str = "rnn",
                  gates=None, c=None, grad_c_norm=None) -> Spec:
    """Graph x_t → h_t → y_t for a window of steps, with an animated forward and backward pass.

    h (T, H) hidden states; grad_h_norm (T,) ‖∂L/∂h_t‖; loss_steps: 0-based steps with a loss term.
    Weight arrows use one colour per shared matrix at every step. For a gated cell ("lstm", "gru")
    pass its gates (name → (T, H)) and, for the LSTM, c (T, H) and grad_c_norm (T,): see
    `gated_unroll_figure`.
    """
    if cell in CELL_LAYOUTS:
        return gated_unroll_figure(h, grad_h_norm, loss_steps, cell=cell, gates=gates, c=c,
                                   grad_c_norm=grad_c_norm)
    h = finite(h)
    T, H = h.shape
    g = finite(grad_h_norm)
    cols = window(T)
    n = len(cols)
    xs = np.arange(n, dtype=float).tolist()  # plain floats, as Plotly stores validated lists
    m = min(H, MAX_UNITS_SHOWN)
    M = 1.0 if activation in ("tanh", "sigmoid") else (
        float(np.nanmax(np.abs(h))) if np.isfinite(h).any() and np.nanmax(np.abs(h)) > 0 else 1.0)
    loss_set = set(int(s) for s in loss_steps)
    Y_X, Y_H, Y_Y, Y_L = 0.0, 1.0, 2.3, 3.05
    BW = 0.35  # half width of an h box
    Y_BACK = Y_H + 0.45  # where the gradient flows back
    real = [(i, s) for i, s in enumerate(cols) if s is not None]

    traces, shapes, ann = [], [], []

    def scatter(**kw):
        traces.append(dict(type="scatter", **kw))

    def arrow(x0, y0, x1, y1, color, width=2.5, dash=False):
        ann.append(dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                        showarrow=True, arrowhead=2, arrowsize=1.1, arrowwidth=width,
                        arrowcolor=color, text=""))

    # --- static structure: nodes, shared-weight arrows (same colour at every step) -----------
    for i, s in enumerate(cols):
        x = xs[i]
        if s is None:
            ann.append(dict(x=x, y=Y_H, text="⋯", showarrow=False, font=dict(size=34)))
            ann.append(dict(x=x, y=Y_X - 0.05, text=f"{T - (n - 1)} more<br>steps", showarrow=False,
                            font=dict(size=SMALL_SIZE)))
            continue
        arrow(x, Y_X + 0.17, x, Y_H - 0.2, WEIGHT_COLORS["W_hx"])
        arrow(x, Y_H + 0.2, x, Y_Y - 0.16, WEIGHT_COLORS["W_hy"])
        if i > 0:
            arrow(xs[i - 1] + BW, Y_H, x - BW, Y_H, WEIGHT_COLORS["W_hh"], dash=cols[i - 1] is None)
        if s in loss_set:
            if len(loss_set) == 1:
                arrow(x, Y_Y + 0.16, x, Y_L - 0.13, VERMILION, 2)
            else:
                arrow(x, Y_Y + 0.16, x, Y_L - 0.13, VERMILION, 1.5)
    # h boxes
    for i, s in enumerate(cols):
        if s is None:
            continue
        shapes.append(dict(type="rect", x0=xs[i] - BW, x1=xs[i] + BW, y0=Y_H - 0.2, y1=Y_H + 0.2,
                           line=dict(color=GREY, width=1.5), layer="below"))
    # legend entries for the three shared matrices
    for name, label in (("W_hx", "W_hx: input → hidden"), ("W_hh", "W_hh: hidden → hidden"),
                        ("W_hy", "W_hy: hidden → output")):
        scatter(x=[None], y=[None], mode="lines", name=label,
                        line=dict(color=WEIGHT_COLORS[name], width=4))
    # weight labels on every arrow: the same three names repeat
    lx, ly, lt, lc = [], [], [], []
    for i, _ in real:
        lx += [xs[i] + 0.04, xs[i] + 0.04]
        ly += [0.5 * (Y_X + Y_H), Y_Y - 0.45]
        lt += ["W_hx", "W_hy"]
        lc += [WEIGHT_COLORS["W_hx"], WEIGHT_COLORS["W_hy"]]
        if i > 0:
            lx.append((xs[i - 1] + xs[i]) / 2 - 0.16)
            ly.append(Y_H - 0.3)
            lt.append("W_hh")
            lc.append(WEIGHT_COLORS["W_hh"])
    scatter(x=lx, y=ly, mode="text", text=lt, textposition="middle right",
                    textfont=dict(color=lc, size=SMALL_SIZE), showlegend=False, hoverinfo="skip",
                    cliponaxis=False)
    # x and y nodes
    scatter(x=[xs[i] for i, _ in real], y=[Y_X] * len(real), mode="markers+text",
                    text=[f"x{sub(s + 1)}" for _, s in real], textposition="bottom center",
                    marker=dict(size=24, color="rgba(0,158,115,0.25)", line=dict(color=WEIGHT_COLORS["W_hx"], width=2)),
                    name="inputs x_t", showlegend=False, hoverinfo="skip")
    scatter(x=[xs[i] for i, _ in real], y=[Y_Y] * len(real), mode="markers+text",
                    text=[f"y{sub(s + 1)}" for _, s in real], textposition="middle right",
                    marker=dict(size=24, color="rgba(230,159,0,0.25)", line=dict(color=WEIGHT_COLORS["W_hy"], width=2)),
                    name="outputs y_t", showlegend=False, hoverinfo="skip", cliponaxis=False)
    # loss node(s)
    lxs = [xs[i] for i, s in real if s in loss_set]
    if len(loss_set) == 1:
        scatter(x=lxs, y=[Y_L] * len(lxs), mode="markers+text", text=["loss L"],
                        textposition="middle left", marker=dict(symbol="diamond", size=22, color=VERMILION),
                        name="loss L (last step only)", hoverinfo="skip")
    else:
        scatter(x=lxs, y=[Y_L] * len(lxs), mode="markers+text",
                        text=[f"ℓ{sub(s + 1)}" for i, s in real if s in loss_set], textposition="middle left",
                        marker=dict(symbol="diamond", size=16, color=VERMILION),
                        name="loss terms ℓ_t (L = Σ ℓ_t)", hoverinfo="skip")
    # h labels
    scatter(x=[xs[i] - BW for i, _ in real], y=[Y_H + 0.3] * len(real), mode="text",
                    text=[f"h{sub(s + 1)}" for _, s in real], textposition="middle right",
                    showlegend=False, hoverinfo="skip", textfont=dict(size=FONT_SIZE))

    # --- animated traces -------------------------------------------------------------------
    # unit strip: a one-row heatmap of the first m units inside each h box. Cells are sized in
    # data units, so the strip always fits its box whatever the screen width.
    strip_x, strip_z, strip_t, col_of = _strip_cells(h, real, xs, m, BW)
    i_units = len(traces)
    traces.append(dict(
        type="heatmap", x=strip_x, y=[Y_H - 0.08, Y_H + 0.08], z=[strip_z, strip_z], zmin=-M, zmax=M,
        colorscale=colorscale(DIVERGING), hoverongaps=False, customdata=[strip_t, strip_t],
        colorbar=dict(title=dict(text="h value", side="right"), len=0.45, y=0.78, thickness=14),
        hovertemplate="t = %{customdata}<br>h = %{z:.3f}<extra></extra>", name="h_t values"))
    # backward arrows: one trace per column so each has its own width and colour
    widths, colors, lo, hi = grad_style(np.array([g[s] for _, s in real]) if real else np.zeros(0))
    i_back0 = len(traces)
    for k, (i, s) in enumerate(real):
        x0 = xs[i] - 0.03
        x1 = xs[i - 1] + 0.12 if i > 0 else xs[i] - 0.45
        scatter(x=[x0, x1], y=[Y_BACK, Y_BACK], mode="lines+markers",
                        line=dict(color=colors[k], width=widths[k]), showlegend=False,
                        marker=dict(symbol="triangle-left", size=[0, 10 + widths[k]], color=colors[k]),
                        name="∂L/∂h_t flowing back (log size)",
                        hovertemplate=f"‖∂L/∂h{sub(s + 1)}‖ = {g[s]:.3e}<extra></extra>")
    # legend entry with a fixed colour (the real arrows are hidden during the forward frames)
    scatter(x=[None], y=[None], mode="lines+markers", name="∂L/∂h_t flowing back (log size)",
                    line=dict(color=colors[-1] if colors else GREY, width=5),
                    marker=dict(symbol="triangle-left", size=12))
    i_text = len(traces)
    gtext = [short_number(g[s]) for _, s in real]
    # each number sits centred over its own arrow (the first arrow is shorter: it leads off the graph)
    gx = [0.5 * (xs[i] - 0.03 + (xs[i - 1] + 0.12 if i > 0 else xs[i] - 0.45)) for i, _ in real]
    scatter(x=gx, y=[Y_BACK + 0.16] * len(real), mode="text", text=gtext,
                    textfont=dict(size=GRAD_LABEL_SIZE), showlegend=False, hoverinfo="skip",
                    cliponaxis=False)
    # colour bar for the gradient scale
    scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                    marker=dict(color=[lo, hi], colorscale=GRAD_SCALE, cmin=lo, cmax=hi, showscale=True,
                                colorbar=dict(title=dict(text="log₁₀‖∂L/∂h_t‖", side="right"), len=0.45,
                                              y=0.25, thickness=14)))

    # --- frames: forward t = 1..T (window), then backward t = T..1 --------------------------
    frames, names = [], []
    nr = len(real)
    hidden_color = "rgba(0,0,0,0)"
    for k in range(nr):  # forward: columns 0..k computed
        zk = np.where(col_of <= k, strip_z, np.nan).astype(strip_z.dtype)
        data = [dict(type="heatmap", z=[zk, zk])]
        data += [dict(type="scatter", line=dict(color=hidden_color, width=0.1),
                      marker=dict(color=hidden_color)) for _ in range(nr)]
        data.append(dict(type="scatter", text=[""] * nr))
        name = f"forward t = {real[k][1] + 1}"
        frames.append(dict(name=name, data=data, traces=[i_units] + list(range(i_back0, i_back0 + nr)) + [i_text]))
        names.append(name)
    for k in range(nr - 1, -1, -1):  # backward: columns k..end have their gradient
        data = [dict(type="heatmap", z=[strip_z, strip_z])]
        data += [dict(type="scatter", line=dict(color=colors[j] if j >= k else hidden_color,
                                                width=widths[j] if j >= k else 0.1),
                      marker=dict(color=colors[j] if j >= k else hidden_color)) for j in range(nr)]
        data.append(dict(type="scatter", text=[gtext[j] if j >= k else "" for j in range(nr)]))
        name = f"backward t = {real[k][1] + 1}"
        frames.append(dict(name=name, data=data, traces=[i_units] + list(range(i_back0, i_back0 + nr)) + [i_text]))
        names.append(name)
    fig = figure(traces, dict(shapes=shapes) if shapes else {}, frames)

    title = f"The unrolled network: {T} step{'s' if T != 1 else ''}"
    if None in cols:
        title += f" (first {cols.index(None)} and last {n - 1 - cols.index(None)} shown)"
    height, top, bottom = 720, 60, 230
    plot_h = height - top - bottom
    style(fig, title, "", "", height=height)
    update_layout(fig, annotations=ann, font=dict(size=FONT_SIZE), margin=dict(t=top, b=bottom, r=110),
                      legend=dict(orientation="h", font=dict(size=14), x=0.0, xanchor="left",
                                  y=-125 / plot_h, yanchor="top"))
    update_xaxes(fig, visible=False, range=[-0.75, n - 0.15], fixedrange=True)  # room for "y₁₀₀₀"
    update_yaxes(fig, visible=False, range=[-0.4, 3.3], fixedrange=True)
    animation_controls(fig, names, prefix="", duration=350, gap_px=20, redraw=True)
    return fig


# --------------------------------------------------------------------------- gated cells
# The same graph for an LSTM or a GRU: each step's box holds the gates as small labelled nodes
# (shaded by their mean value at that step) under the h_t strip. The LSTM's cell state runs as its
# own lane above the h chain, c_{t-1} → c_t multiplied by f_t, with the gradient flowing back on
# both lanes; the GRU's update gate copies h_{t-1} into h_t along an arc over the chain.

GATE_SCALE = [[0.0, "#f7f7f7"], [1.0, "#3a3a3a"]]  # closed gate light, open gate dark (any theme)
MEMORY = PURPLE  # the path that keeps the gradient: the LSTM's cell state, the GRU's copy path
GATE_SIZE = 22
GATE_DX = 0.17
# The gated cells' point is a gradient that is kept: their arrow scale spans at least this many
# decades, so a flat ‖∂L/∂h_t‖ looks flat rather than stretched over the whole width range.
GRAD_MIN_DECADES = 3.0


@dataclass(frozen=True)
class CellLayout:
    """Where each lane of a gated cell sits (data units; x: one column per step)."""

    name: str                                      # shown in the title
    gates: tuple[tuple[str, float, float, bool], ...]  # (name, dx, y, squashed by tanh)
    y_h: float
    y_back: float                                  # the ∂L/∂h_t lane
    y_y: float
    y_loss: float
    y_top: float                                   # top of the fixed y range
    height: int
    y_c: float | None = None                       # LSTM: the cell-state lane
    y_cback: float | None = None                   # LSTM: the ∂L/∂c_t lane
    arc_peak: float | None = None                  # GRU: top of the copy arc


_ROW0, _ROW1 = 0.82, 0.5  # gate rows (upper, lower)
CELL_LAYOUTS = {
    "lstm": CellLayout("LSTM", (("i", -GATE_DX, _ROW0, False), ("f", GATE_DX, _ROW0, False),
                                ("g", -GATE_DX, _ROW1, True), ("o", GATE_DX, _ROW1, False)),
                       y_h=1.2, y_back=1.62, y_c=2.14, y_cback=2.44, y_y=2.94, y_loss=3.55,
                       y_top=3.75, height=720),
    "gru": CellLayout("GRU", (("r", -GATE_DX, _ROW0, False), ("z", GATE_DX, _ROW0, False),
                              ("n", 0.0, _ROW1, True)),
                      y_h=1.2, arc_peak=1.72, y_back=2.0, y_y=2.5, y_loss=3.12, y_top=3.37,
                      height=720),
}
GATE_HELP = {
    "i": "input gate: how much of g_t is written into c_t",
    "f": "forget gate: how much of c_{t−1} is kept",
    "g": "candidate values written into c_t (tanh)",
    "o": "output gate: how much of tanh(c_t) reaches h_t",
    "r": "reset gate: how much of h_{t−1} enters the candidate",
    "z": "update gate: how much of h_{t−1} is copied into h_t",
    "n": "candidate state (tanh)",
}


def gate_shade(values: np.ndarray, squashed: bool) -> np.ndarray:
    """(T,) shade in [0, 1] of a gate at each step: the mean over units of a sigmoid gate (how open
    it is), the mean |value| of a tanh candidate (how strongly it writes)."""
    v = finite(values)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step with no finite unit: mean of nothing
        s = np.nanmean(np.abs(v) if squashed else v, axis=1)
    return np.clip(np.nan_to_num(s, nan=0.0), 0.0, 1.0)


def _text_colour(shade: float) -> str:
    return "#ffffff" if shade > 0.55 else INK


def gated_unroll_figure(h, grad_h_norm, loss_steps, *, cell: str, gates, c=None,
                        grad_c_norm=None) -> Spec:
    """The unrolled LSTM or GRU for a window of steps, animated forward then backward.

    h (T, H); grad_h_norm (T,); gates: mapping gate name → (T, H) activated values; LSTM also
    c (T, H) and grad_c_norm (T,) = ‖∂L/∂c_t‖. The two gradient lanes share one log colour scale,
    so their sizes compare directly.
    """
    lay = CELL_LAYOUTS[cell]
    h = finite(h)
    T, H = h.shape
    g = finite(grad_h_norm)
    has_c = lay.y_c is not None
    gc = finite(grad_c_norm) if has_c and grad_c_norm is not None else np.full(T, np.nan)
    cols = window(T)
    n = len(cols)
    xs = np.arange(n, dtype=float).tolist()
    m = min(H, MAX_UNITS_SHOWN)
    loss_set = set(int(s) for s in loss_steps)
    Y_X, Y_H = 0.0, lay.y_h
    BW, HB = 0.36, 0.15  # half width of a cell, half height of its h strip box
    CELL_BOTTOM = _ROW1 - 0.17
    real = [(i, s) for i, s in enumerate(cols) if s is not None]
    nr = len(real)
    shades = {name: gate_shade(gates[name], sq) for name, _, _, sq in lay.gates}

    traces, shapes, ann = [], [], []

    def scatter(**kw):
        traces.append(dict(type="scatter", **kw))

    def arrow(x0, y0, x1, y1, color, width=2.5):
        ann.append(dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                        showarrow=True, arrowhead=2, arrowsize=1.1, arrowwidth=width,
                        arrowcolor=color, text=""))

    def c_x(i):  # the c_t node sits left of the h → y arrow
        return xs[i] - 0.2

    # --- static structure ----------------------------------------------------------------------
    for i, s in enumerate(cols):
        x = xs[i]
        if s is None:
            ann.append(dict(x=x, y=Y_H, text="⋯", showarrow=False, font=dict(size=34)))
            ann.append(dict(x=x, y=Y_X - 0.05, text=f"{T - (n - 1)} more<br>steps", showarrow=False,
                            font=dict(size=SMALL_SIZE)))
            continue
        arrow(x, Y_X + 0.17, x, CELL_BOTTOM - 0.01, WEIGHT_COLORS["W_hx"])
        arrow(x, Y_H + HB, x, lay.y_y - 0.16, WEIGHT_COLORS["W_hy"])
        if i > 0:  # h_{t-1} enters the next cell (all its gates)
            arrow(xs[i - 1] + BW, Y_H, x - BW, Y_H, WEIGHT_COLORS["W_hh"])
        if s in loss_set:
            arrow(x, lay.y_y + 0.16, x, lay.y_loss - 0.13, VERMILION, 2 if len(loss_set) == 1 else 1.5)
        # the cell (gates and h_t) and the h_t strip box inside it
        shapes.append(dict(type="rect", x0=x - BW, x1=x + BW, y0=CELL_BOTTOM, y1=Y_H + HB,
                           line=dict(color=GREY, width=1.5), layer="below"))
        shapes.append(dict(type="rect", x0=x - BW + 0.03, x1=x + BW - 0.03, y0=Y_H - HB + 0.04,
                           y1=Y_H + HB - 0.04, line=dict(color=GREY, width=1), layer="below"))
    # lane names in the left margin (the columns carry the step numbers on x_t and y_t)
    lanes = [(Y_X, "xₜ"), (0.5 * (_ROW0 + _ROW1), "gates"), (Y_H, "hₜ"), (lay.y_y, "yₜ")]
    if has_c:
        lanes.append((lay.y_c, "cₜ"))
    scatter(x=[-0.5] * len(lanes), y=[y for y, _ in lanes], mode="text", text=[t for _, t in lanes],
            textposition="middle left", textfont=dict(size=FONT_SIZE), showlegend=False,
            hoverinfo="skip", cliponaxis=False)
    for name, label in (("W_hx", "W_hx: x → gates"), ("W_hh", "W_hh: h → gates"),
                        ("W_hy", "W_hy: h → y")):
        scatter(x=[None], y=[None], mode="lines", name=label, line=dict(color=WEIGHT_COLORS[name], width=4))
    # W_hx named on every input arrow; W_hy only by its colour (its arrow crosses the gradient
    # lanes, where a label would sit on the numbers)
    scatter(x=[xs[i] + 0.04 for i, _ in real], y=[0.5 * (Y_X + CELL_BOTTOM) + 0.02] * nr, mode="text",
            text=["W_hx"] * nr, textposition="middle right",
            textfont=dict(color=WEIGHT_COLORS["W_hx"], size=SMALL_SIZE), showlegend=False,
            hoverinfo="skip", cliponaxis=False)
    scatter(x=[xs[i] for i, _ in real], y=[Y_X] * nr, mode="markers+text",
            text=[f"x{sub(s + 1)}" for _, s in real], textposition="bottom center",
            marker=dict(size=24, color="rgba(0,158,115,0.25)", line=dict(color=WEIGHT_COLORS["W_hx"], width=2)),
            name="inputs x_t", showlegend=False, hoverinfo="skip")
    scatter(x=[xs[i] for i, _ in real], y=[lay.y_y] * nr, mode="markers+text",
            text=[f"y{sub(s + 1)}" for _, s in real], textposition="middle right",
            marker=dict(size=24, color="rgba(230,159,0,0.25)", line=dict(color=WEIGHT_COLORS["W_hy"], width=2)),
            name="outputs y_t", showlegend=False, hoverinfo="skip", cliponaxis=False)
    lxs = [xs[i] for i, s in real if s in loss_set]
    if len(loss_set) == 1:
        scatter(x=lxs, y=[lay.y_loss] * len(lxs), mode="markers+text", text=["loss L"] * len(lxs),
                textposition="middle left", marker=dict(symbol="diamond", size=22, color=VERMILION),
                name="loss L (last step only)", hoverinfo="skip")
    else:
        scatter(x=lxs, y=[lay.y_loss] * len(lxs), mode="markers+text",
                text=[f"ℓ{sub(s + 1)}" for i, s in real if s in loss_set], textposition="middle left",
                marker=dict(symbol="diamond", size=16, color=VERMILION),
                name="loss terms ℓ_t (L = Σ ℓ_t)", hoverinfo="skip")

    # the memory path: the LSTM's c_{t-1} → c_t (× f_t), the GRU's z_t ⊙ h_{t-1} copy arc
    mem_name = "cell state: c_{t−1} × f_t → c_t" if has_c else "copy path: z_t ⊙ h_{t−1} → h_t"
    mem_key = "f" if has_c else "z"
    mtx, mty, mtt = [], [], []
    for i, s in real:
        if i == 0:
            continue
        w = 1.5 + 6.0 * float(shades[mem_key][s])
        tip = f"mean {mem_key}{sub(s + 1)} = {shades[mem_key][s]:.3f}"
        if has_c:
            x0, x1 = c_x(i - 1) + 0.1, c_x(i) - 0.11
            px, py = [x0, x1], [lay.y_c, lay.y_c]
            mtx.append(0.5 * (x0 + x1))
            mty.append(lay.y_c - 0.14)
            mtt.append("× f")
        else:
            x0, x1 = xs[i - 1] + 0.08, xs[i] - 0.12
            u = np.linspace(0.0, 1.0, 15)
            px = (x0 + (x1 - x0) * u).tolist()
            py = (Y_H + HB + (lay.arc_peak - Y_H - HB) * 4 * u * (1 - u)).tolist()
            mtx.append(0.5 * (x0 + x1))
            mty.append(Y_H + HB + 0.17)  # under the apex, clear of both legs
            mtt.append("z⊙h")
        dashed = cols[i - 1] is None
        scatter(x=px, y=py, mode="lines+markers", showlegend=False,
                line=dict(color=MEMORY, width=w, dash="dot" if dashed else "solid"),
                marker=dict(symbol="arrow", angleref="previous", size=[0] * (len(px) - 1) + [10 + w],
                            color=MEMORY),
                hovertemplate=tip + "<extra></extra>")
    scatter(x=[None], y=[None], mode="lines", name=mem_name, line=dict(color=MEMORY, width=5))
    scatter(x=mtx, y=mty, mode="text", text=mtt, textfont=dict(size=SMALL_SIZE, color=MEMORY),
            showlegend=False, hoverinfo="skip", cliponaxis=False)

    # --- animated traces -------------------------------------------------------------------
    strip_x, strip_z, strip_t, col_of = _strip_cells(h, real, xs, m, BW - 0.03)
    i_units = len(traces)
    traces.append(dict(
        type="heatmap", x=strip_x, y=[Y_H - 0.07, Y_H + 0.07], z=[strip_z, strip_z], zmin=-1.0, zmax=1.0,
        colorscale=colorscale(DIVERGING), hoverongaps=False, customdata=[strip_t, strip_t],
        colorbar=dict(title=dict(text="h value", side="right"), len=0.26, y=0.88, thickness=14),
        hovertemplate="t = %{customdata}<br>h = %{z:.3f}<extra></extra>", name="h_t values"))
    # gate nodes: one trace, four (three) per column, shaded by their mean value at that step
    gx, gy, gtxt, gshade, gtip, gcol = [], [], [], [], [], []
    for k, (i, s) in enumerate(real):
        for name, dx, y, sq in lay.gates:
            v = float(shades[name][s])
            gx.append(xs[i] + dx)
            gy.append(y)
            gtxt.append(name)
            gshade.append(v)
            gcol.append(k)
            what = "mean |" + name + "|" if sq else "mean " + name
            gtip.append(f"{name}{sub(s + 1)}: {GATE_HELP[name]}<br>{what} = {v:.3f}")
    gshade_arr = np.asarray(gshade, dtype=np.float32)
    gcol_arr = np.asarray(gcol)
    i_gates = len(traces)
    scatter(x=gx, y=gy, mode="markers+text", text=gtxt, textposition="middle center",
            textfont=dict(size=SMALL_SIZE, color=[_text_colour(v) for v in gshade]),
            marker=dict(size=GATE_SIZE, color=gshade_arr, cmin=0.0, cmax=1.0, colorscale=GATE_SCALE,
                        line=dict(color=GREY, width=1.5), showscale=True,
                        colorbar=dict(title=dict(text="gate (mean)", side="right"), len=0.26, y=0.52,
                                      thickness=14, tickvals=[0, 0.5, 1], ticktext=["0 shut", "0.5", "1 open"])),
            hovertext=gtip, hovertemplate="%{hovertext}<extra></extra>", name="gates", showlegend=False)
    i_cnodes = None
    if has_c:
        i_cnodes = len(traces)
        cn = np.full(T, np.nan) if c is None else row_norms(c)
        scatter(x=[c_x(i) for i, _ in real], y=[lay.y_c] * nr, mode="markers+text", text=["c"] * nr,
                textposition="middle center", textfont=dict(size=SMALL_SIZE, color=INK),
                marker=dict(symbol="square", size=GATE_SIZE, color="#ffffff", line=dict(color=MEMORY, width=2.5)),
                hovertext=[f"c{sub(s + 1)}: cell state, ‖c‖ = {cn[s]:.3g}" for _, s in real],
                hovertemplate="%{hovertext}<extra></extra>", name="c_t", showlegend=False)

    # backward arrows on each lane, one trace per column; both lanes on one log scale
    lanes_back = [("h", g, lambda i: (xs[i] - 0.03, xs[i - 1] + 0.12 if i > 0 else xs[i] - 0.45), lay.y_back)]
    if has_c:
        lanes_back.append(("c", gc, lambda i: (c_x(i) - 0.13, c_x(i - 1) + 0.14 if i > 0 else c_x(i) - 0.3),
                           lay.y_cback))
    both = np.concatenate([np.array([v[s] for _, s in real]) for _, v, _, _ in lanes_back]) if real else np.zeros(0)
    widths, colors, lo, hi = grad_style(both, GRAD_MIN_DECADES)
    back, texts = [], []
    for li, (lane, v, ends, y0) in enumerate(lanes_back):
        idx = []
        for k, (i, s) in enumerate(real):
            j = li * nr + k
            x0, x1 = ends(i)
            idx.append(len(traces))
            scatter(x=[x0, x1], y=[y0, y0], mode="lines+markers",
                    line=dict(color=colors[j], width=widths[j]), showlegend=False,
                    marker=dict(symbol="triangle-left", size=[0, 10 + widths[j]], color=colors[j],
                                line=dict(width=0)),
                    name=f"∂L/∂{lane}_t flowing back (log size)",
                    hovertemplate=f"‖∂L/∂{lane}{sub(s + 1)}‖ = {v[s]:.3e}<extra></extra>")
        back.append(idx)
        tx = [0.5 * sum(ends(i)) for i, _ in real]
        texts.append(len(traces))
        scatter(x=tx, y=[y0 + 0.15] * nr, mode="text", text=[short_number(v[s]) for _, s in real],
                textfont=dict(size=GRAD_LABEL_SIZE, **({"color": MEMORY} if lane == "c" else {})),
                showlegend=False, hoverinfo="skip", cliponaxis=False)
        scatter(x=[None], y=[None], mode="lines+markers", name=f"∂L/∂{lane}_t flowing back",
                line=dict(color=colors[j] if nr else GREY, width=5), marker=dict(symbol="triangle-left", size=12))
    gtexts = [[short_number(v[s]) for _, s in real] for _, v, _, _ in lanes_back]
    title_grad = "log₁₀‖∂L/∂h,c‖" if has_c else "log₁₀‖∂L/∂h_t‖"  # one scale for both lanes
    scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(color=[lo, hi], colorscale=GRAD_SCALE, cmin=lo, cmax=hi, showscale=True,
                        colorbar=dict(title=dict(text=title_grad, side="right"), len=0.26, y=0.14,
                                      thickness=14)))

    # --- frames: forward t = 1..T (window), then backward t = T..1 --------------------------
    frames, names = [], []
    hidden_color = "rgba(0,0,0,0)"
    animated = [i_units, i_gates] + ([i_cnodes] if has_c else []) + [t for idx in back for t in idx] + texts

    def frame(name, upto, back_from):
        zk = np.where(col_of <= upto, strip_z, np.nan).astype(strip_z.dtype)
        done = gcol_arr <= upto
        data = [dict(type="heatmap", z=[zk, zk]),
                dict(type="scatter", marker=dict(opacity=np.where(done, 1.0, 0.12).tolist()),
                     textfont=dict(color=[_text_colour(v) if d else hidden_color
                                          for v, d in zip(gshade, done)]))]
        if has_c:
            data.append(dict(type="scatter", marker=dict(opacity=[1.0 if k <= upto else 0.12
                                                                  for k in range(nr)])))
        for li in range(len(back)):
            for k in range(nr):
                j = li * nr + k
                on = k >= back_from
                data.append(dict(type="scatter", line=dict(color=colors[j] if on else hidden_color,
                                                           width=widths[j] if on else 0.1),
                                 marker=dict(color=colors[j] if on else hidden_color)))
        for li in range(len(back)):
            data.append(dict(type="scatter", text=[gtexts[li][k] if k >= back_from else "" for k in range(nr)]))
        frames.append(dict(name=name, data=data, traces=animated))
        names.append(name)

    for k in range(nr):
        frame(f"forward t = {real[k][1] + 1}", k, nr)
    for k in range(nr - 1, -1, -1):
        frame(f"backward t = {real[k][1] + 1}", nr - 1, k)
    fig = figure(traces, dict(shapes=shapes) if shapes else {}, frames)

    title = f"The unrolled {lay.name}: {T} step{'s' if T != 1 else ''}"
    if None in cols:
        title += f" (first {cols.index(None)} and last {n - 1 - cols.index(None)} shown)"
    top, bottom = 60, 230
    plot_h = lay.height - top - bottom
    style(fig, title, "", "", height=lay.height)
    update_layout(fig, annotations=ann, font=dict(size=FONT_SIZE), margin=dict(t=top, b=bottom, l=20, r=120),
                      legend=dict(orientation="h", font=dict(size=14), x=0.0, xanchor="left",
                                  y=-125 / plot_h, yanchor="top"))
    update_xaxes(fig, visible=False, range=[-1.1, n - 0.15], fixedrange=True)  # room for "y₁₀₀₀"
    update_yaxes(fig, visible=False, range=[-0.4, lay.y_top], fixedrange=True)
    animation_controls(fig, names, prefix="", duration=350, gap_px=20, redraw=True)
    return fig


def row_norms(a) -> np.ndarray:
    """(T,) Euclidean norm of each row, NaN where it is not finite."""
    a = finite(a)
    with np.errstate(all="ignore"):
        return np.sqrt(np.sum(a * a, axis=1))
