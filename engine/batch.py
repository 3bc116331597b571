"""Batched forward and BPTT of the three cells on padded minibatches, with truncation, and scoring in chunks.

Parameters are a PyTorch-style state dict (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, head.weight,
head.bias; see params.params_to_state_dict), because PyTorch trains the two biases as separate parameters:
with SGD their sum moves twice as far as one bias would, and an update-for-update comparison has to do the
same.

Loss of a batch = mean over its sequences of the per-sequence loss exactly as ``bptt`` defines it
(same output/loss pairs; ``last``: each sequence's own last valid step; ``all``: every valid step).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import _batch_kernels as BK
from . import _blas  # noqa: F401  the BLAS thread limit (engine/_blas.py)
from .activations import check_loss, check_output, get_activation, output_values
from .batch_checks import (  # noqa: F401  DTYPES, SD_KEYS and check_state_dict are part of this module's API
    DTYPES,
    SD_KEYS,
    _check_batch_budget,
    _check_dtype,
    _check_truncate,
    check_batch,
    check_state_dict,
)
from .losses import loss_rows
from .params import get_cell

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
