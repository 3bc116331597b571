"""Spectrum: what the eigenvalues and singular values of W_hh predict."""
import streamlit as st

from ui.charts import show_chart
from ui.config import CELL_LABELS, Config
from ui.errors import run_or_defaults, run_page
from ui.export import export_panel
from ui.figures import eigen_fig, params_config, power_fig, singular_fig
from ui.panels import cfg_caption, fallback_notice
from ui.runs import gate_names, run_block_rates, run_spectrum
from ui.sidebar import page_setup
from viz.spectrum import block_name, block_title
from viz.style import GATE_LABELS

page_setup("Spectrum")


def spectrum(cfg: Config) -> None:
    """ρ and σ_max of W_hh (of one gate's block for a gated cell), its eigenvalues, singular values and powers."""

    def spectrum_controls(cell: str) -> str:
        """Which gate's recurrent block to show (gated cells); "h" is the vanilla RNN's W_hh."""
        names = gate_names(cell)
        if names == ("h",):
            return "h"
        default = {"lstm": "f", "gru": "z"}.get(cell, names[0])
        choice = st.segmented_control(
            "Recurrent block of W_hh to show", names, default=default, key=f"block_of_{cell}",
            format_func=lambda g: f"{block_name(g)}: {GATE_LABELS[g]}",
            help="W_hh of a gated cell stacks one H×H block per gate (PyTorch's order).")
        return choice or default

    st.title("Spectrum of the recurrent weights W_hh")
    spec, used, err = run_or_defaults(run_spectrum, cfg)
    fallback_notice(err)
    cfg_caption(used)
    gated = used.cell != "rnn"
    block = "h"
    if gated:
        st.info(f"For the {CELL_LABELS[used.cell]} the spectrum is **not the whole story**. W_hh holds one block "
                "per gate, and no single matrix multiplies the gradient at every step: "
                + ("along the cell path c_{t−1} → c_t it is multiplied by the forget gate f_t alone, which no "
                   "eigenvalue below describes; the blocks only matter through the gates they feed."
                   if used.cell == "lstm" else
                   "the update gate's copy term z_t ⊙ h_{t−1} passes the gradient on unchanged when z ≈ 1, "
                   "whatever the blocks' eigenvalues; they matter through the gates they feed.")
                + " Each block is drawn at ρ from the sidebar; γ below is 1/4 for a sigmoid gate and 1 for the "
                  "tanh candidate.", icon=":material/info:")
        rates = run_block_rates(used)
        st.dataframe({"block": [block_title(g) for g in rates],
                      "ρ = max |λ|": [f"{r[0]:.3f}" for r in rates.values()],
                      "σ_max": [f"{r[1]:.3f}" for r in rates.values()]}, hide_index=True)
        block = spectrum_controls(used.cell)
        spec = run_spectrum(used, block)

    name = block_name(block)
    eta = spec.gamma * spec.sigma_max
    m1, m2, m3 = st.columns(3)
    m1.metric("spectral radius ρ = max |λ|" + (f" of {name}" if gated else ""), f"{spec.rho:.3f}")
    m2.metric("largest singular value σ_max", f"{spec.sigma_max:.3f}")
    m3.metric("γ·σ_max  (γ = sup|f′|)" if not gated else f"γ·σ_max  (γ = {spec.gamma:g})", f"{eta:.3f}")
    if not gated and eta < 1:
        st.success(f"γ·σ_max = {eta:.3f} < 1: every step shrinks the gradient by at least this factor, "
                   "for any input, so gradients must vanish (Pascanu et al. 2013).",
                   icon=":material/trending_down:")
    elif not gated and spec.rho < 1:
        st.info(f"ρ = {spec.rho:.3f} < 1 but γ·σ_max = {eta:.3f} ≥ 1: in a linear network long-range "
                "terms still vanish eventually, but the worst-case bound allows growth first "
                "(transient growth), and with a non-linearity nothing is guaranteed either way.",
                icon=":material/info:")
    elif not gated:
        st.warning(f"ρ = {spec.rho:.3f} ≥ 1: a linear network's gradients do not vanish, and for ρ > 1 "
                   "they grow like ρ^(T−t). With a saturating f they may still vanish: σ_max > 1/γ is "
                   "needed for explosion, but not enough.", icon=":material/trending_up:")

    # W_hh alone: keyed on the weights, so moving T or the input leaves these two charts untouched.
    charts = (
        (eigen_fig, "eigen",
         "Eigenvalues outside the unit circle make a linear network explode; all inside means "
         "long-range terms eventually vanish.",
         f"The eigenvalues of {name} alone. In a gated cell this block only feeds its gate, so "
         "eigenvalues outside the circle do not by themselves mean explosion."),
        (singular_fig, "singular",
         "Singular values measure the largest stretch in one step; bars above the 1/γ line "
         "(drawn in red) are what allow gradients to grow.",
         f"The largest stretch {name} applies in one step; γ = {spec.gamma:g} is the steepest slope of "
         "the nonlinearity this block feeds (sigmoid gate 1/4, tanh candidate 1)."),
    )
    for column, (figure, key, plain_caption, gated_caption) in zip(st.columns(2, gap="large"), charts):
        with column:
            show_chart(figure(params_config(used), block), key=key)
            st.caption(gated_caption if gated else plain_caption)

    show_chart(power_fig(used, block), key="powers")
    k_max = spec.power_norms.size - 1
    if gated:
        st.caption(f"‖{name}ᵏ‖ for k up to {k_max}: how this block alone would stretch a vector over k steps. "
                   "In a gated cell it is never applied k times in a row by itself, so read it as a property of "
                   "the block, not as the gradient's gain; the Gradients page shows the real one.")
    else:
        st.caption(f"‖W_hhᵏ‖ is the exact gradient gain over k steps of a linear RNN (k up to {k_max}). It "
                   "always stays below σ_maxᵏ and eventually follows ρᵏ; a hump above ρᵏ is transient growth.")

    export_panel(used, name="spectrum")


run_page("Spectrum", spectrum)
