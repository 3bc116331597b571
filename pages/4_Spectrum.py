"""Spectrum: what the eigenvalues and singular values of W_hh predict."""
import streamlit as st

from ui.panels import cfg_caption, fallback_notice
from ui.runs import eigen_fig, params_config, power_fig, run_default_fallback, run_spectrum, singular_fig
from ui.sidebar import page_setup, preset_flash, sidebar

page_setup("Spectrum")
cfg = sidebar()
preset_flash()

st.title("Spectrum of the recurrent weights W_hh")
spec, err = run_default_fallback(run_spectrum, cfg)
used = cfg if err is None else type(cfg)()
fallback_notice(err)
cfg_caption(used)

eta = spec.gamma * spec.sigma_max
m1, m2, m3 = st.columns(3)
m1.metric("spectral radius ρ = max |λ|", f"{spec.rho:.3f}")
m2.metric("largest singular value σ_max", f"{spec.sigma_max:.3f}")
m3.metric("γ·σ_max  (γ = sup|f′|)", f"{eta:.3f}")
if eta < 1:
    st.success(f"γ·σ_max = {eta:.3f} < 1: every step shrinks the gradient by at least this factor, "
               "for any input, so gradients must vanish (Pascanu et al. 2013).",
               icon=":material/trending_down:")
elif spec.rho < 1:
    st.info(f"ρ = {spec.rho:.3f} < 1 but γ·σ_max = {eta:.3f} ≥ 1: in a linear network long-range "
            "terms still vanish eventually, but the worst-case bound allows growth first "
            "(transient growth), and with a non-linearity nothing is guaranteed either way.",
            icon=":material/info:")
else:
    st.warning(f"ρ = {spec.rho:.3f} ≥ 1: a linear network's gradients do not vanish, and for ρ > 1 "
               "they grow like ρ^(T−t). With a saturating f they may still vanish: σ_max > 1/γ is "
               "needed for explosion, but not enough.", icon=":material/trending_up:")

c1, c2 = st.columns(2, gap="large")
with c1:
    # W_hh alone: keyed on the weights, so moving T or the input leaves these two charts untouched.
    st.plotly_chart(eigen_fig(params_config(used)), key="eigen", config={"displaylogo": False})
    st.caption("Eigenvalues outside the unit circle make a linear network explode; all inside means "
               "long-range terms eventually vanish.")
with c2:
    st.plotly_chart(singular_fig(params_config(used)), key="singular", config={"displaylogo": False})
    st.caption("Singular values measure the largest stretch in one step; bars above the 1/γ line "
               "(drawn in red) are what allow gradients to grow.")

st.plotly_chart(power_fig(used), key="powers", config={"displaylogo": False})
k_max = spec.power_norms.size - 1
st.caption(f"‖W_hhᵏ‖ is the exact gradient gain over k steps of a linear RNN (k up to {k_max}). It "
           "always stays below σ_maxᵏ and eventually follows ρᵏ; a hump above ρᵏ is transient growth.")
