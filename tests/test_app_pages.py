"""Streamlit AppTest for every page: defaults, every control, extremes, garbage URLs, presets."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import engine
from ui.config import FIELDS, Config
from ui.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
HOME = "app.py"
PAGES = {
    HOME: 1,
    "pages/0_Lesson.py": 1,
    "pages/1_Unroll.py": 1,
    "pages/2_Hidden_state.py": 4,
    "pages/3_Gradients.py": 4,
    "pages/4_Spectrum.py": 3,
    "pages/5_Phase_diagram.py": 2,
    "pages/6_RNN_vs_LSTM_vs_GRU.py": 2,
}
# Pages whose number of charts depends on the cell (the LSTM adds c_t and the gates, the GRU the gates).
CHARTS_BY_CELL = {"pages/2_Hidden_state.py": {"lstm": 6, "gru": 5}}
COMPARE = "pages/6_RNN_vs_LSTM_vs_GRU.py"
MAX_PAGE_BYTES = 1_500_000


def open_page(page: str, query: dict | None = None) -> AppTest:
    """Start at the home page (the real entry point), then switch, as a browser would."""
    at = AppTest.from_file(str(ROOT / HOME), default_timeout=180)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page != HOME:
        at.switch_page(page).run()
    return at


def assert_ok(at: AppTest, page: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart")
    cell = at.selectbox(key="cell").value
    assert len(charts) == CHARTS_BY_CELL.get(page, {}).get(cell, PAGES[page]), (page, cell)
    for c in charts:
        assert len(c.proto.spec) > 100


def widget(at: AppTest, name: str):
    kind = FIELDS[name].kind
    if name == "seed":
        return at.number_input(key=name)
    if kind in ("int", "float"):
        return at.slider(key=name)
    if kind == "rho":
        return at.select_slider(key=name)
    return at.selectbox(key=name)


def current(at: AppTest) -> Config:
    return Config(**{name: widget(at, name).value for name in FIELDS})


@pytest.mark.parametrize("page", list(PAGES))
def test_page_loads_with_defaults_within_the_payload_budget(page):
    at = open_page(page)
    assert_ok(at, page)
    assert current(at) == Config()
    total = sum(len(c.proto.spec) for c in at.get("plotly_chart"))
    assert total <= MAX_PAGE_BYTES, f"{page}: {total} bytes"
    assert at.title and at.title[0].value


def _extremes(name):
    spec = FIELDS[name]
    if spec.kind == "choice":
        return list(spec.options)
    if spec.kind == "int":
        return [int(spec.lo), int(spec.hi)]
    return [float(spec.lo), float(spec.hi)]


@pytest.mark.slow
@pytest.mark.parametrize("page", list(PAGES))
def test_every_control_and_both_slider_extremes(page):
    # In the sidebar a gate bias is live only for its own cell (on the comparison page always), so each
    # is moved in a session opened with that cell. (A separate session: AppTest keeps the first value a
    # widget wrote to the URL, and a widget that turns disabled falls back to it; a browser does not.)
    enabling = {} if page == COMPARE else {"fb": "lstm", "zb": "gru"}
    sessions = [(None, [n for n in FIELDS if n not in enabling])]
    sessions += [(cell, [name]) for name, cell in enabling.items()]
    for cell, names in sessions:
        at = open_page(page, {"cell": cell} if cell else None)
        start = current(at)
        for name in names:
            default = getattr(start, name)
            for value in _extremes(name):
                if value == default:
                    continue
                widget(at, name).set_value(value).run()
                assert_ok(at, page)
                assert getattr(current(at), name) == value, (name, value)
            widget(at, name).set_value(default).run()
        assert current(at) == start


WORST = {"T": 1000, "H": 256, "rho": 3.0, "act": "linear"}


@pytest.mark.slow
@pytest.mark.parametrize("page", list(PAGES))
def test_worst_combination(page):
    at = open_page(page, {k: str(v) for k, v in WORST.items()})
    assert_ok(at, page)
    cfg = current(at)
    assert (cfg.T, cfg.H, cfg.rho, cfg.act) == (1000, 256, 3.0, "linear")
    if page in ("pages/1_Unroll.py", "pages/3_Gradients.py"):
        assert any("Overflow at step" in w.value for w in at.warning)


def sidebar_notices(at) -> str:
    """The link notice: a warning heading and the quoted values as plain text elements."""
    return " ".join([w.value for w in at.sidebar.warning] + [t.value for t in at.sidebar.text])


# What a hostile link puts in every field: Markdown (a link, an image, a heading, emphasis, a code span
# closed early), raw HTML, LaTeX and Streamlit's own colour and icon directives.
HOSTILE = {
    "T": "`[Log in again](http://127.0.0.1:9)", "H": "`![](http://127.0.0.1:9/a.png)", "act": "`# BIG",
    "seed": "`**Session expired**", "rho": "<img src=x onerror=alert(1)>", "amp": "$$\\int$$",
    "signal": ":red[alarm] :material/warning:", "init": "<script>alert(1)</script>", "loss": "_x_ ~~y~~",
    "out": "<b>bold</b>", "cell": "[x](javascript:alert(1))", "D": "# h1", "O": "> quote", "fb": "*", "zb": "|a|b|",
}


@pytest.mark.parametrize("page", ["app.py", "pages/3_Gradients.py"])
def test_link_text_is_never_interpreted(page):
    """URL values are quoted as plain text: no Markdown element carries any of them (issue: a backtick
    closed the code span and the page showed a heading, bold text, a link and a remote image)."""
    at = open_page(page, HOSTILE)
    assert_ok(at, page)
    assert current(at) == Config()  # nothing in the link is a valid value
    quoted = " ".join(t.value for t in at.sidebar.text)
    markdown = " ".join([m.value for m in at.markdown] + [m.value for m in at.sidebar.markdown]
                        + [w.value for w in at.warning] + [w.value for w in at.sidebar.warning]
                        + [c.value for c in at.caption] + [c.value for c in at.sidebar.caption])
    for name, raw in HOSTILE.items():
        if name not in ("T", "H", "seed", "act"):  # the four of the issue must be quoted in full
            continue
        assert f"{name}={raw[:30]}" in quoted, (name, quoted)  # quoted as typed (up to 30 characters)
    for needle in ("127.0.0.1:9", "Session expired", "# BIG", "<script>", "onerror", ":red[", "javascript:"):
        assert needle not in markdown, needle


GARBAGE = {"T": "abc", "H": "99999", "rho": "-5", "act": "softplus", "seed": "1e99", "amp": "nan",
           "signal": "", "init": "<b>x</b>", "junk": "1", "loss": "everything"}


@pytest.mark.parametrize("page", list(PAGES))
def test_garbage_query_parameters_are_clamped_or_ignored_with_a_notice(page):
    at = open_page(page, GARBAGE)
    assert_ok(at, page)
    cfg = current(at)
    assert cfg == Config(H=256, rho=0.0, seed=9999)
    notices = sidebar_notices(at)
    assert "H=99999" in notices and "T=abc" in notices and "act=softplus" in notices


def test_valid_query_parameters_reproduce_the_view():
    at = open_page("pages/3_Gradients.py", {"T": "250", "rho": "1.05", "act": "relu", "loss": "all"})
    assert_ok(at, "pages/3_Gradients.py")
    assert current(at) == Config(T=250, rho=1.05, act="relu", loss="all")
    assert not at.sidebar.warning


def test_values_survive_page_switches():
    at = open_page(HOME)
    at.slider(key="T").set_value(321).run()
    at.selectbox(key="act").set_value("relu").run()
    for page in list(PAGES)[1:] + [HOME]:
        at.switch_page(page).run()
        assert_ok(at, page)
        assert (at.slider(key="T").value, at.selectbox(key="act").value) == (321, "relu"), page


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_each_preset_from_the_sidebar(preset):
    page = "pages/3_Gradients.py" if preset.page.endswith("Gradients.py") else preset.page
    at = open_page(page)
    at.button(key=f"preset_{preset.key}").click().run()
    assert_ok(at, page)
    assert current(at) == preset.config


def test_preset_gallery_on_home_and_reset():
    at = open_page(HOME)
    at.button(key="gallery_nonnormal").click().run()
    assert_ok(at, HOME)
    assert current(at) == next(p.config for p in PRESETS if p.key == "nonnormal")
    reset = next(b for b in at.sidebar.button if b.label == "Reset to defaults")
    reset.click().run()
    assert current(at) == Config()


def test_finite_difference_button_reports_agreement():
    page = "pages/3_Gradients.py"
    at = open_page(page)
    btn = next(b for b in at.button if b.label.startswith("Check BPTT"))
    btn.click().run()
    assert_ok(at, page)
    text = " ".join(m.value for m in at.markdown)
    assert "relative error" in text and "agreement" in text


def test_finite_difference_button_on_an_overflowing_network_warns():
    page = "pages/3_Gradients.py"
    at = open_page(page, {"T": "1000", "rho": "3", "act": "linear"})
    next(b for b in at.button if b.label.startswith("Check BPTT")).click().run()
    assert_ok(at, page)
    assert any("cannot run" in w.value for w in at.warning)


def test_unroll_step_numbers_panel():
    page = "pages/1_Unroll.py"
    at = open_page(page, {"T": "12"})
    step = at.slider(key="step_of_12")
    step.set_value(1).run()
    assert_ok(at, page)
    assert at.dataframe and at.dataframe[0].value.shape[0] == 16
    assert any("a_{1}" in x.value for x in at.latex)


def test_share_link_carries_the_config():
    at = open_page("pages/4_Spectrum.py")
    at.slider(key="T").set_value(77).run()
    at.select_slider(key="rho").set_value(1.05).run()
    code = " ".join(c.value for c in at.sidebar.code)
    assert "T=77" in code and "rho=1.05" in code


@pytest.mark.parametrize("raw,expected", [("inf", 0), ("-inf", 0), ("1e400", 0), ("nan", 0), ("-7", 0),
                                          ("123456", 9999), ("42", 42)])
def test_seed_links_never_crash(raw, expected):
    at = open_page("pages/2_Hidden_state.py", {"seed": raw, "T": "20"})
    assert_ok(at, "pages/2_Hidden_state.py")
    assert at.number_input(key="seed").value == expected
    assert at.slider(key="T").value == 20


# --------------------------------------------------------------------------- gated cells

def chart_text(at: AppTest, i: int | None = None) -> str:
    """The figure JSON of chart i (default: all charts) with unicode unescaped, for text checks."""
    charts = at.get("plotly_chart")
    picked = charts if i is None else [charts[i]]
    return " ".join(json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in picked)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_with_each_gated_cell(page, cell):
    at = open_page(page, {"cell": cell})
    assert_ok(at, page)
    assert current(at) == Config(cell=cell)
    assert not at.sidebar.warning
    assert at.selectbox(key="act").disabled
    if page == "pages/5_Phase_diagram.py":
        assert any("vanilla RNN" in i.value for i in at.info)
        assert "sidebar network" not in chart_text(at, 0)   # no ★ for a gated cell
    if page == "pages/4_Spectrum.py":
        assert any("not the whole story" in i.value for i in at.info)
        assert at.dataframe[0].value.shape[0] == len(engine.CELLS[cell].gates)
    if page == "pages/3_Gradients.py":
        spec = chart_text(at)
        assert "(γ·σ_max)^(T−t)" not in spec          # the vanilla bound is not drawn for a gated cell
        if cell == "lstm":
            assert "∂L/∂c_t" in spec and "cell path" in spec
        text = " ".join(c.value for c in at.caption)
        assert ("forget gate" in text) if cell == "lstm" else ("z_t ⊙ h_{t−1}" in text)


@pytest.mark.parametrize("act", ["relu", "linear"])
def test_a_gated_link_with_another_activation_is_coerced_to_tanh(act):
    at = open_page("pages/3_Gradients.py", {"cell": "lstm", "act": act, "T": "30"})
    assert_ok(at, "pages/3_Gradients.py")
    assert current(at) == Config(cell="lstm", T=30)
    notices = sidebar_notices(at)
    assert f"act={act}" in notices and "tanh" in notices
    assert "cell=lstm" in " ".join(c.value for c in at.sidebar.code)


def test_choosing_a_gated_cell_sets_the_activation_to_tanh():
    at = open_page("pages/2_Hidden_state.py", {"act": "relu", "T": "20"})
    assert at.selectbox(key="act").value == "relu" and not at.selectbox(key="act").disabled
    at.selectbox(key="cell").set_value("gru").run()
    assert_ok(at, "pages/2_Hidden_state.py")
    assert current(at) == Config(cell="gru", T=20)
    assert at.selectbox(key="act").disabled
    assert not at.slider(key="zb").disabled and at.slider(key="fb").disabled


def test_cell_and_gate_biases_survive_page_switches():
    at = open_page(COMPARE)
    at.slider(key="fb").set_value(4.0).run()
    at.slider(key="zb").set_value(3.0).run()
    at.selectbox(key="cell").set_value("lstm").run()
    for page in list(PAGES):
        at.switch_page(page).run()
        assert_ok(at, page)
        assert current(at) == Config(cell="lstm", fb=4.0, zb=3.0), page


def _compare_readout(cfg: Config) -> str:
    from viz.compare import compare_readout
    grads, over = {}, {}
    for cell in ("rnn", "lstm", "gru"):
        p = engine.init_params(cfg.D, cfg.H, cfg.O, init=cfg.init, spectral_radius=cfg.rho,
                               activation=cfg.act if cell == "rnn" else "tanh", output=cfg.out, seed=cfg.seed,
                               cell=cell, forget_bias=cfg.fb, update_bias=cfg.zb)
        tr = engine.bptt(p, engine.make_input(cfg.signal, cfg.T, cfg.D, amplitude=cfg.amp, seed=cfg.seed),
                         engine.make_target(cfg.out, cfg.loss, cfg.T, cfg.O, seed=cfg.seed), loss=cfg.loss)
        grads[cell], over[cell] = tr.grad_h_norm, tr.overflow_step
    return compare_readout(grads, over)


@pytest.mark.parametrize("query", [{}, {"fb": "5", "zb": "6", "T": "150"}, {"act": "relu", "rho": "1.5"},
                                   {"T": "1000", "rho": "3", "act": "linear"}])
def test_compare_page_readout_is_the_engines(query):
    at = open_page(COMPARE, query)
    assert_ok(at, COMPARE)
    cfg = current(at)
    readout = next(i.value for i in at.info if i.value.startswith("gradient reaching step 1:"))
    assert readout == _compare_readout(cfg)
    assert readout.endswith("(GRU)") and "(RNN), " in readout and "(LSTM), " in readout
    if query.get("act") == "linear":
        assert "overflow at t = " in readout
        assert any("RNN: overflow at step" in w.value for w in at.warning)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert fig["layout"]["yaxis"]["type"] == "log" and len(fig["data"]) == 3


def test_compare_page_gate_biases_are_page_controls_bound_to_the_url():
    at = open_page(COMPARE, {"fb": "6"})
    assert at.slider(key="fb").value == 6.0
    assert not at.slider(key="fb").disabled and not at.slider(key="zb").disabled
    assert not any(s.key in ("fb", "zb") for s in at.sidebar.slider)
    at.slider(key="zb").set_value(5.0).run()
    assert_ok(at, COMPARE)
    code = " ".join(c.value for c in at.sidebar.code)
    assert "fb=6.00" in code and "zb=5.00" in code
    assert "10^" in next(i.value for i in at.info if i.value.startswith("gradient reaching"))


def test_the_train_page_draws_no_second_network():
    """The Train page has its own cell, T and seed: the sidebar draws none of the network's controls there,
    keeps their values, and gives them back on the next page; the share box stays."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["T"] = "40"
    at.query_params["cell"] = "gru"
    at.run()
    at.switch_page("pages/7_Train.py").run()
    assert not at.exception
    sidebar_keys = {getattr(w, "key", None) for w in at.sidebar}
    assert not sidebar_keys & {"cell", "T", "H", "rho", "seed"}, sidebar_keys
    assert any("own controls" in c.value for c in at.sidebar.caption)
    assert any("T=40" in c.value and "cell=gru" in c.value for c in at.sidebar.code)  # the share link keeps them
    at.switch_page("pages/1_Unroll.py").run()
    assert not at.exception
    assert at.slider(key="T").value == 40 and at.selectbox(key="cell").value == "gru"
