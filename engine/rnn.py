"""Forward pass and backpropagation through time of one network (vanilla RNN, LSTM or GRU) on one sequence
or a padded batch; the Jacobians of the recurrence are in jacobians.py, the finite-difference check in
gradcheck.py.

Public functions validate, allocate and wrap; the numba kernels in _kernels.py and _gated_kernels.py do
the loops.
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

from . import _gated_kernels as GK
from . import _kernels as K
from . import limits as L
from .activations import check_loss, get_activation, output_values
from .limits import MAX_STEPS
from .losses import loss_rows
from .params import RNNParams, as_float_array, unchecked_params

# ---------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Trace:
    """Everything one forward pass (and, from ``bptt``, one backward pass) computed.

    Arrays have time first; index 0 is step t = 1. G = params.n_gates (1 for a vanilla RNN).
    h (T, H) states; a (T, G H) pre-activations (of every gate, stacked as in the params); fprime
    (T, G H) = derivative of each block's nonlinearity at a (f'(a_t) for a vanilla RNN); y (T, O).
    gates: gate name -> (T, H) gate values ({} for a vanilla RNN); c (T, H): the LSTM's cell state.
    From bptt: loss, grad_h (T, H) = total dL/dh_t, grad_h_norm (T,), grad_c / grad_c_norm = total
    dL/dc_t and its norm (LSTM), grads (an RNNParams of the same cell holding dW_hx, dW_hh, db_h,
    dW_hy, db_y (and db_hn) under the usual field names, also when they are not finite),
    dW_hh_step_norm (T,) = Frobenius norm of step t's term in dL/dW_hh. Computed on first access:
    ``jacobian_norm`` (T,) = ||ds_T/ds_t||_2 of the whole recurrent state s (h; (h, c) for the LSTM)
    and ``cell_path_norm`` (T,) = ||dc_T/dc_t|| along the cell path alone (LSTM).
    overflow_step: index of the first step whose state (or, in the backward pass, whose gradient,
    or whose loss term) is not finite, else None; overflow_phase says where: "forward", "loss" or
    "backward".
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
    grad_a: np.ndarray | None = field(default=None, repr=False)  # (T, G H) dL/da_t
    gates: dict = field(default_factory=dict)
    c: np.ndarray | None = None
    grad_c: np.ndarray | None = None
    grad_c_norm: np.ndarray | None = None
    aux: dict = field(default_factory=dict, repr=False)  # cell-specific intermediates for the Jacobians

    @property
    def seq_len(self) -> int:
        return self.h.shape[0]

    @property
    def cell(self) -> str:
        return self.params.cell

    @cached_property
    def jacobian_norm(self) -> np.ndarray:
        """(T,) spectral norm of ds_T/ds_t for every step (the last entry is 1)."""
        from .jacobians import jacobian_norms

        return jacobian_norms(self)

    @cached_property
    def cell_path_norm(self) -> np.ndarray | None:
        """LSTM only (else None): (T,) ||dc_T/dc_t|| along the cell path alone, where each step
        multiplies by diag(f): the largest over units of prod_{s=t+1..T} f_s (the last entry is 1)."""
        if self.params.cell != "lstm":
            return None
        from .jacobians import gate_path_norm

        return gate_path_norm(self.gates["f"])


# ---------------------------------------------------------------- validation


def _check_x(params: RNNParams, x) -> np.ndarray:
    D = params.n_in
    if isinstance(x, np.ndarray) and x.ndim == 2:  # refuse before converting a huge array
        _check_pass(params, x.shape[0], 1, "x")
    x = as_float_array("x", x, (None, D), f"(T, D) = (T, {D}) with T >= 1")
    _check_pass(params, x.shape[0], 1, "x")
    return x


def _step_units(params: RNNParams) -> int:
    """Work of one step of one sequence in limits.MAX_PASS_WORK's units: G H (H + D) + 1000."""
    return params.W_hh.shape[0] * (params.n_hidden + params.n_in) + 1000


def _check_pass(params: RNNParams, T: int, B: int, name: str) -> None:
    """Refuse B sequences of T steps whose forward and backward passes would take too long or need
    too much memory (limits.MAX_PASS_WORK, MAX_TRACE_NUMBERS)."""
    if T > MAX_STEPS:
        raise ValueError(f"{name} has {T} steps, over the limit of {MAX_STEPS} steps per sequence (a longer one needs "
                         "more memory than one computation should take); use a shorter sequence")
    G, H, D = params.n_gates, params.n_hidden, params.n_in
    args = f"{name}: " + (f"B = {B} sequences of " if B > 1 else "") + f"T = {T} steps with H = {H}, D = {D}" + (
        f" ({params.cell}, {G} gate blocks)" if G > 1 else "")
    L.check_budget(args, B * T * _step_units(params), L.MAX_PASS_WORK,
                   ("B x " if B > 1 else "") + "T x (G H (H + D) + 1000) for the forward and backward passes",
                   seconds=L.PASS_SECONDS)
    L.check_budget(args, B * T * G * H, L.MAX_TRACE_NUMBERS, ("B x " if B > 1 else "") + "T x G H numbers per array",
                   bytes_each=L.TRACE_BYTES)


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


# ---------------------------------------------------------------- forward, one function per cell
#
# Each cell has a forward function (params, x, h0) -> _Forward and a backward function
# (params, x, h0, fw, dZ) -> _Backward, which allocate and call that cell's kernels. bptt and
# forward look them up in _CELL_PASSES by params.cell: no branching on the cell anywhere else.


@dataclass(frozen=True)
class _Forward:
    Hs: np.ndarray  # (T, H) states h_1..h_T
    A: np.ndarray  # (T, G H) pre-activations
    Fp: np.ndarray  # (T, G H) derivatives at A
    bad: int | None  # first non-finite step
    gates: dict = field(default_factory=dict)  # gate -> (T, H)
    C: np.ndarray | None = None  # (T, H) LSTM cell states
    aux: dict = field(default_factory=dict)  # intermediates the backward pass and the Jacobians need


@dataclass(frozen=True)
class _Backward:
    DELTA: np.ndarray  # (T, H) dL/dh_t
    norms: np.ndarray  # (T,) ||dL/dh_t||
    GX: np.ndarray  # (T, G H) dL/da_t as seen by W_hx and b_h
    GH: np.ndarray  # (T, G H) what W_hh sees (differs from GX only for the GRU's n block)
    bad: int  # step where the gradient stopped being finite, or -1
    DC: np.ndarray | None = None  # (T, H) LSTM dL/dc_t
    c_norms: np.ndarray | None = None  # (T,)


def _gate_views(M: np.ndarray, names: tuple[str, ...], H: int) -> dict[str, np.ndarray]:
    return {g: M[:, k * H:(k + 1) * H] for k, g in enumerate(names)}


def _forward_rnn(params: RNNParams, x: np.ndarray, h0: np.ndarray) -> _Forward:
    T, H = x.shape[0], params.n_hidden
    A = np.empty((T, H))  # (T, H) pre-activations
    Hs = np.empty((T, H))  # (T, H) states
    Dp = np.empty((T, H))  # (T, H) f'(a_t)
    bad = K.forward_seq(np.ascontiguousarray(params.W_hx.T), params.b_h, np.ascontiguousarray(params.W_hh.T), x,
                        h0, get_activation(params.activation).code, A, Hs, Dp)
    return _Forward(Hs, A, Dp, None if bad < 0 else int(bad))


def _backward_rnn(params: RNNParams, x, h0, fw: _Forward, dZ: np.ndarray) -> _Backward:
    T, H = fw.Hs.shape
    DELTA = np.empty((T, H))  # (T, H) total dL/dh_t
    G = np.empty((T, H))  # (T, H) dL/da_t
    norms = np.empty(T)  # (T,) ||dL/dh_t||
    g_norm = np.empty(T)  # (T,) ||dL/da_t||, unused here
    bad = K.backward_seq(params.W_hh, params.W_hy, fw.Fp, dZ, DELTA, G, norms, g_norm)
    return _Backward(DELTA, norms, G, G, int(bad))


def _padded_state(T: int, H: int, h0: np.ndarray) -> np.ndarray:
    S = np.empty((T + 1, H))  # (T + 1, H): row 0 is the initial state, row t + 1 the state after step t
    S[0] = h0
    return S


def _forward_lstm(params: RNNParams, x: np.ndarray, h0: np.ndarray) -> _Forward:
    T, H = x.shape[0], params.n_hidden
    Hs = _padded_state(T, H, h0)
    C = _padded_state(T, H, np.zeros(H))  # c_0 = 0
    A = np.empty((T, 4 * H))  # (T, 4H) gate pre-activations i, f, g, o
    GV = np.empty((T, 4 * H))  # (T, 4H) gate values
    GD = np.empty((T, 4 * H))  # (T, 4H) their derivatives
    bad = GK.lstm_forward_seq(np.ascontiguousarray(params.W_hx.T), params.b_h, np.ascontiguousarray(params.W_hh.T),
                              x, Hs, C, A, GV, GD)
    return _Forward(Hs[1:], A, GD, None if bad < 0 else int(bad), _gate_views(GV, params.gate_names, H), C[1:],
                    {"GV": GV, "C_full": C, "H_full": Hs})


def _backward_lstm(params: RNNParams, x, h0, fw: _Forward, dZ: np.ndarray) -> _Backward:
    T, H = fw.Hs.shape
    DELTA = np.empty((T, H))  # (T, H) dL/dh_t
    DC = np.empty((T, H))  # (T, H) dL/dc_t
    DA = np.empty((T, 4 * H))  # (T, 4H) dL/da_t
    norms = np.empty(T)
    c_norms = np.empty(T)
    bad = GK.lstm_backward_seq(params.W_hh, params.W_hy, fw.aux["C_full"], fw.aux["GV"], fw.Fp, dZ, DELTA, DC, DA,
                               norms, c_norms)
    return _Backward(DELTA, norms, DA, DA, int(bad), DC, c_norms)


def _forward_gru(params: RNNParams, x: np.ndarray, h0: np.ndarray) -> _Forward:
    T, H = x.shape[0], params.n_hidden
    Hs = _padded_state(T, H, h0)
    A = np.empty((T, 3 * H))  # (T, 3H) pre-activations r, z, n
    GV = np.empty((T, 3 * H))  # (T, 3H) gate values
    GD = np.empty((T, 3 * H))  # (T, 3H) their derivatives
    HN = np.empty((T, H))  # (T, H) W_hn h_{t-1} + b_hn
    bad = GK.gru_forward_seq(np.ascontiguousarray(params.W_hx.T), params.b_h, np.ascontiguousarray(params.W_hh.T),
                             params.b_hn, x, Hs, A, GV, GD, HN)
    return _Forward(Hs[1:], A, GD, None if bad < 0 else int(bad), _gate_views(GV, params.gate_names, H), None,
                    {"GV": GV, "H_full": Hs, "HN": HN})


def _backward_gru(params: RNNParams, x, h0, fw: _Forward, dZ: np.ndarray) -> _Backward:
    T, H = fw.Hs.shape
    DELTA = np.empty((T, H))  # (T, H) dL/dh_t
    DAX = np.empty((T, 3 * H))  # (T, 3H) gradient at the pre-activations, as W_ih sees it
    DAH = np.empty((T, 3 * H))  # (T, 3H) as W_hh sees it
    norms = np.empty(T)
    bad = GK.gru_backward_seq(params.W_hh, params.W_hy, fw.aux["H_full"], fw.aux["GV"], fw.Fp, fw.aux["HN"], dZ,
                              DELTA, DAX, DAH, norms)
    return _Backward(DELTA, norms, DAX, DAH, int(bad))


_CELL_PASSES = {
    "rnn": (_forward_rnn, _backward_rnn),
    "lstm": (_forward_lstm, _backward_lstm),
    "gru": (_forward_gru, _backward_gru),
}


def _run_forward(params: RNNParams, x: np.ndarray, h0: np.ndarray) -> tuple[_Forward, np.ndarray]:
    """The cell's forward pass and the logits Z (T, O)."""
    # errstate only matters when the kernels run as Python (NUMBA_DISABLE_JIT=1): overflow is data
    with np.errstate(all="ignore"):
        fw = _CELL_PASSES[params.cell][0](params, x, h0)
        Z = fw.Hs @ params.W_hy.T + params.b_y  # (T, O) logits
    return fw, Z


def _trace_fields(fw: _Forward) -> dict:
    return dict(gates=fw.gates, c=fw.C, aux=fw.aux)


def forward(params: RNNParams, x, h0=None) -> Trace:
    """Forward pass only: h, a, fprime, y (and gates, c) for x (T, D). Returns a Trace without gradients."""
    params = _check_params(params)
    x = _check_x(params, x)
    h0 = _check_h0(params, h0)
    fw, Z = _run_forward(params, x, h0)
    return Trace(params, h0, x, fw.Hs, fw.A, fw.Fp, output_values(params.output, Z), fw.bad,
                 None if fw.bad is None else "forward", **_trace_fields(fw))


# ---------------------------------------------------------------- loss and BPTT


def _loss_and_dz(kind: str, Z: np.ndarray, Y: np.ndarray, tgt: np.ndarray, loss: str):
    """Loss, dL/dz (T, O) for the steps the loss covers (zero rows elsewhere), and the loss term of
    every step (T,) (0 where the loss does not look)."""
    T, O = Z.shape
    dZ = np.zeros((T, O))  # (T, O)
    terms = np.zeros(T)  # (T,)
    rows = slice(None) if loss == "all" else slice(T - 1, T)
    terms[rows], dZ[rows] = loss_rows(kind, Z[rows], Y[rows], tgt)
    with np.errstate(all="ignore"):
        value = float(np.sum(terms))
    return value, dZ, terms


def _first_bad_row(*arrays: np.ndarray, fallback: int) -> int:
    """Smallest step index at which any of the (T, ...) arrays holds a non-finite entry, else
    ``fallback``."""
    bad = None
    for M in arrays:
        rows = np.flatnonzero(~np.isfinite(M.reshape(M.shape[0], -1)).all(axis=1))
        if rows.size and (bad is None or rows[0] < bad):
            bad = int(rows[0])
    return fallback if bad is None else bad


def bptt(params: RNNParams, x, target, *, h0=None, loss: str = "last") -> Trace:
    """Forward pass and exact backpropagation through time, for every cell.

    x (T, D); target: see the module docstring (shape depends on ``output`` and ``loss``);
    h0 (H,) defaults to zeros (an LSTM's c_0 is zero). Overflow does not raise: non-finite values
    stay in the arrays and ``overflow_step`` / ``overflow_phase`` tell where they started.
    """
    params = _check_params(params)
    loss = check_loss(loss)
    x = _check_x(params, x)
    h0 = _check_h0(params, h0)
    T = x.shape[0]
    tgt = _check_target(params, target, T, loss)

    fw, Z = _run_forward(params, x, h0)
    Y = output_values(params.output, Z)
    value, dZ, terms = _loss_and_dz(params.output, Z, Y, tgt, loss)

    with np.errstate(all="ignore"):
        bw = _CELL_PASSES[params.cell][1](params, x, h0, fw, dZ)
        Hs, GX, GH = fw.Hs, bw.GX, bw.GH
        h_norm = np.empty(T)
        K.row_norms(Hs, h_norm)
        h0_norm = np.empty(1)
        K.row_norms(h0[None, :], h0_norm)
        h_prev_norm = np.concatenate([h0_norm, h_norm[:-1]])
        # Shared weights: each gradient is a sum over steps, here one matrix product each.
        # The W_hh term of step t is gh_t h_{t-1}^T, with h_0 the initial state.
        dW_hh = GH[1:].T @ Hs[:-1]
        dW_hh += np.outer(GH[0], h0)
        grads = dict(W_hx=GX.T @ x, W_hh=dW_hh, b_h=GX.sum(axis=0), W_hy=dZ.T @ Hs, b_y=dZ.sum(axis=0))
        if params.cell == "gru":
            H = params.n_hidden
            grads["b_hn"] = GH[:, 2 * H:].sum(axis=0)  # b_hn sits where W_hn h does: inside r * (...)
        gh_norm = np.empty(T)
        K.row_norms(GH, gh_norm)
        step_norm = gh_norm * h_prev_norm  # ||g h^T||_F = ||g|| ||h|| for an outer product

    if fw.bad is not None:
        step, phase = fw.bad, "forward"
    elif not np.isfinite(value):
        step, phase = _first_bad_row(terms[:, None], dZ, fallback=T - 1), "loss"
    elif bw.bad >= 0:
        step, phase = int(bw.bad), "backward"
    elif not all(np.isfinite(g).all() for g in grads.values()):
        # Every per-step term was finite but a weight gradient is not: name the first step whose term
        # in some weight gradient (an outer product of finite vectors) overflows, else the last step,
        # where the sum over steps ran out of range.
        with np.errstate(all="ignore"):
            x_norm = np.empty(T)
            K.row_norms(x, x_norm)
            gx_norm = np.empty(T)
            K.row_norms(GX, gx_norm)
            dz_norm = np.linalg.norm(dZ, axis=1)
            terms_norm = np.stack([step_norm, gx_norm * x_norm, dz_norm * h_norm], axis=1)
        step, phase = _first_bad_row(terms_norm, fallback=T - 1), "backward"
    else:
        step, phase = None, None

    return Trace(
        params, h0, x, Hs, fw.A, fw.Fp, Y, step, phase,
        loss=value, grad_h=bw.DELTA, grad_h_norm=bw.norms, grads=_grads_params(params, grads),
        dW_hh_step_norm=step_norm, loss_mode=loss, grad_a=GX, grad_c=bw.DC, grad_c_norm=bw.c_norms,
        **_trace_fields(fw),
    )


def _grads_params(params: RNNParams, grads: dict) -> RNNParams:
    """Gradients packed in an RNNParams of the same cell, outputs and activation as ``params``;
    non-finite entries (overflow) are kept as they are."""
    if all(np.isfinite(g).all() for g in grads.values()):
        return params.replace(**grads)
    return unchecked_params(params, grads)


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
    _check_pass(params, T, B, "x")
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
    total = {k: 0.0 for k in params.arrays()}
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
