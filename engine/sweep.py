"""Sweeps over the spectrum of W_hh (the phase diagram) and the Lyapunov exponent of the free
network h_{t+1} = tanh(W h_t)."""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from . import limits as L
from .activations import get_activation
from .limits import MAX_SWEEP_WORK
from .params import (
    INITS,
    _check_dense,
    _check_int,
    as_vector,
    check_number,
    check_seed,
    init_params,
    spectral_norm,
    spectral_radius,
)


def sweep_spectral_radius(rhos, seq_len: int, *, n_hidden: int = 32, n_seeds: int = 8, init: str = "gaussian",
                          activation: str = "tanh", seed: int = 0, return_dead: bool = False):
    """Phase diagram of gradient decay: array (len(rhos), seq_len).

    Entry [r, j] is the mean over ``n_seeds`` random networks of log10(||dL/dh_t|| / ||dL/dh_T||) for
    step t = j + 1, W_hh drawn with ``init`` and rescaled to spectral radius rhos[r], inputs i.i.d.
    N(0, 1) (one input channel), the loss 0.5 ||W_hy h_T||^2 on the last step only. The last column is 0.
    Every seed keeps the same matrix and inputs across rhos, so rows differ only by the spectrum.
    NaN marks an overflow of the forward state (relu/linear with rho > 1 over long sequences) in any
    seed. A seed whose final state gives dL/dh_T = 0 exactly (a dead relu network: every unit off)
    has no ratio and is left out of the mean; where every seed is dead the row is -inf (no gradient
    reaches any step). -inf inside a row means the gradient became exactly 0 on the way back.
    With ``return_dead=True`` returns (ratios, dead) with dead (R,) = the number of dead seeds per rho.
    """
    r = as_vector("rhos", rhos)
    if (r < 0).any():
        raise ValueError("rhos must be a 1-D array (R,) of finite spectral radii >= 0")
    seed = check_seed(seed)
    T = _check_int("seq_len", seq_len, 1, 100_000)
    H = _check_int("n_hidden", n_hidden, 1, 1024)
    S = _check_int("n_seeds", n_seeds, 1, 256)
    if init not in INITS or init == "nonnormal":
        raise ValueError(f"init must be one of {[i for i in INITS if i != 'nonnormal']}, got {init!r}")
    code = get_activation(activation).code
    work = r.size * S * T * H * H
    if work > MAX_SWEEP_WORK:
        raise ValueError(f"rhos x n_seeds x seq_len x n_hidden^2 = {r.size} x {S} x {T} x {H}^2 = {work:.3g} exceeds "
                         f"the cap of {MAX_SWEEP_WORK:.3g} (about 1 s of computing on a 2-core machine)")

    nets = _seed_networks(init, H, S, seed)
    W_base = np.stack([p.W_hh for p in nets])  # (S, H, H)
    W_hx = np.stack([p.W_hx for p in nets])  # (S, H, D=1)
    W_hy = np.stack([p.W_hy for p in nets])  # (S, O=1, H)
    base_rho = np.array([spectral_radius(p.W_hh) for p in nets])  # (S,)
    X = np.random.default_rng(seed).normal(size=(S, T, 1))  # (S, T, 1)
    scale = (r[:, None] / base_rho[None, :]).reshape(-1)  # (R * S,)
    out = np.empty((r.size * S, T))  # (R * S, T)
    status = np.zeros(r.size * S, dtype=np.int64)  # (R * S,) 0 ok, 1 overflow, 2 dead
    with np.errstate(all="ignore"):  # overflow is data (NaN rows); this matters only without the JIT
        K.sweep_kernel(W_base, scale, W_hx, X, W_hy, code, out, status)
    vals = out.reshape(r.size, S, T)
    dead = (status.reshape(r.size, S) == 2)  # (R, S)
    alive = ~dead
    n_alive = alive.sum(axis=1)  # (R,)
    with np.errstate(all="ignore"):
        total = np.where(alive[:, :, None], vals, 0.0).sum(axis=1)  # NaN (overflow) propagates
        ratios = np.where(n_alive[:, None] > 0, total / np.maximum(n_alive, 1)[:, None], -np.inf)
    return (ratios, dead.sum(axis=1)) if return_dead else ratios


def lyapunov_exponent(gain: float, *, n_hidden: int = 400, steps: int = 2000, burn_in: int = 500,
                      seed: int = 0) -> float:
    """Largest Lyapunov exponent (natural log per step) of h_{t+1} = tanh(W h_t), W_ij ~ N(0, g^2/n).

    Negative: nearby trajectories converge (order); positive: they separate (chaos). The sign flips
    near g = 1, the edge of chaos.
    """
    gain = check_number("gain", gain, "a finite number >= 0")
    if gain < 0:
        raise ValueError(f"gain must be a finite number >= 0, got {gain!r}")
    H = _check_int("n_hidden", n_hidden, 1, 4096)
    n_steps = _check_int("steps", steps, 1, 1_000_000)
    burn = _check_int("burn_in", burn_in, 0, 1_000_000)
    seed = check_seed(seed)
    _check_lyapunov_work(1, H, n_steps, burn)
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, gain / np.sqrt(H), size=(H, H))
    h0 = rng.normal(size=H)
    v0 = rng.normal(size=H)
    with np.errstate(all="ignore"):
        return float(K.lyapunov_kernel(W, h0, v0, n_steps, burn))


def lyapunov_curve(gains, *, n_hidden: int = 200, steps: int = 1000, burn_in: int = 300, seed: int = 0) -> np.ndarray:
    """lyapunov_exponent for every gain in ``gains`` (R,) -> (R,). The same random direction matrix
    is used for every gain (only its scale changes), so the curve is smooth in g."""
    g = as_vector("gains", gains)
    if (g < 0).any():
        raise ValueError("gains must be a 1-D array (R,) of finite gains >= 0")
    _check_lyapunov_work(g.size, _check_int("n_hidden", n_hidden, 1, 4096), _check_int("steps", steps, 1, 1_000_000),
                         _check_int("burn_in", burn_in, 0, 1_000_000))
    return np.array([lyapunov_exponent(float(v), n_hidden=n_hidden, steps=steps, burn_in=burn_in, seed=seed)
                     for v in g])


def _check_lyapunov_work(R: int, H: int, steps: int, burn: int) -> None:
    """Refuse R Lyapunov runs beyond limits.MAX_LYAPUNOV_WORK: (steps + burn_in) x n_hidden^2 each."""
    args = (f"gains: {R} of them, " if R > 1 else "") + f"n_hidden = {H}, steps = {steps}, burn_in = {burn}"
    L.check_budget(args, R * (steps + burn) * float(H) ** 2, L.MAX_LYAPUNOV_WORK,
                   ("gains x " if R > 1 else "") + "(steps + burn_in) x n_hidden^2 for the matrix-vector products",
                   seconds=L.LYAPUNOV_SECONDS)


def bound_radius(init: str = "gaussian", *, n_hidden: int = 32, activation: str = "tanh", n_seeds: int = 8,
                 seed: int = 0) -> float:
    """The spectral radius at which Pascanu's sufficient condition for vanishing, sigma_max * gamma < 1,
    stops holding, for W_hh drawn as in ``sweep_spectral_radius``: mean over seeds of
    rho(W) / (gamma * sigma_max(W)). For a normal (e.g. orthogonal) W this is 1/gamma; for a gaussian
    W it is about 1/(2 gamma) for large H (ORACLES O7): below it vanishing is guaranteed."""
    H = _check_int("n_hidden", n_hidden, 1, 1024)
    S = _check_int("n_seeds", n_seeds, 1, 256)
    if init not in INITS or init == "nonnormal":
        raise ValueError(f"init must be one of {[i for i in INITS if i != 'nonnormal']}, got {init!r}")
    gamma = get_activation(activation).gamma
    seed = check_seed(seed)
    _check_dense(f"n_hidden = {H}, n_seeds = {S}", 2 * S, H, "2 x n_seeds x n_hidden^3")
    ratios = [spectral_radius(p.W_hh) / spectral_norm(p.W_hh) for p in _seed_networks(init, H, S, seed)]
    return float(np.mean(ratios) / gamma)


def _seed_networks(init: str, H: int, S: int, seed: int) -> list:
    """The S random networks (one input, one output) behind every row of a sweep, by seed."""
    return [init_params(1, H, 1, init=init, seed=seed * 1000 + s) for s in range(S)]
