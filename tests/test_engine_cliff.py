"""engine/cliff.py: the one-unit RNN of Pascanu, Mikolov & Bengio (2013, Fig. 6; ORACLES O18), its loss
surface with a wall, and gradient descent across it with and without norm clipping (O4)."""
import numpy as np
import pytest

from engine.cliff import H0, T_STEPS, TARGET, cliff_loss, cliff_surface, descend, state_gradients
from engine.optim import clip_by_norm


def naive_loss(w, b, T=T_STEPS, h0=H0, target=TARGET):
    h = h0
    for _ in range(T):
        h = w * (1.0 / (1.0 + np.exp(-h))) + b
    return (h - target) ** 2


def test_gradient_matches_central_differences_on_a_grid():
    W, B = np.meshgrid(np.linspace(0.5, 9.5, 13), np.linspace(-7.5, 1.5, 11))
    res = cliff_loss(W, B)
    assert np.allclose(res.loss, np.vectorize(naive_loss)(W, B), rtol=1e-12, atol=1e-14)
    eps = 1e-6
    fd_w = (cliff_loss(W + eps, B).loss - cliff_loss(W - eps, B).loss) / (2 * eps)
    fd_b = (cliff_loss(W, B + eps).loss - cliff_loss(W, B - eps).loss) / (2 * eps)
    # off the wall the loss is smooth at this scale: relative error < 1e-6
    smooth = res.grad_norm < 1e3
    assert smooth.mean() > 0.9
    for fd, g in ((fd_w, res.grad_w), (fd_b, res.grad_b)):
        err = np.abs(fd - g) / np.maximum(np.abs(g), 1e-3)
        assert np.all(err[smooth] < 1e-6), float(err[smooth].max())


def test_forward_and_backward_gradients_agree():
    for w, b in ((8.0, -2.0), (2.0, -1.0), (6.2993, -3.42), (-3.0, 1.0)):
        fwd, bwd = cliff_loss(w, b), state_gradients(w, b)
        assert bwd.grad_w == pytest.approx(float(fwd.grad_w), rel=1e-10)
        assert bwd.grad_b == pytest.approx(float(fwd.grad_b), rel=1e-10)
        assert bwd.delta[-1] == pytest.approx(2 * (float(fwd.h_T) - TARGET), rel=1e-12)


def test_the_wall_a_huge_jump_in_the_gradient_between_neighbouring_points():
    s = cliff_surface((0.0, 10.0), (-8.0, 2.0), 161)
    assert s.loss.shape == s.grad_norm.shape == (161, 161)
    g = s.grad_norm
    assert np.median(g) < 20 and g.max() > 1e3
    # neighbouring points along b differ by a factor of more than 100 somewhere: the wall
    ratio = np.maximum(g[1:], g[:-1]) / np.maximum(np.minimum(g[1:], g[:-1]), 1e-300)
    assert ratio.max() > 100
    # no wall for w < 4, where the map w sigma(h) + b has a single fixed point (sigma' <= 1/4)
    assert g[:, s.w < 4].max() < 100


def test_a_plain_step_that_hits_the_wall_lands_far_away_and_the_clipped_step_stays_near():
    start, lr, clip = (8.0, -2.0), 0.01, 20.0
    plain = descend(start, lr=lr, steps=80)
    clipped = descend(start, lr=lr, steps=80, clip=clip)
    k = int(np.argmax(plain.step_lengths))
    assert plain.grad_norm[k] > 1e3 and plain.step_lengths[k] > 30        # thrown far away
    assert np.array_equal(plain.points[:k + 1], clipped.points[:k + 1])  # the same path until the wall
    assert clipped.clipped[k] and not clipped.clipped[:k].any()
    assert clipped.step_lengths.max() <= lr * clip * (1 + 1e-9)          # never more than lr * clip
    assert clipped.loss[-1] < 5 < 100 < plain.loss[-1]


def test_clipping_follows_clip_by_norm():
    g = cliff_loss(6.2993, -3.42)
    grads = {"w": np.array(float(g.grad_w)), "b": np.array(float(g.grad_b))}
    norm, was = clip_by_norm(grads, 20.0)
    path = descend((6.2993, -3.42), lr=0.01, steps=1, clip=20.0)
    assert was and path.clipped[0] and path.grad_norm[0] == norm
    assert path.points[1] == pytest.approx([6.2993 - 0.01 * float(grads["w"]), -3.42 - 0.01 * float(grads["b"])],
                                           rel=1e-15)


def test_clipping_leaves_a_vanishing_gradient_exactly_as_it_is():
    # w = 2: every step multiplies dL/dh by w sigma'(h) <= 1/2, so h_0 hears almost nothing of the loss
    sg = state_gradients(2.0, -1.0)
    assert abs(sg.delta[0] / sg.delta[-1]) < 1e-5
    plain = descend((2.0, -1.0), lr=0.05, steps=30)
    clipped = descend((2.0, -1.0), lr=0.05, steps=30, clip=20.0)
    assert plain.grad_norm.max() < 20 and not clipped.clipped.any()
    assert np.array_equal(plain.points, clipped.points)


@pytest.mark.parametrize("call,name", [
    (lambda: cliff_loss("a", 1.0), "w"),
    (lambda: cliff_loss(1.0, np.nan), "b"),
    (lambda: cliff_loss(1.0, 1.0, T=0), "T"),
    (lambda: cliff_loss(1.0, 1.0, T=2.5), "T"),
    (lambda: cliff_loss(1.0, 1.0, h0=np.inf), "h0"),
    (lambda: cliff_loss(np.ones(3), np.ones(4)), "w and b"),
    (lambda: cliff_surface((1.0, 0.0), (0.0, 1.0)), "w_range"),
    (lambda: cliff_surface((0.0, 1.0), (0.0, 1.0), n=1), "n"),
    (lambda: cliff_surface((0.0,), (0.0, 1.0)), "w_range"),
    (lambda: descend((1.0,), lr=0.1, steps=3), "start"),
    (lambda: descend((1.0, 2.0), lr=-0.1, steps=3), "lr"),
    (lambda: descend((1.0, 2.0), lr=0.1, steps=0), "steps"),
    (lambda: descend((1.0, 2.0), lr=0.1, steps=3, clip=0.0), "clip"),
    (lambda: state_gradients(1.0, "x"), "b"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_overflow_is_data_not_an_exception():
    res = cliff_loss(40.0, -20.0 + 0.5 - 40.0 / (1 + np.exp(-0.5)) + 0.5, T=500)
    assert np.isfinite(res.loss)
    path = descend((40.0, -19.5), lr=0.01, steps=5, T=500)
    assert path.stopped is None or "not finite" in path.stopped


def test_the_wall_runs_where_h0_is_the_unstable_fixed_point():
    """The figure labels the wall at b = h_0 - w sigma(h_0): the gradient peaks there, across a thin band."""
    w = 9.0
    b_wall = H0 - w / (1 + np.exp(-H0))
    b = np.linspace(b_wall - 0.5, b_wall + 0.5, 2001)
    g = cliff_loss(w, b).grad_norm
    assert abs(b[np.argmax(g)] - b_wall) < 1e-3 and g.max() > 1e3 * np.median(g)
