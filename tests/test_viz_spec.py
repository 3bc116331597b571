"""viz.spec: the spec helpers do what the go.Figure methods of the same name do, `encode` writes the JSON
Plotly writes, and ui.charts.PlotlySpec reaches Streamlit's serialiser without a second validation."""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools
import pytest
from _plotly_utils.utils import to_typed_array_spec
from plotly.subplots import make_subplots
from specs import _close, as_json, validated

from ui import charts
from viz import spec as sp


def _layout(fig: go.Figure) -> dict:
    d = as_json(go.Figure.to_dict(fig))["layout"]
    d.pop("template", None)
    return d


@pytest.mark.parametrize("arr", [
    np.arange(5, dtype=np.int64), np.array([0, 40_000], dtype=np.int64), np.array([0, 2**40], dtype=np.int64),
    np.arange(4, dtype=np.uint64), np.linspace(0, 1, 7), np.linspace(0, 1, 7, dtype=np.float32),
    np.arange(6.0).reshape(2, 3), np.arange(6.0)[::2], np.array([], dtype=np.float64), np.array([True, False]),
    np.array([1e300, -np.inf, np.nan]), np.array(["a", "b"]), np.arange(3, dtype=np.int16),
])
def test_typed_array_is_plotlys(arr):
    ours, theirs = sp.typed_array(arr), to_typed_array_spec(arr)
    if isinstance(theirs, dict):
        assert ours == theirs
    else:
        assert json.loads(json.dumps(ours)) == json.loads(pio.json.to_json_plotly(theirs, engine="json"))


def test_encode_writes_what_plotly_writes_and_leaves_the_spec_alone():
    spec = sp.figure(
        [sp.heatmap(z=np.arange(12, dtype=np.float64).reshape(3, 4), x=np.arange(4), colorscale=[[0, "red"], [1, "blue"]]),
         sp.scatter(x=np.arange(5, dtype=np.int64), y=np.linspace(0, 1, 5, dtype=np.float32), mode="lines",
                    customdata=[np.arange(2.0), np.arange(2.0)], text=["a", "b"]),
         sp.bar(x=(1, 2), y=[np.float64(3.5), np.int64(2)], marker=dict(color=["#000", "#fff"]))],
        dict(xaxis=dict(range=np.array([0.0, 3.0])), yaxis=dict(range=[np.float32(0.25), 2.0]),
             title=dict(text="t")),
        [dict(name="a", traces=[1], data=[sp.scatter(y=np.arange(5.0))])])
    ids = {id(v) for tr in spec["data"] for v in tr.values()}
    before = repr(spec)
    validated(spec)                         # the same JSON as Plotly's validated figure
    assert repr(spec) == before and ids == {id(v) for tr in spec["data"] for v in tr.values()}
    assert sp.encode(sp.figure())["layout"] == {} and "frames" not in sp.encode(sp.figure())


@pytest.mark.parametrize("rows", [1, 2, 3, 4])
def test_subplots_is_make_subplots(rows):
    titles = [f"row {r}" for r in range(rows)]
    ours = sp.subplots(rows, vertical_spacing=0.06, titles=titles)
    theirs = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06, subplot_titles=titles)
    _close(as_json(sp.encode(ours))["layout"], _layout(theirs))
    for r in range(1, rows + 1):
        sp.add_scatter(ours, row=r, y=[1, 2])
        theirs.add_scatter(y=[1, 2], row=r, col=1)
        sp.update_yaxes(ours, row=r, title=dict(text=f"y{r}"))
        theirs.update_yaxes(title_text=f"y{r}", row=r, col=1)
    sp.update_xaxes(ours, showgrid=False)
    theirs.update_xaxes(showgrid=False)
    sp.update_annotations(ours, font=dict(size=20))
    theirs.update_annotations(font_size=20)
    fig = validated(ours)
    _close(as_json(go.Figure.to_dict(fig)), as_json(go.Figure.to_dict(theirs)))
    with pytest.raises(ValueError, match="rows"):
        sp.subplots(0, vertical_spacing=0.1)


def test_lines_and_bands_are_what_the_figure_methods_add():
    ours = sp.figure([sp.scatter(x=[0, 5], y=[1, 2])])
    sp.add_vline(ours, 3, line=dict(color="red", dash="dash", width=2))
    sp.add_vrect(ours, 1, 2, fillcolor="grey", opacity=0.2, line=dict(width=0), layer="below")
    sp.add_hline(ours, 1.0, line=dict(color="red"))
    theirs = go.Figure(go.Scatter(x=[0, 5], y=[1, 2]))
    theirs.add_vline(x=3, line=dict(color="red", dash="dash", width=2))
    theirs.add_vrect(x0=1, x1=2, fillcolor="grey", opacity=0.2, line_width=0, layer="below")
    theirs.add_hline(y=1.0, line=dict(color="red"))
    assert _layout(validated(ours)) == _layout(theirs)


def test_update_layout_merges_as_plotly_does():
    ours = sp.figure(layout=dict(margin=dict(l=5, t=3), legend=dict(x=0.5)))
    theirs = validated(ours)
    sp.update_layout(ours, dict(margin=dict(t=40)), legend=dict(y=1.0), height=300)
    theirs.update_layout(margin=dict(t=40), legend=dict(y=1.0), height=300)
    assert _layout(validated(ours)) == _layout(theirs)


def test_plotly_spec_passes_streamlits_path_unvalidated():
    spec = sp.figure([sp.scatter(x=np.arange(3), y=np.array([1.0, 2.0, 3.0]))], dict(title=dict(text="x")))
    shown = charts.PlotlySpec(sp.encode(spec))
    assert isinstance(shown, go.Figure)
    # what st.plotly_chart does with it (Streamlit 1.67): the figure's own dict, serialised as it is
    figure = plotly.tools.return_figure_from_figure_or_data(shown, validate_figure=True)
    assert figure is shown.to_dict()
    sent = json.loads(pio.to_json(figure, validate=False))
    assert sent == as_json(go.Figure(spec).to_dict())      # the template included, as Plotly would add it
    assert sent["layout"]["template"] == as_json(go.Figure().to_dict())["layout"]["template"]


def test_projector_spec_copies_and_stays_valid():
    spec = sp.figure([sp.scatter(y=np.arange(3.0), line=dict(width=2), marker=dict(size=np.array([4.0, 6.0, 8.0])))],
                     dict(title=dict(text="t", font=dict(size=20)), height=400, margin=dict(t=70, b=70),
                          annotations=[dict(text="a", font=dict(size=14), x=0, y=0)]))
    before = as_json(sp.encode(spec))
    big = validated(charts.projector_spec(spec))
    assert as_json(sp.encode(spec)) == before
    assert big.layout.height == int(400 * charts.PROJECTOR_HEIGHT_SCALE)
    assert big.data[0].line.width >= charts.PROJECTOR_LINE_MIN
    assert np.allclose(big.data[0].marker.size, np.array([4.0, 6.0, 8.0]) * charts.PROJECTOR_MARKER_SCALE)


def test_a_shared_spec_is_encoded_once_and_only_for_itself():
    spec = sp.figure([sp.scatter(y=np.arange(4.0))])
    assert charts.shared(spec) is spec
    once = charts.encoded_once(spec)
    assert charts.encoded_once(spec) is once and once == sp.encode(spec)
    twin = sp.figure([sp.scatter(y=np.arange(4.0))])          # equal, but not the shared one
    assert charts.encoded_once(twin) is not once and charts.encoded_once(twin) == once
    for _ in range(charts._SHARED_MAX + 5):                     # bounded: the oldest entry goes first
        charts.shared(sp.figure())
    assert len(charts._SHARED) == charts._SHARED_MAX and charts.encoded_once(spec) is not once
