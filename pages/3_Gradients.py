"""Gradients (BPTT): how much training signal reaches each step."""
import streamlit as st

from ui.charts import show_chart
from ui.config import Config
from ui.errors import guard, run_or_defaults, run_page
from ui.export import export_panel
from ui.figures import dW_fig, grad_norm_fig, jacobian_fig, jacobian_grid_fig
from ui.panels import cfg_caption, fallback_notice, overflow_banner
from ui.runs import run_bptt, run_gradient_check, run_jacobians
from ui.sidebar import page_setup
from viz.gradients import decay_readout, dW_caption, gated_grad_caption, gated_jacobian_caption, grad_norm_caption

page_setup("Gradients")


def gradients_controls() -> bool:
    return st.button("Check BPTT against finite differences", icon=":material/calculate:",
                     help="Nudges sampled weights by ±1e-6 and compares the change in the loss "
                          "with the BPTT gradient.")


@st.fragment
@guard("Gradients: finite-difference check")
def gradient_check(used: Config) -> None:
    """The button reruns only this section: the charts above stay as they are."""
    st.subheader("Is BPTT right? Compare with finite differences")
    if gradients_controls():
        try:
            res = run_gradient_check(used)
        except ValueError as exc:
            st.warning(f"The check cannot run for this network: {exc}.", icon=":material/warning:")
        else:
            ok = res["max"] < 1e-5
            st.write(("✅ " if ok else "⚠️ ") + f"Largest relative error between BPTT and central "
                     f"finite differences: **{res['max']:.2e}**" + (" (agreement)" if ok else ""))
            st.table({k: [f"{v:.2e}"] for k, v in res.items() if k != "max"})
    else:
        st.caption("Press the button to compare the analytic gradient with a numerical one.")


def gradients(cfg: Config) -> None:
    """‖∂L/∂h_t‖ against its bounds, the step Jacobians, the weight gradients, then the finite-difference check."""
    st.title("Gradients: backpropagation through time")
    run, used, err = run_or_defaults(run_bptt, cfg)
    fallback_notice(err)
    overflow_banner(run)
    st.info(decay_readout(run.grad_h_norm), icon=":material/straighten:")
    cfg_caption(used)

    show_chart(grad_norm_fig(used), key="grad_norm")
    if used.cell == "rnn":
        st.caption(grad_norm_caption(run.has_gradient, run.overflow_step, run.gamma, run.sigma_max, run.rho))
    else:
        st.caption(gated_grad_caption(used.cell, run.has_gradient, run.overflow_step))

    jac = run_jacobians(used)
    partial = (f" To stay fast at H = {used.H}, only the last {used.T - jac.first_step} steps are covered "
               "here and in the heatmap below." if jac.first_step > 0 else "")
    show_chart(jacobian_fig(used), key="jacobian")
    if used.cell == "rnn":
        st.caption("The largest stretch that the chain of step Jacobians can apply between step t and the "
                   "end. It can never rise above the dashed (γ·σ_max)^(T−t) line." + partial)
    else:
        st.caption(gated_jacobian_caption(used.cell) + partial)

    show_chart(jacobian_grid_fig(used), key="jacobian_grid")
    state = "(h_k, c_k)" if used.cell == "lstm" else "h_k"
    st.caption(f"Row t, column k: how strongly {state} can still influence the state at t, on a log colour "
               "scale. Dark cells far below the diagonal are the long-range links that vanish.")

    show_chart(dW_fig(used), key="dW")
    st.caption(dW_caption(run.dW_hh_step_norm))

    gradient_check(used)

    export_panel(used, lambda: grad_norm_fig(used), name="gradients")


run_page("Gradients", gradients)
