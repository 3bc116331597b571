"""Overflow is data: exploding runs return a Trace that says where they overflowed, silently."""
import warnings

import naive
import numba
import numpy as np
import pytest

import engine

JIT_DISABLED = bool(numba.config.DISABLE_JIT)


def _no_warnings(fn):
    """Run fn and assert it warns about nothing (with the JIT on or off)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    assert not caught, [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught]
    return out


def test_forward_overflow_linear_rho3_T2000():
    p = engine.init_params(1, 8, 1, init="orthogonal", spectral_radius=3.0, activation="linear")
    x = engine.make_input("normal", 2000, 1)
    tr = _no_warnings(lambda: engine.bptt(p, x, [0.0]))
    assert tr.overflow_phase == "forward"
    # first step with a non-finite state, by definition
    bad = ~np.isfinite(np.concatenate([tr.a, tr.h], axis=1)).all(axis=1)
    assert tr.overflow_step == int(np.argmax(bad))
    assert np.isfinite(tr.h[: tr.overflow_step]).all()
    # 3^t * O(1) passes 1.8e308 near t = log(1.8e308) / log(3) ~ 646
    assert 600 < tr.overflow_step < 700
    assert tr.h.shape == (2000, 8) and tr.grad_h_norm.shape == (2000,)
    assert not np.isfinite(tr.loss)
    # every lazy quantity is computed without warnings or exceptions too
    jn = _no_warnings(lambda: tr.jacobian_norm)
    assert jn.shape == (2000,) and jn[-1] == 1.0
    np.testing.assert_allclose(jn[-600:], 3.0 ** np.arange(599, -1, -1), rtol=1e-12)
    assert np.isinf(jn[0])
    G = _no_warnings(lambda: engine.jacobian_norm_grid(tr, [0, 1000, 1999]))
    assert np.isinf(G[2, 0]) and G[2, 2] == 1.0
    f = _no_warnings(lambda: engine.forward(p, x))
    assert f.overflow_step == tr.overflow_step and f.overflow_phase == "forward"
    # gradients are returned as plain arrays (RNNParams refuses non-finite values)
    assert set(tr.grads.arrays()) == set(naive.NAMES)


@pytest.mark.parametrize("output", naive.OUTPUT_NAMES)
@pytest.mark.parametrize("loss", naive.LOSS_MODES)
def test_forward_overflow_every_output_and_loss(output, loss):
    p = engine.init_params(2, 5, 3, init="orthogonal", spectral_radius=3.0, activation="relu", output=output, seed=1)
    T = 1500
    x = np.abs(engine.make_input("normal", T, 2, seed=1))
    tgt = engine.make_target(output, loss, T, 3)
    tr = _no_warnings(lambda: engine.bptt(p, x, tgt, loss=loss))
    assert tr.overflow_phase == "forward" and tr.overflow_step is not None


def test_backward_only_overflow():
    """No input until the last step: the states stay finite (zero) but dL/dh_t = (W^T)^(T-t) dL/dh_T
    grows as 3^(T-t) and overflows going back."""
    T = 1000
    p = engine.init_params(1, 8, 1, init="orthogonal", spectral_radius=3.0, activation="linear")
    x = np.zeros((T, 1))
    x[-1] = 1.0
    tr = _no_warnings(lambda: engine.bptt(p, x, [0.0]))
    assert np.isfinite(tr.h).all() and np.isfinite(tr.loss)
    assert tr.overflow_phase == "backward"
    ok = np.isfinite(tr.grad_h).all(axis=1)
    # the backward pass runs from T down; the first bad step it meets is the largest bad index
    assert tr.overflow_step == int(np.max(np.nonzero(~ok)[0]))
    assert ok[tr.overflow_step + 1:].all()
    np.testing.assert_allclose(tr.grad_h_norm[tr.overflow_step + 1:],
                               tr.grad_h_norm[-1] * 3.0 ** np.arange(T - tr.overflow_step - 2, -1, -1), rtol=1e-12)
    assert T - 1 - tr.overflow_step == pytest.approx((np.log(np.finfo(float).max) - np.log(tr.grad_h_norm[-1])) / np.log(3), abs=2)


def test_no_overflow_means_none():
    p = engine.init_params(1, 8, 1, init="orthogonal", spectral_radius=0.9, activation="linear")
    tr = engine.bptt(p, engine.make_input("normal", 2000, 1), [0.0])
    assert tr.overflow_step is None and tr.overflow_phase is None
    assert np.isfinite(tr.grad_h).all()
    # 0.9^1999 ~ 1e-92: tiny but not zero, and not flushed to 0
    assert 0 < tr.jacobian_norm[0] == pytest.approx(0.9**1999, rel=1e-10)


def test_vanishing_to_1e_minus_200_stays_visible():
    T = 4000
    p = engine.init_params(1, 4, 1, init="orthogonal", spectral_radius=0.9, activation="linear", seed=2)
    tr = engine.bptt(p, engine.make_input("normal", T, 1), [0.0])
    assert tr.overflow_step is None
    want = tr.grad_h_norm[-1] * 0.9 ** np.arange(T - 1, -1, -1)  # down to ~1e-183
    sel = want > 1e-290  # stay clear of subnormals
    np.testing.assert_allclose(tr.grad_h_norm[sel], want[sel], rtol=1e-10)
    assert tr.grad_h_norm[0] < 1e-150


def test_sweep_overflow_is_silent():
    out = _no_warnings(lambda: engine.sweep_spectral_radius([3.0, 0.5], 800, n_hidden=4, n_seeds=2,
                                                            init="orthogonal", activation="linear"))
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


def test_batch_with_an_overflowing_sequence_is_silent():
    p = engine.init_params(1, 4, 1, init="orthogonal", spectral_radius=3.0, activation="linear")
    x = engine.make_input("normal", 1000, 1)[None].repeat(2, axis=0)
    bt = _no_warnings(lambda: engine.bptt_batch(p, x, np.zeros((2, 1)), lengths=[1000, 50]))
    assert bt.traces[0].overflow_step is not None and bt.traces[1].overflow_step is None


def test_power_norms_overflow_is_silent():
    out = _no_warnings(lambda: engine.power_norms(3.0 * np.eye(2), 1000))
    assert np.isinf(out[-1])


def test_overflow_is_silent_without_the_jit_too():
    p = engine.init_params(1, 4, 1, init="orthogonal", spectral_radius=3.0, activation="linear")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = engine.bptt(p, engine.make_input("normal", 1000, 1), [0.0])
    assert tr.overflow_step is not None
