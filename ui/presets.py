"""Named configurations. A preset is just a `Config` value plus two lines of text."""
from __future__ import annotations

from dataclasses import dataclass

from ui.config import Config


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    blurb: str          # one line: what the preset sets up
    look: str           # one line: what to look for
    page: str           # the page where the effect is clearest
    config: Config


PRESETS: tuple[Preset, ...] = (
    Preset("vanishing", "Vanishing", "tanh, gaussian W_hh, ρ = 0.9, T = 100.",
           "The gradient reaching early steps is many orders of magnitude smaller.",
           "pages/3_Gradients.py",
           Config(T=100, H=32, init="gaussian", rho=0.9, act="tanh")),
    Preset("exploding", "Exploding", "linear units, gaussian W_hh, ρ = 1.2.",
           "‖∂L/∂h_t‖ grows like 1.2^(T−t) going back in time.",
           "pages/3_Gradients.py",
           Config(T=100, H=32, init="gaussian", rho=1.2, act="linear")),
    Preset("edge", "On the border: ρ = 1", "orthogonal W_hh, ρ = 1.0, linear units.",
           "All singular values are 1: the gradient neither grows nor shrinks.",
           "pages/3_Gradients.py",
           Config(T=100, H=32, init="orthogonal", rho=1.0, act="linear")),
    Preset("irnn", "IRNN", "ReLU units, W_hh = identity, a pulse at t = 1.",
           "The identity copies the 14 units the pulse switched on, and their gradient: ‖∂L/∂h_t‖ is the same "
           "at every step before T, 10^−0.3 of ‖∂L/∂h_T‖ (the first step back drops the 18 units that are "
           "off). A unit at 0 passes nothing back (ReLU′(0) = 0): with no input at all, no gradient reaches "
           "any step before T.",
           "pages/3_Gradients.py",
           Config(T=100, H=32, init="identity", rho=1.0, act="relu", signal="pulse")),
    Preset("rho1", "ρ ≈ 1 is not enough", "gaussian W_hh with ρ = 1.0, H = 128: σ_max = 1.88.",
           "The eigenvalues sit inside or on the unit circle, yet the singular values reach 1.88 (near 2ρ "
           "for large H).",
           "pages/4_Spectrum.py",
           Config(T=100, H=128, init="gaussian", rho=1.0, act="tanh")),
    Preset("nonnormal", "Non-normal transient growth", "W_hh = [[0.9, 5], [0, 0.9]], linear.",
           "ρ = 0.9, yet ‖W^k‖ first climbs to about 19 before it decays.",
           "pages/4_Spectrum.py",
           Config(T=60, H=2, init="nonnormal", rho=0.9, act="linear", signal="pulse")),
    Preset("saturation", "Saturation", "tanh with inputs of amplitude 5.",
           "Most units sit where tanh is flat, so f'(a) ≈ 0 blocks the gradient.",
           "pages/2_Hidden_state.py",
           Config(T=100, H=32, init="gaussian", rho=0.9, act="tanh", amp=5.0)),
    Preset("lstm_keeps", "LSTM keeps the gradient", "LSTM, forget-gate bias 5, T = 100, ρ = 0.9.",
           "f ≈ 0.99: the LSTM's gradient reaches step 1 at full size (10^+0.4), the RNN's at 10^−22.8.",
           "pages/6_RNN_vs_LSTM_vs_GRU.py",
           Config(cell="lstm", T=100, H=32, init="gaussian", rho=0.9, act="tanh", fb=5.0)),
    Preset("leaky_forget", "A leaky forget gate", "LSTM, forget-gate bias 0, small weights and input.",
           "f ≈ 0.5 halves the gradient along the direct c path every step, and with ρ = 0.1 the paths through "
           "h add almost nothing: 10^−29.4 at step 1. At ρ = 0.9 they add more: fb = 0 gives 10^−19.8.",
           "pages/3_Gradients.py",
           Config(cell="lstm", T=100, H=32, init="gaussian", rho=0.1, act="tanh", amp=0.1, fb=0.0)),
    Preset("gru_copies", "GRU copies the state", "GRU, update-gate bias 6: z ≈ 1 shuts the update.",
           "z ≈ 0.996 copies h forward: the GRU keeps 10^−0.2 of the gradient, the RNN 10^−22.8.",
           "pages/6_RNN_vs_LSTM_vs_GRU.py",
           Config(cell="gru", T=100, H=32, init="gaussian", rho=0.9, act="tanh", zb=6.0)),
)

PRESETS_BY_KEY = {p.key: p for p in PRESETS}
