"""Figures as plain specs: what every builder in `viz/` returns, and the one encoder for the browser.

A spec is the JSON Plotly.js draws, as plain Python: ``{"data": [trace, ...], "layout": {...},
"frames": [...]}`` with numpy arrays where the numbers are. Building one costs what building the dicts
costs: no Plotly object model, no per-property validation on the request path. The tests hand every
builder's spec to ``plotly.graph_objects.Figure`` once, which validates it against Plotly's schema,
and check that its JSON is the JSON `encode` makes (tests/specs.py).

The functions below do, on a spec, what the `go.Figure` methods of the same name do on a figure
(the subset the builders use). Keys are written out in full (``line=dict(width=0)``, never Plotly's
``line_width`` shorthand): a spec is not validated here, so a shorthand would reach the browser as an
unknown key, and the tests would catch it.

`encode(spec)` turns it into the JSON-ready dict: every numeric numpy array becomes Plotly's typed
array (``{"dtype", "bdata"[, "shape"]}``, base64 of the raw bytes), numpy scalars become numbers,
tuples become lists. The spec itself is never changed, so a cached spec can be shared by sessions.
"""
from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Spec = dict[str, Any]


# --------------------------------------------------------------------------- building

def figure(data: Iterable[dict] = (), layout: dict | None = None, frames: Iterable[dict] = ()) -> Spec:
    """A new spec (its lists and layout are its own: the arguments are copied one level deep)."""
    return {"data": list(data), "layout": dict(layout or {}), "frames": list(frames)}


def trace(kind: str, **props: Any) -> dict:
    """One trace: ``trace("scatter", x=..., y=...)`` is ``go.Scatter(x=..., y=...)`` as a dict."""
    return {"type": kind, **props}


def scatter(**props: Any) -> dict:
    return trace("scatter", **props)


def heatmap(**props: Any) -> dict:
    return trace("heatmap", **props)


def bar(**props: Any) -> dict:
    return trace("bar", **props)


def contour(**props: Any) -> dict:
    return trace("contour", **props)


def _axis_ref(prefix: str, row: int) -> str:
    return prefix if row == 1 else f"{prefix}{row}"


def add_trace(spec: Spec, tr: dict, *, row: int | None = None) -> Spec:
    """Append a trace; with `row` (a `subplots` spec, one column) on that row's axes."""
    if row is not None:
        tr = {**tr, "xaxis": _axis_ref("x", row), "yaxis": _axis_ref("y", row)}
    spec["data"].append(tr)
    return spec


def add_scatter(spec: Spec, *, row: int | None = None, **props: Any) -> Spec:
    return add_trace(spec, scatter(**props), row=row)


def merge(into: dict, update: dict) -> dict:
    """Merge `update` into `into` as `update_layout` does: nested dicts merged, anything else replaced."""
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        elif isinstance(v, dict):
            into[k] = merge({}, v)
        else:
            into[k] = v
    return into


def update_layout(spec: Spec, update: dict | None = None, **props: Any) -> Spec:
    merge(spec["layout"], {**(update or {}), **props})
    return spec


def axis_names(spec: Spec, prefix: str) -> list[str]:
    """The axes `update_xaxes` / `update_yaxes` change: `xaxis` always, and every `xaxis<n>` of the layout."""
    layout = spec["layout"]
    return [prefix] + sorted((k for k in layout if k.startswith(prefix) and k[len(prefix):].isdigit()),
                             key=lambda k: int(k[len(prefix):]))


def update_axes(spec: Spec, which: str, *, row: int | None = None, **props: Any) -> Spec:
    """`update_xaxes(**props)` (which="x") or `update_yaxes` (which="y"): every such axis, or only the
    axis of `row` in a `subplots` spec."""
    prefix = which + "axis"
    names = [_axis_ref(prefix, row)] if row is not None else axis_names(spec, prefix)
    layout = spec["layout"]
    for name in names:
        merge(layout.setdefault(name, {}), props)
    return spec


def update_xaxes(spec: Spec, *, row: int | None = None, **props: Any) -> Spec:
    return update_axes(spec, "x", row=row, **props)


def update_yaxes(spec: Spec, *, row: int | None = None, **props: Any) -> Spec:
    return update_axes(spec, "y", row=row, **props)


def add_annotation(spec: Spec, **props: Any) -> Spec:
    spec["layout"].setdefault("annotations", []).append(props)
    return spec


def update_annotations(spec: Spec, **props: Any) -> Spec:
    for ann in spec["layout"].get("annotations", []):
        merge(ann, props)
    return spec


def add_shape(spec: Spec, **props: Any) -> Spec:
    spec["layout"].setdefault("shapes", []).append(props)
    return spec


def add_vline(spec: Spec, x: float, **props: Any) -> Spec:
    """A vertical line at data `x` across the whole plot height (as `go.Figure.add_vline`)."""
    return add_shape(spec, type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="y domain", **props)


def add_hline(spec: Spec, y: float, **props: Any) -> Spec:
    """A horizontal line at data `y` across the whole plot width (as `go.Figure.add_hline`)."""
    return add_shape(spec, type="line", x0=0, x1=1, xref="x domain", y0=y, y1=y, yref="y", **props)


def add_vrect(spec: Spec, x0: float, x1: float, **props: Any) -> Spec:
    """A band from data `x0` to `x1` across the whole plot height (as `go.Figure.add_vrect`)."""
    return add_shape(spec, type="rect", x0=x0, x1=x1, xref="x", y0=0, y1=1, yref="y domain", **props)


def subplots(rows: int, *, vertical_spacing: float, titles: Sequence[str] = ()) -> Spec:
    """Rows of plots over one shared x axis: the layout `make_subplots(rows, cols=1, shared_xaxes=True,
    vertical_spacing, subplot_titles)` makes (the bottom row carries the x tick labels; each title is an
    annotation just above its row)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    height = (1.0 - vertical_spacing * (rows - 1)) / rows
    layout: dict[str, Any] = {}
    bottom_x = _axis_ref("x", rows)
    annotations = []
    for r in range(1, rows + 1):
        top = 1.0 - (r - 1) * (height + vertical_spacing)
        lo = max(top - height, 0.0)
        x, y = _axis_ref("xaxis", r), _axis_ref("yaxis", r)
        layout[x] = {"anchor": _axis_ref("y", r), "domain": [0.0, 1.0]}
        if r < rows:
            layout[x].update(matches=bottom_x, showticklabels=False)
        layout[y] = {"anchor": _axis_ref("x", r), "domain": [lo, top if r > 1 else 1.0]}
        if r - 1 < len(titles):
            annotations.append({"font": {"size": 16}, "showarrow": False, "text": titles[r - 1], "x": 0.5,
                                "xanchor": "center", "xref": "paper", "y": top if r > 1 else 1.0,
                                "yanchor": "bottom", "yref": "paper"})
    if annotations:
        layout["annotations"] = annotations
    return figure(layout=layout)


# --------------------------------------------------------------------------- encoding

_SHORT_TYPES = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
                "float32": "f4", "float64": "f8"}
_NARROW = {"int64": (np.int8, np.int16, np.int32), "uint64": (np.uint8, np.uint16, np.uint32)}
# keys whose values Plotly never encodes (its `is_skipped_key`)
_SKIPPED = frozenset({"geojson", "layer", "layers", "range"})


def typed_array(v: np.ndarray) -> Any:
    """Plotly's typed-array spec ({"dtype", "bdata"[, "shape"]}) of a numeric numpy array, as Plotly's own
    `to_typed_array_spec` makes it: 64-bit integers narrowed to the smallest type that holds them
    (kept as a list when none does), booleans and empty arrays as lists."""
    name = v.dtype.name
    if v.size == 0 or name not in _SHORT_TYPES and name not in _NARROW:
        return v.tolist()
    if name in _NARROW:
        lo, hi = v.min(), v.max()
        for t in _NARROW[name]:
            if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
                v = v.astype(t)
                break
        else:
            return v.tolist()
    out = {"dtype": _SHORT_TYPES[v.dtype.name], "bdata": base64.b64encode(np.ascontiguousarray(v)).decode("ascii")}
    if v.ndim > 1:
        out["shape"] = str(v.shape)[1:-1]
    return out


def _encoded(obj: Any, key: str = "") -> Any:
    if isinstance(obj, dict):
        return {k: _encoded(v, k) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        # a property's array as a typed array; an array inside a list (a row of z) or under a key Plotly
        # never encodes as Python numbers, as Plotly writes them
        return obj.tolist() if key in _SKIPPED or not key else typed_array(obj)
    if isinstance(obj, (list, tuple)):
        return [_encoded(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def encode(spec: Spec) -> dict:
    """The JSON-ready form of `spec` (a new dict; `spec` is not changed). Empty frames are left out."""
    out = {"data": _encoded(spec.get("data", [])), "layout": _encoded(spec.get("layout", {}))}
    if spec.get("frames"):
        out["frames"] = _encoded(spec["frames"])
    return out


def copy_tree(obj: Any) -> Any:
    """A copy of the dicts and lists of a spec; the leaves (numbers, strings, arrays) are shared."""
    if isinstance(obj, dict):
        return {k: copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [copy_tree(v) for v in obj]
    return obj
