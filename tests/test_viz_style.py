"""viz.style.style writes the shared look without Plotly's validation: it must give exactly what the validated
path (`style_validated`: update_layout, update_xaxes, update_yaxes) gives, on every shape of figure the
builders pass it, and Plotly's object model must read the result."""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from viz import style as vs


def _plain():
    return go.Figure(go.Scatter(y=np.arange(5.0)))


def _grid():
    return make_subplots(rows=2, cols=2, subplot_titles=("a", "b", "c", "d"))


def _secondary():
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(y=[1, 2], secondary_y=True)
    return fig


def _many_axes():
    fig = make_subplots(rows=1, cols=11)   # xaxis10 and xaxis11 sort after xaxis9 in Plotly's natural order
    fig.update_layout(xaxis3=dict(title=dict(text="kept?")))
    return fig


def _styled_before():
    fig = _plain()
    fig.update_layout(title="old", margin=dict(l=5, t=3), legend=dict(x=0.5), font=dict(family="serif"),
                      xaxis=dict(type="log", title=dict(text="old x", standoff=4)))
    return fig


def _read_before():
    fig = _plain()
    _ = fig.layout.title.text, fig.layout.margin.t, fig.layout.xaxis.title.font.size   # cached child objects
    _ = fig.layout.sliders, fig.layout.updatemenus                                       # cached (empty) lists
    return fig


def _fast():
    return vs.fast_figure([dict(type="scatter", y=np.arange(3.0))], dict(xaxis=dict(range=[0, 2])),
                          [dict(name="0", data=[dict(y=[1, 2, 3])])])


def _empty_note():
    fig = go.Figure()
    vs.note_box(fig, "nothing to draw")
    return fig


SHAPES = {"plain": _plain, "grid": _grid, "secondary": _secondary, "many axes": _many_axes,
          "styled before": _styled_before, "read before": _read_before, "fast": _fast, "note": _empty_note}


def _json(fig) -> dict:
    return json.loads(fig.to_json())


@pytest.mark.parametrize("legend_below", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_style_gives_what_the_validated_path_gives(shape, legend_below):
    make = SHAPES[shape]
    fast, ref = make(), make()
    vs.style(fast, "Title ‖h‖", "step t", "norm (log)", height=512, legend_below=legend_below)
    vs.style_validated(ref, "Title ‖h‖", "step t", "norm (log)", height=512, legend_below=legend_below)
    assert _json(fast) == _json(ref)
    # Plotly's object model reads what was written (the builders and tests read fig.layout afterwards)
    assert fast.layout.title.text == "Title ‖h‖" and fast.layout.height == 512
    assert fast.layout.margin.t == (120 if legend_below else 70)
    assert fast.layout.xaxis.title.text == "step t" and fast.layout.yaxis.tickfont.size == vs.FONT_SIZE - 1
    # and the result is a valid figure for Plotly's schema
    go.Figure(_json(fast))


def test_later_validated_updates_build_on_the_plain_merge():
    fig = _read_before()
    vs.style(fig, "T", "x", "y", legend_below=True)
    fig.update_layout(margin=dict(b=200), title_font_size=30)
    fig.update_xaxes(title_text="x2")
    layout = _json(fig)["layout"]
    assert layout["margin"] == {"l": 80, "r": 30, "t": 120, "b": 200}
    assert layout["title"] == {"text": "T", "font": {"size": 30}, "x": 0.0, "xanchor": "left"}
    assert layout["xaxis"]["title"] == {"text": "x2", "font": {"size": vs.FONT_SIZE}}


def test_a_wrong_value_would_be_caught_by_the_comparison():
    """The positive control: the comparison above sees a difference of one property."""
    fast, ref = _plain(), _plain()
    vs.style(fast, "T", "x", "y")
    vs.style_validated(ref, "T", "x", "y")
    ref.update_layout(margin_r=31)
    assert _json(fast) != _json(ref)


def test_inside_batch_update_the_validated_path_is_taken():
    fig = _plain()
    with fig.batch_update():
        vs.style(fig, "T", "x", "y")
    assert fig.layout.title.text == "T" and fig.layout.xaxis.title.text == "x"


@pytest.mark.parametrize("yrange", [(-3.0, 2.0), (np.float64(-250.5), np.float64(40.0)), [0.0, 0.5]])
@pytest.mark.parametrize("shape", SHAPES)
def test_log_axis_gives_what_update_yaxes_gives(shape, yrange):
    make = SHAPES[shape]
    fast, ref = make(), make()
    vs.log_axis(fast, yrange)
    ref.update_yaxes(type="log", range=list(yrange), exponentformat="power",
                     dtick=vs.decade_step(float(yrange[1] - yrange[0])), minor=dict(showgrid=False))
    assert _json(fast) == _json(ref)
    assert fast.layout.yaxis.type == "log" and list(fast.layout.yaxis.range) == [float(v) for v in yrange]
    go.Figure(_json(fast))


def test_log_axis_on_selected_axes_keeps_the_others():
    fig = _grid()
    vs.log_axis(fig, (-2.0, 2.0), row=1, col=2)
    layout = _json(fig)["layout"]
    assert layout["yaxis2"]["type"] == "log" and "type" not in layout["yaxis"]


@pytest.mark.parametrize("active", [None, 2])
@pytest.mark.parametrize("shape", ["plain", "grid", "styled before", "read before", "fast"])
def test_animation_controls_give_what_update_layout_gives(shape, active):
    make = SHAPES[shape]
    fast, ref = make(), make()
    vs.style(fast, "T", "x", "y", height=500)
    vs.style(ref, "T", "x", "y", height=500)
    names = [f"t = {k}" for k in range(12)]
    vs.animation_controls(fast, names, prefix="up to ", duration=90, active=active, redraw=True)
    ref.update_layout(vs.animation_update(ref, names, prefix="up to ", duration=90, active=active, redraw=True))
    assert _json(fast) == _json(ref)
    assert len(fast.layout.sliders[0].steps) == 12 and fast.layout.margin.b == 160
    go.Figure(_json(fast))
