"""Figures built from plain dicts: same structure as the validated ones, frames still readable."""
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

import engine
from viz.gradients import grad_norm_figure
from viz.hidden import pca_figure
from viz.style import DIVERGING, SEQUENTIAL, colorscale, fast_figure
from viz.unroll import unroll_figure
from specs import validated


def _run():
    p = engine.init_params(1, 16, 1, init="gaussian", spectral_radius=0.9, seed=3)
    x = engine.make_input("normal", 60, 1, seed=3)
    return engine.bptt(p, x, engine.make_target("identity", "last", 60, 1, seed=3))


def test_fast_figure_serialises_like_the_validated_figure():
    data = [dict(type="scatter", x=np.arange(3), y=[1.0, 2.0, 3.0], mode="lines", line=dict(color="#0072B2")),
            dict(type="heatmap", z=[[1, 2]], colorscale=colorscale(DIVERGING))]
    layout = dict(showlegend=False, annotations=[dict(x=1, y=2, text="a", showarrow=False)], shapes=[])
    frames = [dict(name="1", traces=[0], data=[dict(type="scatter", x=[1], y=[2])])]
    fast = fast_figure(data, layout, frames)
    slow = go.Figure(data=[go.Scatter(data[0]), go.Heatmap(data[1])],
                     layout=dict(showlegend=False, annotations=layout["annotations"]),
                     frames=[go.Frame(frames[0])])
    assert json.loads(pio.to_json(fast, validate=False)) == json.loads(pio.to_json(slow, validate=False))
    assert "shapes" not in fast.to_plotly_json()["layout"]  # empty lists are left out, as before


def test_named_colour_scales_are_expanded_as_plotly_stores_them():
    for name in (SEQUENTIAL, DIVERGING):
        assert colorscale(name) == go.Heatmap(colorscale=name).colorscale
        assert isinstance(colorscale(name)[0][1], str)


def test_dict_built_figures_keep_readable_frames_and_layout():
    run = _run()
    u = validated(unroll_figure(run.h, run.grad_h_norm, [59], "tanh"))
    assert u.frames and u.frames[0].data[0].type == "heatmap"
    assert len(u.layout.shapes) > 0 and len(u.layout.annotations) > 0
    g = validated(grad_norm_figure(run.grad_h_norm, 0.9, 1.0, 1.0))
    assert list(np.asarray(g.frames[0].data[0].x)) == [60] and g.layout.yaxis.type == "log"
    coords = np.cumsum(np.ones((60, 2)), axis=0)
    p = validated(pca_figure(coords, np.array([0.6, 0.3])))
    assert p.layout.showlegend is False and len(p.layout.annotations) == 2
    assert p.frames[-1].data[-1].marker.color is not None
    for fig in (u, g, p):
        json.dumps(fig.to_plotly_json(), default=str)
