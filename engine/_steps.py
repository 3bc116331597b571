"""The element-wise step of each cell, forward and back, written once for the per-sequence kernels
(_kernels.py, _gated_kernels.py) and the batched ones (_batch_kernels.py).

Each function works on one unit: gate values already activated (and their derivatives, in the
backward steps) and the previous state in, the new state (or the gradients) out. They are inlined
into the caller's loop (``inline="always"``: numba splices the body into the caller before typing),
so the loop compiles as if the arithmetic were written there: a batched row loop still vectorises,
and each path keeps its own activation functions (exact libm-free scalars per sequence, _vmath's
branch-free ones on whole rows in the batch). The operations run in one fixed order, so both paths
round identically. ``one`` is 1 in the caller's float type (a float64 literal would turn float32
arithmetic into float64).

Argument order matters for the last bit: callers pass the array entries in the order the arithmetic
first reads them (as lstm_cell(f, c_prev, i, g) for f * c_prev + i * g). LLVM ranks the loads by
their position when it orders the operands of an addition, and that order decides which product FMA
contraction fuses into it; loading in another order can move a result by one rounding.
"""
from __future__ import annotations

from numba import njit

# Inlined into the caller's numba IR, whose flags then govern the compiled code; these match _kernels._JIT
# (FMA contraction only) for a direct call.
_STEP = dict(inline="always", nogil=True, fastmath={"contract"})

# ---------------------------------------------------------------- vanilla RNN


@njit(**_STEP)
def rnn_step_back(fprime, dh):
    """dL/da_t = f'(a_t) * dL/dh_t: the gradient at the pre-activation."""
    return fprime * dh


# ---------------------------------------------------------------- LSTM


@njit(**_STEP)
def lstm_cell(f, c_prev, i, g):
    """c_t = f * c_{t-1} + i * g: keep part of the old cell, write part of the candidate."""
    return f * c_prev + i * g


@njit(**_STEP)
def lstm_hidden(o, tc):
    """h_t = o * tanh(c_t): the output gate shows part of the squashed cell."""
    return o * tc


@njit(**_STEP)
def lstm_dc(dc_in, dh, o, dtc):
    """dL/dc_t = dc_in + dh * o * tanh'(c_t): what reaches c_t from step t + 1 (dc_in) plus what
    comes through h_t = o * tanh(c_t) (dh = dL/dh_t)."""
    return dc_in + dh * o * dtc


@njit(**_STEP)
def lstm_step_back(dc, dh, i, f, g, c_prev, tc, gd_i, gd_f, gd_g, gd_o):
    """The rest of one unit of an LSTM step back, from dc = lstm_dc(...): (da_i, da_f, da_g, da_o,
    dc_prev). Each gate's pre-activation gradient is (dL/d gate) * gate' (gd_* the gates'
    derivatives at their pre-activations); along the cell path the gradient is only multiplied by
    f_t (dc_prev = f * dc): no W_hh, no squashing derivative.
    """
    return dc * g * gd_i, dc * c_prev * gd_f, dc * i * gd_g, dh * tc * gd_o, dc * f


# ---------------------------------------------------------------- GRU


@njit(**_STEP)
def gru_hidden(z, cand, h_prev, one):
    """h_t = (1 - z) * n + z * h_{t-1}: z near 1 copies the state forward."""
    return (one - z) * cand + z * h_prev


@njit(**_STEP)
def gru_step_back(dh, r, z, cand, h_prev, hn, gd_r, gd_z, gd_n, one):
    """One unit of a GRU step back: (da_r, da_z, da_n) at the pre-activations, and r * da_n, what
    W_hn sees (r multiplies W_hn h_{t-1} + b_hn). hn = W_hn h_{t-1} + b_hn from the forward pass."""
    da_n = dh * (one - z) * gd_n
    da_z = dh * (h_prev - cand) * gd_z
    da_r = da_n * hn * gd_r
    return da_r, da_z, da_n, da_n * r
