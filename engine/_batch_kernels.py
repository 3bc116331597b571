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

Speed: the element-wise work of a step runs as simple loops over contiguous rows that LLVM turns into
SIMD code: sigma and tanh come from _vmath (branch-free, no libm call), and these kernels use numpy's
error model (a float division by zero gives inf or nan instead of a raised ZeroDivisionError, whose
check in every iteration would keep the loop scalar; an overflow is still data, found by np.isfinite
afterwards). The LSTM keeps tanh(c_t) and tanh'(c_t) from the forward pass for the backward one.

Threads: the sequences of a batch are independent of each other through time, forward and back, so
each public kernel splits the batch into chunks of rows (at least CHUNK_ROWS each, see _n_chunks) and
runs them in a prange: one parallel region per pass, no synchronisation between steps. The chunks
depend only on B, not on the number of threads, so results are bit-identical whatever
NUMBA_NUM_THREADS is (with one thread the chunks run one after the other). The products stay
single-threaded BLAS calls (train._limit_blas_threads), one per chunk and step.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._kernels import _JIT, LINEAR, RELU, SIGMOID, TANH
from ._vmath import sigmoid_dv, tanh_dv

_BJIT = dict(_JIT, error_model="numpy")  # see the module docstring (Speed)
CHUNK_ROWS = 16  # sequences per chunk at least: smaller products lose more to BLAS call overhead
MAX_CHUNKS = 8


@njit(inline="always", **_BJIT)
def _n_chunks(n, rows):
    """Chunks of at least ``rows`` rows for n rows: a power of 2, at most MAX_CHUNKS, at least 1."""
    c = 1
    while 2 * c <= MAX_CHUNKS and 2 * c * rows <= n:
        c *= 2
    return c


@njit(inline="always", **_BJIT)
def _sigmoid_rows(a, v, d, lo, hi):
    """v[k], d[k] = sigma(a[k]), sigma'(a[k]) for k in [lo, hi): one vectorised loop."""
    for k in range(lo, hi):
        v[k], d[k] = sigmoid_dv(a[k])


@njit(inline="always", **_BJIT)
def _tanh_rows(a, v, d, lo, hi):
    """v[k], d[k] = tanh(a[k]), tanh'(a[k]) for k in [lo, hi): one vectorised loop."""
    for k in range(lo, hi):
        v[k], d[k] = tanh_dv(a[k])


@njit(inline="always", **_BJIT)
def _activate_rows(code, a, h, d):
    """h = f(a), d = f'(a) over a row, as _kernels._activate, vectorised."""
    n = a.shape[0]
    if code == TANH:
        _tanh_rows(a, h, d, 0, n)
    elif code == SIGMOID:
        _sigmoid_rows(a, h, d, 0, n)
    elif code == RELU:
        for i in range(n):
            pos = a[i] > 0.0
            h[i] = a[i] if pos else 0.0
            d[i] = 1.0 if pos else 0.0
    else:  # LINEAR
        for i in range(n):
            h[i] = a[i]
            d[i] = 1.0


# ---------------------------------------------------------------- vanilla RNN


@njit(**_BJIT)
def _rnn_forward_rows(XW, W_hhT, code, M, Hs, A, Dp, lo, hi):
    n = XW.shape[2]
    for t in range(XW.shape[0]):
        np.dot(Hs[t, lo:hi], W_hhT, A[t, lo:hi])
        for b in range(lo, hi):
            a, x = A[t, b], XW[t, b]
            for i in range(n):
                a[i] += x[i]
            _activate_rows(code, a, Hs[t + 1, b], Dp[t, b])
            if M[t, b] == 0.0:
                for i in range(n):
                    Hs[t + 1, b, i] = Hs[t, b, i]
                    Dp[t, b, i] = 0.0


@njit(parallel=True, **_BJIT)
def rnn_forward(XW, W_hhT, code, M, Hs, A, Dp):
    """a_t = XW[t] + h_{t-1} W_hh^T, h_t = f(a_t), Dp = f'(a_t) (0 on padded steps)."""
    B = XW.shape[1]
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _rnn_forward_rows(XW, W_hhT, code, M, Hs, A, Dp, c * B // nc, (c + 1) * B // nc)


@njit(**_BJIT)
def _rnn_backward_rows(W_hh, Dp, M, INJ, DELTA, G, carry, back, lo, hi):
    T, _, n = Dp.shape
    for t in range(T - 1, -1, -1):
        for b in range(lo, hi):
            dl, g, dp, cr = DELTA[t, b], G[t, b], Dp[t, b], carry[b]
            for i in range(n):
                dl[i] = cr[i]
                g[i] = dp[i] * cr[i]
        np.dot(G[t, lo:hi], W_hh, back[lo:hi])  # (B, H) @ (H, H)
        for b in range(lo, hi):
            cr, bk = carry[b], back[b]
            if M[t, b] == 0.0:
                for i in range(n):
                    bk[i] += cr[i]
            if t > 0:
                inj = INJ[t - 1, b]
                for i in range(n):
                    cr[i] = bk[i] + inj[i]
            else:
                for i in range(n):
                    cr[i] = bk[i]


@njit(parallel=True, **_BJIT)
def rnn_backward(W_hh, Dp, M, INJ, DELTA, G, dh0):
    """g_t = f'(a_t) * delta_t; delta_{t-1} = inj_{t-1} + g_t W_hh (+ delta_t on a padded step)."""
    T, B, _ = Dp.shape
    carry = INJ[T - 1].copy()  # (B, H)
    back = np.empty_like(carry)
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _rnn_backward_rows(W_hh, Dp, M, INJ, DELTA, G, carry, back, c * B // nc, (c + 1) * B // nc)
    dh0[:, :] = carry


# ---------------------------------------------------------------- LSTM


@njit(**_BJIT)
def _lstm_forward_rows(XW, W_hhT, M, Hs, C, A, GV, GD, TC, DTC, lo, hi):
    T, _, n4 = XW.shape
    n = n4 // 4
    for t in range(T):
        np.dot(Hs[t, lo:hi], W_hhT, A[t, lo:hi])
        for b in range(lo, hi):
            a, x, gv, gd = A[t, b], XW[t, b], GV[t, b], GD[t, b]
            c_prev, c, h_prev, h = C[t, b], C[t + 1, b], Hs[t, b], Hs[t + 1, b]
            tc, dtc = TC[t, b], DTC[t, b]
            for k in range(n4):
                a[k] += x[k]
            if M[t, b] == 0.0:
                for k in range(n4):
                    gv[k] = 0.0
                    gd[k] = 0.0
                for k in range(n):
                    c[k] = c_prev[k]
                    h[k] = h_prev[k]
                    tc[k] = 0.0
                    dtc[k] = 0.0
                continue
            _sigmoid_rows(a, gv, gd, 0, 2 * n)  # i, f
            _tanh_rows(a, gv, gd, 2 * n, 3 * n)  # g
            _sigmoid_rows(a, gv, gd, 3 * n, n4)  # o
            for k in range(n):
                c[k] = gv[n + k] * c_prev[k] + gv[k] * gv[2 * n + k]
            _tanh_rows(c, tc, dtc, 0, n)
            for k in range(n):
                h[k] = gv[3 * n + k] * tc[k]


@njit(parallel=True, **_BJIT)
def lstm_forward(XW, W_hhT, M, Hs, C, A, GV, GD, TC, DTC):
    """Gates i, f, g, o from A[t] = XW[t] + h_{t-1} W_hh^T; c = f c_prev + i g; h = o tanh(c).
    TC, DTC (T, B, H) = tanh(c_t), tanh'(c_t) (0 on padded steps), kept for the backward pass."""
    B = XW.shape[1]
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _lstm_forward_rows(XW, W_hhT, M, Hs, C, A, GV, GD, TC, DTC, c * B // nc, (c + 1) * B // nc)


@njit(**_BJIT)
def _lstm_backward_rows(W_hh, C, GV, GD, TC, DTC, M, INJ, DELTA, DC, G, carry, cin, back, lo, hi):
    T, _, n4 = GV.shape
    n = n4 // 4
    for t in range(T - 1, -1, -1):
        for b in range(lo, hi):
            gv, gd, da = GV[t, b], GD[t, b], G[t, b]
            dh, dc_in, dl, dc = carry[b], cin[b], DELTA[t, b], DC[t, b]
            for k in range(n):
                dl[k] = dh[k]
            if M[t, b] == 0.0:
                for k in range(n4):
                    da[k] = 0.0
                for k in range(n):
                    dc[k] = dc_in[k]
                continue
            tc, dtc, c_prev = TC[t, b], DTC[t, b], C[t, b]
            # one array written per loop: few enough runtime alias checks for LLVM to vectorise
            for k in range(n):
                dc[k] = dc_in[k] + dh[k] * gv[3 * n + k] * dtc[k]
            for k in range(n):
                da[k] = dc[k] * gv[2 * n + k] * gd[k]
            for k in range(n):
                da[n + k] = dc[k] * c_prev[k] * gd[n + k]
            for k in range(n):
                da[2 * n + k] = dc[k] * gv[k] * gd[2 * n + k]
            for k in range(n):
                da[3 * n + k] = dh[k] * tc[k] * gd[3 * n + k]
            for k in range(n):
                dc_in[k] = dc[k] * gv[n + k]
        np.dot(G[t, lo:hi], W_hh, back[lo:hi])  # (B, 4H) @ (4H, H)
        for b in range(lo, hi):
            dh, bk = carry[b], back[b]
            if M[t, b] == 0.0:
                for k in range(n):
                    bk[k] += dh[k]
            if t > 0:
                inj = INJ[t - 1, b]
                for k in range(n):
                    dh[k] = bk[k] + inj[k]
            else:
                for k in range(n):
                    dh[k] = bk[k]


@njit(parallel=True, **_BJIT)
def lstm_backward(W_hh, C, GV, GD, TC, DTC, M, INJ, dcT, DELTA, DC, G, dh0, dc0):
    """LSTM BPTT over the batch; DC (T, B, H) = dL/dc_t. dcT (B, H) is a gradient arriving at c_T
    from outside (a decoder started from this state; zeros otherwise). TC, DTC from lstm_forward.
    On a padded step both gradients pass through unchanged; elsewhere as in
    _gated_kernels._lstm_step_back."""
    T, B, _ = GV.shape
    carry = INJ[T - 1].copy()  # (B, H) dL/dh_t
    cin = dcT.copy()  # (B, H) dL/dc_t arriving from step t + 1
    back = np.empty_like(carry)
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _lstm_backward_rows(W_hh, C, GV, GD, TC, DTC, M, INJ, DELTA, DC, G, carry, cin, back,
                            c * B // nc, (c + 1) * B // nc)
    dh0[:, :] = carry
    dc0[:, :] = cin


# ---------------------------------------------------------------- GRU


@njit(**_BJIT)
def _gru_forward_rows(XW, W_hhT, b_hn, M, Hs, A, GV, GD, HN, lo, hi):
    T, _, n3 = XW.shape
    n = n3 // 3
    one = XW.dtype.type(1.0)  # a float64 literal would turn float32 arithmetic into float64
    for t in range(T):
        np.dot(Hs[t, lo:hi], W_hhT, A[t, lo:hi])
        for b in range(lo, hi):
            a, x, gv, gd, hn = A[t, b], XW[t, b], GV[t, b], GD[t, b], HN[t, b]
            h_prev, h = Hs[t, b], Hs[t + 1, b]
            for k in range(n):
                hn[k] = a[2 * n + k] + b_hn[k]
            for k in range(2 * n):
                a[k] += x[k]
            if M[t, b] == 0.0:
                for k in range(n):
                    a[2 * n + k] = x[2 * n + k]
                    h[k] = h_prev[k]
                for k in range(n3):
                    gv[k] = 0.0
                    gd[k] = 0.0
                continue
            _sigmoid_rows(a, gv, gd, 0, 2 * n)  # r, z
            for k in range(n):
                a[2 * n + k] = x[2 * n + k] + gv[k] * hn[k]
            _tanh_rows(a, gv, gd, 2 * n, n3)  # n
            for k in range(n):
                z = gv[n + k]
                h[k] = (one - z) * gv[2 * n + k] + z * h_prev[k]


@njit(parallel=True, **_BJIT)
def gru_forward(XW, W_hhT, b_hn, M, Hs, A, GV, GD, HN):
    """r, z from XW + h W_hh^T; n = tanh(XW_n + r (h W_hn^T + b_hn)); h' = (1 - z) n + z h.
    A[t] first holds h_{t-1} W_hh^T (all three blocks), then the pre-activations."""
    B = XW.shape[1]
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _gru_forward_rows(XW, W_hhT, b_hn, M, Hs, A, GV, GD, HN, c * B // nc, (c + 1) * B // nc)


@njit(**_BJIT)
def _gru_backward_rows(W_hh, Hs, GV, GD, HN, M, INJ, DELTA, GX, GH, carry, back, lo, hi):
    T, _, n3 = GV.shape
    n = n3 // 3
    one = GV.dtype.type(1.0)
    for t in range(T - 1, -1, -1):
        for b in range(lo, hi):
            gv, gd, gx, gh, hn, h_prev = GV[t, b], GD[t, b], GX[t, b], GH[t, b], HN[t, b], Hs[t, b]
            dh, dl = carry[b], DELTA[t, b]
            for k in range(n):
                dl[k] = dh[k]
            if M[t, b] == 0.0:
                for k in range(n3):
                    gx[k] = 0.0
                    gh[k] = 0.0
                continue
            for k in range(n):  # one array written per loop, as in lstm_backward
                gx[2 * n + k] = dh[k] * (one - gv[n + k]) * gd[2 * n + k]  # da_n
            for k in range(n):
                gx[n + k] = dh[k] * (h_prev[k] - gv[2 * n + k]) * gd[n + k]  # da_z
            for k in range(n):
                gx[k] = gx[2 * n + k] * hn[k] * gd[k]  # da_r
            for k in range(2 * n):
                gh[k] = gx[k]
            for k in range(n):
                gh[2 * n + k] = gx[2 * n + k] * gv[k]
        np.dot(GH[t, lo:hi], W_hh, back[lo:hi])  # (B, 3H) @ (3H, H)
        for b in range(lo, hi):
            dh, bk, gv = carry[b], back[b], GV[t, b]
            if M[t, b] != 0.0:
                for k in range(n):
                    bk[k] += gv[n + k] * dh[k]
            else:  # the copy path; a padded step copies all of it
                for k in range(n):
                    bk[k] += dh[k]
            if t > 0:
                inj = INJ[t - 1, b]
                for k in range(n):
                    dh[k] = bk[k] + inj[k]
            else:
                for k in range(n):
                    dh[k] = bk[k]


@njit(parallel=True, **_BJIT)
def gru_backward(W_hh, Hs, GV, GD, HN, M, INJ, DELTA, GX, GH, dh0):
    """GRU BPTT over the batch: GX = [da_r, da_z, da_n] (W_ih, b), GH = [da_r, da_z, r da_n] (W_hh, b_hn);
    dh_{t-1} = inj + z dh_t + GH W_hh (+ dh_t on a padded step)."""
    T, B, _ = GV.shape
    carry = INJ[T - 1].copy()  # (B, H)
    back = np.empty_like(carry)
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _gru_backward_rows(W_hh, Hs, GV, GD, HN, M, INJ, DELTA, GX, GH, carry, back, c * B // nc, (c + 1) * B // nc)
    dh0[:, :] = carry


# ---------------------------------------------------------------- weight gradients


@njit(parallel=True, **_BJIT)
def weight_grads(GX, GH, X, Hprev, dW_ih, dW_hh, db, db_h):
    """dW_ih = GX^T X, dW_hh = GH^T Hprev, db = GX summed over rows, db_h = GH summed over rows; the
    rows are the (t, b) pairs: GX, GH (N, G H), X (N, D), Hprev (N, H). The rows are split into chunks
    (at least 1024 each, by N only, as the batch is); each chunk's products and sums go into its own
    partial array, added up afterwards in chunk order."""
    N, GH_ = GX.shape
    nc = _n_chunks(N, 1024)
    P_ih = np.empty((nc,) + dW_ih.shape, dtype=dW_ih.dtype)
    P_hh = np.empty((nc,) + dW_hh.shape, dtype=dW_hh.dtype)
    P_b = np.zeros((nc, GH_), dtype=db.dtype)
    P_bh = np.zeros((nc, GH_), dtype=db.dtype)
    for c in prange(nc):
        lo, hi = c * N // nc, (c + 1) * N // nc
        np.dot(GX[lo:hi].T, X[lo:hi], P_ih[c])
        np.dot(GH[lo:hi].T, Hprev[lo:hi], P_hh[c])
        pb, pbh = P_b[c], P_bh[c]
        for r in range(lo, hi):
            gx, gh = GX[r], GH[r]
            for k in range(GH_):
                pb[k] += gx[k]
            for k in range(GH_):
                pbh[k] += gh[k]
    dW_ih[:, :] = P_ih[0]
    dW_hh[:, :] = P_hh[0]
    db[:] = P_b[0]
    db_h[:] = P_bh[0]
    for c in range(1, nc):
        dW_ih += P_ih[c]
        dW_hh += P_hh[c]
        db += P_b[c]
        db_h += P_bh[c]
