"""Figures of the Train page (pure: arrays in, a plain spec out, as viz/spec.py describes).

The loss against the task's baseline, the metric, the gradient norm before clipping with the clipped
updates marked, the profile ||dL/dh_t|| over t of the current batch, the unrolled picture of the task's
arrangement, one view per task of what the network does now, and the race of the three cells.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from viz.spec import Spec, figure
from viz.style import (
    BLUE,
    CELL_COLORS,
    CELL_NAMES,
    FONT_SIZE,
    GREEN,
    GREY,
    INK,
    NOTE_BG,
    ORANGE,
    PURPLE,
    SEQUENTIAL,
    SKY,
    TITLE_SIZE,
    VERMILION,
    colorscale,
    positive,
)

MAX_POINTS = 400          # points per curve sent to the browser (longer histories are thinned)
SMOOTH = 0.95             # weight of the past in the smoothed loss (debiased exponential average)
BASELINE = "#7f7f7f"      # the trivial predictor's line: mid grey, visible on light and dark themes
RAW_COLOR = "rgba(86,180,233,0.45)"  # SKY, translucent: the noisy per-batch curve under the smoothed one
TARGET_BAND = "rgba(127,127,127,0.45)"  # BASELINE grey, translucent and wide: a target the outputs lie on
CONFIG = {"displaylogo": False}


def _axis(title: str, **extra) -> dict:
    return {**dict(title=dict(text=title, font=dict(size=FONT_SIZE)), automargin=True,
                   tickfont=dict(size=FONT_SIZE - 1)), **extra}


def _layout(title: str, xlabel: str, ylabel: str, *, height: int, legend: bool = True, xaxis=None,
            yaxis=None, **extra) -> dict:
    """The layout `viz.style.style` gives (projector fonts), as a dict, with the legend in rows below the plot."""
    lay = dict(title=dict(text=title, font=dict(size=TITLE_SIZE), x=0.0, xanchor="left"),
               font=dict(size=FONT_SIZE), height=height, margin=dict(l=80, r=30, t=60, b=140 if legend else 70),
               hoverlabel=dict(font=dict(size=FONT_SIZE)),
               # below the axis title: a long legend wraps downwards instead of over the chart's title
               legend=dict(font=dict(size=FONT_SIZE - 2), orientation="h", yanchor="top", y=-0.28, x=0.0,
                           xanchor="left"),
               showlegend=legend, xaxis=_axis(xlabel, **(xaxis or {})), yaxis=_axis(ylabel, **(yaxis or {})))
    lay.update(extra)
    return lay


def _figure(data: list[dict], layout: dict) -> Spec:
    """A spec from plain dicts (the charts redraw several times a second while a run computes: no Plotly
    object model, no per-property validation). Empty lists (no annotations, no shapes) are left out of
    the layout, as Plotly leaves them out."""
    return figure(data, {k: v for k, v in layout.items() if not (isinstance(v, list) and not v)})


def _empty(title: str, message: str, height: int) -> Spec:
    return _figure([], _layout(title, "", "", height=height, legend=False, xaxis=dict(visible=False),
                               yaxis=dict(visible=False),
                               annotations=[dict(text=message, x=0.5, y=0.5, xref="paper", yref="paper",
                                                 showarrow=False, font=dict(size=FONT_SIZE, color=INK),
                                                 bgcolor=NOTE_BG, bordercolor=GREY, borderwidth=1, borderpad=8)]))


def _line(x, y, name: str, color: str, *, width: float = 2, dash: str | None = None, mode: str = "lines",
          hover: str | None = None, **extra) -> dict:
    tr = dict(type="scatter", x=x, y=y, mode=mode, name=name, line=dict(color=color, width=width))
    if dash:
        tr["line"]["dash"] = dash
    if hover:
        tr["hovertemplate"] = hover
    tr.update(extra)
    return tr


def smooth(y, weight: float = SMOOTH) -> np.ndarray:
    """Debiased exponential moving average: the first values are not pulled towards 0 (NaN is skipped).
    A plain loop over floats: 10 000 updates take a few milliseconds."""
    acc = norm = 0.0
    out = []
    a = 1.0 - weight
    for v in np.asarray(y, dtype=np.float64).tolist():
        if v == v and abs(v) != float("inf"):
            acc = weight * acc + a * v
            norm = weight * norm + a
        out.append(acc / norm if norm > 0 else float("nan"))
    return np.array(out)


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


def _baseline(value: float, name: str, x_max: int, *, log: bool = True) -> tuple[list[dict], list[dict]]:
    """The trivial predictor as a labelled horizontal line (a trace, so the legend names it) and its label."""
    if value is None or not np.isfinite(value) or (log and value <= 0):
        return [], []
    tr = _line([0, x_max], [value, value], f"baseline: {name}", BASELINE, dash="dash",
               hover=f"baseline {value:.4g}<extra></extra>")
    label = dict(x=x_max, y=float(np.log10(value)) if log else value, xref="x", yref="y", text=f"baseline {value:.3g}",
                 showarrow=False, xanchor="right", yanchor="bottom", font=dict(size=14, color=GREY))
    return [tr], [label]


def loss_figure(steps_done: int, budget: int, loss, eval_step, eval_loss, *, baseline: float, baseline_name: str,
                cell: str, title: str | None = None, height: int = 440) -> Spec:
    """Batch loss per update (faint), its smoothed curve (bold), the held-out loss (dots) and the
    baseline, on a log axis from update 0 to the budget."""
    n = int(steps_done)
    x_max = max(int(budget), 1)
    data = []
    if n:
        idx = thin(n)
        x = (idx + 1).tolist()
        data.append(_line(x, _f32(np.asarray(loss)[idx]), "batch loss", RAW_COLOR, width=1,
                          hover="update %{x}<br>batch loss %{y:.4g}<extra></extra>"))
        data.append(_line(x, _f32(smooth(loss)[idx]), "smoothed", CELL_COLORS.get(cell, BLUE), width=3,
                          hover="update %{x}<br>smoothed %{y:.4g}<extra></extra>"))
    if len(eval_step):
        data.append(dict(type="scatter", x=np.asarray(eval_step).tolist(), y=_f32(eval_loss), mode="markers",
                         name="held-out loss", marker=dict(color=ORANGE, size=8),
                         hovertemplate="update %{x}<br>held-out loss %{y:.4g}<extra></extra>"))
    base, ann = _baseline(baseline, baseline_name, x_max)
    return _figure(data + base, _layout(title or f"Loss: {CELL_NAMES.get(cell, cell)} after {n} of {budget} updates",
                                        "update", "loss per sequence", height=height,
                                        xaxis=dict(range=[0, x_max * 1.01]),
                                        yaxis=dict(type="log", exponentformat="power"), annotations=ann))


def metric_figure(eval_step, eval_metric, *, metric_name: str, baseline_metric: float | None, budget: int,
                  free_metric=None, height: int = 440) -> Spec:
    """The task's metric on the held-out sequences against the trivial predictor's. With `free_metric`
    (an encoder-decoder), two lines: teacher-forced (the decoder reads the true previous symbols, as in
    training) and free-running (it reads its own previous outputs, as when it is used)."""
    if not len(eval_step):
        return _empty(f"{metric_name} on held-out sequences", "Press Start to see it here.", height)
    x_max = max(int(budget), 1)
    two = free_metric is not None and len(free_metric) == len(eval_step)
    label = f"{metric_name}, teacher-forced" if two else metric_name
    data = [_line(np.asarray(eval_step).tolist(), _f32(eval_metric), label, GREEN, width=3,
                  mode="lines+markers", marker=dict(size=7),
                  hover="update %{x}<br>" + label + " %{y:.4g}<extra></extra>")]
    if two:
        free_label = f"{metric_name}, free-running (own outputs fed back)"
        data.append(_line(np.asarray(eval_step).tolist(), _f32(free_metric), free_label, PURPLE, width=3,
                          mode="lines+markers", marker=dict(size=7, symbol="diamond"), dash="dot",
                          hover="update %{x}<br>" + free_label + " %{y:.4g}<extra></extra>"))
    log = metric_name in ("perplexity", "MSE")
    if baseline_metric is not None and np.isfinite(baseline_metric) and (baseline_metric > 0 or not log):
        data.append(_line([0, x_max], [baseline_metric] * 2, f"baseline {baseline_metric:.3g}", BASELINE, dash="dash",
                          hover=f"baseline {baseline_metric:.4g}<extra></extra>"))
    better = "higher is better" if metric_name == "accuracy" else "lower is better"
    yaxis = dict(range=[0, 1.02], tickformat=".0%") if metric_name == "accuracy" else (
        dict(type="log", exponentformat="power", dtick="D2") if log else {})
    # "higher/lower is better" on the axis: the title has half a page's width (a projector's 1280 px)
    return _figure(data, _layout(f"{metric_name} on held-out sequences", "update", f"{metric_name} ({better})",
                                 height=height, xaxis=dict(range=[0, x_max * 1.01]), yaxis=yaxis))


def grad_norm_figure(grad_norm, clipped, *, budget: int, clip: str, clip_at: float, height: int = 440) -> Spec:
    """‖∇‖ before clipping per update (log axis), the updates clipping changed marked, the threshold."""
    n = len(grad_norm)
    if not n:
        return _empty("Gradient norm before clipping", "Press Start or Step.", height)
    idx = thin(n)
    g = np.asarray(grad_norm)
    data = [_line((idx + 1).tolist(), _f32(g[idx]), "‖∇‖ before clipping", BLUE,
                  hover="update %{x}<br>‖∇‖ %{y:.3e}<extra></extra>")]
    hit = np.flatnonzero(np.asarray(clipped, dtype=bool))
    if hit.size:
        h = hit[thin(hit.size)]
        data.append(dict(type="scatter", x=(h + 1).tolist(), y=_f32(g[h]), mode="markers",
                         name=f"clipped ({hit.size} of {n})", marker=dict(color=VERMILION, size=7, symbol="x"),
                         hovertemplate="update %{x}: clipped<br>‖∇‖ %{y:.3e}<extra></extra>"))
    x_max = max(int(budget), 1)
    if clip == "norm":
        data.append(_line([0, x_max], [clip_at, clip_at], f"threshold {clip_at:g}", VERMILION, dash="dot",
                          hoverinfo="skip"))
    return _figure(data, _layout("Gradient norm before clipping", "update", "‖∇ loss‖", height=height,
                                 xaxis=dict(range=[0, x_max * 1.01]), yaxis=dict(type="log", exponentformat="power")))


def profile_figure(profile, first=None, *, update: int, truncate: tuple[int, int] | None = None,
                   height: int = 440) -> Spec:
    """‖∂L/∂h_t‖ over t for the current batch on a log axis (and the first update's, for comparison):
    how far back the training signal reaches."""
    title = "Gradient reaching back: ‖∂L/∂h_t‖"
    if profile is None or not len(profile):
        return _empty(title, "Press Start or Step.", height)
    p = np.asarray(profile, dtype=np.float64)
    T = p.size
    t = np.arange(1, T + 1).tolist()
    data = []
    hover = "t = %{x}<br>‖∂L/∂h_t‖ %{y:.3e}<extra></extra>"
    if first is not None and update > 1:
        data.append(_line(t, positive(first).tolist(), "update 1", GREY, dash="dot", hover=hover))
    data.append(_line(t, positive(p).tolist(), f"update {update}", VERMILION, width=3,
                      mode="lines+markers" if T <= 60 else "lines", marker=dict(size=5), hover=hover))
    ann = []
    if truncate is not None and truncate[1] < T:
        ann.append(dict(text=f"truncated: each chunk reaches back {truncate[1]} steps", x=0.01, y=0.02,
                        xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False,
                        font=dict(size=14, color=GREY)))
    return _figure(data, _layout(title, "step t (the batch's sequences)", "‖∂L/∂h_t‖", height=height,
                                 xaxis=dict(range=[0.5, T + 0.5]), yaxis=dict(type="log", exponentformat="power"),
                                 annotations=ann))


# ---------------------------------------------------------------- the arrangement, unrolled

ARRANGEMENT_TEXT = {
    "many-to-one": "many-to-one: one answer at the last step",
    "many-to-many": "many-to-many: an output and a loss at every step",
    "one-to-many": "one-to-many: a condition, then y fed back",
    "encoder-decoder": "encoder–decoder: read, then write (each step reads the previous symbol)",
}


def arrangement_figure(arrangement: str, *, generation: bool = False, steps_in: int | None = None,
                       steps_out: int | None = None, varying: bool = False, height: int = 250) -> Spec:
    """A small unrolled diagram: which steps take an input (below) and which produce an output and a loss
    (above). With `generation` the outputs are fed back as the next inputs (dotted), as when sampling.
    For an encoder-decoder, `steps_in` and `steps_out` (the encoder's and the decoder's number of steps)
    are written in the title (`varying`: the inputs' lengths vary, `steps_in` is the longest), and a decoder
    shorter than its encoder is drawn with fewer cells."""
    shapes, ann = [], []

    def arrow(x0, y0, x1, y1, color, width=1.5, head=2):
        ann.append(dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                        showarrow=True, arrowhead=head, arrowwidth=width, arrowcolor=color))

    def row(xs, label, color, fill, inputs, outputs, gap_after=None):
        for k, x in enumerate(xs):
            shapes.append(dict(type="rect", x0=x - 0.3, x1=x + 0.3, y0=-0.22, y1=0.22, line=dict(color=color, width=2),
                               fillcolor=fill))
            ann.append(dict(x=x, y=0, text=label, showarrow=False, font=dict(size=14, color=INK)))
            if k < len(xs) - 1:
                if gap_after == k:
                    ann.append(dict(x=(x + xs[k + 1]) / 2, y=0, text="…", showarrow=False,
                                    font=dict(size=22, color=GREY)))
                else:
                    arrow(x + 0.3, 0, xs[k + 1] - 0.3, 0, GREY)
            if k in inputs:
                arrow(x, -0.62, x, -0.22, GREEN, 2)
                ann.append(dict(x=x, y=-0.74, text="x", showarrow=False, font=dict(size=14, color=GREEN)))
            if k in outputs:
                arrow(x, 0.22, x, 0.62, ORANGE, 2)
                ann.append(dict(x=x, y=0.76, text="y, loss", showarrow=False, font=dict(size=13, color=ORANGE)))

    xs = [0, 1, 2, 3.4, 4.4]
    every = set(range(len(xs)))
    blue_fill = "#dbe9f5"  # opaque and light: the dark labels read on light and dark themes alike
    if arrangement == "encoder-decoder":
        n_enc = 3
        n_dec = 2 if steps_in is not None and steps_out is not None and steps_out < steps_in else 3
        enc = [float(k) for k in range(n_enc)]
        dec = [n_enc + 0.4 + k for k in range(n_dec)]
        row(enc, "enc", BLUE, blue_fill, set(range(n_enc)), set())
        row(dec, "dec", SKY, "#e3f2fb", set(), set(range(n_dec)))
        arrow(enc[-1] + 0.3, 0, dec[0] - 0.3, 0, BLUE, 2.5)
        # the decoder's inputs: a start symbol, then the previous symbol (the target in training: teacher
        # forcing; its own output when it runs free)
        for x, text in zip(dec, ("start", "y<sub>1</sub>", "y<sub>2</sub>")):
            arrow(x, -0.62, x, -0.22, PURPLE, 2)
            ann.append(dict(x=x, y=-0.76, text=text, showarrow=False, font=dict(size=13, color=PURPLE)))
        x_hi = dec[-1] + 0.5
    else:
        inputs = {0} if arrangement == "one-to-many" else every
        outputs = {len(xs) - 1} if arrangement == "many-to-one" else every
        row(xs, "h", BLUE, blue_fill, inputs, outputs, gap_after=2)
        x_hi = 4.9
        if arrangement == "one-to-many":
            # step 1 reads the condition; every later step reads the previous y: the target in training
            # (teacher forcing), the network's own output when it runs free (the dotted arcs)
            for x, text in ((1, "y<sub>1</sub>"), (2, "y<sub>2</sub>"), (3.4, "y<sub>T−2</sub>"),
                            (4.4, "y<sub>T−1</sub>")):
                arrow(x, -0.62, x, -0.22, PURPLE, 2)
                ann.append(dict(x=x, y=-0.76, text=text, showarrow=False, font=dict(size=13, color=PURPLE)))
            for a in ann:
                if a.get("text") == "x" and a.get("x") == 0:
                    a["text"] = "x: condition"
        if generation or arrangement == "one-to-many":
            for a, b in ((0, 1), (1, 2), (3.4, 4.4)):
                shapes.append(dict(type="path", path=f"M {a + 0.12},0.7 C {a + 0.5},0.95 {b - 0.45},-0.9 "
                                                     f"{b - 0.12},-0.6", line=dict(color=PURPLE, width=1.5, dash="dot")))
    title = ARRANGEMENT_TEXT.get(arrangement, arrangement)
    if arrangement == "encoder-decoder" and steps_in is not None and steps_out is not None:
        title = f"encoder–decoder: {'up to ' if varying else ''}{int(steps_in)} steps in, {int(steps_out)} out"
    if generation and arrangement != "one-to-many":
        title = "trained many-to-many; sampled one-to-many (dotted: output fed back)"
    layout = dict(title=dict(text=title, font=dict(size=15), x=0.0, xanchor="left"), height=height,
                  margin=dict(l=10, r=10, t=40, b=10), showlegend=False, shapes=shapes, annotations=ann,
                  font=dict(size=FONT_SIZE), xaxis=dict(visible=False, range=[-0.6, x_hi], fixedrange=True),
                  yaxis=dict(visible=False, range=[-0.95, 0.95], fixedrange=True))
    return _figure([], layout)


# ---------------------------------------------------------------- task views


def adding_figure(y_pred, y_true, *, update: int, height: int = 460) -> Spec:
    """Predicted against true sums of the held-out sequences; the diagonal is perfect, the flat line
    at 1 is the baseline."""
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    t = np.asarray(y_true, dtype=np.float64).ravel()
    data = [dict(type="scatter", x=_f32(t), y=_f32(p), mode="markers", name="held-out sequence",
                 marker=dict(color=BLUE, size=7, opacity=0.7),
                 hovertemplate="true %{x:.3f}<br>predicted %{y:.3f}<extra></extra>"),
            _line([0, 2], [0, 2], "perfect", GREEN),
            _line([0, 2], [1, 1], "baseline: always 1", BASELINE, dash="dash")]
    fin = p[np.isfinite(p)]
    lo = max(min(-0.1, float(fin.min()) - 0.1), -1.0) if fin.size else -0.1
    hi = min(max(2.1, float(fin.max()) + 0.1), 3.0) if fin.size else 2.1
    return _figure(data, _layout(f"Adding: the network's answer vs the true sum (update {update})",
                                 "true sum of the two marked values", "network's answer", height=height,
                                 xaxis=dict(range=[-0.05, 2.05]), yaxis=dict(range=[lo, hi])))


def symbol_grid_figure(pred, true, *, labels: Sequence[str], title: str, names: Sequence[str] | None = None,
                       answer: str = "network", height: int = 440) -> Spec:
    """Rows of target and predicted symbols for a few sequences (green: right, red: wrong). `names`: what
    each sequence is called in the row labels (default #1, #2, ...); `answer`: the predicted rows' label."""
    pred, true = np.asarray(pred), np.asarray(true)
    n, L = true.shape
    rows, text, ok = [], [], []
    for i in range(n):
        name = f"#{i + 1}" if names is None else str(names[i])
        for kind, arr in (("target", true[i]), (answer, pred[i])):
            rows.append(f"{name} {kind}")
            text.append([labels[int(v)] for v in arr])
            ok.append((arr == true[i]).astype(float) if kind == answer else np.full(L, 0.5))
    data = [dict(type="heatmap", z=np.array(ok)[::-1].tolist(), x=list(range(1, L + 1)), y=rows[::-1],
                 text=text[::-1], texttemplate="%{text}", textfont=dict(size=14, color=INK), zmin=0, zmax=1,
                 colorscale=[[0, "#f4a582"], [0.5, "#f0f0f0"], [1, "#a6dba0"]], showscale=False, xgap=1, ygap=1,
                 hovertemplate="%{y}, step %{x}: %{text}<extra></extra>")]
    return _figure(data, _layout(title, "output step", "", height=height, legend=False,
                                 xaxis=dict(dtick=1), yaxis=dict(tickfont=dict(size=13))))


def series_figure(f: Mapping, *, update: int, height: int = 480) -> Spec:
    """The held-out part of the series: actual, one-step-ahead predictions, and the free-running
    forecast from the end of the training part (the network fed its own output)."""
    z, split = np.asarray(f["values"]), int(f["split"])
    n = z.size
    lo = max(1, split - 3 * (n - split))
    x = np.arange(n)
    data = [_line(x[lo:].tolist(), _f32(z[lo:]), "actual", BASELINE, width=2.5),
            _line(x[lo:].tolist(), _f32(np.asarray(f["one_step"])[lo - 1:]), "one step ahead", BLUE),
            _line(x[split:].tolist(), _f32(f["free"]), "forecast on its own output", VERMILION, width=3, dash="dash")]
    shapes = [dict(type="line", x0=split - 0.5, x1=split - 0.5, y0=0, y1=1, xref="x", yref="paper",
                   line=dict(color=GREY, dash="dot"))]
    ann = [dict(x=split - 0.5, y=1, yref="paper", xref="x", text=" held out →", showarrow=False, xanchor="left",
                yanchor="top", font=dict(size=14, color=GREY))]
    return _figure(data, _layout(f"{f.get('title', 'Series')}: forecast vs actual (update {update})", "time step",
                                 "standardised value", height=height, shapes=shapes, annotations=ann))


def confusion_figure(pred, true, *, class_names: Sequence[str], update: int, height: int = 460) -> Spec:
    """Confusion matrix of the held-out sequences (rows: true class, columns: predicted)."""
    K = len(class_names)
    m = np.zeros((K, K), dtype=int)
    np.add.at(m, (np.asarray(true, dtype=int), np.asarray(pred, dtype=int)), 1)
    short = [c.replace("speaker ", "") for c in class_names]
    acc = float(np.trace(m) / max(m.sum(), 1))
    data = [dict(type="heatmap", z=m.tolist(), x=short, y=short, colorscale=colorscale(SEQUENTIAL), text=m.tolist(),
                 texttemplate="%{text}", textfont=dict(size=13), colorbar=dict(title=dict(text="count")),
                 hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>")]
    return _figure(data, _layout(f"Confusion matrix, held out: accuracy {acc:.0%} (update {update})",
                                 "predicted speaker", "true speaker", height=height, legend=False,
                                 xaxis=dict(type="category"), yaxis=dict(type="category", autorange="reversed")))


def distance_figure(distance, correct, *, n_classes: int, update: int, height: int = 460) -> Spec:
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
    data = [dict(type="bar", x=mids, y=acc, marker=dict(color=BLUE), name="accuracy", customdata=count,
                 hovertemplate="distance %{x}<br>accuracy %{y:.0%} of %{customdata}<extra></extra>"),
            _line([mids[0], mids[-1]] if mids else [], [1 / n_classes] * 2, "chance", BASELINE, dash="dash")]
    return _figure(data, _layout(f"Accuracy against the distance to the label token (update {update})",
                                 "steps between the label and the answer", "accuracy", height=height,
                                 yaxis=dict(range=[0, 1.05], tickformat=".0%")))


def waves_figure(target, teacher, free, *, conditions=None, update: int, height: int = 560) -> Spec:
    """One panel per held-out sequence (n, T): the target wave, the network's output teacher-forced (each
    step read the true previous value) and free-running (each step read its own previous output).
    `conditions` (n, 2): each sequence's ω (radians per step) and phase φ, written in its panel."""
    target, teacher, free = (np.asarray(a, dtype=np.float64) for a in (target, teacher, free))
    n, T = target.shape
    k = np.arange(1, T + 1).tolist()
    data, ann, lay_axes = [], [], {}
    gap = 0.06
    size = (1.0 - gap * (n - 1)) / n
    for i in range(n):                       # panel i from the top; the bottom one holds the x axis
        axis = n - i
        yref = "y" if axis == 1 else f"y{axis}"
        lo = (axis - 1) * (size + gap)
        first = i == 0
        for y, name, color, width, dash in ((target[i], "target", TARGET_BAND, 9, None),
                                            (teacher[i], "teacher-forced (reads the true previous value)", BLUE,
                                             2.5, None),
                                            (free[i], "free-running (reads its own previous output)", VERMILION,
                                             3, "dash")):
            data.append(_line(k, _f32(y), name, color, width=width, dash=dash, yaxis=yref, legendgroup=name,
                              showlegend=first, hover=f"{name.split(' (')[0]}<br>step %{{x}}: %{{y:.3f}}<extra></extra>"))
        lay_axes["yaxis" if axis == 1 else f"yaxis{axis}"] = dict(
            domain=[lo, lo + size], range=[-1.6, 1.6], anchor="x", tickvals=[-1, 0, 1], automargin=True,
            tickfont=dict(size=FONT_SIZE - 1), zeroline=True, title=dict(text="y", font=dict(size=FONT_SIZE)))
        if conditions is not None:
            omega, phase = (float(v) for v in np.asarray(conditions)[i])
            ann.append(dict(text=f"period {2 * np.pi / omega:.1f} steps, φ = {phase:.2f} rad", x=0.0,
                            y=lo + size, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                            showarrow=False, font=dict(size=14, color=GREY)))
    layout = _layout(f"Sine waves: target, teacher-forced and free-running (update {update})", "step k", "y",
                     height=height, xaxis=dict(range=[0.5, T + 0.5], anchor="y"), annotations=ann)
    layout["legend"]["y"] = -0.16
    layout.update(lay_axes)
    return _figure(data, layout)


# ---------------------------------------------------------------- the race

DASHES = {"rnn": "solid", "lstm": "dash", "gru": "dot"}


def race_figure(curves: Mapping[str, tuple[np.ndarray, str | None]], *, budget: int, baseline: float,
                baseline_name: str, height: int = 520) -> Spec:
    """The smoothed training loss of each cell on one log axis, with the baseline and half of it.

    curves: cell -> (batch losses so far, why it stopped or None)."""
    x_max = max(int(budget), 1)
    data = []
    for cell, (loss, stopped) in curves.items():
        loss = np.asarray(loss, dtype=np.float64)
        idx = thin(loss.size)
        label = CELL_NAMES.get(cell, cell)
        data.append(_line((idx + 1).tolist(), _f32(smooth(loss)[idx]) if loss.size else [],
                          label + (" (stopped)" if stopped else ""), CELL_COLORS.get(cell, GREY), width=3,
                          dash=DASHES.get(cell), hover=f"{label}<br>update %{{x}}<br>smoothed loss %{{y:.4g}}<extra></extra>"))
    base, ann = _baseline(baseline, baseline_name, x_max)
    if base:
        base.append(_line([0, x_max], [baseline / 2] * 2, "half the baseline", GREY, width=1.5, dash="dot",
                          hoverinfo="skip"))
    return _figure(data + base, _layout("Smoothed training loss of the three cells: same data, seed and budget", "update",
                                        "smoothed training loss", height=height, xaxis=dict(range=[0, x_max * 1.01]),
                                        yaxis=dict(type="log", exponentformat="power"), annotations=ann))


def left_baseline(loss, baseline: float, weight: float = SMOOTH) -> int | None:
    """The first update after which the smoothed loss stays below half the baseline (None: never)."""
    s = smooth(loss, weight)
    below = s < baseline / 2
    if not below.size or not below[-1]:
        return None
    above = np.flatnonzero(~below)
    return int(above[-1] + 2) if above.size else 1
