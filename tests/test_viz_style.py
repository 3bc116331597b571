"""viz.style on specs: `style`, `log_axis`, `animation_controls` and `note_box` must give what Plotly's own
methods (update_layout, update_xaxes, update_yaxes, add_annotation) give on the validated figure, on every
shape of spec the builders pass them."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from specs import as_json, validated

from viz import spec as sp
from viz import style as vs


def _plain():
    return sp.figure([sp.scatter(y=np.arange(5.0))])


def _rows():
    fig = sp.subplots(3, vertical_spacing=0.06, titles=("a", "b", "c"))
    for r in (1, 2, 3):
        sp.add_scatter(fig, row=r, y=np.arange(3.0) * r)
    return fig


def _many_axes():
    # xaxis10 and xaxis11 sort after xaxis9 (Plotly's natural order)
    fig = sp.figure([sp.scatter(y=[1, 2], xaxis=f"x{k}" if k > 1 else "x") for k in range(1, 12)])
    for k in range(2, 12):
        fig["layout"][f"xaxis{k}"] = {"anchor": "y"}
    fig["layout"]["xaxis3"]["title"] = {"text": "kept?"}
    return fig


def _styled_before():
    return sp.figure([sp.scatter(y=np.arange(5.0))],
                     dict(title=dict(text="old"), margin=dict(l=5, t=3), legend=dict(x=0.5), font=dict(family="serif"),
                          xaxis=dict(type="log", title=dict(text="old x", standoff=4))))


def _frames():
    return sp.figure([sp.scatter(y=np.arange(3.0))], dict(xaxis=dict(range=[0, 2])),
                     [dict(name="0", data=[sp.scatter(y=[1, 2, 3])])])


SHAPES = {"plain": _plain, "rows": _rows, "many axes": _many_axes, "styled before": _styled_before,
          "frames": _frames}


def _same(spec: dict, ref: go.Figure) -> None:
    assert as_json(go.Figure.to_dict(validated(spec))) == as_json(go.Figure.to_dict(ref))


@pytest.mark.parametrize("legend_above", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_style_gives_what_update_layout_and_update_axes_give(shape, legend_above):
    fig = SHAPES[shape]()
    ref = validated(fig)
    before = as_json(sp.encode(fig))
    vs.style(fig, "Title ‖h‖", "step t", "norm (log)", height=512, legend_above=legend_above)
    assert as_json(sp.encode(fig)) != before
    ref.update_layout(title=dict(text="Title ‖h‖", font=dict(size=vs.TITLE_SIZE), x=0.0, xanchor="left"),
                      font=dict(size=vs.FONT_SIZE), height=512,
                      margin=dict(l=80, r=30, t=120 if legend_above else 70, b=70),
                      hoverlabel=dict(font_size=vs.FONT_SIZE), legend=dict(font=dict(size=vs.FONT_SIZE - 1)))
    if legend_above:
        ref.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0.0, xanchor="left"))
    axis = dict(automargin=True, tickfont=dict(size=vs.FONT_SIZE - 1), title_font=dict(size=vs.FONT_SIZE))
    ref.update_xaxes(title_text="step t", **axis)
    ref.update_yaxes(title_text="norm (log)", **axis)
    _same(fig, ref)


def test_a_wrong_value_would_be_caught_by_the_comparison():
    fig, ref = _plain(), validated(_plain())
    vs.style(fig, "T", "x", "y")
    ref.update_layout(title_text="T", xaxis_title_text="x", yaxis_title_text="y")
    with pytest.raises(AssertionError):
        _same(fig, ref)


def test_a_shorthand_key_in_a_spec_is_caught():
    """`line_width` is Plotly's shorthand, which only its object model understands: in a spec it would reach
    the browser as an unknown key. validated() must refuse it."""
    with pytest.raises(AssertionError):
        validated(sp.figure([sp.scatter(y=[1, 2], line_width=3)]))
    with pytest.raises(ValueError):
        validated(sp.figure([sp.scatter(y=[1, 2], line=dict(widht=3))]))


@pytest.mark.parametrize("yrange", [(-3.0, 2.0), (np.float64(-250.5), np.float64(40.0)), [0.0, 0.5]])
@pytest.mark.parametrize("shape", SHAPES)
def test_log_axis_gives_what_update_yaxes_gives(shape, yrange):
    fig = SHAPES[shape]()
    ref = validated(fig)
    vs.log_axis(fig, yrange)
    ref.update_yaxes(type="log", range=list(yrange), exponentformat="power",
                     dtick=vs.decade_step(float(yrange[1] - yrange[0])), minor=dict(showgrid=False))
    _same(fig, ref)
    assert fig["layout"]["yaxis"]["type"] == "log"


def test_log_axis_on_one_row_keeps_the_others():
    fig = _rows()
    ref = validated(fig)
    vs.log_axis(fig, (-2.0, 2.0), row=2)
    ref.update_yaxes(type="log", range=[-2.0, 2.0], exponentformat="power", dtick=1, minor=dict(showgrid=False),
                     selector=dict(anchor="x2"))
    _same(fig, ref)
    assert fig["layout"]["yaxis2"]["type"] == "log" and "type" not in fig["layout"]["yaxis"]


@pytest.mark.parametrize("active", [None, 2])
@pytest.mark.parametrize("shape", ["plain", "rows", "styled before", "frames"])
def test_animation_controls_are_valid_and_placed_below_the_plot(shape, active):
    fig = SHAPES[shape]()
    vs.style(fig, "T", "x", "y", height=500)
    names = [f"t = {k}" for k in range(12)]
    vs.animation_controls(fig, names, prefix="up to ", duration=90, active=active, redraw=True)
    g = validated(fig)
    assert len(g.layout.sliders[0].steps) == 12 and g.layout.margin.b == 160
    assert g.layout.sliders[0].active == (11 if active is None else active)
    assert g.layout.updatemenus[0].y < 0 and [b.label for b in g.layout.updatemenus[0].buttons] == ["▶ Play",
                                                                                                  "❚❚ Pause"]
    assert as_json(sp.encode(vs.animation_controls(_plain(), [], prefix=""))) == as_json(sp.encode(_plain()))


def test_note_box_and_empty_are_what_add_annotation_gives():
    fig = vs.empty("Nothing", "nothing to draw", height=280)
    ref = go.Figure()
    ref.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False))
    ref.add_annotation(text="nothing to draw", x=0.5, y=0.5, xref="paper", yref="paper", xanchor="center",
                       yanchor="middle", showarrow=False, align="center", font=dict(size=vs.FONT_SIZE, color=vs.INK),
                       bgcolor=vs.NOTE_BG, bordercolor=vs.GREY, borderwidth=1, borderpad=8)
    g = validated(fig)
    assert g.layout.annotations[0].to_plotly_json() == ref.layout.annotations[0].to_plotly_json()
    assert g.layout.height == 280 and g.layout.xaxis.visible is False and g.layout.title.text == "Nothing"


def test_named_colour_scales_are_expanded_as_plotly_stores_them():
    for name in (vs.SEQUENTIAL, vs.DIVERGING):
        assert vs.colorscale(name) == [list(pc) for pc in go.Heatmap(colorscale=name).colorscale]
        assert vs.colorscale(name) is not vs.colorscale(name)   # a fresh list: a spec may keep it


# --------------------------------------------------------------------------- margins that already fit

def _chart(**layout):
    fig = sp.figure([sp.scatter(x=[0, 1], y=[0, 1], name="a short name"),
                  sp.scatter(x=[0, 1], y=[1, 0], name="a much longer legend entry than the first")])
    vs.style(fig, "t", "x label", "y label")
    fig["layout"].update(layout)
    return fig


def test_settled_margins_reserve_the_axes_and_a_right_legend():
    fig = _chart()
    before = sp.copy_tree(fig["layout"])
    out = vs.settled_margins(fig)
    assert fig["layout"] == before                       # the input is not changed
    m = out["layout"]["margin"]
    assert m["l"] >= vs.MARGIN_LEFT and m["b"] >= vs.MARGIN_BOTTOM
    longest = len("a much longer legend entry than the first")
    assert m["r"] > 0.4 * (vs.FONT_SIZE - 1) * longest      # room for the longest entry
    assert out["data"] is fig["data"]                    # the traces are shared, not copied


def test_settled_margins_leave_what_needs_no_room():
    horizontal = _chart(legend=dict(orientation="h", y=1.02))
    assert vs.settled_margins(horizontal)["layout"]["margin"]["r"] == horizontal["layout"]["margin"]["r"]
    fixed = _chart(margin=dict(l=5, r=5, t=5, b=5, autoexpand=False))
    assert vs.settled_margins(fixed) is fixed
    diagram = sp.figure([sp.scatter(x=[0], y=[0], name="one", showlegend=False)], dict(margin=dict(l=10, r=10, t=40, b=10)))
    assert vs.settled_margins(diagram) is diagram           # no axis titles, no legend, no colour bar


def test_settled_margins_reserve_a_colour_bar():
    fig = sp.figure([sp.heatmap(z=np.zeros((2, 2)), colorbar=dict(title=dict(text="value", side="right"),
                                                            ticktext=["10⁻¹⁰⁰", "1"], tickvals=[0, 1]))])
    vs.style(fig, "t", "x", "y")
    r = vs.settled_margins(fig)["layout"]["margin"]["r"]
    assert r >= 30 + 0.5 * (vs.FONT_SIZE - 1) * len("10⁻¹⁰⁰") + vs.FONT_SIZE
    off = sp.figure([sp.heatmap(z=np.zeros((2, 2)), showscale=False)])
    vs.style(off, "t", "x", "y")
    assert vs.settled_margins(off)["layout"]["margin"]["r"] == off["layout"]["margin"]["r"]


def test_the_page_gets_settled_margins_and_the_cached_spec_keeps_its_own():
    from ui.charts import encoded_once, shared
    fig = _chart()
    own = dict(fig["layout"]["margin"])
    assert encoded_once(fig)["layout"]["margin"] == vs.settled_margins(fig)["layout"]["margin"]
    kept = shared(_chart())
    assert encoded_once(kept)["layout"]["margin"] == vs.settled_margins(kept)["layout"]["margin"]
    assert fig["layout"]["margin"] == own


def test_style_still_takes_the_old_name_of_legend_above():
    old, new = _plain(), _plain()
    vs.style(old, "t", "x", "y", legend_below=True)
    vs.style(new, "t", "x", "y", legend_above=True)
    assert as_json(sp.encode(old)) == as_json(sp.encode(new))
