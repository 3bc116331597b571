"""Numba kernels of the gated cells (LSTM, GRU): one step and one step back each, and the sequence
loops that drive them. Same rules as _kernels.py: arrays and scalars in, no validation, no allocation
inside the time loops, no fast-math beyond FMA contraction.

Gate blocks are stacked as in PyTorch: LSTM i, f, g, o; GRU r, z, n; block k of a (G H,) vector is
[k H, (k + 1) H). The state arrays carry one extra leading row: Hs[0] = h_0 (and C[0] = c_0), so
step t (0-based) reads Hs[t] and writes Hs[t + 1] with no special case for the first step.
Weights come transposed (W_ihT (D, G H), W_hhT (H, G H)) for the forward products, and as stored
(W_hh (G H, H)) for the backward ones, so every product is a weighted sum of contiguous rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _JIT, _add_rows, _inject, _row_finite, _scaled_norm, _sigmoid_d, _tanh_d
from ._steps import gru_hidden, gru_step_back, lstm_cell, lstm_dc, lstm_hidden, lstm_step_back


@njit(inline="always", **_JIT)
def _inject_before(W_hy, dZ, t, inj):
    """inj = what the loss at step t - 1 sends into h_{t-1} (nothing before the first step)."""
    if t > 0:
        _inject(W_hy, dZ[t - 1], inj)
    else:
        inj[:] = 0.0


# ---------------------------------------------------------------- LSTM


@njit(**_JIT)
def _lstm_step(W_ihT, b, W_hhT, x_t, h_prev, c_prev, a, gv, gd, c, h):
    """One LSTM step. a (4H,) = W_ih x_t + W_hh h_prev + b (pre-activations, written first and
    used as the accumulator); gv, gd (4H,) = gate values and their derivatives at a;
    c = f * c_prev + i * g, h = o * tanh(c)."""
    n = h.shape[0]
    for k in range(a.shape[0]):
        a[k] = b[k]
    _add_rows(W_ihT, x_t, a)
    _add_rows(W_hhT, h_prev, a)
    for k in range(n):
        gv[k], gd[k] = _sigmoid_d(a[k])  # i: how much of the candidate is written
        gv[n + k], gd[n + k] = _sigmoid_d(a[n + k])  # f: how much of c_{t-1} is kept
        gv[2 * n + k], gd[2 * n + k] = _tanh_d(a[2 * n + k])  # g: the candidate
        gv[3 * n + k], gd[3 * n + k] = _sigmoid_d(a[3 * n + k])  # o: how much of tanh(c_t) is shown
        c[k] = lstm_cell(gv[n + k], c_prev[k], gv[k], gv[2 * n + k])
        tc, _ = _tanh_d(c[k])
        h[k] = lstm_hidden(gv[3 * n + k], tc)


@njit(**_JIT)
def lstm_forward_seq(W_ihT, b, W_hhT, X, Hs, C, A, GV, GD):
    """All T steps. X (T, D); Hs, C (T + 1, H) with row 0 = h_0, c_0 filled in by the caller;
    A, GV, GD (T, 4H). Returns the first step whose state is not finite, or -1."""
    T = X.shape[0]
    for t in range(T):
        _lstm_step(W_ihT, b, W_hhT, X[t], Hs[t], C[t], A[t], GV[t], GD[t], C[t + 1], Hs[t + 1])
    for t in range(T):
        if not (_row_finite(A[t]) and _row_finite(C[t + 1]) and _row_finite(Hs[t + 1])):
            return t
    return -1


@njit(**_JIT)
def _lstm_step_back(W_hh, gv, gd, c_prev, c, dh, dc_in, inj_prev, da, dc, dc_out, dh_prev):
    """One LSTM step back.

    dh = total dL/dh_t; dc_in = what reaches c_t from step t+1 through the cell path
    (f_{t+1} * dL/dc_{t+1}). Then dc = dL/dc_t = dc_in + dh * o * tanh'(c_t), and the gradient
    at each gate's pre-activation is da = (dL/d gate) * gate'. Along the cell path the gradient is
    only multiplied by f_t (dc_out = f_t * dc): no W_hh, no squashing derivative, which is why it
    can survive many steps (_steps.lstm_step_back). dh_prev = inj_{t-1} + W_hh^T da.
    """
    n = dh.shape[0]
    for k in range(n):
        tc, dtc = _tanh_d(c[k])
        d = lstm_dc(dc_in[k], dh[k], gv[3 * n + k], dtc)
        dc[k] = d
        da[k], da[n + k], da[2 * n + k], da[3 * n + k], dc_out[k] = lstm_step_back(
            d, dh[k], gv[k], gv[n + k], gv[2 * n + k], c_prev[k], tc, gd[k], gd[n + k], gd[2 * n + k], gd[3 * n + k])
        dh_prev[k] = inj_prev[k]
    _add_rows(W_hh, da, dh_prev)  # + W_hh^T da


@njit(**_JIT)
def lstm_backward_seq(W_hh, W_hy, C, GV, GD, dZ, DELTA, DC, DA, delta_norm, c_norm):
    """BPTT through an LSTM from the last step to the first.

    C (T + 1, H) cell states with row 0 = c_0; GV, GD (T, 4H) from the forward pass; dZ (T, O) =
    dL/dz_t. Outputs DELTA (T, H) = dL/dh_t, DC (T, H) = dL/dc_t, DA (T, 4H) = dL/da_t and the row
    norms of DELTA and DC. Returns the step where the gradient first stops being finite in the
    order the backward pass meets steps (the largest such index), or -1.
    """
    T = GV.shape[0]
    n = DELTA.shape[1]
    dc_in = np.zeros(n)  # (H,) nothing flows into c_T from a later step
    dc_out = np.empty(n)
    inj = np.empty(n)
    dh_prev = np.empty(n)
    _inject(W_hy, dZ[T - 1], DELTA[T - 1])
    for t in range(T - 1, -1, -1):
        _inject_before(W_hy, dZ, t, inj)
        _lstm_step_back(W_hh, GV[t], GD[t], C[t], C[t + 1], DELTA[t], dc_in, inj, DA[t], DC[t], dc_out, dh_prev)
        if t > 0:
            DELTA[t - 1, :] = dh_prev
        dc_in[:] = dc_out
    bad = -1
    for t in range(T - 1, -1, -1):
        delta_norm[t] = _scaled_norm(DELTA[t])
        c_norm[t] = _scaled_norm(DC[t])
        if bad < 0 and not (np.isfinite(delta_norm[t]) and np.isfinite(c_norm[t])):
            bad = t
    return bad


# ---------------------------------------------------------------- GRU


@njit(**_JIT)
def _gru_step(W_ihT, b, W_hhT, b_hn, x_t, h_prev, ax, ah, a, gv, gd, hn, h):
    """One GRU step (PyTorch's equations).

    ax (3H,) = W_ih x_t + b and ah (3H,) = W_hh h_prev are kept apart because r multiplies only the
    recurrent part of the n gate: n = tanh(ax_n + r * (ah_n + b_hn)); hn = ah_n + b_hn is stored for
    the backward pass. h = (1 - z) * n + z * h_prev: z near 1 copies the state forward.
    """
    n = h.shape[0]
    for k in range(ax.shape[0]):
        ax[k] = b[k]
        ah[k] = 0.0
    _add_rows(W_ihT, x_t, ax)
    _add_rows(W_hhT, h_prev, ah)
    for k in range(n):
        a[k] = ax[k] + ah[k]
        a[n + k] = ax[n + k] + ah[n + k]
        gv[k], gd[k] = _sigmoid_d(a[k])  # r: how much of the old state the candidate sees
        gv[n + k], gd[n + k] = _sigmoid_d(a[n + k])  # z: how much of the old state is kept
        hn[k] = ah[2 * n + k] + b_hn[k]
        a[2 * n + k] = ax[2 * n + k] + gv[k] * hn[k]
        gv[2 * n + k], gd[2 * n + k] = _tanh_d(a[2 * n + k])  # n: the candidate
        h[k] = gru_hidden(gv[n + k], gv[2 * n + k], h_prev[k], 1.0)


@njit(**_JIT)
def gru_forward_seq(W_ihT, b, W_hhT, b_hn, X, Hs, A, GV, GD, HN):
    """All T steps. Hs (T + 1, H) with row 0 = h_0; A, GV, GD (T, 3H); HN (T, H) = W_hn h_{t-1} + b_hn.
    Returns the first step whose state is not finite, or -1."""
    T = X.shape[0]
    ax = np.empty(A.shape[1])  # (3H,) scratch
    ah = np.empty(A.shape[1])  # (3H,) scratch
    for t in range(T):
        _gru_step(W_ihT, b, W_hhT, b_hn, X[t], Hs[t], ax, ah, A[t], GV[t], GD[t], HN[t], Hs[t + 1])
    for t in range(T):
        if not (_row_finite(A[t]) and _row_finite(Hs[t + 1])):
            return t
    return -1


@njit(**_JIT)
def _gru_step_back(W_hh, gv, gd, hn, h_prev, dh, inj_prev, dax, dah, dh_prev):
    """One GRU step back.

    dax (3H,) = dL/d(pre-activations) as seen by W_ih and b: [da_r, da_z, da_n].
    dah (3H,) = what W_hh sees: the same for r and z, but r * da_n for the n block (r multiplies
    W_hn h + b_hn). dh_prev = inj_{t-1} + z * dh (the copy path) + W_hh^T dah.
    """
    n = dh.shape[0]
    for k in range(n):
        z = gv[n + k]
        da_r, da_z, da_n, dah[2 * n + k] = gru_step_back(
            dh[k], gv[k], z, gv[2 * n + k], h_prev[k], hn[k], gd[k], gd[n + k], gd[2 * n + k], 1.0)
        dax[k] = da_r
        dax[n + k] = da_z
        dax[2 * n + k] = da_n
        dah[k] = da_r
        dah[n + k] = da_z
        dh_prev[k] = inj_prev[k] + dh[k] * z  # the copy path
    _add_rows(W_hh, dah, dh_prev)  # + W_hh^T dah


@njit(**_JIT)
def gru_backward_seq(W_hh, W_hy, Hs, GV, GD, HN, dZ, DELTA, DAX, DAH, delta_norm):
    """BPTT through a GRU. Hs (T + 1, H) with row 0 = h_0. Outputs DELTA (T, H) = dL/dh_t,
    DAX, DAH (T, 3H) (see _gru_step_back) and the row norms of DELTA. Returns the step where the
    gradient first stops being finite, in backward order (the largest such index), or -1."""
    T = GV.shape[0]
    n = DELTA.shape[1]
    inj = np.empty(n)
    dh_prev = np.empty(n)
    _inject(W_hy, dZ[T - 1], DELTA[T - 1])
    for t in range(T - 1, -1, -1):
        _inject_before(W_hy, dZ, t, inj)
        _gru_step_back(W_hh, GV[t], GD[t], HN[t], Hs[t], DELTA[t], inj, DAX[t], DAH[t], dh_prev)
        if t > 0:
            DELTA[t - 1, :] = dh_prev
    bad = -1
    for t in range(T - 1, -1, -1):
        delta_norm[t] = _scaled_norm(DELTA[t])
        if bad < 0 and not np.isfinite(delta_norm[t]):
            bad = t
    return bad
