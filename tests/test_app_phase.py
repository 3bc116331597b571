"""AppTest for the Phase diagram page: defaults, every control (with its extremes), refused sizes,
garbage links. No exception anywhere; the expected charts are present."""
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import engine

ROOT = Path(__file__).resolve().parent.parent
HOME = str(ROOT / "app.py")
PAGE = "pages/5_Phase_diagram.py"


def page(direct: bool = False, **query) -> AppTest:
    """Open the page as a browser would: from the home page, then switch (like tests/test_app_pages.py).
    `direct=True` opens a shared link to the page itself, which is how page-only (`ph_`) parameters arrive."""
    at = AppTest.from_file(str(ROOT / PAGE) if direct else HOME, default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if not direct:
        at.switch_page(PAGE).run()
    return at


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly figures on the page by their element key, as JSON."""
    out = {}
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        title = spec["layout"]["title"]["text"]
        out["lyapunov" if "chaos" in title else "phase"] = spec
    return out


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def heatmap(spec):
    return next(t for t in spec["data"] if t["type"] == "heatmap" and t.get("showscale") is not False)


def follow_off(at: AppTest) -> AppTest:
    return at.toggle(key="ph_follow").set_value(False).run()


def test_defaults_fast_and_small():
    at = page()
    ok(at)
    figs = charts(at)
    assert set(figs) == {"phase", "lyapunov"}
    assert not at.error
    hm = heatmap(figs["phase"])
    assert hm["zmid"] == 0
    star = [t for t in figs["phase"]["data"] if "sidebar network" in (t.get("name") or "")]
    assert star and star[0]["x"] == [0.9] and star[0]["y"] == [99]       # sidebar defaults ρ 0.9, T 100
    total = sum(len(c.proto.spec) for c in at.get("plotly_chart"))
    assert total < 1_500_000, total
    assert any("σ_max·γ = 1 bound" in i.value for i in at.info)
    assert any("What to see" in c.value for c in at.caption)


def test_marker_follows_sidebar_and_outside_note():
    at = page()
    at.slider(key="T").set_value(300).run()
    ok(at)
    star = [t for t in charts(at)["phase"]["data"] if "sidebar network" in (t.get("name") or "")][0]
    assert star["y"] == [299]
    assert any("outside this map" in c.value for c in at.caption)


def test_sidebar_values_survive_the_switch_to_this_page():
    at = AppTest.from_file(HOME, default_timeout=180).run()
    at.slider(key="T").set_value(150).run()
    at.select_slider(key="rho").set_value(1.1).run()
    at.switch_page(PAGE).run()
    ok(at)
    assert (at.slider(key="T").value, at.select_slider(key="rho").value) == (150, 1.1)
    star = [t for t in charts(at)["phase"]["data"] if "sidebar network" in (t.get("name") or "")][0]
    assert star["x"] == [1.1] and star["y"] == [149]


def test_page_controls_from_a_shared_link():
    at = page(direct=True, ph_follow="false", ph_init="orthogonal", ph_act="linear", ph_T="50", ph_res="16",
              ph_rho=["0.5", "2.5"])
    ok(at)
    assert at.slider(key="ph_T").value == 50 and at.slider(key="ph_rho").value == (0.5, 2.5)
    hm = heatmap(charts(at)["phase"])
    x = _decode(hm["x"])
    assert x.size == 16 and x[0] == pytest.approx(0.5) and x[-1] == pytest.approx(2.5)
    assert "orthogonal" in charts(at)["phase"]["layout"]["title"]["text"]


def test_follow_uses_sidebar_network():
    at = page()
    at.selectbox(key="act").set_value("linear").run()
    at.selectbox(key="init").set_value("orthogonal").run()
    ok(at)
    title = charts(at)["phase"]["layout"]["title"]["text"]
    assert "linear" in title and "orthogonal" in title


def test_nonnormal_sidebar_init_falls_back_with_a_note():
    at = page(init="nonnormal")
    ok(at)
    assert any("gaussian" in i.value and "nonnormal" in i.value for i in at.info)
    assert "gaussian" in charts(at)["phase"]["layout"]["title"]["text"]


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity"])
@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid", "linear"])
def test_every_init_and_activation(init, act):
    at = follow_off(page())
    at.selectbox(key="ph_init").set_value(init)
    at.selectbox(key="ph_act").set_value(act).run()
    ok(at)
    figs = charts(at)
    assert set(figs) == {"phase", "lyapunov"}
    title = figs["phase"]["layout"]["title"]["text"]
    assert init in title and act in title


@pytest.mark.parametrize("key,values", [
    ("ph_H", [1, 256]),
    ("ph_seeds", [1, 32]),
    ("ph_T", [10, 1000]),
    ("ph_rho", [(0.0, 0.0), (4.5, 4.5), (0.0, 4.5), (0.95, 1.05)]),
])
def test_slider_extremes(key, values):
    at = follow_off(page())
    if key == "ph_H":   # keep H = 256 within the latency budget
        at.select_slider(key="ph_res").set_value(16)
        at.slider(key="ph_seeds").set_value(2)
    for v in values:
        at.slider(key=key).set_value(v).run()
        ok(at)
        figs = charts(at)
        assert "phase" in figs and "lyapunov" in figs, (key, v)
        if key == "ph_rho":   # equal ends are widened, with a note
            assert any("two different ends" in i.value for i in at.info) == (v[0] == v[1]), v


@pytest.mark.parametrize("res", [16, 128])
def test_resolution_extremes(res):
    at = page()
    at.select_slider(key="ph_res").set_value(res).run()
    ok(at)
    assert _decode(heatmap(charts(at)["phase"])["x"]).size == res


def test_heatmap_on_page_equals_engine():
    at = page()
    ok(at)
    hm = heatmap(charts(at)["phase"])
    z = np.asarray(_decode(hm["z"]), dtype=float)
    rhos = np.linspace(0.2, 3.0, 64)
    expect = engine.sweep_spectral_radius(rhos, 200, n_hidden=32, n_seeds=8, init="gaussian", activation="tanh",
                                          seed=0)
    np.testing.assert_allclose(z, expect[:, ::-1].T, atol=6e-4, rtol=1e-6)


def _decode(v):
    if isinstance(v, dict) and "bdata" in v:
        import base64
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]).newbyteorder("<"))
        if "shape" in v:
            shape = v["shape"] if isinstance(v["shape"], list) else [int(s) for s in str(v["shape"]).split(",")]
            a = a.reshape(shape)
        return a
    return np.asarray(v, dtype=float)


def test_absurd_size_is_refused_with_a_message():
    at = follow_off(page())
    at.slider(key="ph_H").set_value(256)
    at.slider(key="ph_seeds").set_value(32)
    at.select_slider(key="ph_res").set_value(128)
    at.slider(key="ph_T").set_value(1000).run()
    ok(at)
    assert at.error and "too large" in at.error[0].value
    figs = charts(at)
    assert "phase" not in figs and "lyapunov" in figs               # the rest of the page still works


def test_engine_refusal_is_caught(monkeypatch):
    """A ValueError from the engine (whatever its cause) becomes a message, not a traceback."""
    at = follow_off(page())
    monkeypatch.setattr(engine, "MAX_SWEEP_WORK", 10**18)            # the page's own check passes ...
    at.slider(key="ph_H").set_value(256)
    at.slider(key="ph_seeds").set_value(32)
    at.select_slider(key="ph_res").set_value(128)
    at.slider(key="ph_T").set_value(1000).run()                      # ... and the engine refuses
    ok(at)
    assert at.error and "refused" in at.error[0].value


@pytest.mark.slow
def test_overflow_shown_as_overflow():
    at = follow_off(page())
    at.selectbox(key="ph_act").set_value("linear")
    at.slider(key="ph_rho").set_value((0.5, 4.5))
    at.slider(key="ph_T").set_value(1000).run()
    ok(at)
    names = [t.get("name") or "" for t in charts(at)["phase"]["data"]]
    assert any("overflow" in n for n in names)


@pytest.mark.parametrize("query", [
    {"ph_T": "abc", "ph_H": "-3", "ph_seeds": "1e9", "ph_res": "7", "ph_rho": ["x", "9"], "ph_follow": "maybe",
     "ph_init": "bogus", "ph_act": "<script>"},
    pytest.param({"T": "-5", "rho": "nan", "init": "bogus", "H": "99999", "act": "", "seed": "nan", "amp": "inf"},
                 marks=pytest.mark.slow),                          # H clamps to 256: a ~5-10 s map
    {"ph_rho": ["3", "1"], "ph_T": "1000000", "ph_follow": "false", "ph_H": "256", "ph_seeds": "32", "ph_res": "128"},
])
def test_garbage_query_params(query):
    at = page(direct=True, **query)
    ok(at)
    assert "lyapunov" in charts(at)
    assert "phase" in charts(at) or any("too large" in e.value for e in at.error)


def test_rerun_without_changes_is_cached():
    at = page()
    before = charts(at)["phase"]
    at.run()
    ok(at)
    assert charts(at)["phase"] == before


@pytest.mark.parametrize("raw", ["inf", "1e400"])
def test_infinite_seed_in_link(raw):
    ok(page(direct=True, seed=raw))


def test_sidebar_H_256_shrinks_the_map_to_fit_instead_of_refusing():
    import engine
    from ui.phase import PhaseSettings, fit_to_cap

    big = PhaseSettings(H=256)
    assert big.work > engine.MAX_SWEEP_WORK
    fitted = fit_to_cap(big)
    assert fitted.work <= engine.MAX_SWEEP_WORK
    assert (fitted.H, fitted.T, fitted.rho_lo, fitted.rho_hi) == (big.H, big.T, big.rho_lo, big.rho_hi)
    assert fitted.seeds < big.seeds
    assert fit_to_cap(PhaseSettings()) == PhaseSettings()  # defaults are untouched
