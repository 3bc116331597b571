"""Training: batched forward + BPTT for the three cells, PyTorch-compatible optimisers and clipping,
truncated BPTT, and the loop that ties them to a task. Also ``python -m engine.train``.

Parameters live here as a PyTorch-style state dict (weight_ih_l0, weight_hh_l0, bias_ih_l0,
bias_hh_l0, head.weight, head.bias; see params.params_to_state_dict), because PyTorch trains the two
biases as separate parameters: with SGD their sum moves twice as far as one bias would, and an
update-for-update comparison has to do the same.

Loss of a batch = mean over its sequences of the per-sequence loss exactly as ``bptt`` defines it
(same output/loss pairs; ``last``: each sequence's own last valid step; ``all``: every valid step).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from . import _batch_kernels as BK
from . import limits as L
from .activations import ACTIVATIONS, check_loss, check_output, get_activation, output_values
from .losses import loss_rows
from .params import (
    CELLS,
    INITS,
    check_seed,
    get_cell,
    init_params,
    is_integer,
    is_number,
    params_from_state_dict,
    params_to_state_dict,
)

DTYPES = {"float64": np.float64, "float32": np.float32}


def _limit_blas_threads() -> None:
    """Training issues many small products per update (B x H by H x G H). OpenBLAS' thread pool costs
    more than it gains on them, and collapses when the cores are shared: one LSTM batch (B = 32,
    T = 30, H = 32) took 5 ms with one BLAS thread and 131 ms with two at a load of 7 on 2 cores.
    So importing this module limits BLAS to UNROLLED_BLAS_THREADS threads (default 1), process-wide:
    a server full of sessions is better served by one thread each."""
    import os

    try:
        import scipy.linalg.cython_blas  # noqa: F401  the BLAS numba's np.dot calls: load it before limiting
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - both are in requirements.txt
        return
    n = os.environ.get("UNROLLED_BLAS_THREADS", "1")
    threadpool_limits(limits=int(n) if n.isdigit() and int(n) > 0 else 1, user_api="blas")


_limit_blas_threads()
SD_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias")


class TrainingStopped(RuntimeError):
    """Training cannot go on: the loss or a gradient stopped being finite. ``step`` and ``reason`` say
    where and why."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"training stopped at update {step}: {reason}")
        self.step = step
        self.reason = reason


# ---------------------------------------------------------------- validation


def _check_dtype(dtype) -> type:
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    for v in DTYPES.values():
        if dtype is v or (isinstance(dtype, np.dtype) and dtype == v):
            return v
    raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")


def check_batch(x, y, lengths, *, output: str, loss: str, n_out: int | None = None):
    """Validate a padded batch against the data convention; returns (x (B, T, D) float64, y, lengths (B,)).
    x is the caller's array itself when it is float64 with zero padding already (nothing here writes to it).

    y: (B, O) float (identity/sigmoid, last), (B,) int (softmax, last), (B, T, O) float (all),
    (B, T) int (softmax, all). NaN anywhere inside a sequence's valid steps is refused; the padding
    is ignored (NaN allowed there) and zeroed.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise ValueError("x must be a numeric array of shape (B, T, D)")
    xa = np.asarray(x)
    if xa.ndim != 3 or min(xa.shape) < 1 or xa.dtype.kind not in "iuf" or xa.dtype == bool:
        raise ValueError(f"x must be a real array of shape (B, T, D) with B, T, D >= 1, got shape {xa.shape}")
    B, T, _ = xa.shape
    if lengths is None:
        ln = np.full(B, T, dtype=np.int64)
    else:
        ln = np.asarray(lengths)
        if ln.shape != (B,) or ln.dtype.kind not in "iu":
            raise ValueError(f"lengths must be an integer array of shape (B,) = ({B},)")
        if (ln < 1).any() or (ln > T).any():
            raise ValueError(f"lengths must lie in [1, T] = [1, {T}]")
        ln = ln.astype(np.int64)
    valid = np.arange(T)[None, :] < ln[:, None]  # (B, T)
    short = np.flatnonzero(ln < T)
    if xa.dtype == np.float64 and not any(xa[b, ln[b]:].any() for b in short):
        pass  # float64 with zero padding already (a task's own arrays): used as it is, not copied
    else:
        xa = np.where(valid[:, :, None], xa.astype(np.float64), 0.0)
    if not np.isfinite(xa).all():
        raise ValueError("x must be finite (no NaN or inf) within each sequence's length")
    if isinstance(y, (str, bytes)) or y is None:
        raise ValueError("y must be a numeric array")
    ya = np.asarray(y)
    if ya.dtype.kind not in "iuf" or ya.dtype == bool:
        raise ValueError(f"y must be numeric, got dtype {ya.dtype}")
    if output == "softmax":
        want, text = ((B,), f"(B,) = ({B},)") if loss == "last" else ((B, T), f"(B, T) = ({B}, {T})")
        if ya.shape != want:
            raise ValueError(f"y must have shape {text} of integer classes for a softmax output, got {ya.shape}")
        yv = ya if loss == "last" else np.where(valid, ya, 0)
        if not np.isfinite(yv).all() or (yv != np.round(yv)).any() or (yv < 0).any() or (
                n_out is not None and (yv >= n_out).any()):
            raise ValueError(f"y must hold integer classes in [0, {n_out if n_out is not None else 'O'})")
        return xa, yv.astype(np.int64), ln
    if loss == "last" and (ya.ndim != 2 or ya.shape[0] != B or (n_out is not None and ya.shape[1] != n_out)):
        raise ValueError(f"y must have shape (B, O) = ({B}, {n_out if n_out is not None else 'O'}), got {ya.shape}")
    if loss == "all" and (ya.ndim != 3 or ya.shape[:2] != (B, T) or (n_out is not None and ya.shape[2] != n_out)):
        raise ValueError(f"y must have shape (B, T, O) = ({B}, {T}, {n_out if n_out is not None else 'O'}), "
                         f"got {ya.shape}")
    yv = ya.astype(np.float64) if loss == "last" else np.where(valid[:, :, None], ya.astype(np.float64), 0.0)
    if not np.isfinite(yv).all():
        raise ValueError("y must be finite (no NaN or inf) within each sequence's length")
    if output == "sigmoid" and ((yv < 0) | (yv > 1)).any():
        raise ValueError("y for a sigmoid output must lie in [0, 1]")
    return xa, yv, ln


def check_state_dict(state: Mapping, cell: str) -> dict[str, np.ndarray]:
    """A validated float64 copy of a state dict (the checks of params_from_state_dict)."""
    params_from_state_dict(state, cell=cell)  # raises ValueError naming the key
    out = {}
    for k in SD_KEYS:
        v = state[k]
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        out[k] = np.array(v, dtype=np.float64)
    return out


# ---------------------------------------------------------------- batched forward and BPTT


@dataclass(frozen=True)
class _Net:
    """The arrays the kernels need, in the run's float type."""

    cell: str
    code: int
    W_ih: np.ndarray  # (G H, D)
    W_ihT: np.ndarray  # (D, G H)
    W_hh: np.ndarray  # (G H, H)
    W_hhT: np.ndarray  # (H, G H)
    b: np.ndarray  # (G H,) input-side bias (b_ih + b_hh, except the GRU's n block)
    b_hn: np.ndarray  # (H,) GRU only (zeros otherwise)
    W_hy: np.ndarray  # (O, H)
    b_y: np.ndarray  # (O,)

    @property
    def H(self) -> int:
        return self.W_hh.shape[1]


def _net(sd: Mapping, cell: str, activation: str, dt) -> _Net:
    W_hh = np.asarray(sd["weight_hh_l0"], dtype=dt)
    H = W_hh.shape[1]
    b_ih = np.asarray(sd["bias_ih_l0"], dtype=np.float64)
    b_hh = np.asarray(sd["bias_hh_l0"], dtype=np.float64)
    if cell == "gru":
        b = np.concatenate([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]])
        b_hn = b_hh[2 * H:]
    else:
        b, b_hn = b_ih + b_hh, np.zeros(H)
    W_ih = np.ascontiguousarray(sd["weight_ih_l0"], dtype=dt)
    return _Net(cell, get_activation(activation).code, W_ih, np.ascontiguousarray(W_ih.T),
                np.ascontiguousarray(W_hh), np.ascontiguousarray(W_hh.T), b.astype(dt), b_hn.astype(dt),
                np.ascontiguousarray(sd["head.weight"], dtype=dt), np.asarray(sd["head.bias"], dtype=dt))


@dataclass
class _Fwd:
    Hs: np.ndarray  # (T + 1, B, H)
    D: np.ndarray  # (T, B, G H) derivatives at the pre-activations
    GV: np.ndarray | None = None  # gate values (LSTM, GRU)
    C: np.ndarray | None = None  # (T + 1, B, H) LSTM
    HN: np.ndarray | None = None  # (T, B, H) GRU
    TC: np.ndarray | None = None  # (T, B, H) LSTM: tanh(c_t), for the backward pass
    DTC: np.ndarray | None = None  # (T, B, H) LSTM: tanh'(c_t)


class Workspace:
    """Arrays kept from one batch to the next, by name, while their shape and float type stay the same.

    Why: a pass over a training batch fills some 20 arrays of T x B x G H numbers. Allocated afresh,
    large arrays come straight from the operating system and every 4 KB page faults on first touch:
    measured on an LSTM step (B = 32, H = 64, T = 100, float32), 4,400 page faults and 17 ms instead of
    8 ms whenever the heap did not happen to hand the previous step's memory back. Trainer owns one
    and passes it for its training batches only (an evaluation of a whole data set would keep arrays
    of that size alive). Not for two threads at once: the owner takes ``lock`` without waiting and
    passes no workspace when it is busy. Nothing a BatchResult holds is a workspace array.
    """

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}  # flat buffers, by name; each only grows
        self.lock = threading.Lock()

    def empty(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape``: the front of the buffer ``name`` when it is big
        enough, so batches of several sizes (the three cells of a race, an evaluation in chunks) share one
        buffer the size of the largest instead of holding one array each."""
        n = math.prod(shape)
        a = self.arrays.get(name)
        if a is None or a.size < n or a.dtype != dtype:
            a = self.arrays[name] = np.empty(n, dtype=dtype)
        return a[:n].reshape(shape)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def release(self) -> None:
        """Give the buffers back (the next batch allocates afresh)."""
        self.arrays = {}


def _empty(work: Workspace | None, name: str, shape: tuple, dtype) -> np.ndarray:
    return np.empty(shape, dtype=dtype) if work is None else work.empty(name, shape, dtype)


def _forward(net: _Net, X: np.ndarray, M: np.ndarray, h0: np.ndarray, c0: np.ndarray,
             work: Workspace | None = None) -> _Fwd:
    """X (T, B, D) time first; M (T, B) mask; h0, c0 (B, H)."""
    T, B, _ = X.shape
    H, GH = net.H, net.W_hh.shape[0]
    dt = X.dtype
    Hs = _empty(work, "Hs", (T + 1, B, H), dt)
    Hs[0] = h0
    Dd = _empty(work, "D", (T, B, GH), dt)
    with np.errstate(all="ignore"):
        if net.cell == "rnn":
            BK.rnn_forward(X, net.W_ihT, net.b, net.W_hhT, net.code, M, Hs, Dd)
            return _Fwd(Hs, Dd)
        GV = _empty(work, "GV", (T, B, GH), dt)
        if net.cell == "lstm":
            C = _empty(work, "C", (T + 1, B, H), dt)
            C[0] = c0
            TC = _empty(work, "TC", (T, B, H), dt)
            DTC = _empty(work, "DTC", (T, B, H), dt)
            BK.lstm_forward(X, net.W_ihT, net.b, net.W_hhT, M, Hs, C, GV, Dd, TC, DTC)
            return _Fwd(Hs, Dd, GV, C=C, TC=TC, DTC=DTC)
        HN = _empty(work, "HN", (T, B, H), dt)
        BK.gru_forward(X, net.W_ihT, net.b, net.W_hhT, net.b_hn, M, Hs, GV, Dd, HN)
        return _Fwd(Hs, Dd, GV, HN=HN)


def _backward(net: _Net, fw: _Fwd, M: np.ndarray, dZ: np.ndarray, dhT: np.ndarray, s0: int, e: int,
              dcT: np.ndarray, work: Workspace | None = None):
    """BPTT over steps [s0, e) only (the state before s0 is a constant): returns (DELTA, GX, GH, dh0, dc0)
    for those steps. dZ (e - s0, B, O): dL/dz at the logits of those steps (the loss's direct gradient
    into h_t is dZ[t] W_hy); dhT, dcT (B, H): gradients arriving at h and c of step e from outside."""
    T, B = e - s0, M.shape[1]
    H, GH = net.H, net.W_hh.shape[0]
    dt = dZ.dtype
    DELTA = _empty(work, "DELTA", (T, B, H), dt)
    GX = _empty(work, "GX", (T, B, GH), dt)
    dh0 = np.empty((B, H), dtype=dt)
    dc0 = np.zeros((B, H), dtype=dt)
    Ms = M[s0:e]
    with np.errstate(all="ignore"):
        if net.cell == "rnn":
            BK.rnn_backward(net.W_hh, fw.D[s0:e], Ms, dZ, net.W_hy, dhT, DELTA, GX, dh0)
            return DELTA, GX, GX, dh0, dc0
        if net.cell == "lstm":
            BK.lstm_backward(net.W_hh, fw.C[s0:e + 1], fw.GV[s0:e], fw.D[s0:e], fw.TC[s0:e], fw.DTC[s0:e], Ms, dZ,
                             net.W_hy, dhT, dcT, DELTA, GX, dh0, dc0)
            return DELTA, GX, GX, dh0, dc0
        GHa = _empty(work, "GH", (T, B, GH), dt)
        BK.gru_backward(net.W_hh, fw.Hs[s0:e + 1], fw.GV[s0:e], fw.D[s0:e], fw.HN[s0:e], Ms, dZ, net.W_hy, dhT,
                        DELTA, GX, GHa, dh0)
        return DELTA, GX, GHa, dh0, dc0


@dataclass(frozen=True)
class BatchResult:
    """One batch through the network and back.

    loss: mean over sequences of the per-sequence loss; seq_loss (B,); y (B, T, O) outputs;
    grads: gradients of ``loss`` under the state-dict keys; grad_h_norm (T,) = ||dL/dh_t|| over the
    whole batch (Frobenius norm of the (B, H) slice; what truncation lets through); h_last, c_last (B, H)
    the final states (each sequence's state at its own last step); dh0, dc0 (B, H) the gradient reaching
    the initial state (zero under truncation that stops before step 1). overflow: None, or a sentence
    naming what stopped being finite.
    """

    loss: float
    seq_loss: np.ndarray
    y: np.ndarray
    grads: dict
    grad_h_norm: np.ndarray
    h_last: np.ndarray
    c_last: np.ndarray | None
    dh0: np.ndarray
    dc0: np.ndarray
    overflow: str | None


def _check_truncate(truncate, T: int) -> tuple[int, int]:
    if truncate is None:
        return T, T
    try:
        k1, k2 = (int(v) for v in truncate)
        bad = any(isinstance(v, (bool, np.bool_)) or float(v) != int(v) for v in truncate)
    except (TypeError, ValueError):
        raise ValueError(f"truncate must be a pair (k1, k2) of positive integers, got {truncate!r}") from None
    if bad or k1 < 1 or k2 < 1:
        raise ValueError(f"truncate must be a pair (k1, k2) of positive integers, got {truncate!r}")
    return min(k1, T), k2


def _check_batch_budget(shape: tuple, net: _Net, dt) -> None:
    """Refuse a batch x of ``shape`` (B, T, D) whose pass would need too much memory or time
    (limits.MAX_BATCH_NUMBERS, MAX_BATCH_WORK), before anything of its size is allocated."""
    if len(shape) != 3:
        return  # check_batch names the wrong shape
    B, T, D = shape
    GH, H = net.W_hh.shape
    args = f"x: B = {B} sequences of T = {T} steps with H = {H}, D = {D}" + (
        f" ({net.cell}, {GH // H} gate blocks)" if GH > H else "")
    itemsize = np.dtype(dt).itemsize
    L.check_budget(args, T * B * GH, L.MAX_BATCH_NUMBERS, "T x B x G H numbers per array",
                   bytes_each=itemsize * L.BATCH_BYTES)
    L.check_budget(args, T * B * GH * (H + D), L.MAX_BATCH_WORK, "T x B x G H (H + D) for the forward and backward "
                   "passes", seconds=L.BATCH_SECONDS)


def batch_gradients(state: Mapping, x, y, lengths=None, *, cell: str = "rnn", activation: str = "tanh",
                    output: str = "identity", loss: str = "last", truncate=None, h0=None, c0=None,
                    dtype="float64", dh_last=None, dc_last=None, _checked: bool = False,
                    _work: Workspace | None = None, _grads: bool = True) -> BatchResult:
    """Forward and backward pass of a padded batch x (B, T, D) with targets y (see check_batch).

    ``truncate=(k1, k2)``: Williams & Peng's truncated BPTT. The state is carried through the whole
    sequence; every k1 steps (and at the end) the losses of those k1 steps are backpropagated k2 steps
    back from the chunk's end, treating the state before that as a constant; the gradients of all
    chunks are summed. With k2 >= T every chunk reaches step 1, and the result is full BPTT.
    Steps are counted on the padded time axis, and a loss at each sequence's last step ("last") reaches it
    through the padding from step T: so with truncation a sequence of T - k2 steps or fewer gets no gradient
    into its recurrent weights (only the read-out learns from it), and k2 >= T - length + 1 reaches its last
    real step. ``h0``/``c0`` (B, H) start the state (zeros).
    ``dh_last``/``dc_last`` (B, H): extra gradient arriving at the final state from outside (used by
    the encoder of an encoder-decoder pair). ``_work``: a Workspace whose arrays the passes reuse.
    ``_grads=False``: the forward pass only (loss, outputs, final state; no gradients: ``grads`` is empty
    and ``grad_h_norm``, ``dh0``, ``dc0`` are zeros), for scoring (see ``evaluate``).
    """
    cell = get_cell(cell).name
    output = check_output(output)
    loss = check_loss(loss)
    get_activation(activation)
    dt = _check_dtype(dtype)
    sd = state if _checked else check_state_dict(state, cell)
    net = _net(sd, cell, activation, dt)
    O, H = net.W_hy.shape
    _check_batch_budget(np.shape(x), net, dt)
    if not _checked:
        x, y, lengths = check_batch(x, y, lengths, output=output, loss=loss, n_out=O)
    B, T, D = x.shape
    if D != net.W_ih.shape[1]:
        raise ValueError(f"x must have shape (B, T, D) = (B, T, {net.W_ih.shape[1]}), got {x.shape}")
    k1, k2 = _check_truncate(truncate, T)
    X = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=dt)  # (T, B, D)
    M = (np.arange(T)[:, None] < lengths[None, :]).astype(dt)  # (T, B)
    zeros = np.zeros((B, H), dtype=dt)
    h_init = zeros if h0 is None else np.asarray(h0, dtype=dt)
    c_init = zeros if c0 is None else np.asarray(c0, dtype=dt)
    fw = _forward(net, X, M, h_init, c_init, _work)

    with np.errstate(all="ignore"):
        Hout = fw.Hs[1:]  # (T, B, H)
        Z = Hout @ net.W_hy.T + net.b_y  # (T, B, O) logits
        Yp = output_values(output, Z)
        dZ = np.zeros_like(Z)
        if loss == "last":  # a padded step keeps the state, so step T - 1 holds each sequence's last state
            terms, dz = loss_rows(output, Z[T - 1].astype(np.float64), Yp[T - 1].astype(np.float64), y)
            seq_loss = terms
            dZ[T - 1] = dz / B
        else:
            t_idx, b_idx = np.nonzero(M.astype(bool))
            tg = y[b_idx, t_idx]
            terms, dz = loss_rows(output, Z[t_idx, b_idx].astype(np.float64), Yp[t_idx, b_idx].astype(np.float64), tg)
            seq_loss = np.bincount(b_idx, weights=terms, minlength=B)
            dZ[t_idx, b_idx] = dz / B
        value = float(np.mean(seq_loss))
        if not _grads:
            overflow = _forward_overflow(fw.Hs, value)
            Y = np.ascontiguousarray(Yp.transpose(1, 0, 2))
            return BatchResult(value, seq_loss, Y, {}, np.zeros(T), fw.Hs[T].copy(),
                               None if fw.C is None else fw.C[T].copy(), zeros, zeros, overflow)
        dhT = zeros if dh_last is None else np.asarray(dh_last, dtype=dt)
        dcT = zeros if dc_last is None else np.asarray(dc_last, dtype=dt)
        prev = 0  # chunk j holds the losses of steps [prev, e) and backpropagates over [e - k2, e)
        ends = list(range(k1, T, k1)) + [T]
        if len(ends) == 1 and k2 >= T:  # full BPTT: one pass writes the arrays, nothing to add up
            DELTA, GX, GH, dh0, dc0 = _backward(net, fw, M, dZ, dhT, 0, T, dcT, _work)
            ends = []
        else:
            GX = np.zeros((T, B, net.W_hh.shape[0]), dtype=dt)
            GH = GX if cell != "gru" else np.zeros_like(GX)
            DELTA = np.zeros((T, B, H), dtype=dt)
            dh0 = np.zeros((B, H), dtype=dt)
            dc0 = np.zeros((B, H), dtype=dt)
        for e in ends:
            s0 = max(0, e - k2)
            lo = max(s0, prev)  # with k2 < k1 the chunk's earliest losses fall outside its window
            dz = np.zeros((e - s0, B, O), dtype=dt)  # only the losses of steps [lo, e) are injected
            dz[lo - s0:] = dZ[lo:e]
            d, gx, gh, d0, c0g = _backward(net, fw, M, dz, dhT if e == T else zeros, s0, e,
                                           dcT if e == T else zeros, _work)
            DELTA[s0:e] += d
            GX[s0:e] += gx
            if GH is not GX:
                GH[s0:e] += gh
            if s0 == 0:
                dh0 += d0
                dc0 += c0g
            prev = e
        Xf = X.reshape(T * B, D)
        Hprev = fw.Hs[:-1].reshape(T * B, H)
        GXf = GX.reshape(T * B, -1)
        GHf = GH.reshape(T * B, -1)
        GHn = GXf.shape[1]
        dW_ih, dW_hh = np.empty((GHn, D), dtype=dt), np.empty((GHn, H), dtype=dt)
        db, db_h = np.empty(GHn, dtype=dt), np.empty(GHn, dtype=dt)
        BK.weight_grads(GXf, GHf, GH is GX, Xf, Hprev, dW_ih, dW_hh, db, db_h)  # GX^T X, GH^T H_prev, sums
        grads = {
            "weight_ih_l0": dW_ih,
            "weight_hh_l0": dW_hh,
            "bias_ih_l0": db,
            "bias_hh_l0": np.concatenate([db[:2 * H], db_h[2 * H:]]) if cell == "gru" else db_h,
            "head.weight": dZ.reshape(T * B, O).T @ Hout.reshape(T * B, H),
            "head.bias": dZ.reshape(T * B, O).sum(axis=0),
        }
        grad_h_norm = np.empty(T)
        BK.step_norms(DELTA, grad_h_norm)
    overflow = _forward_overflow(fw.Hs, value)
    if overflow is None and not all(np.isfinite(g).all() for g in grads.values()):
        overflow = "a gradient is not finite"
    return BatchResult(value, seq_loss, np.ascontiguousarray(Yp.transpose(1, 0, 2)), grads, grad_h_norm,
                       fw.Hs[T].copy(), None if fw.C is None else fw.C[T].copy(), dh0, dc0, overflow)


def _forward_overflow(Hs: np.ndarray, value: float) -> str | None:
    """The sentence for a forward pass that left the float range (None when it did not)."""
    if not np.isfinite(Hs).all():
        T = Hs.shape[0] - 1
        t_bad = int(np.flatnonzero(~np.isfinite(Hs[1:]).reshape(T, -1).all(axis=1))[0])
        return f"the forward state overflowed at step t = {t_bad + 1}"
    return None if np.isfinite(value) else "the loss is not finite"


# ---------------------------------------------------------------- scoring many sequences in chunks


class EvaluationStopped(RuntimeError):
    """``evaluate``'s ``stop()`` returned True between two chunks."""


@dataclass(frozen=True)
class Scores:
    """A model's loss and outputs on many sequences (``evaluate``): loss = mean of seq_loss (B,);
    y (B, T, O); overflow: None or the first chunk's sentence; chunk: sequences per forward pass."""

    loss: float
    seq_loss: np.ndarray
    y: np.ndarray
    overflow: str | None
    chunk: int


def eval_chunk_rows(T: int, GH: int, max_numbers: float) -> int:
    """Sequences per forward pass so that T x rows x G H <= max_numbers (at least one)."""
    return max(1, int(max_numbers // max(1, T * GH)))


def _scored(x, y, rows: int, run, stop, progress) -> Scores:
    B = x.shape[0]
    rows = max(1, min(rows, B))
    losses, outs, overflow = [], [], None
    for i in range(0, B, rows):
        if stop is not None and stop():
            raise EvaluationStopped(f"stopped after {i} of {B} sequences")
        r = run(slice(i, i + rows))
        losses.append(r.seq_loss)
        outs.append(r.y)
        overflow = overflow or r.overflow
        if progress is not None:
            progress(min(B, i + rows), B)
    seq_loss = np.concatenate(losses) if losses else np.zeros(0)
    with np.errstate(all="ignore"):
        loss = float(np.mean(seq_loss)) if B else float("nan")
    return Scores(loss, seq_loss, np.concatenate(outs) if outs else np.zeros((0,) + y.shape[1:2] + (0,)),
                  overflow, rows)


# ---------------------------------------------------------------- clipping and optimisers (PyTorch semantics)


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """sqrt of the sum of squares of every gradient entry (torch's clip_grad_norm_ total_norm, p = 2):
    the norm of the per-parameter norms."""
    with np.errstate(all="ignore"):
        return float(np.linalg.norm([np.linalg.norm(np.asarray(g, dtype=np.float64).ravel()) for g in grads.values()]))


def clip_by_norm(grads: dict, max_norm: float) -> tuple[float, bool]:
    """In place, as torch.nn.utils.clip_grad_norm_: coefficient max_norm / (total_norm + 1e-6), applied
    when below 1 (the direction is kept: ORACLES O4). Returns (norm before clipping, clipped)."""
    total = global_norm(grads)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for k in grads:
            grads[k] = grads[k] * coef
        return total, True
    return total, False


def clip_by_value(grads: dict, clip_value: float) -> tuple[float, bool]:
    """In place, every entry into [-clip_value, clip_value] (changes the direction). Returns (norm before
    clipping, whether any entry was clipped)."""
    total = global_norm(grads)
    clipped = False
    for k in grads:
        g = grads[k]
        if (np.abs(g) > clip_value).any():
            clipped = True
            grads[k] = np.clip(g, -clip_value, clip_value)
    return total, clipped


class SGD:
    """torch.optim.SGD with momentum (dampening 0, not Nesterov, no weight decay):
    buf = g on the first step, then buf = momentum * buf + g; p -= lr * buf."""

    def __init__(self, lr: float, momentum: float = 0.0):
        self.lr, self.momentum = float(lr), float(momentum)
        self.buf: dict[str, np.ndarray] = {}

    def step(self, params: dict, grads: Mapping) -> None:
        for k, g in grads.items():
            d = g
            if self.momentum != 0.0:
                d = g.copy() if k not in self.buf else self.momentum * self.buf[k] + g
                self.buf[k] = d
            params[k] = params[k] - self.lr * d


class Adam:
    """torch.optim.Adam (betas 0.9/0.999, eps 1e-8, bias correction, no weight decay), in torch's order of
    operations: m, v moving averages; p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = float(lr), float(betas[0]), float(betas[1]), float(eps)
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}
        self.t = 0

    def step(self, params: dict, grads: Mapping) -> None:
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t
        bc2 = 1.0 - self.b2 ** self.t
        for k, g in grads.items():
            m = self.m.get(k, np.zeros_like(g))
            v = self.v.get(k, np.zeros_like(g))
            m = m + (1.0 - self.b1) * (g - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
            v = v * self.b2 + (g * g) * (1.0 - self.b2)  # exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)
            self.m[k], self.v[k] = m, v
            denom = np.sqrt(v) / math.sqrt(bc2) + self.eps
            params[k] = params[k] - (self.lr / bc1) * (m / denom)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


# ---------------------------------------------------------------- models: one network, or an encoder-decoder pair


@dataclass(frozen=True)
class Dataset:
    """Padded sequences and their targets (the data convention of check_batch), with the loss they use."""

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    output: str
    loss: str
    n_out: int

    @property
    def size(self) -> int:
        return self.x.shape[0]

    def rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.x[idx], self.y[idx], self.lengths[idx]


def make_dataset(x, y, lengths=None, *, output: str = "identity", loss: str = "last", n_out: int | None = None) -> Dataset:
    """Validate once (check_batch) and keep the arrays; n_out defaults to y's last axis (or its largest class + 1)."""
    output = check_output(output)
    loss = check_loss(loss)
    if n_out is None:
        ya = np.asarray(y)
        n_out = int(ya.max()) + 1 if output == "softmax" else int(ya.shape[-1]) if ya.ndim >= 2 else 1
    xa, ya, ln = check_batch(x, y, lengths, output=output, loss=loss, n_out=n_out)
    return Dataset(xa, ya, ln, output, loss, int(n_out))


def make_seq2seq_dataset(x, y, lengths=None, *, n_out: int | None = None) -> Dataset:
    """Data for an EncoderDecoder: inputs x (N, T_in, D) with lengths, and output classes y (N, T_out)
    whose length T_out is independent of T_in (the decoder writes every one of its steps)."""
    N = np.shape(x)[0] if np.ndim(x) else 0
    xa, _, ln = check_batch(x, np.zeros((N, 1)), lengths, output="identity", loss="last", n_out=1)
    ya = np.asarray(y) if not isinstance(y, (str, bytes)) and y is not None else np.zeros(0)
    if ya.ndim != 2 or ya.shape[0] != N or ya.shape[1] < 1 or ya.dtype.kind not in "iu" or (ya < 0).any():
        raise ValueError(f"y must be an integer array of shape (N, T_out) = ({N}, T_out) of classes >= 0")
    n_out = int(ya.max()) + 1 if n_out is None else int(n_out)
    if (ya >= n_out).any():
        raise ValueError(f"y must hold classes in [0, {n_out})")
    return Dataset(xa, ya.astype(np.int64), ln, "softmax", "all", n_out)


class SequenceModel:
    """One recurrent network with a linear read-out: many-to-one (loss "last", at each sequence's own
    last step), many-to-many aligned (loss "all") and, trained with teacher forcing, one-to-many
    (see ``generate`` and ``free_running``). ``state`` holds the weights under PyTorch's state-dict keys."""

    def __init__(self, state: Mapping, *, cell: str, activation: str = "tanh", output: str = "identity",
                 loss: str = "last", dtype="float64"):
        self.cell = get_cell(cell).name
        self.activation, self.output, self.loss = activation, check_output(output), check_loss(loss)
        self.dtype = dtype
        params_from_state_dict(state, cell=self.cell, activation=activation, output=output)  # validates
        self.state = check_state_dict(state, self.cell)

    def gradients(self, x, y, lengths, truncate=None, *, _checked: bool = False,
                  _work: Workspace | None = None) -> BatchResult:
        """Loss and gradients of a padded batch; x, y, lengths are validated (padding zeroed) unless they
        come from a Dataset (``_checked``); ``_work``: see Workspace."""
        if not _checked:
            x, y, lengths = check_batch(x, y, lengths, output=self.output, loss=self.loss,
                                        n_out=self.state["head.weight"].shape[0])
        return batch_gradients(self.state, x, y, lengths, cell=self.cell, activation=self.activation,
                               output=self.output, loss=self.loss, truncate=truncate, dtype=self.dtype, _checked=True,
                               _work=_work)

    def evaluate(self, x, y, lengths, *, max_numbers: float = L.MAX_EVAL_NUMBERS, stop=None, progress=None,
                 _checked: bool = False, _work: Workspace | None = None) -> Scores:
        """Loss and outputs of many sequences, forward passes only, in chunks of rows such that one chunk
        holds at most ``max_numbers`` numbers T x rows x G H (the same memory per number as a training
        batch). ``stop()`` is asked before each chunk (EvaluationStopped when it says True);
        ``progress(done, total)`` after each. Equals ``gradients(...).loss`` and ``.y`` on the whole batch."""
        if not _checked:
            x, y, lengths = check_batch(x, y, lengths, output=self.output, loss=self.loss,
                                        n_out=self.state["head.weight"].shape[0])
        GH = self.state["weight_hh_l0"].shape[0]
        rows = eval_chunk_rows(x.shape[1], GH, max_numbers)

        def run(sl):
            return batch_gradients(self.state, x[sl], y[sl], lengths[sl], cell=self.cell, activation=self.activation,
                                   output=self.output, loss=self.loss, dtype=self.dtype, _checked=True, _work=_work,
                                   _grads=False)
        return _scored(x, y, rows, run, stop, progress)

    def free_running(self, x, lengths, feedback, *, max_numbers: float = L.MAX_EVAL_NUMBERS, stop=None,
                     _checked: bool = False) -> np.ndarray:
        """One-to-many at test time: step 1 reads x[:, 0] as it is (the condition); at every later step t the
        input is x[:, t - 1] with its channels ``feedback`` replaced by the network's own output at step t - 1
        (identity: y itself; softmax: the one-hot of its most likely class; sigmoid: the probabilities), never
        the target. ``feedback`` (O,) are input channels, one per output in order. Compare ``evaluate``, which
        reads x as given (teacher forcing, as in training). Returns the outputs (B, T, O) (probabilities for
        softmax). Every step of the padded time axis is computed; the outputs past a sequence's length mean
        nothing (the metrics ignore them). In chunks of rows like ``evaluate``; ``stop()`` before each."""
        sd = self.state
        O, D = sd["head.weight"].shape[0], sd["weight_ih_l0"].shape[1]
        fb = _check_feedback(feedback, D, O)
        if not _checked:
            x, _, lengths = check_batch(x, np.zeros((np.shape(x)[0] if np.ndim(x) else 0, 1)), lengths,
                                        output="identity", loss="last", n_out=1)
        if x.shape[2] != D:
            raise ValueError(f"x must have shape (B, T, D) = (B, T, {D}), got {x.shape}")
        B, T = x.shape[:2]
        GH = sd["weight_hh_l0"].shape[0]
        rows = max(1, min(B, eval_chunk_rows(T, GH, max_numbers)))
        out = np.empty((B, T, O))  # (B, T, O)
        kw = dict(cell=self.cell, activation=self.activation, output=self.output, loss="all", dtype=self.dtype,
                  _checked=True, _grads=False)
        for i in range(0, B, rows):
            if stop is not None and stop():
                raise EvaluationStopped(f"stopped after {i} of {B} sequences")
            xs = x[i:i + rows]
            b = xs.shape[0]
            dummy = np.zeros((b, 1), dtype=np.int64) if self.output == "softmax" else np.zeros((b, 1, O))
            one = np.ones(b, dtype=np.int64)
            h = c = None
            step_in = np.array(xs[:, :1], dtype=np.float64)  # (b, 1, D): the condition, as given
            for t in range(T):
                r = batch_gradients(sd, step_in, dummy, one, h0=h, c0=c, **kw)
                y = r.y[:, 0]  # (b, O)
                out[i:i + b, t] = y
                h, c = r.h_last, r.c_last
                if t + 1 < T:
                    step_in = np.array(xs[:, t + 1:t + 2], dtype=np.float64)
                    if self.output == "softmax":  # the symbol it wrote, as a one-hot
                        fed = np.zeros((b, O))
                        fed[np.arange(b), np.nan_to_num(y, nan=-np.inf).argmax(-1)] = 1.0
                    else:
                        fed = y
                    step_in[:, 0, fb] = fed
        return out

    def params(self):
        """The current weights as an engine RNNParams (for bptt, the pages, the spectrum)."""
        return params_from_state_dict(self.state, cell=self.cell, activation=self.activation, output=self.output)


def _check_feedback(feedback, D: int, O: int) -> np.ndarray:
    """The input channels (O,) that carry the previous output, one per output, distinct, in [0, D)."""
    try:
        fb = [int(v) for v in feedback] if not isinstance(feedback, (str, bytes)) else None
        bad = fb is None or any(isinstance(v, (bool, np.bool_)) or not is_integer(v) for v in feedback)
    except (TypeError, ValueError):
        fb, bad = None, True
    if bad or len(fb) != O or len(set(fb)) != O or not all(0 <= v < D for v in fb):
        raise ValueError(f"feedback must list O = {O} distinct input channels in [0, D) = [0, {D}), one per output, "
                         f"got {feedback!r}")
    return np.array(fb, dtype=np.int64)


class EncoderDecoder:
    """Two networks of the same cell: the encoder reads x (B, T_in, D); its final state (h and, for the
    LSTM, c) starts the decoder, which writes an output sequence of another length T_out, one softmax
    class per step. The decoder is teacher-forced: its input at step j is the one-hot of target j - 1
    (a start symbol, the extra last channel, at j = 0). The decoder's gradient at its initial state
    flows into the encoder's last step. ``state`` keys are "encoder.<key>" and "decoder.<key>"."""

    def __init__(self, state: Mapping, *, cell: str, dtype="float64"):
        self.cell = get_cell(cell).name
        self.dtype = dtype
        self.output, self.loss = "softmax", "all"
        if not isinstance(state, Mapping):
            raise ValueError("state must be a mapping with 'encoder.*' and 'decoder.*' state-dict keys")
        self.state = {k: v for k, v in state.items() if k.startswith(("encoder.", "decoder."))}
        enc_sd, dec_sd = check_state_dict(self._part("encoder"), self.cell), check_state_dict(self._part("decoder"), self.cell)
        if enc_sd["weight_hh_l0"].shape[1] != dec_sd["weight_hh_l0"].shape[1]:
            raise ValueError("state: encoder and decoder must have the same hidden size H")
        self.n_classes = dec_sd["head.weight"].shape[0]
        if dec_sd["weight_ih_l0"].shape[1] != self.n_classes + 1:
            raise ValueError(f"state: decoder.weight_ih_l0 must have {self.n_classes + 1} columns (one-hot of the "
                             f"previous target plus a start symbol), got {dec_sd['weight_ih_l0'].shape[1]}")
        self.state = {**{"encoder." + k: v for k, v in enc_sd.items() if not k.startswith("head.")},
                      **{"decoder." + k: v for k, v in dec_sd.items()}}

    def _part(self, name: str) -> dict:
        sd = {k[len(name) + 1:]: v for k, v in self.state.items() if k.startswith(name + ".")}
        if name == "encoder" and "weight_hh_l0" in sd:  # no read-out: a zero head that no loss reaches
            sd["head.weight"] = np.zeros((1, np.asarray(sd["weight_hh_l0"]).shape[1]))
            sd["head.bias"] = np.zeros(1)
        return sd

    def decoder_inputs(self, y: np.ndarray) -> np.ndarray:
        """(B, T_out, O + 1): start symbol, then the one-hot of each previous target."""
        B, T_out = y.shape
        X = np.zeros((B, T_out, self.n_classes + 1))
        X[:, 0, self.n_classes] = 1.0
        if T_out > 1:
            X[np.arange(B)[:, None], np.arange(1, T_out)[None, :], y[:, :-1]] = 1.0
        return X

    def _checked_batch(self, x, y, lengths):
        """The encoder's inputs (padding zeroed) and the decoder's classes, validated."""
        B = np.shape(x)[0] if np.ndim(x) else 0
        x, _, lengths = check_batch(x, np.zeros((B, 1)), lengths, output="identity", loss="last", n_out=1)
        ya = np.asarray(y)
        if (ya.ndim != 2 or ya.shape[0] != B or ya.shape[1] < 1 or ya.dtype.kind not in "iu"
                or (ya < 0).any() or (ya >= self.n_classes).any()):
            raise ValueError(f"y must be an integer array of shape (B, T_out) = ({B}, T_out) with classes in "
                             f"[0, {self.n_classes})")
        return x, ya.astype(np.int64), lengths

    def gradients(self, x, y, lengths, truncate=None, *, _checked: bool = False) -> BatchResult:
        """Loss and gradients for inputs x (B, T_in, D) with lengths and output classes y (B, T_out)."""
        enc_sd, dec_sd = self._part("encoder"), self._part("decoder")
        if not _checked:
            x, y, lengths = self._checked_batch(x, y, lengths)
        B = x.shape[0]
        zero_y = np.zeros((B, 1))
        enc = batch_gradients(enc_sd, x, zero_y, lengths, cell=self.cell, output="identity", loss="last",
                              dtype=self.dtype, _checked=True)  # forward: the final state (its loss is unused)
        dec = batch_gradients(dec_sd, self.decoder_inputs(y), y, np.full(B, y.shape[1]), cell=self.cell,
                              output="softmax", loss="all", h0=enc.h_last, c0=enc.c_last, dtype=self.dtype,
                              truncate=truncate, _checked=True)
        # Back into the encoder: only the decoder's gradient at its initial state (target 0 on a zero head)
        enc = batch_gradients(enc_sd, x, zero_y, lengths, cell=self.cell, output="identity", loss="last",
                              dtype=self.dtype, dh_last=dec.dh0, dc_last=dec.dc0, truncate=truncate,
                              _checked=True)
        grads = {**{"encoder." + k: v for k, v in enc.grads.items() if not k.startswith("head.")},
                 **{"decoder." + k: v for k, v in dec.grads.items()}}
        return BatchResult(dec.loss, dec.seq_loss, dec.y, grads, dec.grad_h_norm, dec.h_last, dec.c_last,
                           enc.dh0, enc.dc0, enc.overflow or dec.overflow)

    def free_running(self, x, lengths, n_steps: int, *, max_numbers: float = L.MAX_EVAL_NUMBERS, stop=None,
                     _checked: bool = False) -> np.ndarray:
        """The decoder on its own outputs, as at test time: the start symbol at step 0, then at step j the
        one-hot of its own most likely class at step j - 1 (greedy decoding), never the target. Returns the
        output probabilities (B, n_steps, O). Compare ``evaluate``, which feeds the true previous targets
        (teacher forcing, as in training). In chunks of rows like ``evaluate``; ``stop()`` before each."""
        if not is_integer(n_steps) or not 1 <= int(n_steps) <= 100_000:
            raise ValueError(f"n_steps must be an integer in [1, 100000], got {n_steps!r}")
        n_steps = int(n_steps)
        B = np.shape(x)[0] if np.ndim(x) else 0
        if not _checked:
            x, _, lengths = check_batch(x, np.zeros((B, 1)), lengths, output="identity", loss="last", n_out=1)
        enc_sd, dec_sd = self._part("encoder"), self._part("decoder")
        GH = enc_sd["weight_hh_l0"].shape[0]
        O = self.n_classes
        rows = max(1, min(B, eval_chunk_rows(max(x.shape[1], n_steps), GH, max_numbers)))
        out = np.empty((B, n_steps, O))
        for i in range(0, B, rows):
            if stop is not None and stop():
                raise EvaluationStopped(f"stopped after {i} of {B} sequences")
            xs = x[i:i + rows]
            b = xs.shape[0]
            enc = batch_gradients(enc_sd, xs, np.zeros((b, 1)), lengths[i:i + rows], cell=self.cell,
                                  output="identity", loss="last", dtype=self.dtype, _checked=True, _grads=False)
            h, c = enc.h_last, enc.c_last
            step_in = np.zeros((b, 1, O + 1))
            step_in[:, 0, O] = 1.0                       # the start symbol
            dummy = np.zeros((b, 1), dtype=np.int64)
            for j in range(n_steps):
                r = batch_gradients(dec_sd, step_in, dummy, np.ones(b, dtype=np.int64), cell=self.cell,
                                    output="softmax", loss="all", h0=h, c0=c, dtype=self.dtype, _checked=True,
                                    _grads=False)
                out[i:i + b, j] = r.y[:, 0]
                h, c = r.h_last, r.c_last
                step_in = np.zeros((b, 1, O + 1))
                step_in[np.arange(b), 0, r.y[:, 0].argmax(-1)] = 1.0
        return out

    def evaluate(self, x, y, lengths, *, max_numbers: float = L.MAX_EVAL_NUMBERS, stop=None, progress=None,
                 _checked: bool = False, _work: Workspace | None = None) -> Scores:
        """As SequenceModel.evaluate (teacher-forced, like ``gradients``); a chunk's T is the longer of
        T_in and T_out."""
        if not _checked:
            x, y, lengths = self._checked_batch(x, y, lengths)
        enc_sd, dec_sd = self._part("encoder"), self._part("decoder")
        GH = enc_sd["weight_hh_l0"].shape[0]
        rows = eval_chunk_rows(max(x.shape[1], y.shape[1]), GH, max_numbers)

        def run(sl):
            xs, ys = x[sl], y[sl]
            b = xs.shape[0]
            enc = batch_gradients(enc_sd, xs, np.zeros((b, 1)), lengths[sl], cell=self.cell, output="identity",
                                  loss="last", dtype=self.dtype, _checked=True, _work=_work, _grads=False)
            dec = batch_gradients(dec_sd, self.decoder_inputs(ys), ys, np.full(b, ys.shape[1]), cell=self.cell,
                                  output="softmax", loss="all", h0=enc.h_last, c0=enc.c_last, dtype=self.dtype,
                                  _checked=True, _work=_work, _grads=False)
            return replace(dec, overflow=enc.overflow or dec.overflow)
        return _scored(x, y, rows, run, stop, progress)


def _check_generate_args(n_steps, temperature, seed):
    if not is_integer(n_steps) or not 1 <= int(n_steps) <= 100_000:
        raise ValueError(f"n_steps must be an integer in [1, 100000], got {n_steps!r}")
    if temperature is not None and (not is_number(temperature) or not np.isfinite(temperature) or temperature <= 0):
        raise ValueError(f"temperature must be a number > 0 (or None for the most likely symbol), got {temperature!r}")
    return np.random.default_rng(check_seed(seed)), int(n_steps), None if temperature is None else float(temperature)


def generate(model: SequenceModel, prime, n_steps: int, *, temperature: float | None = 1.0, seed: int = 0) -> np.ndarray:
    """One-to-many: read ``prime`` (P, D), then run on the network's own output for ``n_steps`` steps.

    Softmax output: each step samples a class from softmax(z / temperature) (the most likely one when
    temperature is None) and feeds its one-hot back as the next input (D must equal O); returns the
    classes (n_steps,). Identity output: feeds y_t back as x_{t+1} (forecasting many steps ahead,
    D = O); returns (n_steps, O).
    """
    rng, n_steps, temperature = _check_generate_args(n_steps, temperature, seed)
    sd = model.state
    O, D = sd["head.weight"].shape[0], sd["weight_ih_l0"].shape[1]
    if D != O:
        raise ValueError(f"generate needs inputs of the output's size: D = {D}, O = {O}")
    p = np.asarray(prime, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != D or p.shape[0] < 1 or not np.isfinite(p).all():
        raise ValueError(f"prime must be a finite array of shape (P, D) = (P, {D}) with P >= 1")
    kw = dict(cell=model.cell, activation=model.activation, output="identity", loss="all", dtype="float64",
              _checked=True)
    zeros = np.zeros((1, 1, O))
    r = batch_gradients(sd, p[None], np.zeros((1, p.shape[0], O)), np.array([p.shape[0]]), **kw)
    h, c = r.h_last, r.c_last
    z = r.y[0, -1]  # logits of the last primed step (identity output: the raw read-out)
    out = []
    for _ in range(n_steps):
        if model.output == "softmax":
            logits = z / (temperature or 1.0)
            if temperature is None:
                k = int(np.argmax(z))
            else:
                q = np.exp(logits - logits.max())
                k = int(rng.choice(O, p=q / q.sum()))
            out.append(k)
            nxt = np.zeros(O)
            nxt[k] = 1.0
        else:
            nxt = output_values(model.output, z[None])[0]
            out.append(nxt.copy())
        r = batch_gradients(sd, nxt[None, None], zeros, np.array([1]), h0=h, c0=c, **kw)
        h, c = r.h_last, r.c_last
        z = r.y[0, -1]
    return np.array(out)


# ---------------------------------------------------------------- the training loop


@dataclass(frozen=True)
class StepRecord:
    """One update: its number (1-based), the batch loss before the update, the gradient norm before
    clipping, whether clipping changed the gradient, seconds spent, and ||dL/dh_t|| over t."""

    step: int
    loss: float
    grad_norm: float
    clipped: bool
    seconds: float
    grad_h_norm: np.ndarray = field(repr=False, default=None)


class Trainer:
    """Minibatch training of a model on a Dataset with a PyTorch-compatible optimiser.

    Batches: with ``shuffle`` a new permutation of the rows every epoch (seeded); without it, update k
    (0-based) uses rows kB ... kB + B - 1, wrapping around N. Clipping by global norm or by value
    happens before the optimiser; truncation is passed to the model's BPTT. If the loss or a gradient
    stops being finite, ``step`` raises TrainingStopped with the update and the reason, and the
    weights stay as they were before that update.
    """

    def __init__(self, model, data: Dataset, *, optimizer: str = "adam", lr: float = 1e-2, momentum: float = 0.0,
                 clip_norm: float | None = None, clip_value: float | None = None, truncate=None, batch: int = 32,
                 shuffle: bool = True, seed: int = 0, workspace: Workspace | None = None):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
        for name, v, ok in (("lr", lr, lambda v: v > 0), ("momentum", momentum, lambda v: 0 <= v < 1),
                            ("clip_norm", clip_norm, lambda v: v is None or v > 0),
                            ("clip_value", clip_value, lambda v: v is None or v > 0)):
            if (v is not None or name in ("lr", "momentum")) and (not is_number(v) or not np.isfinite(v) or not ok(v)):
                raise ValueError(f"{name} must be a finite number {'> 0' if name != 'momentum' else 'in [0, 1)'}, "
                                 f"got {v!r}")
        if clip_norm is not None and clip_value is not None:
            raise ValueError("clip_norm and clip_value: choose one way of clipping")
        if not is_integer(batch) or int(batch) < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        if not isinstance(data, Dataset):
            raise ValueError(f"data must be a Dataset (see make_dataset), got {type(data).__name__}")
        if truncate is not None:
            _check_truncate(truncate, data.x.shape[1])
        lr, momentum = float(lr), float(momentum)
        clip_norm, clip_value = (None if v is None else float(v) for v in (clip_norm, clip_value))
        batch = int(batch)
        self.model, self.data = model, data
        self.opt = OPTIMIZERS[optimizer](lr, momentum) if optimizer == "sgd" else Adam(lr)
        self.clip_norm, self.clip_value, self.truncate = clip_norm, clip_value, truncate
        self.batch, self.shuffle = int(min(batch, data.size)) if shuffle else int(batch), shuffle
        self.rng = np.random.default_rng(check_seed(seed))
        self.steps_done = 0
        self._perm = np.arange(data.size)
        self._pos = 0
        # arrays reused by the training batches; trainers that take turns in one thread may share one
        self._work = Workspace() if workspace is None else workspace

    def _next_rows(self) -> np.ndarray:
        N, B = self.data.size, self.batch
        if not self.shuffle:
            return (self.steps_done * B + np.arange(B)) % N
        if self._pos + B > N or self.steps_done == 0:
            self._perm = self.rng.permutation(N)
            self._pos = 0
        rows = self._perm[self._pos:self._pos + B]
        self._pos += B
        return rows

    def step(self) -> StepRecord:
        t0 = time.perf_counter()
        rows = self._next_rows()
        x, y, ln = self.data.rows(rows)
        # a SequenceModel reuses the trainer's workspace (any other model: its own arrays)
        reuse = isinstance(self.model, SequenceModel) and self._work.lock.acquire(blocking=False)
        try:
            res = self.model.gradients(x, y, ln, truncate=self.truncate, _checked=True,
                                       **({"_work": self._work} if reuse else {}))
        finally:
            if reuse:
                self._work.lock.release()
        n = self.steps_done + 1
        if res.overflow is not None:
            raise TrainingStopped(n, res.overflow)
        grads = dict(res.grads)
        if self.clip_norm is not None:
            norm, clipped = clip_by_norm(grads, self.clip_norm)
        elif self.clip_value is not None:
            norm, clipped = clip_by_value(grads, self.clip_value)
        else:
            norm, clipped = global_norm(grads), False
        new = dict(self.model.state)
        self.opt.step(new, grads)
        if not all(np.isfinite(v).all() for v in new.values()):
            raise TrainingStopped(n, "the updated weights are not finite (learning rate too large?)")
        self.model.state = new
        self.steps_done = n
        return StepRecord(n, res.loss, norm, clipped, time.perf_counter() - t0, res.grad_h_norm)

    def evaluate(self, data: Dataset | None = None, *, max_numbers: float = L.MAX_EVAL_NUMBERS) -> Scores:
        """Loss and outputs on ``data`` (default: the training data) without updating, in chunks of at most
        ``max_numbers`` numbers (see SequenceModel.evaluate)."""
        d = self.data if data is None else data
        return self.model.evaluate(d.x, d.y, d.lengths, max_numbers=max_numbers, _checked=True)


# ---------------------------------------------------------------- command line: python -m engine.train


@np.errstate(all="ignore")
def _metric_fallback(output: str, y_pred: np.ndarray, y: np.ndarray, lengths: np.ndarray, loss: str) -> tuple[str, float]:
    """For --data: accuracy for a softmax output, mean squared error otherwise, over the covered steps."""
    T = y_pred.shape[1]
    if loss == "last":
        p = y_pred[:, T - 1]
        return ("accuracy", float(np.mean(p.argmax(-1) == y))) if output == "softmax" else (
            "MSE", float(np.mean((p - y) ** 2)))
    valid = np.arange(T)[None, :] < lengths[:, None]
    if output == "softmax":
        return "accuracy", float(np.mean(y_pred.argmax(-1)[valid] == y[valid]))
    return "MSE", float(np.mean(((y_pred - y) ** 2)[valid]))


def _task_names() -> list[str]:
    from .tasks import TASKS

    return list(TASKS)


def _parser():
    import argparse

    ap = argparse.ArgumentParser(prog="python -m engine.train", description=(
        "Train a vanilla RNN, an LSTM or a GRU on one of the engine's tasks or on your own arrays."))
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", help="a task of engine.tasks: " + ", ".join(_task_names()))
    src.add_argument("--data", metavar="FILE.npz", help="arrays x (N, T, D), y, optional lengths (N,)")
    ap.add_argument("--loss", choices=["last", "all"], help="with --data: loss at the last step or at every step")
    ap.add_argument("--output", choices=["identity", "softmax", "sigmoid"], help="with --data: output function")
    ap.add_argument("--cell", choices=list(CELLS), default="lstm")
    ap.add_argument("--activation", choices=list(ACTIVATIONS), default="tanh",
                    help="the vanilla cell's units (gated cells use tanh); relu with --init identity is the IRNN")
    ap.add_argument("--init", choices=list(INITS), default="gaussian",
                    help="how W_hh starts (see engine.init_params): identity is the IRNN of Le et al. 2015")
    ap.add_argument("--spectral-radius", type=float, default=None, metavar="RHO",
                    help="rescale W_hh (each gate block of a gated cell) to this spectral radius")
    ap.add_argument("--hidden", type=int, default=32, metavar="H")
    ap.add_argument("--seq-len", type=int, default=None, metavar="T", help="sequence length for generated tasks")
    ap.add_argument("--steps", type=int, default=200, metavar="N", help="number of updates")
    ap.add_argument("--batch", type=int, default=32, metavar="B")
    ap.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adam")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--clip-norm", type=float, default=None)
    ap.add_argument("--clip-value", type=float, default=None)
    ap.add_argument("--truncate", default=None, metavar="K1,K2", help="truncated BPTT: every K1 steps, back K2 steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=list(DTYPES), default="float64")
    ap.add_argument("--no-shuffle", action="store_true", help="update k uses rows kB ... kB+B-1, wrapping around N")
    ap.add_argument("--init-from", metavar="FILE.npz", help="start from these weights (state-dict key names)")
    ap.add_argument("--save", metavar="FILE.npz", help="write the trained weights (state-dict key names)")
    ap.add_argument("--json", action="store_true", help="one JSON object per line instead of a progress bar")
    return ap


def _load_npz(path: str, what: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{what}: cannot read {path!r} as a .npz file of arrays ({exc})") from None


def _initial_state(args, D: int, O: int, *, encoder_decoder: bool) -> dict:
    if args.init_from:
        return _load_npz(args.init_from, "--init-from")
    if args.cell != "rnn" and args.activation != "tanh":
        raise ValueError(f"--activation {args.activation}: the {args.cell} cell's units are tanh; "
                         "--activation applies to --cell rnn")
    if args.spectral_radius is not None and (not np.isfinite(args.spectral_radius) or args.spectral_radius < 0):
        raise ValueError(f"--spectral-radius must be a finite number >= 0, got {args.spectral_radius}")
    kw = dict(cell=args.cell, init=args.init, spectral_radius=args.spectral_radius)
    if encoder_decoder:
        if args.activation != "tanh":
            raise ValueError(f"--activation {args.activation}: an encoder-decoder runs tanh units")
        enc = params_to_state_dict(init_params(D, args.hidden, 1, seed=args.seed, **kw))
        dec = params_to_state_dict(init_params(O + 1, args.hidden, O, output="softmax", seed=args.seed + 1, **kw))
        return {**{"encoder." + k: v for k, v in enc.items() if not k.startswith("head.")},
                **{"decoder." + k: v for k, v in dec.items()}}
    return params_to_state_dict(init_params(D, args.hidden, O, activation=args.activation, seed=args.seed, **kw))


def main(argv=None) -> int:
    import json
    import sys

    args = _parser().parse_args(argv)
    task = None
    try:
        truncate = None
        if args.truncate:
            parts = args.truncate.split(",")
            if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
                raise ValueError(f"--truncate must be K1,K2 (two positive integers), got {args.truncate!r}")
            truncate = (int(parts[0]), int(parts[1]))
        if args.task:
            from . import tasks as tasks_mod

            task = tasks_mod.make_task(args.task, seq_len=args.seq_len, seed=args.seed)
            arrangement = task.arrangement
            if arrangement == "encoder-decoder":  # outputs of their own length
                train = make_seq2seq_dataset(task.x_train, task.y_train, task.len_train, n_out=task.n_out)
                test = make_seq2seq_dataset(task.x_test, task.y_test, task.len_test, n_out=task.n_out)
            else:
                train = make_dataset(task.x_train, task.y_train, task.len_train, output=task.output, loss=task.loss,
                                     n_out=task.n_out)
                test = make_dataset(task.x_test, task.y_test, task.len_test, output=task.output, loss=task.loss,
                                    n_out=task.n_out)
        else:
            arrays = _load_npz(args.data, "--data")
            if "x" not in arrays or "y" not in arrays:
                raise ValueError(f"--data: {args.data!r} must hold arrays 'x' and 'y' (and optionally 'lengths')")
            output = args.output or "identity"
            loss = args.loss or ("all" if np.asarray(arrays["y"]).ndim >= (2 if output == "softmax" else 3) else "last")
            train = test = make_dataset(arrays["x"], arrays["y"], arrays.get("lengths"), output=output, loss=loss)
            arrangement = "many-to-one" if loss == "last" else "many-to-many"
        ed = arrangement == "encoder-decoder"
        state = _initial_state(args, train.x.shape[2], train.n_out, encoder_decoder=ed)
        model = (EncoderDecoder(state, cell=args.cell, dtype=args.dtype) if ed else
                 SequenceModel(state, cell=args.cell, activation=args.activation, output=train.output, loss=train.loss,
                               dtype=args.dtype))
        if isinstance(args.steps, bool) or args.steps < 1:
            raise ValueError(f"--steps must be a positive integer, got {args.steps}")
        trainer = Trainer(model, train, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
                          clip_norm=args.clip_norm, clip_value=args.clip_value, truncate=truncate, batch=args.batch,
                          shuffle=not args.no_shuffle, seed=args.seed)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def metric(res: Scores, d: Dataset) -> tuple[str, float]:
        if task is not None:
            from .tasks import task_metric
            return task.metric_name, float(task_metric(task, res.y, d.y, d.lengths))
        return _metric_fallback(d.output, res.y, d.y, d.lengths, d.loss)

    bar = None
    if not args.json and sys.stderr.isatty():  # a progress bar for a person at a terminal, not for a pipe
        from tqdm import tqdm

        bar = tqdm(total=args.steps, unit="update", file=sys.stderr, dynamic_ncols=True)
    t0 = time.perf_counter()
    stopped = None
    for _ in range(args.steps):
        try:
            rec = trainer.step()
        except TrainingStopped as exc:
            stopped = exc
            break
        if args.json:
            print(json.dumps({"step": rec.step, "loss": rec.loss, "grad_norm": rec.grad_norm, "clipped": rec.clipped,
                              "seconds": round(rec.seconds, 6)}), flush=True)
        elif bar is not None:
            bar.set_postfix_str(f"loss {rec.loss:.4g} |g| {rec.grad_norm:.3g}{' clipped' if rec.clipped else ''}",
                                refresh=False)
            bar.update(1)
    if bar is not None:
        bar.close()
    res = trainer.evaluate(test)
    name, value = metric(res, test)
    free = None
    if ed:  # the same sequences with the decoder on its own outputs (metric_value: teacher-forced)
        free_y = model.free_running(test.x, test.lengths, test.y.shape[1], _checked=True)
        free = metric(replace(res, y=free_y), test)[1]
    elif arrangement == "one-to-many":  # the network on its own previous outputs (metric_value: teacher-forced)
        free_y = model.free_running(test.x, test.lengths, task.info["feedback"], _checked=True)
        free = metric(replace(res, y=free_y), test)[1]
    summary = {"final": True, "steps": trainer.steps_done, "test_loss": res.loss, "metric": name, "metric_value": value,
               **({"free_running_metric_value": free} if free is not None else {}),
               "baseline": None if task is None else task.baseline,
               "baseline_name": None if task is None else task.baseline_name,
               "seconds": round(time.perf_counter() - t0, 3),
               "stopped": None if stopped is None else {"step": stopped.step, "reason": stopped.reason}}
    if args.save:
        np.savez(args.save, **{k: np.asarray(v) for k, v in model.state.items()})
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"{trainer.steps_done} updates in {summary['seconds']} s; test loss {res.loss:.6g}, {name} {value:.6g}"
              + (f" teacher-forced, {free:.6g} free-running" if free is not None else "")
              + (f"; baseline {task.baseline:.6g} ({task.baseline_name})" if task is not None else ""))
        if stopped is not None:
            print(f"stopped: {stopped}")
    return 1 if stopped is not None else 0


if __name__ == "__main__":
    raise SystemExit(main())
