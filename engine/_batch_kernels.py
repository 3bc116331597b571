"""Batched kernels for training: a minibatch of B padded sequences moves through time together.

Every product of a step is one BLAS call on 2-D arrays (np.dot with an output array), so the batch
never loops in Python; the element-wise work of each cell runs in numba loops. The kernels are
generic in the float type: float64 (exact) and float32 (fast) compile separately from the same code.

Layout (time first): X (T, B, D) inputs; the pre-activations of a step, x_t W_ih^T + b + h_{t-1} W_hh^T
(G H per row), live in a scratch block of the chunk (see Threads) and are not kept; Hs (T + 1, B, H)
with Hs[0] = h_0 (and C likewise for the LSTM); M (T, B) is 1 where step t
of sequence b is real and 0 in the padding. A padded step copies the state unchanged, so a sequence's
final state is its state at its own last step, and in the backward pass the gradient passes a padded
step untouched.

Backward kernels receive dZ (T, B, O) = dL/dz_t at the logits and the read-out W_hy (O, H): the loss
sends dZ[t] W_hy straight into h_t (computed on the way, zero rows skipped), plus dh_T (B, H) arriving
at the final state from outside. They return DELTA (T, B, H) = total dL/dh_t, the gradients at the gate pre-activations (GX as W_ih and b see them,
GH as W_hh sees them; the same array except for the GRU), and the gradient reaching the initial state.

Speed: the element-wise work of a step runs as simple loops over contiguous rows that LLVM turns into
SIMD code: sigma and tanh come from _vmath (branch-free, no libm call), and these kernels use numpy's
error model (a float division by zero gives inf or nan instead of a raised ZeroDivisionError, whose
check in every iteration would keep the loop scalar; an overflow is still data, found by np.isfinite
afterwards). The LSTM keeps tanh(c_t) and tanh'(c_t) from the forward pass for the backward one.

Shared with the per-sequence kernels (_kernels.py, _gated_kernels.py): each cell's element-wise step
(_steps.py), inlined into the row loops. Written twice, and why: the activations (exact scalar sigma
and tanh per sequence, _vmath's on whole rows here); the products (sums of rows per sequence, one BLAS
call per chunk and step here) and so the GRU's copy path z * dL/dh_t, added before W_hh^T da per
sequence and after it here (sharing that line would reorder a sum and change the last bit of one
path); the padded steps, which exist only here. The LSTM and GRU backward write one gradient block
per loop, each loop keeping one result of the shared step (the others are dropped and never computed):
one loop writing them all vectorises worse (the LSTM's by about 40%).
engine/jacobians.py builds the Jacobians from the same gate values in numpy, grouping the products
in its own order; it is not a numba kernel and shares no step.

Threads: the sequences of a batch are independent of each other through time, forward and back, so
each public kernel splits the batch into chunks of rows (at least CHUNK_ROWS each, see _n_chunks) and
runs them in a prange: one parallel region per pass, no synchronisation between steps. The chunks
depend only on B, not on the number of threads, so results are bit-identical whatever
NUMBA_NUM_THREADS is (with one thread the chunks run one after the other). The products stay
single-threaded BLAS calls (engine/_blas.py limits BLAS to one thread), one per chunk and step.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._batch_rows import (
    _BJIT,
    CHUNK_ROWS,
    MAX_CHUNKS,  # noqa: F401  (kept as a name of this module)
    SMALL_D,
    _activate_rows,
    _carry_back,
    _carry_in,
    _input_part,
    _n_chunks,
    _pre_activations,
    _sigmoid_rows,
    _tanh_rows,
)
from ._steps import gru_hidden, gru_step_back, lstm_cell, lstm_dc, lstm_hidden, lstm_step_back, rnn_step_back

# ---------------------------------------------------------------- vanilla RNN


@njit(**_BJIT)
def _rnn_forward_rows(X, W_ihT, bias, W_hhT, code, M, Hs, Dp, lo, hi):
    n = Hs.shape[2]
    a = np.empty((hi - lo, n), dtype=Hs.dtype)  # (rows, H) scratch: this step's pre-activations
    xw = np.empty_like(a)
    for t in range(X.shape[0]):
        _pre_activations(X, W_ihT, bias, W_hhT, Hs, t, lo, hi, xw, a)
        for b in range(lo, hi):
            _activate_rows(code, a[b - lo], Hs[t + 1, b], Dp[t, b])
            if M[t, b] == 0.0:
                for i in range(n):
                    Hs[t + 1, b, i] = Hs[t, b, i]
                    Dp[t, b, i] = 0.0


@njit(parallel=True, **_BJIT)
def rnn_forward(X, W_ihT, bias, W_hhT, code, M, Hs, Dp):
    """a_t = x_t W_ih^T + b + h_{t-1} W_hh^T, h_t = f(a_t), Dp = f'(a_t) (0 on padded steps)."""
    B = X.shape[1]
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _rnn_forward_rows(X, W_ihT, bias, W_hhT, code, M, Hs, Dp, c * B // nc, (c + 1) * B // nc)


@njit(**_BJIT)
def _rnn_backward_rows(W_hh, Dp, M, dZ, W_hy, dh_T, DELTA, G, carry, back, lo, hi):
    T, _, n = Dp.shape
    _carry_in(dZ, W_hy, dh_T, carry, lo, hi)
    for t in range(T - 1, -1, -1):
        for b in range(lo, hi):
            dl, g, dp, cr = DELTA[t, b], G[t, b], Dp[t, b], carry[b]
            for i in range(n):
                dl[i] = cr[i]
                g[i] = rnn_step_back(dp[i], cr[i])
        np.dot(G[t, lo:hi], W_hh, back[lo:hi])  # (B, H) @ (H, H)
        _carry_back(dZ, W_hy, M, t, carry, back, lo, hi)


@njit(parallel=True, **_BJIT)
def rnn_backward(W_hh, Dp, M, dZ, W_hy, dh_T, DELTA, G, dh0):
    """g_t = f'(a_t) * delta_t; delta_{t-1} = inj_{t-1} + g_t W_hh (+ delta_t on a padded step), with
    inj_t = dZ[t] W_hy the loss's own gradient into h_t, and dh_T (B, H) arriving at h_T from outside."""
    T, B, n = Dp.shape
    carry = np.empty((B, n), dtype=Dp.dtype)  # (B, H) dL/dh_t
    back = np.empty_like(carry)
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _rnn_backward_rows(W_hh, Dp, M, dZ, W_hy, dh_T, DELTA, G, carry, back, c * B // nc, (c + 1) * B // nc)
    dh0[:, :] = carry


# ---------------------------------------------------------------- LSTM


@njit(**_BJIT)
def _lstm_forward_rows(X, W_ihT, bias, W_hhT, M, Hs, C, GV, GD, TC, DTC, lo, hi):
    T, _, n4 = GV.shape
    n = n4 // 4
    a_ = np.empty((hi - lo, n4), dtype=GV.dtype)  # (rows, 4H) scratch: this step's pre-activations
    xw = np.empty_like(a_)
    for t in range(T):
        _pre_activations(X, W_ihT, bias, W_hhT, Hs, t, lo, hi, xw, a_)
        for b in range(lo, hi):
            a, gv, gd = a_[b - lo], GV[t, b], GD[t, b]
            c_prev, c, h_prev, h = C[t, b], C[t + 1, b], Hs[t, b], Hs[t + 1, b]
            tc, dtc = TC[t, b], DTC[t, b]
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
                c[k] = lstm_cell(gv[n + k], c_prev[k], gv[k], gv[2 * n + k])
            _tanh_rows(c, tc, dtc, 0, n)
            for k in range(n):
                h[k] = lstm_hidden(gv[3 * n + k], tc[k])


@njit(parallel=True, **_BJIT)
def lstm_forward(X, W_ihT, bias, W_hhT, M, Hs, C, GV, GD, TC, DTC):
    """Gates i, f, g, o from a_t = x_t W_ih^T + b + h_{t-1} W_hh^T; c = f c_prev + i g; h = o tanh(c).
    TC, DTC (T, B, H) = tanh(c_t), tanh'(c_t) (0 on padded steps), kept for the backward pass."""
    B = X.shape[1]
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _lstm_forward_rows(X, W_ihT, bias, W_hhT, M, Hs, C, GV, GD, TC, DTC, c * B // nc, (c + 1) * B // nc)


@njit(inline="always", **_BJIT)
def _lstm_back(dc, dh, gv, gd, c_prev, tc, n, k):
    """_steps.lstm_step_back for unit k of one row."""
    return lstm_step_back(dc[k], dh[k], gv[k], gv[n + k], gv[2 * n + k], c_prev[k], tc[k],
                          gd[k], gd[n + k], gd[2 * n + k], gd[3 * n + k])


@njit(**_BJIT)
def _lstm_backward_rows(W_hh, C, GV, GD, TC, DTC, M, dZ, W_hy, dh_T, DELTA, G, carry, cin, back, lo, hi):
    T, _, n4 = GV.shape
    n = n4 // 4
    dc = np.empty(n, dtype=GV.dtype)  # (H,) scratch: dL/dc_t of one row
    _carry_in(dZ, W_hy, dh_T, carry, lo, hi)
    for t in range(T - 1, -1, -1):
        for b in range(lo, hi):
            gv, gd, da = GV[t, b], GD[t, b], G[t, b]
            dh, dc_in, dl = carry[b], cin[b], DELTA[t, b]
            for k in range(n):
                dl[k] = dh[k]
            if M[t, b] == 0.0:  # dL/dc passes unchanged
                for k in range(n4):
                    da[k] = 0.0
                continue
            tc, dtc, c_prev = TC[t, b], DTC[t, b], C[t, b]
            for k in range(n):
                dc[k] = lstm_dc(dc_in[k], dh[k], gv[3 * n + k], dtc[k])
            # one array written per loop (the step's other results are dropped and never computed):
            # few enough runtime alias checks for LLVM to vectorise; one loop writing all five does not
            for k in range(n):
                da[k] = _lstm_back(dc, dh, gv, gd, c_prev, tc, n, k)[0]
            for k in range(n):
                da[n + k] = _lstm_back(dc, dh, gv, gd, c_prev, tc, n, k)[1]
            for k in range(n):
                da[2 * n + k] = _lstm_back(dc, dh, gv, gd, c_prev, tc, n, k)[2]
            for k in range(n):
                da[3 * n + k] = _lstm_back(dc, dh, gv, gd, c_prev, tc, n, k)[3]
            for k in range(n):
                dc_in[k] = _lstm_back(dc, dh, gv, gd, c_prev, tc, n, k)[4]
        np.dot(G[t, lo:hi], W_hh, back[lo:hi])  # (B, 4H) @ (4H, H)
        _carry_back(dZ, W_hy, M, t, carry, back, lo, hi)


@njit(parallel=True, **_BJIT)
def lstm_backward(W_hh, C, GV, GD, TC, DTC, M, dZ, W_hy, dh_T, dcT, DELTA, G, dh0, dc0):
    """LSTM BPTT over the batch. dZ, W_hy, dh_T as in rnn_backward; dcT (B, H) is a gradient arriving
    at c_T from outside (a decoder started from this state; zeros otherwise). TC, DTC from
    lstm_forward. On a padded step both gradients pass through unchanged; elsewhere as in
    _gated_kernels._lstm_step_back."""
    T, B, n4 = GV.shape
    carry = np.empty((B, n4 // 4), dtype=GV.dtype)  # (B, H) dL/dh_t
    cin = dcT.copy()  # (B, H) dL/dc_t arriving from step t + 1
    back = np.empty_like(carry)
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _lstm_backward_rows(W_hh, C, GV, GD, TC, DTC, M, dZ, W_hy, dh_T, DELTA, G, carry, cin, back,
                            c * B // nc, (c + 1) * B // nc)
    dh0[:, :] = carry
    dc0[:, :] = cin


# ---------------------------------------------------------------- GRU


@njit(**_BJIT)
def _gru_forward_rows(X, W_ihT, bias, W_hhT, b_hn, M, Hs, GV, GD, HN, lo, hi):
    T, _, n3 = GV.shape
    n = n3 // 3
    one = GV.dtype.type(1.0)  # a float64 literal would turn float32 arithmetic into float64
    a_ = np.empty((hi - lo, n3), dtype=GV.dtype)  # (rows, 3H) scratch: h_{t-1} W_hh^T, then pre-activations
    xw_ = np.empty_like(a_)  # (rows, 3H) scratch: x_t W_ih^T + b
    for t in range(T):
        _input_part(X, W_ihT, t, lo, hi, xw_)
        np.dot(Hs[t, lo:hi], W_hhT, a_)
        for b in range(lo, hi):
            a, x, gv, gd, hn = a_[b - lo], xw_[b - lo], GV[t, b], GD[t, b], HN[t, b]
            h_prev, h = Hs[t, b], Hs[t + 1, b]
            for k in range(n3):
                x[k] += bias[k]
            for k in range(n):
                hn[k] = a[2 * n + k] + b_hn[k]
            for k in range(2 * n):
                a[k] += x[k]
            if M[t, b] == 0.0:
                for k in range(n):
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
                h[k] = gru_hidden(gv[n + k], gv[2 * n + k], h_prev[k], one)


@njit(parallel=True, **_BJIT)
def gru_forward(X, W_ihT, bias, W_hhT, b_hn, M, Hs, GV, GD, HN):
    """r, z from XW + h W_hh^T with XW = x W_ih^T + b; n = tanh(XW_n + r (h W_hn^T + b_hn));
    h' = (1 - z) n + z h. HN (T, B, H) = h W_hn^T + b_hn, kept for the backward pass."""
    B = X.shape[1]
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _gru_forward_rows(X, W_ihT, bias, W_hhT, b_hn, M, Hs, GV, GD, HN, c * B // nc, (c + 1) * B // nc)


@njit(inline="always", **_BJIT)
def _gru_back(dh, gv, gd, hn, h_prev, one, n, k):
    """_steps.gru_step_back for unit k of one row."""
    return gru_step_back(dh[k], gv[k], gv[n + k], gv[2 * n + k], h_prev[k], hn[k], gd[k], gd[n + k], gd[2 * n + k], one)


@njit(**_BJIT)
def _gru_backward_rows(W_hh, Hs, GV, GD, HN, M, dZ, W_hy, dh_T, DELTA, GX, GH, carry, back, lo, hi):
    T, _, n3 = GV.shape
    n = n3 // 3
    one = GV.dtype.type(1.0)
    _carry_in(dZ, W_hy, dh_T, carry, lo, hi)
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
            for k in range(n):  # one array block written per loop, as in lstm_backward
                gx[2 * n + k] = _gru_back(dh, gv, gd, hn, h_prev, one, n, k)[2]  # da_n
            for k in range(n):
                gx[n + k] = _gru_back(dh, gv, gd, hn, h_prev, one, n, k)[1]  # da_z
            for k in range(n):
                gx[k] = _gru_back(dh, gv, gd, hn, h_prev, one, n, k)[0]  # da_r
            for k in range(2 * n):
                gh[k] = gx[k]
            for k in range(n):
                gh[2 * n + k] = _gru_back(dh, gv, gd, hn, h_prev, one, n, k)[3]  # r da_n
        np.dot(GH[t, lo:hi], W_hh, back[lo:hi])  # (B, 3H) @ (3H, H)
        for b in range(lo, hi):
            if M[t, b] != 0.0:  # the copy path (a padded step copies all of it: _carry_back)
                dh, bk, gv = carry[b], back[b], GV[t, b]
                for k in range(n):
                    bk[k] += gv[n + k] * dh[k]
        _carry_back(dZ, W_hy, M, t, carry, back, lo, hi)


@njit(parallel=True, **_BJIT)
def gru_backward(W_hh, Hs, GV, GD, HN, M, dZ, W_hy, dh_T, DELTA, GX, GH, dh0):
    """GRU BPTT over the batch: GX = [da_r, da_z, da_n] (W_ih, b), GH = [da_r, da_z, r da_n] (W_hh, b_hn);
    dh_{t-1} = inj + z dh_t + GH W_hh (+ dh_t on a padded step); dZ, W_hy, dh_T as in rnn_backward."""
    T, B, n3 = GV.shape
    carry = np.empty((B, n3 // 3), dtype=GV.dtype)  # (B, H)
    back = np.empty_like(carry)
    nc = _n_chunks(B, CHUNK_ROWS)
    for c in prange(nc):
        _gru_backward_rows(W_hh, Hs, GV, GD, HN, M, dZ, W_hy, dh_T, DELTA, GX, GH, carry, back,
                           c * B // nc, (c + 1) * B // nc)
    dh0[:, :] = carry


# ---------------------------------------------------------------- weight gradients


@njit(parallel=True, **_BJIT)
def weight_grads(GX, GH, same, X, Hprev, dW_ih, dW_hh, db, db_h):
    """dW_ih = GX^T X, dW_hh = GH^T Hprev, db = GX summed over rows, db_h = GH summed over rows (a copy
    of db when ``same``: GH is GX); the rows are the (t, b) pairs: GX, GH (N, G H), X (N, D),
    Hprev (N, H). The rows are split into chunks (at least 1024 each, by N only, as the batch is);
    each chunk's products and sums go into its own partial array, added up afterwards in chunk order.
    With few inputs (D <= SMALL_D) dW_ih and db come from one pass over GX (dW_ih^T accumulated
    row by row: contiguous loops, no reduction)."""
    N, G = GX.shape
    D = X.shape[1]
    small = D <= SMALL_D
    nc = _n_chunks(N, 1024)
    P_ih = np.zeros((nc, G, D), dtype=dW_ih.dtype)
    P_ihT = np.zeros((nc, D, G), dtype=dW_ih.dtype)
    P_hh = np.empty((nc,) + dW_hh.shape, dtype=dW_hh.dtype)
    P_b = np.zeros((nc, G), dtype=db.dtype)
    P_bh = np.zeros((nc, G), dtype=db.dtype)
    for c in prange(nc):
        lo, hi = c * N // nc, (c + 1) * N // nc
        if not small:
            np.dot(GX[lo:hi].T, X[lo:hi], P_ih[c])
        np.dot(GH[lo:hi].T, Hprev[lo:hi], P_hh[c])
        pb, pbh, pt = P_b[c], P_bh[c], P_ihT[c]
        for r in range(lo, hi):
            gx, gh = GX[r], GH[r]
            for k in range(G):
                pb[k] += gx[k]
            if small:
                for d in range(D):
                    v, out = X[r, d], pt[d]
                    for k in range(G):
                        out[k] += v * gx[k]
            if not same:
                for k in range(G):
                    pbh[k] += gh[k]
    for c in range(nc):
        if small:
            for d in range(D):
                for k in range(G):
                    P_ih[c, k, d] = P_ihT[c, d, k]
        if c == 0:
            dW_ih[:, :] = P_ih[0]
            dW_hh[:, :] = P_hh[0]
            db[:] = P_b[0]
            db_h[:] = P_bh[0]
        else:
            dW_ih += P_ih[c]
            dW_hh += P_hh[c]
            db += P_b[c]
            db_h += P_bh[c]
    if same:
        db_h[:] = db


@njit(parallel=True, **_BJIT)
def step_norms(DELTA, out):
    """out[t] = Frobenius norm of DELTA[t] (B, H), squares summed in float64 (per column first, so
    the loop has no reduction and vectorises; then over the columns)."""
    T, B, n = DELTA.shape
    for t in prange(T):
        acc = np.zeros(n)
        for b in range(B):
            r = DELTA[t, b]
            for k in range(n):
                v = np.float64(r[k])
                acc[k] += v * v
        s = 0.0
        for k in range(n):
            s += acc[k]
        out[t] = np.sqrt(s)
