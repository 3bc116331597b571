"""Row helpers of the batched kernels (_batch_kernels.py): how a batch is cut into chunks, activations
over whole rows, the products that make a step's pre-activations, and the gradient carried from one
step back to the one before. All inlined into the kernels that call them.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _JIT, RELU, SIGMOID, TANH
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


# ---------------------------------------------------------------- products and gradients of a step


SMALL_D = 8  # up to this many inputs, x_t W_ih^T is a few axpy loops rather than one BLAS call a step


@njit(inline="always", **_BJIT)
def _input_part(X, W_ihT, t, lo, hi, xw):
    """xw = x_t W_ih^T for rows [lo, hi) (xw (rows, G H) scratch)."""
    D = X.shape[2]
    if D > SMALL_D:
        np.dot(X[t, lo:hi], W_ihT, xw)
        return
    w0 = W_ihT[0]
    m = w0.shape[0]
    for r in range(hi - lo):
        x, out = X[t, lo + r], xw[r]
        v = x[0]
        for k in range(m):
            out[k] = v * w0[k]
        for d in range(1, D):
            v, w = x[d], W_ihT[d]
            for k in range(m):
                out[k] += v * w[k]


@njit(inline="always", **_BJIT)
def _pre_activations(X, W_ihT, bias, W_hhT, Hs, t, lo, hi, xw, a):
    """a = h_{t-1} W_hh^T + (x_t W_ih^T + b) for rows [lo, hi): two products into the chunk's (rows, G H)
    scratch rows; the bias is added to the input part first, as one XW = X W_ih^T + b would be."""
    _input_part(X, W_ihT, t, lo, hi, xw)
    np.dot(Hs[t, lo:hi], W_hhT, a)
    m = bias.shape[0]
    for r in range(hi - lo):
        ar, xr = a[r], xw[r]
        for k in range(m):
            ar[k] += xr[k] + bias[k]


@njit(inline="always", **_BJIT)
def _add_inject(dz, W_hy, out):
    """out += dz W_hy: the gradient the loss at this step sends into h (a sum of rows of W_hy, O small;
    nothing to add where the loss does not look, dz = 0)."""
    for o in range(dz.shape[0]):
        v = dz[o]
        if v != 0.0:
            w = W_hy[o]
            for k in range(out.shape[0]):
                out[k] += v * w[k]


@njit(inline="always", **_BJIT)
def _carry_in(dZ, W_hy, dh_T, carry, lo, hi):
    """The gradient arriving at h_T of rows [lo, hi): the loss at the last step plus dh_T from outside."""
    T = dZ.shape[0]
    for b in range(lo, hi):
        cr = carry[b]
        for k in range(cr.shape[0]):
            cr[k] = dh_T[b, k]
        _add_inject(dZ[T - 1, b], W_hy, cr)


@njit(inline="always", **_BJIT)
def _carry_back(dZ, W_hy, M, t, carry, back, lo, hi):
    """carry = dL/dh_{t-1} of rows [lo, hi) from back = what reaches h_{t-1} through W_hh: a padded step
    adds dL/dh_t unchanged (it copied the state), and the loss at step t - 1 adds its own gradient."""
    for b in range(lo, hi):
        cr, bk = carry[b], back[b]
        if M[t, b] == 0.0:
            for i in range(cr.shape[0]):
                bk[i] += cr[i]
        for i in range(cr.shape[0]):
            cr[i] = bk[i]
        if t > 0:
            _add_inject(dZ[t - 1, b], W_hy, cr)
