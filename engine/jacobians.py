"""The Jacobians of the recurrence: the one-step Jacobian ds_t/ds_{t-1} of each cell, and the spectral
norms of their products ||ds_T/ds_t|| (jacobian_norms) and ||ds_i/ds_j|| over a grid of steps
(jacobian_norm_grid), read from a Trace of engine.rnn. s is the whole recurrent state: h, or for the
LSTM the stacked (h, c).
"""
from __future__ import annotations

import numpy as np

from . import limits as L
from .activations import _dtanh
from .params import get_cell
from .rnn import Trace


def _check_trace(trace) -> Trace:
    if not isinstance(trace, Trace):
        raise ValueError(f"trace must be a Trace from bptt or forward, got {type(trace).__name__}")
    return trace


def _check_steps(steps, T: int) -> np.ndarray:
    if steps is None:
        return np.arange(T)
    arr = np.asarray(steps)
    if arr.ndim != 1 or arr.size < 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"steps must be a 1-D integer array of step indices in [0, {T})")
    if (arr < 0).any() or (arr >= T).any():
        raise ValueError(f"steps must lie in [0, T) = [0, {T})")
    return np.unique(arr)


def _check_jacobian_work(trace: Trace, products: int, steps_text: str, formula: str) -> None:
    """Refuse Jacobian products beyond limits.MAX_JACOBIAN_WORK: ``products`` S x S products and SVDs
    (an SVD counted as about five products)."""
    S = _state_size(trace)
    L.check_budget(f"trace: T = {trace.seq_len} steps, state size S = {S}; {steps_text}",
                   products * float(max(S, 32)) ** 3, L.MAX_JACOBIAN_WORK, f"{formula} x S^3 for the Jacobian products",
                   seconds=L.JACOBIAN_SECONDS)


_NORM_BATCH_BYTES = 32 * 2**20   # matrices held at once for one batched norm call (bounds the extra memory)


def _norms2(A: np.ndarray) -> np.ndarray:
    """Spectral norms ||M||_2 of a stack A (k, S, S) of square matrices, in one LAPACK call, not one Python
    call per matrix: ||M||_2 = m sqrt(lambda_max(B^T B)) with B = M / m and m = max|M|. The scaling keeps
    B^T B inside float64 for norms from 1e-300 to 1e300 (M^T M itself would underflow or overflow), and the
    largest eigenvalue of a symmetric matrix is accurate to a few ulps of itself, so this agrees with the
    largest singular value to about 1e-15. inf for a matrix with a non-finite entry, 0 for a zero matrix.
    A is scaled in place."""
    m = np.abs(A).max(axis=(1, 2))
    ok = np.isfinite(m) & (m > 0)
    out = np.where(np.isfinite(m), 0.0, np.inf)
    if ok.any():
        B = A[ok] if not ok.all() else A
        B /= m[ok, None, None]
        lam = np.linalg.eigvalsh(np.matmul(B.transpose(0, 2, 1), B))[:, -1]
        out[ok] = m[ok] * np.sqrt(np.maximum(lam, 0.0))
    return out


class _NormBatch:
    """Collects S x S matrices and returns their spectral norms in order, computed in batches of at most
    _NORM_BATCH_BYTES (a long sequence of large matrices is never all held at once)."""

    def __init__(self, S: int, count: int):
        self._cap = max(1, min(count, _NORM_BATCH_BYTES // (8 * S * S)))
        self._buf = np.empty((self._cap, S, S))
        self._k = 0
        self._done: list[np.ndarray] = []

    def add(self, M: np.ndarray) -> None:
        self._buf[self._k] = M
        self._k += 1
        if self._k == self._cap:
            self._flush()

    def _flush(self) -> None:
        if self._k:
            self._done.append(_norms2(self._buf[:self._k]))
            self._k = 0

    def norms(self) -> np.ndarray:
        self._flush()
        return np.concatenate(self._done) if self._done else np.empty(0)


def _jac_rnn(tr: Trace, t: int) -> np.ndarray:
    """dh_t/dh_{t-1} = diag(f'(a_t)) W_hh."""
    return tr.fprime[t][:, None] * tr.params.W_hh


def _jac_lstm(tr: Trace, t: int) -> np.ndarray:
    """d(h_t, c_t)/d(h_{t-1}, c_{t-1}), (2H, 2H), state stacked as [h; c].

    dc/dh_prev = diag(g i') W_i + diag(c_{t-1} f') W_f + diag(i g') W_g;  dc/dc_prev = diag(f)
    dh/dh_prev = diag(tanh(c_t) o') W_o + diag(o tanh'(c_t)) dc/dh_prev;  dh/dc_prev = diag(o tanh'(c_t) f)
    """
    P = tr.params
    H = P.n_hidden
    W = P.recurrent_blocks()
    gv, gd = tr.aux["GV"][t], tr.fprime[t]
    i, f, g, o = (gv[k * H:(k + 1) * H] for k in range(4))
    di, df, dg, do = (gd[k * H:(k + 1) * H] for k in range(4))
    c_prev, c = tr.aux["C_full"][t], tr.aux["C_full"][t + 1]
    tc, dtc = np.tanh(c), _dtanh(c)
    dc_dh = (g * di)[:, None] * W["i"] + (c_prev * df)[:, None] * W["f"] + (i * dg)[:, None] * W["g"]
    J = np.empty((2 * H, 2 * H))
    J[:H, :H] = (tc * do)[:, None] * W["o"] + (o * dtc)[:, None] * dc_dh
    J[:H, H:] = np.diag(o * dtc * f)
    J[H:, :H] = dc_dh
    J[H:, H:] = np.diag(f)
    return J


def _jac_gru(tr: Trace, t: int) -> np.ndarray:
    """dh_t/dh_{t-1} = diag(z) + diag((h_{t-1} - n) z') W_z + diag((1 - z) n') [diag(r) W_hn + diag(hn r') W_r],
    hn = W_hn h_{t-1} + b_hn. The diag(z) term is the copy path: z = 1 makes it the identity."""
    P = tr.params
    H = P.n_hidden
    W = P.recurrent_blocks()
    gv, gd = tr.aux["GV"][t], tr.fprime[t]
    r, z, n = (gv[k * H:(k + 1) * H] for k in range(3))
    dr, dz, dn = (gd[k * H:(k + 1) * H] for k in range(3))
    h_prev, hn = tr.aux["H_full"][t], tr.aux["HN"][t]
    u = (1.0 - z) * dn
    J = ((h_prev - n) * dz)[:, None] * W["z"] + (u * r)[:, None] * W["n"] + (u * hn * dr)[:, None] * W["r"]
    J[np.diag_indices(H)] += z
    return J


_STEP_JACOBIAN = {"rnn": _jac_rnn, "lstm": _jac_lstm, "gru": _jac_gru}


def _state_size(trace: Trace) -> int:
    """Size of the recurrent state: H, or 2H for the LSTM's (h, c)."""
    return get_cell(trace.params.cell).state_size(trace.params.n_hidden)


def gate_path_norm(gate) -> np.ndarray:
    """(T,) max over units of prod_{s=t+1..T} gate_s for gate values (T, H): the gain of a path that
    multiplies the state by diag(gate) at each step (the LSTM's cell path with f, the GRU's copy path with
    z); the last entry is 1. Summed in log space so long products do not underflow early; a gate of exactly
    0 cuts the path."""
    g = np.asarray(gate, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logg = np.log(g)                     # (T, H)
        suffix = np.zeros_like(logg)         # suffix[t] = sum of log g_s over s > t
        suffix[:-1] = np.cumsum(logg[::-1], axis=0)[::-1][1:]
        return np.exp(suffix.max(axis=1)) if g.size else np.ones(g.shape[0])


def jacobian_norms(trace: Trace, steps=None) -> np.ndarray:
    """||ds_T/ds_t||_2 (spectral norm) at 0-based ``steps`` (default: all), sorted ascending, for the
    whole recurrent state s (h; for the LSTM the stacked (h, c)).

    ds_T/ds_t = J_T ... J_{t+1} with J_s the one-step Jacobian (diag(f'(a_s)) W_hh for a vanilla RNN),
    accumulated from T backwards; the cost is T matrix products of size S plus one SVD per step asked.
    """
    trace = _check_trace(trace)
    T = trace.seq_len
    steps = _check_steps(steps, T)
    _check_jacobian_work(trace, T + 5 * steps.size, f"steps: {steps.size} of them", "(T + 5 n_steps)")
    jac = _STEP_JACOBIAN[trace.params.cell]
    want = np.zeros(T, dtype=bool)
    want[steps] = True
    M = np.eye(_state_size(trace))  # ds_T/ds_T
    kept = _NormBatch(M.shape[0], steps.size)   # ds_T/ds_t at the steps asked, latest first
    with np.errstate(all="ignore"):
        for t in range(T - 1, -1, -1):
            if want[t]:
                kept.add(M)
            if t > 0:
                M = M @ jac(trace, t)
        return kept.norms()[::-1]   # steps ascending


def jacobian_norm_grid(trace: Trace, steps) -> np.ndarray:
    """(n, n) matrix G[i, j] = ||ds_{s_i}/ds_{s_j}||_2 for s = sorted unique ``steps``, j <= i;
    NaN above the diagonal (a state never depends on a later one). s is the whole recurrent state.

    Cost: the segment products between consecutive grid steps (T matrix products in all) and then
    n(n-1)/2 products and norms of S x S matrices, batched by distance along the grid (n - 1 numpy calls
    of each, not one per cell); subsample ``steps`` for large T and H.
    """
    trace = _check_trace(trace)
    s = _check_steps(steps, trace.seq_len)
    n = s.size
    _check_jacobian_work(trace, trace.seq_len + 3 * n * (n - 1), f"steps: {n} of them", "(T + 3 n (n - 1))")
    jac = _STEP_JACOBIAN[trace.params.cell]
    S = _state_size(trace)
    out = np.full((n, n), np.nan)
    with np.errstate(all="ignore"):
        seg = [None] * n  # seg[i] = ds_{s_i}/ds_{s_{i-1}}
        for i in range(1, n):
            P = np.eye(S)
            for t in range(s[i - 1] + 1, s[i] + 1):
                P = jac(trace, t) @ P
            seg[i] = P
        out[np.diag_indices(n)] = 1.0
        if n > 1:
            # by distance d along the grid: P[k] = ds_{s_(k+d)}/ds_{s_k} for every k at once, one batched
            # product per distance (seg_{k+d+1} @ P[k], the same products in the same order as one at a time)
            segs = np.stack(seg[1:])
            P = segs
            k = np.arange(n)
            for d in range(1, n):
                out[k[d:], k[:n - d]] = _norms2(P.copy())
                if d < n - 1:
                    P = np.matmul(segs[d:], P[:-1])
    return out
