"""Bad input raises ValueError naming the argument (never a numba TypingError, IndexError or TypeError)."""
import dataclasses

import numpy as np
import pytest

import engine

D, H, O, T = 2, 3, 4, 5
P = engine.init_params(D, H, O, seed=0)
PS = engine.init_params(D, H, O, output="softmax", seed=0)
PB = engine.init_params(D, H, O, output="sigmoid", seed=0)
X = np.ones((T, D))
Y = np.zeros(O)
TR = engine.bptt(P, X, Y)


def params_with(**kw):
    base = dict(W_hx=P.W_hx, W_hh=P.W_hh, b_h=P.b_h, W_hy=P.W_hy, b_y=P.b_y)
    base.update(kw)
    return lambda: engine.RNNParams(**base)


def nan_at(shape, value=np.nan):
    a = np.ones(shape)
    a.flat[a.size // 2] = value
    return a


def xfail(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


CASES = [
    # ------------------------------------------------------------ bptt: params, x, h0
    ("params-none", lambda: engine.bptt(None, X, Y), "params", None),
    ("params-dict", lambda: engine.bptt(P.arrays(), X, Y), "params", None),
    ("x-1d", lambda: engine.bptt(P, np.ones(T), Y), "x", "(T, D)"),
    ("x-3d", lambda: engine.bptt(P, np.ones((1, T, D)), Y), "x", "(T, D)"),
    ("x-wrong-D", lambda: engine.bptt(P, np.ones((T, D + 1)), Y), "x", "(T, D)"),
    ("x-empty-T0", lambda: engine.bptt(P, np.ones((0, D)), Y), "x", "(T, D)"),
    ("x-empty-list", lambda: engine.bptt(P, [], Y), "x", "(T, D)"),
    ("x-complex", lambda: engine.bptt(P, X.astype(complex), Y), "x", "(T, D)"),
    ("x-object", lambda: engine.bptt(P, X.astype(object), Y), "x", "(T, D)"),
    ("x-str", lambda: engine.bptt(P, "abc", Y), "x", "(T, D)"),
    ("x-str-array", lambda: engine.bptt(P, np.full((T, D), "a"), Y), "x", "(T, D)"),
    ("x-bool", lambda: engine.bptt(P, X.astype(bool), Y), "x", "(T, D)"),
    ("x-none", lambda: engine.bptt(P, None, Y), "x", "(T, D)"),
    ("x-ragged", lambda: engine.bptt(P, [[1.0, 2.0], [3.0]], Y), "x", "(T, D)"),
    ("x-nan", lambda: engine.bptt(P, nan_at((T, D)), Y), "x", None),
    ("x-inf", lambda: engine.bptt(P, nan_at((T, D), np.inf), Y), "x", None),
    ("x-neginf", lambda: engine.bptt(P, nan_at((T, D), -np.inf), Y), "x", None),
    ("h0-shape", lambda: engine.bptt(P, X, Y, h0=np.zeros(H + 1)), "h0", "(H,)"),
    ("h0-2d", lambda: engine.bptt(P, X, Y, h0=np.zeros((1, H))), "h0", "(H,)"),
    ("h0-nan", lambda: engine.bptt(P, X, Y, h0=nan_at(H)), "h0", None),
    ("h0-inf", lambda: engine.bptt(P, X, Y, h0=nan_at(H, np.inf)), "h0", None),
    ("h0-complex", lambda: engine.bptt(P, X, Y, h0=np.zeros(H, complex)), "h0", None),
    ("h0-bool", lambda: engine.bptt(P, X, Y, h0=np.zeros(H, bool)), "h0", None),
    ("h0-str", lambda: engine.bptt(P, X, Y, h0="zero"), "h0", None),
    ("forward-x", lambda: engine.forward(P, np.ones((T, D + 1))), "x", "(T, D)"),
    ("forward-h0", lambda: engine.forward(P, X, h0=np.ones(H + 2)), "h0", "(H,)"),
    ("forward-params", lambda: engine.forward("p", X), "params", None),
    # ------------------------------------------------------------ bptt: loss and target
    ("loss-unknown", lambda: engine.bptt(P, X, Y, loss="first"), "loss", None),
    ("loss-none", lambda: engine.bptt(P, X, Y, loss=None), "loss", None),
    ("loss-list", lambda: engine.bptt(P, X, Y, loss=["all"]), "loss", None),
    ("target-last-wrong-O", lambda: engine.bptt(P, X, np.zeros(O + 1)), "target", "(O,)"),
    ("target-last-given-all", lambda: engine.bptt(P, X, np.zeros((T, O))), "target", "(O,)"),
    ("target-all-given-last", lambda: engine.bptt(P, X, Y, loss="all"), "target", "(T, O)"),
    ("target-all-short", lambda: engine.bptt(P, X, np.zeros((T - 1, O)), loss="all"), "target", "(T, O)"),
    ("target-nan", lambda: engine.bptt(P, X, nan_at(O)), "target", None),
    ("target-inf-all", lambda: engine.bptt(P, X, nan_at((T, O), np.inf), loss="all"), "target", None),
    ("target-complex", lambda: engine.bptt(P, X, np.zeros(O, complex)), "target", None),
    ("target-str", lambda: engine.bptt(P, X, "y"), "target", None),
    ("target-none", lambda: engine.bptt(P, X, None), "target", None),
    ("target-bool", lambda: engine.bptt(P, X, np.zeros(O, bool)), "target", None),
    ("softmax-class-O", lambda: engine.bptt(PS, X, O), "target", None),
    ("softmax-class-neg", lambda: engine.bptt(PS, X, -1), "target", None),
    ("softmax-class-frac", lambda: engine.bptt(PS, X, 1.5), "target", None),
    ("softmax-class-nan", lambda: engine.bptt(PS, X, np.nan), "target", None),
    ("softmax-class-huge", lambda: engine.bptt(PS, X, 1e300), "target", None),
    ("softmax-class-bool", lambda: engine.bptt(PS, X, True), "target", None),
    ("softmax-class-str", lambda: engine.bptt(PS, X, "2"), "target", None),
    ("softmax-last-vector", lambda: engine.bptt(PS, X, np.zeros(O)), "target", None),
    ("softmax-all-wrong-T", lambda: engine.bptt(PS, X, np.zeros(T + 1, int), loss="all"), "target", "(T,)"),
    ("softmax-all-onehot", lambda: engine.bptt(PS, X, np.zeros((T, O), int), loss="all"), "target", "(T,)"),
    ("softmax-all-out-of-range", lambda: engine.bptt(PS, X, np.full(T, O), loss="all"), "target", None),
    ("sigmoid-target-above-1", lambda: engine.bptt(PB, X, np.full(O, 1.5)), "target", None),
    ("sigmoid-target-below-0", lambda: engine.bptt(PB, X, np.full((T, O), -0.1), loss="all"), "target", None),
    # ------------------------------------------------------------ RNNParams
    ("activation-unknown", params_with(activation="elu"), "activation", None),
    ("activation-none", params_with(activation=None), "activation", None),
    ("activation-list", params_with(activation=["tanh"]), "activation", None),
    ("activation-case", params_with(activation="Tanh"), "activation", None),
    ("output-unknown", params_with(output="linear"), "output", None),
    ("output-empty", params_with(output=""), "output", None),
    ("W_hh-nonsquare", params_with(W_hh=np.ones((H, H + 1))), "W_hh", "(n, n)"),
    ("W_hh-1d", params_with(W_hh=np.ones(H)), "W_hh", "(n, n)"),
    ("W_hh-empty-H0", lambda: engine.RNNParams(W_hx=np.ones((0, D)), W_hh=np.ones((0, 0)), b_h=np.ones(0),
                                                W_hy=np.ones((O, 0)), b_y=np.zeros(O)), "W_hh", None),
    ("spectral_radius-empty", lambda: engine.spectral_radius(np.ones((0, 0))), "W", None),
    ("W_hx-wrong-H", params_with(W_hx=np.ones((H + 1, D))), "W_hx", "(H, D)"),
    ("W_hx-D0", params_with(W_hx=np.ones((H, 0))), "W_hx", "(H, D)"),
    ("b_h-wrong", params_with(b_h=np.ones(H + 1)), "b_h", "(H,)"),
    ("W_hy-wrong-H", params_with(W_hy=np.ones((O, H + 1))), "W_hy", "(O, H)"),
    ("b_y-wrong", params_with(b_y=np.ones(O + 1)), "b_y", "(O,)"),
    ("W_hh-nan", params_with(W_hh=nan_at((H, H))), "W_hh", None),
    ("W_hx-inf", params_with(W_hx=nan_at((H, D), np.inf)), "W_hx", None),
    ("b_h-nan", params_with(b_h=nan_at(H)), "b_h", None),
    ("W_hy-nan", params_with(W_hy=nan_at((O, H))), "W_hy", None),
    ("b_y-inf", params_with(b_y=nan_at(O, -np.inf)), "b_y", None),
    ("W_hh-complex", params_with(W_hh=np.eye(H, dtype=complex)), "W_hh", None),
    ("W_hh-object", params_with(W_hh=np.eye(H).astype(object)), "W_hh", None),
    ("W_hx-str", params_with(W_hx="W"), "W_hx", None),
    ("b_h-bool", params_with(b_h=np.zeros(H, bool)), "b_h", None),
    ("W_hy-none", params_with(W_hy=None), "W_hy", None),
    ("W_hh-ragged", params_with(W_hh=[[1.0, 2.0], [3.0]]), "W_hh", None),
    ("replace-validates", lambda: P.replace(W_hh=np.ones((H + 1, H + 1))), "W_hx", None),
    # ------------------------------------------------------------ init_params and spectrum helpers
    ("init-unknown", lambda: engine.init_params(D, H, O, init="xavier"), "init", None),
    ("init-none", lambda: engine.init_params(D, H, O, init=None), "init", None),
    ("n_in-zero", lambda: engine.init_params(0, H, O), "n_in", None),
    ("n_hidden-zero", lambda: engine.init_params(D, 0, O), "n_hidden", None),
    ("n_hidden-float", lambda: engine.init_params(D, 2.5, O), "n_hidden", None),
    ("n_hidden-bool", lambda: engine.init_params(D, True, O), "n_hidden", None),
    ("n_out-negative", lambda: engine.init_params(D, H, -1), "n_out", None),
    ("spectral_radius-negative", lambda: engine.init_params(D, H, O, spectral_radius=-1.0), "spectral_radius", None),
    ("spectral_radius-nan", lambda: engine.init_params(D, H, O, spectral_radius=np.nan), "spectral_radius", None),
    ("spectral_radius-str", lambda: engine.init_params(D, H, O, spectral_radius="1"), "spectral_radius", None),
    ("seed-negative", lambda: engine.init_params(D, H, O, seed=-1), "seed", None),
    ("seed-float", lambda: engine.init_params(D, H, O, seed=1.5), "seed", None),
    ("init-activation", lambda: engine.init_params(D, H, O, activation="gelu"), "activation", None),
    ("init-output", lambda: engine.init_params(D, H, O, output="tanh"), "output", None),
    ("nonnormal_strength-nan", lambda: engine.init_params(D, H, O, init="nonnormal", nonnormal_strength=np.nan),
     "nonnormal_strength", None),
    ("input_scale-str", lambda: engine.init_params(D, H, O, input_scale="big"), "input_scale", None),
    ("scale-nilpotent", lambda: engine.scale_to_spectral_radius(np.array([[0.0, 1.0], [0.0, 0.0]]), 1.0), "W", None),
    ("scale-rho-negative", lambda: engine.scale_to_spectral_radius(np.eye(2), -0.5), "spectral_radius", None),
    ("spectral_radius-nonsquare", lambda: engine.spectral_radius(np.ones((2, 3))), "W", "(n, n)"),
    ("spectral_norm-nan", lambda: engine.spectral_norm(nan_at((2, 2))), "W", None),
    ("eigenvalues-str", lambda: engine.eigenvalues("W"), "W", None),
    ("power_norms-k_max-negative", lambda: engine.power_norms(np.eye(2), -1), "k_max", None),
    ("power_norms-k_max-float", lambda: engine.power_norms(np.eye(2), 2.0), "k_max", None),
    ("power_norms-W", lambda: engine.power_norms(np.ones(3), 4), "W", None),
    ("activation_gamma", lambda: engine.activation_gamma("softplus"), "activation", None),
    # ------------------------------------------------------------ Jacobians
    ("jn-trace", lambda: engine.jacobian_norms("trace"), "trace", None),
    ("jn-steps-float", lambda: engine.jacobian_norms(TR, [0.5]), "steps", None),
    ("jn-steps-2d", lambda: engine.jacobian_norms(TR, [[0, 1]]), "steps", None),
    ("jn-steps-empty", lambda: engine.jacobian_norms(TR, []), "steps", None),
    ("jn-steps-T", lambda: engine.jacobian_norms(TR, [T]), "steps", None),
    ("jn-steps-negative", lambda: engine.jacobian_norms(TR, [-1]), "steps", None),
    ("jn-steps-bool", lambda: engine.jacobian_norms(TR, [True, False]), "steps", None),
    ("jn-steps-str", lambda: engine.jacobian_norms(TR, "01"), "steps", None),
    ("jn-steps-scalar", lambda: engine.jacobian_norms(TR, 2), "steps", None),
    ("grid-trace", lambda: engine.jacobian_norm_grid(None, [0, 1]), "trace", None),
    ("grid-steps-T", lambda: engine.jacobian_norm_grid(TR, [0, T]), "steps", None),
    ("grid-steps-negative", lambda: engine.jacobian_norm_grid(TR, [-2, 1]), "steps", None),
    ("grid-steps-float", lambda: engine.jacobian_norm_grid(TR, [0.0, 1.0]), "steps", None),
    ("grid-steps-empty", lambda: engine.jacobian_norm_grid(TR, np.array([], int)), "steps", None),
    # ------------------------------------------------------------ gradient_check
    ("gc-eps-zero", lambda: engine.gradient_check(P, X, Y, eps=0.0), "eps", None),
    ("gc-eps-one", lambda: engine.gradient_check(P, X, Y, eps=1.0), "eps", None),
    ("gc-eps-str", lambda: engine.gradient_check(P, X, Y, eps="1e-6"), "eps", None),
    ("gc-x", lambda: engine.gradient_check(P, nan_at((T, D)), Y), "x", None),
    ("gc-overflow",
     lambda: engine.gradient_check(P.replace(W_hh=3 * np.eye(H), activation="linear"), np.ones((2000, D)), Y),
     "x", None),
    ("gc-max_entries-str", lambda: engine.gradient_check(P, X, Y, max_entries="10"), "max_entries", None),
    ("gc-max_entries-zero", lambda: engine.gradient_check(P, X, Y, max_entries=0), "max_entries", None),
    # ------------------------------------------------------------ sweep_spectral_radius
    ("sweep-rhos-2d", lambda: engine.sweep_spectral_radius([[0.5]], 5), "rhos", None),
    ("sweep-rhos-empty", lambda: engine.sweep_spectral_radius([], 5), "rhos", None),
    ("sweep-rhos-scalar", lambda: engine.sweep_spectral_radius(0.5, 5), "rhos", None),
    ("sweep-rhos-nan", lambda: engine.sweep_spectral_radius([np.nan], 5), "rhos", None),
    ("sweep-rhos-inf", lambda: engine.sweep_spectral_radius([np.inf], 5), "rhos", None),
    ("sweep-rhos-negative", lambda: engine.sweep_spectral_radius([-0.5], 5), "rhos", None),
    ("sweep-rhos-none", lambda: engine.sweep_spectral_radius(None, 5), "rhos", None),
    ("sweep-rhos-object", lambda: engine.sweep_spectral_radius([None], 5), "rhos", None),
    ("sweep-rhos-strscalar", lambda: engine.sweep_spectral_radius("0.5", 5), "rhos", None),
    ("sweep-rhos-str-list", lambda: engine.sweep_spectral_radius(["a"], 5), "rhos", None),
    ("sweep-rhos-complex", lambda: engine.sweep_spectral_radius([1 + 1j], 5), "rhos", None),
    ("sweep-seq_len-zero", lambda: engine.sweep_spectral_radius([0.5], 0), "seq_len", None),
    ("sweep-seq_len-float", lambda: engine.sweep_spectral_radius([0.5], 5.0), "seq_len", None),
    ("sweep-n_hidden-zero", lambda: engine.sweep_spectral_radius([0.5], 5, n_hidden=0), "n_hidden", None),
    ("sweep-n_seeds-zero", lambda: engine.sweep_spectral_radius([0.5], 5, n_seeds=0), "n_seeds", None),
    ("sweep-init-nonnormal", lambda: engine.sweep_spectral_radius([0.5], 5, init="nonnormal"), "init", None),
    ("sweep-init-unknown", lambda: engine.sweep_spectral_radius([0.5], 5, init="he"), "init", None),
    ("sweep-init-unhashable", lambda: engine.sweep_spectral_radius([0.5], 5, init=["gaussian"]), "init", None),
    ("sweep-activation", lambda: engine.sweep_spectral_radius([0.5], 5, activation="softsign"), "activation", None),
    ("sweep-work-cap", lambda: engine.sweep_spectral_radius(np.ones(1000), 100_000, n_hidden=1024, n_seeds=256),
     "n_hidden", None),
    ("sweep-seed-str", lambda: engine.sweep_spectral_radius([0.5], 5, seed="a"), "seed", None),
    ("sweep-seed-none", lambda: engine.sweep_spectral_radius([0.5], 5, seed=None), "seed", None),
    ("sweep-seed-negative", lambda: engine.sweep_spectral_radius([0.5], 5, seed=-1), "seed", None),
    # ------------------------------------------------------------ lyapunov_exponent
    ("lyap-gain-negative", lambda: engine.lyapunov_exponent(-1.0, n_hidden=4, steps=4), "gain", None),
    ("lyap-gain-nan", lambda: engine.lyapunov_exponent(np.nan, n_hidden=4, steps=4), "gain", None),
    ("lyap-gain-str", lambda: engine.lyapunov_exponent("1", n_hidden=4, steps=4), "gain", None),
    ("lyap-n_hidden", lambda: engine.lyapunov_exponent(1.0, n_hidden=0, steps=4), "n_hidden", None),
    ("lyap-steps", lambda: engine.lyapunov_exponent(1.0, n_hidden=4, steps=0), "steps", None),
    ("lyap-burn_in", lambda: engine.lyapunov_exponent(1.0, n_hidden=4, steps=4, burn_in=-1), "burn_in", None),
    ("lyap-seed-negative", lambda: engine.lyapunov_exponent(1.0, n_hidden=4, steps=4, seed=-1), "seed", None),
    ("lyap-seed-str", lambda: engine.lyapunov_exponent(1.0, n_hidden=4, steps=4, seed="a"), "seed", None),
    # ------------------------------------------------------------ signals
    ("signal-unknown", lambda: engine.make_input("noise", T, D), "signal", None),
    ("signal-none", lambda: engine.make_input(None, T, D), "signal", None),
    ("input-seq_len", lambda: engine.make_input("sine", 0, D), "seq_len", None),
    ("input-n_in", lambda: engine.make_input("sine", T, 0), "n_in", None),
    ("input-amplitude-nan", lambda: engine.make_input("sine", T, D, amplitude=np.nan), "amplitude", None),
    ("input-amplitude-str", lambda: engine.make_input("sine", T, D, amplitude="1"), "amplitude", None),
    ("input-seed-negative", lambda: engine.make_input("normal", T, D, seed=-1), "seed", None),
    ("input-seed-str", lambda: engine.make_input("normal", T, D, seed="a"), "seed", None),
    ("target-output", lambda: engine.make_target("relu", "last", T, O), "output", None),
    ("target-loss", lambda: engine.make_target("identity", "first", T, O), "loss", None),
    ("target-seq_len", lambda: engine.make_target("identity", "all", -3, O), "seq_len", None),
    ("target-n_out", lambda: engine.make_target("softmax", "all", T, 0), "n_out", None),
    ("target-seed-negative", lambda: engine.make_target("identity", "last", T, O, seed=-2), "seed", None),
    ("target-seed-minus-one", lambda: engine.make_target("identity", "last", T, O, seed=-1), "seed", None),
    ("target-seed-str", lambda: engine.make_target("identity", "last", T, O, seed="a"), "seed", None),
    # ------------------------------------------------------------ bptt_batch
    ("batch-x-2d", lambda: engine.bptt_batch(P, X, np.zeros((1, O))), "x", "(B, T, D)"),
    ("batch-x-wrong-D", lambda: engine.bptt_batch(P, np.ones((2, T, D + 1)), np.zeros((2, O))), "x", "(B, T, D)"),
    ("batch-x-B0", lambda: engine.bptt_batch(P, np.ones((0, T, D)), np.zeros((0, O))), "x", "(B, T, D)"),
    ("batch-x-T0", lambda: engine.bptt_batch(P, np.ones((2, 0, D)), np.zeros((2, O))), "x", "(B, T, D)"),
    ("batch-x-str", lambda: engine.bptt_batch(P, "x", np.zeros((2, O))), "x", None),
    ("batch-x-complex", lambda: engine.bptt_batch(P, np.ones((2, T, D), complex), np.zeros((2, O))), "x", None),
    ("batch-x-nan-in-valid-part",
     lambda: engine.bptt_batch(P, nan_at((2, T, D)), np.zeros((2, O)), lengths=[T, T]), "x", None),
    ("batch-lengths-shape", lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros((2, O)), lengths=[T]),
     "lengths", "(B,)"),
    ("batch-lengths-float", lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros((2, O)), lengths=[1.0, 2.0]),
     "lengths", None),
    ("batch-lengths-zero", lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros((2, O)), lengths=[0, 2]),
     "lengths", None),
    ("batch-lengths-too-long",
     lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros((2, O)), lengths=[T + 1, 2]), "lengths", None),
    ("batch-target-no-batch", lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros(O)), "target", None),
    ("batch-target-none", lambda: engine.bptt_batch(P, np.ones((2, T, D)), None), "target", None),
    ("batch-target-per-seq", lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros((2, O + 1))), "target", None),
    ("batch-target-all-short",
     lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros((2, T - 1, O)), loss="all"), "target", None),
    ("batch-h0", lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros((2, O)), h0=np.zeros(H + 1)), "h0", None),
    ("batch-loss", lambda: engine.bptt_batch(P, np.ones((2, T, D)), np.zeros((2, O)), loss="mean"), "loss", None),
    ("batch-params", lambda: engine.bptt_batch(None, np.ones((2, T, D)), np.zeros((2, O))), "params", None),
]


def _id(case):
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize("name,call,arg,shape", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_raises_value_error_naming_the_argument(name, call, arg, shape):
    with pytest.raises(ValueError) as exc:
        call()
    msg = str(exc.value)
    assert arg in msg, f"{name}: message does not name {arg!r}: {msg!r}"
    if shape is not None:
        assert shape in msg, f"{name}: message does not give the expected shape {shape!r}: {msg!r}"


def test_good_inputs_in_other_dtypes_are_accepted():
    """Integer and float32 arrays and nested lists are numeric: they are converted, not refused."""
    ref = engine.bptt(P, X, Y)
    for x in (X.astype(np.int32), X.astype(np.float32), X.tolist()):
        tr = engine.bptt(P, x, Y.tolist())
        np.testing.assert_array_equal(tr.h, ref.h)
    # softmax classes as float that are exact integers, or as a 1-element array for loss="last"
    a = engine.bptt(PS, X, 2)
    np.testing.assert_array_equal(engine.bptt(PS, X, 2.0).grad_h, a.grad_h)
    np.testing.assert_array_equal(engine.bptt(PS, X, np.array([2])).grad_h, a.grad_h)
    # sigmoid targets on the boundary are fine
    engine.bptt(PB, X, np.array([0.0, 1.0, 0.0, 1.0]))


def test_params_are_read_only_copies():
    W = np.eye(H)
    p = P.replace(W_hh=W)
    W[0, 0] = 5.0
    assert p.W_hh[0, 0] == 1.0
    with pytest.raises(ValueError):
        p.W_hh[0, 0] = 2.0  # read-only
    tr = engine.bptt(p, X, Y)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tr.params = None  # frozen


def test_inputs_are_not_modified():
    x = X.copy()
    y = Y.copy()
    h0 = np.ones(H)
    engine.bptt(P, x, y, h0=h0, loss="last")
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)
    np.testing.assert_array_equal(h0, np.ones(H))
