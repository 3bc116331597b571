"""RNN vs LSTM vs GRU: the same input, sizes and seed through the three cells."""
import streamlit as st

from ui.charts import show_chart
from ui.config import Config
from ui.errors import run_or_defaults, run_page
from ui.export import export_panel
from ui.figures import compare_gates_fig, compare_grad_fig
from ui.panels import cfg_caption, fallback_notice
from ui.runs import compare_config, run_compare
from ui.sidebar import page_setup, preset_flash, sidebar
from viz.compare import cell_exponent_text, compare_readout
from viz.style import CELL_NAMES

page_setup("RNN vs LSTM vs GRU")


def settings() -> Config:
    """The title and the page's own box of gate biases come before the sidebar's config."""
    st.title("RNN vs LSTM vs GRU: who keeps the gradient?")
    st.markdown("The sequence, the sizes, ρ and the seed from the sidebar, fed to three cells at once. Only the "
                "cell differs (the sidebar's Cell choice does not matter here). The two gate biases below are the "
                "knobs that decide how much of the past the gated cells keep.")
    controls = st.container(border=True)
    cfg = sidebar(gate_controls=controls)
    preset_flash()
    return cfg


def compare(cfg: Config) -> None:
    """The three cells' gradients and keep gates for the sidebar's sequence, sizes, ρ and seed."""
    if getattr(cfg, "wts", "") or getattr(cfg, "xin", ""):
        # uploads are one network of one cell and its input: the comparison builds its own three (compare_config
        # keeps only the config's fields)
        st.info("This page does not use your uploaded weights or input: it compares three cells, so it builds "
                "three networks of your file's sizes with weights and an input of their own, from the sidebar's "
                "signal, ρ and seed.",
                icon=":material/info:")
    key = compare_config(cfg)
    runs, used, err = run_or_defaults(run_compare, key)
    fallback_notice(err)
    for cell, run in runs.items():
        if run.overflow_step is not None:
            st.warning(f"**{CELL_NAMES[cell]}: overflow at step t = {run.overflow_step + 1}** during the "
                       f"{run.overflow_phase or 'forward'} pass. Its curve stops there.", icon=":material/warning:")

    grads = {c: r.grad_h_norm for c, r in runs.items()}
    overflow = {c: r.overflow_step for c, r in runs.items()}
    st.info(compare_readout(grads, overflow), icon=":material/straighten:")
    cols = st.columns(3)
    for col, (cell, run) in zip(cols, runs.items()):
        term = cell_exponent_text(run.grad_h_norm, run.overflow_step)
        # the metric keeps one short word when there is no power of ten (the banner above gives the step)
        col.metric(f"{CELL_NAMES[cell]}: ‖∂L/∂h₁‖ / ‖∂L/∂h_T‖", term if term.startswith("10^") else term.split(" at ")[0],
                   help="How much of the gradient at the last step reaches step 1, as a power of ten.")
    cfg_caption(used)

    show_chart(compare_grad_fig(used), key="compare_grad")
    st.caption("One log axis for all three: a straight line means a constant factor per step. The vanilla RNN "
               "multiplies the gradient by W_hh and f′ at every step, so it falls steadily. Along the LSTM's "
               "direct cell path the gradient is multiplied only by the forget gate, and along the GRU's copy "
               "path by the update gate: with those gates near 1 the line stays flat. Their other paths go "
               "through W_hh and can still shrink or grow it.")

    show_chart(compare_gates_fig(used), key="compare_gates")
    st.caption("Line: the gate averaged over the units at each step. Band: from the most closed to the most "
               "open unit. f_t = 1 keeps the whole cell state, z_t = 1 copies the whole hidden state; the "
               "biases above move these curves towards 1 (high) or 0.5 (zero).")

    st.subheader("Which cell when?")
    st.markdown(
        "- **Vanilla RNN**: short memories (a few to a few dozen steps), tiny models, and to see the mechanics. "
        "Its gradient shrinks or grows by roughly the same factor every step, so long-range links are hard to learn.\n"
        "- **LSTM**: long memories, and when you need separate control over writing (i), keeping (f) and "
        "reading (o). A forget-gate bias of 1 (this lab's default; PyTorch's is 0) is a mild help (Gers et "
        "al. 2000; Jozefowicz et al. 2015); for long lags start it higher, or use chrono initialisation "
        "(Tallec & Ollivier 2018).\n"
        "- **GRU**: most of the LSTM's memory with two gates and a candidate (three weight blocks) instead of "
        "the LSTM's three gates and a candidate (four), and no separate cell state, so fewer parameters and "
        "faster steps. A high update-gate bias makes it copy its state by default.")

    export_panel(cfg, name="cells")


run_page("RNN vs LSTM vs GRU", compare, settings)
