"""The one config: page state, cache key, preset format and URL query string.

`Config` is a frozen dataclass of primitives. Every field has a `Field` spec that
knows its URL key, its bounds or its allowed options, and how to coerce a raw
string from the URL. Coercion never raises: garbage falls back to the default and
out-of-range numbers are clamped; both produce a short human-readable notice.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

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
CELL_LABELS = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU"}
GATED_ACTIVATION = "tanh"   # gated cells have fixed nonlinearities: sigmoid gates, tanh candidate


@dataclass(frozen=True)
class Config:
    """Everything that determines one run of the lab (all primitives, hashable)."""

    cell: str = "rnn"       # recurrent cell: vanilla RNN, LSTM or GRU
    T: int = 100            # sequence length
    H: int = 32             # hidden units
    D: int = 1              # input size
    O: int = 1              # output size
    signal: str = "normal"  # input signal
    amp: float = 1.0        # input amplitude
    init: str = "gaussian"  # W_hh initialisation
    rho: float = 0.9        # spectral radius of W_hh
    act: str = "tanh"       # hidden activation f (always tanh for gated cells)
    fb: float = 1.0         # LSTM forget-gate bias
    zb: float = 0.0         # GRU update-gate bias
    out: str = "identity"   # output function g
    loss: str = "last"      # which steps the loss covers
    seed: int = 0

    def to_query(self) -> dict[str, str]:
        """Non-default fields as URL query parameters (default values are omitted)."""
        default = Config()
        return {
            f.name: fmt(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Field:
    """How one config field is shown, bounded and parsed."""

    name: str
    label: str
    kind: str                                  # "int" | "float" | "choice"
    lo: float | None = None
    hi: float | None = None
    options: tuple | None = None
    help: str = ""


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
                   "(h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1})."),
        Field("T", "Sequence length T", "int", 1, 1000,
              help="Number of time steps the network is unrolled for."),
        Field("H", "Hidden units H", "int", 1, 256,
              help="Size of the hidden state h_t (and of the square matrix W_hh)."),
        Field("D", "Input size D", "int", 1, 16, help="Size of each input vector x_t."),
        Field("O", "Output size O", "int", 1, 16, help="Size of each output vector y_t."),
        Field("signal", "Input signal", "choice", options=SIGNALS,
              help="What is fed in as x_1 … x_T."),
        Field("amp", "Input amplitude", "float", 0.0, 10.0,
              help="Scale of the input. Large inputs push tanh/sigmoid into saturation."),
        Field("init", "W_hh initialisation", "choice", options=INITS,
              help="How the recurrent matrix is drawn before rescaling to the chosen ρ."),
        Field("rho", "Spectral radius ρ of W_hh", "rho", 0.0, 3.0, options=RHO_GRID,
              help="Largest |eigenvalue| of W_hh. Steps of 0.01 between 0.8 and 1.2."),
        Field("act", "Activation f", "choice", options=ACTIVATIONS,
              help="Non-linearity of the hidden layer; γ = sup|f'| sets the 1/γ threshold. "
                   "LSTM and GRU always use tanh (their gates are sigmoids)."),
        Field("fb", "LSTM forget-gate bias", "float", -5.0, 8.0,
              help="Added inside the LSTM's forget gate f_t = σ(… + bias), so f starts near σ(bias): "
                   "0.50 at 0 (PyTorch's default), 0.73 at 1, 0.99 at 5. f multiplies only the direct path "
                   "c_{t−1} → c_t; the gates also read h_{t−1}, and the gradient follows those paths too. "
                   "Over 100 steps at the other defaults, ‖∂L/∂h_1‖ / ‖∂L/∂h_100‖ is 10^−19.8 at bias 0, "
                   "10^−8.0 at 1 and 10^+0.4 at 5."),
        Field("zb", "GRU update-gate bias", "float", -5.0, 8.0,
              help="Added inside the GRU's update gate z_t = σ(… + bias). High: z ≈ 1, the state is "
                   "copied forward unchanged (and so is its gradient). Low: the state is rewritten."),
        Field("out", "Output function g", "choice", options=OUTPUTS,
              help="identity → squared error, softmax → cross-entropy, sigmoid → binary CE."),
        Field("loss", "Loss on", "choice", options=LOSSES,
              help="Compare y_t with a target at the last step only, or at every step."),
        Field("seed", "Random seed", "int", 0, 9999,
              help="Seeds the weights, the input and the target: same seed, same network."),
    )
}

assert tuple(FIELDS) == tuple(f.name for f in fields(Config))


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def snap_rho(v: float) -> float:
    """Nearest value on the ρ grid (the slider only offers those)."""
    return min(RHO_GRID, key=lambda g: (abs(g - v), g))


def coerce(name: str, raw: Any) -> tuple[Any, str | None]:
    """Parse one raw value for field `name`.

    Returns (value, notice). `notice` is None when `raw` was valid as given; a short
    sentence when it was clamped, snapped or replaced by the default. Never raises.
    """
    spec = FIELDS[name]
    default = getattr(Config(), name)
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else ""
    text = str(raw).strip()
    if spec.kind == "choice":
        if text in spec.options:
            return text, None
        low = text.lower()
        if low in spec.options:
            return low, None
        return default, f"{name}={text[:30]}: not one of {', '.join(spec.options)}; using {default}."
    try:
        num = float(text)
    except ValueError:
        return default, f"{name}={text[:30]}: not a number; using {fmt(default)}."
    if num != num or num in (float("inf"), float("-inf")):
        return default, f"{name}={text[:30]}: not a finite number; using {fmt(default)}."
    clamped = min(max(num, spec.lo), spec.hi)
    if spec.kind == "int":
        value: Any = int(round(clamped))
        exact = float(value) == num
    elif spec.kind == "rho":
        value = snap_rho(clamped)
        exact = abs(value - num) < 1e-9
    else:
        value = round(clamped, 2)
        exact = abs(value - num) < 1e-9
    if exact:
        return value, None
    if clamped != num:
        return value, f"{name}={text[:30]}: outside {fmt(spec.lo)}–{fmt(spec.hi)}; using {fmt(value)}."
    return value, f"{name}={text[:30]}: rounded to {fmt(value)}."


def reconcile(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Rules between fields, applied after each field is valid on its own.

    A gated cell (LSTM, GRU) has fixed nonlinearities, so its activation is always tanh: any
    other `act` is replaced, with a notice. Missing fields count as their defaults.
    """
    out = dict(values)
    default = Config()
    cell = out.get("cell", default.cell)
    act = out.get("act", default.act)
    if cell != "rnn" and act != GATED_ACTIVATION:
        out["act"] = GATED_ACTIVATION
        return out, [f"act={act} does not apply to the {CELL_LABELS[cell]} (its gates fix the "
                     f"nonlinearities); using {GATED_ACTIVATION}."]
    return out, []


def from_query(params: Mapping[str, Any]) -> tuple[Config, list[str]]:
    """Config from URL query parameters; unknown keys are ignored, bad values reported."""
    values: dict[str, Any] = {}
    notices: list[str] = []
    for name in FIELDS:
        if name in params:
            value, notice = coerce(name, params[name])
            values[name] = value
            if notice:
                notices.append(notice)
    values, rule_notices = reconcile(values)
    return Config(**values), notices + rule_notices


def validated(cfg: Config) -> Config:
    """Same config with every field coerced into range and the rules between fields applied
    (idempotent)."""
    values = {name: coerce(name, fmt(getattr(cfg, name)))[0] for name in FIELDS}
    return Config(**reconcile(values)[0])

