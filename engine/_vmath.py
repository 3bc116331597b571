"""Element-wise maths that LLVM can vectorise: exp, and sigma and tanh with their derivatives, in
float32 and float64.

Why: numba here has no SVML, so ``math.exp`` in a loop is one libm call per element, and that call
stops LLVM from vectorising the loop around it. The functions below are branch-free (only arithmetic,
integer bit operations and selects), so a loop over contiguous arrays that calls them compiles to
SIMD code. Each name dispatches on the float type (``numba.extending.overload``): float32 arguments
are computed in float32 all the way (a float64 literal would silently promote them), float64 ones in
float64. Call them from jitted code only.

exp (Cody-Waite): x = k ln2 + r with |r| <= ln2 / 2 (ln2 split in a high part whose product with k is
exact and a low part); e^r by a polynomial; 2^k built from its exponent bits. 2^k is applied as two
factors 2^(k//2) 2^(k - k//2), each a normal number, so results down in the subnormal range are
rounded once, as a library exp would; below the smallest subnormal they are 0, above the largest
float inf. float64: the Taylor polynomial of degree 13 (truncation < 5e-18); float32: Cephes'
minimax polynomial of degree 7 (as in expf). Measured against the long-double exp (tests/test_vmath.py):
max error 1 ulp in float64 over [-745, 709], 1 ulp in float32 over [-103, 88], beyond that in the
subnormal range the error of one rounding.

NaN in gives NaN out everywhere (overflow must be reported, never hidden: see DESIGN.md).
"""
from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import intrinsic, overload

# ---------------------------------------------------------------- bits to float


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret an int64 as a float64 (int32 as float32): an LLVM bitcast, which vectorises."""
    ret = {types.int64: types.float64, types.int32: types.float32}.get(bits)
    if ret is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(ret))

    return ret(bits), codegen


@intrinsic
def _select(typingctx, cond, a, b):
    """a if cond else b, as one LLVM select: no branch for LLVM to remove before it can vectorise, and
    no conditional expression for numba to inline (its SSA pass warns on inlined ones)."""
    if not isinstance(cond, types.Boolean) or a != b:
        return None

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return a(cond, a, b), codegen


# ---------------------------------------------------------------- constants

# float64: ln2 = _LN2_HI + _LN2_LO, _LN2_HI with its low 32 bits zero (fdlibm), so k * _LN2_HI is exact
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SHIFT = 6755399441055744.0  # 1.5 * 2^52: (y + _SHIFT) - _SHIFT rounds y to an integer
_LO, _HI = -746.0, 710.0  # exp(-746) rounds to 0, exp(710) overflows: clamping there changes nothing
# Taylor coefficients 1/(j + 1)! of q(r), e^r = 1 + r q(r)
_Q = tuple(1.0 / math.factorial(j + 1) for j in range(13))

f4 = np.float32
# float32 (Cephes expf): ln2 = _LN2_HI32 + _LN2_LO32, _LN2_HI32 = 355/512
_LOG2E32, _LN2_HI32, _LN2_LO32 = f4(1.44269504088896341), f4(0.693359375), f4(-2.12194440e-4)
_SHIFT32 = f4(12582912.0)  # 1.5 * 2^23
_LO32, _HI32 = f4(-104.0), f4(89.0)  # exp(-104) rounds to 0, exp(89) overflows
_P32 = (f4(1.9875691500e-4), f4(1.3981999507e-3), f4(8.3334519073e-3), f4(4.1665795894e-2),
        f4(1.6666665459e-1), f4(5.0000001201e-1))
_ZERO32, _ONE32, _TWO32, _FOUR32 = f4(0.0), f4(1.0), f4(2.0), f4(4.0)




def _by_float_type(stub, impl32, impl64):
    """Give the pure-Python ``stub`` its jitted implementations: impl32 for a float32 argument, impl64
    for a float64 one (inlined into the caller; any other type is a typing error)."""
    impls = {types.float32: impl32, types.float64: impl64}

    @overload(stub, inline="always")
    def _impl(x):
        return impls.get(x)

    return stub


# ---------------------------------------------------------------- exp, as (2^k, r q(r)) pieces


def exp_parts(x):
    """(s1, s2, u) with exp(x) = s1 * s2 * (1 + u) and 2^k = s1 * s2; u = e^r - 1 is accurate to ulps
    relative, so expm1 follows without cancellation when k = 0. For jitted code only."""
    raise NotImplementedError("jitted code only")


def _exp_parts64(x):
    xc = _select(x >= _LO, _select(x > _HI, _HI, x), _LO)  # NaN -> _LO; the callers put the NaN back
    kf = (xc * _LOG2E + _SHIFT) - _SHIFT
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    q = _Q[12]
    q = q * r + _Q[11]
    q = q * r + _Q[10]
    q = q * r + _Q[9]
    q = q * r + _Q[8]
    q = q * r + _Q[7]
    q = q * r + _Q[6]
    q = q * r + _Q[5]
    q = q * r + _Q[4]
    q = q * r + _Q[3]
    q = q * r + _Q[2]
    q = q * r + _Q[1]
    q = q * r + _Q[0]
    k = np.int64(kf)
    k1 = k >> 1
    s1 = _bits_to_float((k1 + 1023) << 52)
    s2 = _bits_to_float((k - k1 + 1023) << 52)
    return s1, s2, r * q


def _exp_parts32(x):
    xc = _select(x >= _LO32, _select(x > _HI32, _HI32, x), _LO32)
    kf = (xc * _LOG2E32 + _SHIFT32) - _SHIFT32
    r = (xc - kf * _LN2_HI32) - kf * _LN2_LO32
    p = _P32[0]
    p = p * r + _P32[1]
    p = p * r + _P32[2]
    p = p * r + _P32[3]
    p = p * r + _P32[4]
    p = p * r + _P32[5]
    k = np.int32(kf)
    k1 = k >> np.int32(1)
    s1 = _bits_to_float(np.int32((k1 + np.int32(127)) << np.int32(23)))
    s2 = _bits_to_float(np.int32((k - k1 + np.int32(127)) << np.int32(23)))
    return s1, s2, p * (r * r) + r


_by_float_type(exp_parts, _exp_parts32, _exp_parts64)


def exp_v(x):
    """exp(x), vectorisable; see the module docstring for its accuracy. For jitted code only."""
    raise NotImplementedError("jitted code only")


def _make_exp(one):
    def impl(x):
        s1, s2, u = exp_parts(x)
        e = ((u + one) * s1) * s2  # (1 + u) s1 is exact: s1 is a power of 2 and the product stays normal
        return _select(x != x, x, e)

    return impl


_by_float_type(exp_v, _make_exp(_ONE32), _make_exp(1.0))


# ---------------------------------------------------------------- sigma and tanh with derivatives


def sigmoid_dv(x):
    """(sigma(x), sigma'(x)), the contract of _kernels._sigmoid_d (both tails accurate, nothing
    underflows before exp(-|x|) does) to a few ulp, with one division. For jitted code only."""
    raise NotImplementedError("jitted code only")


def _make_sigmoid(one):
    def impl(x):
        e = exp_v(-abs(x))
        R = one / (one + e)
        v = _select(x >= 0, R, e * R)
        return v, (e * R) * R

    return impl


_by_float_type(sigmoid_dv, _make_sigmoid(_ONE32), _make_sigmoid(1.0))


def tanh_dv(x):
    """(tanh x, tanh'(x)), the contract of _kernels._tanh_d (a few ulp, relative, over the whole range;
    tanh' = 4e/(1 + e)^2 with e = exp(-2|x|) never underflows before e does), with one exp and one
    division and no branch: tanh|x| = -expm1(-2|x|) / (1 + e), where expm1 comes from the same
    reduction as e (exp_parts) and so keeps its digits near 0. For jitted code only."""
    raise NotImplementedError("jitted code only")


def _make_tanh(one, two, four):
    def impl(x):
        z = abs(x)
        s1, s2, u = exp_parts(-two * z)
        s = s1 * s2  # 2^k; 0 far out, where only e's tail needs the two factors
        em1 = (s - one) + s * u  # expm1(-2z): exact s - 1 plus a small term; u alone when k = 0
        e = ((u + one) * s1) * s2
        R = one / (one + e)
        d = ((four * e) * R) * R
        v = -em1 * R
        v = _select(x >= 0, v, -v)
        v = _select(z > 0, v, x)  # tanh(+-0) = +-0, and NaN stays NaN
        return v, _select(x != x, x, d)

    return impl


_by_float_type(tanh_dv, _make_tanh(_ONE32, _TWO32, _FOUR32), _make_tanh(1.0, 2.0, 4.0))
