"""RNNParams, init_params and spectrum helpers.

Two spectral quantities appear everywhere and are easy to confuse:
- spectral radius rho(W) = max |eigenvalue|: governs the *long-run* growth, ||W^k||^(1/k) -> rho.
- spectral norm sigma_max(W) = largest singular value = ||W||_2: bounds *every* step,
  ||W^k|| <= sigma_max^k. rho <= sigma_max, with equality for normal matrices (e.g. orthogonal).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from . import limits as L
from .activations import check_output, get_activation

INITS: tuple[str, ...] = ("gaussian", "orthogonal", "identity", "nonnormal")


@dataclass(frozen=True)
class CellSpec:
    """What the parameters of one kind of recurrent cell look like.

    ``gates`` names the blocks stacked along the first axis of W_hx, W_hh and b_h, in PyTorch's
    order; a vanilla RNN has one block (the state itself) and no gates. ``states`` names the vectors of
    H numbers carried from step to step (the recurrent state whose Jacobians are multiplied).
    """

    name: str
    gates: tuple[str, ...]
    title: str
    states: tuple[str, ...] = ("h",)

    @property
    def n_gates(self) -> int:
        return max(len(self.gates), 1)

    def state_size(self, n_hidden: int) -> int:
        """Size S of the recurrent state: H, or 2H for the LSTM's (h, c)."""
        return len(self.states) * int(n_hidden)


CELLS: dict[str, CellSpec] = {
    "rnn": CellSpec("rnn", (), "vanilla RNN"),
    "lstm": CellSpec("lstm", ("i", "f", "g", "o"), "LSTM", ("h", "c")),
    "gru": CellSpec("gru", ("r", "z", "n"), "GRU"),
}


def get_cell(name) -> CellSpec:
    if not isinstance(name, str) or name not in CELLS:
        raise ValueError(f"cell must be one of {list(CELLS)}, got {name!r}")
    return CELLS[name]


def as_float_array(name: str, value, shape: tuple, shape_text: str) -> np.ndarray:
    """Convert to a C-contiguous float64 array and check shape and finiteness.

    ``shape`` holds ints or None (any size >= 1); ``shape_text`` is what the error message shows.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be a numeric array of shape {shape_text}, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be a numeric array of shape {shape_text}: {exc}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a real numeric array of shape {shape_text}, got dtype {arr.dtype}")
    if arr.ndim != len(shape):
        raise ValueError(f"{name} must have shape {shape_text}, got shape {arr.shape}")
    for got, want in zip(arr.shape, shape):
        if (want is None and got < 1) or (want is not None and got != want):
            raise ValueError(f"{name} must have shape {shape_text}, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf); shape {shape_text}")
    return arr


def _square(name: str, W) -> np.ndarray:
    try:
        arr = np.asarray(W) if not isinstance(W, (str, bytes)) else W
    except Exception:  # ragged nested lists
        raise ValueError(f"{name} must be a numeric array of shape (n, n)") from None
    n = arr.shape[0] if getattr(arr, "ndim", 0) == 2 and arr.shape[0] >= 1 else None  # None: any size >= 1
    return as_float_array(name, arr, (n, n), "(n, n)")


def as_vector(name: str, value) -> np.ndarray:
    """A 1-D float64 array of at least one finite real number, or ValueError naming ``name``."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be a 1-D array (n,) of finite numbers")
    try:
        arr = np.asarray(value)
    except Exception:
        raise ValueError(f"{name} must be a 1-D array (n,) of finite numbers") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf" or arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"{name} must be a 1-D array (n,) of finite real numbers, got shape {arr.shape}, "
                         f"dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _scalar(value):
    """A 0-d numpy array as its scalar (np.array(3) -> np.int64(3)); anything else unchanged."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def is_integer(value) -> bool:
    """True for Python and numpy integers (and 0-d integer arrays); False for bools, floats and the rest."""
    value = _scalar(value)
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


def is_number(value) -> bool:
    """True for Python and numpy real numbers (and 0-d real arrays); False for bools, complex, strings."""
    value = _scalar(value)
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


def check_number(name: str, value, what: str = "a finite number") -> float:
    """A finite real number as a Python float (numpy scalars welcome), or ValueError naming ``name``."""
    if not is_number(value) or not np.isfinite(_scalar(value)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(_scalar(value))


def check_seed(seed) -> int:
    """A non-negative integer seed, or ValueError naming ``seed``."""
    if not is_integer(seed) or not 0 <= int(_scalar(seed)) < 2**63:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(_scalar(seed))


@dataclass(frozen=True, eq=False)
class RNNParams:
    """The weights of a recurrent network, shared by every time step.

    Vanilla RNN (``cell="rnn"``): h_t = f(W_hx x_t + W_hh h_{t-1} + b_h),  y_t = g(W_hy h_t + b_y),
    W_hx (H, D), W_hh (H, H), b_h (H,), W_hy (O, H), b_y (O,); ``activation`` names f, ``output`` g.

    Gated cells stack one block per gate along the first axis, in PyTorch's order, so W_hx is
    (G H, D), W_hh (G H, H) and b_h (G H,):
    - ``cell="lstm"`` (G = 4: i, f, g, o): i, f, o = sigmoid, g = tanh of W_hx x_t + W_hh h_{t-1} + b_h;
      c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t). b_h is PyTorch's bias_ih + bias_hh.
    - ``cell="gru"`` (G = 3: r, z, n): r, z = sigmoid(W_h{r,z} x_t + W_h{r,z} h_{t-1} + b_{r,z});
      n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)); h_t = (1 - z) * n + z * h_{t-1}.
      b_h = [b_ir + b_hr, b_iz + b_hz, b_in] and ``b_hn`` (H,) keeps the n gate's recurrent bias apart,
      because r multiplies it.
    Gated cells use tanh (``activation`` must be "tanh"). Arrays are stored as read-only float64
    copies, so a params object can be shared between threads and used as a cache key by identity.
    """

    W_hx: np.ndarray
    W_hh: np.ndarray
    b_h: np.ndarray
    W_hy: np.ndarray
    b_y: np.ndarray
    activation: str = "tanh"
    output: str = "identity"
    cell: str = "rnn"
    b_hn: np.ndarray | None = None

    def __post_init__(self):
        for name, arr in _validated_arrays(self).items():
            arr = arr.copy()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def n_in(self) -> int:
        return self.W_hx.shape[1]

    @property
    def n_hidden(self) -> int:
        return self.W_hh.shape[1]

    @property
    def n_out(self) -> int:
        return self.W_hy.shape[0]

    @property
    def n_gates(self) -> int:
        return CELLS[self.cell].n_gates

    @property
    def gate_names(self) -> tuple[str, ...]:
        return CELLS[self.cell].gates

    def replace(self, **changes) -> "RNNParams":
        """A copy with some fields changed (validated again)."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        kw.update(changes)
        return RNNParams(**kw)

    def arrays(self) -> dict[str, np.ndarray]:
        """The trainable arrays by field name (b_hn only for a GRU)."""
        names = ("W_hx", "W_hh", "b_h", "W_hy", "b_y") + (("b_hn",) if self.cell == "gru" else ())
        return {k: getattr(self, k) for k in names}

    def recurrent_blocks(self) -> dict[str, np.ndarray]:
        """The (H, H) recurrent matrix of every gate, by gate name ({"h": W_hh} for a vanilla RNN)."""
        H = self.n_hidden
        names = self.gate_names or ("h",)
        return {g: self.W_hh[k * H:(k + 1) * H] for k, g in enumerate(names)}


def _validated_arrays(p: RNNParams) -> dict[str, np.ndarray]:
    """Check every field of ``p``; the arrays as float64, by field name (ValueError naming the field)."""
    cell = get_cell(p.cell)
    get_activation(p.activation)
    check_output(p.output)
    if cell.gates and p.activation != "tanh":
        raise ValueError(f"activation must be 'tanh' for cell={p.cell!r} (its gates are fixed), got {p.activation!r}")
    G = cell.n_gates
    if G == 1:
        W_hh = _square("W_hh", p.W_hh)
        H = W_hh.shape[0]
        rows, rows_text = H, "H"
    else:
        raw = np.asarray(p.W_hh) if not isinstance(p.W_hh, (str, bytes)) and p.W_hh is not None else None
        H = raw.shape[1] if raw is not None and raw.ndim == 2 and raw.shape[1] >= 1 else None
        rows, rows_text = (None if H is None else G * H), f"{G}H"
        W_hh = as_float_array("W_hh", p.W_hh, (rows, H), f"({rows_text}, H) for a {cell.title}")
        if H is None or W_hh.shape[0] != G * H:
            raise ValueError(f"W_hh must have shape ({rows_text}, H) for a {cell.title}, got shape {W_hh.shape}")
    out = {
        "W_hx": as_float_array("W_hx", p.W_hx, (rows, None), f"({rows_text}, D) = ({rows}, D)"),
        "W_hh": W_hh,
        "b_h": as_float_array("b_h", p.b_h, (rows,), f"({rows_text},) = ({rows},)"),
        "W_hy": as_float_array("W_hy", p.W_hy, (None, H), f"(O, H) = (O, {H})"),
    }
    O = out["W_hy"].shape[0]
    out["b_y"] = as_float_array("b_y", p.b_y, (O,), f"(O,) = ({O},)")
    if cell.name == "gru":
        out["b_hn"] = as_float_array("b_hn", p.b_hn, (H,), f"(H,) = ({H},) for a GRU")
    elif p.b_hn is not None:
        raise ValueError(f"b_hn must be None for cell={p.cell!r} (only a GRU has it)")
    return out


def unchecked_params(template: RNNParams, arrays: Mapping[str, np.ndarray]) -> RNNParams:
    """An RNNParams of the same kind as ``template`` holding ``arrays`` without the finiteness check:
    gradients of an overflowing run keep their inf/NaN entries (overflow is data) and their type."""
    p = object.__new__(RNNParams)
    for f in fields(RNNParams):
        object.__setattr__(p, f.name, getattr(template, f.name))
    for name, arr in arrays.items():
        arr = np.array(arr, dtype=np.float64)
        arr.flags.writeable = False
        object.__setattr__(p, name, arr)
    return p


# ---------------------------------------------------------------- spectrum helpers


def _dense_square(W) -> np.ndarray:
    """_square("W", W), refused when one decomposition of it would take too long (MAX_DENSE_WORK)."""
    W = _square("W", W)
    _check_dense(f"W of shape {W.shape}", 1, W.shape[0])
    return W


def eigenvalues(W) -> np.ndarray:
    """Complex eigenvalues of a square matrix."""
    return np.linalg.eigvals(_dense_square(W))


def singular_values(W) -> np.ndarray:
    """Singular values, largest first."""
    return np.linalg.svd(_dense_square(W), compute_uv=False)


def spectral_radius(W) -> float:
    """rho(W) = max |eigenvalue|: the asymptotic growth rate per step of ||W^k||."""
    return float(np.max(np.abs(eigenvalues(W))))


def spectral_norm(W) -> float:
    """sigma_max(W) = ||W||_2 = largest singular value: the worst-case growth of a single step."""
    return float(singular_values(W)[0])


def scale_to_spectral_radius(W, rho: float) -> np.ndarray:
    """W rescaled so that its spectral radius equals ``rho`` (a non-negative float)."""
    W = _dense_square(W)
    rho = _check_rho(rho)
    r = spectral_radius(W)
    if r == 0.0:
        if rho == 0.0:
            return W.copy()
        raise ValueError("W has spectral radius 0 (nilpotent); it cannot be rescaled to a positive rho")
    return W * (rho / r)


def power_norms(W, k_max: int, *, log10: bool = False) -> np.ndarray:
    """||W^k||_2 for k = 0..k_max, shape (k_max + 1,).

    With ``log10=True`` returns log10 ||W^k||_2 computed with running rescaling, so values far outside
    the float64 range (3^1000) stay exact.
    """
    W = _square("W", W)
    k_max = _check_int("k_max", k_max, 0, 100_000)
    n = W.shape[0]
    L.check_budget(f"k_max = {k_max}, W of shape {W.shape}", (k_max + 1) * float(max(n, 64)) ** 3, L.MAX_POWER_WORK,
                   "(k_max + 1) x n^3 (one SVD and one product per power)", seconds=L.POWER_SECONDS)
    out = np.empty(k_max + 1)
    P = np.eye(n)
    log_scale = 0.0
    for k in range(k_max + 1):
        s = np.linalg.svd(P, compute_uv=False)[0] if np.isfinite(P).all() else np.inf
        if s == 0.0:
            out[k:] = -np.inf
            break
        out[k] = np.log10(s) + log_scale
        P = W @ (P / s)  # keep P at unit norm; the scale goes into log_scale
        log_scale = out[k]
    if log10:
        return out
    with np.errstate(over="ignore"):  # 10**400 is inf in float64: use log10=True to keep it
        return 10.0**out


def _check_rho(rho) -> float:
    if not is_number(rho):
        raise ValueError(f"spectral_radius must be a non-negative number, got {rho!r}")
    rho = float(_scalar(rho))
    if not np.isfinite(rho) or rho < 0:
        raise ValueError(f"spectral_radius must be a finite number >= 0, got {rho}")
    return rho


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    value = int(_scalar(value))
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return value


def _check_dense(args: str, count: int, n: int, formula: str = "n^3") -> None:
    """Refuse ``count`` dense O(n^3) decompositions of n x n matrices beyond MAX_DENSE_WORK."""
    L.check_budget(args, count * float(n) ** 3, L.MAX_DENSE_WORK, f"{formula} (dense decompositions)",
                   seconds=L.DENSE_SECONDS)


# ---------------------------------------------------------------- initialisation


def init_params(
    n_in: int,
    n_hidden: int,
    n_out: int,
    *,
    init: str = "gaussian",
    spectral_radius: float | None = None,
    activation: str = "tanh",
    output: str = "identity",
    seed: int = 0,
    nonnormal_strength: float = 5.0,
    input_scale: float = 1.0,
    cell: str = "rnn",
    forget_bias: float = 1.0,
    update_bias: float = 0.0,
) -> RNNParams:
    """Random parameters for a network with D = n_in inputs, H = n_hidden units and O = n_out outputs.

    W_hh by ``init`` (for a gated cell: every gate's (H, H) recurrent block, drawn one after another):
    - "gaussian": W_ij ~ N(0, 1/H). Its spectral radius is about 1; its largest singular value
      sigma_max tends to 2 as H grows (ORACLES O7) but is smaller at small H (about 1.5-1.75 at H = 32).
    - "orthogonal": a random orthogonal matrix (all singular values 1).
    - "identity": I, the IRNN of Le et al. 2015 (use with relu).
    - "nonnormal": rho * I + s * N with N the ones on the first superdiagonal and s =
      ``nonnormal_strength``: all eigenvalues equal rho, yet ||W^k|| grows for a while (ORACLES O12).
    ``spectral_radius`` then rescales W_hh (each gate block on its own) so that max |eigenvalue| equals
    it exactly (for "nonnormal" it sets the diagonal; default 1). W_hx ~ N(0, input_scale^2 / D),
    W_hy ~ N(0, 1/H), biases zero except ``forget_bias`` on the LSTM's f gate (1 by default, the usual
    choice that keeps the cell path open at the start) and ``update_bias`` on the GRU's z gate.
    ``cell`` is "rnn", "lstm" or "gru" (gated cells need activation "tanh").
    """
    D = _check_int("n_in", n_in, 1, 100_000)
    H = _check_int("n_hidden", n_hidden, 1, 100_000)
    O = _check_int("n_out", n_out, 1, 100_000)
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
    seed = check_seed(seed)
    spec = get_cell(cell)
    G = spec.n_gates
    _check_dense(f"n_hidden = {H}" + (f" ({spec.title}, {G} gate blocks)" if G > 1 else ""), G, H,
                 "blocks x n_hidden^3" if G > 1 else "n_hidden^3")
    L.check_budget(f"n_in = {D}, n_hidden = {H}, n_out = {O}", G * H * (H + D) + O * (H + 1), L.MAX_PARAM_NUMBERS,
                   "numbers in the weights", bytes_each=8)
    rho = None if spectral_radius is None else _check_rho(spectral_radius)
    nonnormal_strength, input_scale, forget_bias, update_bias = (
        check_number(name, val) for name, val in (("nonnormal_strength", nonnormal_strength),
                                                  ("input_scale", input_scale), ("forget_bias", forget_bias),
                                                  ("update_bias", update_bias)))
    get_activation(activation)
    check_output(output)
    if spec.gates and activation != "tanh":
        raise ValueError(f"activation must be 'tanh' for cell={cell!r} (its gates are fixed), got {activation!r}")

    rng = np.random.default_rng(seed)
    W_hx = rng.normal(0.0, float(input_scale) / np.sqrt(D), size=(D, G * H)).T  # (G H, D)
    W_hy = rng.normal(0.0, 1.0 / np.sqrt(H), size=(O, H))  # (O, H)
    W_hh = np.concatenate([_recurrent_block(rng, init, H, rho, nonnormal_strength) for _ in range(G)])  # (G H, H)
    b_h = np.zeros(G * H)
    if cell == "lstm":
        b_h[H:2 * H] = forget_bias
    elif cell == "gru":
        b_h[H:2 * H] = update_bias
    return RNNParams(W_hx=W_hx, W_hh=W_hh, b_h=b_h, W_hy=W_hy, b_y=np.zeros(O), activation=activation,
                     output=output, cell=cell, b_hn=np.zeros(H) if cell == "gru" else None)


def _recurrent_block(rng, init: str, H: int, rho: float | None, nonnormal_strength: float) -> np.ndarray:
    """One (H, H) recurrent matrix drawn by ``init`` and rescaled to spectral radius ``rho``."""
    if init == "gaussian":
        W = rng.normal(0.0, 1.0 / np.sqrt(H), size=(H, H))
    elif init == "orthogonal":
        Q, R = np.linalg.qr(rng.normal(size=(H, H)))
        W = Q * np.sign(np.diag(R))  # sign fix makes Q Haar-distributed
    elif init == "identity":
        W = np.eye(H)
    else:  # nonnormal: triangular, so its eigenvalues are exactly its diagonal
        return (1.0 if rho is None else rho) * np.eye(H) + float(nonnormal_strength) * np.eye(H, k=1)
    return W if rho is None else scale_to_spectral_radius(W, rho)


# ---------------------------------------------------------------- PyTorch state dicts

_SD_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias")


def params_from_state_dict(state: Mapping, *, cell: str, activation: str = "tanh",
                           output: str = "identity") -> RNNParams:
    """RNNParams from arrays keyed like a PyTorch ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` state_dict
    (one layer: weight_ih_l0 (G H, D), weight_hh_l0 (G H, H), bias_ih_l0 (G H,), bias_hh_l0 (G H,))
    plus a linear read-out under head.weight (O, H) and head.bias (O,).

    cell="rnn": W_hx = weight_ih_l0, W_hh = weight_hh_l0, b_h = bias_ih_l0 + bias_hh_l0 (the two
    biases are always added, so only their sum matters); ``activation`` is nn.RNN's nonlinearity.
    cell="lstm": the same, gates stacked i, f, g, o. cell="gru": gates r, z, n; b_h = [b_ir + b_hr,
    b_iz + b_hz, b_in] and b_hn = the n block of bias_hh_l0 (it sits inside r * (W_hn h + b_hn)).
    Values may be numpy arrays or anything np.asarray accepts (a torch tensor on the CPU).
    """
    spec = get_cell(cell)
    if not isinstance(state, Mapping):
        raise ValueError(f"state must be a mapping with keys {list(_SD_KEYS)}, got {type(state).__name__}")
    missing = [k for k in _SD_KEYS if k not in state]
    if missing:
        raise ValueError(f"state is missing {missing}; a {spec.title} state_dict needs {list(_SD_KEYS)}")
    G = spec.n_gates
    arr = {}
    for k in _SD_KEYS:
        v = state[k]
        if hasattr(v, "detach"):  # a torch tensor
            v = v.detach().cpu().numpy()
        arr[k] = v
    W_hh = as_float_array("weight_hh_l0", arr["weight_hh_l0"], (None, None), f"({G}H, H)")
    H = W_hh.shape[1]
    if W_hh.shape[0] != G * H:
        raise ValueError(f"weight_hh_l0 must have shape ({G}H, H) = ({G * H}, {H}) for a {spec.title}, "
                         f"got shape {W_hh.shape}")
    W_ih = as_float_array("weight_ih_l0", arr["weight_ih_l0"], (G * H, None), f"({G}H, D) = ({G * H}, D)")
    b_ih = as_float_array("bias_ih_l0", arr["bias_ih_l0"], (G * H,), f"({G}H,) = ({G * H},)")
    b_hh = as_float_array("bias_hh_l0", arr["bias_hh_l0"], (G * H,), f"({G}H,) = ({G * H},)")
    W_hy = as_float_array("head.weight", arr["head.weight"], (None, H), f"(O, H) = (O, {H})")
    b_y = as_float_array("head.bias", arr["head.bias"], (W_hy.shape[0],), f"(O,) = ({W_hy.shape[0]},)")
    if cell == "gru":
        b_h = np.concatenate([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]])
        b_hn = b_hh[2 * H:]
    else:
        b_h, b_hn = b_ih + b_hh, None
    return RNNParams(W_hx=W_ih, W_hh=W_hh, b_h=b_h, W_hy=W_hy, b_y=b_y, activation=activation, output=output,
                     cell=cell, b_hn=b_hn)


def params_to_state_dict(params: RNNParams) -> dict[str, np.ndarray]:
    """The PyTorch-style keys of ``params_from_state_dict`` as new float64 arrays. The bias sum sits in
    bias_ih_l0 and bias_hh_l0 is zero, except for a GRU's n block, which holds b_hn; feeding the result
    back through ``params_from_state_dict`` gives the same parameters exactly."""
    if not isinstance(params, RNNParams):
        raise ValueError(f"params must be an RNNParams, got {type(params).__name__}")
    H = params.n_hidden
    b_hh = np.zeros_like(params.b_h)
    if params.cell == "gru":
        b_hh[2 * H:] = params.b_hn
    return {"weight_ih_l0": params.W_hx.copy(), "weight_hh_l0": params.W_hh.copy(), "bias_ih_l0": params.b_h.copy(),
            "bias_hh_l0": b_hh, "head.weight": params.W_hy.copy(), "head.bias": params.b_y.copy()}
