"""The one config: page state, cache key, preset format and URL query string.

`Config` is a frozen dataclass of primitives built from its registry `CONFIG` (ui/state.py): every
field has a `Field` spec that knows its URL key, its default, its bounds or its allowed options, and
how to coerce a raw string from the URL. Coercion never raises: garbage falls back to the default and
out-of-range numbers are clamped; both produce a short human-readable notice.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from engine.params import CELLS as CELL_SPECS
from ui.state import Registry, Setting, fmt, nearest, settings_class

# Mirrors engine registries; kept here as plain tuples so this module imports
# nothing heavy and the URL vocabulary is visible in one place.
CELLS = ("rnn", "lstm", "gru")
SIGNALS = ("normal", "sine", "pulse", "zeros", "step")
INITS = ("gaussian", "orthogonal", "identity", "nonnormal")
ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
OUTPUTS = ("identity", "softmax", "sigmoid")
LOSSES = ("last", "all")


def _rho_grid() -> tuple[float, ...]:
    """Spectral-radius choices: coarse far from 1, steps of 0.01 on [0.8, 1.2]."""
    coarse_lo = [round(0.05 * i, 2) for i in range(0, 16)]          # 0.00 .. 0.75
    fine = [round(0.8 + 0.01 * i, 2) for i in range(0, 41)]         # 0.80 .. 1.20
    coarse_hi = [round(1.25 + 0.05 * i, 2) for i in range(0, 36)]   # 1.25 .. 3.00
    return tuple(coarse_lo + fine + coarse_hi)


RHO_GRID = _rho_grid()

SIGNAL_LABELS = {
    "normal": "random normal",
    "sine": "sine wave",
    "pulse": "single pulse at t = 1",
    "zeros": "zeros (no input)",
    "step": "step (switches on halfway)",
}
INIT_LABELS = {
    "gaussian": "gaussian  N(0, 1/H)",
    "orthogonal": "orthogonal",
    "identity": "identity (IRNN)",
    "nonnormal": "non-normal (upper shift)",
}
LOSS_LABELS = {"last": "last step only", "all": "every step"}
CELL_LABELS = {name: spec.title for name, spec in CELL_SPECS.items()}   # "vanilla RNN", "LSTM", "GRU"
GATED_ACTIVATION = "tanh"   # gated cells have fixed nonlinearities: sigmoid gates, tanh candidate


Field = Setting   # the name the sidebar, the uploads and the tests use

# How every address-bound widget is declared: its value in the URL, kept in the session across page switches.
BIND = {"bind": "query-params", "persist_state": "session"}

FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("cell", "Cell", "choice", options=CELLS,
              help="rnn: the vanilla cell h_t = f(W_hx x_t + W_hh h_{t-1} + b_h). "
                   "lstm: adds a cell state c_t that is carried forward by a forget gate "
                   "(c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t). "
                   "gru: an update gate z_t mixes the old state with a new candidate "
                   "(h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}).", default="rnn"),
        Field("T", "Sequence length T", "int", 1, 1000,
              help="Number of time steps the network is unrolled for.", default=100),
        Field("H", "Hidden units H", "int", 1, 256,
              help="Size of the hidden state h_t (and of the square matrix W_hh).", default=32),
        Field("D", "Input size D", "int", 1, 16, help="Size of each input vector x_t.", default=1),
        Field("O", "Output size O", "int", 1, 16, help="Size of each output vector y_t.", default=1),
        Field("signal", "Input signal", "choice", options=SIGNALS,
              help="What is fed in as x_1 … x_T.", default="normal"),
        Field("amp", "Input amplitude", "float", 0.0, 10.0,
              help="Scale of the input. Large inputs push tanh/sigmoid into saturation.", default=1.0),
        Field("init", "W_hh initialisation", "choice", options=INITS,
              help="How the recurrent matrix is drawn before rescaling to the chosen ρ.", default="gaussian"),
        Field("rho", "Spectral radius ρ of W_hh", "rho", 0.0, 3.0, options=RHO_GRID,
              help="Largest |eigenvalue| of W_hh. Steps of 0.01 between 0.8 and 1.2.", default=0.9),
        Field("act", "Activation f", "choice", options=ACTIVATIONS,
              help="Non-linearity of the hidden layer; γ = sup|f'| sets the 1/γ threshold. "
                   "LSTM and GRU always use tanh (their gates are sigmoids).", default="tanh"),
        Field("fb", "LSTM forget-gate bias", "float", -5.0, 8.0,
              help="Added inside the LSTM's forget gate f_t = σ(… + bias), so f starts near σ(bias): "
                   "0.50 at 0 (PyTorch's default), 0.73 at 1, 0.99 at 5. f multiplies only the direct path "
                   "c_{t−1} → c_t; the gates also read h_{t−1}, and the gradient follows those paths too. "
                   "Over 100 steps at the other defaults, ‖∂L/∂h_1‖ / ‖∂L/∂h_100‖ is 10^−19.8 at bias 0, "
                   "10^−8.0 at 1 and 10^+0.4 at 5.", default=1.0),
        Field("zb", "GRU update-gate bias", "float", -5.0, 8.0,
              help="Added inside the GRU's update gate z_t = σ(… + bias). High: z ≈ 1, the state is "
                   "copied forward unchanged (and so is its gradient). Low: the state is rewritten.", default=0.0),
        Field("out", "Output function g", "choice", options=OUTPUTS,
              help="identity → squared error, softmax → cross-entropy, sigmoid → binary CE.", default="identity"),
        Field("loss", "Loss on", "choice", options=LOSSES,
              help="Compare y_t with a target at the last step only, or at every step.", default="last"),
        Field("seed", "Random seed", "int", 0, 9999,
              help="Seeds the weights, the input and the target: same seed, same network.", default=0),
    )
}


def _notice(spec: Setting, raw: str, value: Any, why: str) -> str:
    """The sidebar's sentence for a link value it changed."""
    name, text = spec.name, raw.strip()[:30]
    if why == "choice":
        return f"{name}={text}: not one of {', '.join(spec.options)}; using {value}."
    if why in ("number", "finite"):
        return f"{name}={text}: not a {'finite ' if why == 'finite' else ''}number; using {fmt(value)}."
    if why == "range":
        return f"{name}={text}: outside {fmt(spec.lo)}–{fmt(spec.hi)}; using {fmt(value)}."
    return f"{name}={text}: rounded to {fmt(value)}."


CONFIG = Registry(tuple(FIELDS.values()), _notice)


@settings_class(CONFIG)
class Config:
    """Everything that determines one run of the lab (all primitives, hashable): the fields of `FIELDS`."""

    def to_query(self) -> dict[str, str]:
        """Non-default fields as URL query parameters (default values are omitted)."""
        return CONFIG.to_query(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def snap_rho(v: float) -> float:
    """Nearest value on the ρ grid (the slider only offers those)."""
    return nearest(RHO_GRID, v)


def coerce(name: str, raw: Any) -> tuple[Any, str | None]:
    """Parse one raw value for field `name`.

    Returns (value, notice). `notice` is None when `raw` was valid as given; a short
    sentence when it was clamped, snapped or replaced by the default. Never raises.
    """
    return CONFIG.coerce(name, raw)


def reconcile(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Rules between fields, applied after each field is valid on its own.

    A gated cell (LSTM, GRU) has fixed nonlinearities, so its activation is always tanh: any
    other `act` is replaced, with a notice. Missing fields count as their defaults.
    """
    out = dict(values)
    cell = out.get("cell", FIELDS["cell"].default)
    act = out.get("act", FIELDS["act"].default)
    if cell != "rnn" and act != GATED_ACTIVATION:
        out["act"] = GATED_ACTIVATION
        return out, [f"act={act} does not apply to the {CELL_LABELS[cell]} (its gates fix the "
                     f"nonlinearities); using {GATED_ACTIVATION}."]
    return out, []


def from_query(params: Mapping[str, Any]) -> tuple[Config, list[str]]:
    """Config from URL query parameters; unknown keys are ignored, bad values reported."""
    values, notices = CONFIG.parse(params)
    values, rule_notices = reconcile(values)
    return Config(**values), notices + rule_notices


def validated(cfg: Config) -> Config:
    """Same config with every field coerced into range and the rules between fields applied
    (idempotent)."""
    return Config(**reconcile(CONFIG.validate(cfg.as_dict()))[0])
