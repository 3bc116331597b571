"""RNNParams, init_params and spectrum helpers.

Two spectral quantities appear everywhere and are easy to confuse:
- spectral radius rho(W) = max |eigenvalue|: governs the *long-run* growth, ||W^k||^(1/k) -> rho.
- spectral norm sigma_max(W) = largest singular value = ||W||_2: bounds *every* step,
  ||W^k|| <= sigma_max^k. rho <= sigma_max, with equality for normal matrices (e.g. orthogonal).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .activations import check_output, get_activation

INITS: tuple[str, ...] = ("gaussian", "orthogonal", "identity", "nonnormal")


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


def check_seed(seed) -> int:
    """A non-negative integer seed, or ValueError naming ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2**63:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


@dataclass(frozen=True, eq=False)
class RNNParams:
    """The five weights of a vanilla RNN, shared by every time step.

    h_t = f(W_hx x_t + W_hh h_{t-1} + b_h),  y_t = g(W_hy h_t + b_y)

    W_hx (H, D), W_hh (H, H), b_h (H,), W_hy (O, H), b_y (O,); ``activation`` names f and ``output``
    names g. Arrays are stored as read-only float64 copies, so a params object can be shared between
    threads and used as a cache key by identity.
    """

    W_hx: np.ndarray
    W_hh: np.ndarray
    b_h: np.ndarray
    W_hy: np.ndarray
    b_y: np.ndarray
    activation: str = "tanh"
    output: str = "identity"

    def __post_init__(self):
        get_activation(self.activation)
        check_output(self.output)
        W_hh = _square("W_hh", self.W_hh)
        H = W_hh.shape[0]
        W_hx = as_float_array("W_hx", self.W_hx, (H, None), f"(H, D) = ({H}, D)")
        b_h = as_float_array("b_h", self.b_h, (H,), f"(H,) = ({H},)")
        W_hy = as_float_array("W_hy", self.W_hy, (None, H), f"(O, H) = (O, {H})")
        O = W_hy.shape[0]
        b_y = as_float_array("b_y", self.b_y, (O,), f"(O,) = ({O},)")
        for name, arr in (("W_hx", W_hx), ("W_hh", W_hh), ("b_h", b_h), ("W_hy", W_hy), ("b_y", b_y)):
            arr = arr.copy()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def n_in(self) -> int:
        return self.W_hx.shape[1]

    @property
    def n_hidden(self) -> int:
        return self.W_hh.shape[0]

    @property
    def n_out(self) -> int:
        return self.W_hy.shape[0]

    def replace(self, **changes) -> "RNNParams":
        """A copy with some fields changed (validated again)."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        kw.update(changes)
        return RNNParams(**kw)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("W_hx", "W_hh", "b_h", "W_hy", "b_y")}


# ---------------------------------------------------------------- spectrum helpers


def eigenvalues(W) -> np.ndarray:
    """Complex eigenvalues of a square matrix."""
    return np.linalg.eigvals(_square("W", W))


def singular_values(W) -> np.ndarray:
    """Singular values, largest first."""
    return np.linalg.svd(_square("W", W), compute_uv=False)


def spectral_radius(W) -> float:
    """rho(W) = max |eigenvalue|: the asymptotic growth rate per step of ||W^k||."""
    return float(np.max(np.abs(eigenvalues(W))))


def spectral_norm(W) -> float:
    """sigma_max(W) = ||W||_2 = largest singular value: the worst-case growth of a single step."""
    return float(singular_values(W)[0])


def scale_to_spectral_radius(W, rho: float) -> np.ndarray:
    """W rescaled so that its spectral radius equals ``rho`` (a non-negative float)."""
    W = _square("W", W)
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
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.integer, np.floating)):
        raise ValueError(f"spectral_radius must be a non-negative number, got {rho!r}")
    rho = float(rho)
    if not np.isfinite(rho) or rho < 0:
        raise ValueError(f"spectral_radius must be a finite number >= 0, got {rho}")
    return rho


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return int(value)


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
) -> RNNParams:
    """Random parameters for an RNN with D = n_in inputs, H = n_hidden units and O = n_out outputs.

    W_hh by ``init``:
    - "gaussian": W_ij ~ N(0, 1/H). Its spectral radius is about 1 but sigma_max about 2 (ORACLES O7).
    - "orthogonal": a random orthogonal matrix (all singular values 1).
    - "identity": I, the IRNN of Le et al. 2015 (use with relu).
    - "nonnormal": rho * I + s * N with N the ones on the first superdiagonal and s =
      ``nonnormal_strength``: all eigenvalues equal rho, yet ||W^k|| grows for a while (ORACLES O12).
    ``spectral_radius`` then rescales W_hh so that max |eigenvalue| equals it exactly (for "nonnormal" it
    sets the diagonal; default 1). W_hx ~ N(0, input_scale^2 / D), W_hy ~ N(0, 1/H), biases zero.
    """
    D = _check_int("n_in", n_in, 1, 100_000)
    H = _check_int("n_hidden", n_hidden, 1, 100_000)
    O = _check_int("n_out", n_out, 1, 100_000)
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
    seed = check_seed(seed)
    rho = None if spectral_radius is None else _check_rho(spectral_radius)
    for name, val in (("nonnormal_strength", nonnormal_strength), ("input_scale", input_scale)):
        if isinstance(val, bool) or not isinstance(val, (int, float, np.integer, np.floating)) or not np.isfinite(val):
            raise ValueError(f"{name} must be a finite number, got {val!r}")
    get_activation(activation)
    check_output(output)

    rng = np.random.default_rng(seed)
    W_hx = rng.normal(0.0, float(input_scale) / np.sqrt(D), size=(D, H)).T  # (H, D)
    W_hy = rng.normal(0.0, 1.0 / np.sqrt(H), size=(O, H))  # (O, H)
    if init == "gaussian":
        W_hh = rng.normal(0.0, 1.0 / np.sqrt(H), size=(H, H))
    elif init == "orthogonal":
        Q, R = np.linalg.qr(rng.normal(size=(H, H)))
        W_hh = Q * np.sign(np.diag(R))  # sign fix makes Q Haar-distributed
    elif init == "identity":
        W_hh = np.eye(H)
    else:  # nonnormal: triangular, so its eigenvalues are exactly its diagonal
        W_hh = (1.0 if rho is None else rho) * np.eye(H) + float(nonnormal_strength) * np.eye(H, k=1)
    if rho is not None and init != "nonnormal":
        W_hh = scale_to_spectral_radius(W_hh, rho)
    return RNNParams(
        W_hx=W_hx, W_hh=W_hh, b_h=np.zeros(H), W_hy=W_hy, b_y=np.zeros(O), activation=activation, output=output
    )
