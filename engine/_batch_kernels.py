"""Batched kernels for training: a minibatch of B padded sequences moves through time together.

Every product of a step is one BLAS call on 2-D arrays (np.dot with an output array), so the batch
never loops in Python; the element-wise work of each cell runs in numba loops. The kernels are
generic in the float type: float64 (exact) and float32 (fast) compile separately from the same code.

Layout (time first): XW (T, B, G H) = x_t W_ih^T + b, computed for all steps in one product before
the loop; Hs (T + 1, B, H) with Hs[0] = h_0 (and C likewise for the LSTM); M (T, B) is 1 where step t
of sequence b is real and 0 in the padding. A padded step copies the state unchanged, so a sequence's
final state is its state at its own last step, and in the backward pass the gradient passes a padded
step untouched.

Backward kernels receive INJ (T, B, H) = the gradient the loss sends straight into h_t, and return
DELTA (T, B, H) = total dL/dh_t, the gradients at the gate pre-activations (GX as W_ih and b see them,
GH as W_hh sees them; the same array except for the GRU), and the gradient reaching the initial state.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _JIT, _activate, _sigmoid_d, _tanh_d

# ---------------------------------------------------------------- vanilla RNN


@njit(**_JIT)
def rnn_forward(XW, W_hhT, code, M, Hs, A, Dp):
    """a_t = XW[t] + h_{t-1} W_hh^T, h_t = f(a_t), Dp = f'(a_t) (0 on padded steps)."""
    T, B, n = XW.shape
    for t in range(T):
        np.dot(Hs[t], W_hhT, A[t])
        for b in range(B):
            for i in range(n):
                A[t, b, i] += XW[t, b, i]
            _activate(code, A[t, b], Hs[t + 1, b], Dp[t, b])
            if M[t, b] == 0.0:
                for i in range(n):
                    Hs[t + 1, b, i] = Hs[t, b, i]
                    Dp[t, b, i] = 0.0


@njit(**_JIT)
def rnn_backward(W_hh, Dp, M, INJ, DELTA, G, dh0):
    """g_t = f'(a_t) * delta_t; delta_{t-1} = inj_{t-1} + g_t W_hh (+ delta_t on a padded step)."""
    T, B, n = Dp.shape
    carry = INJ[T - 1].copy()  # (B, H)
    back = np.empty_like(carry)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            for i in range(n):
                DELTA[t, b, i] = carry[b, i]
                G[t, b, i] = Dp[t, b, i] * carry[b, i]
        np.dot(G[t], W_hh, back)  # (B, H) @ (H, H)
        for b in range(B):
            keep = M[t, b] == 0.0
            for i in range(n):
                v = back[b, i] + (carry[b, i] if keep else 0.0)
                carry[b, i] = v + INJ[t - 1, b, i] if t > 0 else v
    dh0[:, :] = carry


# ---------------------------------------------------------------- LSTM


@njit(**_JIT)
def lstm_forward(XW, W_hhT, M, Hs, C, A, GV, GD):
    """Gates i, f, g, o from A[t] = XW[t] + h_{t-1} W_hh^T; c = f c_prev + i g; h = o tanh(c)."""
    T, B, n4 = XW.shape
    n = n4 // 4
    for t in range(T):
        np.dot(Hs[t], W_hhT, A[t])
        for b in range(B):
            a, gv, gd = A[t, b], GV[t, b], GD[t, b]
            if M[t, b] == 0.0:
                for k in range(n4):
                    a[k] += XW[t, b, k]
                    gv[k] = 0.0
                    gd[k] = 0.0
                for k in range(n):
                    C[t + 1, b, k] = C[t, b, k]
                    Hs[t + 1, b, k] = Hs[t, b, k]
                continue
            for k in range(n4):
                a[k] += XW[t, b, k]
            for k in range(n):
                gv[k], gd[k] = _sigmoid_d(a[k])
                gv[n + k], gd[n + k] = _sigmoid_d(a[n + k])
                gv[2 * n + k], gd[2 * n + k] = _tanh_d(a[2 * n + k])
                gv[3 * n + k], gd[3 * n + k] = _sigmoid_d(a[3 * n + k])
                c = gv[n + k] * C[t, b, k] + gv[k] * gv[2 * n + k]
                C[t + 1, b, k] = c
                tc, _ = _tanh_d(c)
                Hs[t + 1, b, k] = gv[3 * n + k] * tc


@njit(**_JIT)
def lstm_backward(W_hh, C, GV, GD, M, INJ, dcT, DELTA, DC, G, dh0, dc0):
    """LSTM BPTT over the batch; DC (T, B, H) = dL/dc_t. dcT (B, H) is a gradient arriving at c_T
    from outside (a decoder started from this state; zeros otherwise). On a padded step both
    gradients pass through unchanged; elsewhere as in _gated_kernels._lstm_step_back."""
    T, B, n4 = GV.shape
    n = n4 // 4
    carry = INJ[T - 1].copy()  # (B, H) dL/dh_t
    cin = dcT.copy()  # (B, H) dL/dc_t arriving from step t + 1
    back = np.empty_like(carry)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            gv, gd, da = GV[t, b], GD[t, b], G[t, b]
            if M[t, b] == 0.0:
                for k in range(n4):
                    da[k] = 0.0
                for k in range(n):
                    DELTA[t, b, k] = carry[b, k]
                    DC[t, b, k] = cin[b, k]
                continue
            for k in range(n):
                DELTA[t, b, k] = carry[b, k]
                tc, dtc = _tanh_d(C[t + 1, b, k])
                d = cin[b, k] + carry[b, k] * gv[3 * n + k] * dtc
                DC[t, b, k] = d
                da[k] = d * gv[2 * n + k] * gd[k]
                da[n + k] = d * C[t, b, k] * gd[n + k]
                da[2 * n + k] = d * gv[k] * gd[2 * n + k]
                da[3 * n + k] = carry[b, k] * tc * gd[3 * n + k]
                cin[b, k] = d * gv[n + k]
        np.dot(G[t], W_hh, back)  # (B, 4H) @ (4H, H)
        for b in range(B):
            keep = M[t, b] == 0.0
            for k in range(n):
                v = back[b, k] + (carry[b, k] if keep else 0.0)
                carry[b, k] = v + INJ[t - 1, b, k] if t > 0 else v
    dh0[:, :] = carry
    dc0[:, :] = cin


# ---------------------------------------------------------------- GRU


@njit(**_JIT)
def gru_forward(XW, W_hhT, b_hn, M, Hs, A, GV, GD, HN):
    """r, z from XW + h W_hh^T; n = tanh(XW_n + r (h W_hn^T + b_hn)); h' = (1 - z) n + z h.
    A[t] first holds h_{t-1} W_hh^T (all three blocks), then the pre-activations."""
    T, B, n3 = XW.shape
    n = n3 // 3
    for t in range(T):
        np.dot(Hs[t], W_hhT, A[t])
        for b in range(B):
            a, gv, gd = A[t, b], GV[t, b], GD[t, b]
            live = M[t, b] != 0.0
            for k in range(n):
                HN[t, b, k] = a[2 * n + k] + b_hn[k]
                a[k] += XW[t, b, k]
                a[n + k] += XW[t, b, n + k]
            if not live:
                for k in range(n):
                    a[2 * n + k] = XW[t, b, 2 * n + k]
                    Hs[t + 1, b, k] = Hs[t, b, k]
                for k in range(n3):
                    gv[k] = 0.0
                    gd[k] = 0.0
                continue
            for k in range(n):
                gv[k], gd[k] = _sigmoid_d(a[k])
                gv[n + k], gd[n + k] = _sigmoid_d(a[n + k])
                a[2 * n + k] = XW[t, b, 2 * n + k] + gv[k] * HN[t, b, k]
                gv[2 * n + k], gd[2 * n + k] = _tanh_d(a[2 * n + k])
                z = gv[n + k]
                Hs[t + 1, b, k] = (1.0 - z) * gv[2 * n + k] + z * Hs[t, b, k]


@njit(**_JIT)
def gru_backward(W_hh, Hs, GV, GD, HN, M, INJ, DELTA, GX, GH, dh0):
    """GRU BPTT over the batch: GX = [da_r, da_z, da_n] (W_ih, b), GH = [da_r, da_z, r da_n] (W_hh, b_hn);
    dh_{t-1} = inj + z dh_t + GH W_hh (+ dh_t on a padded step)."""
    T, B, n3 = GV.shape
    n = n3 // 3
    carry = INJ[T - 1].copy()
    back = np.empty_like(carry)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            gv, gd = GV[t, b], GD[t, b]
            live = M[t, b] != 0.0
            for k in range(n):
                dh = carry[b, k]
                DELTA[t, b, k] = dh
                if not live:
                    GX[t, b, k] = GX[t, b, n + k] = GX[t, b, 2 * n + k] = 0.0
                    GH[t, b, k] = GH[t, b, n + k] = GH[t, b, 2 * n + k] = 0.0
                    continue
                z = gv[n + k]
                da_n = dh * (1.0 - z) * gd[2 * n + k]
                da_z = dh * (Hs[t, b, k] - gv[2 * n + k]) * gd[n + k]
                da_r = da_n * HN[t, b, k] * gd[k]
                GX[t, b, k] = da_r
                GX[t, b, n + k] = da_z
                GX[t, b, 2 * n + k] = da_n
                GH[t, b, k] = da_r
                GH[t, b, n + k] = da_z
                GH[t, b, 2 * n + k] = da_n * gv[k]
        np.dot(GH[t], W_hh, back)  # (B, 3H) @ (3H, H)
        for b in range(B):
            live = M[t, b] != 0.0
            for k in range(n):
                z = GV[t, b, n + k] if live else 1.0  # the copy path; a padded step copies all of it
                v = back[b, k] + z * carry[b, k]
                carry[b, k] = v + INJ[t - 1, b, k] if t > 0 else v
    dh0[:, :] = carry
