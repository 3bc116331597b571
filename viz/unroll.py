"""The unrolled computation graph of a vanilla RNN, animated: forward pass, then backward pass. The LSTM
and the GRU have their own graph (viz/unroll_gated.py); ``unroll_figure`` draws the one of the cell asked."""
from __future__ import annotations

import numpy as np

from viz.spec import Spec
from viz.style import DIVERGING, FONT_SIZE, GREY, SMALL_SIZE, VERMILION, WEIGHT_COLORS, colorscale, finite
from viz.unroll_gated import CELL_LAYOUTS, GRAD_MIN_DECADES, gate_shade, gated_unroll_figure, row_norms  # noqa: F401
from viz.unroll_parts import (  # noqa: F401 - window, short_number, grad_style: imported from here too
    GRAD_LABEL_SIZE,
    GRAD_SCALE,
    MAX_UNITS_SHOWN,
    Graph,
    _strip_cells,
    grad_style,
    short_number,
    sub,
    window,
)


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

    gr = Graph()

    # --- static structure: nodes, shared-weight arrows (same colour at every step) -----------
    for i, s in enumerate(cols):
        x = xs[i]
        if s is None:
            gr.gap(x, Y_H, Y_X, T - (n - 1))
            continue
        gr.arrow(x, Y_X + 0.17, x, Y_H - 0.2, WEIGHT_COLORS["W_hx"])
        gr.arrow(x, Y_H + 0.2, x, Y_Y - 0.16, WEIGHT_COLORS["W_hy"])
        if i > 0:
            gr.arrow(xs[i - 1] + BW, Y_H, x - BW, Y_H, WEIGHT_COLORS["W_hh"])
        if s in loss_set:
            gr.arrow(x, Y_Y + 0.16, x, Y_L - 0.13, VERMILION, 2 if len(loss_set) == 1 else 1.5)
    # h boxes
    for i, s in enumerate(cols):
        if s is None:
            continue
        gr.shapes.append(dict(type="rect", x0=xs[i] - BW, x1=xs[i] + BW, y0=Y_H - 0.2, y1=Y_H + 0.2,
                           line=dict(color=GREY, width=1.5), layer="below"))
    # legend entries for the three shared matrices
    for name, label in (("W_hx", "W_hx: input → hidden"), ("W_hh", "W_hh: hidden → hidden"),
                        ("W_hy", "W_hy: hidden → output")):
        gr.scatter(x=[None], y=[None], mode="lines", name=label,
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
    gr.scatter(x=lx, y=ly, mode="text", text=lt, textposition="middle right",
                    textfont=dict(color=lc, size=SMALL_SIZE), showlegend=False, hoverinfo="skip",
                    cliponaxis=False)
    gr.io_nodes(xs, real, Y_X, Y_Y)
    gr.loss_nodes(xs, real, loss_set, Y_L)
    # h labels
    gr.scatter(x=[xs[i] - BW for i, _ in real], y=[Y_H + 0.3] * len(real), mode="text",
                    text=[f"h{sub(s + 1)}" for _, s in real], textposition="middle right",
                    showlegend=False, hoverinfo="skip", textfont=dict(size=FONT_SIZE))

    # --- animated traces -------------------------------------------------------------------
    # unit strip: a one-row heatmap of the first m units inside each h box. Cells are sized in
    # data units, so the strip always fits its box whatever the screen width.
    strip_x, strip_z, strip_t, col_of = _strip_cells(h, real, xs, m, BW)
    i_units = len(gr.traces)
    gr.traces.append(dict(
        type="heatmap", x=strip_x, y=[Y_H - 0.08, Y_H + 0.08], z=[strip_z, strip_z], zmin=-M, zmax=M,
        colorscale=colorscale(DIVERGING), hoverongaps=False, customdata=[strip_t, strip_t],
        colorbar=dict(title=dict(text="h value", side="right"), len=0.45, y=0.78, thickness=14),
        hovertemplate="t = %{customdata}<br>h = %{z:.3f}<extra></extra>", name="h_t values"))
    # backward arrows: one trace per column so each has its own width and colour
    widths, colors, lo, hi = grad_style(np.array([g[s] for _, s in real]) if real else np.zeros(0))
    i_back0 = len(gr.traces)
    for k, (i, s) in enumerate(real):
        x0 = xs[i] - 0.03
        x1 = xs[i - 1] + 0.12 if i > 0 else xs[i] - 0.45
        gr.scatter(x=[x0, x1], y=[Y_BACK, Y_BACK], mode="lines+markers",
                        line=dict(color=colors[k], width=widths[k]), showlegend=False,
                        marker=dict(symbol="triangle-left", size=[0, 10 + widths[k]], color=colors[k]),
                        name="∂L/∂h_t flowing back (log size)",
                        hovertemplate=f"‖∂L/∂h{sub(s + 1)}‖ = {g[s]:.3e}<extra></extra>")
    # legend entry with a fixed colour (the real arrows are hidden during the forward frames)
    gr.scatter(x=[None], y=[None], mode="lines+markers", name="∂L/∂h_t flowing back (log size)",
                    line=dict(color=colors[-1] if colors else GREY, width=5),
                    marker=dict(symbol="triangle-left", size=12))
    i_text = len(gr.traces)
    gtext = [short_number(g[s]) for _, s in real]
    # each number sits centred over its own arrow (the first arrow is shorter: it leads off the graph)
    gx = [0.5 * (xs[i] - 0.03 + (xs[i - 1] + 0.12 if i > 0 else xs[i] - 0.45)) for i, _ in real]
    gr.scatter(x=gx, y=[Y_BACK + 0.16] * len(real), mode="text", text=gtext,
                    textfont=dict(size=GRAD_LABEL_SIZE), showlegend=False, hoverinfo="skip",
                    cliponaxis=False)
    # colour bar for the gradient scale
    gr.scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
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
    return gr.finish(frames, names, "network", T, cols, height=720, margin=dict(r=110), x_lo=-0.75, y_top=3.3)
