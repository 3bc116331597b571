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
    Preset("edge", "Edge of stability", "orthogonal W_hh, ρ = 1.0, linear units.",
           "All singular values are 1: the gradient neither grows nor shrinks.",
           "pages/3_Gradients.py",
           Config(T=100, H=32, init="orthogonal", rho=1.0, act="linear")),
    Preset("irnn", "IRNN", "ReLU units, W_hh = identity, no input.",
           "The hidden state is copied unchanged, so the gradient keeps its size.",
           "pages/2_Hidden_state.py",
           Config(T=100, H=32, init="identity", rho=1.0, act="relu", signal="zeros")),
    Preset("rho1", "ρ ≈ 1 is not enough", "gaussian W_hh with ρ = 1.0: σ_max is about 2.",
           "The eigenvalues sit inside the unit circle, yet the singular values reach 2.",
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
           "f ≈ 0.5 halves ‖∂L/∂c_t‖ every step: about 10^−29 at step 1, the LSTM vanishes too.",
           "pages/3_Gradients.py",
           Config(cell="lstm", T=100, H=32, init="gaussian", rho=0.1, act="tanh", amp=0.1, fb=0.0)),
    Preset("gru_copies", "GRU copies the state", "GRU, update-gate bias 6: z ≈ 1 shuts the update.",
           "z ≈ 0.996 copies h forward: the GRU keeps 10^−0.2 of the gradient, the RNN 10^−22.8.",
           "pages/6_RNN_vs_LSTM_vs_GRU.py",
           Config(cell="gru", T=100, H=32, init="gaussian", rho=0.9, act="tanh", zb=6.0)),
)

PRESETS_BY_KEY = {p.key: p for p in PRESETS}
