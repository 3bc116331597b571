"""Figure builders of the Phase diagram page: the content, checked against the engine's numbers."""
import json

import numpy as np
import plotly.graph_objects as go
import pytest
from naive import frozen
from specs import validated

import engine
from viz.phase import (
    CONTOUR_LEVELS,
    MAX_CONTOUR_ROWS,
    MAX_ROWS,
    PhaseMap,
    boundary_rho,
    by_distance,
    contour_label_point,
    display_distances,
    lyapunov_figure,
    phase_caption,
    phase_figure,
    phase_readout,
    power10,
)


def sweep_map(rhos, T, *, init="gaussian", act="tanh", H=8, seeds=3, seed=0) -> PhaseMap:
    rhos = np.asarray(rhos, dtype=np.float64)
    z = engine.sweep_spectral_radius(rhos, T, n_hidden=H, n_seeds=seeds, init=init, activation=act, seed=seed)
    b = engine.bound_radius(init, n_hidden=H, activation=act, n_seeds=seeds, seed=seed)
    return PhaseMap(rhos=rhos, ratios=z, bound=b, gamma=engine.activation_gamma(act), init=init, activation=act,
                    n_hidden=H, n_seeds=seeds)


def traces(fig, kind):
    return [t for t in fig.data if t.type == kind]


def main_heatmap(fig) -> go.Heatmap:
    return next(t for t in fig.data if t.type == "heatmap" and t.showscale is not False)


def named(fig, part):
    return [t for t in fig.data if t.name and part in t.name]


@pytest.fixture(scope="module")
def tanh_map():
    return frozen(sweep_map(np.linspace(0.2, 3.0, 15), 40))  # shared by several tests: read-only


def test_heatmap_equals_engine_sweep(tanh_map):
    fig = validated(phase_figure(tanh_map))
    hm = main_heatmap(fig)
    T = tanh_map.seq_len
    d = np.asarray(hm.y)
    np.testing.assert_array_equal(d, np.arange(T))                 # every distance, 0 at the bottom
    np.testing.assert_allclose(np.asarray(hm.x, dtype=float), tanh_map.rhos, atol=1e-4)
    z = np.asarray(hm.z, dtype=np.float64)
    assert z.shape == (T, tanh_map.rhos.size)
    # row d, column r = sweep[r, T-1-d]: distance T - t for step t = T - d
    expect = tanh_map.ratios[:, ::-1].T
    np.testing.assert_allclose(z, expect, atol=6e-4, rtol=1e-6)   # float32, rounded to 3 decimals
    assert np.all(z[0] == 0)                                       # distance 0: the loss step itself


def test_linear_orthogonal_map_is_distance_times_log_rho():
    """O2 through the figure: orthogonal W scaled by ρ, linear f: ratio = ρ^(T−t) exactly."""
    rhos = np.array([0.5, 0.8, 1.0, 1.25, 2.0])
    pm = sweep_map(rhos, 30, init="orthogonal", act="linear")
    z = np.asarray(main_heatmap(validated(phase_figure(pm))).z, dtype=np.float64)
    d = np.arange(30)[:, None]
    np.testing.assert_allclose(z, d * np.log10(rhos)[None, :], atol=6e-4)
    assert boundary_rho(pm) == pytest.approx(1.0)


def test_diverging_scale_centred_on_zero(tanh_map):
    hm = main_heatmap(validated(phase_figure(tanh_map)))
    assert hm.zmid == 0 and hm.zmin == -hm.zmax
    cs = [c[1] for c in hm.colorscale]
    assert cs[0] != cs[-1]                                         # two colours at the two ends
    assert "log₁₀" in hm.hovertemplate and "%{z:.3f}" in hm.hovertemplate


def test_contour_levels(tanh_map):
    fig = validated(phase_figure(tanh_map))
    cons = traces(fig, "contour")
    assert sorted(c.contours.start for c in cons) == sorted(CONTOUR_LEVELS) == [-8.0, -4.0, -2.0]
    for c in cons:
        assert c.contours.start == c.contours.end and c.contours.coloring == "none"
        assert c.autocontour is False
    assert {c.name for c in cons} == {"ratio 10⁻²", "ratio 10⁻⁴", "ratio 10⁻⁸"}
    assert power10(-8) == "10⁻⁸"


def test_contour_labels_sit_on_their_lines(tanh_map):
    """Each level's label is an annotation (not Plotly's in-browser label search) at a point where the
    contour's own grid, interpolated along ρ as the line is drawn, equals the level."""
    fig = validated(phase_figure(tanh_map))
    cons = {c.contours.start: c for c in traces(fig, "contour")}
    assert all(c.contours.showlabels is False for c in cons.values())
    labels = {a.text: a for a in fig.layout.annotations if a.xref == "x" and a.yref == "y"}
    for level, c in cons.items():
        z, x, y = np.asarray(c.z, dtype=float), np.asarray(c.x, dtype=float), np.asarray(c.y)
        crosses = np.nanmin(z) <= level <= np.nanmax(z)
        text = f"{level:.0f}".replace("-", "−")
        assert (text in labels) == crosses
        if not crosses:
            continue
        a = labels[text]
        r = int(np.flatnonzero(y == a.y)[0])
        j = int(np.searchsorted(x, a.x)) - 1
        j = min(max(j, 0), x.size - 2)
        f = (a.x - x[j]) / (x[j + 1] - x[j])
        assert 0.0 <= f <= 1.0
        assert abs(z[r, j] + f * (z[r, j + 1] - z[r, j]) - level) < 1e-9


def test_contour_label_point_rules():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    z = np.array([[0.0, 1.0, 2.0, 3.0],      # crosses 1.5 at x = 1.5
                  [np.nan, 0.0, 4.0, 8.0],   # crosses 1.5 at x = 1.375, NaN cells skipped
                  [9.0, 9.0, 9.0, 9.0]])     # never
    y = np.array([0, 10, 20])
    assert contour_label_point(z, x, y, 1.5, 0.0) == (1.5, 0.0)
    assert contour_label_point(z, x, y, 1.5, 0.5) == (1.375, 10.0)
    assert contour_label_point(z, x, y, 1.5, 1.0) == (1.375, 10.0)   # nearest row that crosses
    assert contour_label_point(z, x, y, -5.0, 0.5) is None
    flat = np.full((2, 4), 1.5)
    assert contour_label_point(flat, x, y[:2], 1.5, 0.5) is None     # a plateau has no line to label


def test_contour_grid_matches_heatmap_rows():
    pm = sweep_map(np.linspace(0.5, 1.5, 6), 400, H=4, seeds=1)
    fig = validated(phase_figure(pm))
    hm = main_heatmap(fig)
    for c in traces(fig, "contour"):
        y = np.asarray(c.y)
        assert y.size <= MAX_CONTOUR_ROWS and y[0] == 0 and y[-1] == 399
        z = np.asarray(c.z, dtype=float)
        rows = np.searchsorted(np.asarray(hm.y), y)
        np.testing.assert_allclose(z, np.asarray(hm.z, dtype=float)[rows], atol=1e-6)


def test_rho_one_and_bound_lines_at_the_right_x(tanh_map):
    fig = validated(phase_figure(tanh_map))
    one = named(fig, "ρ = 1 (spectral radius")
    assert len(one) == 1 and list(one[0].x) == [1.0, 1.0]
    bound = named(fig, "σ_max·γ = 1 at ρ")
    b = engine.bound_radius("gaussian", n_hidden=8, activation="tanh", n_seeds=3, seed=0)
    assert len(bound) == 1 and list(bound[0].x) == [b, b]
    assert 0.2 < b < 1.0                                           # O7: gaussian crosses the bound before ρ = 1
    assert one[0].line.dash == "solid" and bound[0].line.dash == "dash"
    assert "largest singular value" in bound[0].name and "max |eigenvalue|" in one[0].name
    texts = [a.text for a in fig.layout.annotations]
    assert any("ρ = 1" in t for t in texts) and any("σ_max·γ = 1" in t for t in texts)
    # both lines span the whole map vertically
    assert list(one[0].y) == [0, tanh_map.seq_len - 1]


def test_orthogonal_tanh_lines_coincide():
    pm = sweep_map([0.5, 1.0, 1.5], 10, init="orthogonal")
    fig = validated(phase_figure(pm))
    assert pm.bound == pytest.approx(1.0)
    lines = [t for t in fig.data if t.type == "scatter" and t.x is not None and len(t.x) == 2 and t.x[0] == t.x[1]]
    assert len(lines) == 1 and "coincide" in lines[0].name


def test_bound_off_the_map_is_pointed_at():
    pm = sweep_map([0.5, 1.0, 1.5, 2.0], 10, init="orthogonal", act="sigmoid")
    assert pm.bound == pytest.approx(4.0)
    fig = validated(phase_figure(pm))
    assert not named(fig, "σ_max·γ = 1 at ρ")
    assert any("off the map" in a.text and "4.00" in a.text for a in fig.layout.annotations)


def test_overflow_cells_are_marked_not_holes():
    rhos = np.array([0.5, 1.0, 2.5, 3.0])
    pm = sweep_map(rhos, 1000, act="linear", H=4, seeds=2)
    assert np.isnan(pm.ratios).any()
    fig = validated(phase_figure(pm))
    hm = main_heatmap(fig)
    z = np.asarray(hm.z, dtype=float)
    over = named(fig, "overflow")
    grey = [t for t in over if t.type == "heatmap"]
    assert len(grey) == 1 and "overflow" in grey[0].hovertemplate
    mask = np.isfinite(np.asarray(grey[0].z, dtype=float))
    holes = ~np.isfinite(z)
    np.testing.assert_array_equal(mask, holes)                      # every non-finite cell is covered
    np.testing.assert_array_equal(mask, np.isnan(by_distance(pm.ratios, np.asarray(hm.y))))
    hatch = [t for t in over if t.type == "scatter"]
    assert len(hatch) == 1 and len(hatch[0].x) > 0
    assert grey[0].showlegend is True


def test_exact_zero_gradient_is_marked():
    pm = PhaseMap(rhos=np.array([0.0, 1.0]), ratios=np.array([[-np.inf, -np.inf, 0.0], [-1.0, -0.5, 0.0]]),
                  bound=1.0, gamma=1.0, init="identity", activation="relu", n_hidden=2, n_seeds=1)
    fig = validated(phase_figure(pm))
    zero = named(fig, "exactly 0")
    assert len(zero) == 1
    np.testing.assert_array_equal(np.isfinite(np.asarray(zero[0].z, dtype=float)),
                                  [[False, False], [True, False], [True, False]])


def test_marker_at_sidebar_rho_and_T(tanh_map):
    fig = validated(phase_figure(tanh_map, marker=(0.9, 30)))
    m = named(fig, "sidebar network")
    assert len(m) == 1 and list(m[0].x) == [0.9] and list(m[0].y) == [29]
    assert m[0].marker.symbol == "star"
    assert not named(validated(phase_figure(tanh_map)), "sidebar network")


def test_long_sequences_are_subsampled_and_still_exact():
    T = 1000
    pm = sweep_map(np.linspace(0.5, 1.5, 5), T, H=4, seeds=1)
    hm = main_heatmap(validated(phase_figure(pm)))
    d = np.asarray(hm.y)
    np.testing.assert_array_equal(d, display_distances(T))
    assert d.size <= MAX_ROWS and d[0] == 0 and d[-1] == T - 1
    np.testing.assert_allclose(np.asarray(hm.z, dtype=float), pm.ratios[:, T - 1 - d].T, atol=6e-4,
                               rtol=1e-6)


def test_payload_small():
    """Largest map the page allows (128 ρ × 1000 steps) stays far below 1.5 MB."""
    rhos = np.linspace(0.2, 3.0, 128)
    z = -np.outer(1.0 / rhos, np.arange(1000)[::-1]) / 50       # (R, T) synthetic, same shape as a sweep
    pm = PhaseMap(rhos=rhos, ratios=z, bound=0.55, gamma=1.0, init="gaussian", activation="tanh",
                  n_hidden=32, n_seeds=8)
    size = len(validated(phase_figure(pm, marker=(0.9, 100))).to_json())
    assert size < 700_000, size
    hm = main_heatmap(validated(phase_figure(pm)))
    assert np.asarray(hm.z).dtype == np.float32


def test_figure_has_titles_and_legend(tanh_map):
    fig = validated(phase_figure(tanh_map, marker=(0.9, 30)))
    assert "tanh" in fig.layout.title.text and "gaussian" in fig.layout.title.text
    assert "ρ" in fig.layout.xaxis.title.text and "T − t" in fig.layout.yaxis.title.text
    assert json.loads(fig.to_json())                                # serialisable (no NaN holes as strings)


def test_readout_and_caption(tanh_map):
    text = phase_readout(tanh_map)
    assert f"{tanh_map.bound:.2f}" in text
    cap = phase_caption(tanh_map, (0.9, 30), inside=True)
    assert "tanh bends it" in cap and "σ_max ≈ 2ρ" in cap and "ρ = 1" in cap
    assert "outside this map" in phase_caption(tanh_map, (0.9, 300), inside=False)
    ortho = sweep_map([0.5, 1.0], 5, init="orthogonal", act="sigmoid")
    assert "1/γ = 4" in phase_caption(ortho, (0.9, 3), inside=True)


def test_lyapunov_figure_zero_line_and_values():
    gains = np.array([0.5, 0.95, 1.05, 2.0])
    lam = engine.lyapunov_curve(gains, n_hidden=128, steps=600, burn_in=200, seed=0)
    fig = validated(lyapunov_figure(gains, lam))
    zero = named(fig, "edge of chaos")
    assert len(zero) == 1 and list(zero[0].y) == [0.0, 0.0]
    curve = named(fig, "Lyapunov")[0]
    np.testing.assert_allclose(np.asarray(curve.y, dtype=float), lam, atol=1e-5)
    np.testing.assert_allclose(np.asarray(curve.x, dtype=float), gains, atol=1e-4)
    assert lam[0] < 0 < lam[-1]                                     # O8: the sign changes across g = 1
    assert "gain g" in fig.layout.xaxis.title.text


def test_contour_labels_read_on_dark_blue_and_white(tanh_map):
    """White bold labels with a dark halo, at least axis-title size: legible on the dark-blue
    vanishing region, on the pale region near ratio 1, and in both themes."""
    fig = validated(phase_figure(tanh_map))
    labels = [a for a in fig.layout.annotations if a.xref == "x" and a.yref == "y"]
    assert labels
    for a in labels:
        f = a.font
        assert f.size >= 16 and a.bgcolor is None      # no box: the line stays visible around it
        assert f.color.lower() in ("#ffffff", "white") and f.weight == "bold"
        assert f.shadow and "#111111" in f.shadow


def test_dead_seeds_are_marked_with_their_count():
    pm = PhaseMap(rhos=np.array([0.5, 1.0]), ratios=np.array([[-1.0, -0.5, 0.0], [-0.2, -0.1, 0.0]]),
                  bound=0.5, gamma=1.0, init="gaussian", activation="relu", n_hidden=1, n_seeds=6,
                  dead=np.array([0, 3]))
    fig = validated(phase_figure(pm))
    marks = [t for t in fig.data if t.name and t.name.startswith("dead seeds")]
    assert len(marks) == 1
    assert list(marks[0].x) == [1.0] and list(marks[0].customdata) == [3]
    assert not any(t.name and t.name.startswith("dead seeds") for t in validated(phase_figure(
        PhaseMap(**{**pm.__dict__, "dead": np.array([0, 0])}))).data)
