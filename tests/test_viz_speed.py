"""Specs with frames: valid for Plotly, their frames and layout readable once validated."""
import json

import numpy as np
from specs import validated

import engine
from viz.gradients import grad_norm_figure
from viz.hidden import pca_figure
from viz.unroll import unroll_figure


def _run():
    p = engine.init_params(1, 16, 1, init="gaussian", spectral_radius=0.9, seed=3)
    x = engine.make_input("normal", 60, 1, seed=3)
    return engine.bptt(p, x, engine.make_target("identity", "last", 60, 1, seed=3))


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
