"""The unrolled computation graph, animated: forward pass, then backward pass."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from viz.style import (
    DIVERGING,
    FONT_SIZE,
    GREY,
    SEQUENTIAL,
    SMALL_SIZE,
    VERMILION,
    WEIGHT_COLORS,
    animation_controls,
    colorscale,
    fast_figure,
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
    return (np.asarray(x), np.asarray(z, dtype=np.float32), np.asarray(t, dtype=np.int32),
            np.asarray(col))


def grad_style(g: np.ndarray) -> tuple[list[float], list[str], float, float]:
    """Arrow widths and colours from log10 gradient norms (NaN → thin grey)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log10(positive(g))
    ok = np.isfinite(lg)
    lo, hi = (float(lg[ok].min()), float(lg[ok].max())) if ok.any() else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    u = np.where(ok, (lg - lo) / (hi - lo), 0.0)
    widths = np.where(ok, 1.5 + 10.5 * u, 1.0).tolist()
    shade = (_LOW + (1 - _LOW) * np.clip(u, 0, 1)).tolist()
    colors = [c if k else GREY for c, k in zip(sample_colorscale(SEQUENTIAL, shade), ok)]
    return widths, colors, lo, hi


def unroll_figure(h, grad_h_norm, loss_steps, activation: str = "tanh") -> go.Figure:
    """Graph x_t → h_t → y_t for a window of steps, with an animated forward and backward pass.

    h (T, H) hidden states; grad_h_norm (T,) ‖∂L/∂h_t‖; loss_steps: 0-based steps with a loss term.
    Weight arrows use one colour per shared matrix at every step.
    """
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
                    name="outputs y_t", showlegend=False, hoverinfo="skip")
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
        zk = np.where(col_of <= k, strip_z, np.nan).astype(np.float32)
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
    fig = fast_figure(traces, dict(shapes=shapes), frames)

    title = f"The unrolled network: {T} step{'s' if T != 1 else ''}"
    if None in cols:
        title += f" (first {cols.index(None)} and last {n - 1 - cols.index(None)} shown)"
    height, top, bottom = 720, 60, 230
    plot_h = height - top - bottom
    style(fig, title, "", "", height=height)
    fig.update_layout(annotations=ann, font=dict(size=FONT_SIZE), margin=dict(t=top, b=bottom, r=110),
                      legend=dict(orientation="h", font=dict(size=14), x=0.0, xanchor="left",
                                  y=-125 / plot_h, yanchor="top"))
    fig.update_xaxes(visible=False, range=[-0.75, n - 0.35], fixedrange=True)
    fig.update_yaxes(visible=False, range=[-0.4, 3.3], fixedrange=True)
    animation_controls(fig, names, prefix="", duration=350, gap_px=20, redraw=True)
    return fig
