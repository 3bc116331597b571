"""Numba kernels: arrays and scalars in, arrays out. No validation here (the public functions in
rnn.py and sweep.py do that), no allocation inside the time loops.

Layout: a_t = A_in[t] + W_hh h_{t-1},  h_t = f(a_t),  d_t = f'(a_t); A_in[t] = W_hx x_t + b_h is one
matrix product computed before the loop. Index 0 holds step t = 1.

The matrix-vector products are written as sums of rows (``axpy`` form) so that the inner loop runs
over contiguous memory without a floating-point reduction: LLVM vectorises it without fastmath.
fastmath is never on: np.isfinite must keep telling the truth about overflow.
"""
from __future__ import annotations

import math

import numpy as np
from numba import config, njit, prange

from ._steps import rnn_step_back

# Every Streamlit session is a thread. numba's default "workqueue" layer aborts the process when two
# threads enter a parallel region at once; OpenMP (GNU libgomp) and TBB are safe for that.
# "threadsafe" picks whichever of them is installed.
if config.THREADING_LAYER == "default":
    config.THREADING_LAYER = "threadsafe"

# "contract" lets LLVM fuse a*b+c into one FMA instruction (one rounding instead of two); it is the
# only fast-math flag used: nnan/ninf would make np.isfinite lie about overflow.
_JIT = dict(cache=True, nogil=True, fastmath={"contract"})

# Activation codes, matching engine.activations.ACTIVATIONS[name].code
TANH, RELU, SIGMOID, LINEAR = 0, 1, 2, 3


@njit(inline="always", **_JIT)
def _tanh_d(x):
    """(tanh x, tanh'(x)), both to within a few ulp, relative, over the whole float64 range.

    Near 0 (|x| < 0.625): Cephes' rational approximation, and 1 - tanh^2 (no cancellation there).
    Beyond: with e = exp(-2|x|) <= 0.29, tanh = (1 - e)/(1 + e) and tanh' = 4e/(1 + e)^2. The usual
    1 - tanh^2 would round to exactly 0 for |x| > 19 and hide gradients far above float64's floor;
    this form keeps tanh'(200) = 1.5e-173 exact. exp(-2|x|) never overflows. One exp per element is
    also cheaper than a libm tanh call.
    """
    z = abs(x)
    if z >= 0.625:
        e = math.exp(-2.0 * z)
        r = (1.0 - e) / (1.0 + e)
        q = 1.0 + e
        return (r if x >= 0.0 else -r), 4.0 * e / (q * q)
    s = x * x
    p = (-9.64399179425052238628e-1 * s - 9.92877231001918586564e1) * s - 1.61468768441708447952e3
    q = ((s + 1.12811678491632931402e2) * s + 2.23548839060100448583e3) * s + 4.84406305325125486048e3
    v = x + x * s * (p / q)
    return v, 1.0 - v * v


@njit(inline="always", **_JIT)
def _sigmoid_d(x):
    """(sigma(x), sigma'(x)) accurate in both tails: with e = exp(-|x|) <= 1, sigma = 1/(1 + e) for
    x >= 0 and e/(1 + e) below, sigma' = e/(1 + e)^2 (symmetric), so neither underflows early nor
    loses digits to 1 - sigma."""
    e = math.exp(-abs(x))
    q = 1.0 + e
    v = 1.0 / q if x >= 0.0 else e / q
    return v, e / (q * q)


@njit(**_JIT)
def _activate(code, a, h, d):
    """h = f(a) and d = f'(a), element-wise; the branch is taken once per step, not per unit."""
    n = a.shape[0]
    if code == TANH:
        for i in range(n):
            h[i], d[i] = _tanh_d(a[i])
    elif code == RELU:
        for i in range(n):
            if a[i] > 0.0:
                h[i] = a[i]
                d[i] = 1.0
            else:
                h[i] = 0.0
                d[i] = 0.0
    elif code == SIGMOID:
        for i in range(n):
            h[i], d[i] = _sigmoid_d(a[i])
    else:  # LINEAR
        for i in range(n):
            h[i] = a[i]
            d[i] = 1.0


@njit(inline="always", **_JIT)
def _add_rows(M, v, acc):
    """acc += M^T v = sum_j v[j] * M[j]: a matrix-vector product as a weighted sum of rows.

    Rows are combined four at a time, so acc is loaded and stored once per four rows; the inner loop
    runs over contiguous memory with no reduction, which LLVM vectorises without fast-math. Rows
    with v[j] == 0 (one-hot inputs, a loss on one step only) are skipped one at a time in the tail.
    """
    n = acc.shape[0]
    m = v.shape[0]
    m4 = m - m % 4
    for j in range(0, m4, 4):
        v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
        if v0 == 0.0 and v1 == 0.0 and v2 == 0.0 and v3 == 0.0:
            continue
        r0, r1, r2, r3 = M[j], M[j + 1], M[j + 2], M[j + 3]
        for i in range(n):
            acc[i] += r0[i] * v0 + r1[i] * v1 + r2[i] * v2 + r3[i] * v3
    for j in range(m4, m):
        vj = v[j]
        if vj != 0.0:
            r = M[j]
            for i in range(n):
                acc[i] += r[i] * vj


@njit(**_JIT)
def _rnn_step(W_hxT, b_h, W_hhT, x_t, h_prev, code, acc, a, h, d):
    """One forward step: a = W_hx x_t + W_hh h_prev + b_h, h = f(a), d = f'(a).

    The weights come transposed (C-contiguous), so each product is a sum of rows weighted by the
    entries of x_t or h_prev: the inner loop is contiguous and needs no reduction. ``acc`` (H,) is
    scratch owned by the caller: accumulating where nothing can alias the weights lets LLVM vectorise.
    """
    n = acc.shape[0]
    for i in range(n):
        acc[i] = b_h[i]
    _add_rows(W_hxT, x_t, acc)  # + W_hx x_t
    _add_rows(W_hhT, h_prev, acc)  # + W_hh h_{t-1}
    for i in range(n):
        a[i] = acc[i]
    _activate(code, acc, h, d)


@njit(**_JIT)
def _rnn_step_back(W_hh, d_t, delta_t, inj_prev, acc, g_t, delta_prev):
    """One backward step.

    g_t = f'(a_t) * delta_t is dL/da_t (the gradient at the pre-activation).
    delta_{t-1} = inj_{t-1} + W_hh^T g_t: the error injected by the loss at step t-1 plus what
    flows back through the recurrent weights. W_hh^T g is the sum of rows W_hh[i] weighted by g[i].
    ``acc`` (H,) is caller-owned scratch, as in _rnn_step.
    """
    n = acc.shape[0]
    for i in range(n):
        g_t[i] = rnn_step_back(d_t[i], delta_t[i])
    for j in range(n):
        acc[j] = inj_prev[j]
    _add_rows(W_hh, g_t, acc)  # + W_hh^T g_t
    for j in range(n):
        delta_prev[j] = acc[j]


@njit(**_JIT)
def _inject(W_hy, dz_t, out):
    """out = W_hy^T dz_t: the error the loss at this step sends into h_t (zero if the loss is elsewhere)."""
    for i in range(out.shape[0]):
        out[i] = 0.0
    _add_rows(W_hy, dz_t, out)


@njit(**_JIT)
def _scaled_norm(v):
    """Euclidean norm scaled by max|v|, so 1e-200 does not underflow to 0 and 1e200 does not
    overflow when squared. inf if an entry is infinite, nan if one is nan."""
    m = 0.0
    for i in range(v.shape[0]):
        a = abs(v[i])
        if not (a <= m):  # also true for nan, which then propagates
            m = a
    if m == 0.0 or not np.isfinite(m):
        return m
    s = 0.0
    for i in range(v.shape[0]):
        r = v[i] / m
        s += r * r
    return m * np.sqrt(s)


@njit(**_JIT)
def _row_finite(v):
    for i in range(v.shape[0]):
        if not np.isfinite(v[i]):
            return False
    return True


@njit(**_JIT)
def forward_seq(W_hxT, b_h, W_hhT, X, h0, code, A, Hs, D):
    """Run the recurrence over all steps. X (T, D) inputs; A, Hs, D (T, H) outputs (pre-activation,
    state, f'). Returns the index of the first step whose state is not finite, or -1."""
    T = X.shape[0]
    n = h0.shape[0]
    acc = np.empty(n)  # (H,) scratch, allocated once per sequence
    _rnn_step(W_hxT, b_h, W_hhT, X[0], h0, code, acc, A[0], Hs[0], D[0])
    for t in range(1, T):
        _rnn_step(W_hxT, b_h, W_hhT, X[t], Hs[t - 1], code, acc, A[t], Hs[t], D[t])
    for t in range(T):
        if not (_row_finite(A[t]) and _row_finite(Hs[t])):
            return t
    return -1


@njit(**_JIT)
def backward_seq(W_hh, W_hy, D, dZ, DELTA, G, delta_norm, g_norm):
    """BPTT recursion from the last step to the first.

    dZ (T, O) = dL/dz_t at the logits (zero rows where the loss does not look); the error injected
    into h_t is W_hy^T dz_t. DELTA[t] = total dL/dh_t, G[t] = dL/da_t, and their row norms. The
    weight gradients are single matrix products over G, done by the caller. Returns the step where
    the gradient first stops being finite, in the order the backward pass meets steps (the largest
    such index), or -1.
    """
    T = D.shape[0]
    n = D.shape[1]
    acc = np.empty(n)  # (H,) scratch
    inj = np.empty(n)  # (H,) scratch
    _inject(W_hy, dZ[T - 1], DELTA[T - 1])
    for t in range(T - 1, 0, -1):
        _inject(W_hy, dZ[t - 1], inj)
        _rnn_step_back(W_hh, D[t], DELTA[t], inj, acc, G[t], DELTA[t - 1])
    for i in range(n):
        G[0, i] = rnn_step_back(D[0, i], DELTA[0, i])
    bad = -1
    for t in range(T - 1, -1, -1):
        delta_norm[t] = _scaled_norm(DELTA[t])
        g_norm[t] = _scaled_norm(G[t])
        if bad < 0 and not np.isfinite(delta_norm[t]):
            bad = t
    return bad


@njit(**_JIT)
def row_norms(X, out):
    """_scaled_norm of every row of X (T, n) into out (T,)."""
    for t in range(X.shape[0]):
        out[t] = _scaled_norm(X[t])


@njit(**_JIT)
def _log_norm_renorm(v):
    """Normalise v in place; return the log of its former norm (-inf if it was 0, nan if not finite)."""
    r = _scaled_norm(v)
    if r == 0.0:
        return -np.inf
    if not np.isfinite(r):
        return np.nan
    for i in range(v.shape[0]):
        v[i] /= r
    return np.log(r)


@njit(parallel=True, **_JIT)
def sweep_kernel(W_base, scale, W_hx, X, W_hy, code, out, status):
    """Gradient-decay sweep over (rho, seed) pairs, in parallel.

    W_base (S, H, H): one base W_hh per seed; scale (R * S,): scale[r * S + s] * W_base[s] is the
    W_hh of pair (r, s), so every seed keeps its matrix and only its spectral radius moves with r.
    W_hx (S, H, D), X (S, T, D),
    W_hy (S, O, H). Loss = 0.5 ||y_T||^2 on the last step (target 0), so dL/dh_T = W_hy^T W_hy h_T.
    out (R*S, T): log10(||dL/dh_t|| / ||dL/dh_T||). The backward vector is renormalised every step
    and its log norm accumulated, so ratios like 1e-600 are exact instead of underflowing.
    A non-finite forward state marks the whole row nan and status[k] = 1 (overflow). A dead network,
    whose final state gives dL/dh_T = 0 exactly (relu units all off), has no ratio to take: its row
    is -inf and status[k] = 2. Otherwise status[k] = 0.
    """
    S, n, _ = W_base.shape
    T = X.shape[1]
    O = W_hy.shape[1]
    RS = out.shape[0]
    ln10 = np.log(10.0)
    for k in prange(RS):
        s = k % S
        c = scale[k]
        WT = np.empty((n, n))  # (H, H) scaled W_hh transposed
        W = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                W[i, j] = c * W_base[s, i, j]
                WT[j, i] = W[i, j]
        a = np.empty(n)
        acc = np.empty(n)
        b0 = np.zeros(n)
        WxT = np.ascontiguousarray(W_hx[s].T)  # (D, H)
        Hs = np.empty((T, n))
        Dd = np.empty((T, n))
        h_prev = np.zeros(n)
        finite = True
        for t in range(T):
            _rnn_step(WxT, b0, WT, X[s, t], h_prev, code, acc, a, Hs[t], Dd[t])
            h_prev = Hs[t]
            # check the pre-activation too: relu maps a nan pre-activation to 0 and would hide it
            if not (_row_finite(a) and _row_finite(Hs[t])):
                finite = False
                break
        status[k] = 0
        if not finite:
            status[k] = 1
            for t in range(T):
                out[k, t] = np.nan
            continue
        # delta_T = W_hy^T (W_hy h_T)
        y = np.zeros(O)
        for o in range(O):
            u = 0.0
            for i in range(n):
                u += W_hy[s, o, i] * Hs[T - 1, i]
            y[o] = u
        v = np.empty(n)
        _inject(W_hy[s], y, v)  # W_hy^T y
        logn = _log_norm_renorm(v)
        if not np.isfinite(logn):
            dead = logn == -np.inf
            status[k] = 2 if dead else 1
            for t in range(T):
                out[k, t] = -np.inf if dead else np.nan
            continue
        out[k, T - 1] = 0.0
        total = 0.0
        g = np.empty(n)
        zero = np.zeros(n)
        nxt = np.empty(n)
        for t in range(T - 1, 0, -1):
            _rnn_step_back(W, Dd[t], v, zero, acc, g, nxt)
            ln = _log_norm_renorm(nxt)
            total += ln
            if np.isfinite(total):
                out[k, t - 1] = total / ln10
                for i in range(n):
                    v[i] = nxt[i]
            else:
                for q in range(t):
                    out[k, q] = total / ln10 if total == -np.inf else np.nan
                break


@njit(**_JIT)
def lyapunov_kernel(W, h0, v0, steps, burn_in):
    """Largest Lyapunov exponent of h_{t+1} = tanh(W h_t): grow a tangent vector with the Jacobian
    diag(1 - h_{t+1}^2) W, renormalise every step, average the log growth after burn_in steps."""
    n = W.shape[0]
    WT = np.ascontiguousarray(W.T)
    h = h0.copy()
    v = v0.copy()
    a = np.empty(n)
    hn = np.empty(n)
    d = np.empty(n)
    zero = np.zeros(n)
    zx = np.zeros((1, n))  # no input: a (1, H) zero W_hx^T and a zero x_t
    x0 = np.zeros(1)
    w = np.empty(n)
    total = 0.0
    _log_norm_renorm(v)
    for t in range(steps + burn_in):
        _rnn_step(zx, zero, WT, x0, h, TANH, w, a, hn, d)
        # w = d * (W v): W v as rows of WT weighted by v
        for i in range(n):
            w[i] = 0.0
        _add_rows(WT, v, w)  # w = W v
        for i in range(n):
            w[i] *= d[i]
            h[i] = hn[i]
        ln = _log_norm_renorm(w)
        for i in range(n):
            v[i] = w[i]
        if t >= burn_in:
            total += ln
    return total / steps
