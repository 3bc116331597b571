"""Shared look: colour-blind-safe colours, projector-sized fonts, log axes, animation controls (on specs)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from viz.payload import evenly_spaced
from viz.spec import Spec, add_annotation, axis_names, figure, update_axes, update_layout, update_yaxes

# Okabe–Ito palette (safe for the common colour-vision deficiencies).
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#8c8c8c"
INK = "#1a1a1a"                      # text on light note boxes
NOTE_BG = "rgba(255,255,255,0.93)"   # note boxes: light in both themes, so INK always reads

# One colour per shared weight matrix, used on every page.
WEIGHT_COLORS = {"W_hx": GREEN, "W_hh": BLUE, "W_hy": ORANGE}

# One colour per cell wherever the three are compared (Okabe–Ito, distinct in every common CVD).
CELL_COLORS = {"rnn": VERMILION, "lstm": BLUE, "gru": GREEN}
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}

# The gates of the gated cells: what each is called, and whether it is a sigmoid (values in [0, 1])
# or the tanh candidate (values in [−1, 1]).
GATE_LABELS = {"i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o",
               "r": "reset gate r", "z": "update gate z", "n": "candidate n"}
SIGNED_GATES = frozenset({"g", "n"})

SEQUENTIAL = "Viridis"   # magnitudes
DIVERGING = "RdBu_r"     # signed values, symmetric around 0 (red positive, blue negative)

FONT_SIZE = 16
TITLE_SIZE = 20
SMALL_SIZE = 14   # the smallest text in any figure (tick labels of sliders, labels in the graph)
MAX_FRAMES = 40

# Projector mode (?projector=1, applied by ui/charts.py to a copy of each figure): for a room of 200.
PROJECTOR_FONT_SCALE = 1.4    # every text size times this ...
PROJECTOR_FONT_MIN = 20       # ... and at least this (tick labels, legends, notes)
PROJECTOR_TITLE_MIN = 28      # chart titles at least this
PROJECTOR_LABEL_SCALE = 1.15  # labels placed inside a diagram (annotations) grow by less
PROJECTOR_LINE_SCALE = 1.6    # line and arrow widths times this ...
PROJECTOR_LINE_MIN = 4.0      # ... and main lines (2 px and up) at least this
PROJECTOR_MARKER_SCALE = 1.5  # marker sizes times this
PROJECTOR_HEIGHT_SCALE = 1.3  # taller charts: the larger text takes room from the plot area


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(k: float) -> str:
    """10^k in plain unicode (10⁻³): measured correctly by Plotly, unlike <sup> markup in colour bars."""
    return "10" + f"{int(k)}".translate(_SUPERSCRIPT)


def note_box(fig: Spec, text: str, *, x: float = 0.5, y: float = 0.5, xanchor: str = "center",
             yanchor: str = "middle", size: int = FONT_SIZE) -> Spec:
    """An explanatory note on a light box with dark ink: legible on light and dark themes alike."""
    return add_annotation(fig, text=text, x=x, y=y, xref="paper", yref="paper", xanchor=xanchor, yanchor=yanchor,
                          showarrow=False, align="center", font=dict(size=size, color=INK),
                          bgcolor=NOTE_BG, bordercolor=GREY, borderwidth=1, borderpad=8)


def finite(a, dtype=np.float64) -> np.ndarray:
    """Copy of `a` with inf/NaN replaced by NaN (Plotly draws a gap)."""
    arr = np.asarray(a, dtype=np.float64)
    with np.errstate(all="ignore"):
        arr = np.where(np.isfinite(arr), arr, np.nan)
    return arr.astype(dtype)


def positive(a) -> np.ndarray:
    """For log axes: finite strictly positive values, NaN elsewhere (float64 keeps 1e-300)."""
    arr = finite(a)
    with np.errstate(invalid="ignore"):
        arr[~(arr > 0)] = np.nan
    return arr


def log_range(*series, pad: float = 0.3, default=(-1.0, 1.0)) -> list[float]:
    """[lo, hi] in log10 units covering the positive finite values of the series."""
    vals = np.concatenate([positive(s).ravel() for s in series]) if series else np.array([])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return list(default)
    lo, hi = np.log10(vals.min()), np.log10(vals.max())
    if hi - lo < 1.0:
        mid = 0.5 * (hi + lo)
        lo, hi = mid - 0.5, mid + 0.5
    return [float(max(lo - pad, -320.0)), float(min(hi + pad, 308.0))]


def view_band(yrange, decades: float = 3.0) -> tuple[float, float]:
    """Values (not logs) a few decades beyond a log-axis range, kept inside float64."""
    lo = 10.0 ** max(yrange[0] - decades, -320.0)
    hi = 10.0 ** min(yrange[1] + decades, 308.0)
    return lo, hi


def log_axis(fig: Spec, yrange, *, row: int | None = None) -> Spec:
    """Log y axis with fixed range, powers of ten as 10^k and at most ~8 labelled decades (every y axis,
    or the one of `row`)."""
    return update_yaxes(fig, row=row, type="log", range=[float(v) for v in yrange], exponentformat="power",
                        dtick=decade_step(float(yrange[1] - yrange[0])), minor=dict(showgrid=False))


NICE_STEPS = (1, 2, 3, 5, 10, 20, 25, 50, 100)


def decade_step(span: float, max_labels: float = 8.0) -> int:
    """Decades between labelled ticks: a round number (1, 2, 5, 10, 20, 50, ...) giving at most
    about `max_labels` labels, so a class reads 10⁰, 10⁵⁰, 10¹⁰⁰ rather than 10³⁹, 10⁷⁸."""
    need = span / max_labels
    for step in NICE_STEPS:
        if step >= need:
            return step
    return int(100 * np.ceil(need / 100))


def widen_for(yrange, *overlays, extra: float = 8.0) -> list[float]:
    """Widen a log10 range so overlay lines show, by at most `extra` decades each way."""
    lo, hi = yrange
    with np.errstate(divide="ignore", invalid="ignore"):
        for o in overlays:
            v = positive(o)
            v = v[np.isfinite(v)]
            if v.size:
                hi = max(hi, min(float(np.log10(v.max())) + 0.3, yrange[1] + extra, 308.0))
                lo = min(lo, max(float(np.log10(v.min())) - 0.3, yrange[0] - extra, -320.0))
    return [lo, hi]


def frame_steps(n: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """At most `max_frames` increasing indices in [0, n) that include both ends."""
    if n <= 0:
        return np.zeros(0, dtype=int)
    return evenly_spaced(n, max_frames)


def style(fig: Spec, title: str, xlabel: str, ylabel: str, *, height: int = 430,
          legend_above: bool = False, legend_below: bool | None = None) -> Spec:
    """Title, axis labels (on every x and y axis) and projector-friendly fonts. Colours come from the theme.

    Sizes are set on every text element explicitly so that Streamlit's theme keeps them.
    With `legend_above` the legend is a horizontal row above the plot (`legend_below` is its old name,
    still accepted).
    """
    if legend_below is not None:
        legend_above = legend_below
    update = dict(
        title=dict(text=title, font=dict(size=TITLE_SIZE), x=0.0, xanchor="left"),
        font=dict(size=FONT_SIZE),
        height=height,
        margin=dict(l=80, r=30, t=120 if legend_above else 70, b=70),
        hoverlabel=dict(font=dict(size=FONT_SIZE)),
        legend=dict(font=dict(size=FONT_SIZE - 1)),
    )
    if legend_above:
        update["legend"].update(orientation="h", yanchor="bottom", y=1.01, x=0.0, xanchor="left")
    update_layout(fig, update)
    for which, label in (("x", xlabel), ("y", ylabel)):
        update_axes(fig, which, automargin=True, tickfont=dict(size=FONT_SIZE - 1),
                    title=dict(font=dict(size=FONT_SIZE), text=label))
    return fig


def animation_controls(fig: Spec, names: Sequence[str], *, prefix: str, duration: int = 80,
                       redraw: bool = False, active: int | None = None, gap_px: int = 70) -> Spec:
    """Play / pause buttons and a frame slider `gap_px` pixels below the plot area, one step per frame
    name (nothing when there are no frames)."""
    if not names:
        return fig
    layout = fig["layout"]
    m = layout.get("margin", {})
    bottom = max(90 + gap_px, m.get("b") or 0)
    plot_h = max(80, (layout.get("height") or 450) - (m.get("t") or 0) - bottom)
    y = -gap_px / plot_h
    play = dict(frame=dict(duration=duration, redraw=redraw), fromcurrent=False,
                transition=dict(duration=0), mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0),
                 mode="immediate")
    return update_layout(fig, dict(
        margin=dict(b=bottom),
        updatemenus=[dict(
            type="buttons", direction="left", showactive=False, x=0.0, y=y,
            xanchor="left", yanchor="top", pad=dict(t=0, r=10),
            buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                     dict(label="❚❚ Pause", method="animate", args=[[None], pause])],
        )],
        sliders=[dict(
            active=len(names) - 1 if active is None else active,
            x=0.3, y=y + 12 / plot_h, len=0.7, xanchor="left", yanchor="top", pad=dict(t=0, b=0),
            currentvalue=dict(prefix=prefix, font=dict(size=FONT_SIZE - 1), offset=8),
            font=dict(size=SMALL_SIZE),
            steps=[dict(label=n, method="animate",
                        args=[[n], dict(frame=dict(duration=0, redraw=redraw), mode="immediate",
                                        transition=dict(duration=0))])
                   for n in names],
        )],
    ))


def empty(title: str, message: str, height: int = 300) -> Spec:
    """A placeholder figure carrying a message (never an empty chart without a reason)."""
    fig = note_box(figure(layout=dict(xaxis=dict(visible=False), yaxis=dict(visible=False))), message)
    return style(fig, title, "", "", height=height)


@lru_cache(maxsize=16)   # a few named scales
def _colorscale(name: str) -> tuple:
    import plotly.graph_objects as go  # once per name and process, never per figure
    return tuple(go.Heatmap(colorscale=name).colorscale)


def colorscale(name: str) -> list[list]:
    """A named colour scale as the list of [position, colour] that Plotly stores once it validates the name."""
    return [list(pc) for pc in _colorscale(name)]


# --------------------------------------------------------------------------- margins that already fit

# Plotly grows a margin to fit what sits in it (tick labels, axis titles, a legend or colour bar at the
# side) and then lays the chart out a second time. A new spec starts again from its own margins, so a
# chart whose margins are too small pays for two layouts on every redraw: about 50-160 ms per slider
# move on the pages with several charts. `settled_margins` reserves room for those parts up front from
# the spec itself; an estimate that falls short only costs the second layout again (autoexpand stays on).
MARGIN_LEFT = 100          # y tick labels such as 10⁻¹⁰⁰ and the axis title beside them
MARGIN_BOTTOM = 84         # x tick labels and the axis title below them
_CHAR_WIDTH = 0.5          # average glyph width of the UI font, in units of the font size
_TAG = re.compile(r"<[^>]+>")


def _text_width(text: str, size: float) -> float:
    return len(_TAG.sub("", str(text))) * _CHAR_WIDTH * size


def _legend_width(fig: Spec) -> float:
    """Pixels a vertical legend at the right takes (0 when there is none)."""
    layout = fig["layout"]
    legend = layout.get("legend") or {}
    shown = [t for t in fig["data"] if t.get("showlegend", True) is not False and t.get("name")
             and t.get("visible", True) is not False]
    explicit = any(t.get("showlegend") is True for t in shown)
    if layout.get("showlegend") is False or not shown or (len(shown) < 2 and not explicit):
        return 0.0
    if legend.get("orientation") == "h" or float(legend.get("x", 1.02)) <= 1.0:
        return 0.0
    size = float((legend.get("font") or {}).get("size") or FONT_SIZE - 1)
    title = ((legend.get("title") or {}).get("text")) or ""
    widest = max(max(_text_width(t["name"], size) for t in shown), _text_width(title, size))
    return widest + 48 + 2 * size       # the line/marker sample and padding


def _colorbar_width(fig: Spec) -> float:
    """Pixels the widest colour bar takes right of the plot (0 when there is none)."""
    bars = []
    for t in fig["data"]:
        marker = t.get("marker") or {}
        if marker.get("showscale") is True or ("colorbar" in marker and marker.get("showscale") is not False):
            bars.append(marker.get("colorbar") or {})          # a scatter coloured by a scale
        elif t.get("type") in ("heatmap", "contour") and t.get("showscale") is not False and (
                "coloraxis" not in t) and (t.get("type") == "heatmap" or "colorbar" in t):
            bars.append(t.get("colorbar") or {})
    bars += [v.get("colorbar") or {} for k, v in fig["layout"].items()
             if k.startswith("coloraxis") and isinstance(v, dict) and v.get("showscale") is not False]
    widths = [0.0]
    for cb in bars:
        tick = float((cb.get("tickfont") or {}).get("size") or FONT_SIZE - 1)
        labels = cb.get("ticktext") or ["-0.00"]
        w = float(cb.get("thickness", 30)) + max(_text_width(v, tick) for v in labels) + 46
        title = cb.get("title") or {}
        if title.get("text"):
            tsize = float((title.get("font") or {}).get("size") or FONT_SIZE)
            w += tsize + 10 if title.get("side") == "right" else 0.0
        widths.append(w)
    return max(widths)


def settled_margins(fig: Spec) -> Spec:
    """`fig` with its margins raised to fit its axis labels, legend and colour bar (a new spec sharing
    everything with `fig` but the layout's first level and the margin; `fig` itself when nothing
    changes). The left and bottom margins are raised only on charts with axis titles (not on diagrams);
    charts with fixed margins (autoexpand off) are left alone."""
    layout = fig["layout"]
    margin = dict(layout.get("margin") or {})
    if margin.get("autoexpand") is False:
        return fig
    names = axis_names(fig, "xaxis") + axis_names(fig, "yaxis")
    if any(((layout.get(n) or {}).get("title") or {}).get("text") for n in names):
        margin["l"] = max(float(margin.get("l", 80)), MARGIN_LEFT)
        margin["b"] = max(float(margin.get("b", 80)), MARGIN_BOTTOM)
    side = max(_legend_width(fig), _colorbar_width(fig))
    if side:
        margin["r"] = max(float(margin.get("r", 80)), round(side))
    if margin == dict(layout.get("margin") or {}):
        return fig
    out = dict(fig)
    out["layout"] = {**layout, "margin": margin}
    return out
