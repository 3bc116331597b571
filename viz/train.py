"""Figures of the Train page (pure: arrays in, go.Figure out).

The loss against the task's baseline, the metric, the gradient norm before clipping with the clipped
updates marked, the profile ||dL/dh_t|| over t of the current batch, the unrolled picture of the task's
arrangement, one view per task of what the network does now, and the race of the three cells.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from viz.style import (
    BLUE,
    CELL_COLORS,
    CELL_NAMES,
    GREEN,
    GREY,
    INK,
    ORANGE,
    SEQUENTIAL,
    SKY,
    VERMILION,
    empty,
    style,
)

MAX_POINTS = 600          # points per curve sent to the browser (longer histories are thinned)
SMOOTH = 0.95             # weight of the past in the smoothed loss (debiased exponential average)
RAW_COLOR = "rgba(86,180,233,0.45)"  # SKY, translucent: the noisy per-batch curve under the smoothed one
CONFIG = {"displaylogo": False}


def smooth(y, weight: float = SMOOTH) -> np.ndarray:
    """Debiased exponential moving average: the first values are not pulled towards 0 (NaN is skipped)."""
    from scipy.signal import lfilter

    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    acc = lfilter([1 - weight], [1, -weight], np.where(ok, y, 0.0))
    norm = lfilter([1 - weight], [1, -weight], ok.astype(np.float64))
    with np.errstate(all="ignore"):
        return np.where(norm > 0, acc / norm, np.nan)


def thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most max_points evenly spread samples of range(n), both ends included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def _f32(a) -> list:
    """Rounded to float32 precision for the browser (JSON lists: small and exact enough to draw)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(all="ignore"):
        return [None if not np.isfinite(v) else float(np.float32(v)) for v in a]


def _baseline_line(fig: go.Figure, value: float, name: str, x_max: int, *, color: str = INK) -> None:
    """The trivial predictor as a labelled horizontal line (a trace, so the legend names it)."""
    if value is None or not np.isfinite(value):
        return
    fig.add_trace(go.Scatter(x=[0, x_max], y=[value, value], mode="lines", name=f"baseline: {name}",
                             line=dict(color=color, dash="dash", width=2),
                             hovertemplate=f"baseline {value:.4g}<extra></extra>"))
    fig.add_annotation(x=x_max, y=np.log10(value) if value > 0 else value, xref="x", yref="y", text=f"baseline {value:.3g}",
                       showarrow=False, xanchor="right", yanchor="bottom", font=dict(size=14, color=GREY))


def loss_figure(steps_done: int, budget: int, loss, eval_step, eval_loss, *, baseline: float, baseline_name: str,
                cell: str, title: str | None = None, height: int = 380) -> go.Figure:
    """Batch loss per update (faint), its smoothed curve (bold), the held-out loss (dots) and the
    baseline, on a log axis from update 0 to the budget."""
    fig = go.Figure()
    n = int(steps_done)
    x_max = max(int(budget), 1)
    if n:
        idx = thin(n)
        x = (idx + 1).tolist()
        fig.add_trace(go.Scatter(x=x, y=_f32(np.asarray(loss)[idx]), mode="lines", name="batch loss",
                                 line=dict(color=RAW_COLOR, width=1),
                                 hovertemplate="update %{x}<br>batch loss %{y:.4g}<extra></extra>"))
        fig.add_trace(go.Scatter(x=x, y=_f32(smooth(loss)[idx]), mode="lines", name="smoothed",
                                 line=dict(color=CELL_COLORS.get(cell, BLUE), width=3),
                                 hovertemplate="update %{x}<br>smoothed %{y:.4g}<extra></extra>"))
    if len(eval_step):
        fig.add_trace(go.Scatter(x=np.asarray(eval_step).tolist(), y=_f32(eval_loss), mode="markers",
                                 name="held-out loss", marker=dict(color=ORANGE, size=8, symbol="circle"),
                                 hovertemplate="update %{x}<br>held-out loss %{y:.4g}<extra></extra>"))
    _baseline_line(fig, baseline, baseline_name, x_max)
    style(fig, title or f"Loss: {CELL_NAMES.get(cell, cell)} after {n} of {budget} updates", "update",
          "loss per sequence", height=height, legend_below=True)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(range=[0, x_max * 1.01])
    return fig


def metric_figure(eval_step, eval_metric, *, metric_name: str, baseline_metric: float | None, budget: int,
                  height: int = 380) -> go.Figure:
    """The task's metric on the held-out sequences against the trivial predictor's."""
    if not len(eval_step):
        return empty(f"{metric_name} on held-out sequences", "Press Start: the metric appears after the first "
                     "evaluation.", height=height)
    fig = go.Figure(go.Scatter(x=np.asarray(eval_step).tolist(), y=_f32(eval_metric), mode="lines+markers",
                               name=metric_name, line=dict(color=GREEN, width=3), marker=dict(size=7),
                               hovertemplate="update %{x}<br>" + metric_name + " %{y:.4g}<extra></extra>"))
    x_max = max(int(budget), 1)
    if baseline_metric is not None and np.isfinite(baseline_metric):
        fig.add_trace(go.Scatter(x=[0, x_max], y=[baseline_metric] * 2, mode="lines", name="baseline",
                                 line=dict(color=INK, dash="dash", width=2),
                                 hovertemplate=f"baseline {baseline_metric:.4g}<extra></extra>"))
    better = "higher is better" if metric_name == "accuracy" else "lower is better"
    style(fig, f"{metric_name} on held-out sequences ({better})", "update", metric_name, height=height,
          legend_below=True)
    if metric_name == "accuracy":
        fig.update_yaxes(range=[0, 1.02])
    elif metric_name in ("perplexity",) or metric_name == "MSE":
        fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(range=[0, x_max * 1.01])
    return fig


def grad_norm_figure(grad_norm, clipped, *, budget: int, clip: str, clip_at: float, height: int = 380) -> go.Figure:
    """‖∇‖ before clipping per update (log axis), the updates clipping changed marked, the threshold."""
    n = len(grad_norm)
    if not n:
        return empty("Gradient norm before clipping", "Press Start or Step.", height=height)
    idx = thin(n)
    g = np.asarray(grad_norm)
    fig = go.Figure(go.Scatter(x=(idx + 1).tolist(), y=_f32(g[idx]), mode="lines", name="‖∇‖ before clipping",
                               line=dict(color=BLUE, width=2),
                               hovertemplate="update %{x}<br>‖∇‖ %{y:.3e}<extra></extra>"))
    hit = np.flatnonzero(np.asarray(clipped, dtype=bool))
    if hit.size:
        h = hit[thin(hit.size)]
        fig.add_trace(go.Scatter(x=(h + 1).tolist(), y=_f32(g[h]), mode="markers",
                                 name=f"clipped ({hit.size} of {n})",
                                 marker=dict(color=VERMILION, size=7, symbol="x"),
                                 hovertemplate="update %{x}: clipped<br>‖∇‖ %{y:.3e}<extra></extra>"))
    x_max = max(int(budget), 1)
    if clip == "norm":
        fig.add_trace(go.Scatter(x=[0, x_max], y=[clip_at, clip_at], mode="lines", name=f"threshold {clip_at:g}",
                                 line=dict(color=VERMILION, dash="dot", width=2), hoverinfo="skip"))
    style(fig, "Gradient norm before clipping", "update", "‖∇ loss‖", height=height, legend_below=True)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(range=[0, x_max * 1.01])
    return fig


def profile_figure(profile, first=None, *, update: int, truncate: tuple[int, int] | None = None,
                   height: int = 380) -> go.Figure:
    """‖∂L/∂h_t‖ over t for the current batch on a log axis (and the first update's, for comparison):
    how far back the training signal reaches."""
    if profile is None or not len(profile):
        return empty("How far back the gradient reaches", "Press Start or Step.", height=height)
    p = np.asarray(profile, dtype=np.float64)
    T = p.size
    t = np.arange(1, T + 1).tolist()
    with np.errstate(all="ignore"):
        pos = np.where(p > 0, p, np.nan)
    fig = go.Figure()
    if first is not None and update > 1:
        f = np.asarray(first, dtype=np.float64)
        with np.errstate(all="ignore"):
            f = np.where(f > 0, f, np.nan)
        fig.add_trace(go.Scatter(x=t, y=f.tolist(), mode="lines", name="update 1", line=dict(color=GREY, width=2,
                                 dash="dot"), hovertemplate="t = %{x}<br>‖∂L/∂h_t‖ %{y:.3e}<extra></extra>"))
    fig.add_trace(go.Scatter(x=t, y=pos.tolist(), mode="lines+markers" if T <= 60 else "lines",
                             name=f"update {update}", line=dict(color=VERMILION, width=3), marker=dict(size=5),
                             hovertemplate="t = %{x}<br>‖∂L/∂h_t‖ %{y:.3e}<extra></extra>"))
    style(fig, "How far back the gradient reaches: ‖∂L/∂h_t‖ of the batch", "step t", "‖∂L/∂h_t‖",
          height=height, legend_below=True)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(range=[0.5, T + 0.5])
    if truncate is not None and truncate[1] < T:
        fig.add_annotation(text=f"truncated: each chunk reaches back {truncate[1]} steps", x=0.01, y=0.02,
                           xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False,
                           font=dict(size=14, color=GREY))
    return fig


# ---------------------------------------------------------------- the arrangement, unrolled

ARRANGEMENT_TEXT = {
    "many-to-one": "many-to-one: a sequence in, one answer at the last step",
    "many-to-many": "many-to-many: an output (and a loss) at every step",
    "one-to-many": "one-to-many: one input, then the network runs on its own output",
    "encoder-decoder": "encoder–decoder: read everything, then write another sequence",
}


def arrangement_figure(arrangement: str, *, generation: bool = False, height: int = 260) -> go.Figure:
    """A small unrolled diagram: which steps take an input (below), which produce an output and a loss
    (above). With `generation` a second strip shows the same network run one-to-many on its own output."""
    shapes, ann = [], []
    cols = 6  # drawn steps; the 4th is "…"

    def cell_row(x0: float, n: int, y: float, color: str, label: str, inputs, outputs, feedback=False):
        for k in range(n):
            x = x0 + k
            if k == 3 and n == cols:
                ann.append(dict(x=x, y=y, text="…", showarrow=False, font=dict(size=22, color=GREY)))
                continue
            shapes.append(dict(type="rect", x0=x - 0.3, x1=x + 0.3, y0=y - 0.22, y1=y + 0.22,
                               line=dict(color=color, width=2), fillcolor="rgba(0,114,178,0.12)"))
            ann.append(dict(x=x, y=y, text=label, showarrow=False, font=dict(size=14, color=INK)))
            if k < n - 1 and not (k + 1 == 3 and n == cols):
                ann.append(dict(x=x + 0.7, y=y, ax=x + 0.3, ay=y, xref="x", yref="y", axref="x", ayref="y",
                                text="", showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor=GREY))
            elif k == 2 and n == cols:
                ann.append(dict(x=x + 0.55, y=y, ax=x + 0.3, ay=y, axref="x", ayref="y", text="", showarrow=True,
                                arrowhead=0, arrowwidth=1.5, arrowcolor=GREY))
            if k in inputs:
                ann.append(dict(x=x, y=y - 0.22, ax=x, ay=y - 0.62, axref="x", ayref="y", text="", showarrow=True,
                                arrowhead=2, arrowwidth=2, arrowcolor=GREEN))
                ann.append(dict(x=x, y=y - 0.72, text="x", showarrow=False, font=dict(size=14, color=GREEN)))
            if k in outputs:
                ann.append(dict(x=x, y=y + 0.62, ax=x, ay=y + 0.22, axref="x", ayref="y", text="", showarrow=True,
                                arrowhead=2, arrowwidth=2, arrowcolor=ORANGE))
                ann.append(dict(x=x, y=y + 0.74, text="y, loss", showarrow=False, font=dict(size=13, color=ORANGE)))
                if feedback and k < n - 1 and k != 2:
                    shapes.append(dict(type="path", path=f"M {x + 0.12},{y + 0.5} Q {x + 0.5},{y + 0.9} "
                                                         f"{x + 0.9},{y - 0.55}",
                                       line=dict(color=PURPLE_SOFT, width=1.5, dash="dot")))

    all_steps = set(range(cols))
    if arrangement == "many-to-one":
        cell_row(0, cols, 0, BLUE, "h", all_steps, {cols - 1})
    elif arrangement == "many-to-many":
        cell_row(0, cols, 0, BLUE, "h", all_steps, all_steps)
    elif arrangement == "one-to-many":
        cell_row(0, cols, 0, BLUE, "h", {0}, all_steps, feedback=True)
    elif arrangement == "encoder-decoder":
        cell_row(0, 3, 0, BLUE, "enc", {0, 1, 2}, set())
        cell_row(3.6, 3, 0, SKY, "dec", set(), {0, 1, 2})
        ann.append(dict(x=3.3, y=0, ax=2.3, ay=0, axref="x", ayref="y", text="", showarrow=True, arrowhead=2,
                        arrowwidth=2.5, arrowcolor=BLUE))
    x_hi = 6.2 if arrangement == "encoder-decoder" else cols - 0.4
    title = ARRANGEMENT_TEXT.get(arrangement, arrangement)
    if generation:
        title += " (sampling: one-to-many)"
    fig = go.Figure()
    fig.update_layout(shapes=shapes, annotations=ann)
    style(fig, title, "", "", height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=50, b=10), showlegend=False, title_font_size=16)
    fig.update_xaxes(visible=False, range=[-0.6, x_hi], fixedrange=True)
    fig.update_yaxes(visible=False, range=[-1.0, 1.0], fixedrange=True)
    return fig


PURPLE_SOFT = "#CC79A7"


# ---------------------------------------------------------------- task views


def adding_figure(y_pred, y_true, *, update: int, height: int = 400) -> go.Figure:
    """Predicted against true sums of the held-out sequences; the diagonal is perfect, the flat line
    at 1 is the baseline."""
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    t = np.asarray(y_true, dtype=np.float64).ravel()
    fig = go.Figure(go.Scatter(x=_f32(t), y=_f32(p), mode="markers", name="held-out sequence",
                               marker=dict(color=BLUE, size=7, opacity=0.7),
                               hovertemplate="true %{x:.3f}<br>predicted %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 2], y=[0, 2], mode="lines", name="perfect", line=dict(color=GREEN, width=2)))
    fig.add_trace(go.Scatter(x=[0, 2], y=[1, 1], mode="lines", name="baseline: always 1",
                             line=dict(color=INK, dash="dash", width=2)))
    style(fig, f"Adding: predicted vs true sum (update {update})", "true sum of the two marked values",
          "network's answer", height=height, legend_below=True)
    lo = min(-0.1, float(np.nanmin(p)) - 0.1) if p.size else -0.1
    hi = max(2.1, float(np.nanmax(p)) + 0.1) if p.size else 2.1
    fig.update_xaxes(range=[-0.05, 2.05])
    fig.update_yaxes(range=[max(lo, -1.0), min(hi, 3.0)])
    return fig


def symbol_grid_figure(pred, true, *, labels: Sequence[str], title: str, height: int = 400) -> go.Figure:
    """Rows of target and predicted symbols for a few sequences (green: right, red: wrong)."""
    pred, true = np.asarray(pred), np.asarray(true)
    n, L = true.shape
    rows, text, ok = [], [], []
    for i in range(n):
        for kind, arr in (("target", true[i]), ("network", pred[i])):
            rows.append(f"#{i + 1} {kind}")
            text.append([labels[int(v)] for v in arr])
            ok.append((arr == true[i]).astype(float) if kind == "network" else np.full(L, 0.5))
    z = np.array(ok)[::-1]
    fig = go.Figure(go.Heatmap(z=z, x=list(range(1, L + 1)), y=rows[::-1], text=text[::-1],
                               texttemplate="%{text}", textfont=dict(size=14, color=INK), zmin=0, zmax=1,
                               colorscale=[[0, "#f4a582"], [0.5, "#f0f0f0"], [1, "#a6dba0"]], showscale=False,
                               xgap=1, ygap=1, hovertemplate="%{y}, step %{x}: %{text}<extra></extra>"))
    style(fig, title, "output step", "", height=height)
    fig.update_yaxes(tickfont=dict(size=13))
    return fig


def series_figure(f: Mapping, *, update: int, height: int = 420) -> go.Figure:
    """The held-out part of the series: actual, one-step-ahead predictions, and the free-running
    forecast from the end of the training part (the network fed its own output)."""
    z, split = np.asarray(f["values"]), int(f["split"])
    n = z.size
    x = np.arange(n)
    lo = max(0, split - 3 * (n - split))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x[lo:].tolist(), y=_f32(z[lo:]), mode="lines", name="actual",
                             line=dict(color=INK, width=2)))
    fig.add_trace(go.Scatter(x=x[max(lo, 1):].tolist(), y=_f32(f["one_step"][max(lo, 1) - 1:]), mode="lines",
                             name="one step ahead", line=dict(color=BLUE, width=2)))
    fig.add_trace(go.Scatter(x=x[split:].tolist(), y=_f32(f["free"]), mode="lines", name="forecast on its own output",
                             line=dict(color=VERMILION, width=3, dash="dash")))
    fig.add_vline(x=split - 0.5, line=dict(color=GREY, dash="dot"))
    fig.add_annotation(x=split - 0.5, y=1, yref="paper", text="held out →", showarrow=False, xanchor="left",
                       yanchor="top", font=dict(size=14, color=GREY))
    style(fig, f"{f.get('title', 'Series')}: forecast vs actual (update {update})", "time step",
          "standardised value", height=height, legend_below=True)
    return fig


def confusion_figure(pred, true, *, class_names: Sequence[str], update: int, height: int = 460) -> go.Figure:
    """Confusion matrix of the held-out sequences (rows: true class, columns: predicted)."""
    K = len(class_names)
    m = np.zeros((K, K), dtype=int)
    np.add.at(m, (np.asarray(true, dtype=int), np.asarray(pred, dtype=int)), 1)
    short = [c.replace("speaker ", "") for c in class_names]
    fig = go.Figure(go.Heatmap(z=m, x=short, y=short, colorscale=SEQUENTIAL, text=m, texttemplate="%{text}",
                               textfont=dict(size=13), colorbar=dict(title="count"),
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    acc = float(np.trace(m) / max(m.sum(), 1))
    style(fig, f"Confusion matrix, held out: accuracy {acc:.0%} (update {update})", "predicted speaker",
          "true speaker", height=height)
    fig.update_yaxes(autorange="reversed")
    return fig


def distance_figure(distance, correct, *, n_classes: int, update: int, height: int = 400) -> go.Figure:
    """Accuracy of the held-out sequences against the distance from the deciding token to the loss."""
    d = np.asarray(distance, dtype=int)
    c = np.asarray(correct, dtype=float)
    edges = np.unique(np.linspace(d.min(), d.max() + 1, min(12, d.max() - d.min() + 2)).round().astype(int))
    mids, acc, count = [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (d >= a) & (d < b)
        if sel.any():
            mids.append(f"{a}–{b - 1}" if b - 1 > a else f"{a}")
            acc.append(float(c[sel].mean()))
            count.append(int(sel.sum()))
    fig = go.Figure(go.Bar(x=mids, y=acc, marker_color=BLUE, name="accuracy", customdata=count,
                           hovertemplate="distance %{x}<br>accuracy %{y:.0%} of %{customdata}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[mids[0], mids[-1]] if mids else [], y=[1 / n_classes] * 2, mode="lines",
                             name="chance", line=dict(color=INK, dash="dash", width=2)))
    style(fig, f"Accuracy against the distance to the label token (update {update})",
          "steps between the label and the answer", "accuracy", height=height, legend_below=True)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return fig


# ---------------------------------------------------------------- the race


def race_figure(curves: Mapping[str, tuple[np.ndarray, str | None]], *, budget: int, baseline: float,
                baseline_name: str, height: int = 460) -> go.Figure:
    """The smoothed training loss of each cell on one log axis, with the baseline and half of it.

    curves: cell -> (batch losses so far, why it stopped or None)."""
    fig = go.Figure()
    x_max = max(int(budget), 1)
    for cell, (loss, stopped) in curves.items():
        loss = np.asarray(loss, dtype=np.float64)
        n = loss.size
        idx = thin(n)
        name = CELL_NAMES.get(cell, cell) + (" (stopped)" if stopped else "")
        fig.add_trace(go.Scatter(x=(idx + 1).tolist(), y=_f32(smooth(loss)[idx]) if n else [], mode="lines",
                                 name=name, line=dict(color=CELL_COLORS.get(cell, GREY), width=3,
                                                      dash={"rnn": "solid", "lstm": "dash", "gru": "dot"}.get(cell)),
                                 hovertemplate=f"{CELL_NAMES.get(cell, cell)}<br>update %{{x}}<br>smoothed loss "
                                               "%{y:.4g}<extra></extra>"))
    _baseline_line(fig, baseline, baseline_name, x_max)
    if baseline and np.isfinite(baseline):
        fig.add_trace(go.Scatter(x=[0, x_max], y=[baseline / 2] * 2, mode="lines", name="half the baseline",
                                 line=dict(color=GREY, dash="dot", width=1.5), hoverinfo="skip"))
    style(fig, "Race: RNN vs LSTM vs GRU, same data, seed and budget", "update", "smoothed training loss",
          height=height, legend_below=True)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(range=[0, x_max * 1.01])
    return fig


def left_baseline(loss, baseline: float, weight: float = SMOOTH) -> int | None:
    """The first update after which the smoothed loss stays below half the baseline (None: never)."""
    s = smooth(loss, weight)
    below = s < baseline / 2
    if not below.size or not below[-1]:
        return None
    above = np.flatnonzero(~below)
    return int(above[-1] + 2) if above.size else 1
