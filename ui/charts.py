"""Every chart of the lab goes through `show_chart`: one toolbar, one CSV export, projector mode.

- The toolbar (Plotly's mode bar) downloads the chart as a PNG at a projector-friendly size
  (`IMAGE_WIDTH` CSS pixels wide at twice the pixel density) and, through a second button added in
  the browser (`SVG_BUTTON_JS`), as an SVG of the same size. Plotly's configuration is JSON here, so
  it cannot carry a button of our own; the script adds it next to Plotly's camera and has the
  camera download with the SVG format.
- Under each chart a small **CSV** button downloads the numbers behind it (`figure_csv`), made only
  when clicked: a page view does not pay for its exports.
- With `?projector=1` (ui/teacher.py) the chart is drawn from a restyled copy of the spec
  (`projector_spec`): larger text, thicker lines, bigger markers. Cached specs are shared between
  sessions and are never modified.
- Every chart is a plain spec (viz/spec.py), encoded once per draw and handed to Streamlit through
  `PlotlySpec`, which Streamlit serialises without validating it again.
"""
from __future__ import annotations

import csv
import io
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

from ui import keys
from viz.spec import Spec, copy_tree, encode
from viz.style import (
    PROJECTOR_FONT_MIN,
    PROJECTOR_FONT_SCALE,
    PROJECTOR_HEIGHT_SCALE,
    PROJECTOR_LABEL_SCALE,
    PROJECTOR_LINE_MIN,
    PROJECTOR_LINE_SCALE,
    PROJECTOR_MARKER_SCALE,
    PROJECTOR_TITLE_MIN,
    settled_margins,
)

IMAGE_WIDTH = 1280        # CSS pixels of a PNG/SVG from the toolbar (its height: the chart's own)
IMAGE_SCALE = 2           # PNG pixel density: a 2560-pixel-wide image, sharp on any projector
TEACHER_STATE = keys.TEACHER_LINK  # session key: the TeacherLink of this session (set by the sidebar)
_PAGE_STATE = keys.THIS_PAGE       # session key: the page title (set by ui.sidebar.page_setup)


# --------------------------------------------------------------------------- the wrapper

def show_chart(fig: Spec, key: str, *, container: Any = st, filename: str | None = None,
               config: Mapping[str, Any] | None = None, csv: bool = True, **kwargs: Any) -> None:
    """`container.plotly_chart(...)` of the spec `fig` (viz/spec.py) with the lab's toolbar, the CSV
    button below and projector mode. `config` entries are added to (and win over) the lab's; other
    keyword arguments go to `plotly_chart`. `csv=False` for pure diagrams that hold no data.
    `fig` is not changed (cached specs are shared by sessions)."""
    name = filename or default_filename(key)
    projector = projector_on()
    encoded = encode(settled_margins(projector_spec(fig))) if projector else encoded_once(fig)
    container.plotly_chart(PlotlySpec(encoded), key=key,
                           config=chart_config(fig, name, projector=projector, extra=config), **kwargs)
    if csv:
        _csv_button(container, lambda: figure_csv(fig), key=f"csv_{key}", file_name=f"{name}.csv")


def _csv_button(container: Any, data: Callable[[], str], *, key: str, file_name: str) -> None:
    container.download_button("CSV", data=data, file_name=file_name, mime="text/csv", key=key,
                              on_click="ignore", type="tertiary", icon=":material/download:",
                              help="The numbers behind this chart, one column per trace and axis.")


def projector_on() -> bool:
    link = st.session_state.get(TEACHER_STATE)
    return bool(getattr(link, "projector", False))


def default_filename(key: str) -> str:
    page = str(st.session_state.get(_PAGE_STATE, "") or "chart")
    return "unrolled-" + _slug(page) + "-" + _slug(key)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


def chart_config(fig: Spec, filename: str, *, projector: bool = False,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Plotly's config: no logo, the camera button downloads a PNG `IMAGE_WIDTH` wide at the chart's
    own height (taller in projector mode) at `IMAGE_SCALE`."""
    height = int((fig["layout"].get("height") or 450) * (PROJECTOR_HEIGHT_SCALE if projector else 1.0))
    out: dict[str, Any] = {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "width": IMAGE_WIDTH,
                                 "height": height, "scale": IMAGE_SCALE},
    }
    out.update(extra or {})
    return out


# Specs kept in a cache (ui.runs.figure_cache) are encoded once, when made, not on every rerun that shows
# them: by identity, holding the spec so that its id stays its own. Bounded; an evicted entry is encoded again.
_SHARED: OrderedDict[int, tuple[Spec, dict]] = OrderedDict()
_SHARED_MAX = 96
_SHARED_LOCK = threading.Lock()


def shared(spec: Spec) -> Spec:
    """Mark `spec` as shared and unchanging (a cached figure): its encoding is kept for every later draw."""
    enc = encode(settled_margins(spec))
    with _SHARED_LOCK:
        _SHARED[id(spec)] = (spec, enc)
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
    return spec


def encoded_once(spec: Spec) -> dict:
    """What the page gets for `spec`: `encode(settled_margins(spec))`, from the kept encoding when `spec`
    was marked `shared`."""
    with _SHARED_LOCK:
        hit = _SHARED.get(id(spec))
        if hit is not None and hit[0] is spec:
            _SHARED.move_to_end(id(spec))
            return hit[1]
    return encode(settled_margins(spec))


@lru_cache(maxsize=8)
def _template(name: str) -> dict:
    """The JSON of the Plotly template `name`, as `go.Figure().to_dict()` puts it into every figure's layout
    (Streamlit registers its own, "streamlit", whose placeholder colours its front end replaces with the
    theme's). Made once per process; shared, never changed."""
    return go.Figure().to_dict()["layout"].get("template", {})


class PlotlySpec(go.Figure):
    """The adapter between an encoded spec (`viz.spec.encode`) and `st.plotly_chart`.

    Streamlit 1.67 accepts a figure or a dict; a dict it validates again, through the whole Plotly object
    model (`plotly.tools.return_figure_from_figure_or_data`), which is the cost the specs avoid. A
    `go.Figure` it asks for `to_dict()` and serialises that. So this is a `go.Figure` that carries the
    encoded spec and answers `to_dict()` with it, the default template added as Plotly would add it.
    `go.Figure.__init__` (about a millisecond of empty Plotly objects) is not run: nothing reads them.
    """

    def __new__(cls, encoded: dict) -> PlotlySpec:
        self = go.Figure.__new__(cls)
        layout = {**encoded.get("layout", {}), "template": _template(pio.templates.default)}
        object.__setattr__(self, "_encoded_spec", {**encoded, "layout": layout})
        return self

    def __init__(self, encoded: dict) -> None:   # the state is set in __new__
        pass

    def to_dict(self) -> dict:
        return self._encoded_spec

    def to_plotly_json(self) -> dict:
        return self._encoded_spec

    def __repr__(self) -> str:
        return f"PlotlySpec({len(self._encoded_spec.get('data', []))} traces)"


# --------------------------------------------------------------------------- projector mode

def _scale_font(font: dict, minimum: float) -> None:
    """Larger text; a label in a diagram (minimum 0) grows by less, so neighbours keep apart."""
    size = font.get("size")
    if isinstance(size, (int, float)) and not isinstance(size, bool):
        scale = PROJECTOR_FONT_SCALE if minimum else PROJECTOR_LABEL_SCALE
        font["size"] = round(max(size * scale, minimum), 1)


def _line_width(w: float) -> float:
    """Thicker lines: main lines (2 px and up) at least PROJECTOR_LINE_MIN; hairlines and outlines
    thicker in proportion; invisible ones (a width under 0.5, used to hide a trace in a frame) kept.
    Monotone, so widths that encode a size (the Unroll arrows) keep their order."""
    if w < 0.5:
        return w
    if w < 2.0:
        return round(w * PROJECTOR_LINE_SCALE, 2)
    return round(max(w * PROJECTOR_LINE_SCALE, PROJECTOR_LINE_MIN), 2)


def _scale_numbers(value: Any, factor: float) -> Any:
    """A number, a list of numbers or a numpy array, times `factor` (a new value: arrays are shared)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return round(value * factor, 2)
    if isinstance(value, (list, tuple)):
        return [_scale_numbers(v, factor) for v in value]
    if isinstance(value, np.ndarray):
        return (value.astype(np.float64) * factor).astype(np.float32)
    return value


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _restyle(obj: Any, key: str = "", font_min: float = PROJECTOR_FONT_MIN) -> None:
    """Walk a figure dict in place: fonts, line widths, marker sizes, arrow widths. Labels placed in
    a diagram (annotations) grow in proportion only: a minimum would make neighbours collide."""
    if isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)):
                _restyle(item, key, font_min)
        return
    if not isinstance(obj, dict):
        return
    if key == "annotations":
        font_min = 0.0
    for k, v in obj.items():
        if k.endswith("font") and isinstance(v, dict):
            _scale_font(v, font_min)
        elif k == "title" and isinstance(v, dict) and isinstance(v.get("font"), dict) and key == "layout":
            _scale_font(v["font"], PROJECTOR_TITLE_MIN)
            continue
        elif _number(v) and (k == "arrowwidth" or (k == "width" and key == "line")):
            obj[k] = _line_width(float(v))
            continue
        elif k == "size" and key == "marker":
            obj[k] = _scale_numbers(v, PROJECTOR_MARKER_SCALE)
            continue
        if isinstance(v, (dict, list)) and k not in ("x", "y", "z", "text", "customdata"):
            _restyle(v, k, font_min)


def projector_spec(fig: Spec) -> Spec:
    """The spec restyled for a projector: a new spec (its dicts and lists copied, its arrays shared and
    never written to), so `fig` is not touched."""
    spec = copy_tree(fig)
    layout = spec.setdefault("layout", {})
    font = layout.setdefault("font", {})
    font.setdefault("size", PROJECTOR_FONT_MIN / PROJECTOR_FONT_SCALE)
    title = layout.get("title")
    if isinstance(title, dict):
        title.setdefault("font", {}).setdefault("size", PROJECTOR_TITLE_MIN / PROJECTOR_FONT_SCALE)
    if isinstance(title, dict) and "y" not in title:
        # at the very top: legend rows above the plot (now taller) stay clear of it
        title.update(y=1.0, yref="container", yanchor="top", pad=dict(t=12))
    _restyle(layout, "layout")
    _restyle(spec.get("data", []), "data")
    for frame in spec.get("frames", []) or []:
        _restyle(frame.get("data", []), "data")
        if isinstance(frame.get("layout"), dict):
            _restyle(frame["layout"], "layout")
    if isinstance(layout.get("height"), (int, float)):
        layout["height"] = int(layout["height"] * PROJECTOR_HEIGHT_SCALE)
    # room for the larger title, legend rows above the plot and play controls below it
    margin = layout.get("margin")
    if isinstance(margin, dict):
        for side in ("t", "b"):
            if _number(margin.get(side)):
                margin[side] = int(margin[side] * PROJECTOR_FONT_SCALE)
    for slider in layout.get("sliders") or []:   # beside the larger Play / Pause buttons
        if _number(slider.get("x")) and _number(slider.get("len")) and slider["len"] > 0.4:
            slider["x"], slider["len"] = slider["x"] + 0.08, slider["len"] - 0.08
    return spec


# --------------------------------------------------------------------------- CSV

_COORDS = ("x", "y", "z", "r", "theta", "a", "b", "c")


def _values(v: Any) -> np.ndarray | None:
    if v is None or isinstance(v, (str, bytes)):
        return None
    try:
        arr = np.asarray(v)
    except (ValueError, TypeError):   # ragged nested lists
        return np.asarray(v, dtype=object)
    return arr if arr.ndim else None


def _cell(v: Any) -> str:
    """One value as text; a number exactly, as the shortest text that reads back to the same float64
    (a float32 value is written as the float64 it equals, as in the chart's JSON)."""
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return "NaN" if np.isnan(v) else repr(float(v))
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return str(int(v))
    return str(v)


def _axis_title(layout: dict, trace: dict, coord: str) -> str:
    ref = trace.get(f"{coord}axis") or coord
    name = ref.replace(coord, f"{coord}axis", 1) if ref[:1] == coord else f"{coord}axis"
    title = (layout.get(name) or {}).get("title")
    text = title.get("text") if isinstance(title, dict) else title
    return re.sub(r"<[^>]+>", "", str(text)).strip() if text else ""


def figure_columns(fig: Spec) -> dict[str, list]:
    """The numbers behind a figure's traces (not its animation frames), as named columns.

    Each trace gives one column per coordinate it holds ("<trace name>: x (<axis title>)", y, z, ...);
    a 2-D z (heatmap, contour) is written in long form, one row per cell: x, y and z. A coordinate
    left implicit (a heatmap's x and y, a line's x) is its index. Trace names are made unique.
    """
    cols: dict[str, list] = {}
    seen: dict[str, int] = {}
    layout = fig["layout"]
    for i, props in enumerate(fig["data"]):
        colorbar = (props.get("colorbar") or {}).get("title") or {}
        label = props.get("name") or (colorbar.get("text") if isinstance(colorbar, dict) else colorbar)
        base = re.sub(r"<[^>]+>", "", str(label or "")).strip() or f"trace {i + 1}"
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base} ({seen[base]})"
        arrays = {c: _values(props.get(c)) for c in _COORDS}
        z = arrays["z"]
        if z is not None and z.ndim == 2:
            ny, nx = z.shape
            x = arrays["x"] if arrays["x"] is not None and len(arrays["x"]) == nx else np.arange(nx)
            y = arrays["y"] if arrays["y"] is not None and len(arrays["y"]) == ny else np.arange(ny)
            arrays = {"x": np.tile(np.asarray(x), ny), "y": np.repeat(np.asarray(y), nx), "z": z.ravel()}
        else:
            arrays = {c: a.ravel() if a.dtype != object else a for c, a in arrays.items() if a is not None}
            if "y" in arrays and "x" not in arrays and props.get("type", "scatter") in ("scatter", "bar"):
                arrays = {"x": np.arange(len(arrays["y"])), **arrays}
        for c, a in arrays.items():
            title = _axis_title(layout, props, c) if c in ("x", "y") else ""
            cols[f"{name}: {c}" + (f" ({title})" if title else "")] = list(a)
    return cols


def figure_csv(fig: Spec) -> str:
    """`figure_columns` as CSV text; shorter columns end in empty cells."""
    cols = figure_columns(fig)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(cols.keys())
    n = max((len(v) for v in cols.values()), default=0)
    values = list(cols.values())
    for r in range(n):
        w.writerow([_cell(col[r]) if r < len(col) else "" for col in values])
    return out.getvalue()


# --------------------------------------------------------------------------- the SVG button

# Added once per page (ui/sidebar.py draws it): next to the camera of every chart's mode bar, a button
# that has the camera download an SVG instead of a PNG. The camera reads its options when clicked, so
# the format is switched for that one click and restored at once.
SVG_BUTTON_JS = r"""
<div class="unrolled-script"></div>
<script>
(() => {
  if (window.__unrolledSvgButtons) return;
  window.__unrolledSvgButtons = true;
  // "\x3c" for "<": the HTML sanitizer drops a script whose text looks like markup
  const ICON = '\x3csvg viewBox="0 0 24 24" width="16" height="16" class="icon" style="pointer-events:none">'
    + '\x3ctext x="12" y="16" text-anchor="middle" font-size="9" font-weight="700" font-family="sans-serif"'
    + ' fill="currentColor">SVG\x3c/text>\x3c/svg>';
  const add = (plot) => {
    const bar = plot.querySelector('.modebar');
    if (!bar || bar.querySelector('[data-unrolled-svg]')) return;
    const camera = [...bar.querySelectorAll('.modebar-btn')]
      .find(a => (a.getAttribute('data-title') || '').startsWith('Download plot'));
    if (!camera) return;
    const btn = document.createElement(camera.tagName.toLowerCase());
    if (btn.tagName === 'BUTTON') btn.type = 'button';
    btn.className = 'modebar-btn';
    btn.setAttribute('rel', 'tooltip');
    btn.setAttribute('data-title', 'Download plot as an SVG');
    btn.setAttribute('aria-label', 'Download plot as an SVG');
    btn.setAttribute('data-unrolled-svg', '1');
    btn.innerHTML = ICON;
    btn.style.color = 'rgba(68, 68, 68, 0.6)';
    btn.addEventListener('click', (ev) => {
      ev.preventDefault();
      const opts = (plot._context || {}).toImageButtonOptions;
      if (!opts) return;
      const format = opts.format, scale = opts.scale;
      opts.format = 'svg'; opts.scale = 1;
      try { camera.click(); } finally { opts.format = format; opts.scale = scale; }
    });
    camera.parentNode.insertBefore(btn, camera.nextSibling);
  };
  let queued = false;
  const scan = () => { queued = false; document.querySelectorAll('.js-plotly-plot').forEach(add); };
  new MutationObserver(() => { if (!queued) { queued = true; requestAnimationFrame(scan); } })
    .observe(document.body, {childList: true, subtree: true});
  scan();
})();
</script>
"""
