"""bptt_batch (padded, masked batches) and the demonstration signals."""
import naive
import numpy as np
import pytest
from naive import assert_close

import engine


def _batch_case(output, loss, B=4, T=9, D=2, H=5, O=3, seed=0):
    p, _, _, h0 = naive.make_case("tanh", output, loss, T=T, H=H, D=D, O=O, seed=seed)
    rng = np.random.default_rng(seed)
    lengths = np.array([T, 1, 5, T - 1][:B])
    x = rng.normal(size=(B, T, D))
    for b, L in enumerate(lengths):
        x[b, L:] = np.nan  # padding: must be ignored
    targets = [naive.make_case("tanh", output, loss, T=T, H=H, D=D, O=O, seed=seed + 10 + b)[2] for b in range(B)]
    return p, x, np.array(targets), lengths, h0


@pytest.mark.parametrize("loss", naive.LOSS_MODES)
@pytest.mark.parametrize("output", naive.OUTPUT_NAMES)
def test_batch_equals_per_sequence_bptt(output, loss):
    p, x, target, lengths, h0 = _batch_case(output, loss)
    bt = engine.bptt_batch(p, x, target, lengths, h0=h0, loss=loss)
    B, T = x.shape[:2]
    assert bt.h.shape == (B, T, p.n_hidden) and bt.y.shape == (B, T, p.n_out) and bt.grad_h_norm.shape == (B, T)
    np.testing.assert_array_equal(bt.lengths, lengths)
    total_loss = 0.0
    total = {n: 0.0 for n in naive.NAMES}
    for b, L in enumerate(lengths):
        tb = target[b][:L] if loss == "all" else target[b]
        tr = engine.bptt(p, x[b, :L], tb, h0=h0, loss=loss)
        ref = naive.bptt(p, x[b, :L], tb, h0=h0, activation="tanh", output=output, loss=loss)
        np.testing.assert_array_equal(bt.h[b, :L], tr.h)
        np.testing.assert_array_equal(bt.y[b, :L], tr.y)
        np.testing.assert_array_equal(bt.grad_h_norm[b, :L], tr.grad_h_norm)
        assert np.isnan(bt.h[b, L:]).all() and np.isnan(bt.grad_h_norm[b, L:]).all()
        assert_close(bt.traces[b].grad_h, ref["grad_h"], what=f"sequence {b}")
        total_loss += ref["loss"]
        for n in naive.NAMES:
            total[n] = total[n] + ref["grads"][n]
    assert bt.loss == pytest.approx(total_loss, rel=1e-12)
    for n in naive.NAMES:
        assert_close(getattr(bt.grads, n), total[n], what=f"summed d{n}")
    assert len(bt.traces) == len(lengths)


def test_batch_padding_values_do_not_matter():
    p, x, target, lengths, h0 = _batch_case("identity", "all")
    a = engine.bptt_batch(p, x, target, lengths, h0=h0, loss="all")
    x2 = np.where(np.isnan(x), 1e300, x)
    t2 = target.copy()
    for b, L in enumerate(lengths):
        t2[b, L:] = 7.0  # the target rows beyond the length are not used either
    b_ = engine.bptt_batch(p, x2, t2, lengths, h0=h0, loss="all")
    assert a.loss == b_.loss
    for n in naive.NAMES:
        np.testing.assert_array_equal(getattr(a.grads, n), getattr(b_.grads, n))


def test_batch_default_lengths_is_full():
    p, x, target, _, h0 = _batch_case("identity", "last")
    x = np.nan_to_num(x)
    a = engine.bptt_batch(p, x, target, h0=h0)
    b = engine.bptt_batch(p, x, target, [x.shape[1]] * x.shape[0], h0=h0)
    np.testing.assert_array_equal(a.h, b.h)
    assert not np.isnan(a.h).any()


def test_batch_last_loss_sits_at_each_sequences_own_end():
    p, x, target, lengths, h0 = _batch_case("identity", "last")
    bt = engine.bptt_batch(p, x, target, lengths, h0=h0)
    for b, L in enumerate(lengths):
        want = 0.5 * np.sum((bt.y[b, L - 1] - target[b]) ** 2)
        assert bt.traces[b].loss == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------- signals


@pytest.mark.parametrize("signal", engine.SIGNALS)
def test_make_input_shapes_and_determinism(signal):
    for T, D in ((1, 1), (7, 3), (40, 2)):
        x = engine.make_input(signal, T, D, seed=3)
        assert x.shape == (T, D) and x.dtype == np.float64 and np.isfinite(x).all()
        np.testing.assert_array_equal(x, engine.make_input(signal, T, D, seed=3))
    x1 = engine.make_input(signal, 30, 2, seed=1)
    x2 = engine.make_input(signal, 30, 2, seed=2)
    assert (not np.array_equal(x1, x2)) == (signal == "normal")  # only the noise depends on the seed
    np.testing.assert_allclose(engine.make_input(signal, 30, 2, amplitude=2.5, seed=1), 2.5 * x1, rtol=1e-15)


def test_make_input_contents():
    T = 10
    np.testing.assert_array_equal(engine.make_input("zeros", T, 2), np.zeros((T, 2)))
    pulse = engine.make_input("pulse", T, 2, amplitude=3.0)
    assert (pulse[0] == 3.0).all() and (pulse[1:] == 0).all()
    step = engine.make_input("step", T, 1)
    assert (step[: T // 2] == 0).all() and (step[T // 2:] == 1).all()
    sine = engine.make_input("sine", 40, 1)
    np.testing.assert_allclose(sine[:, 0], np.sin(2 * np.pi * np.arange(1, 41) / 20), atol=1e-15)
    z = engine.make_input("normal", 20000, 1, seed=0)
    assert abs(z.mean()) < 0.05 and z.std() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("loss", naive.LOSS_MODES)
@pytest.mark.parametrize("output", naive.OUTPUT_NAMES)
def test_make_target_shapes_and_determinism(output, loss):
    T, O = 12, 3
    t = engine.make_target(output, loss, T, O, seed=5)
    np.testing.assert_array_equal(t, engine.make_target(output, loss, T, O, seed=5))
    if output == "softmax":
        if loss == "last":
            assert isinstance(t, int) and 0 <= t < O
        else:
            assert t.shape == (T,) and t.dtype.kind == "i" and ((t >= 0) & (t < O)).all()
    else:
        assert t.shape == ((T, O) if loss == "all" else (O,)) and t.dtype == np.float64
        if output == "sigmoid":
            assert set(np.unique(t)) <= {0.0, 1.0}
    # it is exactly what bptt expects
    p = engine.init_params(2, 4, O, output=output)
    tr = engine.bptt(p, engine.make_input("normal", T, 2), t, loss=loss)
    assert np.isfinite(tr.loss)
    # different seeds give different targets (almost surely, for the continuous ones)
    if output == "identity":
        assert not np.array_equal(t, engine.make_target(output, loss, T, O, seed=6))
