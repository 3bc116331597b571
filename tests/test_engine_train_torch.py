"""Training agrees with PyTorch (float64, CPU) update for update.

Same initial weights (a PyTorch module's state_dict plus its Linear head), same batches (no shuffling:
update k uses rows kB ... kB + B - 1, wrapping around N), 20 updates of Adam and of SGD with momentum,
with and without torch.nn.utils.clip_grad_norm_ / clip_grad_value_, for nn.RNN (tanh and relu),
nn.LSTM and nn.GRU: the loss at every step, the gradient norm before clipping, and every weight after
the last update. Then truncated BPTT against hand-built PyTorch equivalents (a state detached between
chunks), the encoder-decoder pair, and float32 runs against float64.

The batch loss is the engine's: the mean over sequences of the per-sequence loss, where a sequence's
loss is the sum over its covered steps (loss "last": its own last valid step; "all": every valid step).
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from engine.batch import batch_gradients
from engine.models import EncoderDecoder, SequenceModel, make_dataset
from engine.trainer import Trainer

F64 = torch.float64
MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
KINDS = (("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh"))
KIND_IDS = ("rnn-tanh", "rnn-relu", "lstm", "gru")
KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias")
N_UPDATES = 20
WEIGHT_RTOL = 1e-8
LOSS_RTOL = 1e-10


# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The batches here are tiny: one thread is faster, and immune to a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _torch_rng_restored():
    """TorchNet seeds torch's global generator: restore its state after each test, so that no other
    test's draws depend on which of these ran before it."""
    with torch.random.fork_rng(devices=[]):
        yield


def rel_err(actual, expected) -> float:
    """max |actual - expected| / max |expected| (0 when both are exactly zero)."""
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert a.shape == e.shape, (a.shape, e.shape)
    num, den = np.abs(a - e).max(initial=0.0), np.abs(e).max(initial=0.0)
    return 0.0 if num == 0.0 else float(num / den) if den > 0 else np.inf


def assert_grads(got: dict, want: dict, rtol: float, what: str = ""):
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k in want:
        err = rel_err(got[k], want[k])
        assert err <= rtol, f"{what} {k}: relative error {err:.3g} > {rtol:g}"


class TorchNet:
    """A PyTorch recurrent module (batch_first) with a Linear head, in float64."""

    def __init__(self, cell, act, D, H, O, seed):
        torch.manual_seed(seed)
        kw = {"nonlinearity": act} if cell == "rnn" else {}
        self.cell = cell
        self.rnn = MODULES[cell](D, H, batch_first=True, dtype=F64, **kw)
        self.head = nn.Linear(H, O, dtype=F64)
        with torch.no_grad():  # non-zero, distinct biases, so their bookkeeping is checked
            for name in ("bias_ih_l0", "bias_hh_l0"):
                getattr(self.rnn, name).uniform_(-0.5, 0.5)

    def parameters(self):
        return list(self.rnn.parameters()) + list(self.head.parameters())

    def state_dict(self) -> dict:
        sd = {k: v.detach().numpy().copy() for k, v in self.rnn.state_dict().items()}
        sd["head.weight"] = self.head.weight.detach().numpy().copy()
        sd["head.bias"] = self.head.bias.detach().numpy().copy()
        return sd

    def grads(self) -> dict:
        g = {k: getattr(self.rnn, k).grad.numpy().copy() for k in KEYS[:4]}
        g["head.weight"] = self.head.weight.grad.numpy().copy()
        g["head.bias"] = self.head.bias.grad.numpy().copy()
        return g

    def outputs(self, x, lengths):
        """All hidden states (B, T, H) of the packed batch (zeros past each length)."""
        xt = torch.as_tensor(x)
        packed = pack_padded_sequence(xt, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out

    def loss(self, x, y, lengths, output, loss):
        """The engine's batch loss: mean over sequences of the per-sequence sum over covered steps."""
        out = self.outputs(x, lengths)
        B, T = x.shape[:2]
        if loss == "last":
            Z = self.head(out[torch.arange(B), torch.as_tensor(lengths) - 1])  # (B, O)
            return step_losses(output, Z, y).mean()
        Z = self.head(out)  # (B, T, O)
        mask = torch.as_tensor(np.arange(T)[None, :] < np.asarray(lengths)[:, None], dtype=F64)
        per_step = step_losses(output, Z.reshape(B * T, -1), np.asarray(y).reshape((B * T,) + np.shape(y)[2:]))
        return (per_step.reshape(B, T) * mask).sum(dim=1).mean()


def step_losses(output, Z, y):
    """Loss of each row of logits Z (n, O) against its target."""
    if output == "identity":
        return 0.5 * ((Z - torch.as_tensor(y, dtype=F64)) ** 2).sum(dim=-1)
    if output == "softmax":
        return F.cross_entropy(Z, torch.as_tensor(np.asarray(y), dtype=torch.int64), reduction="none")
    return F.binary_cross_entropy_with_logits(Z, torch.as_tensor(y, dtype=F64), reduction="none").sum(dim=-1)


def make_data(output, loss, N, T, D, O, rng, variable=True):
    """x with NaN padding (the engine must ignore it; PyTorch gets zeros), targets, lengths."""
    lengths = rng.integers(1, T + 1, size=N) if variable else np.full(N, T)
    if variable:
        lengths[0] = T
    x = rng.normal(size=(N, T, D))
    lead = (N, T) if loss == "all" else (N,)
    if output == "softmax":
        y = rng.integers(0, O, size=lead)
    elif output == "sigmoid":
        y = rng.uniform(size=lead + (O,))
    else:
        y = rng.normal(size=lead + (O,))
    pad = np.arange(T)[None, :] >= lengths[:, None]
    x_nan = x.copy()
    x_nan[pad] = np.nan
    x[pad] = 0.0
    return x_nan, x, y, lengths


# ---------------------------------------------------------------- update-for-update parity

# (optimizer, lr, momentum, clipping): "norm" and "value" thresholds are chosen below so that some
# updates clip and others do not
OPT_CASES = (
    ("adam", 0.02, 0.0, None),
    ("adam", 0.02, 0.0, "norm"),
    ("sgd", 0.05, 0.9, None),
    ("sgd", 0.05, 0.9, "norm"),
    ("adam", 0.02, 0.0, "value"),
)
OPT_IDS = ("adam", "adam-clipnorm", "sgd-momentum", "sgd-momentum-clipnorm", "adam-clipvalue")
# (output, loss, variable lengths)
ARRANGEMENTS = (
    ("identity", "last", True),  # many-to-one, variable lengths (the last valid output of each sequence)
    ("identity", "all", True),  # many-to-many, masked
    ("softmax", "last", True),  # classification
    ("softmax", "all", True),  # character-model style
    ("sigmoid", "all", False),
)
ARR_IDS = ("m2o-identity", "m2m-identity", "m2o-softmax", "m2m-softmax", "m2m-sigmoid")


def run_parity(cell, act, output, loss, variable, optimizer, lr, momentum, clip, seed=0, clip_factor=1.0):
    N, T, D, H, O, B = 10, 7, 3, 5, 3, 4  # N not a multiple of B: the batches wrap around
    rng = np.random.default_rng([seed, len(cell), len(act), len(output), len(loss)])
    x_nan, x, y, lengths = make_data(output, loss, N, T, D, O, rng, variable)
    net = TorchNet(cell, act, D, H, O, seed)
    sd = net.state_dict()
    # thresholds from the first batch's gradient norm, so that clipping switches on and off
    net.loss(x[:B], y[:B], lengths[:B], output, loss).backward()
    g0 = net.grads()
    n0 = float(np.sqrt(sum((v ** 2).sum() for v in g0.values())))
    g_max = max(np.abs(v).max() for v in g0.values())
    clip_norm = clip_factor * n0 if clip == "norm" else None
    clip_value = 0.3 * g_max if clip == "value" else None
    params = net.parameters()
    for p in params:
        p.grad = None
    opt = (torch.optim.Adam(params, lr=lr) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr, momentum=momentum))

    model = SequenceModel(sd, cell=cell, activation=act, output=output, loss=loss)
    trainer = Trainer(model, make_dataset(x_nan, y, lengths, output=output, loss=loss, n_out=O),
                      optimizer=optimizer, lr=lr, momentum=momentum, clip_norm=clip_norm, clip_value=clip_value,
                      batch=B, shuffle=False)
    n_clipped = 0
    for k in range(N_UPDATES):
        rows = (k * B + np.arange(B)) % N
        opt.zero_grad()
        L = net.loss(x[rows], y[rows], lengths[rows], output, loss)
        L.backward()
        if clip == "norm":
            norm = float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
            clipped = clip_norm / (norm + 1e-6) < 1.0
        else:
            norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
            clipped = False
            if clip == "value":
                clipped = any(bool((p.grad.abs() > clip_value).any()) for p in params)
                torch.nn.utils.clip_grad_value_(params, clip_value)
        opt.step()
        rec = trainer.step()
        assert rec.step == k + 1
        assert rec.loss == pytest.approx(L.item(), rel=LOSS_RTOL, abs=1e-300), f"loss at update {k + 1}"
        assert rec.grad_norm == pytest.approx(norm, rel=LOSS_RTOL), f"gradient norm at update {k + 1}"
        assert rec.clipped == clipped, f"clipped flag at update {k + 1}"
        n_clipped += clipped
    if clip is not None:
        assert 0 < n_clipped, "the threshold never clipped: the case does not test clipping"
    assert_grads(model.state, net.state_dict(), WEIGHT_RTOL, f"weights after {N_UPDATES} updates:")
    return n_clipped


@pytest.mark.parametrize("opt_case", OPT_CASES, ids=OPT_IDS)
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_updates_match_torch_many_to_one(kind, opt_case):
    """Many-to-one with variable lengths (packed in PyTorch): every optimiser and clipping setting."""
    run_parity(*kind, "identity", "last", True, *opt_case)


@pytest.mark.parametrize("arrangement", ARRANGEMENTS[1:], ids=ARR_IDS[1:])
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_updates_match_torch_arrangements(kind, arrangement):
    """Many-to-many (masked), softmax cross-entropy and sigmoid outputs, Adam and SGD with clipping."""
    run_parity(*kind, *arrangement, "adam", 0.02, 0.0, "norm")
    run_parity(*kind, *arrangement, "sgd", 0.05, 0.9, None, seed=1)


def test_clipping_switches_on_and_off():
    """The thresholds above make some updates clip and others not (so `clipped` is really compared)."""
    n = run_parity("lstm", "tanh", "identity", "last", True, "sgd", 0.05, 0.9, "norm")
    assert 0 < n < N_UPDATES


# ---------------------------------------------------------------- one batch: gradients


def torch_grads(net, x, y, lengths, output, loss):
    for p in net.parameters():
        p.grad = None
    L = net.loss(x, y, lengths, output, loss)
    L.backward()
    return L.item(), net.grads()


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_batch_gradients_match_torch(kind):
    cell, act = kind
    rng = np.random.default_rng(3)
    for output, loss, variable in ARRANGEMENTS:
        x_nan, x, y, lengths = make_data(output, loss, 6, 11, 2, 3, rng, variable)
        net = TorchNet(cell, act, 2, 7, 3, seed=4)
        value, want = torch_grads(net, x, y, lengths, output, loss)
        r = batch_gradients(net.state_dict(), x_nan, y, lengths, cell=cell, activation=act, output=output, loss=loss)
        assert r.overflow is None
        assert r.loss == pytest.approx(value, rel=1e-12)
        assert_grads(r.grads, want, 1e-10, f"{output}/{loss}")


# ---------------------------------------------------------------- truncated BPTT


def _init_state(net, B):
    H = net.rnn.hidden_size
    z = torch.zeros(1, B, H, dtype=F64)
    return (z, z.clone()) if net.cell == "lstm" else z


def _detach(h):
    return tuple(v.detach() for v in h) if isinstance(h, tuple) else h.detach()


def torch_truncated(net, x, y, k1, k2, output, loss):
    """Williams & Peng's (k1, k2) by hand, full-length sequences: for the chunk ending at e, run the
    first s0 = max(0, e - k2) steps without a graph, detach the state, run the window [s0, e) with
    the graph, and backpropagate the chunk's losses (steps [prev, e); the ones before s0 reach the
    head only). Gradients accumulate over the chunks."""
    B, T = x.shape[:2]
    xt = torch.as_tensor(x)
    for p in net.parameters():
        p.grad = None
    prev = 0
    for e in list(range(k1, T, k1)) + [T]:
        s0 = max(0, e - k2)
        h = _init_state(net, B)
        pre = torch.zeros(B, 0, net.rnn.hidden_size, dtype=F64)
        if s0 > 0:
            with torch.no_grad():
                pre, h = net.rnn(xt[:, :s0], h)  # (B, s0, H): constants for this chunk
        h = _detach(h)
        out, _ = net.rnn(xt[:, s0:e], h)  # (B, e - s0, H)
        states = torch.cat([pre[:, prev:], out], dim=1) if prev < s0 else out[:, prev - s0:]
        if loss == "last":
            if e < T:
                continue
            Lc = step_losses(output, net.head(out[:, -1]), y).sum() / B
        else:
            Z = net.head(states)  # (B, e - prev, O)
            yy = np.asarray(y)[:, prev:e]
            Lc = step_losses(output, Z.reshape(-1, Z.shape[-1]), yy.reshape((-1,) + yy.shape[2:])).sum() / B
        Lc.backward()
        prev = e
    return net.grads()


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("loss", ("last", "all"))
def test_truncation_with_long_window_is_full_bptt(kind, loss):
    """k2 >= T: every chunk reaches step 1, so the summed chunks are the full gradient, for any k1."""
    cell, act = kind
    rng = np.random.default_rng(5)
    T = 12
    x_nan, x, y, lengths = make_data("identity", loss, 5, T, 2, 2, rng, variable=True)
    net = TorchNet(cell, act, 2, 6, 2, seed=6)
    _, want = torch_grads(net, x, y, lengths, "identity", loss)
    sd = net.state_dict()
    full = batch_gradients(sd, x_nan, y, lengths, cell=cell, activation=act, loss=loss)
    assert_grads(full.grads, want, 1e-10, "full BPTT")
    for k1, k2 in ((1, T), (3, T), (5, T + 7), (T, T), (T + 3, 100)):
        r = batch_gradients(sd, x_nan, y, lengths, cell=cell, activation=act, loss=loss, truncate=(k1, k2))
        assert r.loss == full.loss
        assert_grads(r.grads, want, 1e-10, f"truncate=({k1}, {k2})")
        np.testing.assert_allclose(r.grad_h_norm, full.grad_h_norm, rtol=1e-10, atol=0)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_one_truncated_chunk_matches_detached_torch(kind):
    """Loss on the last step only: only the last chunk carries a loss, and its gradient equals PyTorch
    run without a graph for the first s0 steps, the state detached, then the window with the graph."""
    cell, act = kind
    rng = np.random.default_rng(7)
    T, B, k1, k2 = 13, 4, 5, 4  # chunks end at 5, 10, 13; the last one backpropagates over [9, 13)
    _, x, y, lengths = make_data("identity", "last", B, T, 3, 2, rng, variable=False)
    net = TorchNet(cell, act, 3, 5, 2, seed=8)
    xt = torch.as_tensor(x)
    s0 = T - k2
    with torch.no_grad():
        _, h = net.rnn(xt[:, :s0], _init_state(net, B))
    h = _detach(h)
    out, _ = net.rnn(xt[:, s0:], h)
    (step_losses("identity", net.head(out[:, -1]), y).sum() / B).backward()
    want = net.grads()
    r = batch_gradients(net.state_dict(), x, y, lengths, cell=cell, activation=act, truncate=(k1, k2))
    assert_grads(r.grads, want, 1e-10, "last chunk")
    assert np.all(r.grad_h_norm[:s0] == 0.0) and np.all(r.grad_h_norm[s0:] > 0.0)
    assert np.all(r.dh0 == 0.0)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("k1,k2", ((4, 4), (3, 6), (5, 2), (1, 3), (4, 1)))
def test_truncated_chunks_match_detached_torch(kind, k1, k2):
    """Loss at every step, every chunk hand-built in PyTorch with a detached state; k2 < k1 too (the
    chunk's earliest losses then reach the head only)."""
    cell, act = kind
    rng = np.random.default_rng([9, k1, k2])
    _, x, y, lengths = make_data("identity", "all", 4, 11, 2, 2, rng, variable=False)
    net = TorchNet(cell, act, 2, 5, 2, seed=10)
    want = torch_truncated(net, x, y, k1, k2, "identity", "all")
    r = batch_gradients(net.state_dict(), x, y, lengths, cell=cell, activation=act, loss="all", truncate=(k1, k2))
    assert_grads(r.grads, want, 1e-10, f"truncate=({k1}, {k2})")


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("output", ("identity", "softmax"))
def test_k1_equals_k2_is_the_classic_detach_loop(kind, output):
    """k1 = k2 = k: PyTorch's usual loop (run k steps from the carried state, backpropagate the chunk's
    losses, detach the state), gradients accumulated over the chunks. T is a multiple of k: for a
    shorter last chunk the engine still backpropagates k2 steps from the end (Williams & Peng), where
    that loop stops at the chunk's start."""
    cell, act = kind
    rng = np.random.default_rng(11)
    T, B, k = 12, 3, 4
    _, x, y, lengths = make_data(output, "all", B, T, 2, 3, rng, variable=False)
    net = TorchNet(cell, act, 2, 5, 3, seed=12)
    xt = torch.as_tensor(x)
    h = _init_state(net, B)
    for s in range(0, T, k):
        out, h = net.rnn(xt[:, s:s + k], h)
        Z = net.head(out)
        yy = y[:, s:s + k]
        (step_losses(output, Z.reshape(-1, 3), yy.reshape((-1,) + yy.shape[2:])).sum() / B).backward()
        h = _detach(h)
    want = net.grads()
    r = batch_gradients(net.state_dict(), x, y, lengths, cell=cell, activation=act, output=output, loss="all",
                        truncate=(k, k))
    assert_grads(r.grads, want, 1e-10, f"detach every {k} steps")


def test_truncated_training_matches_torch():
    """Twenty Adam updates with truncate=(k, k) equal PyTorch's detach-every-k loop update for update."""
    rng = np.random.default_rng(13)
    N, T, B, k = 8, 9, 4, 3
    _, x, y, lengths = make_data("identity", "all", N, T, 2, 2, rng, variable=False)
    net = TorchNet("lstm", "tanh", 2, 4, 2, seed=14)
    model = SequenceModel(net.state_dict(), cell="lstm", loss="all")
    trainer = Trainer(model, make_dataset(x, y, output="identity", loss="all"), optimizer="adam", lr=0.03,
                      clip_norm=0.5, truncate=(k, k), batch=B, shuffle=False)
    params = net.parameters()
    opt = torch.optim.Adam(params, lr=0.03)
    for n in range(N_UPDATES):
        rows = (n * B + np.arange(B)) % N
        opt.zero_grad()
        xt, total = torch.as_tensor(x[rows]), 0.0
        h = _init_state(net, B)
        for s in range(0, T, k):
            out, h = net.rnn(xt[:, s:s + k], h)
            Lc = step_losses("identity", net.head(out).reshape(-1, 2), y[rows][:, s:s + k].reshape(-1, 2)).sum() / B
            Lc.backward()
            total += Lc.item()
            h = _detach(h)
        norm = float(torch.nn.utils.clip_grad_norm_(params, 0.5))
        opt.step()
        rec = trainer.step()
        assert rec.loss == pytest.approx(total, rel=LOSS_RTOL)
        assert rec.grad_norm == pytest.approx(norm, rel=LOSS_RTOL)
    assert_grads(model.state, net.state_dict(), WEIGHT_RTOL, "weights")


# ---------------------------------------------------------------- encoder-decoder


@pytest.mark.parametrize("cell", ("rnn", "lstm", "gru"))
def test_encoder_decoder_gradients_match_torch(cell):
    """Two modules: the encoder reads variable-length inputs; its final state (h, and c for the LSTM)
    starts the decoder, which is teacher-forced on the one-hot of the previous target (a start channel
    first) and scored by cross-entropy at every output step; mean over sequences."""
    rng = np.random.default_rng(15)
    B, T_in, T_out, D, H, O = 5, 9, 6, 3, 6, 4
    x_nan, x, _, lengths = make_data("identity", "last", B, T_in, D, 1, rng, variable=True)
    y = rng.integers(0, O, size=(B, T_out))
    enc = TorchNet(cell, "tanh", D, H, 1, seed=16)
    dec = TorchNet(cell, "tanh", O + 1, H, O, seed=17)
    state = {**{"encoder." + k: v for k, v in enc.state_dict().items() if not k.startswith("head.")},
             **{"decoder." + k: v for k, v in dec.state_dict().items()}}
    model = EncoderDecoder(state, cell=cell)
    x_dec = model.decoder_inputs(y)
    assert x_dec.shape == (B, T_out, O + 1) and np.all(x_dec.sum(axis=2) == 1.0) and np.all(x_dec[:, 0, O] == 1.0)

    packed = pack_padded_sequence(torch.as_tensor(x), torch.as_tensor(lengths), batch_first=True,
                                  enforce_sorted=False)
    _, h_enc = enc.rnn(packed)  # each sequence's state at its own last step
    out, _ = dec.rnn(torch.as_tensor(x_dec), h_enc)
    Z = dec.head(out)
    L = step_losses("softmax", Z.reshape(-1, O), y.reshape(-1)).reshape(B, T_out).sum(dim=1).mean()
    L.backward()
    want = {**{"encoder." + k: getattr(enc.rnn, k).grad.numpy() for k in KEYS[:4]},
            **{"decoder." + k: v for k, v in dec.grads().items()}}
    r = model.gradients(x_nan, y, lengths)
    assert r.overflow is None
    assert r.loss == pytest.approx(L.item(), rel=1e-12)
    assert_grads(r.grads, want, 1e-10, "encoder-decoder")
    assert r.y.shape == (B, T_out, O)
    np.testing.assert_allclose(r.y, torch.softmax(Z, dim=-1).detach().numpy(), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- float32


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_float32_agrees_with_float64(kind):
    """dtype="float32" (the fast runs): loss and gradients within ~1e-4 of PyTorch's float64, and a
    short float32 training run follows the float64 one."""
    cell, act = kind
    rng = np.random.default_rng(18)
    for output, loss, variable in ARRANGEMENTS[:3]:
        x_nan, x, y, lengths = make_data(output, loss, 8, 30, 3, 2, rng, variable)
        net = TorchNet(cell, act, 3, 16, 2, seed=19)
        value, want = torch_grads(net, x, y, lengths, output, loss)
        r = batch_gradients(net.state_dict(), x_nan, y, lengths, cell=cell, activation=act, output=output, loss=loss,
                            dtype="float32")
        assert r.loss == pytest.approx(value, rel=1e-5)
        assert {k: g.dtype for k, g in r.grads.items()} == dict.fromkeys(KEYS, np.dtype(np.float32))
        assert_grads(r.grads, want, 1e-4, f"float32 {output}/{loss}")
    # training: ten updates in each precision
    x_nan, x, y, lengths = make_data("identity", "last", 16, 30, 3, 2, rng, True)
    net = TorchNet(cell, act, 3, 16, 2, seed=20)
    runs = {}
    for dt in ("float64", "float32"):
        model = SequenceModel(net.state_dict(), cell=cell, activation=act, dtype=dt)
        tr = Trainer(model, make_dataset(x_nan, y, lengths), optimizer="sgd", lr=0.05, momentum=0.9, batch=8,
                     shuffle=False)
        runs[dt] = ([tr.step().loss for _ in range(10)], model.state)
    np.testing.assert_allclose(runs["float32"][0], runs["float64"][0], rtol=1e-4)
    for k in KEYS:
        assert rel_err(runs["float32"][1][k], runs["float64"][1][k]) < 1e-4, k
