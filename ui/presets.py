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


# What the presets share unless they say otherwise (the lab's defaults for T and H, a tanh unit, gaussian W_hh).
_BASE = {"T": 100, "H": 32, "init": "gaussian", "act": "tanh"}


def _preset(key: str, title: str, blurb: str, look: str, page: str, **config) -> Preset:
    """A preset whose config is `_BASE` with `config`'s fields changed."""
    return Preset(key, title, blurb, look, page, Config(**{**_BASE, **config}))


PRESETS: tuple[Preset, ...] = (
    _preset("vanishing", "Vanishing", "tanh, gaussian W_hh, ρ = 0.9, T = 100.",
            "The gradient reaching early steps is many orders of magnitude smaller.",
            "pages/3_Gradients.py",
            rho=0.9),
    _preset("exploding", "Exploding", "linear units, gaussian W_hh, ρ = 1.2.",
            "‖∂L/∂h_t‖ grows like 1.2^(T−t) going back in time.",
            "pages/3_Gradients.py",
            rho=1.2, act="linear"),
    _preset("edge", "On the border: ρ = 1", "orthogonal W_hh, ρ = 1.0, linear units.",
            "All singular values are 1: the gradient neither grows nor shrinks.",
            "pages/3_Gradients.py",
            init="orthogonal", rho=1.0, act="linear"),
    _preset("irnn", "IRNN", "ReLU units, W_hh = identity, a pulse at t = 1.",
            "The identity copies the 14 units the pulse switched on, and their gradient: ‖∂L/∂h_t‖ is the same "
            "at every step before T, 10^−0.3 of ‖∂L/∂h_T‖ (the first step back drops the 18 units that are "
            "off). A unit at 0 passes nothing back (ReLU′(0) = 0): with no input at all, no gradient reaches "
            "any step before T.",
            "pages/3_Gradients.py",
            init="identity", rho=1.0, act="relu", signal="pulse"),
    _preset("rho1", "ρ ≈ 1 is not enough", "gaussian W_hh with ρ = 1.0, H = 128: σ_max = 1.88.",
            "The eigenvalues sit inside or on the unit circle, yet the singular values reach 1.88 (near 2ρ "
            "for large H).",
            "pages/4_Spectrum.py",
            H=128, rho=1.0),
    _preset("nonnormal", "Non-normal transient growth", "W_hh = [[0.9, 5], [0, 0.9]], linear.",
            "ρ = 0.9, yet ‖W^k‖ first climbs to about 19 before it decays.",
            "pages/4_Spectrum.py",
            T=60, H=2, init="nonnormal", rho=0.9, act="linear", signal="pulse"),
    _preset("saturation", "Saturation", "tanh with inputs of amplitude 5.",
            "Most units sit where tanh is flat, so f'(a) ≈ 0 blocks the gradient.",
            "pages/2_Hidden_state.py",
            rho=0.9, amp=5.0),
    _preset("lstm_keeps", "LSTM keeps the gradient", "LSTM, forget-gate bias 5, T = 100, ρ = 0.9.",
            "f ≈ 0.99: the LSTM's gradient reaches step 1 at full size (10^+0.4), the RNN's at 10^−22.8.",
            "pages/6_RNN_vs_LSTM_vs_GRU.py",
            cell="lstm", rho=0.9, fb=5.0),
    _preset("leaky_forget", "A leaky forget gate", "LSTM, forget-gate bias 0, small weights and input.",
            "f ≈ 0.5 halves the gradient along the direct c path every step, and with ρ = 0.1 the paths through "
            "h add almost nothing: 10^−29.4 at step 1. At ρ = 0.9 they add more: fb = 0 gives 10^−19.8.",
            "pages/3_Gradients.py",
            cell="lstm", rho=0.1, amp=0.1, fb=0.0),
    _preset("gru_copies", "GRU copies the state", "GRU, update-gate bias 6: z ≈ 1 shuts the update.",
            "z ≈ 0.996 copies h forward: the GRU keeps 10^−0.2 of the gradient, the RNN 10^−22.8.",
            "pages/6_RNN_vs_LSTM_vs_GRU.py",
            cell="gru", rho=0.9, zb=6.0),
)

PRESETS_BY_KEY = {p.key: p for p in PRESETS}
