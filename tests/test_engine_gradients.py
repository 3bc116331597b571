"""Gradients against central finite differences in float64 (ORACLES O1)."""
import naive
import numpy as np
import pytest
from naive import ACTIVATION_NAMES, LOSS_MODES, OUTPUT_NAMES, make_case

import engine


def smooth_case(activation, output, loss, **kw):
    """A case whose pre-activations all stay 1e-4 away from relu's kink (for the other activations
    any case is smooth). Deterministic: tries seeds in order."""
    for seed in range(100):
        p, x, target, h0 = make_case(activation, output, loss, seed=seed, **kw)
        a = engine.forward(p, x, h0=h0).a
        if activation != "relu" or np.min(np.abs(a)) > 1e-4:
            # relu also needs some live units, or every recurrent gradient is trivially zero
            if activation != "relu" or (a > 0).mean() > 0.3:
                return p, x, target, h0
    raise AssertionError("no smooth case found")


@pytest.mark.parametrize("loss", LOSS_MODES)
@pytest.mark.parametrize("output", OUTPUT_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradient_check_every_parameter(activation, output, loss):
    p, x, target, h0 = smooth_case(activation, output, loss, T=8, H=4, D=3, O=3)
    res = engine.gradient_check(p, x, target, h0=h0, loss=loss, eps=1e-6, max_entries=200)
    assert set(res) == {"W_hx", "W_hh", "b_h", "W_hy", "b_y", "max"}
    for name in naive.NAMES:
        assert res[name] < 1e-6, (name, res)
    assert res["max"] == max(res[n] for n in naive.NAMES)


@pytest.mark.parametrize("loss", LOSS_MODES)
@pytest.mark.parametrize("output", OUTPUT_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_independent_finite_differences(activation, output, loss):
    """FD of the *reference* loss (tests/naive.py), so the check does not reuse the engine's loss."""
    p, x, target, h0 = smooth_case(activation, output, loss, T=6, H=4, D=2, O=3)
    tr = engine.bptt(p, x, target, h0=h0, loss=loss)
    rng = np.random.default_rng(1)
    eps = 1e-6
    for name in naive.NAMES:
        P = getattr(p, name)
        G = getattr(tr.grads, name)
        g_fd, g_bp = [], []
        for idx in rng.permutation(P.size)[:4]:
            Pp, Pm = P.copy(), P.copy()
            Pp.flat[idx] += eps
            Pm.flat[idx] -= eps
            kw = dict(h0=h0, activation=activation, output=output, loss=loss)
            lp = naive.total_loss({**p.arrays(), name: Pp}, x, target, **kw)
            lm = naive.total_loss({**p.arrays(), name: Pm}, x, target, **kw)
            g_fd.append((lp - lm) / (2 * eps))
            g_bp.append(G.flat[idx])
        g_fd, g_bp = np.array(g_fd), np.array(g_bp)
        err = np.linalg.norm(g_bp - g_fd) / max(np.linalg.norm(g_bp) + np.linalg.norm(g_fd), 1e-300)
        assert err < 1e-6, (name, g_bp, g_fd)
    # and the loss itself is the reference loss
    assert tr.loss == pytest.approx(naive.total_loss(p.arrays(), x, target, h0=h0, activation=activation,
                                                     output=output, loss=loss), rel=1e-12)


def test_fd_of_h0_matches_grad_h_through_the_first_step():
    """dL/dh0 = W_hh^T (f'(a_1) * dL/dh_1): the gradient flowing out of the sequence, checked by FD on h0."""
    p, x, target, h0 = make_case("tanh", "identity", "all", T=10, H=5, seed=3)
    tr = engine.bptt(p, x, target, h0=h0, loss="all")
    dh0 = p.W_hh.T @ tr.grad_a[0]
    eps = 1e-6
    fd = np.empty_like(h0)
    for i in range(h0.size):
        hp, hm = h0.copy(), h0.copy()
        hp[i] += eps
        hm[i] -= eps
        fd[i] = (engine.bptt(p, x, target, h0=hp, loss="all").loss
                 - engine.bptt(p, x, target, h0=hm, loss="all").loss) / (2 * eps)
    assert np.linalg.norm(dh0 - fd) / (np.linalg.norm(dh0) + np.linalg.norm(fd)) < 1e-7


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    """The FD check can fail: corrupt dW_hh by 1e-3 relative and it must report it."""
    import engine.rnn as rnn  # bptt builds its RNNParams of gradients here

    real = rnn._grads_params

    def corrupt(params, grads):
        grads = dict(grads)
        grads["W_hh"] = grads["W_hh"] * (1 + 1e-3)
        return real(params, grads)

    monkeypatch.setattr(rnn, "_grads_params", corrupt)
    p, x, target, h0 = make_case("tanh", "identity", "last", seed=2)
    res = engine.gradient_check(p, x, target, h0=h0)
    assert res["W_hh"] > 1e-4 and res["W_hx"] < 1e-6
