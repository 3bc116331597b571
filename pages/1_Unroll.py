"""Unroll: the chain of copies of one cell, forward then backward."""
import streamlit as st

from ui.charts import show_chart
from ui.config import Config
from ui.errors import guard, run_or_defaults, run_page
from ui.export import export_panel
from ui.figures import unroll_fig
from ui.panels import cfg_caption, fallback_notice, overflow_banner, step_equations, step_table
from ui.runs import run_bptt, run_step_numbers
from ui.sidebar import page_setup

page_setup("Unroll")

# What the graph shows, per cell (keys: the cell names in the URL).
INTRO = {
    "rnn": "Each column is the same cell at a different time step. Press **▶ Play**: first the "
           "forward pass fills each $h_t$ with values, then the gradient $\\partial L/\\partial h_t$ "
           "flows back from the loss, drawn thinner and darker where it is smaller.",
    "lstm": "Each column is the same LSTM cell at a different time step: its four gates $i, f, g, o$ "
            "under the hidden state $h_t$, and above them the **cell state** $c_t$, a lane of its own "
            "on which $c_{t-1}$ only gets multiplied by the forget gate $f_t$ (plus what the input "
            "gate writes). Press **▶ Play**: the forward pass, then the gradient flowing back on both "
            "lanes, $\\partial L/\\partial h_t$ and $\\partial L/\\partial c_t$, on one log scale.",
    "gru": "Each column is the same GRU cell at a different time step: its gates $r, z$ and the "
           "candidate $n$ under the hidden state $h_t$. The arcs over the chain are the **copy path**: the "
           "update gate $z_t$ copies $z_t \\odot h_{t-1}$ straight into $h_t$. Press **▶ Play**: the "
           "forward pass, then the gradient $\\partial L/\\partial h_t$ flowing back.",
}
CAPTION = {
    "rnn": "Green, blue and orange arrows are W_hx, W_hh and W_hy: the same three matrices at every "
           "step. The colour strip in each box shows the first {m} of the {H} units of h_t; the arrows "
           "above the boxes show the gradient size (on a log scale) as it flows back.",
    "lstm": "Gate circles are shaded by the gate's mean over the {H} units at that step (light: shut, "
            "dark: open; g by its mean |g|). The lane of squares above h_t is c_t; its arrow is thicker "
            "where f_t is larger. The strip shows the first {m} units of h_t. Upper arrows: ‖∂L/∂c_t‖, lower "
            "arrows: ‖∂L/∂h_t‖, both on the same log colour scale.",
    "gru": "Gate circles are shaded by the gate's mean over the {H} units at that step (light: shut, "
           "dark: open; n by its mean |n|). Each arc is thicker where the update gate z_t is more "
           "open, i.e. where more of h_{{t−1}} is copied. The strip shows the first {m} units of h_t; "
           "the arrows above show ‖∂L/∂h_t‖ on a log scale.",
}
TABLE_NOTE = {
    "rnn": "the two weighted terms and the bias add up to a_t, and the activation turns a_t into h_t.",
    "lstm": "the four gates, then the cell state before and after, then h_t = o_t ⊙ tanh(c_t).",
    "gru": "the reset and update gates, the candidate n_t, then h_t mixing n_t and h_{t−1} by z_t.",
}


def unroll_controls(T: int) -> int:
    """The step whose numbers are shown (1-based)."""
    if T == 1:
        return 1
    return st.slider("Show the numbers at step t", 1, T, T, key=f"step_of_{T}",
                     help="Pick any step; the table shows each term of the update at that step.")


@st.fragment
@guard("Unroll: step numbers")
def step_numbers(used: Config) -> None:
    """The numbers at one step: moving the step slider reruns only this part of the page."""
    st.subheader("The numbers at one step")
    t = unroll_controls(used.T)
    sn = run_step_numbers(used, t)
    table = step_table(sn)
    lines = step_equations(t, used.act, sn, used.out)
    number_format = {c: st.column_config.NumberColumn(format="%.4f") for c in table.columns}
    note = f"Each row is one hidden unit (first {min(used.H, 16)} of {used.H}): " + TABLE_NOTE[sn.cell]
    if sn.cell == "rnn":
        c1, c2 = st.columns([2, 3], gap="large")
        with c1:
            for line in lines:
                st.latex(line)
            st.metric(f"‖∂L/∂h_{t}‖", f"{sn.grad_norm:.3e}")
        with c2:
            st.dataframe(table, width="stretch", column_config=number_format)
            st.caption(note)
        return
    # A gated cell has more equations and more columns: the inputs across the page, the gates on
    # the left, what they update on the right, and the per-unit table across the whole width below.
    n_gates = len(sn.gates)
    st.latex(lines[0])
    c1, c2 = st.columns(2, gap="medium")
    with c1:
        for line in lines[1:1 + n_gates]:
            st.latex(line)
    with c2:
        for line in lines[1 + n_gates:]:
            st.latex(line)
        m1, m2 = st.columns(2)
        m1.metric(f"‖∂L/∂h_{t}‖", f"{sn.grad_norm:.3e}")
        if sn.grad_c_norm is not None:
            m2.metric(f"‖∂L/∂c_{t}‖", f"{sn.grad_c_norm:.3e}")
    st.dataframe(table, width="stretch", height="content", column_config=number_format)
    st.caption(note)


def unroll(cfg: Config) -> None:
    """The chain for the sidebar's network (the defaults' when it cannot run), then the numbers at one step."""
    run, used, err = run_or_defaults(run_bptt, cfg)
    cell = used.cell
    st.title("Unroll: one cell, copied along time")
    st.markdown(INTRO[cell])
    fallback_notice(err)
    overflow_banner(run)
    show_chart(unroll_fig(used), key="unroll")
    st.caption(CAPTION[cell].format(m=min(used.H, 8), H=used.H))
    cfg_caption(used)

    step_numbers(used)

    export_panel(used, lambda: unroll_fig(used), name="unroll")


run_page("Unroll", unroll)
