"""The engine agrees with PyTorch (float64, CPU) for all three cells: loss, outputs, every parameter
gradient, the total dL/dh_t (and dL/dc_t) of every step, padded batches and the state Jacobians.

Weights travel from a PyTorch-keyed state dict through engine.params_from_state_dict, so the
key mapping and the bias bookkeeping (b_h, and the GRU's b_hn) are checked on the way.
PyTorch's nn.LSTM output gradient is only the direct part of dL/dh_t, so the per-step totals come
from stepping nn.RNNCell / nn.LSTMCell / nn.GRUCell (same weights) with retain_grad on each state.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import engine

RTOL = 1e-9
F64 = torch.float64
MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CELL_MODULES = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
from naive import random_state  # noqa: E402

RNN_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
# (cell, activation) pairs; the vanilla RNN is checked with both of nn.RNN's nonlinearities
KINDS = (("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh"))
KIND_IDS = ("rnn-tanh", "rnn-relu", "lstm", "gru")
N_CASES = 40  # random configurations per kind


# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _torch_rng_restored():
    """Tests here seed torch's global generator (module initialisation draws from it): restore its state
    afterwards, so that no other test's draws depend on which of these ran before it."""
    with torch.random.fork_rng(devices=[]):
        yield


def rel_err(actual, expected) -> float:
    """||actual - expected|| / ||expected|| (0 when both are exactly zero)."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    num = np.linalg.norm(actual - expected)
    den = np.linalg.norm(expected)
    return 0.0 if num == 0.0 else float(num / den) if den > 0 else np.inf


def assert_rel(actual, expected, what, rtol=RTOL):
    err = rel_err(actual, expected)
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"


def assert_rows_rel(actual, expected, what, rtol=RTOL):
    """Relative error of every row (time step) on its own, so a vanished step is checked as
    strictly as a large one."""
    for t in range(expected.shape[0]):
        assert_rel(actual[t], expected[t], f"{what}[{t}]", rtol)



def random_target(output, loss, T, O, rng, lead=()):
    rows = lead + ((T,) if loss == "all" else ())
    if output == "softmax":
        return rng.integers(0, O, size=rows)
    if output == "sigmoid":
        return rng.uniform(size=rows + (O,))
    return rng.normal(size=rows + (O,))


def random_case(kind_index, k):
    """Configuration k of one kind: sizes, output, loss mode, weight scale, inputs, target, h0."""
    cell, act = KINDS[kind_index]
    rng = np.random.default_rng([7, kind_index, k])
    output = ("identity", "softmax", "sigmoid")[k % 3]
    loss = ("last", "all")[(k // 3) % 2]
    D = int(rng.integers(1, 6))
    H = int(rng.integers(1, 10))
    O = int(rng.integers(2 if output == "softmax" else 1, 5))
    T = int(rng.integers(1, 13)) if k % 5 else int(rng.integers(13, 41))
    scale = float(rng.choice([0.5, 1.0, 2.0]))
    sd = random_state(cell, D, H, O, rng, scale)
    x = rng.normal(size=(T, D))
    h0 = 0.5 * rng.normal(size=H)
    target = random_target(output, loss, T, O, rng)
    return cell, act, output, loss, sd, x, target, h0


def engine_params(cell, act, output, sd):
    return engine.params_from_state_dict(sd, cell=cell, activation=act, output=output)


def torch_module(cell, act, D, H, sd):
    mod = MODULES[cell](D, H, **({"nonlinearity": act} if cell == "rnn" else {})).to(F64)
    with torch.no_grad():
        for key in RNN_KEYS:
            getattr(mod, key).copy_(torch.from_numpy(sd[key]))
    return mod


def torch_cell(cell, act, D, H, sd):
    mod = CELL_MODULES[cell](D, H, **({"nonlinearity": act} if cell == "rnn" else {})).to(F64)
    with torch.no_grad():
        for key in RNN_KEYS:
            getattr(mod, key[:-3]).copy_(torch.from_numpy(sd[key]))  # weight_ih_l0 -> weight_ih
    return mod


def torch_head(H, O, sd):
    head = nn.Linear(H, O).to(F64)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(sd["head.weight"]))
        head.bias.copy_(torch.from_numpy(sd["head.bias"]))
    return head


def torch_loss(output, loss, Z, target):
    """Loss and outputs y for logits Z (T, O), as rnn.py's docstring defines them."""
    rows = Z if loss == "all" else Z[-1:]
    if output == "identity":
        y = Z
        tg = torch.as_tensor(np.asarray(target, dtype=float)).reshape(rows.shape)
        value = 0.5 * ((rows - tg) ** 2).sum()
    elif output == "softmax":
        y = torch.softmax(Z, dim=-1)
        tg = torch.as_tensor(np.asarray(target, dtype=np.int64)).reshape(rows.shape[0])
        value = F.cross_entropy(rows, tg, reduction="sum")
    else:
        y = torch.sigmoid(Z)
        tg = torch.as_tensor(np.asarray(target, dtype=float)).reshape(rows.shape)
        value = F.binary_cross_entropy_with_logits(rows, tg, reduction="sum")
    return value, y


def torch_reference(cell, act, output, loss, sd, x, target, h0):
    """nn.RNN / nn.LSTM / nn.GRU on the whole sequence: loss, y (T, O), gradients by state-dict key."""
    T, D = x.shape
    H, O = h0.shape[0], sd["head.weight"].shape[0]
    mod, head = torch_module(cell, act, D, H, sd), torch_head(H, O, sd)
    h0t = torch.from_numpy(h0.copy())[None]  # (1, H): one layer, unbatched input
    hx = (h0t, torch.zeros_like(h0t)) if cell == "lstm" else h0t
    out, _ = mod(torch.from_numpy(x), hx)  # (T, H)
    value, y = torch_loss(output, loss, head(out), target)
    value.backward()
    grads = {k: getattr(mod, k).grad.numpy() for k in RNN_KEYS}
    grads["head.weight"], grads["head.bias"] = head.weight.grad.numpy(), head.bias.grad.numpy()
    return float(value.detach()), y.detach().numpy(), out.detach().numpy(), grads


def lstm_step(mod, x_t, h, c):
    """One LSTM step written out with the nn.LSTMCell's own parameters. nn.LSTMCell is one fused
    op whose h output does not depend on its c output tensor, so retain_grad on that c would give
    only the cell-path part of dL/dc_t; here c_t is a real intermediate of h_t."""
    a = mod.weight_ih @ x_t + mod.bias_ih + mod.weight_hh @ h + mod.bias_hh
    i, f, g, o = a.chunk(4)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def torch_stepped(cell, act, output, loss, sd, x, target, h0):
    """The same network stepped one cell call at a time: total dL/dh_t (T, H), dL/dc_t (LSTM) and
    the parameter gradients of the cell."""
    T, D = x.shape
    H, O = h0.shape[0], sd["head.weight"].shape[0]
    mod, head = torch_cell(cell, act, D, H, sd), torch_head(H, O, sd)
    xt = torch.from_numpy(x)
    h = torch.from_numpy(h0.copy())
    c = torch.zeros(H, dtype=F64)
    hs, cs = [], []
    for t in range(T):
        if cell == "lstm":
            h, c = lstm_step(mod, xt[t], h, c)
            c.retain_grad()
            cs.append(c)
        else:
            h = mod(xt[t], h)
        h.retain_grad()
        hs.append(h)
    value, _ = torch_loss(output, loss, head(torch.stack(hs)), target)
    value.backward()
    grad_h = np.stack([v.grad.numpy() for v in hs])
    grad_c = np.stack([v.grad.numpy() for v in cs]) if cell == "lstm" else None
    grads = {k: getattr(mod, k[:-3]).grad.numpy() for k in RNN_KEYS}
    return float(value.detach()), grad_h, grad_c, grads


def assert_grads_match(cell, g: engine.RNNParams, ref: dict, what: str):
    """Engine gradients against PyTorch's, through the bias mapping of params_from_state_dict:
    rnn/lstm: b_h = bias_ih + bias_hh, so db_h equals both torch bias gradients; gru: the r and z
    blocks likewise, db_h's n block is bias_ih's n block and db_hn is bias_hh's n block."""
    H = g.n_hidden
    assert isinstance(g, engine.RNNParams) and g.cell == cell
    assert_rel(g.W_hx, ref["weight_ih_l0"], f"{what} dW_hx")
    assert_rel(g.W_hh, ref["weight_hh_l0"], f"{what} dW_hh")
    if "head.weight" in ref:
        assert_rel(g.W_hy, ref["head.weight"], f"{what} dW_hy")
        assert_rel(g.b_y, ref["head.bias"], f"{what} db_y")
    if cell == "gru":
        assert_rel(g.b_h[:2 * H], ref["bias_ih_l0"][:2 * H], f"{what} db_h[r,z] vs bias_ih")
        assert_rel(g.b_h[:2 * H], ref["bias_hh_l0"][:2 * H], f"{what} db_h[r,z] vs bias_hh")
        assert_rel(g.b_h[2 * H:], ref["bias_ih_l0"][2 * H:], f"{what} db_h[n] vs bias_ih[n]")
        assert_rel(g.b_hn, ref["bias_hh_l0"][2 * H:], f"{what} db_hn vs bias_hh[n]")
    else:
        assert g.b_hn is None
        assert_rel(g.b_h, ref["bias_ih_l0"], f"{what} db_h vs bias_ih")
        assert_rel(g.b_h, ref["bias_hh_l0"], f"{what} db_h vs bias_hh")


# ---------------------------------------------------------------- one sequence


@pytest.mark.parametrize("k", range(N_CASES))
@pytest.mark.parametrize("kind", range(len(KINDS)), ids=KIND_IDS)
def test_bptt_matches_torch(kind, k):
    cell, act, output, loss, sd, x, target, h0 = random_case(kind, k)
    p = engine_params(cell, act, output, sd)
    tr = engine.bptt(p, x, target, h0=h0, loss=loss)
    assert tr.overflow_step is None

    value, y, out, grads = torch_reference(cell, act, output, loss, sd, x, target, h0)
    assert_rel(tr.loss, value, "loss")
    assert_rows_rel(tr.h, out, "h")
    assert_rows_rel(tr.y, y, "y")
    assert_grads_match(cell, tr.grads, grads, "nn module")

    value_s, grad_h, grad_c, cell_grads = torch_stepped(cell, act, output, loss, sd, x, target, h0)
    assert_rel(tr.loss, value_s, "loss (stepped)")
    assert_rows_rel(tr.grad_h, grad_h, "dL/dh_t")
    np.testing.assert_allclose(tr.grad_h_norm, np.linalg.norm(grad_h, axis=1), rtol=RTOL, atol=0)
    assert_grads_match(cell, tr.grads, cell_grads, "stepped cell")
    if cell == "lstm":
        assert_rows_rel(tr.c, _torch_c(sd, x, h0), "c")
        assert_rows_rel(tr.grad_c, grad_c, "dL/dc_t")
        np.testing.assert_allclose(tr.grad_c_norm, np.linalg.norm(grad_c, axis=1), rtol=RTOL, atol=0)
    else:
        assert tr.c is None and tr.grad_c is None and tr.grad_c_norm is None


def _torch_c(sd, x, h0):
    """The LSTM's cell states c_1..c_T from nn.LSTMCell."""
    T, D = x.shape
    H = h0.shape[0]
    mod = torch_cell("lstm", "tanh", D, H, sd)
    h, c = torch.from_numpy(h0.copy()), torch.zeros(H, dtype=F64)
    cs = []
    with torch.no_grad():
        for t in range(T):
            h, c = mod(torch.from_numpy(x[t]), (h, c))
            cs.append(c.numpy().copy())
    return np.stack(cs)


@pytest.mark.parametrize("kind", range(len(KINDS)), ids=KIND_IDS)
def test_gates_match_torch_equations(kind):
    """trace.gates holds the activated gate values in PyTorch's order (checked against the gate
    equations evaluated with torch on the engine's own h_{t-1})."""
    cell, act, output, loss, sd, x, target, h0 = random_case(kind, 3)
    p = engine_params(cell, act, output, sd)
    tr = engine.forward(p, x, h0=h0)
    if cell == "rnn":
        assert tr.gates == {}
        return
    H = p.n_hidden
    h_prev = np.vstack([h0, tr.h[:-1]])
    gi = x @ sd["weight_ih_l0"].T + sd["bias_ih_l0"]
    gh = h_prev @ sd["weight_hh_l0"].T + sd["bias_hh_l0"]
    blk = lambda M, j: torch.from_numpy(M[:, j * H:(j + 1) * H])  # noqa: E731
    if cell == "lstm":
        want = {"i": torch.sigmoid(blk(gi, 0) + blk(gh, 0)), "f": torch.sigmoid(blk(gi, 1) + blk(gh, 1)),
                "g": torch.tanh(blk(gi, 2) + blk(gh, 2)), "o": torch.sigmoid(blk(gi, 3) + blk(gh, 3))}
    else:
        r = torch.sigmoid(blk(gi, 0) + blk(gh, 0))
        want = {"r": r, "z": torch.sigmoid(blk(gi, 1) + blk(gh, 1)), "n": torch.tanh(blk(gi, 2) + r * blk(gh, 2))}
    assert tuple(tr.gates) == p.gate_names
    for g, v in want.items():
        assert_rows_rel(tr.gates[g], v.numpy(), f"gate {g}")


# ---------------------------------------------------------------- padded batches


def torch_batch(cell, act, output, loss, sd, x, target, lengths, h0):
    """Packed nn.RNN / nn.LSTM / nn.GRU over the batch; the loss summed over sequences (each at its
    own last step, or over its own steps). Returns loss, y (B, T, O) and h (B, T, H) (zero padded), grads."""
    B, T, D = x.shape
    H, O = h0.shape[0], sd["head.weight"].shape[0]
    mod, head = torch_module(cell, act, D, H, sd), torch_head(H, O, sd)
    xt = torch.from_numpy(np.nan_to_num(x, nan=0.0))
    packed = nn.utils.rnn.pack_padded_sequence(xt, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
    h0t = torch.from_numpy(h0.copy()).reshape(1, 1, H).repeat(1, B, 1)
    hx = (h0t, torch.zeros_like(h0t)) if cell == "lstm" else h0t
    out, _ = mod(packed, hx)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, H)
    Z = head(out)
    total, ys = 0.0, []
    for b, L in enumerate(lengths):
        tb = target[b][:L] if loss == "all" else target[b]
        v, y = torch_loss(output, loss, Z[b, :L], tb)
        total = total + v
        ys.append(y)
    total.backward()
    grads = {k: getattr(mod, k).grad.numpy() for k in RNN_KEYS}
    grads["head.weight"], grads["head.bias"] = head.weight.grad.numpy(), head.bias.grad.numpy()
    return float(total.detach()), ys, out.detach().numpy(), grads


@pytest.mark.parametrize("k", range(6))
@pytest.mark.parametrize("kind", range(len(KINDS)), ids=KIND_IDS)
def test_bptt_batch_with_lengths_matches_torch(kind, k):
    cell, act = KINDS[kind]
    rng = np.random.default_rng([11, kind, k])
    output = ("identity", "softmax", "sigmoid")[k % 3]
    loss = ("last", "all")[k % 2]
    B, T, D, H = int(rng.integers(2, 6)), int(rng.integers(2, 15)), int(rng.integers(1, 5)), int(rng.integers(1, 8))
    O = int(rng.integers(2, 5))
    sd = random_state(cell, D, H, O, rng)
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T  # pad_packed_sequence's full length is T
    x = rng.normal(size=(B, T, D))
    for b, L in enumerate(lengths):
        x[b, L:] = np.nan  # padding: ignored
    target = random_target(output, loss, T, O, rng, lead=(B,))
    h0 = 0.5 * rng.normal(size=H)
    p = engine_params(cell, act, output, sd)

    bt = engine.bptt_batch(p, x, target, lengths, h0=h0, loss=loss)
    value, ys, out, grads = torch_batch(cell, act, output, loss, sd, x, target, lengths, h0)
    assert_rel(bt.loss, value, "batch loss")
    assert_grads_match(cell, bt.grads, grads, "batch")
    for b, L in enumerate(lengths):
        assert_rows_rel(bt.h[b, :L], out[b, :L], f"h of sequence {b}")
        assert_rows_rel(bt.y[b, :L], ys[b].detach().numpy(), f"y of sequence {b}")
        assert np.isnan(bt.h[b, L:]).all() and np.isnan(bt.grad_h_norm[b, L:]).all()
        tb = target[b][:L] if loss == "all" else target[b]
        _, grad_h, _, _ = torch_stepped(cell, act, output, loss, sd, x[b, :L], tb, h0)
        np.testing.assert_allclose(bt.grad_h_norm[b, :L], np.linalg.norm(grad_h, axis=1), rtol=RTOL, atol=0)
        assert_rows_rel(bt.traces[b].grad_h, grad_h, f"dL/dh_t of sequence {b}")


# ---------------------------------------------------------------- state Jacobians


def torch_state_jacobian(cell, act, sd, x, state, t):
    """d s_T / d s_t (0-based t: the state after step t+1) by torch.autograd.functional.jacobian
    of the map that runs steps t+1 .. T-1 on s; s = h, or (h, c) stacked for the LSTM."""
    T, D = x.shape
    H = sd["weight_hh_l0"].shape[1]
    mod = torch_cell(cell, act, D, H, sd)
    xt = torch.from_numpy(x)

    def run(s):
        if cell == "lstm":
            h, c = s[:H], s[H:]
            for k in range(t + 1, T):
                h, c = mod(xt[k], (h, c))
            return torch.cat([h, c])
        for k in range(t + 1, T):
            s = mod(xt[k], s)
        return s

    return torch.autograd.functional.jacobian(run, torch.from_numpy(state.copy())).numpy()


@pytest.mark.parametrize("k", range(3))
@pytest.mark.parametrize("kind", range(len(KINDS)), ids=KIND_IDS)
def test_jacobian_norm_matches_torch(kind, k):
    cell, act = KINDS[kind]
    rng = np.random.default_rng([13, kind, k])
    T, D, H, O = 12 + 3 * k, 2, 3 + 2 * k, 2
    sd = random_state(cell, D, H, O, rng, scale=(1.0, 2.0, 3.0)[k])
    x = rng.normal(size=(T, D))
    h0 = 0.5 * rng.normal(size=H)
    p = engine_params(cell, act, "identity", sd)
    tr = engine.bptt(p, x, rng.normal(size=O), h0=h0)
    assert tr.jacobian_norm.shape == (T,) and tr.jacobian_norm[-1] == 1.0
    steps = [0, 1, T // 2, T - 2, T - 1]
    for t in steps:
        state = np.concatenate([tr.h[t], tr.c[t]]) if cell == "lstm" else tr.h[t]
        J = torch_state_jacobian(cell, act, sd, x, state, t)
        assert J.shape == (2 * H, 2 * H) if cell == "lstm" else (H, H)
        want = np.linalg.norm(J, 2)
        assert tr.jacobian_norm[t] == pytest.approx(want, rel=1e-9, abs=0), f"step {t}"
    np.testing.assert_allclose(engine.jacobian_norms(tr, steps), tr.jacobian_norm[steps], rtol=0, atol=0)
    # the grid: entry (i, j) = ||ds_{s_i}/ds_{s_j}||; its last row (s_i = T - 1) is jacobian_norms
    grid = engine.jacobian_norm_grid(tr, steps)
    np.testing.assert_allclose(grid[-1], tr.jacobian_norm[steps], rtol=1e-12)
    # an interior entry against torch: ds_{T/2}/ds_1 from the map over steps 2 .. T/2
    i, j = steps.index(T // 2), steps.index(1)
    state = np.concatenate([tr.h[1], tr.c[1]]) if cell == "lstm" else tr.h[1]
    J = torch_state_jacobian(cell, act, sd, x[:T // 2 + 1], state, 1)
    assert grid[i, j] == pytest.approx(np.linalg.norm(J, 2), rel=1e-9, abs=0)
    assert np.isnan(grid[j, i]) and grid[i, i] == 1.0


@pytest.mark.parametrize("kind", range(len(KINDS)), ids=KIND_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_state_dict_of_torch_tensors(kind, dtype):
    """A real module's state_dict() (tensors, float32 or float64, requires_grad) plus a head is
    accepted as it is, and params_to_state_dict loads back into the module with load_state_dict."""
    cell, act = KINDS[kind]
    torch.manual_seed(kind)  # torch's global generator: restored after the test by the fixture below
    D, H, O = 3, 4, 2
    mod = MODULES[cell](D, H, **({"nonlinearity": act} if cell == "rnn" else {})).to(dtype)
    head = nn.Linear(H, O).to(dtype)
    state = {**mod.state_dict(keep_vars=True), **{f"head.{k}": v for k, v in head.state_dict(keep_vars=True).items()}}
    p = engine.params_from_state_dict(state, cell=cell, activation=act)
    assert p.W_hx.dtype == np.float64
    np.testing.assert_array_equal(p.W_hh, mod.weight_hh_l0.detach().double().numpy())
    np.testing.assert_array_equal(p.W_hy, head.weight.detach().double().numpy())
    back = engine.params_to_state_dict(p)
    mod2 = MODULES[cell](D, H, **({"nonlinearity": act} if cell == "rnn" else {})).to(F64)
    mod2.load_state_dict({k: torch.from_numpy(back[k]) for k in RNN_KEYS})
    x = torch.randn(7, D, dtype=F64)
    with torch.no_grad():
        want = mod.to(F64)(x)[0].numpy()
        got = mod2(x)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)  # only the bias split differs
