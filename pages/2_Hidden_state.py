"""Hidden state: what the network carries from step to step."""
import streamlit as st

from ui.panels import cfg_caption, fallback_notice, overflow_banner
from ui.runs import run_bptt, run_default_fallback, run_hidden
from ui.sidebar import page_setup, preset_flash, sidebar
from viz.hidden import hidden_heatmap, pca_figure, saturation_figure, unit_trajectories

page_setup("Hidden state")
cfg = sidebar()
preset_flash()


def hidden_controls(H: int) -> list[int]:
    default = list(range(1, min(H, 3) + 1))
    return st.multiselect("Units to plot", list(range(1, H + 1)), default=default,
                          key=f"units_of_{H}", max_selections=7)


st.title("Hidden state: the network's running memory")
run, err = run_default_fallback(run_bptt, cfg)
used = cfg if err is None else type(cfg)()
fallback_notice(err)
overflow_banner(run)
summary = run_hidden(used)
cfg_caption(used)

st.plotly_chart(hidden_heatmap(run.h, used.act), key="heatmap", config={"displaylogo": False})
st.caption("Each row is one unit of h_t over time; red is positive, blue negative, white zero, on a "
           "fixed scale so colours compare across settings.")

st.plotly_chart(saturation_figure(run.x, summary.saturated, summary.threshold), key="saturation",
                config={"displaylogo": False})
st.caption("When most units have |f′(a_t)| < 0.1, almost nothing passes back through that step, so "
           "a saturated tanh network loses its gradient faster than the linear bound suggests.")

st.plotly_chart(pca_figure(summary.pca, summary.explained), key="pca", config={"displaylogo": False})
st.caption("The whole state vector squeezed onto its two main directions; press ▶ Play to watch the "
           "path being traced, dark early, yellow late. A tight knot means the state has settled.")

units = hidden_controls(used.H)
st.plotly_chart(unit_trajectories(run.h, units), key="units", config={"displaylogo": False})
st.caption("A few units traced over time: flat lines mean the state has settled or saturated.")
