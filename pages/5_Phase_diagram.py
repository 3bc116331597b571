"""Phase diagram: where gradients vanish, survive or explode, over ρ and the distance in time."""
import streamlit as st

from ui.charts import show_chart
from ui.config import CELL_LABELS, Config
from ui.errors import guard
from ui.phase import (
    LYAP_BURN,
    LYAP_N,
    LYAP_STEPS,
    check_phase_link,
    lyapunov_fig,
    phase_controls,
    phase_fig,
    refusal,
    run_phase,
)
from ui.sidebar import page_setup, preset_flash, sidebar
from viz.phase import phase_caption, phase_readout

page_setup("Phase diagram")
with guard("Phase diagram"):
    cfg = sidebar()
    preset_flash()

    st.title("Phase diagram: vanish or explode?")
    st.markdown("Each cell: random networks with $W_{hh}$ rescaled to spectral radius $\\rho$ (largest |eigenvalue|), "
                "and the gradient $\\lVert\\partial L/\\partial h_t\\rVert$ that reaches $T - t$ steps back from "
                "the loss, relative to $\\lVert\\partial L/\\partial h_T\\rVert$. "
                "**Blue: it vanishes. Red: it explodes. White: it survives.**")
    for link_note in check_phase_link():
        st.warning(link_note, icon=":material/link:")


    @st.fragment
    @guard("Phase diagram: map")
    def phase_map(cfg: Config) -> None:
        """The map and its own controls: changing them reruns only this part, not the Lyapunov curve."""
        settings, notes = phase_controls(cfg)
        for note in notes:
            st.info(note, icon=":material/info:")

        message = refusal(settings)
        pm = None
        if message is None:
            if settings.seconds > 2.0:
                st.caption(f"A map this size takes about {settings.seconds:.0f} s to compute the first time; it is kept "
                           "afterwards. Fewer seeds, a lower resolution or a shorter sequence make it faster.")
            try:
                pm = run_phase(settings)
            except ValueError as exc:
                message = f"The engine refused this map: {exc}."
        if message is not None:
            st.error(message, icon=":material/block:")
        else:
            vanilla = cfg.cell == "rnn"   # the ★ marks the sidebar network only when the map is for its cell
            marker = (cfg.rho, cfg.T) if vanilla else None
            show_chart(phase_fig(settings, marker), key="phase")
            st.info(phase_readout(pm), icon=":material/straighten:")
            inside = settings.rho_lo <= cfg.rho <= settings.rho_hi and cfg.T <= settings.T
            st.caption(phase_caption(pm, marker, inside))


    if cfg.cell != "rnn":
        st.info(f"This map is for the **vanilla RNN** only: the sidebar's {CELL_LABELS[cfg.cell]} is not on it, so "
                "there is no ★. A gated cell's gradient does not follow one ρ-dependent rate per step (its cell "
                "or copy path is scaled by gates instead); the RNN vs LSTM vs GRU page compares the three cells "
                "directly.", icon=":material/info:")
    phase_map(cfg)

    st.subheader("The edge of chaos")
    c1, c2 = st.columns([3, 2], gap="large")
    with c1:
        show_chart(lyapunov_fig(), key="lyapunov")
    with c2:
        st.latex(r"h_{t+1} = \tanh(W h_t)")
        st.markdown("with $W_{ij} \\sim \\mathcal N(0,\\, g^2/n)$. Run the network with no input and follow two "
                    "states that start infinitesimally close. "
                    "The **Lyapunov exponent** λ is how fast their distance grows per step (natural log).")
        st.caption("λ < 0 (order): the network forgets its starting state, and gradients vanish with it. "
                   "λ > 0 (chaos): tiny differences blow up, and so do gradients. λ crosses 0 near g = 1, "
                   "the edge of chaos, where a random W_hh (ρ ≈ g) keeps information longest. "
                   f"n = {LYAP_N} units, {LYAP_STEPS} steps after {LYAP_BURN} of burn-in.")
