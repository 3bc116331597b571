"""What the two unrolled graphs share (viz/unroll.py for the vanilla RNN, viz/unroll_gated.py for the LSTM
and the GRU): the window of steps drawn, the h_t strips, the gradient arrows' widths and colours, and a
Graph that collects the traces, shapes and annotations and draws the parts both cells have."""
from __future__ import annotations

import numpy as np
from plotly.colors import sample_colorscale

from viz.payload import float32_if_fits
from viz.spec import Spec, figure, update_layout, update_xaxes, update_yaxes
from viz.style import (
    FONT_SIZE,
    GREY,
    SEQUENTIAL,
    SMALL_SIZE,
    VERMILION,
    WEIGHT_COLORS,
    animation_controls,
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


class Graph:
    """The traces, shapes and annotations of one unrolled graph, and the drawing steps both cells share."""

    def __init__(self) -> None:
        self.traces: list[dict] = []
        self.shapes: list[dict] = []
        self.ann: list[dict] = []

    def scatter(self, **kw) -> None:
        self.traces.append(dict(type="scatter", **kw))

    def arrow(self, x0, y0, x1, y1, color, width=2.5) -> None:
        self.ann.append(dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                             showarrow=True, arrowhead=2, arrowsize=1.1, arrowwidth=width,
                             arrowcolor=color, text=""))

    def gap(self, x: float, y_h: float, y_x: float, hidden: int) -> None:
        """The ellipsis column that stands for the ``hidden`` steps not drawn."""
        self.ann.append(dict(x=x, y=y_h, text="⋯", showarrow=False, font=dict(size=34)))
        self.ann.append(dict(x=x, y=y_x - 0.05, text=f"{hidden} more<br>steps", showarrow=False,
                             font=dict(size=SMALL_SIZE)))

    def io_nodes(self, xs, real, y_x: float, y_y: float) -> None:
        """The input nodes x_t and output nodes y_t of the columns drawn."""
        self.scatter(x=[xs[i] for i, _ in real], y=[y_x] * len(real), mode="markers+text",
                     text=[f"x{sub(s + 1)}" for _, s in real], textposition="bottom center",
                     marker=dict(size=24, color="rgba(0,158,115,0.25)", line=dict(color=WEIGHT_COLORS["W_hx"], width=2)),
                     name="inputs x_t", showlegend=False, hoverinfo="skip")
        self.scatter(x=[xs[i] for i, _ in real], y=[y_y] * len(real), mode="markers+text",
                     text=[f"y{sub(s + 1)}" for _, s in real], textposition="middle right",
                     marker=dict(size=24, color="rgba(230,159,0,0.25)", line=dict(color=WEIGHT_COLORS["W_hy"], width=2)),
                     name="outputs y_t", showlegend=False, hoverinfo="skip", cliponaxis=False)

    def loss_nodes(self, xs, real, loss_set: set, y_loss: float) -> None:
        """One loss node L (a loss at one step) or one term ℓ_t per step with a loss."""
        lxs = [xs[i] for i, s in real if s in loss_set]
        if len(loss_set) == 1:
            self.scatter(x=lxs, y=[y_loss] * len(lxs), mode="markers+text", text=["loss L"] * len(lxs),
                         textposition="middle left", marker=dict(symbol="diamond", size=22, color=VERMILION),
                         name="loss L (last step only)", hoverinfo="skip")
        else:
            self.scatter(x=lxs, y=[y_loss] * len(lxs), mode="markers+text",
                         text=[f"ℓ{sub(s + 1)}" for i, s in real if s in loss_set], textposition="middle left",
                         marker=dict(symbol="diamond", size=16, color=VERMILION),
                         name="loss terms ℓ_t (L = Σ ℓ_t)", hoverinfo="skip")

    def finish(self, frames: list, names: list, what: str, T: int, cols: list, *, height: int, margin: dict,
               x_lo: float, y_top: float) -> Spec:
        """The figure: its title names the window drawn, the legend sits under the graph, the axes are fixed
        and hidden, and the frames play forward then backward."""
        n = len(cols)
        fig = figure(self.traces, dict(shapes=self.shapes) if self.shapes else {}, frames)
        title = f"The unrolled {what}: {T} step{'s' if T != 1 else ''}"
        if None in cols:
            title += f" (first {cols.index(None)} and last {n - 1 - cols.index(None)} shown)"
        top, bottom = 60, 230
        plot_h = height - top - bottom
        style(fig, title, "", "", height=height)
        update_layout(fig, annotations=self.ann, font=dict(size=FONT_SIZE), margin=dict(t=top, b=bottom, **margin),
                      legend=dict(orientation="h", font=dict(size=14), x=0.0, xanchor="left",
                                  y=-125 / plot_h, yanchor="top"))
        update_xaxes(fig, visible=False, range=[x_lo, n - 0.15], fixedrange=True)  # room for "y₁₀₀₀"
        update_yaxes(fig, visible=False, range=[-0.4, y_top], fixedrange=True)
        animation_controls(fig, names, prefix="", duration=350, gap_px=20, redraw=True)
        return fig
