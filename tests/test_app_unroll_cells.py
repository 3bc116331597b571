"""The Unroll page with each gated cell, driven through the URL as a shared link would."""
import re

import numpy as np
import pytest
from test_app_pages import assert_ok, open_page

PAGE = "pages/1_Unroll.py"


@pytest.mark.parametrize("cell,gates,columns", [
    ("lstm", "ifgo", ["i_t", "f_t", "g_t", "o_t", "c_{t−1}"]),
    ("gru", "rzn", ["r_t", "z_t", "n_t", "h_{t−1}"]),
])
def test_unroll_page_draws_the_gated_cell_and_its_numbers(cell, gates, columns):
    at = open_page(PAGE, {"cell": cell, "T": "12", "H": "20"})
    assert_ok(at, PAGE)
    assert at.selectbox(key="cell").value == cell
    spec = at.get("plotly_chart")[0].proto.spec
    assert "The unrolled " + cell.upper() in spec and '"gates"' in spec
    assert ('"c_t"' in spec) == (cell == "lstm")
    # the step panel: one equation per gate, then the state update, with numbers
    at.slider(key="step_of_12").set_value(3).run()
    assert_ok(at, PAGE)
    latex = [x.value.strip("$\n").removeprefix("\\small ") for x in at.latex]
    for g in gates:
        assert any(re.search(re.escape(f"{g}_{{3}}") + " &?= ", line) and "bmatrix" in line for line in latex), (g, latex)
    assert any(line.startswith("h_{3} = ") for line in latex)
    if cell == "lstm":
        assert any(r"c_{3} = f_{3} \odot c_{2} + i_{3} \odot g_{3}" in line for line in latex)
        assert any(r"h_{3} = o_{3} \odot \tanh(c_{3})" in line for line in latex)
        assert [m.label for m in at.metric] == ["‖∂L/∂h_3‖", "‖∂L/∂c_3‖"]
    else:
        assert any(r"r_{3} \odot (W_{hn}\,h_{2} + b_{hn})" in line for line in latex)
        assert any(r"h_{3} = (1 - z_{3}) \odot n_{3} + z_{3} \odot h_{2}" in line for line in latex)
    table = at.dataframe[0].value
    assert table.shape[0] == 16 and list(table.columns[:len(columns)]) == columns
    # the table's numbers obey the cell's update
    if cell == "lstm":
        c = table["i_t"] * table["g_t"] + table["f_t"] * table["c_{t−1}"]
        np.testing.assert_allclose(table.iloc[:, 5], c, atol=1e-6)
        np.testing.assert_allclose(table.iloc[:, 6], table["o_t"] * np.tanh(table.iloc[:, 5]), atol=1e-6)
    else:
        h = (1 - table["z_t"]) * table["n_t"] + table["z_t"] * table["h_{t−1}"]
        np.testing.assert_allclose(table.iloc[:, 4], h, atol=1e-6)


def test_switching_the_cell_redraws_the_unroll_graph():
    at = open_page(PAGE, {"T": "12"})
    rnn = at.get("plotly_chart")[0].proto.spec
    at.selectbox(key="cell").set_value("lstm").run()
    assert_ok(at, PAGE)
    lstm = at.get("plotly_chart")[0].proto.spec
    assert lstm != rnn and '"gates"' in lstm and '"gates"' not in rnn
    assert at.dataframe[0].value.columns[0] == "i_t"
