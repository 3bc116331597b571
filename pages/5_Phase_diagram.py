"""Phase diagram: where gradients vanish, survive or explode, over ρ and the distance in time."""
import streamlit as st

from ui.phase import LYAP_BURN, LYAP_N, LYAP_STEPS, phase_controls, refusal, run_lyapunov, run_phase
from ui.sidebar import page_setup, preset_flash, sidebar
from viz.phase import lyapunov_figure, phase_figure

page_setup("Phase diagram")
cfg = sidebar()
preset_flash()

st.title("Phase diagram: where gradients vanish or explode")
st.markdown("Each cell is one experiment: random networks whose recurrent matrix $W_{hh}$ is rescaled to "
            "spectral radius $\\rho$ (its largest |eigenvalue|), and the size of the gradient "
            "$\\lVert\\partial L/\\partial h_t\\rVert$ that reaches $T - t$ steps back from the loss, "
            "relative to the one at the loss, $\\lVert\\partial L/\\partial h_T\\rVert$. "
            "**Blue: the gradient vanishes. Red: it explodes. White: it survives.**")

settings, notes = phase_controls(cfg)
for note in notes:
    st.info(note, icon=":material/info:")

message = refusal(settings)
pm = None
if message is None:
    try:
        pm = run_phase(settings)
    except ValueError as exc:
        message = f"The engine refused this map: {exc}."
if message is not None:
    st.error(message, icon=":material/block:")
else:
    if settings.seconds > 2.0:
        st.caption(f"A map this size takes about {settings.seconds:.0f} s to compute; it is kept once computed.")
    st.plotly_chart(phase_figure(pm, marker=(cfg.rho, cfg.T)), key="phase", config={"displaylogo": False})
    where = (f"The ★ is the sidebar network (ρ = {cfg.rho:.2f}, T = {cfg.T}): its first step is "
             f"T − 1 = {cfg.T - 1} steps from the loss.")
    if not settings.rho_lo <= cfg.rho <= settings.rho_hi or cfg.T > settings.T:
        where += " It lies outside this map: widen the ρ range or raise the sequence length to see it."
    bound_txt = (f"For this {pm.init} init σ_max·γ = 1 already at ρ = {pm.bound:.2f}"
                 + (" — the same place as ρ = 1/γ, because an orthogonal or identity W_hh is normal "
                    "(σ_max = ρ)." if pm.init != "gaussian" else
                    ": a gaussian W_hh has σ_max ≈ 2ρ, so the guarantee that gradients vanish "
                    "(left of the dashed line) ends at about half the ρ you might expect."))
    st.caption("**What to see.** Left of ρ = 1 the contour lines climb: the further back, the smaller the "
               "gradient, by a steady factor per step. For a linear network the boundary is exactly ρ = 1 "
               "(the ratio is (T − t)·log₁₀ρ); tanh bends it, because saturated units (f′ < 1) shrink the "
               "gradient further, so blue reaches past ρ = 1 and explosion needs a larger ρ. "
               + bound_txt + " " + where)

st.subheader("The edge of chaos")
gains, lam = run_lyapunov()
c1, c2 = st.columns([3, 2], gap="large")
with c1:
    st.plotly_chart(lyapunov_figure(gains, lam), key="lyapunov", config={"displaylogo": False})
with c2:
    st.markdown("Run the network with no input, $h_{t+1} = \\tanh(W h_t)$ with $W_{ij} \\sim "
                "\\mathcal N(0, g^2/n)$, and follow two states that start infinitesimally close. "
                "The **Lyapunov exponent** λ is how fast their distance grows per step (natural log).")
    st.caption("λ < 0 (order): the network forgets its starting state, and gradients vanish with it. "
               "λ > 0 (chaos): tiny differences blow up, and so do gradients. λ crosses 0 near g = 1, "
               "the edge of chaos, where a random W_hh (ρ ≈ g) keeps information longest. "
               f"n = {LYAP_N} units, {LYAP_STEPS} steps after {LYAP_BURN} of burn-in.")
