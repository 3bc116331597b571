"""LSTM and GRU in the engine without PyTorch: state dicts, finite differences, numerical state
Jacobians, the gated-cell oracles of ORACLES.md O5 (the constant error carousel, the GRU copy
path), bad input, overflow, the sigmoid output's tails and thread safety.
(Parity with PyTorch itself is in test_engine_torch_parity.py.)"""
import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import engine

JIT_DISABLED = bool(numba.config.DISABLE_JIT)
CELL_NAMES = ("rnn", "lstm", "gru")
GATED = ("lstm", "gru")
OUTPUTS = ("identity", "softmax", "sigmoid")
LOSSES = ("last", "all")
SD_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias")


def gated_case(cell, output="identity", loss="last", *, T=8, D=3, H=4, O=3, seed=0, rho=0.9, bias_scale=0.5):
    """A gated network with non-zero biases (b_hn too), a random h0, inputs and a target."""
    rng = np.random.default_rng(100 + seed)
    p = engine.init_params(D, H, O, cell=cell, spectral_radius=rho, output=output, seed=seed)
    kw = dict(b_h=bias_scale * rng.normal(size=p.b_h.shape), b_y=bias_scale * rng.normal(size=O))
    if cell == "gru":
        kw["b_hn"] = bias_scale * rng.normal(size=H)
    p = p.replace(**kw)
    x = rng.normal(size=(T, D))
    h0 = 0.5 * rng.normal(size=H)
    target = engine.make_target(output, loss, T, O, seed=seed)
    return p, x, target, h0


def blocks(p):
    """Writable copies of W_hx, W_hh, b_h and views of their gate blocks by gate name."""
    H = p.n_hidden
    W_hx, W_hh, b_h = p.W_hx.copy(), p.W_hh.copy(), p.b_h.copy()
    sl = {g: slice(k * H, (k + 1) * H) for k, g in enumerate(p.gate_names)}
    return W_hx, W_hh, b_h, sl


# ---------------------------------------------------------------- parameters and state dicts


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_init_params_shapes_and_biases(cell):
    D, H, O = 3, 5, 2
    G = engine.CELLS[cell].n_gates
    p = engine.init_params(D, H, O, cell=cell, spectral_radius=0.8, forget_bias=2.5, update_bias=-1.5, seed=4)
    assert p.cell == cell and p.n_gates == G and p.n_hidden == H
    assert p.W_hx.shape == (G * H, D) and p.W_hh.shape == (G * H, H) and p.b_h.shape == (G * H,)
    assert p.W_hy.shape == (O, H) and p.b_y.shape == (O,)
    assert set(p.arrays()) == {"W_hx", "W_hh", "b_h", "W_hy", "b_y"} | ({"b_hn"} if cell == "gru" else set())
    blocks_ = p.recurrent_blocks()
    assert tuple(blocks_) == (p.gate_names or ("h",))
    for W in blocks_.values():  # every gate's recurrent block has the requested spectral radius
        assert W.shape == (H, H)
        assert engine.spectral_radius(W) == pytest.approx(0.8, rel=1e-12, abs=0)
    want_b = np.zeros(G * H)
    if cell == "lstm":
        want_b[H:2 * H] = 2.5  # f
    elif cell == "gru":
        want_b[H:2 * H] = -1.5  # z
    np.testing.assert_array_equal(p.b_h, want_b)
    assert (p.b_hn is None) == (cell != "gru")


def test_cell_rnn_is_the_default():
    a = engine.init_params(3, 6, 2, spectral_radius=1.1, activation="relu", seed=5)
    b = engine.init_params(3, 6, 2, spectral_radius=1.1, activation="relu", seed=5, cell="rnn")
    for k in a.arrays():
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert b.cell == "rnn" and b.b_hn is None and b.gate_names == ()


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("output", OUTPUTS)
def test_state_dict_round_trip_is_exact(cell, output):
    p, *_ = gated_case(cell, output, seed=3) if cell != "rnn" else (engine.init_params(3, 4, 3, output=output, seed=3),)
    sd = engine.params_to_state_dict(p)
    assert tuple(sd) == SD_KEYS
    q = engine.params_from_state_dict(sd, cell=cell, output=output)
    assert q.cell == p.cell and q.output == p.output and q.activation == p.activation
    for k, v in p.arrays().items():
        np.testing.assert_array_equal(getattr(q, k), v, err_msg=k)
        assert getattr(q, k).dtype == np.float64
    assert (q.b_hn is None) == (p.b_hn is None)
    # and the other way: a state dict with both biases non-zero maps to the documented sums
    rng = np.random.default_rng(0)
    sd2 = {k: rng.normal(size=np.shape(v)) for k, v in sd.items()}
    r = engine.params_from_state_dict(sd2, cell=cell, output=output)
    H = r.n_hidden
    if cell == "gru":
        np.testing.assert_array_equal(r.b_h[:2 * H], sd2["bias_ih_l0"][:2 * H] + sd2["bias_hh_l0"][:2 * H])
        np.testing.assert_array_equal(r.b_h[2 * H:], sd2["bias_ih_l0"][2 * H:])
        np.testing.assert_array_equal(r.b_hn, sd2["bias_hh_l0"][2 * H:])
    else:
        np.testing.assert_array_equal(r.b_h, sd2["bias_ih_l0"] + sd2["bias_hh_l0"])
    np.testing.assert_array_equal(r.W_hx, sd2["weight_ih_l0"])
    np.testing.assert_array_equal(r.W_hh, sd2["weight_hh_l0"])
    np.testing.assert_array_equal(r.W_hy, sd2["head.weight"])
    np.testing.assert_array_equal(r.b_y, sd2["head.bias"])
    # the dict handed out is a copy: writing to it leaves the params alone
    sd["weight_hh_l0"][0, 0] += 1.0
    assert sd["weight_hh_l0"][0, 0] != p.W_hh[0, 0]


def test_state_dict_of_an_rnn_keeps_relu():
    p = engine.init_params(2, 3, 2, activation="relu", seed=1)
    q = engine.params_from_state_dict(engine.params_to_state_dict(p), cell="rnn", activation="relu")
    assert q.activation == "relu"
    np.testing.assert_array_equal(q.W_hh, p.W_hh)


# ---------------------------------------------------------------- traces


@pytest.mark.parametrize("cell", GATED)
def test_trace_fields_of_gated_cells(cell):
    T, D, H, O = 9, 3, 4, 2
    p, x, target, h0 = gated_case(cell, T=T, D=D, H=H, O=O)
    tr = engine.bptt(p, x, target, h0=h0)
    G = p.n_gates
    assert tr.cell == cell
    assert tr.h.shape == (T, H) and tr.a.shape == (T, G * H) and tr.fprime.shape == (T, G * H)
    assert tuple(tr.gates) == p.gate_names and all(v.shape == (T, H) for v in tr.gates.values())
    assert tr.grad_h.shape == (T, H) and tr.grad_h_norm.shape == (T,) and tr.dW_hh_step_norm.shape == (T,)
    assert tr.jacobian_norm.shape == (T,) and tr.jacobian_norm[-1] == 1.0
    for g, v in tr.gates.items():  # gate values from the stored pre-activations
        a = tr.a[:, p.gate_names.index(g) * H:][:, :H]
        want = np.tanh(a) if g in ("g", "n") else 1.0 / (1.0 + np.exp(-a))
        np.testing.assert_allclose(v, want, rtol=1e-14, atol=1e-300)
    if cell == "lstm":
        assert tr.c.shape == (T, H) and tr.grad_c.shape == (T, H) and tr.grad_c_norm.shape == (T,)
        c_prev = np.vstack([np.zeros(H), tr.c[:-1]])
        np.testing.assert_allclose(tr.c, tr.gates["f"] * c_prev + tr.gates["i"] * tr.gates["g"], rtol=1e-14)
        np.testing.assert_allclose(tr.h, tr.gates["o"] * np.tanh(tr.c), rtol=1e-14)
        assert tr.cell_path_norm.shape == (T,) and tr.cell_path_norm[-1] == 1.0
    else:
        assert tr.c is None and tr.grad_c is None and tr.cell_path_norm is None
        h_prev = np.vstack([h0, tr.h[:-1]])
        z, n = tr.gates["z"], tr.gates["n"]
        np.testing.assert_allclose(tr.h, (1 - z) * n + z * h_prev, rtol=1e-13, atol=1e-15)
    f = engine.forward(p, x, h0=h0)
    for k in ("h", "a", "fprime", "y"):
        np.testing.assert_array_equal(getattr(f, k), getattr(tr, k))
    np.testing.assert_array_equal(f.jacobian_norm, tr.jacobian_norm)


def test_rnn_trace_has_no_gate_fields():
    p = engine.init_params(2, 3, 2, seed=0)
    tr = engine.bptt(p, np.ones((5, 2)), np.zeros(2))
    assert tr.gates == {} and tr.c is None and tr.grad_c is None and tr.grad_c_norm is None
    assert tr.cell_path_norm is None and tr.grads.cell == "rnn" and tr.grads.b_hn is None


# ---------------------------------------------------------------- finite differences


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("loss", LOSSES)
def test_gradient_check_gated(cell, output, loss):
    p, x, target, h0 = gated_case(cell, output, loss, T=7, seed=OUTPUTS.index(output) + 3 * LOSSES.index(loss))
    res = engine.gradient_check(p, x, target, h0=h0, loss=loss, max_entries=30 if JIT_DISABLED else 200)
    assert set(res) == set(p.arrays()) | {"max"}
    assert res["max"] < 1e-6, res


@pytest.mark.parametrize("cell", GATED)
def test_gradient_check_gated_long_and_saturating(cell):
    """Longer sequence, larger weights (gates near their tails), the forget/update bias high."""
    p, x, target, h0 = gated_case(cell, "identity", "all", T=40, H=6, seed=9, rho=1.5, bias_scale=1.5)
    p = p.replace(W_hx=3.0 * p.W_hx)
    res = engine.gradient_check(p, x, target, h0=h0, loss="all", max_entries=6 if JIT_DISABLED else 60)
    assert res["max"] < 1e-6, res


# ---------------------------------------------------------------- state Jacobians (numerical)


def _step(p, x_t, s):
    """One step of the cell in plain numpy (PyTorch's equations); s = h, or [h; c] for the LSTM."""
    H = p.n_hidden
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    if p.cell == "lstm":
        h, c = s[:H], s[H:]
        a = p.W_hx @ x_t + p.W_hh @ h + p.b_h
        i, f, g, o = sig(a[:H]), sig(a[H:2 * H]), np.tanh(a[2 * H:3 * H]), sig(a[3 * H:])
        c = f * c + i * g
        return np.concatenate([o * np.tanh(c), c])
    ax, ah = p.W_hx @ x_t + p.b_h, p.W_hh @ s
    r, z = sig(ax[:H] + ah[:H]), sig(ax[H:2 * H] + ah[H:2 * H])
    n = np.tanh(ax[2 * H:] + r * (ah[2 * H:] + p.b_hn))
    return (1 - z) * n + z * s


@pytest.mark.parametrize("cell", GATED)
def test_state_jacobian_norm_matches_finite_differences(cell):
    T, H = 14, 4
    p, x, target, h0 = gated_case(cell, T=T, H=H, seed=2, rho=1.3)
    tr = engine.bptt(p, x, target, h0=h0)
    states = np.hstack([tr.h, tr.c]) if cell == "lstm" else tr.h
    s = h0 if cell == "gru" else np.concatenate([h0, np.zeros(H)])
    for t in range(T):  # the numpy step reproduces the engine's states
        s = _step(p, x[t], s)
        np.testing.assert_allclose(s, states[t], rtol=1e-13, atol=1e-15)
    eps = 1e-6
    for t in (0, 3, T - 4, T - 2):
        S = states.shape[1]
        J = np.empty((S, S))
        for j in range(S):
            ends = []
            for sgn in (1, -1):
                s = states[t].copy()
                s[j] += sgn * eps
                for k in range(t + 1, T):
                    s = _step(p, x[k], s)
                ends.append(s)
            J[:, j] = (ends[0] - ends[1]) / (2 * eps)
        assert tr.jacobian_norm[t] == pytest.approx(np.linalg.norm(J, 2), rel=1e-7, abs=0), f"step {t}"


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_jacobian_norm_grid_agrees_with_jacobian_norms(cell):
    T = 30
    if cell == "rnn":
        p = engine.init_params(2, 5, 2, spectral_radius=1.2, seed=1)
        rng = np.random.default_rng(1)
        x, target, h0 = rng.normal(size=(T, 2)), rng.normal(size=2), rng.normal(size=5)
    else:
        p, x, target, h0 = gated_case(cell, T=T, D=2, H=5, O=2, seed=1, rho=1.2)
    tr = engine.bptt(p, x, target, h0=h0)
    steps = [0, 4, 11, 20, 29]
    grid = engine.jacobian_norm_grid(tr, steps)
    np.testing.assert_allclose(grid[-1], engine.jacobian_norms(tr, steps), rtol=1e-12)
    np.testing.assert_allclose(grid[-1], tr.jacobian_norm[steps], rtol=1e-12)
    assert np.all(np.diag(grid) == 1.0) and np.isnan(grid[np.triu_indices(5, 1)]).all()
    # an interior entry is the last row of the trace cut after that step
    sub = engine.forward(p, x[:21], h0=h0)
    np.testing.assert_allclose(grid[3, :4], sub.jacobian_norm[[0, 4, 11, 20]], rtol=1e-12)


# ---------------------------------------------------------------- oracles (O5 and the GRU copy path)


def _carousel(T=50, H=4, forget=None, seed=0):
    """An LSTM whose input gate opens only at step 1 (input 0 is a marker there), whose output gate
    opens only at the last step (input 1 is a marker there) and whose forget gate is f = 1 exactly
    (bias +40) unless ``forget`` (a function of rng -> (f-bias (H,), f-input weights (H,))) is given.
    The gates the markers drive have no recurrent weights and see no other input."""
    D, O = 3, 2
    rng = np.random.default_rng(seed)
    p = engine.init_params(D, H, O, cell="lstm", seed=seed)
    W_hx, W_hh, b_h, sl = blocks(p)
    W_hx[sl["i"]], W_hh[sl["i"]], b_h[sl["i"]] = 0.0, 0.0, -40.0
    W_hx[sl["i"], 0] = 80.0  # i = sigmoid(40) = 1 at step 1, sigmoid(-40) = 4.2e-18 after
    W_hx[sl["o"]], W_hh[sl["o"]], b_h[sl["o"]] = 0.0, 0.0, -40.0
    W_hx[sl["o"], 1] = 80.0  # o = 1 at the last step only: h_t ~ 4e-18 before it
    W_hx[sl["f"]], W_hh[sl["f"]], b_h[sl["f"]] = 0.0, 0.0, 40.0  # f = 1/(1 + e^-40) = 1.0 exactly
    if forget is not None:
        b_h[sl["f"]], W_hx[sl["f"], 2] = forget(rng)
    b_h[sl["g"]] = 2.0 * np.where(np.arange(H) % 2, -1.0, 1.0)  # |g_1| > 0.9: c_1 far from 0
    p = p.replace(W_hx=W_hx, W_hh=W_hh, b_h=b_h)
    x = np.zeros((T, D))
    x[0, 0] = 1.0
    x[-1, 1] = 1.0
    x[:, 2] = rng.normal(size=T)
    return p, x, rng.normal(size=O)


def test_lstm_constant_error_carousel():
    """O5: f = 1 and i = 0 carry c unchanged, bit for bit, and the cell path multiplies the
    gradient by exactly 1 per step."""
    T = 50
    p, x, target = _carousel(T)
    tr = engine.bptt(p, x, target)
    assert np.all(tr.gates["f"] == 1.0)
    assert np.all(tr.gates["i"][1:] < 1e-17)
    assert np.all(np.abs(tr.c[0]) > 0.7)
    for t in range(T):
        np.testing.assert_array_equal(tr.c[t], tr.c[0])  # i g = 4e-18 g is below half an ulp of c
    np.testing.assert_array_equal(tr.cell_path_norm, np.ones(T))
    # with the loss on the last step only and o ~ 0 before it, nothing leaks from h into c: the
    # gradient arriving at c_T reaches c_1 undiminished
    assert tr.grad_c_norm[-1] > 0.01
    np.testing.assert_allclose(tr.grad_c, np.broadcast_to(tr.grad_c[-1], tr.grad_c.shape), rtol=1e-15, atol=0)
    np.testing.assert_allclose(tr.grad_c_norm, tr.grad_c_norm[-1], rtol=1e-15)


def test_lstm_cell_gradient_decays_like_the_product_of_forget_gates():
    """O5: along the cell path, dL/dc_{t-1} = f_t * dL/dc_t, so dL/dc_t = dL/dc_T * prod_{s>t} f_s
    unit by unit when nothing is injected from h (o ~ 0 before the last step)."""
    T, H = 60, 5
    p, x, target = _carousel(T, H, forget=lambda rng: (rng.uniform(-1.0, 3.0, size=H), rng.normal(size=H)), seed=1)
    tr = engine.bptt(p, x, target)
    f = tr.gates["f"]
    assert 0.05 < f.min() and f.max() < 0.995 and f.std(axis=0).min() > 0.01  # leaky forget gates that vary over time
    prod = np.ones((T, H))  # prod[t] = prod_{s = t+1 .. T-1} f_s (0-based)
    for t in range(T - 2, -1, -1):
        prod[t] = prod[t + 1] * f[t + 1]
    assert prod[0].max() < 0.1 and prod[0].min() < 1e-8  # the gradient really decays
    np.testing.assert_allclose(tr.grad_c, tr.grad_c[-1] * prod, rtol=1e-12, atol=0)
    np.testing.assert_allclose(tr.grad_c_norm, np.linalg.norm(tr.grad_c[-1] * prod, axis=1), rtol=1e-12)
    np.testing.assert_allclose(tr.cell_path_norm, prod.max(axis=1), rtol=1e-12)
    # one unit: the norm of the gradient on c falls exactly as the cell-path norm does
    p1, x1, t1 = _carousel(T, 1, forget=lambda rng: (np.array([0.0]), np.array([0.7])), seed=2)
    tr1 = engine.bptt(p1, x1, t1)
    np.testing.assert_allclose(tr1.grad_c_norm / tr1.grad_c_norm[-1], tr1.cell_path_norm, rtol=1e-12)
    assert tr1.cell_path_norm[0] < 1e-10  # f ~ 0.5: "a leaky forget gate": the LSTM vanishes too


def _gru_copy(T=40, H=5, weights_scale=0.0, seed=0):
    p, x, target, h0 = gated_case("gru", T=T, H=H, seed=seed, rho=1.5, bias_scale=1.0)
    rng = np.random.default_rng(seed)
    W_hx, W_hh, b_h, sl = blocks(p)
    W_hx[sl["z"]] = weights_scale * rng.normal(size=W_hx[sl["z"]].shape)
    W_hh[sl["z"]] = weights_scale * rng.normal(size=W_hh[sl["z"]].shape)
    b_h[sl["z"]] = 40.0
    return p.replace(W_hx=W_hx, W_hh=W_hh, b_h=b_h), x, target, h0


def test_gru_update_gate_closed_copies_the_state():
    """z = 1 exactly: h_t = h_{t-1}, the state Jacobian is the identity (norm 1) and dL/dh_t is
    carried back unchanged."""
    T = 40
    p, x, target, h0 = _gru_copy(T)
    tr = engine.bptt(p, x, target, h0=h0)
    assert np.all(tr.gates["z"] == 1.0)
    np.testing.assert_array_equal(tr.h, np.broadcast_to(h0, tr.h.shape))
    np.testing.assert_array_equal(tr.jacobian_norm, np.ones(T))
    np.testing.assert_array_equal(tr.grad_h, np.broadcast_to(tr.grad_h[-1], tr.grad_h.shape))
    G = engine.jacobian_norm_grid(tr, [0, 10, 39])
    np.testing.assert_array_equal(G[np.tril_indices(3)], 1.0)


def test_gru_update_gate_saturated_copies_to_rounding():
    """The same with random update-gate weights under the +40 bias: z = 1 to within 1e-16."""
    T = 40
    p, x, target, h0 = _gru_copy(T, weights_scale=0.1, seed=3)
    tr = engine.bptt(p, x, target, h0=h0)
    assert np.all(tr.gates["z"] > 1 - 1e-16)
    np.testing.assert_allclose(tr.h, np.broadcast_to(h0, tr.h.shape), rtol=0, atol=1e-15)
    np.testing.assert_allclose(tr.jacobian_norm, 1.0, rtol=0, atol=1e-15)


def test_vanilla_jacobian_still_obeys_o2():
    """The vanilla RNN's Jacobian beside the gated ones: a linear RNN's ds_T/ds_t is W^(T-t)
    exactly (O2), orthogonal W scaled by rho gives rho^(T-t)."""
    T, rho = 20, 0.9
    p = engine.init_params(1, 6, 1, init="orthogonal", spectral_radius=rho, activation="linear", seed=0)
    tr = engine.bptt(p, np.random.default_rng(0).normal(size=(T, 1)), [0.0])
    np.testing.assert_allclose(tr.jacobian_norm, rho ** np.arange(T - 1, -1, -1), rtol=1e-12)


# ---------------------------------------------------------------- bad input


P_LSTM = engine.init_params(2, 3, 2, cell="lstm", seed=0)
P_GRU = engine.init_params(2, 3, 2, cell="gru", seed=0)
SD_LSTM = engine.params_to_state_dict(P_LSTM)


def _sd(**changes):
    sd = dict(SD_LSTM)
    for k, v in changes.items():
        if v is None:
            del sd[k]
        else:
            sd[k.replace("__", ".")] = v
    return sd


def _params(template, **changes):
    kw = dict(W_hx=template.W_hx, W_hh=template.W_hh, b_h=template.b_h, W_hy=template.W_hy, b_y=template.b_y,
              cell=template.cell, b_hn=template.b_hn)
    kw.update(changes)
    return lambda: engine.RNNParams(**kw)


def _without(key):
    sd = dict(SD_LSTM)
    del sd[key]
    return sd


BAD = [
    ("init-unknown-cell", lambda: engine.init_params(2, 3, 2, cell="transformer"), "cell"),
    ("init-cell-none", lambda: engine.init_params(2, 3, 2, cell=None), "cell"),
    ("init-cell-upper", lambda: engine.init_params(2, 3, 2, cell="LSTM"), "cell"),
    ("init-relu-lstm", lambda: engine.init_params(2, 3, 2, cell="lstm", activation="relu"), "activation"),
    ("init-linear-gru", lambda: engine.init_params(2, 3, 2, cell="gru", activation="linear"), "activation"),
    ("init-forget-bias-nan", lambda: engine.init_params(2, 3, 2, cell="lstm", forget_bias=float("nan")), "forget_bias"),
    ("init-forget-bias-str", lambda: engine.init_params(2, 3, 2, cell="lstm", forget_bias="1"), "forget_bias"),
    ("init-update-bias-inf", lambda: engine.init_params(2, 3, 2, cell="gru", update_bias=np.inf), "update_bias"),
    ("sd-unknown-cell", lambda: engine.params_from_state_dict(SD_LSTM, cell="lstm2"), "cell"),
    ("sd-not-mapping", lambda: engine.params_from_state_dict([1, 2], cell="lstm"), "state"),
    *[(f"sd-missing-{k}", (lambda k=k: engine.params_from_state_dict(_without(k), cell="lstm")), k) for k in SD_KEYS],
    ("sd-hh-rows-of-gru", lambda: engine.params_from_state_dict(_sd(weight_hh_l0=np.ones((9, 3))), cell="lstm"),
     "weight_hh_l0"),
    ("sd-hh-1d", lambda: engine.params_from_state_dict(_sd(weight_hh_l0=np.ones(12)), cell="lstm"), "weight_hh_l0"),
    ("sd-lstm-as-gru", lambda: engine.params_from_state_dict(SD_LSTM, cell="gru"), "weight_hh_l0"),
    ("sd-lstm-as-rnn", lambda: engine.params_from_state_dict(SD_LSTM, cell="rnn"), "weight_hh_l0"),
    ("sd-ih-rows", lambda: engine.params_from_state_dict(_sd(weight_ih_l0=np.ones((11, 2))), cell="lstm"),
     "weight_ih_l0"),
    ("sd-bias-ih-length", lambda: engine.params_from_state_dict(_sd(bias_ih_l0=np.ones(11)), cell="lstm"),
     "bias_ih_l0"),
    ("sd-bias-hh-length", lambda: engine.params_from_state_dict(_sd(bias_hh_l0=np.ones(3)), cell="lstm"),
     "bias_hh_l0"),
    ("sd-bias-hh-2d", lambda: engine.params_from_state_dict(_sd(bias_hh_l0=np.ones((12, 1))), cell="lstm"),
     "bias_hh_l0"),
    ("sd-head-weight-cols", lambda: engine.params_from_state_dict(_sd(head__weight=np.ones((2, 4))), cell="lstm"),
     "head.weight"),
    ("sd-head-bias-length", lambda: engine.params_from_state_dict(_sd(head__bias=np.ones(3)), cell="lstm"),
     "head.bias"),
    ("sd-nan", lambda: engine.params_from_state_dict(_sd(bias_ih_l0=np.full(12, np.nan)), cell="lstm"),
     "bias_ih_l0"),
    ("sd-string-value", lambda: engine.params_from_state_dict(_sd(weight_ih_l0="w"), cell="lstm"), "weight_ih_l0"),
    ("sd-relu-lstm", lambda: engine.params_from_state_dict(SD_LSTM, cell="lstm", activation="relu"), "activation"),
    ("sd-bad-output", lambda: engine.params_from_state_dict(SD_LSTM, cell="lstm", output="tanh"), "output"),
    ("to-sd-not-params", lambda: engine.params_to_state_dict(SD_LSTM), "params"),
    ("params-unknown-cell", _params(P_LSTM, cell="peephole"), "cell"),
    ("params-relu-lstm", lambda: P_LSTM.replace(activation="relu"), "activation"),
    ("params-sigmoid-gru", lambda: P_GRU.replace(activation="sigmoid"), "activation"),
    ("params-b_hn-for-lstm", _params(P_LSTM, b_hn=np.zeros(3)), "b_hn"),
    ("params-b_hn-for-rnn", lambda: engine.init_params(2, 3, 2).replace(b_hn=np.zeros(3)), "b_hn"),
    ("params-b_hn-missing-gru", _params(P_GRU, b_hn=None), "b_hn"),
    ("params-b_hn-length-gru", _params(P_GRU, b_hn=np.zeros(4)), "b_hn"),
    ("params-b_hn-nan-gru", _params(P_GRU, b_hn=np.array([0.0, np.nan, 0.0])), "b_hn"),
    ("params-W_hh-height-lstm", _params(P_LSTM, W_hh=np.ones((9, 3))), "W_hh"),
    ("params-W_hh-square-lstm", _params(P_LSTM, W_hh=np.ones((3, 3))), "W_hh"),
    ("params-W_hh-height-gru", _params(P_GRU, W_hh=np.ones((12, 3))), "W_hh"),
    ("params-W_hh-1d-gru", _params(P_GRU, W_hh=np.ones(9)), "W_hh"),
    ("params-W_hh-none", _params(P_GRU, W_hh=None), "W_hh"),
    ("params-W_hh-lstm-for-rnn", _params(engine.init_params(2, 3, 2), W_hh=np.ones((12, 3))), "W_hh"),
    ("params-W_hx-rows-lstm", _params(P_LSTM, W_hx=np.ones((3, 2))), "W_hx"),
    ("params-b_h-length-gru", _params(P_GRU, b_h=np.zeros(3)), "b_h"),
    ("params-W_hy-cols-lstm", _params(P_LSTM, W_hy=np.ones((2, 12))), "W_hy"),
    ("bptt-h0-2H-lstm", lambda: engine.bptt(P_LSTM, np.ones((4, 2)), np.zeros(2), h0=np.zeros(6)), "h0"),
    ("bptt-x-D-gru", lambda: engine.bptt(P_GRU, np.ones((4, 3)), np.zeros(2)), "x"),
]


@pytest.mark.parametrize("fn,name", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_names_the_argument(fn, name):
    with pytest.raises(ValueError) as info:
        fn()
    assert name in str(info.value), str(info.value)


# ---------------------------------------------------------------- issue 7: sigmoid tails, overflow


def _sigmoid_net(cell, b_y, T=5):
    p = engine.init_params(2, 3, 1, cell=cell, output="sigmoid", seed=1)
    return p.replace(W_hy=np.zeros((1, 3)), b_y=np.array([b_y])), np.random.default_rng(0).normal(size=(T, 2))


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_sigmoid_output_far_negative_logit_is_tail_exact(cell):
    """Issue 7, defect 1: b_y = -40, target 0: y = 1/(1 + e^40) = 4.25e-18, not 0, and so is dL/db_y."""
    want = 1.0 / (1.0 + math.exp(40.0))
    p, x = _sigmoid_net(cell, -40.0)
    tr = engine.bptt(p, x, [0.0])
    assert want == pytest.approx(4.248354255291589e-18, rel=1e-15, abs=0)
    np.testing.assert_allclose(tr.y[:, 0], want, rtol=1e-12)
    assert tr.grads.b_y[0] == pytest.approx(want, rel=1e-12, abs=0)
    assert tr.loss == pytest.approx(math.log1p(math.exp(-40.0)), rel=1e-12, abs=0)
    tr_all = engine.bptt(p, x, np.zeros((5, 1)), loss="all")
    assert tr_all.grads.b_y[0] == pytest.approx(5 * want, rel=1e-12, abs=0)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("z", [-30.0, -30.3, -29.7, -35.0, -300.0])
def test_sigmoid_output_gradient_exact_at_negative_logits(cell, z):
    """Issue 7, defect 1: at z ~ -30 the gradient was 1.7e-4 off (relative); the closed form is
    e^z / (1 + e^z)."""
    want = math.exp(z) / (1.0 + math.exp(z))
    p, x = _sigmoid_net(cell, z)
    tr = engine.bptt(p, x, [0.0])
    assert tr.grads.b_y[0] == pytest.approx(want, rel=1e-12, abs=0)
    assert tr.y[-1, 0] == pytest.approx(want, rel=1e-12, abs=0)


def _linear_unit(W_hx=1.0, W_hh=1.0, W_hy=1.0):
    return engine.RNNParams(W_hx=[[W_hx]], W_hh=[[W_hh]], b_h=[0.0], W_hy=[[W_hy]], b_y=[0.0], activation="linear")


def test_infinite_loss_is_overflow():
    """Issue 7, defect 2: linear unit, W = 1, x = 1e160, one step: h = y = 1e160 is finite but the
    loss 0.5 y^2 is not."""
    p = _linear_unit()
    tr = engine.bptt(p, [[1e160]], [0.0])
    assert tr.h[0, 0] == 1e160 and np.isinf(tr.loss)
    assert tr.overflow_step == 0 and tr.overflow_phase == "loss"
    assert isinstance(tr.grads, engine.RNNParams) and tr.grads.cell == "rnn"
    assert set(tr.grads.arrays()) == {"W_hx", "W_hh", "b_h", "W_hy", "b_y"}
    with pytest.raises(ValueError, match="x"):
        engine.gradient_check(p, [[1e160]], [0.0])


def test_only_a_weight_gradient_overflows():
    """Finite states, loss and dL/dh_t, but dW_hy = dz h = 1e10 * 1e300 is inf."""
    p = _linear_unit(W_hy=1e-290)
    tr = engine.bptt(p, [[1e300]], [0.0])
    assert np.isfinite(tr.loss) and np.isfinite(tr.h).all() and np.isfinite(tr.grad_h).all()
    assert np.isinf(tr.grads.W_hy).all() and np.isfinite(tr.grads.W_hx).all()
    assert tr.overflow_step == 0 and tr.overflow_phase == "backward"
    assert isinstance(tr.grads, engine.RNNParams)
    with pytest.raises(ValueError):
        engine.gradient_check(p, [[1e300]], [0.0])


def test_weight_gradient_sum_overflows_at_the_last_step():
    """Every step's term of dW_hy (1e308) is finite; their sum over two steps is not."""
    p = _linear_unit(W_hh=0.0, W_hy=1e-308)
    x = [[1e308], [1e308]]
    tr = engine.bptt(p, x, np.zeros((2, 1)), loss="all")
    assert np.isfinite(tr.loss) and np.isfinite(tr.grad_h).all()
    assert np.isinf(tr.grads.W_hy).all()
    assert tr.overflow_step == 1 and tr.overflow_phase == "backward"
    with pytest.raises(ValueError):
        engine.gradient_check(p, x, np.zeros((2, 1)), loss="all")


@pytest.mark.parametrize("cell", GATED)
def test_gated_overflow_keeps_the_grads_type(cell):
    p, x, target, h0 = gated_case(cell, seed=4)
    # a huge read-out: h is bounded, the loss is not
    big = p.replace(W_hy=1e200 * np.sign(p.W_hy))
    tr = engine.bptt(big, x, target, h0=h0)
    assert np.isinf(tr.loss) and tr.overflow_phase == "loss"
    assert isinstance(tr.grads, engine.RNNParams) and tr.grads.cell == cell
    assert set(tr.grads.arrays()) == set(p.arrays())
    with pytest.raises(ValueError):
        engine.gradient_check(big, x, target, h0=h0)
    # inputs beyond the float64 range of the pre-activations
    hot = p.replace(W_hx=np.abs(p.W_hx) + 1.0)
    xi = np.full_like(x, 1e308)
    tr = engine.bptt(hot, xi, target, h0=h0)
    assert tr.overflow_step == 0 and tr.overflow_phase == "forward"
    assert isinstance(tr.grads, engine.RNNParams) and tr.grads.cell == cell
    f = engine.forward(hot, xi, h0=h0)
    assert f.overflow_step == 0 and f.overflow_phase == "forward"
    with pytest.raises(ValueError):
        engine.gradient_check(hot, xi, target, h0=h0)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("output", OUTPUTS)
def test_grads_are_params_of_the_same_cell(cell, output):
    if cell == "rnn":
        p = engine.init_params(3, 4, 3, output=output, seed=2)
        x, target = np.ones((6, 3)), engine.make_target(output, "last", 6, 3)
        h0 = None
    else:
        p, x, target, h0 = gated_case(cell, output, T=6, seed=2)
    for g in (engine.bptt(p, x, target, h0=h0).grads,
              engine.bptt_batch(p, np.stack([x, x]), np.stack([target, target]), [6, 3], h0=h0).grads):
        assert type(g) is engine.RNNParams
        assert (g.cell, g.output, g.activation) == (p.cell, p.output, p.activation)
        assert all(getattr(g, k).shape == v.shape for k, v in p.arrays().items())
        assert (g.b_hn is None) == (cell != "gru")


# ---------------------------------------------------------------- threads


def _gated_job(i):
    cell = GATED[i % 2]
    output, loss = OUTPUTS[i % 3], LOSSES[(i // 2) % 2]
    p, x, target, h0 = gated_case(cell, output, loss, T=30 + i % 11, H=4 + i % 6, seed=i)
    tr = engine.bptt(p, x, target, h0=h0, loss=loss)
    extra = (tr.c, tr.grad_c) if cell == "lstm" else ()
    return (tr.h, tr.y, tr.grad_h, tr.grad_h_norm, tr.jacobian_norm, np.array([tr.loss]), *extra,
            *tr.grads.arrays().values())


def test_gated_bptt_from_8_threads_is_bit_identical_to_serial():
    jobs = list(range(48 if JIT_DISABLED else 240))
    serial = [_gated_job(i) for i in jobs]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(_gated_job, jobs))
    for a, b in zip(serial, threaded):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("z", [40.0, 30.0, 36.5, 300.0])
def test_sigmoid_output_far_positive_logit_with_target_1_is_tail_exact(cell, z):
    """The mirror image of defect 1: a confident right answer (z = +40, target 1) has loss
    log(1 + e^-40) = 4.25e-18 and dL/dz = sigmoid(z) - 1 = -1/(1 + e^40), not 0 and 0."""
    want = 1.0 / (1.0 + math.exp(z))  # = 1 - sigmoid(z), computed without cancellation
    p, x = _sigmoid_net(cell, z)
    tr = engine.bptt(p, x, [1.0])
    assert tr.loss == pytest.approx(math.log1p(math.exp(-z)), rel=1e-12, abs=0)
    assert tr.grads.b_y[0] == pytest.approx(-want, rel=1e-12, abs=0)
    tr_all = engine.bptt(p, x, np.ones((5, 1)), loss="all")
    assert tr_all.loss == pytest.approx(5 * math.log1p(math.exp(-z)), rel=1e-12, abs=0)
    assert tr_all.grads.b_y[0] == pytest.approx(-5 * want, rel=1e-12, abs=0)
    # a soft target: dL/dz = sigmoid(z) - t = 0.75 - (1 - sigmoid(z))
    tr_soft = engine.bptt(p, x, [0.25])
    assert tr_soft.grads.b_y[0] == pytest.approx(0.75 - want, rel=1e-15, abs=0)
    assert tr_soft.loss == pytest.approx(math.log1p(math.exp(-z)) + 0.75 * z, rel=1e-15, abs=0)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("lead", [40.0, 30.0, 300.0])
def test_softmax_output_confident_right_answer_is_tail_exact(cell, lead):
    """Cross-entropy of a confident right answer (logits [lead, 0, -5], class 0) is
    log(1 + e^-lead + e^-(lead+5)) ~ 4.2e-18 at lead = 40, not 0, and dL/dz_0 = y_0 - 1 is minus
    the other classes' probability, not 1 - 1 = 0."""
    p = engine.init_params(2, 3, 3, cell=cell, output="softmax", seed=1)
    p = p.replace(W_hy=np.zeros((3, 3)), b_y=np.array([lead, 0.0, -5.0]))
    x = np.random.default_rng(0).normal(size=(4, 2))
    rest = math.exp(-lead) + math.exp(-lead - 5.0)
    y1, y2 = math.exp(-lead) / (1.0 + rest), math.exp(-lead - 5.0) / (1.0 + rest)
    tr = engine.bptt(p, x, 0)
    assert tr.loss == pytest.approx(math.log1p(rest), rel=1e-12, abs=0)
    np.testing.assert_allclose(tr.grads.b_y, [-(y1 + y2), y1, y2], rtol=1e-12, atol=0)
    tr_all = engine.bptt(p, x, np.zeros(4, dtype=int), loss="all")
    assert tr_all.loss == pytest.approx(4 * math.log1p(rest), rel=1e-12, abs=0)
    np.testing.assert_allclose(tr_all.grads.b_y, [-4 * (y1 + y2), 4 * y1, 4 * y2], rtol=1e-12, atol=0)
    # the wrong class: loss lead + log1p(...), gradient on class 1 is y_1 - 1
    tr_wrong = engine.bptt(p, x, 1)
    assert tr_wrong.loss == pytest.approx(lead + math.log1p(rest), rel=1e-14, abs=0)
    np.testing.assert_allclose(tr_wrong.grads.b_y, [1.0 / (1.0 + rest), y1 - 1.0, y2], rtol=1e-14, atol=0)
