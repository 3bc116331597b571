"""The engine agrees with the slow reference in tests/naive.py to 1e-12 (relative)."""
import naive
import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import ACTIVATION_NAMES, LOSS_MODES, OUTPUT_NAMES, assert_close, make_case

import engine


def check_against_naive(p, x, target, h0, loss, rtol=1e-12):
    tr = engine.bptt(p, x, target, h0=h0, loss=loss)
    ref = naive.bptt(p, x, target, h0=h0, activation=p.activation, output=p.output, loss=loss)
    assert tr.overflow_step is None
    assert_close(tr.a, ref["a"], rtol, "a")
    assert_close(tr.h, ref["h"], rtol, "h")
    assert_close(tr.fprime, ref["fprime"], rtol, "fprime")
    assert_close(tr.y, ref["y"], rtol, "y")
    assert tr.loss == pytest.approx(ref["loss"], rel=rtol, abs=1e-300)
    assert_close(tr.grad_h, ref["grad_h"], rtol, "grad_h")
    assert_close(tr.grad_a, ref["grad_a"], rtol, "grad_a")
    assert_close(tr.grad_h_norm, ref["grad_h_norm"], rtol, "grad_h_norm")
    for name in naive.NAMES:
        assert_close(getattr(tr.grads, name), ref["grads"][name], rtol, f"d{name}")
    return tr, ref


@pytest.mark.parametrize("loss", LOSS_MODES)
@pytest.mark.parametrize("output", OUTPUT_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_bptt_matches_naive(activation, output, loss):
    for seed in range(3):
        p, x, target, h0 = make_case(activation, output, loss, T=9, H=5, D=3, O=4, seed=seed)
        check_against_naive(p, x, target, h0, loss)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_default_h0_is_zero(activation):
    p, x, target, _ = make_case(activation, "identity", "all", seed=4)
    tr = engine.bptt(p, x, target, loss="all")
    ref = naive.bptt(p, x, target, h0=np.zeros(p.n_hidden), activation=activation, loss="all")
    assert_close(tr.grad_h, ref["grad_h"], what="grad_h")
    np.testing.assert_array_equal(tr.h0, np.zeros(p.n_hidden))


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_forward_matches_bptt_and_naive(activation):
    p, x, target, h0 = make_case(activation, "softmax", "last", seed=5)
    f = engine.forward(p, x, h0=h0)
    tr = engine.bptt(p, x, target, h0=h0)
    np.testing.assert_array_equal(f.h, tr.h)
    np.testing.assert_array_equal(f.y, tr.y)
    assert f.grads is None and f.grad_h is None and f.overflow_step is None
    A, Hs, Dp, Z = naive.forward(p, x, h0, activation)
    assert_close(f.h, Hs, what="h")
    assert_close(f.y, np.array([naive.out_fn("softmax", z) for z in Z]), what="y")
    assert_close(f.jacobian_norm, naive.jacobian_norms(p.W_hh, Dp), what="jacobian_norm from forward()")


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_jacobian_norms_match_explicit_products(activation):
    p, x, target, h0 = make_case(activation, "identity", "last", T=12, H=6, seed=6, rho=1.1)
    tr = engine.bptt(p, x, target, h0=h0)
    ref = naive.jacobian_norms(p.W_hh, tr.fprime)
    assert_close(tr.jacobian_norm, ref, what="jacobian_norm")
    assert tr.jacobian_norm[-1] == 1.0
    steps = [9, 0, 4, 4, 11]
    assert_close(engine.jacobian_norms(tr, steps), ref[sorted(set(steps))], what="jacobian_norms(steps)")


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_jacobian_norm_grid_matches_explicit_products(activation):
    p, x, target, h0 = make_case(activation, "identity", "all", T=15, H=5, seed=7, rho=1.2)
    tr = engine.bptt(p, x, target, h0=h0, loss="all")
    steps = [14, 0, 3, 7, 8, 3]
    G = engine.jacobian_norm_grid(tr, steps)
    ref = naive.jacobian_norm_grid(p.W_hh, tr.fprime, steps)
    n = len(set(steps))
    assert G.shape == (n, n)
    lower = np.tril(np.ones((n, n), dtype=bool))
    assert np.isnan(G[~lower]).all(), "a state never depends on a later one: NaN above the diagonal"
    assert (np.diag(G) == 1.0).all()
    assert_close(G[lower], ref[lower], what="grid")
    # The grid's last row is the jacobian_norm at those steps.
    s = sorted(set(steps))
    assert_close(G[-1], tr.jacobian_norm[s], what="grid last row vs jacobian_norm")


def test_single_step_sequence():
    for act in ACTIVATION_NAMES:
        p, x, target, h0 = make_case(act, "sigmoid", "all", T=1, seed=8)
        tr, _ = check_against_naive(p, x, target, h0, "all")
        assert tr.jacobian_norm.tolist() == [1.0]


# ---------------------------------------------------------------- hypothesis


@st.composite
def cases(draw):
    act = draw(st.sampled_from(ACTIVATION_NAMES))
    out = draw(st.sampled_from(OUTPUT_NAMES))
    loss = draw(st.sampled_from(LOSS_MODES))
    T = draw(st.integers(1, 30))
    H = draw(st.integers(1, 12))
    D = draw(st.integers(1, 5))
    O = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    init = draw(st.sampled_from(["gaussian", "orthogonal"]))
    rho = draw(st.floats(0.05, 1.3))
    return make_case(act, out, loss, T=T, H=H, D=D, O=O, seed=seed, init=init, rho=rho), loss


JIT_DISABLED = bool(numba.config.DISABLE_JIT)
# No deadline and no too_slow health check: the first example may compile kernels, and a loaded machine
# stretches any example; speed is measured in bench/, not here. derandomize: the same examples every run.
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@HYP
@given(cases())
def test_property_engine_matches_naive(case):
    (p, x, target, h0), loss = case
    check_against_naive(p, x, target, h0, loss, rtol=1e-11)


@HYP
@given(cases())
def test_property_trace_shapes_and_invariants(case):
    (p, x, target, h0), loss = case
    T, H, O, D = x.shape[0], p.n_hidden, p.n_out, p.n_in
    tr = engine.bptt(p, x, target, h0=h0, loss=loss)
    for name in ("h", "a", "fprime", "grad_h", "grad_a"):
        assert getattr(tr, name).shape == (T, H), name
        assert getattr(tr, name).dtype == np.float64, name
    assert tr.y.shape == (T, O)
    assert tr.x.shape == (T, D) and tr.h0.shape == (H,)
    assert tr.grad_h_norm.shape == (T,) and tr.dW_hh_step_norm.shape == (T,)
    assert tr.jacobian_norm.shape == (T,)
    assert isinstance(tr.loss, float) and np.isfinite(tr.loss) and tr.loss >= 0.0  # 0.5 SSE, CE and BCE are >= 0
    assert tr.seq_len == T and tr.loss_mode == loss
    for name in naive.NAMES:
        assert getattr(tr.grads, name).shape == getattr(p, name).shape, name
    assert tr.grads.activation == p.activation and tr.grads.output == p.output
    # jacobian_norm's last entry is exactly 1 (dh_T/dh_T = I)
    assert tr.jacobian_norm[-1] == 1.0
    # bounded activations never overflow
    if p.activation in ("tanh", "sigmoid"):
        assert tr.overflow_step is None and tr.overflow_phase is None
        assert np.all(np.abs(tr.h) <= 1.0)
    # output rows are probabilities where they should be
    if p.output == "softmax":
        np.testing.assert_allclose(tr.y.sum(axis=1), 1.0, rtol=1e-12)
    # dW_hh_step_norm is ||g_t h_{t-1}^T||_F
    H_prev = np.vstack([tr.h0[None], tr.h[:-1]])
    ref = np.array([np.linalg.norm(np.outer(tr.grad_a[t], H_prev[t])) for t in range(T)])
    assert_close(tr.dW_hh_step_norm, ref, rtol=1e-12, what="dW_hh_step_norm")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(T=st.integers(1, 25), H=st.integers(1, 8), seed=st.integers(0, 10**6),
       act=st.sampled_from(["tanh", "sigmoid"]))
def test_property_bounded_activations_never_overflow(T, H, seed, act):
    # Even with huge weights and inputs, a bounded state cannot overflow.
    p, x, target, h0 = make_case(act, "identity", "all", T=T, H=H, seed=seed, rho=50.0)
    tr = engine.bptt(p, 1e6 * x, target, h0=h0, loss="all")
    assert tr.overflow_step is None
    assert np.isfinite(tr.grad_h).all()


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_saturated_units(activation):
    """Pre-activations far beyond exp's range give h = +-1 (or 0/1) and f' = 0, without errors; in the
    representable tail, f and f' keep their exact tiny values instead of rounding to 0 early."""
    from scipy.special import expit

    a = np.array([-1e6, -800.0, -400.0, -200.0, 200.0, 400.0, 800.0, 1e6])
    p = engine.RNNParams(W_hx=[[1.0]], W_hh=[[0.0]], b_h=[0.0], W_hy=[[1.0]], b_y=[0.0], activation=activation)
    tr = engine.forward(p, a[:, None])
    if activation == "tanh":
        want_h = np.sign(a)
        with np.errstate(under="ignore"):
            want_d = 4.0 * np.exp(-2.0 * np.abs(a))  # 1/cosh^2 for large |a|: 1.5e-173 at 200, 0 beyond 372
    else:
        want_h = expit(a)
        want_d = expit(a) * expit(-a)
    np.testing.assert_array_equal(tr.h[:, 0], want_h)
    np.testing.assert_allclose(tr.fprime[:, 0], want_d, rtol=1e-12, atol=0)
    assert tr.fprime[3, 0] > 1e-180  # a = -200: tiny but not rounded to zero


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_activation_accuracy_on_a_dense_grid(activation):
    """h = f(a) to a few ulp against numpy/scipy over the working range, including the 0.625 switch of
    the kernel's tanh."""
    from scipy.special import expit

    a = np.concatenate([np.linspace(-20, 20, 40001), [0.625, -0.625, np.nextafter(0.625, 0), 0.0, 1e-300]])
    p = engine.RNNParams(W_hx=[[1.0]], W_hh=[[0.0]], b_h=[0.0], W_hy=[[1.0]], b_y=[0.0], activation=activation)
    h = engine.forward(p, a[:, None]).h[:, 0]
    ref = np.tanh(a) if activation == "tanh" else expit(a)
    sel = np.abs(a) < 8 if activation == "sigmoid" else slice(None)  # see the tail test below
    np.testing.assert_allclose(h[sel], ref[sel], rtol=1e-15, atol=5e-16)


def test_sigmoid_tail_keeps_relative_accuracy():
    from scipy.special import expit

    a = np.linspace(-700, -10, 2000)
    p = engine.RNNParams(W_hx=[[1.0]], W_hh=[[0.0]], b_h=[0.0], W_hy=[[1.0]], b_y=[0.0], activation="sigmoid")
    tr = engine.forward(p, a[:, None])
    np.testing.assert_allclose(tr.h[:, 0], expit(a), rtol=1e-12)
    np.testing.assert_allclose(tr.fprime[:, 0], expit(a) * expit(-a), rtol=1e-12)
