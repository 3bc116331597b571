"""Shared look: colour-blind-safe colours, projector-sized fonts, animation controls."""
from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from _plotly_utils.utils import is_homogeneous_array, is_skipped_key, to_typed_array_spec

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


def note_box(fig: go.Figure, text: str, *, x: float = 0.5, y: float = 0.5, xanchor: str = "center",
             yanchor: str = "middle", size: int = FONT_SIZE) -> go.Figure:
    """An explanatory note on a light box with dark ink: legible on light and dark themes alike."""
    fig.add_annotation(text=text, x=x, y=y, xref="paper", yref="paper", xanchor=xanchor, yanchor=yanchor,
                       showarrow=False, align="center", font=dict(size=size, color=INK),
                       bgcolor=NOTE_BG, bordercolor=GREY, borderwidth=1, borderpad=8)
    return fig


def finite(a, dtype=np.float64) -> np.ndarray:
    """Copy of `a` with inf/NaN replaced by NaN (Plotly draws a gap)."""
    arr = np.asarray(a, dtype=np.float64)
    with np.errstate(all="ignore"):
        arr = np.where(np.isfinite(arr), arr, np.nan)
    return arr.astype(dtype)


def compact(a) -> np.ndarray:
    """float32 when every finite non-zero |value| fits comfortably, else float64 (log plots of
    vanishing gradients reach 1e-300, far below float32's range)."""
    arr = np.asarray(a, dtype=np.float64)
    with np.errstate(all="ignore"):
        v = np.abs(arr[np.isfinite(arr) & (arr != 0)])
    if v.size == 0 or (v.min() > 1e-30 and v.max() < 1e30):
        return arr.astype(np.float32)
    return arr


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


def log_axis(fig: go.Figure, yrange, **where) -> go.Figure:
    """Log y axis with fixed range, powers of ten as 10^k and at most ~8 labelled decades."""
    dtick = decade_step(float(yrange[1] - yrange[0]))
    if where:   # a selection of axes (row=, col=, ...): Plotly's own, validated path
        fig.update_yaxes(type="log", range=list(yrange), exponentformat="power", dtick=dtick,
                         minor=dict(showgrid=False), **where)
        return fig
    # every y axis, as update_yaxes() would, merged without validation (see _update_layout_plain)
    _update_layout_plain(fig, {name: dict(type="log", range=[float(v) for v in yrange], exponentformat="power",
                                          dtick=dtick, minor=dict(showgrid=False))
                               for name in _axis_names(fig, "yaxis")})
    return fig


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
    k = min(n, max_frames)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def _merge(into: dict, update: dict) -> None:
    """Merge `update` into the plain dict `into` as `update_layout` does: nested dicts merged, others replaced."""
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def _axis_names(fig: go.Figure, prefix: str) -> list[str]:
    """The axes `fig.update_xaxes` / `update_yaxes` would change: `xaxis` always, and every `xaxis<n>` in the
    layout (Plotly selects the layout keys that start with the prefix)."""
    return [prefix] + sorted((k for k in fig._layout if k.startswith(prefix) and k != prefix),
                             key=lambda k: int(k[len(prefix):] or 0))


def _update_layout_plain(fig: go.Figure, update: dict) -> None:
    """`fig.update_layout(update)` without Plotly's per-property validation: the change is merged into the
    plain layout dict that the figure's Layout object reads its properties from (`fig._layout`), so
    `fig.layout.title.text` and `fig.to_dict()` see it at once. Lists of objects go at the top level only
    (`updatemenus=[...]`, not inside another key). For the fixed, known-good keys of this module
    only (validating them cost 5–20 ms per figure, most of a figure's build time); a wrong key would not
    be caught here, which tests/test_viz_style.py checks against the validated path."""
    if fig._in_batch_mode:   # batch_update defers its changes: take the validated path
        fig.update_layout(update)
        return
    _merge(fig._layout, update)
    # A list of objects at the top (updatemenus, sliders, annotations) is read through objects that the
    # Layout caches, one per element: drop them so that they are made again from the new list when read.
    cached = fig._layout_obj._compound_array_props
    for k, v in update.items():
        if isinstance(v, (list, tuple)):
            cached.pop(k, None)


def style(fig: go.Figure, title: str, xlabel: str, ylabel: str, *, height: int = 430,
          legend_below: bool = False) -> go.Figure:
    """Title, axis labels and projector-friendly fonts. Colours come from the theme.

    Sizes are set on every text element explicitly so that Streamlit's theme keeps them.
    With `legend_below` (historic name) the legend is a horizontal row above the plot.
    The result is the same as `style_validated` (the update_layout / update_xaxes version), made
    without validating each property.
    """
    update = dict(
        title=dict(text=title, font=dict(size=TITLE_SIZE), x=0.0, xanchor="left"),
        font=dict(size=FONT_SIZE),
        height=height,
        margin=dict(l=80, r=30, t=120 if legend_below else 70, b=70),
        hoverlabel=dict(font=dict(size=FONT_SIZE)),
        legend=dict(font=dict(size=FONT_SIZE - 1)),
    )
    for prefix, label in (("xaxis", xlabel), ("yaxis", ylabel)):
        for name in _axis_names(fig, prefix):
            update[name] = dict(automargin=True, tickfont=dict(size=FONT_SIZE - 1),
                                title=dict(font=dict(size=FONT_SIZE), text=label))
    if legend_below:
        update["legend"].update(orientation="h", yanchor="bottom", y=1.01, x=0.0, xanchor="left")
    _update_layout_plain(fig, update)
    return fig


def style_validated(fig: go.Figure, title: str, xlabel: str, ylabel: str, *, height: int = 430,
                    legend_below: bool = False) -> go.Figure:
    """`style` through Plotly's validated API: the reference the tests compare `style` with."""
    fig.update_layout(
        title=dict(text=title, font=dict(size=TITLE_SIZE), x=0.0, xanchor="left"),
        font=dict(size=FONT_SIZE),
        height=height,
        margin=dict(l=80, r=30, t=70, b=70),
        hoverlabel=dict(font_size=FONT_SIZE),
        legend=dict(font=dict(size=FONT_SIZE - 1)),
    )
    axis = dict(automargin=True, tickfont=dict(size=FONT_SIZE - 1), title_font=dict(size=FONT_SIZE))
    fig.update_xaxes(title_text=xlabel, **axis)
    fig.update_yaxes(title_text=ylabel, **axis)
    if legend_below:
        fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0.0,
                                      xanchor="left"),
                          margin=dict(t=120))
    return fig


def animation_controls(fig: go.Figure, names: Sequence[str], *, prefix: str, duration: int = 80,
                       redraw: bool = False, active: int | None = None,
                       gap_px: int = 70) -> go.Figure:
    """Play / pause buttons and a frame slider `gap_px` pixels below the plot area (merged into the
    plain layout: validating one slider step per frame cost milliseconds per figure)."""
    if names:
        _update_layout_plain(fig, animation_update(fig, names, prefix=prefix, duration=duration, redraw=redraw,
                                                   active=active, gap_px=gap_px))
    return fig


def animation_update(fig: go.Figure, names: Sequence[str], *, prefix: str, duration: int = 80,
                     redraw: bool = False, active: int | None = None, gap_px: int = 70) -> dict:
    """The layout update of `animation_controls` (a plain dict, as `update_layout` would take it)."""
    m = fig.layout.margin
    bottom = max(90 + gap_px, m.b or 0)
    plot_h = max(80, (fig.layout.height or 450) - (m.t or 0) - bottom)
    y = -gap_px / plot_h
    play = dict(frame=dict(duration=duration, redraw=redraw), fromcurrent=False,
                transition=dict(duration=0), mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0),
                 mode="immediate")
    return dict(
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
    )


def empty(title: str, message: str, height: int = 300) -> go.Figure:
    """A placeholder figure carrying a message (never an empty chart without a reason)."""
    fig = go.Figure()
    note_box(fig, message)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, title, "", "", height=height)


def colorscale(name):
    """A named colour scale as Plotly stores it once validated (the list of [position, colour])."""
    return go.Heatmap(colorscale=name).colorscale


_SHORT_TYPES = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
                "float32": "f4", "float64": "f8"}
_NARROW = {"int64": (np.int8, np.int16, np.int32), "uint64": (np.uint8, np.uint16, np.uint32)}


def typed_array(v):
    """Plotly's typed-array spec ({"dtype", "bdata"[, "shape"]}) of a numeric numpy array, as
    `_plotly_utils.utils.to_typed_array_spec` makes it (64-bit integers narrowed to the smallest type
    that holds them), without its detour through narwhals, which costs about a millisecond per array.
    Anything else goes to Plotly's own function."""
    if not isinstance(v, np.ndarray) or v.size == 0 or v.dtype.name not in _SHORT_TYPES.keys() | _NARROW.keys():
        return to_typed_array_spec(v)
    if v.dtype.name in _NARROW:
        lo, hi = v.min(), v.max()
        for t in _NARROW[v.dtype.name]:
            if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
                v = v.astype(t)
                break
        else:
            return np.array(v)
    out = {"dtype": _SHORT_TYPES[v.dtype.name], "bdata": base64.b64encode(np.ascontiguousarray(v)).decode("ascii")}
    if v.ndim > 1:
        out["shape"] = str(v.shape)[1:-1]
    return out


def _encoded(obj):
    """A copy of plain dicts and lists with every numpy array that is a dict value turned into Plotly's
    typed-array spec: what `Figure.to_dict` makes of a figure's properties (deepcopy, then
    `convert_to_base64`), without deep-copying each array first."""
    if isinstance(obj, dict):
        return {k: (copy.deepcopy(v) if is_skipped_key(k) else
                    typed_array(v) if is_homogeneous_array(v) else _encoded(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encoded(v) for v in obj]
    if isinstance(obj, (np.generic, np.ndarray)):
        # a numpy scalar, or an array that is not a property's value (an element of a list: a row of z),
        # as Python numbers of the same value, as Plotly's stdlib encoder writes them: orjson would write
        # float32 with float32's shortest digits, which read back as a slightly different float64
        return obj.tolist()
    return copy.deepcopy(obj)


def fast_to_dict(fig: go.Figure) -> dict:
    """`fig.to_dict()`, the same JSON, in a fraction of the time (see `typed_array`)."""
    res = {"data": _encoded(fig._data), "layout": _encoded(fig._layout)}
    raw = fig.__dict__.get("_raw_frames")
    frames = raw if raw is not None else [f._props for f in fig._frame_objs]
    if frames:
        res["frames"] = _encoded(frames)
    return res


class FastFigure(go.Figure):
    """A go.Figure whose animation frames stay plain dicts until someone reads `fig.frames`.

    Validating the frames (one go.Frame, and one trace object per animated trace, per frame) was most
    of the time these figures took to build, and `to_dict()` then deep-copied them again. Here
    `to_dict()` (what Plotly's JSON and `st.plotly_chart` use) encodes the plain frames directly; reading
    or assigning `fig.frames` validates them as usual, so code and tests that inspect frames see
    ordinary go.Frame objects, and the JSON is the same either way.
    """

    def __init__(self, data: list[dict], layout: dict, frames: list[dict]):
        super().__init__(dict(data=data, layout=layout), _validate=False)
        self._raw_frames = list(frames)

    _lock = threading.Lock()   # a cached figure is shared by sessions: validate its frames once

    def _materialize(self) -> None:
        with self._lock:
            raw = self.__dict__.get("_raw_frames")
            if raw is not None:
                go.Figure.frames.fset(self, raw)
                self._raw_frames = None

    @property
    def frames(self):
        self._materialize()
        return go.Figure.frames.fget(self)

    @frames.setter
    def frames(self, value):
        self._raw_frames = None
        go.Figure.frames.fset(self, value)

    def to_dict(self) -> dict:
        with self._lock:
            return fast_to_dict(self)


def _copy_tree(obj):
    """A copy of nested dicts and lists (the leaves, strings and numbers, are shared)."""
    if isinstance(obj, dict):
        return {k: _copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy_tree(v) for v in obj]
    return obj


def freeze(fig: go.Figure) -> go.Figure:
    """Encode `fig` once (`fast_to_dict`) and make `fig.to_dict()` hand out copies of that dict: for
    figures kept in a cache and shown again and again, since `st.plotly_chart` calls `to_dict()` on
    every rerun (Plotly's own deep-copies and re-encodes every array: 0.1 s for the PCA path; a copy of
    the encoded dict, whose arrays are already strings, takes a few milliseconds). The figure itself
    must not be modified afterwards; the dicts handed out may be."""
    d = fast_to_dict(fig)
    object.__setattr__(fig, "to_dict", lambda: _copy_tree(d))
    return fig


def fast_figure(data: list[dict], layout: dict, frames: list[dict]) -> go.Figure:
    """A figure from plain trace, layout and frame dicts in one step.

    Traces and layout skip Plotly's per-property validation (`_validate=False`): they are built
    here from known-good keys, and validating hundreds of small objects one by one is what
    made these builders slow. Frames stay plain dicts until read (`FastFigure`).
    """
    return FastFigure(data, {k: v for k, v in layout.items() if not (isinstance(v, list) and not v)}, frames)
