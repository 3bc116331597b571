"""Hidden state: what the network carries from step to step."""
import streamlit as st

from ui.charts import show_chart
from ui.config import Config
from ui.errors import guard, run_or_defaults, run_page
from ui.export import export_panel
from ui.figures import cell_heatmap_fig, gates_fig, hidden_heatmap_fig, pca_fig, saturation_fig, units_fig
from ui.panels import cfg_caption, fallback_notice, overflow_banner
from ui.runs import run_bptt
from ui.sidebar import page_setup

page_setup("Hidden state")


def hidden_controls(H: int) -> list[int]:
    default = list(range(1, min(H, 3) + 1))
    return st.multiselect("Units to plot", list(range(1, H + 1)), default=default,
                          key=f"units_of_{H}", max_selections=7)


@st.fragment
@guard("Hidden state: unit traces")
def unit_traces(used: Config) -> None:
    """Choosing units reruns only this chart, not the page."""
    units = hidden_controls(used.H)
    show_chart(units_fig(used, tuple(units)), key="units")
    st.caption("A few units traced over time: flat lines mean the state has settled or saturated.")


def hidden_state(cfg: Config) -> None:
    """Every unit over time, the gates of a gated cell, saturation, the 2-D path, then a few units traced."""
    st.title("Hidden state: the network's running memory")
    run, used, err = run_or_defaults(run_bptt, cfg)
    fallback_notice(err)
    overflow_banner(run)
    cfg_caption(used)

    show_chart(hidden_heatmap_fig(used), key="heatmap")
    st.caption("Each row is one unit of h_t over time; red is positive, blue negative, white zero, on a "
               "fixed scale so colours compare across settings.")

    if used.cell == "lstm":
        show_chart(cell_heatmap_fig(used), key="cell_state")
        st.caption("The LSTM's second memory, the cell state c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t. It is not squashed "
                   "by tanh, so its colour scale follows the largest |c| in this run. Units whose colour persists "
                   "over many steps are holding on to something: their forget gate is near 1.")
    if used.cell != "rnn":
        show_chart(gates_fig(used), key="gates")
        st.caption("Every gate, unit by unit. Sigmoid gates (0 = shut, 1 = open) share the yellow-to-purple scale; "
                   "the tanh candidate is on the signed red/blue scale. "
                   + ("A forget gate that stays yellow keeps its cell state, and with it the gradient."
                      if used.cell == "lstm" else
                      "An update gate that stays yellow copies the previous state: h_t ≈ h_{t−1}, and the "
                      "gradient passes through unchanged."))

    show_chart(saturation_fig(used), key="saturation")
    st.caption("When most units have |f′(a_t)| < 0.1, almost nothing passes back through that step, so "
               "a saturated tanh network loses its gradient faster than the linear bound suggests."
               if used.cell == "rnn" else
               "A saturated gate is pinned shut or wide open; its derivative is then tiny. For a gated cell that "
               "is not bad news: a forget or update gate pinned open is exactly what carries the gradient.")

    show_chart(pca_fig(used), key="pca")
    st.caption("The whole state vector squeezed onto its two main directions; press ▶ Play to watch the "
               "path being traced, dark early, yellow late. A tight knot means the state has settled.")

    unit_traces(used)

    export_panel(used, lambda: pca_fig(used), name="hidden-state")


run_page("Hidden state", hidden_state)
