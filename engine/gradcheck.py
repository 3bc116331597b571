"""The finite-difference check of BPTT: every parameter's gradient from engine.rnn.bptt against central
differences of the loss, refined by Richardson extrapolation."""
from __future__ import annotations

import numpy as np

from . import limits as L
from .params import RNNParams, check_number, check_seed, is_integer
from .rnn import _check_params, _check_x, _step_units, bptt


def gradient_check(params: RNNParams, x, target, *, h0=None, loss: str = "last", eps: float = 1e-4,
                   max_entries: int = 200, seed: int = 0) -> dict:
    """Compare BPTT with numerical derivatives on up to ``max_entries`` random entries of every
    parameter. Returns {name: relative error ||g - g_num|| / max(||g|| + ||g_num||, 1e-300)} and "max".

    g_num is the central difference D(h) = (L(w + h) - L(w - h)) / 2h refined by Richardson
    extrapolation, (4 D(h/2) - D(h)) / 3, which cancels the h^2 error term: a linear RNN's loss is a
    polynomial of degree ~T in W_hh, whose large higher derivatives defeat a plain central difference.
    """
    eps_value = check_number("eps", eps, "a float in (0, 1)")
    if not 0 < eps_value < 1:
        raise ValueError(f"eps must be a float in (0, 1), got {eps!r}")
    eps = eps_value
    if not is_integer(max_entries) or int(max_entries) < 1:
        raise ValueError(f"max_entries must be a positive integer, got {max_entries!r}")
    max_entries = int(max_entries)
    rng = np.random.default_rng(check_seed(seed))
    params = _check_params(params)
    T = _check_x(params, x).shape[0]
    entries = sum(min(max_entries, P.size) for P in params.arrays().values())
    L.check_budget(f"x: T = {T} steps, max_entries = {max_entries} ({entries} entries in all), H = {params.n_hidden}",
                   (4 * entries + 1) * T * _step_units(params), L.MAX_GRADIENT_CHECK_WORK,
                   "(4 entries + 1) x T x (G H (H + D) + 1000) for the finite differences",
                   seconds=L.GRADIENT_CHECK_SECONDS)
    tr = bptt(params, x, target, h0=h0, loss=loss)
    if tr.overflow_step is not None:
        raise ValueError(f"x: the network overflows at step {tr.overflow_step}; gradients are not finite")

    def central(name, P, idx, h):
        Pp, Pm = P.copy(), P.copy()
        Pp.flat[idx] += h
        Pm.flat[idx] -= h
        lp = bptt(params.replace(**{name: Pp}), x, target, h0=h0, loss=loss).loss
        lm = bptt(params.replace(**{name: Pm}), x, target, h0=h0, loss=loss).loss
        return (lp - lm) / (2 * h)

    result = {}
    for name, P in params.arrays().items():
        G = tr.grads.arrays()[name]
        flat = rng.permutation(P.size)[:max_entries]
        g_bp = G.flat[flat]
        g_num = np.array([(4 * central(name, P, i, eps / 2) - central(name, P, i, eps)) / 3 for i in flat])
        denom = max(np.linalg.norm(g_bp) + np.linalg.norm(g_num), 1e-300)
        result[name] = float(np.linalg.norm(g_bp - g_num) / denom)
    result["max"] = max(result.values())
    return result
