"""The unrolled LSTM or GRU, animated forward then backward: each step's box holds the gates as small
labelled nodes (shaded by their mean value at that step) under the h_t strip. The LSTM's cell state runs as
its own lane above the h chain, c_{t-1} → c_t multiplied by f_t, with the gradient flowing back on both lanes;
the GRU's update gate copies h_{t-1} into h_t along an arc over the chain."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from viz.spec import Spec
from viz.style import DIVERGING, FONT_SIZE, GREY, INK, PURPLE, SMALL_SIZE, VERMILION, WEIGHT_COLORS, colorscale, finite
from viz.unroll_parts import (
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

    gr = Graph()

    def c_x(i):  # the c_t node sits left of the h → y arrow
        return xs[i] - 0.2

    # --- static structure ----------------------------------------------------------------------
    for i, s in enumerate(cols):
        x = xs[i]
        if s is None:
            gr.gap(x, Y_H, Y_X, T - (n - 1))
            continue
        gr.arrow(x, Y_X + 0.17, x, CELL_BOTTOM - 0.01, WEIGHT_COLORS["W_hx"])
        gr.arrow(x, Y_H + HB, x, lay.y_y - 0.16, WEIGHT_COLORS["W_hy"])
        if i > 0:  # h_{t-1} enters the next cell (all its gates)
            gr.arrow(xs[i - 1] + BW, Y_H, x - BW, Y_H, WEIGHT_COLORS["W_hh"])
        if s in loss_set:
            gr.arrow(x, lay.y_y + 0.16, x, lay.y_loss - 0.13, VERMILION, 2 if len(loss_set) == 1 else 1.5)
        # the cell (gates and h_t) and the h_t strip box inside it
        gr.shapes.append(dict(type="rect", x0=x - BW, x1=x + BW, y0=CELL_BOTTOM, y1=Y_H + HB,
                           line=dict(color=GREY, width=1.5), layer="below"))
        gr.shapes.append(dict(type="rect", x0=x - BW + 0.03, x1=x + BW - 0.03, y0=Y_H - HB + 0.04,
                           y1=Y_H + HB - 0.04, line=dict(color=GREY, width=1), layer="below"))
    # lane names in the left margin (the columns carry the step numbers on x_t and y_t)
    lanes = [(Y_X, "xₜ"), (0.5 * (_ROW0 + _ROW1), "gates"), (Y_H, "hₜ"), (lay.y_y, "yₜ")]
    if has_c:
        lanes.append((lay.y_c, "cₜ"))
    gr.scatter(x=[-0.5] * len(lanes), y=[y for y, _ in lanes], mode="text", text=[t for _, t in lanes],
            textposition="middle left", textfont=dict(size=FONT_SIZE), showlegend=False,
            hoverinfo="skip", cliponaxis=False)
    for name, label in (("W_hx", "W_hx: x → gates"), ("W_hh", "W_hh: h → gates"),
                        ("W_hy", "W_hy: h → y")):
        gr.scatter(x=[None], y=[None], mode="lines", name=label, line=dict(color=WEIGHT_COLORS[name], width=4))
    # W_hx named on every input arrow; W_hy only by its colour (its arrow crosses the gradient
    # lanes, where a label would sit on the numbers)
    gr.scatter(x=[xs[i] + 0.04 for i, _ in real], y=[0.5 * (Y_X + CELL_BOTTOM) + 0.02] * nr, mode="text",
            text=["W_hx"] * nr, textposition="middle right",
            textfont=dict(color=WEIGHT_COLORS["W_hx"], size=SMALL_SIZE), showlegend=False,
            hoverinfo="skip", cliponaxis=False)
    gr.io_nodes(xs, real, Y_X, lay.y_y)
    gr.loss_nodes(xs, real, loss_set, lay.y_loss)

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
        gr.scatter(x=px, y=py, mode="lines+markers", showlegend=False,
                line=dict(color=MEMORY, width=w, dash="dot" if dashed else "solid"),
                marker=dict(symbol="arrow", angleref="previous", size=[0] * (len(px) - 1) + [10 + w],
                            color=MEMORY),
                hovertemplate=tip + "<extra></extra>")
    gr.scatter(x=[None], y=[None], mode="lines", name=mem_name, line=dict(color=MEMORY, width=5))
    gr.scatter(x=mtx, y=mty, mode="text", text=mtt, textfont=dict(size=SMALL_SIZE, color=MEMORY),
            showlegend=False, hoverinfo="skip", cliponaxis=False)

    # --- animated traces -------------------------------------------------------------------
    strip_x, strip_z, strip_t, col_of = _strip_cells(h, real, xs, m, BW - 0.03)
    i_units = len(gr.traces)
    gr.traces.append(dict(
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
    i_gates = len(gr.traces)
    gr.scatter(x=gx, y=gy, mode="markers+text", text=gtxt, textposition="middle center",
            textfont=dict(size=SMALL_SIZE, color=[_text_colour(v) for v in gshade]),
            marker=dict(size=GATE_SIZE, color=gshade_arr, cmin=0.0, cmax=1.0, colorscale=GATE_SCALE,
                        line=dict(color=GREY, width=1.5), showscale=True,
                        colorbar=dict(title=dict(text="gate (mean)", side="right"), len=0.26, y=0.52,
                                      thickness=14, tickvals=[0, 0.5, 1], ticktext=["0 shut", "0.5", "1 open"])),
            hovertext=gtip, hovertemplate="%{hovertext}<extra></extra>", name="gates", showlegend=False)
    i_cnodes = None
    if has_c:
        i_cnodes = len(gr.traces)
        cn = np.full(T, np.nan) if c is None else row_norms(c)
        gr.scatter(x=[c_x(i) for i, _ in real], y=[lay.y_c] * nr, mode="markers+text", text=["c"] * nr,
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
            idx.append(len(gr.traces))
            gr.scatter(x=[x0, x1], y=[y0, y0], mode="lines+markers",
                    line=dict(color=colors[j], width=widths[j]), showlegend=False,
                    marker=dict(symbol="triangle-left", size=[0, 10 + widths[j]], color=colors[j],
                                line=dict(width=0)),
                    name=f"∂L/∂{lane}_t flowing back (log size)",
                    hovertemplate=f"‖∂L/∂{lane}{sub(s + 1)}‖ = {v[s]:.3e}<extra></extra>")
        back.append(idx)
        tx = [0.5 * sum(ends(i)) for i, _ in real]
        texts.append(len(gr.traces))
        gr.scatter(x=tx, y=[y0 + 0.15] * nr, mode="text", text=[short_number(v[s]) for _, s in real],
                textfont=dict(size=GRAD_LABEL_SIZE, **({"color": MEMORY} if lane == "c" else {})),
                showlegend=False, hoverinfo="skip", cliponaxis=False)
        gr.scatter(x=[None], y=[None], mode="lines+markers", name=f"∂L/∂{lane}_t flowing back",
                line=dict(color=colors[j] if nr else GREY, width=5), marker=dict(symbol="triangle-left", size=12))
    gtexts = [[short_number(v[s]) for _, s in real] for _, v, _, _ in lanes_back]
    title_grad = "log₁₀‖∂L/∂h,c‖" if has_c else "log₁₀‖∂L/∂h_t‖"  # one scale for both lanes
    gr.scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
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
    return gr.finish(frames, names, lay.name, T, cols, height=lay.height, margin=dict(l=20, r=120), x_lo=-1.1,
                     y_top=lay.y_top)


def row_norms(a) -> np.ndarray:
    """(T,) Euclidean norm of each row, NaN where it is not finite."""
    a = finite(a)
    with np.errstate(all="ignore"):
        return np.sqrt(np.sum(a * a, axis=1))
