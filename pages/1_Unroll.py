"""Unroll: the chain of copies of one cell, forward then backward."""
import streamlit as st

from ui.config import Config
from ui.panels import cfg_caption, fallback_notice, overflow_banner, step_equations, step_table
from ui.runs import run_bptt, run_default_fallback, run_step_numbers, unroll_fig
from ui.sidebar import page_setup, preset_flash, sidebar

page_setup("Unroll")
cfg = sidebar()
preset_flash()


def unroll_controls(T: int) -> int:
    """The step whose numbers are shown (1-based)."""
    if T == 1:
        return 1
    return st.slider("Show the numbers at step t", 1, T, T, key=f"step_of_{T}",
                     help="Pick any step; the table shows each term of the update at that step.")


st.title("Unroll: one cell, copied along time")
st.markdown("Each column is the same cell at a different time step. Press **▶ Play**: first the "
            "forward pass fills each $h_t$ with values, then the gradient $\\partial L/\\partial h_t$ "
            "flows back from the loss, drawn thinner and darker where it is smaller.")
run, err = run_default_fallback(run_bptt, cfg)
fallback_notice(err)
overflow_banner(run)
used = cfg if err is None else type(cfg)()
st.plotly_chart(unroll_fig(used), key="unroll", config={"displaylogo": False})
st.caption("Green, blue and orange arrows are W_hx, W_hh and W_hy: the same three matrices at every "
           f"step. The colour strip in each box shows the first {min(used.H, 8)} of the {used.H} units "
           "of h_t; the arrows above the boxes show the gradient size (on a log scale) as it flows back.")
cfg_caption(used)

@st.fragment
def step_numbers(used: Config) -> None:
    """The numbers at one step: moving the step slider reruns only this part of the page."""
    st.subheader("The numbers at one step")
    t = unroll_controls(used.T)
    sn = run_step_numbers(used, t)
    table = step_table(sn)
    c1, c2 = st.columns([2, 3], gap="large")
    with c1:
        for line in step_equations(t, used.act, sn, used.out):
            st.latex(line)
        st.metric(f"‖∂L/∂h_{t}‖", f"{sn.grad_norm:.3e}")
    with c2:
        st.dataframe(table, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns})
        st.caption(f"Each row is one hidden unit (first {min(used.H, 16)} of {used.H}): the two weighted "
                   "terms and the bias add up to a_t, and the activation turns a_t into h_t.")


step_numbers(used)
