"""viz.style.FastFigure and fast_to_dict: the same figure JSON as Plotly's own path, built faster."""
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from _plotly_utils.utils import to_typed_array_spec

import engine
from viz import gradients as vg
from viz import hidden as vh
from viz import unroll as vu
from viz.style import FastFigure, fast_to_dict, typed_array


def plotly_json(fig: go.Figure) -> dict:
    """The figure as Plotly itself serialises it (validated frames, its own to_dict; the stdlib encoder,
    which writes a numpy float32 scalar as the float64 of the same value, as fast_to_dict makes it)."""
    return json.loads(pio.to_json(go.Figure.to_dict(fig), validate=False, engine="json"))


def trace_of(cell: str, T: int = 30, H: int = 8):
    p = engine.init_params(1, H, 1, cell=cell, seed=1)
    x = engine.make_input("normal", T, 1, seed=1)
    return engine.bptt(p, x, engine.make_target("identity", "last", T, 1, seed=1))


def animated_figures():
    for cell in ("rnn", "lstm", "gru"):
        tr = trace_of(cell)
        if cell == "rnn":
            yield f"unroll-{cell}", vu.unroll_figure(tr.h, tr.grad_h_norm, (29,), "tanh")
        else:
            gates = {k: np.asarray(v, dtype=np.float32) for k, v in tr.gates.items()}
            yield f"unroll-{cell}", vu.unroll_figure(tr.h, tr.grad_h_norm, (29,), "tanh", cell=cell, gates=gates,
                                                     c=tr.c, grad_c_norm=tr.grad_c_norm)
        yield f"pca-{cell}", vh.pca_figure(*engine.pca_2d(tr.h))
        yield f"grad-{cell}", vg.grad_norm_figure(tr.grad_h_norm, 1.0, 1.1, 1.0)


@pytest.mark.parametrize("name,fig", list(animated_figures()), ids=lambda v: v if isinstance(v, str) else "")
def test_fast_figure_json_is_plotlys(name, fig):
    assert isinstance(fig, FastFigure), name
    fast = json.loads(pio.to_json(fig, validate=False))        # frames still plain dicts
    assert fast.get("frames"), name
    n = len(fig.frames)                                          # reading them validates them
    assert n == len(fast["frames"]) and isinstance(fig.frames[0], go.Frame)
    assert fast == plotly_json(fig), name
    assert json.loads(pio.to_json(fig, validate=False)) == fast


def test_fast_to_dict_matches_plotly_on_an_ordinary_figure():
    fig = go.Figure(go.Heatmap(z=np.arange(12, dtype=np.float64).reshape(3, 4), x=np.arange(4)))
    fig.add_scatter(x=np.arange(5, dtype=np.int64), y=np.linspace(0, 1, 5, dtype=np.float32))
    fig.update_layout(xaxis_range=[0, 3])
    assert json.loads(pio.to_json(fast_to_dict(fig), validate=False)) == plotly_json(fig)


@pytest.mark.parametrize("arr", [
    np.arange(5, dtype=np.int64), np.array([0, 40_000], dtype=np.int64), np.array([0, 2**40], dtype=np.int64),
    np.arange(4, dtype=np.uint64), np.linspace(0, 1, 7), np.linspace(0, 1, 7, dtype=np.float32),
    np.arange(6.0).reshape(2, 3), np.arange(6.0)[::2], np.array([], dtype=np.float64), np.array([True, False]),
    np.array([1e300, -np.inf, np.nan]),
])
def test_typed_array_is_plotlys(arr):
    ours, theirs = typed_array(arr), to_typed_array_spec(arr)
    if isinstance(theirs, dict):
        assert ours == theirs
    else:
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes()


def test_assigning_frames_replaces_the_plain_ones():
    fig = vg.grad_norm_figure(np.logspace(0, -4, 20), 1.0, 1.1, 1.0)
    fig.frames = [go.Frame(name="only", data=[go.Scatter(x=[1], y=[2])])]
    out = json.loads(pio.to_json(fig, validate=False))
    assert [f["name"] for f in out["frames"]] == ["only"]
    assert out == plotly_json(fig)
