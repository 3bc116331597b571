"""engine._vmath: the vectorisable exp, sigma and tanh against long-double references, in ulps, over
the whole range of each float type (tails, subnormal results, specials); and against the scalar
_kernels._sigmoid_d / _tanh_d whose contract they keep."""
import re

import numba
import numpy as np
import pytest
from numba import njit

from engine._kernels import _sigmoid_d, _tanh_d
from engine._vmath import exp_v, sigmoid_dv, tanh_dv

JIT = dict(fastmath={"contract"}, error_model="numpy")  # the batch kernels' flags
LD = np.longdouble
pytestmark = pytest.mark.skipif(np.finfo(LD).nmant < 60, reason="needs an 80-bit long double reference")


@njit(**JIT)
def _exp(x, out):
    for i in range(x.shape[0]):
        out[i] = exp_v(x[i])


@njit(**JIT)
def _sig(x, v, d):
    for i in range(x.shape[0]):
        v[i], d[i] = sigmoid_dv(x[i])


@njit(**JIT)
def _tanh(x, v, d):
    for i in range(x.shape[0]):
        v[i], d[i] = tanh_dv(x[i])


@njit
def _old(x, sv, sd, tv, td):
    for i in range(x.shape[0]):
        sv[i], sd[i] = _sigmoid_d(x[i])
        tv[i], td[i] = _tanh_d(x[i])


def ulps(got, want: np.ndarray, dt) -> np.ndarray:
    """|got - want| in units of the last place of want rounded to dt (the subnormal spacing below)."""
    spacing = np.maximum(np.spacing(np.abs(want.astype(dt))).astype(LD), LD(np.finfo(dt).smallest_subnormal))
    return np.abs(got.astype(LD) - want) / spacing


def _points(dt, lo, hi, rng):
    """Uniform over [lo, hi], dense near 0, and the points around every integer multiple of ln 2 / 2."""
    k = np.arange(np.ceil(lo / 0.3466), np.floor(hi / 0.3466)) * (np.log(2) / 2)
    x = np.concatenate([rng.uniform(lo, hi, 400_000), rng.uniform(-3, 3, 200_000), rng.uniform(-1e-4, 1e-4, 20_000),
                        np.nextafter(k, np.inf), np.nextafter(k, -np.inf), [lo, hi, 0.0]])
    return x.astype(dt)


# float type, range where exp's result is a normal number, range to the underflow and the overflow
CASES = [(np.float64, (-708.3, 709.7), (-746.0, 710.0)), (np.float32, (-87.3, 88.7), (-104.0, 89.0))]


@pytest.mark.parametrize("dt,normal,full", CASES, ids=["float64", "float32"])
def test_exp_is_within_one_ulp_and_rounds_subnormals_once(dt, normal, full):
    rng = np.random.default_rng(0)
    x = _points(dt, *normal, rng)
    out = np.empty_like(x)
    _exp(x, out)
    assert out.dtype == dt
    assert ulps(out, np.exp(x.astype(LD)), dt).max() <= 1.0
    # below the normal range: results are subnormal (one rounding, so within one subnormal spacing) then 0
    x = np.linspace(full[0] - 5, normal[0], 100_001).astype(dt)
    _exp(x, out := np.empty_like(x))
    assert ulps(out, np.exp(x.astype(LD)), dt).max() <= 1.0
    assert (out[x < full[0]] == 0).all() and (out[x > full[0] + 2] > 0).all()
    # above: inf once the result overflows, finite before
    x = np.linspace(normal[1], full[1] + 5, 1001).astype(dt)
    _exp(x, out := np.empty_like(x))
    want = np.exp(x.astype(LD))
    big = want > np.finfo(dt).max
    assert np.isinf(out[big]).all() and np.isfinite(out[~big]).all()


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_specials(dt):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype=dt)
    e, v, d = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    _exp(x, e)
    np.testing.assert_array_equal(e, [np.nan, np.inf, 0.0, 1.0, 1.0])
    _sig(x, v, d)
    np.testing.assert_array_equal(v, [np.nan, 1.0, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(d, [np.nan, 0.0, 0.0, 0.25, 0.25])
    _tanh(x, v, d)
    np.testing.assert_array_equal(v, [np.nan, 1.0, -1.0, 0.0, -0.0])
    assert not np.signbit(v[3]) and np.signbit(v[4])  # tanh(+-0) = +-0
    np.testing.assert_array_equal(d, [np.nan, 0.0, 0.0, 1.0, 1.0])
    tiny = np.array([np.finfo(dt).smallest_subnormal, -np.finfo(dt).tiny], dtype=dt)
    _tanh(tiny, v := np.empty_like(tiny), d := np.empty_like(tiny))
    np.testing.assert_array_equal(v, tiny)  # tanh x = x to the last bit near 0


@pytest.mark.parametrize("dt,bound", [(np.float64, 800.0), (np.float32, 110.0)], ids=["float64", "float32"])
def test_sigmoid_and_tanh_with_derivatives_are_within_a_few_ulp_to_the_tails(dt, bound):
    """Both values and both derivatives, relative, down to where exp(-|x|) itself underflows: the
    derivatives in the tails are e / (1 + e)^2 and 4 e / (1 + e)^2, never 1 - v^2 rounded to 0."""
    rng = np.random.default_rng(1)
    x = _points(dt, -bound, bound, rng)
    xl = x.astype(LD)
    v, d = np.empty_like(x), np.empty_like(x)
    _sig(x, v, d)
    e = np.exp(-np.abs(xl))
    assert ulps(v, np.where(xl >= 0, 1 / (1 + e), e / (1 + e)), dt).max() <= 4
    assert ulps(d, e / (1 + e) ** 2, dt).max() <= 6
    _tanh(x, v, d)
    e2 = np.exp(-2 * np.abs(xl))
    assert ulps(v, np.tanh(xl), dt).max() <= 4
    assert ulps(d, 4 * e2 / (1 + e2) ** 2, dt).max() <= 6
    # the tails really are there: sigma'(-x) and tanh'(x) positive as long as exp(-|x|) is
    far = np.array([0.9, 0.45], dtype=dt) * (745 if dt == np.float64 else 103)
    _sig(-far, v := np.empty_like(far), d := np.empty_like(far))
    assert (d > 0).all() and (v > 0).all()
    _tanh(far / 2, v, d)
    assert (d > 0).all()


def test_float64_agrees_with_the_scalar_kernels():
    """Against _sigmoid_d and _tanh_d (the single-sequence engine's): a few ulp apart everywhere."""
    rng = np.random.default_rng(2)
    x = _points(np.float64, -760.0, 760.0, rng)
    got = [np.empty_like(x) for _ in range(4)]
    old = [np.empty_like(x) for _ in range(4)]
    _sig(x, got[0], got[1])
    _tanh(x, got[2], got[3])
    _old(x, *old)
    for g, o in zip(got, old):
        assert (ulps(g, o.astype(LD), np.float64) <= 8).all()


def test_float32_is_computed_in_float32():
    """A float64 literal would silently promote the arithmetic (and halve the SIMD width): the float32
    versions must do no double-precision arithmetic at all."""
    x = np.linspace(-5, 5, 101, dtype=np.float32)
    out = [np.empty_like(x) for _ in range(2)]
    for fn, args in ((_exp, (x, out[0])), (_sig, (x, *out)), (_tanh, (x, *out))):
        fn(*args)
        sig = next(s for s in fn.signatures if s[0].dtype == numba.float32)
        ir = fn.inspect_llvm(sig)
        ops = re.findall(r"= (?:fadd|fsub|fmul|fdiv|fneg|call) (?:[a-z ]*)double", ir)
        assert not ops, f"{fn.__name__}: double-precision operations {ops[:3]}"
