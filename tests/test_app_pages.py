"""Streamlit AppTest for every page: defaults, every control, extremes, garbage URLs, presets."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.config import FIELDS, Config
from ui.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
HOME = "app.py"
PAGES = {
    HOME: 1,
    "pages/1_Unroll.py": 1,
    "pages/2_Hidden_state.py": 4,
    "pages/3_Gradients.py": 4,
    "pages/4_Spectrum.py": 3,
    "pages/5_Phase_diagram.py": 2,
}
MAX_PAGE_BYTES = 1_500_000


def open_page(page: str, query: dict | None = None) -> AppTest:
    """Start at the home page (the real entry point), then switch, as a browser would."""
    at = AppTest.from_file(str(ROOT / HOME), default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page != HOME:
        at.switch_page(page).run()
    return at


def assert_ok(at: AppTest, page: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart")
    assert len(charts) == PAGES[page], page
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
    at = open_page(page)
    for name in FIELDS:
        default = getattr(Config(), name)
        for value in _extremes(name):
            if value == default:
                continue
            widget(at, name).set_value(value).run()
            assert_ok(at, page)
            assert getattr(current(at), name) == value, (name, value)
        widget(at, name).set_value(default).run()
    assert current(at) == Config()


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


GARBAGE = {"T": "abc", "H": "99999", "rho": "-5", "act": "softplus", "seed": "1e99", "amp": "nan",
           "signal": "", "init": "<b>x</b>", "junk": "1", "loss": "everything"}


@pytest.mark.parametrize("page", list(PAGES))
def test_garbage_query_parameters_are_clamped_or_ignored_with_a_notice(page):
    at = open_page(page, GARBAGE)
    assert_ok(at, page)
    cfg = current(at)
    assert cfg == Config(H=256, rho=0.0, seed=9999)
    notices = " ".join(w.value for w in at.sidebar.warning)
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
