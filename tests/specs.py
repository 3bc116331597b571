"""Every figure spec checked against Plotly's schema (the one place the tests validate figures).

`validated(spec)` hands the spec to `plotly.graph_objects.Figure`, which validates every property
(a wrong key or value raises), checks that the JSON Plotly makes of it is the JSON the app sends
(`ui.charts.PlotlySpec(viz.spec.encode(spec))`), and returns the validated figure, so a test can read
it as `fig.data[0].y`, `fig.layout.yaxis.type`, `fig.frames`.
"""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ui.charts import PlotlySpec
from viz.spec import copy_tree, encode


def as_json(d: dict) -> dict:
    """Through Plotly's stdlib encoder and back: numpy scalars, NaN and typed arrays as the browser reads them."""
    return json.loads(pio.to_json(d, validate=False, engine="json"))


def _close(a, b, path="") -> None:
    """Equal JSON, floats in layout geometry to 1e-12 (make_subplots computes domains in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(a.keys() ^ b.keys())} differ"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        assert np.isclose(a, b, rtol=1e-12, atol=1e-15), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def validated(spec: dict) -> go.Figure:
    assert isinstance(spec, dict) and not isinstance(spec, go.Figure), f"a spec is a plain dict, not {type(spec)}"
    assert set(spec) <= {"data", "layout", "frames"}, sorted(spec)
    fig = go.Figure(copy_tree(spec))     # validates every trace, layout key and frame (and would pop keys)
    sent = as_json(PlotlySpec(encode(spec)).to_dict())
    _close(sent, as_json(go.Figure.to_dict(fig)))
    return fig
