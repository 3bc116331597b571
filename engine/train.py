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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import _batch_kernels as BK
from .activations import _sigmoid, check_loss, check_output, get_activation
from .params import CELLS, check_seed, get_cell, init_params, params_from_state_dict, params_to_state_dict

DTYPES = {"float64": np.float64, "float32": np.float32}
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
    return _Net(cell, get_activation(activation).code, np.ascontiguousarray(sd["weight_ih_l0"], dtype=dt),
                np.ascontiguousarray(W_hh), np.ascontiguousarray(W_hh.T), b.astype(dt), b_hn.astype(dt),
                np.ascontiguousarray(sd["head.weight"], dtype=dt), np.asarray(sd["head.bias"], dtype=dt))


@dataclass
class _Fwd:
    Hs: np.ndarray  # (T + 1, B, H)
    A: np.ndarray  # (T, B, G H)
    D: np.ndarray  # (T, B, G H) derivatives at A
    GV: np.ndarray | None = None  # gate values (LSTM, GRU)
    C: np.ndarray | None = None  # (T + 1, B, H) LSTM
    HN: np.ndarray | None = None  # (T, B, H) GRU


def _forward(net: _Net, X: np.ndarray, M: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> _Fwd:
    """X (T, B, D) time first; M (T, B) mask; h0, c0 (B, H)."""
    T, B, D = X.shape
    H, GH = net.H, net.W_hh.shape[0]
    dt = X.dtype
    XW = (X.reshape(T * B, D) @ net.W_ih.T + net.b).reshape(T, B, GH)  # (T, B, G H): one product for all steps
    Hs = np.empty((T + 1, B, H), dtype=dt)
    Hs[0] = h0
    A = np.empty((T, B, GH), dtype=dt)
    Dd = np.empty((T, B, GH), dtype=dt)
    with np.errstate(all="ignore"):
        if net.cell == "rnn":
            BK.rnn_forward(XW, net.W_hhT, net.code, M, Hs, A, Dd)
            return _Fwd(Hs, A, Dd)
        GV = np.empty((T, B, GH), dtype=dt)
        if net.cell == "lstm":
            C = np.empty((T + 1, B, H), dtype=dt)
            C[0] = c0
            BK.lstm_forward(XW, net.W_hhT, M, Hs, C, A, GV, Dd)
            return _Fwd(Hs, A, Dd, GV, C=C)
        HN = np.empty((T, B, H), dtype=dt)
        BK.gru_forward(XW, net.W_hhT, net.b_hn, M, Hs, A, GV, Dd, HN)
        return _Fwd(Hs, A, Dd, GV, HN=HN)


def _backward(net: _Net, fw: _Fwd, M: np.ndarray, INJ: np.ndarray, s0: int, e: int, dcT: np.ndarray):
    """BPTT over steps [s0, e) only (the state before s0 is a constant): returns (DELTA, GX, GH, dh0, dc0)
    for those steps. INJ (e - s0, B, H) is the loss's direct gradient into each h_t."""
    T, B = e - s0, M.shape[1]
    H, GH = net.H, net.W_hh.shape[0]
    dt = INJ.dtype
    DELTA = np.empty((T, B, H), dtype=dt)
    GX = np.empty((T, B, GH), dtype=dt)
    dh0 = np.empty((B, H), dtype=dt)
    dc0 = np.zeros((B, H), dtype=dt)
    Ms = M[s0:e]
    with np.errstate(all="ignore"):
        if net.cell == "rnn":
            BK.rnn_backward(net.W_hh, fw.D[s0:e], Ms, INJ, DELTA, GX, dh0)
            return DELTA, GX, GX, dh0, dc0
        if net.cell == "lstm":
            DC = np.empty((T, B, H), dtype=dt)
            BK.lstm_backward(net.W_hh, fw.C[s0:e + 1], fw.GV[s0:e], fw.D[s0:e], Ms, INJ, dcT, DELTA, DC, GX, dh0, dc0)
            return DELTA, GX, GX, dh0, dc0
        GHa = np.empty((T, B, GH), dtype=dt)
        BK.gru_backward(net.W_hh, fw.Hs[s0:e + 1], fw.GV[s0:e], fw.D[s0:e], fw.HN[s0:e], Ms, INJ, DELTA, GX, GHa, dh0)
        return DELTA, GX, GHa, dh0, dc0


def _outputs(kind: str, Z: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if kind == "identity":
            return Z
        if kind == "sigmoid":
            return _sigmoid(Z)
        E = np.exp(Z - Z.max(axis=-1, keepdims=True))
        return E / E.sum(axis=-1, keepdims=True)


def _loss_terms(kind: str, Z: np.ndarray, Y: np.ndarray, target: np.ndarray):
    """Per-row loss (n,) and dL/dz (n, O) for logits Z (n, O) and targets of the covered steps."""
    with np.errstate(all="ignore"):
        if kind == "identity":
            diff = Y - target
            return 0.5 * np.sum(diff * diff, axis=1), diff
        if kind == "softmax":
            m = Z.max(axis=1, keepdims=True)
            lse = (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]
            rows = np.arange(Z.shape[0])
            onehot = np.zeros_like(Z)
            onehot[rows, target] = 1.0
            return lse - Z[rows, target], Y - onehot
        return np.sum(np.logaddexp(0.0, Z) - target * Z, axis=1), Y - target


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
        bad = any(isinstance(v, bool) or float(v) != int(v) for v in truncate)
    except (TypeError, ValueError):
        raise ValueError(f"truncate must be a pair (k1, k2) of positive integers, got {truncate!r}") from None
    if bad or k1 < 1 or k2 < 1:
        raise ValueError(f"truncate must be a pair (k1, k2) of positive integers, got {truncate!r}")
    return min(k1, T), k2


def batch_gradients(state: Mapping, x, y, lengths=None, *, cell: str = "rnn", activation: str = "tanh",
                    output: str = "identity", loss: str = "last", truncate=None, h0=None, c0=None,
                    dtype="float64", dh_last=None, dc_last=None, _checked: bool = False) -> BatchResult:
    """Forward and backward pass of a padded batch x (B, T, D) with targets y (see check_batch).

    ``truncate=(k1, k2)``: Williams & Peng's truncated BPTT. The state is carried through the whole
    sequence; every k1 steps (and at the end) the losses of those k1 steps are backpropagated k2 steps
    back from the chunk's end, treating the state before that as a constant; the gradients of all
    chunks are summed. With k2 >= T every chunk reaches step 1, and the result is full BPTT.
    Steps are counted on the padded time axis. ``h0``/``c0`` (B, H) start the state (zeros).
    ``dh_last``/``dc_last`` (B, H): extra gradient arriving at the final state from outside (used by
    the encoder of an encoder-decoder pair).
    """
    cell = get_cell(cell).name
    output = check_output(output)
    loss = check_loss(loss)
    get_activation(activation)
    dt = _check_dtype(dtype)
    sd = state if _checked else check_state_dict(state, cell)
    net = _net(sd, cell, activation, dt)
    O, H = net.W_hy.shape
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
    fw = _forward(net, X, M, h_init, c_init)

    with np.errstate(all="ignore"):
        Hout = fw.Hs[1:]  # (T, B, H)
        Z = Hout @ net.W_hy.T + net.b_y  # (T, B, O) logits
        Yp = _outputs(output, Z)
        dZ = np.zeros_like(Z)
        if loss == "last":  # a padded step keeps the state, so step T - 1 holds each sequence's last state
            terms, dz = _loss_terms(output, Z[T - 1].astype(np.float64), Yp[T - 1].astype(np.float64), y)
            seq_loss = terms
            dZ[T - 1] = dz / B
        else:
            t_idx, b_idx = np.nonzero(M.astype(bool))
            tg = y[b_idx, t_idx]
            terms, dz = _loss_terms(output, Z[t_idx, b_idx].astype(np.float64), Yp[t_idx, b_idx].astype(np.float64), tg)
            seq_loss = np.bincount(b_idx, weights=terms, minlength=B)
            dZ[t_idx, b_idx] = dz / B
        value = float(np.mean(seq_loss))
        INJ = dZ @ net.W_hy  # (T, B, H): what the loss sends straight into each h_t

        GX = np.zeros((T, B, net.W_hh.shape[0]), dtype=dt)
        GH = GX if cell != "gru" else np.zeros_like(GX)
        DELTA = np.zeros((T, B, H), dtype=dt)
        dh0 = np.zeros((B, H), dtype=dt)
        dc0 = np.zeros((B, H), dtype=dt)
        dcT = zeros if dc_last is None else np.asarray(dc_last, dtype=dt)
        prev = 0  # chunk j holds the losses of steps [prev, e) and backpropagates over [e - k2, e)
        for e in list(range(k1, T, k1)) + [T]:
            s0 = max(0, e - k2)
            lo = max(s0, prev)  # with k2 < k1 the chunk's earliest losses fall outside its window
            inj = np.zeros((e - s0, B, H), dtype=dt)
            inj[lo - s0:] = INJ[lo:e]
            if e == T and dh_last is not None:
                inj[-1] += np.asarray(dh_last, dtype=dt)
            d, gx, gh, d0, c0g = _backward(net, fw, M, inj, s0, e, dcT if e == T else zeros)
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
        db = GXf.sum(axis=0)
        grads = {
            "weight_ih_l0": GXf.T @ Xf,
            "weight_hh_l0": GHf.T @ Hprev,
            "bias_ih_l0": db,
            "bias_hh_l0": np.concatenate([db[:2 * H], GHf[:, 2 * H:].sum(axis=0)]) if cell == "gru" else db.copy(),
            "head.weight": dZ.reshape(T * B, O).T @ Hout.reshape(T * B, H),
            "head.bias": dZ.reshape(T * B, O).sum(axis=0),
        }
        grad_h_norm = np.sqrt(np.einsum("tbh,tbh->t", DELTA.astype(np.float64), DELTA.astype(np.float64)))
    overflow = None
    if not np.isfinite(fw.Hs).all():
        t_bad = int(np.flatnonzero(~np.isfinite(fw.Hs[1:]).reshape(T, -1).all(axis=1))[0])
        overflow = f"the forward state overflowed at step t = {t_bad + 1}"
    elif not np.isfinite(value):
        overflow = "the loss is not finite"
    elif not all(np.isfinite(g).all() for g in grads.values()):
        overflow = "a gradient is not finite"
    return BatchResult(value, seq_loss, np.ascontiguousarray(Yp.transpose(1, 0, 2)), grads, grad_h_norm,
                       fw.Hs[T].copy(), None if fw.C is None else fw.C[T].copy(), dh0, dc0, overflow)
