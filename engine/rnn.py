"""Forward pass and backpropagation through time for a vanilla RNN.

Public functions validate, allocate and wrap; the numba kernels in _kernels.py do the loops.
Loss conventions (``loss="last"``: only t = T; ``loss="all"``: every step):
- output "identity": L = 0.5 * sum ||y_t - target_t||^2, target (O,) or (T, O)
- output "softmax":  L = sum -log softmax(z_t)[target_t], integer classes, target () or (T,)
- output "sigmoid":  L = sum BCE(sigmoid(z_t), target_t), target in [0, 1], (O,) or (T, O)
With each output paired with its loss, dL/dz_t = y_t - target_t (z_t = W_hy h_t + b_y are the logits).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import _kernels as K
from .activations import check_loss, get_activation
from .params import RNNParams, as_float_array, check_seed

MAX_STEPS = 1_000_000


# ---------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Trace:
    """Everything one forward pass (and, from ``bptt``, one backward pass) computed.

    Arrays have time first; index 0 is step t = 1.
    h (T, H) states, a (T, H) pre-activations, fprime (T, H) = f'(a_t), y (T, O) outputs.
    From bptt: loss, grad_h (T, H) = total dL/dh_t, grad_h_norm (T,), grads (an RNNParams holding
    dW_hx, dW_hh, db_h, dW_hy, db_y under the usual field names), dW_hh_step_norm (T,) = Frobenius norm
    of step t's term g_t h_{t-1}^T in dL/dW_hh, and ``jacobian_norm`` (T,) = ||dh_T/dh_t||_2 computed on
    first access. overflow_step: index of the first step whose state (or, in the backward pass, whose
    gradient) is not finite, else None; overflow_phase says which pass ("forward" / "backward").
    """

    params: RNNParams
    h0: np.ndarray
    x: np.ndarray
    h: np.ndarray
    a: np.ndarray
    fprime: np.ndarray
    y: np.ndarray
    overflow_step: int | None
    overflow_phase: str | None
    loss: float = float("nan")
    grad_h: np.ndarray | None = None
    grad_h_norm: np.ndarray | None = None
    grads: RNNParams | None = None
    dW_hh_step_norm: np.ndarray | None = None
    loss_mode: str | None = None
    grad_a: np.ndarray | None = field(default=None, repr=False)  # (T, H) dL/da_t

    @property
    def seq_len(self) -> int:
        return self.h.shape[0]

    @cached_property
    def jacobian_norm(self) -> np.ndarray:
        """(T,) spectral norm of dh_T/dh_t for every step (the last entry is 1)."""
        return jacobian_norms(self)


# ---------------------------------------------------------------- validation


def _check_x(params: RNNParams, x) -> np.ndarray:
    D = params.n_in
    x = as_float_array("x", x, (None, D), f"(T, D) = (T, {D}) with T >= 1")
    if x.shape[0] > MAX_STEPS:
        raise ValueError(f"x has {x.shape[0]} steps; at most {MAX_STEPS} are supported")
    return x


def _check_h0(params: RNNParams, h0) -> np.ndarray:
    H = params.n_hidden
    if h0 is None:
        return np.zeros(H)
    return as_float_array("h0", h0, (H,), f"(H,) = ({H},)")


def _check_target(params: RNNParams, target, T: int, loss: str) -> np.ndarray:
    """Target as float64 (T, O) for identity/sigmoid or int64 (T,) for softmax (last: T = 1 row)."""
    O = params.n_out
    rows = T if loss == "all" else 1
    if params.output == "softmax":
        text = f"(T,) = ({T},) of integer classes" if loss == "all" else "() (one integer class)"
        if isinstance(target, (str, bytes)) or target is None:
            raise ValueError(f"target must have shape {text} in [0, {O})")
        arr = np.asarray(target)
        if arr.dtype == bool or arr.dtype.kind not in "iuf":
            raise ValueError(f"target must have shape {text} in [0, {O}), got dtype {arr.dtype}")
        want = (T,) if loss == "all" else ()
        if loss == "last" and arr.shape == (1,):
            arr = arr.reshape(())
        if arr.shape != want:
            raise ValueError(f"target must have shape {text} in [0, {O}), got shape {arr.shape}")
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any() or (arr < 0).any() or (arr >= O).any():
            raise ValueError(f"target must hold integer classes in [0, {O}) with shape {text}")
        return arr.astype(np.int64).reshape(rows)
    text = f"(T, O) = ({T}, {O})" if loss == "all" else f"(O,) = ({O},)"
    shape = (T, O) if loss == "all" else (O,)
    arr = as_float_array("target", target, shape, text)
    if params.output == "sigmoid" and ((arr < 0) | (arr > 1)).any():
        raise ValueError(f"target for a sigmoid output must lie in [0, 1]; shape {text}")
    return arr.reshape(rows, O)


def _check_params(params) -> RNNParams:
    if not isinstance(params, RNNParams):
        raise ValueError(f"params must be an RNNParams, got {type(params).__name__}")
    return params


# ---------------------------------------------------------------- forward


def _run_forward(params: RNNParams, x: np.ndarray, h0: np.ndarray):
    """Kernel forward pass; returns (A, Hs, Dp, Z, first non-finite step or None)."""
    T, H = x.shape[0], params.n_hidden
    A = np.empty((T, H))  # (T, H) pre-activations
    Hs = np.empty((T, H))  # (T, H) states
    Dp = np.empty((T, H))  # (T, H) f'(a_t)
    # errstate only matters when the kernels run as Python (NUMBA_DISABLE_JIT=1): overflow is data
    with np.errstate(all="ignore"):
        bad = K.forward_seq(np.ascontiguousarray(params.W_hx.T), params.b_h, np.ascontiguousarray(params.W_hh.T), x,
                            h0, get_activation(params.activation).code, A, Hs, Dp)
        Z = Hs @ params.W_hy.T + params.b_y  # (T, O) logits
    return A, Hs, Dp, Z, (None if bad < 0 else int(bad))


def _output(kind: str, Z: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if kind == "identity":
            return Z
        if kind == "sigmoid":
            return 0.5 * (1.0 + np.tanh(0.5 * Z))
        Zs = Z - Z.max(axis=1, keepdims=True)
        E = np.exp(Zs)
        return E / E.sum(axis=1, keepdims=True)


def forward(params: RNNParams, x, h0=None) -> Trace:
    """Forward pass only: h, a, fprime, y for x (T, D). Returns a Trace without gradients."""
    params = _check_params(params)
    x = _check_x(params, x)
    h0 = _check_h0(params, h0)
    A, Hs, Dp, Z, bad = _run_forward(params, x, h0)
    return Trace(params, h0, x, Hs, A, Dp, _output(params.output, Z), bad, None if bad is None else "forward")


# ---------------------------------------------------------------- loss and BPTT


def _loss_and_dz(kind: str, Z: np.ndarray, Y: np.ndarray, tgt: np.ndarray, loss: str):
    """Loss and dL/dz (T, O) for the steps the loss covers (zero rows elsewhere)."""
    T, O = Z.shape
    dZ = np.zeros((T, O))  # (T, O)
    rows = slice(None) if loss == "all" else slice(T - 1, T)
    z, y = Z[rows], Y[rows]
    with np.errstate(all="ignore"):
        if kind == "identity":
            diff = y - tgt
            value = 0.5 * float(np.sum(diff * diff))
            dZ[rows] = diff
        elif kind == "softmax":
            m = z.max(axis=1, keepdims=True)
            lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
            value = float(np.sum(lse - z[np.arange(z.shape[0]), tgt]))
            onehot = np.zeros_like(z)
            onehot[np.arange(z.shape[0]), tgt] = 1.0
            dZ[rows] = y - onehot
        else:  # sigmoid + binary cross-entropy, written with softplus to stay finite
            sp = np.logaddexp(0.0, z)  # log(1 + e^z)
            value = float(np.sum(sp - tgt * z))
            dZ[rows] = y - tgt
    return value, dZ


def bptt(params: RNNParams, x, target, *, h0=None, loss: str = "last") -> Trace:
    """Forward pass and exact backpropagation through time.

    x (T, D); target: see the module docstring (shape depends on ``output`` and ``loss``);
    h0 (H,) defaults to zeros. Overflow does not raise: non-finite values stay in the arrays and
    ``overflow_step`` tells where they started.
    """
    params = _check_params(params)
    loss = check_loss(loss)
    x = _check_x(params, x)
    h0 = _check_h0(params, h0)
    T, H = x.shape[0], params.n_hidden
    tgt = _check_target(params, target, T, loss)

    A, Hs, Dp, Z, bad_f = _run_forward(params, x, h0)
    Y = _output(params.output, Z)
    value, dZ = _loss_and_dz(params.output, Z, Y, tgt, loss)

    DELTA = np.empty((T, H))  # (T, H) total dL/dh_t
    G = np.empty((T, H))  # (T, H) dL/da_t
    norms = np.empty(T)  # (T,) ||dL/dh_t||
    g_norm = np.empty(T)  # (T,) ||dL/da_t||
    h_norm = np.empty(T)
    with np.errstate(all="ignore"):
        bad_b = K.backward_seq(params.W_hh, params.W_hy, Dp, dZ, DELTA, G, norms, g_norm)
        K.row_norms(Hs, h_norm)
        # Shared weights: each gradient is a sum over steps, here one matrix product each.
        # The W_hh term of step t is g_t h_{t-1}^T, with h_0 the initial state.
        dW_hh = G[1:].T @ Hs[:-1]
        dW_hh += np.outer(G[0], h0)
        grads = dict(W_hx=G.T @ x, W_hh=dW_hh, b_h=G.sum(axis=0), W_hy=dZ.T @ Hs, b_y=dZ.sum(axis=0))
        h0_norm = np.empty(1)
        K.row_norms(h0[None, :], h0_norm)
        h_prev_norm = np.concatenate([h0_norm, h_norm[:-1]])
        step_norm = g_norm * h_prev_norm  # ||g h^T||_F = ||g|| ||h|| for an outer product

    if bad_f is not None:
        step, phase = bad_f, "forward"
    elif bad_b >= 0:
        step, phase = int(bad_b), "backward"
    else:
        step, phase = None, None

    grads_p = _grads_params(params, grads)
    return Trace(
        params, h0, x, Hs, A, Dp, Y, step, phase,
        loss=value, grad_h=DELTA, grad_h_norm=norms, grads=grads_p, dW_hh_step_norm=step_norm,
        loss_mode=loss, grad_a=G,
    )


def _grads_params(params: RNNParams, grads: dict) -> RNNParams | None:
    """Gradients packed in an RNNParams; RNNParams refuses non-finite arrays, so an overflowing run
    gets a plain object with the same attribute names instead."""
    if all(np.isfinite(g).all() for g in grads.values()):
        return RNNParams(**grads, activation=params.activation, output=params.output)
    return _RawGrads(**grads)


@dataclass(frozen=True, eq=False)
class _RawGrads:
    W_hx: np.ndarray
    W_hh: np.ndarray
    b_h: np.ndarray
    W_hy: np.ndarray
    b_y: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("W_hx", "W_hh", "b_h", "W_hy", "b_y")}


# ---------------------------------------------------------------- batches


@dataclass(frozen=True, eq=False)
class BatchTrace:
    """Stacked per-sequence results of ``bptt_batch``. Arrays are (B, T, ...) padded with NaN after
    each sequence's length; ``loss`` and ``grads`` are summed over the batch (padding contributes
    nothing). ``traces`` holds the per-sequence Trace objects."""

    lengths: np.ndarray
    h: np.ndarray
    y: np.ndarray
    grad_h_norm: np.ndarray
    loss: float
    grads: RNNParams
    traces: tuple


def bptt_batch(params: RNNParams, x, target, lengths=None, *, h0=None, loss: str = "last") -> BatchTrace:
    """BPTT over a padded batch x (B, T, D). lengths (B,) with 1 <= L_b <= T: sequence b is
    x[b, :L_b] (the rest is padding and ignored, NaN allowed there). target (B, ...) holds one
    per-sequence target as ``bptt`` expects it for the full length T; with loss="all" only the first
    L_b rows of sequence b are used; with loss="last" the loss sits at each sequence's own last step."""
    params = _check_params(params)
    loss = check_loss(loss)
    if isinstance(x, (str, bytes)) or x is None:
        raise ValueError("x must be a numeric array of shape (B, T, D)")
    xb = np.asarray(x)
    D = params.n_in
    if xb.ndim != 3 or xb.shape[0] < 1 or xb.shape[1] < 1 or xb.shape[2] != D:
        raise ValueError(f"x must have shape (B, T, D) = (B, T, {D}), got shape {xb.shape}")
    B, T = xb.shape[:2]
    if lengths is None:
        lengths = np.full(B, T)
    lengths_arr = np.asarray(lengths)
    if lengths_arr.shape != (B,) or lengths_arr.dtype.kind not in "iu":
        raise ValueError(f"lengths must be an integer array of shape (B,) = ({B},)")
    if (lengths_arr < 1).any() or (lengths_arr > T).any():
        raise ValueError(f"lengths must lie in [1, T] = [1, {T}]")
    tg = np.asarray(target) if not isinstance(target, (str, bytes)) and target is not None else None
    if tg is None or tg.ndim < 1 or tg.shape[0] != B:
        raise ValueError(f"target must have a leading batch axis of size B = {B}")
    traces = []
    H, O = params.n_hidden, params.n_out
    h_out = np.full((B, T, H), np.nan)  # (B, T, H)
    y_out = np.full((B, T, O), np.nan)  # (B, T, O)
    gn = np.full((B, T), np.nan)  # (B, T)
    total = {k: 0.0 for k in ("W_hx", "W_hh", "b_h", "W_hy", "b_y")}
    value = 0.0
    for b in range(B):
        L = int(lengths_arr[b])
        tb = tg[b][:L] if loss == "all" else tg[b]
        tr = bptt(params, xb[b, :L], tb, h0=h0, loss=loss)
        traces.append(tr)
        h_out[b, :L], y_out[b, :L], gn[b, :L] = tr.h, tr.y, tr.grad_h_norm
        value += tr.loss
        for k, arr in tr.grads.arrays().items():
            total[k] = total[k] + arr
    return BatchTrace(lengths_arr.astype(np.int64), h_out, y_out, gn, value, _grads_params(params, total), tuple(traces))


# ---------------------------------------------------------------- Jacobians


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


def _norm2(M: np.ndarray) -> float:
    if not np.isfinite(M).all():
        return np.inf
    return float(np.linalg.svd(M, compute_uv=False)[0])


def jacobian_norms(trace: Trace, steps=None) -> np.ndarray:
    """||dh_T/dh_t||_2 (spectral norm) at 0-based ``steps`` (default: all), sorted ascending.

    dh_T/dh_t = J_T ... J_{t+1} with J_s = diag(f'(a_s)) W_hh, accumulated from T backwards; the
    cost is T matrix products of size H plus one SVD per requested step.
    """
    trace = _check_trace(trace)
    T = trace.seq_len
    steps = _check_steps(steps, T)
    W = trace.params.W_hh
    want = np.zeros(T, dtype=bool)
    want[steps] = True
    out = np.empty(T)
    M = np.eye(W.shape[0])  # dh_T/dh_{T}
    with np.errstate(all="ignore"):
        for t in range(T - 1, -1, -1):
            if want[t]:
                out[t] = _norm2(M)
            if t > 0:
                M = (M * trace.fprime[t][None, :]) @ W  # M J_t, with J_t = diag(f'(a_t)) W_hh
    return out[steps]


def jacobian_norm_grid(trace: Trace, steps) -> np.ndarray:
    """(n, n) matrix G[i, j] = ||dh_{s_i}/dh_{s_j}||_2 for s = sorted unique ``steps``, j <= i;
    NaN above the diagonal (a state never depends on a later one).

    Cost: the segment products between consecutive grid steps (T matrix products in all) and then
    n(n-1)/2 products and SVDs of H x H matrices; subsample ``steps`` for large T and H.
    """
    trace = _check_trace(trace)
    s = _check_steps(steps, trace.seq_len)
    n = s.size
    W, Fp = trace.params.W_hh, trace.fprime
    Hn = W.shape[0]
    out = np.full((n, n), np.nan)
    with np.errstate(all="ignore"):
        seg = [None] * n  # seg[i] = dh_{s_i}/dh_{s_{i-1}}
        for i in range(1, n):
            P = np.eye(Hn)
            for t in range(s[i - 1] + 1, s[i] + 1):
                P = Fp[t][:, None] * (W @ P)  # J_t P
            seg[i] = P
        for j in range(n):
            out[j, j] = 1.0
            P = np.eye(Hn)
            for i in range(j + 1, n):
                P = seg[i] @ P
                out[i, j] = _norm2(P)
    return out


# ---------------------------------------------------------------- finite differences


def gradient_check(params: RNNParams, x, target, *, h0=None, loss: str = "last", eps: float = 1e-4,
                   max_entries: int = 200, seed: int = 0) -> dict:
    """Compare BPTT with numerical derivatives on up to ``max_entries`` random entries of every
    parameter. Returns {name: relative error ||g - g_num|| / max(||g|| + ||g_num||, 1e-300)} and "max".

    g_num is the central difference D(h) = (L(w + h) - L(w - h)) / 2h refined by Richardson
    extrapolation, (4 D(h/2) - D(h)) / 3, which cancels the h^2 error term: a linear RNN's loss is a
    polynomial of degree ~T in W_hh, whose large higher derivatives defeat a plain central difference.
    """
    if not (isinstance(eps, float) and 0 < eps < 1):
        raise ValueError(f"eps must be a float in (0, 1), got {eps!r}")
    if isinstance(max_entries, bool) or not isinstance(max_entries, (int, np.integer)) or max_entries < 1:
        raise ValueError(f"max_entries must be a positive integer, got {max_entries!r}")
    rng = np.random.default_rng(check_seed(seed))
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
