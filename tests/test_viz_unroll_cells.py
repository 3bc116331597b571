"""The unrolled graph of the gated cells: gate nodes, the LSTM's cell-state lane, the GRU's copy arcs,
and gradient arrows sized by the engine's own norms."""
import json

import numpy as np
import pytest
from naive import frozen
from specs import validated

import engine
from viz.style import SMALL_SIZE
from viz.unroll import CELL_LAYOUTS, GRAD_MIN_DECADES, gate_shade, grad_style, unroll_figure, window

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def trace_of(cell: str, T: int, H: int = 16, seed: int = 4, **kw):
    p = engine.init_params(1, H, 1, spectral_radius=0.9, seed=seed, cell=cell, **kw)
    x = engine.make_input("normal", T, 1, seed=seed)
    return engine.bptt(p, x, engine.make_target("identity", "last", T, 1, seed=seed))


def figure_of(cell: str, tr) -> object:
    return validated(unroll_figure(tr.h, tr.grad_h_norm, [tr.h.shape[0] - 1], "tanh", cell=cell, gates=tr.gates,
                         c=tr.c, grad_c_norm=tr.grad_c_norm))


def scatters(fig):
    return [d for d in fig.data if d.type == "scatter"]


def gate_trace(fig):
    return next(d for d in fig.data if d.name == "gates")


def back_arrows(fig, lane: str):
    """The backward arrows of one lane ("h" or "c"), in column order."""
    return [d for d in scatters(fig) if d.mode == "lines+markers" and d.x is not None and len(d.x) == 2
            and d.name == f"∂L/∂{lane}_t flowing back (log size)"]


def shown_steps(T: int) -> list[int]:
    return [s for s in window(T) if s is not None]


@pytest.fixture(scope="module", params=["lstm", "gru"])
def cell_fig(request):
    cell = request.param
    tr = frozen(trace_of(cell, 100))  # shared by several tests: read-only
    return cell, tr, figure_of(cell, tr)


def test_gate_nodes_carry_the_gate_names_in_every_column(cell_fig):
    cell, tr, fig = cell_fig
    gates = gate_trace(fig)
    steps = shown_steps(100)
    assert list(gates.text) == list(GATES[cell]) * len(steps)
    assert gates.textfont.size >= SMALL_SIZE
    # each node's shade is the gate's mean at that step (mean |.| for the tanh candidate)
    shade = np.asarray(gates.marker.color, dtype=float).reshape(len(steps), -1)
    for j, (name, _, _, squashed) in enumerate(CELL_LAYOUTS[cell].gates):
        v = np.asarray(tr.gates[name])[steps]
        want = np.abs(v).mean(axis=1) if squashed else v.mean(axis=1)
        np.testing.assert_allclose(shade[:, j], want, rtol=1e-5, atol=1e-6)
    assert 0 <= shade.min() and shade.max() <= 1
    assert gates.marker.cmin == 0 and gates.marker.cmax == 1 and gates.marker.showscale
    assert gates.marker.colorbar.title.text  # the shading has a legend of its own


def test_the_cell_state_lane_exists_for_the_lstm_only(cell_fig):
    cell, _, fig = cell_fig
    c_nodes = [d for d in fig.data if d.name == "c_t"]
    c_arrows = back_arrows(fig, "c")
    lanes = next(d for d in scatters(fig) if d.mode == "text" and "hₜ" in list(d.text))
    n = len(shown_steps(100))
    if cell == "lstm":
        assert len(c_nodes) == 1 and len(c_nodes[0].x) == n and len(c_arrows) == n
        assert "cₜ" in list(lanes.text)
        # the c lane sits above the h chain
        assert min(c_nodes[0].y) > CELL_LAYOUTS["lstm"].y_h
        assert any(d.name and d.name.startswith("cell state") for d in fig.data)
    else:
        assert not c_nodes and not c_arrows and "cₜ" not in list(lanes.text)
        assert any(d.name and d.name.startswith("copy path") for d in fig.data)
    assert len(back_arrows(fig, "h")) == n


def test_backward_frames_size_the_arrows_by_the_engine_norms(cell_fig):
    """Widths are affine in log10 ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ on the same scale): the last frame of the
    backward pass shows every arrow with the width the engine's numbers give it."""
    cell, tr, fig = cell_fig
    steps = shown_steps(100)
    lanes = ["h", "c"] if cell == "lstm" else ["h"]
    norms = {"h": tr.grad_h_norm[steps], "c": None if tr.grad_c_norm is None else tr.grad_c_norm[steps]}
    expected, _, _, _ = grad_style(np.concatenate([norms[lane] for lane in lanes]), GRAD_MIN_DECADES)
    last = fig.frames[-1]
    assert last.name == "backward t = 1"
    index = {id(d): k for k, d in enumerate(fig.data)}
    widths = []
    for lane in lanes:
        for arrow in back_arrows(fig, lane):
            k = list(last.traces).index(index[id(arrow)])
            widths.append(last.data[k].line.width)
    np.testing.assert_allclose(widths, expected)
    logs = np.log10(np.concatenate([norms[lane] for lane in lanes]))
    slope, icpt = np.polyfit(logs, widths, 1)
    assert slope > 0
    np.testing.assert_allclose(np.asarray(widths), slope * logs + icpt, atol=1e-9)
    # the numbers over the arrows are the engine's, rounded
    texts = [d for d in last.data if d.text is not None and len(d.text) == len(steps)]
    assert len(texts) == len(lanes)
    first_frame_texts = [d for d in fig.frames[0].data if d.text is not None and len(d.text) == len(steps)]
    assert all(t == "" for d in first_frame_texts for t in d.text)  # nothing flows back yet


def test_forward_frames_reveal_the_gates_column_by_column(cell_fig):
    cell, _, fig = cell_fig
    k = len(GATES[cell])
    gi = list(fig.data).index(gate_trace(fig))
    first = fig.frames[0]
    op = np.asarray(first.data[list(first.traces).index(gi)].marker.opacity)
    assert np.all(op[:k] == 1) and np.all(op[k:] < 0.5)
    last_forward = [f for f in fig.frames if f.name.startswith("forward")][-1]
    op = np.asarray(last_forward.data[list(last_forward.traces).index(gi)].marker.opacity)
    assert np.all(op == 1)


def test_gru_copy_arcs_are_as_thick_as_the_update_gate_is_open():
    tr = trace_of("gru", 12, update_bias=0.0)
    shut = figure_of("gru", tr)
    tr_open = trace_of("gru", 12, update_bias=4.0)
    opened = figure_of("gru", tr_open)

    def arcs(fig):
        return [d for d in fig.data if d.hovertemplate and d.hovertemplate.startswith("mean z")]

    assert len(arcs(shut)) == len(shown_steps(12)) - 1 == len(arcs(opened))
    assert min(d.line.width for d in arcs(opened)) > max(d.line.width for d in arcs(shut))
    labels = [t for d in scatters(shut) if d.mode == "text" for t in d.text]
    assert labels.count("z⊙h") == len(shown_steps(12)) - 1


def test_lstm_highway_label_and_width_follow_the_forget_gate():
    keep = figure_of("lstm", trace_of("lstm", 8, forget_bias=6.0))
    leak = figure_of("lstm", trace_of("lstm", 8, forget_bias=-3.0))

    def highway(fig):
        return [d for d in fig.data if d.hovertemplate and d.hovertemplate.startswith("mean f")]

    assert len(highway(keep)) == 7
    assert min(d.line.width for d in highway(keep)) > max(d.line.width for d in highway(leak))
    labels = [t for d in scatters(keep) if d.mode == "text" for t in d.text]
    assert labels.count("× f") == 7


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_payload_is_bounded_and_text_projector_sized(cell):
    tr = trace_of(cell, 1000, H=256, seed=1)
    fig = figure_of(cell, tr)
    assert len(fig.to_json()) < 250_000
    assert fig.layout.xaxis.fixedrange and fig.layout.yaxis.fixedrange
    assert fig.layout.xaxis.range and fig.layout.yaxis.range
    texts = [d for d in scatters(fig) if d.mode and "text" in d.mode]
    assert all(d.textfont.size is None or d.textfont.size >= SMALL_SIZE for d in texts)
    assert all(a.font.size is None or a.font.size >= SMALL_SIZE for a in fig.layout.annotations)
    assert fig.layout.title.text.startswith(f"The unrolled {CELL_LAYOUTS[cell].name}: 1000 steps")
    json.dumps(fig.to_plotly_json(), default=str)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_single_step_and_non_finite_values_do_not_break_the_figure(cell):
    T, H = 1, 3
    gates = {g: np.full((T, H), np.nan) for g in GATES[cell]}
    c = np.full((T, H), np.inf) if cell == "lstm" else None
    fig = validated(unroll_figure(np.full((T, H), np.nan), np.array([np.nan]), [0], "tanh", cell=cell, gates=gates,
                        c=c, grad_c_norm=np.array([np.inf]) if cell == "lstm" else None))
    assert len(fig.frames) == 2
    assert np.all(np.asarray(gate_trace(fig).marker.color) == 0)
    assert gate_shade(np.array([[np.nan, 0.5]]), False)[0] == pytest.approx(0.5)


def test_the_vanilla_rnn_figure_is_unchanged_by_the_cell_argument():
    tr = trace_of("rnn", 30)
    a = validated(unroll_figure(tr.h, tr.grad_h_norm, [29], "tanh"))
    b = validated(unroll_figure(tr.h, tr.grad_h_norm, [29], "tanh", cell="rnn", gates={}))
    assert a.to_json() == b.to_json()
    assert not any(d.name == "gates" for d in a.data)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cached_unroll_figure_and_step_numbers_come_from_the_run(cell):
    import plotly.io as pio

    from ui import figures, runs
    from ui.config import Config
    cfg = Config(cell=cell, T=14, H=6, seed=3)
    run = runs.run_bptt(cfg)
    spec = figures.unroll_fig(cfg)
    assert figures.unroll_fig(cfg) is spec
    fig = validated(spec)
    built = validated(unroll_figure(run.h, run.grad_h_norm, run.loss_steps, cfg.act, cell=cell, gates=run.gates,
                          c=run.c, grad_c_norm=run.grad_c_norm))
    assert pio.to_json(fig, validate=False) == pio.to_json(built, validate=False)
    for t in (1, 9, 14):
        sn = runs.run_step_numbers(cfg, t)
        g = sn.gates
        assert sn.cell == cell and set(g) == set(GATES[cell])
        # the weighted terms add up to every gate's pre-activation (the GRU's n also has r ⊙ (W_hn h + b_hn))
        k = (4 if cell == "lstm" else 2) * cfg.H
        np.testing.assert_allclose((sn.Wx + sn.Wh + sn.b_h)[:k], run.a[t - 1][:k], atol=1e-12)
        if cell == "lstm":
            np.testing.assert_allclose(sn.c_t, g["f"] * sn.c_prev + g["i"] * g["g"], atol=1e-6)
            np.testing.assert_allclose(sn.h_t, g["o"] * np.tanh(sn.c_t), atol=1e-6)
            assert sn.grad_c_norm == pytest.approx(run.grad_c_norm[t - 1])
        else:
            np.testing.assert_allclose(sn.h_t, (1 - g["z"]) * g["n"] + g["z"] * sn.h_prev, atol=1e-6)
            assert sn.c_t is None and sn.grad_c_norm is None
    assert np.all(runs.run_step_numbers(cfg, 1).h_prev == 0)


def test_a_kept_gradient_is_drawn_alike_along_the_chain():
    """GRU with the update gate shut: ‖∂L/∂h_t‖ barely changes, so no arrow may look vanished."""
    tr = trace_of("gru", 100, update_bias=6.0)
    steps = shown_steps(100)
    g = tr.grad_h_norm[steps]
    assert np.log10(g.max() / g.min()) < 0.5
    widths = [d.line.width for d in back_arrows(figure_of("gru", tr), "h")]
    assert min(widths) > 0.8 * max(widths)
    # while a vanishing one still spans the whole range
    widths, _, lo, hi = grad_style(np.logspace(-12, 0, 8), GRAD_MIN_DECADES)
    assert (lo, hi) == (-12, 0) and widths[0] == 1.5 and widths[-1] == 12
