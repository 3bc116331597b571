"""Figure builders: content checks (frames, log axes, overlays equal the formulas, engine numbers)."""
import json

import numpy as np
import plotly.graph_objects as go
import pytest
from naive import frozen
from specs import validated

import engine
from viz.gradients import (
    anchored_power,
    decay_readout,
    dW_contribution_figure,
    grad_norm_figure,
    jacobian_figure,
    jacobian_grid_figure,
    teaser_figure,
)
from viz.hidden import hidden_heatmap, pca_figure, saturation_figure, time_stride, unit_trajectories
from viz.spectrum import eigen_figure, power_figure, singular_figure
from viz.style import MAX_FRAMES, frame_steps, log_range, view_band
from viz.unroll import unroll_figure, window


def arr(v):
    """Trace data as a float64 array (plotly may keep numpy arrays or lists)."""
    return np.asarray(v, dtype=float)


def assert_labelled(fig: go.Figure):
    assert fig.layout.title.text
    for ax in (fig.layout.xaxis, fig.layout.yaxis):
        assert ax.title.text is not None
    json.dumps(fig.to_plotly_json(), default=str)  # serialisable


@pytest.fixture(scope="module")
def trace():
    p = engine.init_params(1, 16, 1, init="gaussian", spectral_radius=0.9, seed=3)
    x = engine.make_input("normal", 60, 1, seed=3)
    return frozen(engine.bptt(p, x, engine.make_target("identity", "last", 60, 1, seed=3)))  # shared: read-only


def test_frame_steps_include_both_ends_and_respect_the_cap():
    for n in (1, 2, 7, 40, 41, 1000):
        s = frame_steps(n)
        assert s[0] == 0 and s[-1] == n - 1 and len(s) <= MAX_FRAMES
        assert np.all(np.diff(s) > 0)


def test_grad_norm_figure_log_axis_frames_and_overlays(trace):
    g = trace.grad_h_norm
    rho, sig, gam = 0.9, engine.spectral_norm(trace.params.W_hh), 1.0
    fig = validated(grad_norm_figure(g, rho, sig, gam))
    assert_labelled(fig)
    assert fig.layout.yaxis.type == "log"
    assert len(fig.frames) == min(60, MAX_FRAMES)
    # animated from t = T back to 1: first frame shows only the last step
    first, last = fig.frames[0].data[0], fig.frames[-1].data[0]
    assert list(arr(first.x)) == [60] and arr(last.x)[0] == 1 and arr(last.x).size == 60
    assert fig.layout.sliders and fig.layout.updatemenus
    # data and overlays equal the formulas, anchored at the last step
    np.testing.assert_allclose(arr(fig.data[0].y), g)
    t = np.arange(1, 61)
    bound, rate = arr(fig.data[1].y), arr(fig.data[2].y)
    lo, hi = view_band(fig.layout.yaxis.range)
    for line, eta in ((bound, gam * sig), (rate, rho)):
        formula = g[-1] * eta ** (60 - t)
        inside = (formula > lo) & (formula < hi)
        np.testing.assert_allclose(line[inside], formula[inside], rtol=1e-9)
        assert line[-1] == pytest.approx(g[-1])
    names = [d.name for d in fig.data]
    assert any("σ_max" in n for n in names) and any("ρ" in n for n in names)


def test_overlay_survives_huge_exponents_and_zero_rates():
    g = np.ones(1000)
    v = anchored_power(g, 3.0)
    assert not np.isnan(v).any() and v[-1] == 1.0 and v[0] == np.inf
    fig = validated(grad_norm_figure(g, 3.0, 3.0, 1.0))
    assert np.isfinite(arr(fig.data[1].y)).all()  # clamped to a band around the view
    z = anchored_power(g, 0.0)
    assert z[-1] == 1.0 and np.all(z[:-1] <= 1e-300)


def test_grad_norm_figure_with_overflow_shows_the_finite_part():
    g = np.concatenate([np.full(10, np.inf), np.logspace(30, 0, 90)])
    fig = validated(grad_norm_figure(g, 2.0, 2.0, 1.0))
    y = arr(fig.data[0].y)
    assert np.isnan(y[:10]).all() and np.isfinite(y[10:]).all()
    assert fig.layout.yaxis.range[1] >= 30


def test_all_zero_gradient_gives_a_message_not_an_empty_chart():
    fig = validated(grad_norm_figure(np.zeros(20), 0.9, 1.0, 1.0))
    assert fig.layout.annotations and "zero" in fig.layout.annotations[0].text


def test_jacobian_figure_bound_is_above_the_data(trace):
    steps = np.arange(60)
    j = engine.jacobian_norms(trace, steps)
    sig = engine.spectral_norm(trace.params.W_hh)
    fig = validated(jacobian_figure(steps, j, 60, 0.9, sig, 1.0))
    assert_labelled(fig)
    assert fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(arr(fig.data[0].y), j)
    bound = arr(fig.data[1].y)
    formula = sig ** (60 - (steps + 1))
    np.testing.assert_allclose(bound, np.clip(formula, *view_band(fig.layout.yaxis.range)))
    assert np.all(j <= formula * (1 + 1e-9))  # O3 with gamma = 1


def test_jacobian_grid_heatmap_equals_engine_numbers(trace):
    steps = np.array([0, 10, 20, 40, 59])
    M = engine.jacobian_norm_grid(trace, steps)
    fig = validated(jacobian_grid_figure(steps, M))
    assert_labelled(fig)
    z = arr(fig.data[0].z)
    with np.errstate(divide="ignore"):
        expected = np.log10(M)
    np.testing.assert_allclose(10 ** z[np.isfinite(z)], 10 ** expected[np.isfinite(expected)], rtol=1e-5)
    assert np.isnan(z[np.triu_indices(5, 1)]).all()
    assert list(arr(fig.data[0].x)) == list(steps + 1)
    assert fig.data[0].colorscale is not None and fig.data[0].colorbar.ticktext


def test_dW_contribution_and_readout(trace):
    fig = validated(dW_contribution_figure(trace.dW_hh_step_norm))
    assert_labelled(fig)
    assert fig.layout.yaxis.type == "log"
    v = trace.dW_hh_step_norm
    assert v[0] == 0 and np.isnan(arr(fig.data[0].y)[0])  # h_0 = 0: no term at t = 1, no bar on a log axis
    np.testing.assert_allclose(arr(fig.data[0].y)[1:], v[1:])
    g = np.logspace(-6, 0, 100)
    assert "10^{-6.0}" in decay_readout(g) and "smaller" in decay_readout(g)
    assert "not finite" in decay_readout(np.array([np.inf, 1.0]))
    assert "about as large" in decay_readout(np.ones(5))
    assert validated(teaser_figure(g)).layout.yaxis.type == "log"


def test_unroll_window_and_frames():
    assert window(5) == [0, 1, 2, 3, 4]
    w = window(1000)
    assert None in w and w[0] == 0 and w[-1] == 999 and len(w) <= 12
    h = np.tanh(np.random.default_rng(0).normal(size=(1000, 64)))
    g = np.logspace(-20, 0, 1000)
    fig = validated(unroll_figure(h, g, [999]))
    assert fig.layout.title.text
    n_cols = sum(s is not None for s in w)
    assert len(fig.frames) == 2 * n_cols  # forward, then backward
    assert fig.frames[0].name.startswith("forward") and fig.frames[-1].name == "backward t = 1"
    # the same colour for a weight matrix at every step
    colours = {}
    for a in fig.layout.annotations:
        if a.showarrow:
            colours.setdefault(a.arrowcolor, 0)
            colours[a.arrowcolor] += 1
    assert len(colours) <= 4  # W_hx, W_hh, W_hy and the loss arrow
    # unit strip values are the hidden state's first units, on a symmetric fixed scale
    units = next(d for d in fig.data if d.type == "heatmap")
    assert units.zmin == -1 and units.zmax == 1
    z = arr(units.z)[0]
    np.testing.assert_allclose(z[:8], h[0, :8], rtol=1e-6)
    assert np.isnan(z[8:10]).all()  # gap between the strips of neighbouring steps
    xs = arr(units.x)
    assert np.all(np.diff(xs) > 0)  # cell centres increase, so every strip stays in its box
    first = fig.frames[0].data[0]
    assert np.isfinite(arr(first.z)[0][:8]).all() and np.isnan(arr(first.z)[0][10:]).all()
    assert len(fig.to_json()) < 200_000


def test_unroll_handles_single_step_and_overflow():
    fig = validated(unroll_figure(np.array([[np.inf, 1.0]]), np.array([np.nan]), [0], "linear"))
    assert len(fig.frames) == 2
    fig = validated(unroll_figure(np.zeros((3, 1)), np.zeros(3), [0, 1, 2], "relu"))
    assert len(fig.frames) == 6


def test_hidden_heatmap_fixed_symmetric_scale_and_downsampling():
    h = np.tanh(np.random.default_rng(1).normal(size=(100, 8)))
    fig = validated(hidden_heatmap(h, "tanh"))
    assert_labelled(fig)
    hm = fig.data[0]
    assert hm.zmin == -1 and hm.zmax == 1 and hm.zmid == 0
    np.testing.assert_allclose(arr(hm.z), h.T, rtol=1e-6)
    big = np.random.default_rng(2).normal(size=(1000, 256)) * 5
    fig = validated(hidden_heatmap(big, "linear"))
    k = time_stride(1000, 256)
    assert k > 1 and arr(fig.data[0].z).shape == (256, len(range(0, 1000, k)))
    assert fig.data[0].zmin == -fig.data[0].zmax


def test_pca_figure_frames_and_trajectories():
    c = np.random.default_rng(3).normal(size=(200, 2))
    fig = validated(pca_figure(c, np.array([0.6, 0.3])))
    assert_labelled(fig)
    assert len(fig.frames) == MAX_FRAMES
    # the last frame's path pieces together hold every point once (neighbouring pieces share an end)
    pieces = [d for d in fig.frames[-1].data[:-1]]
    assert sum(arr(d.x).size for d in pieces) - (len(pieces) - 1) == 200
    assert "60%" in fig.layout.xaxis.title.text
    assert fig.layout.xaxis.range is not None  # fixed so frames do not jump
    fig = validated(unit_trajectories(np.zeros((10, 4)), [1, 4]))
    assert [d.name for d in fig.data] == ["unit 1", "unit 4"]


def test_saturation_figure_has_input_and_fraction():
    x = np.sin(np.arange(50))[:, None]
    s = np.linspace(0, 1, 50)
    fig = validated(saturation_figure(x, s))
    assert fig.layout.title.text
    np.testing.assert_allclose(arr(fig.data[-1].y), s, rtol=1e-6)
    np.testing.assert_allclose(arr(fig.data[0].y), x[:, 0], rtol=1e-6)


def test_spectrum_figures():
    W = engine.init_params(1, 2, 1, init="nonnormal", spectral_radius=0.9).W_hh
    ev = engine.eigenvalues(W)
    fig = validated(eigen_figure(ev, 0.25))  # sigmoid: 1/gamma = 4
    radii = [np.max(np.hypot(arr(d.x), arr(d.y))) for d in fig.data if d.mode == "lines"]
    assert sorted(np.round(radii, 6)) == [1.0, 4.0]
    assert fig.layout.yaxis.scaleanchor == "x"
    fig = validated(singular_figure(engine.singular_values(W), 1.0))
    assert_labelled(fig)
    assert arr(fig.data[1].y).tolist() == [1.0, 1.0]
    pn = engine.power_norms(W, 60)
    fig = validated(power_figure(pn, 0.9, engine.spectral_norm(W)))
    assert fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(arr(fig.data[0].y), pn)
    np.testing.assert_allclose(arr(fig.data[1].y)[:20], 0.9 ** np.arange(20), rtol=1e-9)
    assert arr(fig.data[0].y).max() > 15  # O12 hump is visible


def test_figures_near_the_float64_limit():
    j = np.logspace(307, 0, 50)
    fig = validated(jacobian_figure(np.arange(50), j, 50, 3.0, 5.0, 1.0))
    assert fig.layout.yaxis.range[1] <= 308
    fig = validated(power_figure(np.concatenate([np.logspace(0, 307, 40), [np.inf] * 10]), 3.0, 5.0))
    assert np.isnan(arr(fig.data[0].y)[-10:]).all()


def test_log_range_pads_and_handles_empty():
    assert log_range(np.array([np.nan, 0.0])) == [-1.0, 1.0]
    lo, hi = log_range(np.array([1e-5, 1.0]))
    assert lo < -5 and hi > 0


def test_forward_overflow_figure_shows_the_finite_states():
    from viz.gradients import forward_overflow_figure
    hn = np.concatenate([np.logspace(0, 300, 650), [np.inf] * 350])
    fig = validated(forward_overflow_figure(hn, 650))
    y = arr(fig.data[0].y)
    assert np.isfinite(y[:650]).all() and np.isnan(y[650:]).all()
    assert fig.layout.yaxis.type == "log" and "651" in fig.layout.annotations[0].text


# --------------------------------------------------------------------------- projector legibility

def _path_traces(fig):
    return [d for d in fig.data if d.name and d.name.startswith("path")]


def test_pca_path_is_coloured_by_time_with_labelled_ends():
    from viz.hidden import MAX_DOTS, MAX_PATH_POINTS
    c = np.cumsum(np.random.default_rng(4).normal(size=(1000, 2)), axis=0)
    fig = validated(pca_figure(c, np.array([0.6, 0.3])))
    pieces = _path_traces(fig)
    assert 2 <= len(pieces) <= 10
    colours = [d.line.color for d in pieces]
    assert len(set(colours)) == len(colours)  # each piece in the colour of its time
    assert all(d.line.width <= 2 for d in pieces)  # thin, so the dots and ends stand out
    assert sum(arr(d.x).size for d in pieces) - (len(pieces) - 1) <= MAX_PATH_POINTS + 1
    dots = next(d for d in fig.data if d.marker.colorbar.title.text == "step t")
    assert arr(dots.x).size <= MAX_DOTS and dots.marker.colorscale is not None
    start = next(d for d in fig.data if d.name == "start")
    end = next(d for d in fig.data if d.name == "end")
    np.testing.assert_allclose([start.x[0], start.y[0]], c[0], rtol=1e-5)
    np.testing.assert_allclose([end.x[0], end.y[0]], c[-1], rtol=1e-5)
    labels = {a.text: (a.x, a.y) for a in fig.layout.annotations}
    assert labels["<b>t = 1</b> start"] == pytest.approx(tuple(c[0]), rel=1e-5)
    assert labels["<b>t = 1000</b> end"] == pytest.approx(tuple(c[-1]), rel=1e-5)
    assert all(a.bgcolor for a in fig.layout.annotations)  # legible over the path
    assert len(json.dumps(fig.to_plotly_json(), default=str)) < 200_000


def test_forward_overflow_label_is_clear_of_the_dashed_line():
    from viz.gradients import forward_overflow_figure
    for over, T in ((650, 1000), (950, 1000)):
        hn = np.concatenate([np.logspace(0, 300, over), [np.inf] * (T - over)])
        fig = validated(forward_overflow_figure(hn, over))
        line = next(s for s in fig.layout.shapes if s.type == "line")
        label = next(a for a in fig.layout.annotations if "overflow at t" in a.text)
        assert line.x0 == over + 1 and label.x == over + 1
        # anchored on one side of the line and pushed off it, on a box that hides nothing else
        assert label.xanchor in ("left", "right") and abs(label.xshift) >= 8
        assert (label.xanchor == "left") == (label.xshift > 0)
        assert label.bgcolor and label.font.color
        band = next(s for s in fig.layout.shapes if s.type == "rect")
        assert band.x0 == over + 0.5 and band.x1 == T + 0.5


def test_log_axis_labels_round_decades():
    from viz.style import decade_step
    assert [decade_step(s) for s in (4, 8, 12, 30, 308, 620)] == [1, 1, 2, 5, 50, 100]
    from viz.gradients import forward_overflow_figure
    fig = validated(forward_overflow_figure(np.logspace(0, 300, 100), 99))
    assert fig.layout.yaxis.dtick == 50


def test_dW_figure_explains_a_forward_overflow_in_the_middle_of_the_plot():
    fig = validated(dW_contribution_figure(np.full(1000, np.nan), overflow_step=650))
    note = fig.layout.annotations[0]
    assert "overflowed at t = 651" in note.text and "not a number" in note.text
    assert (note.x, note.y, note.xref, note.yref) == (0.5, 0.5, "paper", "paper")
    assert fig.layout.xaxis.title.text == "time step t" and fig.layout.xaxis.range[1] == 1000.5
    assert any(s.type == "rect" and s.x0 == 650.5 for s in fig.layout.shapes)
    # without the step it still says why; all-zero terms get their own reason
    assert "overflowed, so" in validated(dW_contribution_figure(np.full(10, np.inf))).layout.annotations[0].text
    assert "exactly 0" in validated(dW_contribution_figure(np.zeros(10))).layout.annotations[0].text


def test_dW_figure_shows_the_finite_part_and_marks_the_rest():
    v = np.concatenate([[np.inf] * 5, np.logspace(-3, 0, 15)])
    fig = validated(dW_contribution_figure(v))
    y = arr(fig.data[0].y)
    assert np.isnan(y[:5]).all() and np.isfinite(y[5:]).all()
    assert "t = 1–5" in fig.layout.annotations[0].text


def test_grad_norm_caption_matches_the_chart():
    from viz.gradients import grad_norm_caption
    assert "Play" in grad_norm_caption(True, None, 1.0, 1.35, 0.9)
    assert "Play" in grad_norm_caption(True, 900, 1.0, 1.35, 0.9)  # backward overflow: animated chart
    text = grad_norm_caption(False, 650, 1.0, 5.85, 3.0)
    assert "Play" not in text and "t = 651" in text


def test_jacobian_grid_colour_bar_labels_are_plain_unicode_powers(trace):
    steps = np.array([0, 10, 20, 40, 59])
    fig = validated(jacobian_grid_figure(steps, engine.jacobian_norm_grid(trace, steps)))
    labels = fig.data[0].colorbar.ticktext
    assert labels and all(s.startswith("10") and "<" not in s for s in labels)


def test_unroll_text_is_projector_sized_and_unclipped():
    from viz.style import SMALL_SIZE
    h = np.tanh(np.random.default_rng(0).normal(size=(100, 32)))
    fig = validated(unroll_figure(h, np.logspace(-24, 0, 100), [99]))
    texts = [d for d in fig.data if d.type == "scatter" and d.mode == "text"]
    assert texts and all(d.textfont.size >= SMALL_SIZE for d in texts)
    grad = next(d for d in texts if "1e0" in list(d.text))
    assert grad.cliponaxis is False and min(arr(grad.x)) > fig.layout.xaxis.range[0]
    assert fig.layout.sliders[0].font.size >= SMALL_SIZE
    assert all(a.font.size is None or a.font.size >= SMALL_SIZE for a in fig.layout.annotations)


def test_slider_labels_are_projector_sized(trace):
    from viz.style import SMALL_SIZE
    fig = validated(grad_norm_figure(trace.grad_h_norm, 0.9, 1.3, 1.0))
    assert fig.layout.sliders[0].font.size >= SMALL_SIZE
    assert fig.layout.xaxis.tickfont.size >= 14 and fig.layout.xaxis.title.font.size >= 16


def test_gradient_numbers_on_the_arrows_are_short():
    from viz.unroll import short_number
    assert [short_number(v) for v in (3.2e-24, 0.2046, 1.0, 0.0, np.inf, 6.5e12)] == \
        ["3e-24", "2e-1", "1e0", "0", "overflow", "6e12"]


def test_dW_caption_matches_the_chart():
    from viz.gradients import dW_caption
    assert "tower" in dW_caption(np.logspace(-5, 0, 10)) and "no term" not in dW_caption(np.ones(3))
    assert "no term" in dW_caption(np.full(10, np.nan))


# --------------------------------------------------------------------------- gated cells and the comparison

from viz.compare import (  # noqa: E402
    cell_exponent_text,
    compare_grad_figure,
    compare_readout,
    decay_exponent,
    gates_over_time_figure,
    power_text,
)
from viz.hidden import gates_heatmap  # noqa: E402
from viz.spectrum import block_name  # noqa: E402


@pytest.fixture(scope="module")
def three():
    """The same input through the three cells (T = 80, H = 12): cell -> Trace."""
    x = engine.make_input("normal", 80, 1, seed=5)
    target = engine.make_target("identity", "last", 80, 1, seed=5)
    return {cell: frozen(engine.bptt(engine.init_params(1, 12, 1, spectral_radius=0.9, seed=5, cell=cell,
                                                 forget_bias=4.0, update_bias=3.0), x, target))
            for cell in ("rnn", "lstm", "gru")}


def test_compare_readout_numbers_are_the_engines(three):
    grads = {c: tr.grad_h_norm for c, tr in three.items()}
    text = compare_readout(grads)
    expected = []
    for c, name in (("rnn", "RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
        k = np.log10(three[c].grad_h_norm[0] / three[c].grad_h_norm[-1])
        assert decay_exponent(grads[c]) == pytest.approx(k, rel=1e-12)
        r = round(k, 1)
        expected.append(f"10^{'−' if r < 0 else '+' if r > 0 else ''}{abs(r):.1f} ({name})")
    assert text == "gradient reaching step 1: " + ", ".join(expected)
    # the same exponent as the Gradients page's readout
    assert f"10^{{{np.log10(grads['rnn'][0] / grads['rnn'][-1]):+.1f}}}" in decay_readout(grads["rnn"])
    # with these biases the gated cells keep far more than the vanilla one
    assert decay_exponent(grads["lstm"]) > decay_exponent(grads["rnn"]) + 5
    assert decay_exponent(grads["gru"]) > decay_exponent(grads["rnn"]) + 5


def test_exponent_text_handles_overflow_zero_and_sign():
    assert power_text(-22.84) == "10^−22.8" and power_text(0.44) == "10^+0.4" and power_text(0.01) == "10^0.0"
    assert cell_exponent_text([1e-300 * 1e-30, 1.0]) == "exactly 0"
    assert cell_exponent_text([1.0, 0.0]) == "no gradient at step T"
    assert cell_exponent_text([np.inf, 1.0, np.nan]) == "overflow at t = 1"
    assert cell_exponent_text([1.0, 2.0, 3.0], overflow_step=1) == "10^−0.5"  # finite ends: the ratio
    assert cell_exponent_text([np.nan, np.nan], overflow_step=0) == "overflow at t = 1"
    text = compare_readout({"rnn": [np.nan, np.nan], "lstm": [1e-3, 1.0], "gru": [1.0, 1.0]}, {"rnn": 0})
    assert text == "gradient reaching step 1: overflow at t = 1 (RNN), 10^−3.0 (LSTM), 10^0.0 (GRU)"


def test_compare_grad_figure_three_log_curves(three):
    grads = {c: tr.grad_h_norm for c, tr in three.items()}
    fig = validated(compare_grad_figure(grads))
    assert_labelled(fig)
    assert len(fig.data) == 3 and fig.layout.yaxis.type == "log"
    assert fig.layout.xaxis.title.text == "step t" and fig.layout.showlegend
    assert [d.name.split()[0] for d in fig.data] == ["RNN", "LSTM", "GRU"]
    assert len({d.line.color for d in fig.data}) == 3 and len({d.line.dash for d in fig.data}) == 3
    for d, tr in zip(fig.data, three.values()):
        np.testing.assert_array_equal(arr(d.y), tr.grad_h_norm)
        assert cell_exponent_text(tr.grad_h_norm) in d.name
    lo, hi = fig.layout.yaxis.range
    all_logs = np.log10(np.concatenate(list(grads.values())))
    assert lo <= all_logs.min() and hi >= all_logs.max()
    assert fig.layout.yaxis.exponentformat == "power"
    # a cell that is all zero or not finite leaves a gap, not a crash
    fig = validated(compare_grad_figure({"rnn": np.full(5, np.inf), "lstm": np.ones(5), "gru": np.zeros(5)}))
    assert len(fig.data) == 3


def test_gates_over_time_figure_mean_and_band(three):
    f, z = three["lstm"].gates["f"], three["gru"].gates["z"]
    fig = validated(gates_over_time_figure(f, z))
    assert_labelled(fig)
    means = [d for d in fig.data if d.name and "mean" in d.name]
    bands = [d for d in fig.data if d.fill == "tonexty"]
    assert len(means) == 2 and len(bands) == 2 and len(fig.data) == 6
    np.testing.assert_allclose(arr(means[0].y), f.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(arr(means[1].y), z.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(arr(bands[0].y), f.min(axis=1), rtol=1e-6)
    assert tuple(fig.layout.yaxis.range) == (-0.02, 1.04)
    assert fig.layout.xaxis.title.text == "step t"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_heatmap_one_panel_per_gate_on_the_right_scale(three, cell):
    gates = three[cell].gates
    fig = validated(gates_heatmap(gates))
    heat = [d for d in fig.data if d.type == "heatmap"]
    assert len(heat) == len(engine.CELLS[cell].gates)
    for d, g in zip(heat, gates):
        assert d.coloraxis == ("coloraxis2" if g in ("g", "n") else "coloraxis")
        np.testing.assert_allclose(arr(d.z), np.asarray(gates[g]).T, rtol=1e-6)
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 1.0)
    assert (fig.layout.coloraxis2.cmin, fig.layout.coloraxis2.cmax) == (-1.0, 1.0)
    assert all(getattr(fig.layout, f"yaxis{'' if i == 1 else i}").title.text == "unit"
               for i in range(1, len(heat) + 1))


def test_grad_norm_figure_for_the_lstm_overlays_the_cell_gradient(three):
    tr = three["lstm"]
    fig = validated(grad_norm_figure(tr.grad_h_norm, 0.9, 1.0, 1.0, grad_c_norm=tr.grad_c_norm, bounds=False))
    assert [d.name for d in fig.data] == ["‖∂L/∂h_t‖ (BPTT)", "‖∂L/∂c_t‖ (cell state, BPTT)"]
    np.testing.assert_array_equal(arr(fig.data[1].y), tr.grad_c_norm)
    assert fig.layout.yaxis.type == "log"
    assert all(list(fr.traces) == [0, 1] for fr in fig.frames)
    # first frame (backprop at t = T) shows one point of each
    assert len(fig.frames[0].data[0].x) == 1 and len(fig.frames[0].data[1].x) == 1


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_jacobian_figure_draws_the_path_not_the_vanilla_bound(three, cell):
    tr = three[cell]
    steps = np.arange(tr.seq_len)
    path = tr.cell_path_norm if cell == "lstm" else None
    fig = validated(jacobian_figure(steps, tr.jacobian_norm, tr.seq_len, 0.9, 1.0, 1.0, cell=cell,
                          path_norm=path if path is not None else np.ones(tr.seq_len)))
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log"
    assert not any("σ_max" in (d.name or "") for d in fig.data)
    np.testing.assert_array_equal(arr(fig.data[0].y), tr.jacobian_norm)
    if cell == "lstm":
        assert "cell path" in fig.data[1].name
        np.testing.assert_array_equal(arr(fig.data[1].y), tr.cell_path_norm)


def test_spectrum_figures_name_the_gate_block():
    W = engine.init_params(1, 6, 1, cell="lstm", seed=1).recurrent_blocks()["f"]
    assert block_name("f") == "W_hf" and block_name("h") == "W_hh"
    fig = validated(eigen_figure(np.linalg.eigvals(W), 0.25, name="W_hf"))
    assert fig.layout.title.text == "Eigenvalues of W_hf"
    assert validated(singular_figure(np.linalg.svd(W, compute_uv=False), 0.25, name="W_hf")).layout.title.text == \
        "Singular values of W_hf"


def test_decay_readout_beyond_the_float_range_says_so_instead_of_inf():
    """/?T=890&rho=0.45&act=linear: the ratio is about 10^-308; 10^|k| overflows, so the readout says
    'more than 10^308×' (it used to print 'about inf× smaller')."""
    from ui.config import Config
    from ui.runs import build

    cfg = Config(T=890, rho=0.45, act="linear")
    params, x, target = build(cfg)
    g = engine.bptt(params, x, target, loss=cfg.loss).grad_h_norm
    text = decay_readout(g)
    k = np.log10(g[0]) - np.log10(g[-1])
    assert k < -300 and "inf" not in text
    assert f"10^{{{k:+.1f}}}" in text
    assert ("more than 10^308×" in text) == (abs(k) >= 308)
    assert "more than 10^308× smaller" in decay_readout(np.array([1e-300, 1e-200, 1e10]))
