"""Teacher links (hide, pages, projector), the charts' toolbar config and the CSV of every chart (AppTest)."""
import base64
import csv
import io
import json

import numpy as np
import pytest
from test_app_pages import HOME, PAGES, assert_ok, open_page

from ui import charts
from ui.config import Config

GRADIENTS = "pages/3_Gradients.py"


def last_config(at) -> Config:
    """The config the page ran with (hidden controls have no widget to read)."""
    return Config(**at.session_state["_last_config"])


def decode(v):
    """A coordinate of a figure's JSON: Plotly's typed-array spec or a (nested) list."""
    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return arr.reshape([int(s) for s in v["shape"].split(",")]) if "shape" in v else arr
    return np.asarray(v)


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def link_labels(at) -> list[str]:
    return [link.proto.label for link in at.get("page_link")]


def test_hide_removes_those_controls_and_keeps_the_link_values():
    at = open_page(GRADIENTS, {"hide": "rho,H,presets,reset", "rho": "1.5", "H": "20", "T": "60"})
    assert_ok(at, GRADIENTS)
    assert not at.select_slider and "H" not in [s.key for s in at.slider]
    assert [s.key for s in at.slider if s.key == "T"] == ["T"]         # the others stay
    assert not [b for b in at.sidebar.button if b.label == "Reset to defaults"]
    assert not [b for b in at.sidebar.button if str(b.key).startswith("preset_")]
    cfg = last_config(at)
    assert (cfg.rho, cfg.H, cfg.T) == (1.5, 20, 60)
    # a slider move and a page switch keep the hidden values, the hiding and the address
    at.slider(key="T").set_value(70).run()
    at.switch_page("pages/1_Unroll.py").run()
    assert not at.exception and not at.select_slider
    assert (last_config(at).rho, last_config(at).H, last_config(at).T) == (1.5, 20, 70)
    assert at.query_params["hide"] == ["rho,H,presets,reset"] or at.query_params["hide"] == "rho,H,presets,reset"
    # the sidebar's links carry the teacher link to the next page
    assert all("hide=" in link.proto.query_string for link in at.get("page_link"))


def test_hide_sidebar_draws_no_control_and_uses_the_link():
    at = open_page(HOME, {"hide": "sidebar", "T": "40", "cell": "gru"})
    assert not at.exception
    assert not at.sidebar.code and not at.sidebar.get("page_link")   # no share box, no links in the sidebar
    assert not at.slider and not at.selectbox and not at.select_slider
    assert (last_config(at).T, last_config(at).cell) == (40, "gru")
    assert any("stSidebar" in h.proto.body for h in at.get("html"))
    assert len(at.get("plotly_chart")) == 1


def test_pages_limits_the_links_on_home_and_in_the_sidebar():
    at = open_page(HOME, {"pages": "Unroll,hidden_state"})
    assert not at.exception
    labels = link_labels(at)
    assert set(labels) == {"Home", "Unroll", "Hidden state"}, labels
    assert "Gradients" not in labels and "Train" not in labels


def test_bad_teacher_values_give_a_notice_in_plain_text():
    at = open_page(GRADIENTS, {"hide": "rho,<script>alert(1)</script>,**x**", "pages": "[a](javascript:x)",
                               "projector": "maybe"})
    assert_ok(at, GRADIENTS)
    quoted = " ".join(t.value for t in at.sidebar.text)
    assert "hide=<script>alert(1)</script>" in quoted and "hide=**x**" in quoted
    assert "pages=[a](javascript:x)" in quoted and "projector=maybe" in quoted
    markdown = " ".join([m.value for m in at.markdown] + [m.value for m in at.sidebar.markdown]
                        + [w.value for w in at.sidebar.warning] + [c.value for c in at.caption])
    for needle in ("<script>", "javascript:", "**x**"):
        assert needle not in markdown
    assert not at.select_slider                        # rho, the valid name, is still hidden
    assert len(link_labels(at)) >= len(PAGES)           # no valid page named: every page listed


def _widths_and_fonts(spec: dict) -> tuple[list[float], list[float], list[float]]:
    lines = [t["line"]["width"] for t in spec["data"] if isinstance(t.get("line", {}).get("width"), (int, float))]
    layout = spec["layout"]
    ticks = [layout[a]["tickfont"]["size"] for a in layout if a.startswith(("xaxis", "yaxis"))
             and "tickfont" in layout[a]]
    markers = [t["marker"]["size"] for t in spec["data"] if isinstance(t.get("marker", {}).get("size"), (int, float))]
    return lines, ticks, markers


def test_projector_mode_enlarges_fonts_lines_and_markers_without_touching_the_cached_figure():
    plain = specs(open_page(GRADIENTS, {"T": "30"}))
    big = specs(open_page(GRADIENTS, {"T": "30", "projector": "1"}))
    again = specs(open_page(GRADIENTS, {"T": "30"}))
    assert again == plain                                     # the shared cached figures are unchanged
    for p, b in zip(plain, big):
        assert b["layout"]["font"]["size"] >= 20
        assert b["layout"]["title"]["font"]["size"] >= 28 > p["layout"]["title"]["font"]["size"]
        p_lines, p_ticks, p_markers = _widths_and_fonts(p)
        b_lines, b_ticks, b_markers = _widths_and_fonts(b)
        assert b_ticks and min(b_ticks) >= 20 and max(p_ticks) < 20
        assert [bw >= pw for pw, bw in zip(p_lines, b_lines)] == [True] * len(p_lines)
        assert all(bw >= 4 for pw, bw in zip(p_lines, b_lines) if pw >= 2)
        assert all(bm > pm for pm, bm in zip(p_markers, b_markers))
    main = _widths_and_fonts(big[0])[0]
    assert main and max(main) >= 4


def test_every_chart_has_the_toolbar_config():
    at = open_page(GRADIENTS)
    for c in at.get("plotly_chart"):
        config = json.loads(c.proto.config)
        assert config["displaylogo"] is False
        opts = config["toImageButtonOptions"]
        assert (opts["format"], opts["width"], opts["scale"]) == ("png", charts.IMAGE_WIDTH, charts.IMAGE_SCALE)
        assert opts["filename"].startswith("unrolled-gradients-")


@pytest.fixture
def csv_sources(monkeypatch):
    """The data callable of every CSV button, by key (AppTest has no runtime to store them in)."""
    seen = {}
    original = charts._csv_button

    def record(container, data, *, key, file_name):
        seen[key] = (data, file_name)
        original(container, data, key=key, file_name=file_name)

    monkeypatch.setattr(charts, "_csv_button", record)
    return seen


def _check_csv_matches_spec(text: str, spec: dict) -> None:
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    columns = {h: [r[i] for r in body] for i, h in enumerate(header)}
    checked = 0
    for i, trace in enumerate(spec["data"]):
        z = decode(trace["z"]) if "z" in trace else None
        mine = [h for h in header if h.split(": ")[-1].split(" (")[0] in ("x", "y", "z")]
        if z is not None and z.ndim == 2:
            zcol = [h for h in mine if h.endswith(": z")][0 if i == 0 else -1]
            got = np.array([float(v) for v in columns[zcol] if v != ""])
            want = z.astype(np.float64).ravel()
            assert got.shape == want.shape
            assert np.array_equal(got, want, equal_nan=True)
            checked += 1
            continue
        if "y" not in trace or not isinstance(trace.get("name"), str):
            continue
        ycols = [h for h in header if h.startswith(trace["name"] + ": y")]
        if not ycols:
            continue
        y = decode(trace["y"]).ravel()
        if y.dtype.kind != "f":
            continue
        got = np.array([float(v) for v in columns[ycols[0]][:len(y)]])
        assert np.array_equal(got, y.astype(np.float64), equal_nan=True), trace["name"]
        checked += 1
    assert checked


@pytest.mark.parametrize("page", [GRADIENTS, "pages/2_Hidden_state.py"])
def test_a_csv_button_under_every_chart_holds_the_charts_numbers(page, csv_sources):
    at = open_page(page, {"T": "25", "H": "6"})
    assert_ok(at, page)
    charts_ = at.get("plotly_chart")
    keys = [b.key for b in at.get("download_button") if str(b.key).startswith("csv_")]
    assert keys == [f"csv_{c.key}" for c in charts_]
    for key, spec in zip(keys, specs(at)):
        data, file_name = csv_sources[key]
        assert file_name.endswith(".csv")
        _check_csv_matches_spec(data(), spec)


def test_csv_keeps_float64_precision_and_writes_heatmaps_long():
    from viz import spec as sp

    fig = sp.figure([sp.scatter(x=[1, 2, 3], y=np.array([0.1, 1 / 3, 1e-300]), name="g"),
                     sp.heatmap(z=np.arange(6, dtype=np.float32).reshape(2, 3) / 7, name="h")])
    sp.update_xaxes(fig, title=dict(text="time step t"))
    rows = list(csv.reader(io.StringIO(charts.figure_csv(fig))))
    assert rows[0] == ["g: x (time step t)", "g: y", "h: x (time step t)", "h: y", "h: z"]
    assert [float(r[1]) for r in rows[1:4]] == [0.1, 1 / 3, 1e-300]
    assert len(rows) == 1 + 6 and rows[6][2:4] == ["2", "1"]
    assert float(rows[6][4]) == float(np.float32(5) / np.float32(7))   # the float32 value, exactly


def test_share_box_builds_a_class_link():
    at = open_page(GRADIENTS, {"rho": "1.2"})
    at.multiselect(key="_share_hide").set_value(["rho", "presets"]).run()
    at.multiselect(key="_share_pages").set_value(["Gradients", "Unroll"]).run()
    at.checkbox(key="_share_projector").check().run()
    link = at.sidebar.code[-1].value
    assert "rho=1.20" in link and "hide=rho,presets" in link and "projector=1" in link
    assert "pages=Unroll,Gradients" in link
    assert at.select_slider(key="rho").value == 1.2    # building a link hides nothing here
