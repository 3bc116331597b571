"""The training modules (engine.batch, engine.optim, engine.models, engine.trainer) without PyTorch: batch gradients against central finite differences, masks, generation,
clipping (ORACLES O4), the batching order, divergence, bad input, and the adding problem (O10)."""

import numpy as np
import pytest
from naive import N_GATES, random_state  # noqa: E402

from engine.batch import BatchResult, batch_gradients
from engine.models import EncoderDecoder, SequenceModel, generate, make_dataset
from engine.optim import SGD, Adam, clip_by_norm, clip_by_value, global_norm
from engine.trainer import Trainer, TrainingStopped

KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias")
KINDS = (("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh"))
KIND_IDS = ("rnn-tanh", "rnn-relu", "lstm", "gru")



def random_targets(output, loss, B, T, O, rng):
    lead = (B, T) if loss == "all" else (B,)
    if output == "softmax":
        return rng.integers(0, O, size=lead)
    if output == "sigmoid":
        return rng.uniform(size=lead + (O,))
    return rng.normal(size=lead + (O,))


def adding_problem(n, T, rng):
    """O10: value channel U[0, 1], marker channel with exactly two 1s (one in each half); target = the
    sum of the two marked values."""
    x = np.zeros((n, T, 2))
    x[:, :, 0] = rng.uniform(size=(n, T))
    rows = np.arange(n)
    i, j = rng.integers(0, T // 2, size=n), rng.integers(T // 2, T, size=n)
    x[rows, i, 1] = 1.0
    x[rows, j, 1] = 1.0
    return x, (x[rows, i, 0] + x[rows, j, 0])[:, None]


# ---------------------------------------------------------------- finite differences (ORACLES O1)


def fd_check(loss_of, state, grads, rng, n_entries=6, eps=1e-6, rtol=1e-6):
    """Central differences of loss_of(state) for a few entries of every array."""
    for k, W in state.items():
        flat = W.ravel()
        for i in rng.choice(flat.size, size=min(n_entries, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + eps
            up = loss_of(state)
            flat[i] = old - eps
            down = loss_of(state)
            flat[i] = old
            fd = (up - down) / (2 * eps)
            g = grads[k].ravel()[i]
            assert abs(fd - g) <= rtol * max(abs(fd), abs(g)) + 1e-9, f"d/d{k}[{i}]: analytic {g!r}, central {fd!r}"


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("output,loss", [("identity", "last"), ("identity", "all"), ("softmax", "last"),
                                         ("softmax", "all"), ("sigmoid", "all")])
def test_batch_gradients_match_finite_differences(kind, output, loss):
    cell, act = kind
    rng = np.random.default_rng([1, len(cell), len(act), len(output), len(loss)])
    B, T, D, H, O = 4, 9, 3, 5, 3
    state = random_state(cell, D, H, O, rng)
    x = rng.normal(size=(B, T, D))
    y = random_targets(output, loss, B, T, O, rng)
    lengths = np.array([T, 3, 7, 1])
    h0 = 0.3 * rng.normal(size=(B, H))
    c0 = 0.3 * rng.normal(size=(B, H))
    kw = dict(cell=cell, activation=act, output=output, loss=loss, h0=h0, c0=c0)
    r = batch_gradients(state, x, y, lengths, **kw)
    assert isinstance(r, BatchResult) and r.overflow is None
    assert set(r.grads) == set(KEYS)
    for k in KEYS:
        assert r.grads[k].shape == state[k].shape
    fd_check(lambda s: batch_gradients(s, x, y, lengths, **kw).loss, state, r.grads, rng)


@pytest.mark.parametrize("cell", ("rnn", "lstm", "gru"))
def test_initial_state_gradient_matches_finite_differences(cell):
    """dh0 (and dc0 for the LSTM): the gradient that reaches the initial state."""
    rng = np.random.default_rng(2)
    B, T, D, H, O = 3, 6, 2, 4, 2
    state = random_state(cell, D, H, O, rng)
    x, y = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, O))
    lengths = np.array([6, 2, 4])
    h0, c0 = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    kw = dict(cell=cell, loss="all")
    r = batch_gradients(state, x, y, lengths, h0=h0, c0=c0, **kw)
    starts = {"h0": (h0, r.dh0)} | ({"c0": (c0, r.dc0)} if cell == "lstm" else {})
    for name, (arr, grad) in starts.items():
        def loss_of(s, name=name, arr=arr):
            return batch_gradients(state, x, y, lengths, **{**dict(h0=h0, c0=c0), name: s[name]}, **kw).loss
        fd_check(loss_of, {name: arr}, {name: grad}, rng, n_entries=5)


@pytest.mark.parametrize("cell", ("rnn", "lstm", "gru"))
def test_encoder_decoder_gradients_match_finite_differences(cell):
    rng = np.random.default_rng(3)
    B, T_in, T_out, D, H, O = 3, 7, 4, 2, 4, 3
    enc, dec = random_state(cell, D, H, 1, rng), random_state(cell, O + 1, H, O, rng)
    state = {**{"encoder." + k: v for k, v in enc.items() if not k.startswith("head.")},
             **{"decoder." + k: v for k, v in dec.items()}}
    model = EncoderDecoder(state, cell=cell)
    x, y, lengths = rng.normal(size=(B, T_in, D)), rng.integers(0, O, size=(B, T_out)), np.array([7, 3, 5])
    r = model.gradients(x, y, lengths)
    assert set(r.grads) == set(model.state)

    def loss_of(s):
        return EncoderDecoder(s, cell=cell).gradients(x, y, lengths).loss

    fd_check(loss_of, {k: np.array(v) for k, v in model.state.items()}, r.grads, rng, n_entries=4)


# ---------------------------------------------------------------- masks


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("output,loss", [("identity", "last"), ("softmax", "all"), ("sigmoid", "last")])
def test_padded_batch_equals_each_sequence_alone(kind, output, loss):
    """Padding (any value, NaN included) changes nothing: the batch loss is the mean of the sequences'
    own losses, its gradient the mean of their gradients, and each final state its own last state."""
    cell, act = kind
    rng = np.random.default_rng(4)
    B, T, D, H, O = 5, 10, 2, 6, 3
    state = random_state(cell, D, H, O, rng)
    lengths = np.array([10, 1, 4, 9, 6])
    x = rng.normal(size=(B, T, D))
    y = random_targets(output, loss, B, T, O, rng)
    for b, L in enumerate(lengths):
        x[b, L:] = np.nan
    kw = dict(cell=cell, activation=act, output=output, loss=loss)
    r = batch_gradients(state, x, y, lengths, **kw)
    total = {k: np.zeros_like(v) for k, v in state.items()}
    for b, L in enumerate(lengths):
        yb = y[b:b + 1, :L] if loss == "all" else y[b:b + 1]
        one = batch_gradients(state, x[b:b + 1, :L], yb, None, **kw)
        assert r.seq_loss[b] == pytest.approx(one.loss, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(r.y[b, :L], one.y[0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(r.h_last[b], one.h_last[0], rtol=1e-12, atol=1e-15)
        if cell == "lstm":
            np.testing.assert_allclose(r.c_last[b], one.c_last[0], rtol=1e-12, atol=1e-15)
        for k in KEYS:
            total[k] += one.grads[k]
    assert r.loss == pytest.approx(np.mean(r.seq_loss), rel=1e-14)
    for k in KEYS:
        np.testing.assert_allclose(r.grads[k], total[k] / B, rtol=1e-10, atol=1e-14, err_msg=k)
    # padded steps pass the gradient on untouched: it never grows there
    assert np.all(np.isfinite(r.grad_h_norm))


def test_padding_values_are_ignored():
    rng = np.random.default_rng(5)
    state = random_state("gru", 2, 4, 2, rng)
    x = rng.normal(size=(3, 8, 2))
    y = rng.normal(size=(3, 8, 2))
    lengths = np.array([8, 2, 5])
    a = batch_gradients(state, x, y, lengths, cell="gru", loss="all")
    x2, y2 = x.copy(), y.copy()
    for b, L in enumerate(lengths):
        x2[b, L:] = 1e300
        y2[b, L:] = np.nan
    b_ = batch_gradients(state, x2, y2, lengths, cell="gru", loss="all")
    assert a.loss == b_.loss
    for k in KEYS:
        np.testing.assert_array_equal(a.grads[k], b_.grads[k])


def test_truncation_with_k2_at_least_T_is_full_bptt():
    rng = np.random.default_rng(6)
    for cell in ("rnn", "lstm", "gru"):
        state = random_state(cell, 2, 5, 2, rng)
        x, y, lengths = rng.normal(size=(4, 12, 2)), rng.normal(size=(4, 12, 2)), np.array([12, 5, 9, 1])
        full = batch_gradients(state, x, y, lengths, cell=cell, loss="all")
        for tr in ((1, 12), (4, 20), (12, 12), (50, 50)):
            r = batch_gradients(state, x, y, lengths, cell=cell, loss="all", truncate=tr)
            for k in KEYS:
                np.testing.assert_allclose(r.grads[k], full.grads[k], rtol=1e-11, atol=1e-15, err_msg=f"{cell} {tr} {k}")


def test_truncation_cuts_the_gradient():
    """k2 < T with the loss on the last step: nothing reaches the steps before the window."""
    rng = np.random.default_rng(7)
    state = random_state("rnn", 2, 5, 1, rng)
    x, y = rng.normal(size=(2, 20, 2)), rng.normal(size=(2, 1))
    r = batch_gradients(state, x, y, cell="rnn", truncate=(20, 6))
    assert np.all(r.grad_h_norm[:14] == 0.0) and np.all(r.grad_h_norm[14:] > 0.0)
    assert np.all(r.dh0 == 0.0)


# ---------------------------------------------------------------- generation (one-to-many)


def test_generate_greedy_is_deterministic_and_has_the_right_shape():
    rng = np.random.default_rng(8)
    O = 5
    model = SequenceModel(random_state("lstm", O, 8, O, rng, scale=2.0), cell="lstm", output="softmax", loss="all")
    prime = np.eye(O)[[0, 3, 1]]
    a = generate(model, prime, 30, temperature=None, seed=0)
    b = generate(model, prime, 30, temperature=None, seed=123)
    assert a.shape == (30,) and a.dtype.kind == "i" and ((a >= 0) & (a < O)).all()
    np.testing.assert_array_equal(a, b)
    # greedy = the most likely class of the network run on its own one-hot outputs
    x = np.concatenate([prime, np.eye(O)[a[:-1]]])[None]
    r = batch_gradients(model.state, x, np.zeros((1, x.shape[1]), dtype=int), None, cell="lstm",
                        output="softmax", loss="all")
    np.testing.assert_array_equal(np.argmax(r.y[0, prime.shape[0] - 1:], axis=1), a)


def test_generate_sampling_follows_the_seed():
    rng = np.random.default_rng(9)
    O = 4
    model = SequenceModel(random_state("gru", O, 6, O, rng), cell="gru", output="softmax", loss="all")
    prime = np.eye(O)[[1]]
    a = generate(model, prime, 50, temperature=1.0, seed=1)
    np.testing.assert_array_equal(a, generate(model, prime, 50, temperature=1.0, seed=1))
    assert not np.array_equal(a, generate(model, prime, 50, temperature=1.0, seed=2))
    cold = generate(model, prime, 50, temperature=1e-3, seed=3)
    np.testing.assert_array_equal(cold, generate(model, prime, 50, temperature=None))


@pytest.mark.parametrize("cell", ("rnn", "lstm", "gru"))
def test_generate_identity_feeds_the_output_back(cell):
    rng = np.random.default_rng(10)
    D = 2
    model = SequenceModel(random_state(cell, D, 6, D, rng), cell=cell, output="identity", loss="all")
    prime = rng.normal(size=(4, D))
    out = generate(model, prime, 7)
    assert out.shape == (7, D)
    # run prime + the generated values (but the last) as one input sequence: y_t is the next input
    x = np.concatenate([prime, out[:-1]])[None]
    r = batch_gradients(model.state, x, np.zeros((1, x.shape[1], D)), None, cell=cell, loss="all")
    np.testing.assert_allclose(r.y[0, prime.shape[0] - 1:], out, rtol=1e-12, atol=1e-14)


def test_generate_rejects_bad_arguments():
    rng = np.random.default_rng(11)
    model = SequenceModel(random_state("rnn", 3, 4, 3, rng), cell="rnn", output="softmax", loss="all")
    prime = np.eye(3)[[0]]
    for kw, name in ((dict(n_steps=0), "n_steps"), (dict(n_steps=2.5), "n_steps"),
                     (dict(n_steps=3, temperature=0.0), "temperature"),
                     (dict(n_steps=3, temperature=-1.0), "temperature"),
                     (dict(n_steps=3, temperature=float("nan")), "temperature")):
        with pytest.raises(ValueError, match=name):
            generate(model, prime, **kw)
    with pytest.raises(ValueError, match="prime"):
        generate(model, np.zeros((1, 2)), 3)
    with pytest.raises(ValueError, match="prime"):
        generate(model, np.full((1, 3), np.nan), 3)
    other = SequenceModel(random_state("rnn", 2, 4, 3, rng), cell="rnn", output="softmax", loss="all")
    with pytest.raises(ValueError, match="D = 2"):
        generate(other, np.zeros((1, 2)), 3)


# ---------------------------------------------------------------- clipping (ORACLES O4) and optimisers


def _grads(rng):
    return {"a": rng.normal(size=(3, 4)) * 10, "b": rng.normal(size=5) * 0.01, "c": np.array([50.0, -0.1])}


def test_global_norm_is_the_norm_of_all_entries():
    g = _grads(np.random.default_rng(12))
    assert global_norm(g) == pytest.approx(np.sqrt(sum((v ** 2).sum() for v in g.values())), rel=1e-14)


def test_norm_clipping_keeps_the_direction():
    g = _grads(np.random.default_rng(13))
    before = {k: v.copy() for k, v in g.items()}
    total = global_norm(g)
    norm, clipped = clip_by_norm(g, 1.0)
    assert clipped and norm == total
    coef = 1.0 / (total + 1e-6)  # torch.nn.utils.clip_grad_norm_'s coefficient
    for k in g:
        np.testing.assert_allclose(g[k], before[k] * coef, rtol=1e-15)
    flat_a, flat_b = (np.concatenate([d[k].ravel() for k in sorted(d)]) for d in (g, before))
    assert flat_a @ flat_b / (np.linalg.norm(flat_a) * np.linalg.norm(flat_b)) == pytest.approx(1.0, abs=1e-15)
    assert global_norm(g) == pytest.approx(1.0, rel=1e-5)
    # below the threshold: untouched
    small = {k: v * 1e-3 for k, v in before.items()}
    keep = {k: v.copy() for k, v in small.items()}
    norm, clipped = clip_by_norm(small, 1000.0)
    assert not clipped and norm == pytest.approx(total * 1e-3, rel=1e-14)
    for k in small:
        np.testing.assert_array_equal(small[k], keep[k])


def test_value_clipping_changes_the_direction():
    g = _grads(np.random.default_rng(14))
    before = {k: v.copy() for k, v in g.items()}
    norm, clipped = clip_by_value(g, 1.0)
    assert clipped and norm == pytest.approx(global_norm(before), rel=1e-15)
    for k in g:
        np.testing.assert_array_equal(g[k], np.clip(before[k], -1.0, 1.0))
    flat_a, flat_b = (np.concatenate([d[k].ravel() for k in sorted(d)]) for d in (g, before))
    cos = flat_a @ flat_b / (np.linalg.norm(flat_a) * np.linalg.norm(flat_b))
    assert cos < 0.99  # the small entries now weigh as much as the clipped large ones
    g2 = {k: np.clip(v, -0.5, 0.5) for k, v in before.items()}
    assert clip_by_value(g2, 1.0)[1] is False


def test_sgd_momentum_and_adam_formulas():
    p = {"w": np.array([1.0, -2.0])}
    g = {"w": np.array([0.5, 0.25])}
    sgd = SGD(0.1, momentum=0.9)
    sgd.step(p, g)
    np.testing.assert_allclose(p["w"], [1.0 - 0.05, -2.0 - 0.025])
    sgd.step(p, g)  # buf = 0.9 * g + g
    np.testing.assert_allclose(p["w"], [1.0 - 0.05 - 0.1 * 1.9 * 0.5, -2.0 - 0.025 - 0.1 * 1.9 * 0.25])
    q = {"w": np.array([1.0, -2.0])}
    adam = Adam(0.01)
    adam.step(q, g)  # the first Adam step moves every weight by lr * g / (|g| + eps)
    np.testing.assert_allclose(q["w"], [1.0 - 0.01, -2.0 - 0.01], rtol=1e-7)


# ---------------------------------------------------------------- the training loop


class _RecordingModel:
    """Stands in for a model: remembers the rows it was given (x[:, 0, 0] holds the row number)."""

    def __init__(self):
        self.state = {"w": np.zeros(1)}
        self.seen = []

    def gradients(self, x, y, lengths, truncate=None, _checked=False):
        self.seen.append(x[:, 0, 0].astype(int).tolist())
        z = np.zeros(1)
        return BatchResult(0.0, np.zeros(len(x)), None, {"w": np.ones(1)}, z, z, None, z, z, None)


def _row_data(N, T=3):
    x = np.zeros((N, T, 1))
    x[:, 0, 0] = np.arange(N)
    return make_dataset(x, np.zeros((N, 1)))


def test_trainer_without_shuffle_walks_the_rows_and_wraps():
    m = _RecordingModel()
    tr = Trainer(m, _row_data(10), optimizer="sgd", lr=0.1, batch=4, shuffle=False)
    recs = [tr.step() for _ in range(4)]
    assert m.seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5]]
    assert [r.step for r in recs] == [1, 2, 3, 4]
    np.testing.assert_allclose(m.state["w"], -0.4)


def test_trainer_with_shuffle_visits_every_row_once_per_epoch():
    m = _RecordingModel()
    tr = Trainer(m, _row_data(12), optimizer="sgd", lr=0.1, batch=4, shuffle=True, seed=5)
    for _ in range(9):
        tr.step()
    epochs = [sorted(sum(m.seen[i:i + 3], [])) for i in (0, 3, 6)]
    assert all(e == list(range(12)) for e in epochs)
    assert m.seen[:3] != m.seen[3:6]
    m2 = _RecordingModel()
    tr2 = Trainer(m2, _row_data(12), optimizer="sgd", lr=0.1, batch=4, shuffle=True, seed=5)
    for _ in range(9):
        tr2.step()
    assert m2.seen == m.seen


def test_training_lowers_the_loss():
    rng = np.random.default_rng(15)
    x, y = adding_problem(64, 10, rng)
    for cell in ("rnn", "lstm", "gru"):
        model = SequenceModel(random_state(cell, 2, 8, 1, np.random.default_rng(1)), cell=cell)
        tr = Trainer(model, make_dataset(x, y), optimizer="adam", lr=0.02, clip_norm=1.0, batch=16, seed=0)
        first = tr.evaluate().loss
        recs = [tr.step() for _ in range(60)]
        assert all(r.seconds > 0 and r.grad_h_norm.shape == (10,) for r in recs)
        assert tr.evaluate().loss < 0.5 * first, cell


def test_diverging_run_stops_with_the_update_and_the_reason():
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(8, 60, 2)), rng.normal(size=(8, 1)) * 100
    state = random_state("rnn", 2, 6, 1, rng, scale=1.0)
    model = SequenceModel(state, cell="rnn", activation="relu")
    tr = Trainer(model, make_dataset(x, y), optimizer="sgd", lr=1e4, batch=8, shuffle=False)
    with pytest.raises(TrainingStopped) as info:
        for _ in range(20):
            tr.step()
    e = info.value
    assert e.step >= 1 and e.step == tr.steps_done + 1
    assert e.reason and f"update {e.step}" in str(e) and e.reason in str(e)
    assert any(w in e.reason for w in ("overflow", "not finite"))
    assert all(np.isfinite(v).all() for v in model.state.values()), "weights must stay as before the update"


# ---------------------------------------------------------------- bad input


@pytest.fixture
def setup():
    rng = np.random.default_rng(17)
    return random_state("lstm", 2, 4, 1, rng), rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 1))


def test_batch_gradients_rejects_bad_input(setup):
    state, x, y = setup
    ok = dict(cell="lstm")
    cases = [
        (dict(x=x[0]), "x"),
        (dict(x=x[:, :, :1]), "x"),
        (dict(x=np.zeros((3, 0, 2))), "x"),
        (dict(x="abc"), "x"),
        (dict(x=np.where(np.arange(5)[None, :, None] == 2, np.nan, x)), "x must be finite"),
        (dict(y=y[:2]), "y"),
        (dict(y=np.full((3, 1), np.inf)), "y must be finite"),
        (dict(lengths=np.array([5, 0, 2])), "lengths"),
        (dict(lengths=np.array([5, 6, 2])), "lengths"),
        (dict(lengths=np.array([5, 2])), "lengths"),
        (dict(lengths=np.array([5.0, 2.0, 1.0])), "lengths"),
        (dict(cell="transformer"), "cell"),
        (dict(activation="swish"), "activation"),
        (dict(output="softplus"), "output"),
        (dict(loss="first"), "loss"),
        (dict(dtype="float16"), "dtype"),
        (dict(truncate=(0, 3)), "truncate"),
        (dict(truncate=(2,)), "truncate"),
        (dict(truncate=(2.5, 3)), "truncate"),
        (dict(truncate="2,3"), "truncate"),
    ]
    for change, name in cases:
        kw = {"x": x, "y": y, **ok, **change}
        with pytest.raises(ValueError, match=name):
            batch_gradients(state, kw.pop("x"), kw.pop("y"), kw.pop("lengths", None), **kw)
    bad = dict(state)
    del bad["weight_hh_l0"]
    with pytest.raises(ValueError, match="weight_hh_l0"):
        batch_gradients(bad, x, y, cell="lstm")
    with pytest.raises(ValueError, match="y"):  # softmax targets are integer classes
        batch_gradients(state, x, np.array([0.5, 1, 0]), cell="lstm", output="softmax")


def test_trainer_rejects_bad_settings(setup):
    state, x, y = setup
    data = make_dataset(x, y)
    model = SequenceModel(state, cell="lstm")
    cases = [
        (dict(lr=0.0), "lr"), (dict(lr=-1.0), "lr"), (dict(lr=float("nan")), "lr"), (dict(lr="0.1"), "lr"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(momentum=1.0), "momentum"), (dict(momentum=-0.1), "momentum"),
        (dict(clip_norm=1.0, clip_value=1.0), "clip_norm and clip_value"),
        (dict(clip_norm=0.0), "clip_norm"), (dict(clip_value=-1.0), "clip_value"),
        (dict(batch=0), "batch"), (dict(batch=2.0), "batch"),
        (dict(truncate=(3, 0)), "truncate"),
        (dict(seed=-1), "seed"),
    ]
    for kw, name in cases:
        with pytest.raises(ValueError, match=name):
            Trainer(model, data, **kw)
    with pytest.raises(ValueError, match="data"):
        Trainer(model, (x, y))
    with pytest.raises(ValueError, match="x must be finite"):
        make_dataset(np.full_like(x, np.nan), y)
    with pytest.raises(ValueError, match="y"):
        make_dataset(x, np.full_like(y, np.nan))
    with pytest.raises(ValueError, match="cell"):
        SequenceModel(state, cell="elman")


# ---------------------------------------------------------------- the adding problem (ORACLES O10)


def _torch_default_state(cell, H, rng, D=2, O=1):
    """PyTorch's default initialisation: every weight and bias U(-1/sqrt(H), 1/sqrt(H)), the head too."""
    G, k = N_GATES[cell], 1 / np.sqrt(H)
    return {"weight_ih_l0": rng.uniform(-k, k, (G * H, D)), "weight_hh_l0": rng.uniform(-k, k, (G * H, H)),
            "bias_ih_l0": rng.uniform(-k, k, G * H), "bias_hh_l0": rng.uniform(-k, k, G * H),
            "head.weight": rng.uniform(-k, k, (O, H)), "head.bias": rng.uniform(-k, k, O)}


def train_adding(cell, T, steps, seed, H=32, B=32):
    """Adam lr 1e-2, clip-norm 1, B = 32, H = 32, 10000 training sequences (shuffled); returns the loss on
    512 test sequences in the engine's loss (0.5 (y - t)^2 per sequence, mean; the constant predictor
    scores 1/12 = 0.083)."""
    rng = np.random.default_rng(seed)
    x, y = adding_problem(10_000, T, rng)
    xt, yt = adding_problem(512, T, rng)
    model = SequenceModel(_torch_default_state(cell, H, np.random.default_rng(seed + 1000)), cell=cell)
    tr = Trainer(model, make_dataset(x, y), optimizer="adam", lr=1e-2, clip_norm=1.0, batch=B, seed=seed)
    for _ in range(steps):
        tr.step()
    return tr.evaluate(make_dataset(xt, yt)).loss


@pytest.mark.slow
def test_adding_problem_gated_cells_learn_where_the_vanilla_rnn_stays_on_the_baseline():
    """O10 at T = 50 (T = 100 takes longer than CI allows; same picture, measured by hand). Measured with
    this setup, seeds 0-4 (test loss every 100 updates): the LSTM sits on the baseline for 500-800
    updates, then drops below 0.02 within 100 more (by update 600, 800, 900, 800, 700) and below 0.005
    by update 900 for every seed; the GRU leaves it after 100-200 updates and is below 0.002 by update
    300 for every seed; the tanh RNN (seeds 0-2) stays at 0.080-0.11 for 800 updates. Seed 0 is used;
    the budgets leave a margin of 500 (LSTM) and 200 (GRU) updates over the slowest seed measured."""
    losses = {cell: train_adding(cell, 50, steps, seed=0) for cell, steps in (("lstm", 1100), ("gru", 500),
                                                                              ("rnn", 500))}
    assert losses["lstm"] < 0.02, losses
    assert losses["gru"] < 0.02, losses
    assert losses["rnn"] > 0.06, losses


def test_adding_problem_constant_baseline_is_one_twelfth():
    """The bar: predicting the mean 1 scores 0.5 E[(y - 1)^2] = 1/12 (MSE 1/6), within sampling error."""
    _, y = adding_problem(200_000, 20, np.random.default_rng(18))
    assert np.mean(0.5 * (y - 1.0) ** 2) == pytest.approx(1 / 12, abs=1e-3)


def test_model_gradients_validate_their_input():
    """A model's own gradients() zeroes the padding (NaN allowed there) and refuses bad targets."""
    rng = np.random.default_rng(19)
    model = SequenceModel(random_state("gru", 2, 4, 1, rng), cell="gru")
    x, y, lengths = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 1)), np.array([6, 2, 4])
    x_nan = x.copy()
    for b, L in enumerate(lengths):
        x_nan[b, L:] = np.nan
    a, b_ = model.gradients(x, y, lengths), model.gradients(x_nan, y, lengths)
    assert b_.overflow is None and a.loss == b_.loss
    with pytest.raises(ValueError, match="y"):
        model.gradients(x, y[:2], lengths)
    enc, dec = random_state("lstm", 2, 4, 1, rng), random_state("lstm", 4, 4, 3, rng)
    ed = EncoderDecoder({**{"encoder." + k: v for k, v in enc.items()}, **{"decoder." + k: v for k, v in dec.items()}},
                        cell="lstm")
    classes = rng.integers(0, 3, size=(3, 5))
    assert ed.gradients(x_nan, classes, lengths).overflow is None
    for bad in (classes + 3, classes[:2], classes.astype(float), classes[:, :, None]):
        with pytest.raises(ValueError, match="y"):
            ed.gradients(x, bad, lengths)
    with pytest.raises(ValueError, match="lengths"):
        ed.gradients(x, classes, np.array([7, 1, 1]))


def test_encoder_decoder_trains_on_outputs_of_another_length():
    """Reading 6 steps, writing 3: the dataset, the trainer and the loss accept T_out != T_in."""
    from engine import init_params, params_to_state_dict
    from engine.models import EncoderDecoder, make_seq2seq_dataset
    from engine.trainer import Trainer

    rng = np.random.default_rng(0)
    N, T_in, T_out, C, H = 24, 6, 3, 4, 8
    sym = rng.integers(0, C, size=(N, T_in))
    x = np.eye(C)[sym]  # (N, T_in, C) one-hot
    y = sym[:, :T_out][:, ::-1].copy()  # the first three symbols, reversed
    lengths = rng.integers(3, T_in + 1, size=N)
    data = make_seq2seq_dataset(x, y, lengths, n_out=C)
    assert data.y.shape == (N, T_out) and data.lengths.tolist() == lengths.tolist()
    enc = params_to_state_dict(init_params(C, H, 1, cell="gru", seed=1))
    dec = params_to_state_dict(init_params(C + 1, H, C, cell="gru", output="softmax", seed=2))
    state = {**{"encoder." + k: v for k, v in enc.items() if not k.startswith("head.")},
             **{"decoder." + k: v for k, v in dec.items()}}
    trainer = Trainer(EncoderDecoder(state, cell="gru"), data, optimizer="adam", lr=0.05, batch=8, seed=0)
    first = trainer.step().loss
    for _ in range(30):
        last = trainer.step().loss
    assert np.isfinite(last) and last < first
    with pytest.raises(ValueError, match="y must"):
        make_seq2seq_dataset(x, y.astype(float), lengths)
    with pytest.raises(ValueError, match="classes in"):
        make_seq2seq_dataset(x, y, lengths, n_out=2)


def test_truncation_counts_the_padding_of_a_short_sequence():
    """What batch_gradients' docstring and the Train page's note say: a loss at the last step reaches a short
    sequence through its padding, so k2 <= T - length leaves its recurrent weights without gradient, and
    k2 = T - length + 1 reaches its last real step."""
    from engine import init_params, params_to_state_dict
    from engine.batch import batch_gradients

    sd = params_to_state_dict(init_params(2, 8, 1, seed=0))
    T, n = 50, 20
    x = np.random.default_rng(0).normal(size=(1, T, 2))
    x[0, n:] = 0.0
    y, lengths = np.ones((1, 1)), np.array([n])
    full = batch_gradients(sd, x, y, lengths)
    assert np.linalg.norm(full.grads["weight_hh_l0"]) > 0
    for k1, k2 in ((10, 10), (50, 30), (25, T - n)):
        cut = batch_gradients(sd, x, y, lengths, truncate=(k1, k2))
        assert not cut.grads["weight_hh_l0"].any() and not cut.grads["weight_ih_l0"].any()
        assert cut.grads["head.weight"].any()                       # the read-out still learns
    reach = batch_gradients(sd, x, y, lengths, truncate=(T, T - n + 1))
    assert reach.grads["weight_hh_l0"].any() and reach.grad_h_norm[n - 1] > 0 and reach.grad_h_norm[n - 2] == 0
