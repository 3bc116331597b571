"""The engine refuses absurd work with a ValueError naming the argument, at once and before any work or
allocation (engine/limits.py); the largest sizes the app uses stay accepted; numpy scalars are accepted
wherever Python numbers are, with identical results."""
import time
import tracemalloc

import numpy as np
import pytest

import engine
from engine import _batch_kernels, _gated_kernels, _kernels, batch, jacobians, limits, rnn
from engine.batch import batch_gradients
from engine.models import SequenceModel, generate, make_dataset
from engine.tasks import make_task
from engine.trainer import Trainer


def fake_trace(T, H, cell="rnn"):
    """A Trace of T steps whose arrays are free views (nothing computed): enough to ask for its Jacobians."""
    p = engine.init_params(1, H, 1, cell=cell, seed=0)
    GH = p.W_hh.shape[0]
    z = np.broadcast_to(0.0, (T, H))
    zg = np.broadcast_to(0.0, (T, GH))
    return engine.Trace(p, np.zeros(H), np.broadcast_to(0.0, (T, 1)), z, zg, zg, np.broadcast_to(0.0, (T, 1)),
                        None, None)


P256 = engine.init_params(1, 256, 1, seed=0)
P64 = engine.init_params(1, 64, 1, seed=0)
P32 = engine.init_params(1, 32, 1, seed=0)
SD_LSTM = engine.params_to_state_dict(engine.init_params(1, 256, 1, cell="lstm", seed=0))
SD_1024 = engine.params_to_state_dict(engine.init_params(1, 1024, 1, seed=0))
BIG_TRACE = fake_trace(100_000, 256)
SMALL_TRACE = fake_trace(2000, 64)
EYE_2000 = np.eye(2000)
ZEROS_3000 = np.zeros((3000, 3000))

REFUSALS = [
    # (id, call, a word the message must contain)
    ("init_params-n_hidden-1e5", lambda: engine.init_params(1, 100_000, 1), "n_hidden"),
    ("init_params-lstm-n_hidden-2000", lambda: engine.init_params(1, 2000, 1, cell="lstm"), "n_hidden"),
    ("init_params-n_in-weights", lambda: engine.init_params(100_000, 1000, 1), "n_in"),
    ("Trace.jacobian_norm-T1e5-H256", lambda: BIG_TRACE.jacobian_norm, "trace"),
    ("jacobian_norms-one-step-T1e5-H256", lambda: engine.jacobian_norms(BIG_TRACE, [0]), "trace"),
    ("jacobian_norm_grid-T1e5-H256", lambda: engine.jacobian_norm_grid(BIG_TRACE, [0, 99_999]), "trace"),
    ("jacobian_norm_grid-every-step", lambda: engine.jacobian_norm_grid(SMALL_TRACE, np.arange(2000)), "steps"),
    ("lyapunov_exponent-1e6-steps-n4096",
     lambda: engine.lyapunov_exponent(1.0, n_hidden=4096, steps=1_000_000), "steps"),
    ("lyapunov_curve-51-gains-n4096",
     lambda: engine.lyapunov_curve(np.linspace(0.5, 3.0, 51), n_hidden=4096, steps=2000), "gains"),
    ("power_norms-2000x2000-k1e5", lambda: engine.power_norms(EYE_2000, 100_000), "k_max"),
    ("eigenvalues-3000x3000", lambda: engine.eigenvalues(ZEROS_3000), "W"),
    ("spectral_radius-3000x3000", lambda: engine.spectral_radius(ZEROS_3000), "W"),
    ("bound_radius-1024-256-seeds", lambda: engine.bound_radius(n_hidden=1024, n_seeds=256), "n_hidden"),
    ("gradient_check-T1e5", lambda: engine.gradient_check(P32, np.zeros((100_000, 1)), np.zeros(1)), "x"),
    ("bptt-T1e6-H256", lambda: engine.bptt(P256, np.zeros((1_000_000, 1)), np.zeros(1)), "x"),
    ("bptt-memory-T1e6-H64", lambda: engine.bptt(P64, np.zeros((1_000_000, 1)), np.zeros(1)), "x"),
    ("bptt-over-MAX_STEPS", lambda: engine.bptt(P32, np.zeros((limits.MAX_STEPS + 1, 1)), np.zeros(1)), "x"),
    ("forward-T1e6-H256", lambda: engine.forward(P256, np.zeros((1_000_000, 1))), "x"),
    ("bptt_batch-1000x1000-H256", lambda: engine.bptt_batch(P256, np.zeros((1000, 1000, 1)), np.zeros((1000, 1))), "x"),
    ("batch_gradients-memory-lstm",
     lambda: batch_gradients(SD_LSTM, np.zeros((512, 2000, 1)), np.zeros((512, 1)), cell="lstm"), "x"),
    ("batch_gradients-work-H1024",
     lambda: batch_gradients(SD_1024, np.zeros((256, 1000, 1)), np.zeros((256, 1))), "x"),
    ("make_task-n_train", lambda: make_task("adding", seq_len=10_000, n_train=1_000_000), "n_train"),
    ("sweep-work", lambda: engine.sweep_spectral_radius(np.ones(1000), 100_000, n_hidden=1024, n_seeds=256),
     "n_hidden"),
]


class WorkStarted(AssertionError):
    """Raised by a tripwire: a kernel or a dense decomposition ran before the refusal."""


# Where the engine's work happens: every numba kernel (called from Python through these modules'
# attributes) and the dense decompositions of numpy.linalg the engine calls (QR, eigenvalues, SVD).
KERNEL_MODULES = (_kernels, _gated_kernels, _batch_kernels)
LINALG_WORK = ("qr", "eig", "eigvals", "svd")


def _kernel_names(mod):
    """Names of the functions a kernel module defines (numba dispatchers, or plain functions when the
    JIT is disabled), not what it imports."""
    out = []
    for name, obj in vars(mod).items():
        fn = getattr(obj, "py_func", obj)
        if callable(obj) and not isinstance(obj, type) and getattr(fn, "__module__", None) == mod.__name__:
            out.append(name)
    return out


@pytest.fixture
def tripwires(monkeypatch):
    """Replace every place the engine does real work with a function that raises WorkStarted; yields
    the number of tripwires laid (restored by monkeypatch after the test)."""
    count = 0
    for mod in KERNEL_MODULES:
        for name in _kernel_names(mod):
            def trip(*args, _what=f"{mod.__name__}.{name}", **kwargs):
                raise WorkStarted(f"{_what} ran before the refusal: work was done first")
            monkeypatch.setattr(mod, name, trip)
            count += 1
    for name in LINALG_WORK:
        def trip(*args, _what=f"numpy.linalg.{name}", **kwargs):
            raise WorkStarted(f"{_what} ran before the refusal: work was done first")
        monkeypatch.setattr(np.linalg, name, trip)
        count += 1
    return count


def test_the_tripwires_catch_real_work(tripwires):
    """The check below can fail: with the tripwires laid, accepted calls stop at their first kernel or
    decomposition."""
    assert tripwires > len(LINALG_WORK) + 10  # the kernels of all three modules are covered
    with pytest.raises(WorkStarted, match="engine._kernels"):
        engine.bptt(P32, np.zeros((5, 1)), np.zeros(1))
    with pytest.raises(WorkStarted, match="engine._gated_kernels"):
        engine.bptt(engine.params_from_state_dict(SD_LSTM, cell="lstm"), np.zeros((5, 1)), np.zeros(1))
    with pytest.raises(WorkStarted, match="engine._batch_kernels"):
        batch_gradients(SD_1024, np.zeros((1, 2, 1)), np.zeros((1, 1)))
    with pytest.raises(WorkStarted, match="numpy.linalg"):
        engine.init_params(1, 8, 1, spectral_radius=0.9, seed=0)


@pytest.mark.parametrize("call,word", [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_absurd_work_is_refused_at_once_naming_the_argument(call, word, tripwires):
    """Refused before any work (no kernel and no decomposition runs: the tripwires would raise
    WorkStarted, which pytest.raises(ValueError) does not catch) and before any large allocation."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValueError) as exc:
            call()
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(exc.value)
    assert word in msg, msg
    assert peak < 32e6, f"{peak / 1e6:.0f} MB allocated before the refusal"
    # Only a hang: a refusal takes microseconds, the refused work minutes to days. The bound is generous
    # so that a loaded machine cannot fail it; the tripwires above are what check that no work was done.
    assert seconds < 60.0, f"the refusal took {seconds:.2f} s"


@pytest.mark.parametrize("call,word", [c[1:] for c in REFUSALS if "make_task" not in c[0] and "sweep" not in c[0]],
                         ids=[c[0] for c in REFUSALS if "make_task" not in c[0] and "sweep" not in c[0]])
def test_refusal_says_the_limit_and_the_cost(call, word):
    with pytest.raises(ValueError) as exc:
        call()
    msg = str(exc.value)
    assert "limit" in msg and ("computing" in msg or "memory" in msg), msg


def test_the_issues_cases_name_their_argument_and_their_time():
    with pytest.raises(ValueError, match=r"n_hidden = 100000.*days"):
        engine.init_params(1, 100_000, 1)
    with pytest.raises(ValueError, match=r"steps = 1000000.*hours"):
        engine.lyapunov_exponent(1.0, n_hidden=4096, steps=1_000_000)
    with pytest.raises(ValueError, match=r"k_max = 100000.*days"):
        engine.power_norms(EYE_2000, 100_000)
    with pytest.raises(ValueError, match=r"T = 100000.*minutes"):
        _ = BIG_TRACE.jacobian_norm
    with pytest.raises(ValueError, match=r"T = 100000.*minutes"):
        engine.gradient_check(P32, np.zeros((100_000, 1)), np.zeros(1))


# ---------------------------------------------------------------- the app's largest sizes stay accepted


def test_app_maxima_fit_the_limits():
    """The largest work the sliders can ask for (ui/config.py, ui/training.py, ui/phase.py, ui/runs.py),
    checked against the same estimates the engine refuses on, without doing the work."""
    from ui.config import FIELDS
    from ui.phase import H_MAX as PH_H
    from ui.phase import LYAP_BURN, LYAP_GAINS, LYAP_N, LYAP_STEPS, SEEDS_MAX
    from ui.runs import jacobian_plan, power_kmax
    from ui.train_settings import BATCHES
    from ui.train_settings import H_MAX as TR_H
    from ui.train_settings import T_MAX as TR_T

    T, H, D, O = (int(FIELDS[k].hi) for k in ("T", "H", "D", "O"))
    for cell in ("rnn", "lstm", "gru"):
        p = engine.init_params(D, H, O, cell=cell, seed=0)  # the largest network of the sidebar
        rnn._check_pass(p, T, 1, "x")
        # the Gradients page's finite-difference check (ui.runs.run_gradient_check's entry count)
        max_entries = int(np.clip(4e9 / (2.0 * T * H**2 + 1.0), 20, 200))
        entries = sum(min(max_entries, a.size) for a in p.arrays().values())
        assert (4 * entries + 1) * T * rnn._step_units(p) <= limits.MAX_GRADIENT_CHECK_WORK
        # the Jacobian views as ui.runs plans them
        S = 2 * H if cell == "lstm" else H
        start, curve, grid = jacobian_plan(T, S)
        tr = fake_trace(T, H, cell)
        if curve is not None:
            jacobians._check_jacobian_work(tr, T + 5 * curve.size, "", "")
        jacobians._check_jacobian_work(tr, T + 3 * grid.size * (grid.size - 1), "", "")
        # the Train page's largest update (B = 256, T = 1000 plus the copy task's 20 marker steps)
        net = batch._net(engine.params_to_state_dict(engine.init_params(64, TR_H, 64, cell=cell, seed=0)), cell,
                         "tanh", np.float64)
        batch._check_batch_budget((max(BATCHES), TR_T + 20, 64), net, np.float64)
    assert (power_kmax(T, H) + 1) * H**3 <= limits.MAX_POWER_WORK
    for h in range(1, H + 1):  # the Spectrum page asks for k_max = power_kmax(T, H) at every H
        assert (power_kmax(T, h) + 1) * max(h, 64) ** 3 <= limits.MAX_POWER_WORK
    assert 4 * H**3 <= limits.MAX_DENSE_WORK  # init_params of the sidebar's largest LSTM
    assert 2 * SEEDS_MAX * PH_H**3 <= limits.MAX_DENSE_WORK  # bound_radius on the Phase diagram page
    assert len(LYAP_GAINS) * (LYAP_STEPS + LYAP_BURN) * LYAP_N**2 <= limits.MAX_LYAPUNOV_WORK


def test_large_sizes_still_run():
    """Real calls near what the app, the tests and the benchmarks use."""
    p = engine.init_params(16, 256, 16, cell="lstm", spectral_radius=0.9, seed=0)
    assert p.W_hh.shape == (1024, 256)
    tr = engine.bptt(P32, np.zeros((300, 1)), np.zeros(1))
    assert tr.grad_h_norm.shape == (300,)
    assert engine.jacobian_norms(tr, [0, 150, 299]).shape == (3,)
    assert engine.jacobian_norm_grid(tr, np.arange(0, 300, 10)).shape == (30, 30)
    assert engine.power_norms(np.eye(64) * 0.5, 200).shape == (201,)
    assert engine.lyapunov_exponent(1.0, n_hidden=128, steps=50, burn_in=10) == pytest.approx(
        engine.lyapunov_exponent(1.0, n_hidden=128, steps=50, burn_in=10))
    rnn._check_pass(P32, limits.MAX_STEPS, 1, "x")  # MAX_STEPS with a small network stays accepted
    rnn._check_pass(P256, 1000, 1, "x")  # the benchmark's largest sequence (bench/bench_bptt.py)
    rnn._check_pass(P256, 1000, 32, "x")


# ---------------------------------------------------------------- numpy scalars are numbers


def same(a, b):
    if isinstance(a, engine.RNNParams):
        for k, v in a.arrays().items():
            np.testing.assert_array_equal(v, b.arrays()[k])
        return
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            same(a[k], b[k])
        return
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


FLOATS = [np.float32(2.5), np.float64(2.5), np.array(2.5)]
INTS = [np.int64(8), np.int32(8), np.array(8)]


@pytest.mark.parametrize("num", FLOATS, ids=["float32", "float64", "0-d"])
def test_numpy_floats_accepted_with_identical_results(num):
    assert num == 2.5  # each is exactly 2.5: the results must match the Python float's exactly
    same(engine.make_input("sine", 10, 2, amplitude=num), engine.make_input("sine", 10, 2, amplitude=2.5))
    same(engine.make_input("normal", 10, 2, amplitude=num), engine.make_input("normal", 10, 2, amplitude=2.5))
    same(engine.make_input("pulse", 10, 2, amplitude=np.float32(1)), engine.make_input("pulse", 10, 2, amplitude=1))
    kw = dict(spectral_radius=num, input_scale=num)
    same(engine.init_params(2, 5, 1, **kw), engine.init_params(2, 5, 1, spectral_radius=2.5, input_scale=2.5))
    same(engine.init_params(2, 5, 1, cell="lstm", forget_bias=num), engine.init_params(2, 5, 1, cell="lstm",
                                                                                     forget_bias=2.5))
    same(engine.init_params(2, 5, 1, cell="gru", update_bias=num), engine.init_params(2, 5, 1, cell="gru",
                                                                                    update_bias=2.5))
    same(engine.init_params(2, 5, 1, init="nonnormal", nonnormal_strength=num),
         engine.init_params(2, 5, 1, init="nonnormal", nonnormal_strength=2.5))
    same(engine.scale_to_spectral_radius(np.eye(3) * 2, num), engine.scale_to_spectral_radius(np.eye(3) * 2, 2.5))
    assert engine.lyapunov_exponent(num, n_hidden=8, steps=20, burn_in=5) == engine.lyapunov_exponent(
        2.5, n_hidden=8, steps=20, burn_in=5)
    fp = np.linspace(0, 3, 12).reshape(3, 4)
    same(engine.saturated_fraction(fp, threshold=num), engine.saturated_fraction(fp, threshold=2.5))


@pytest.mark.parametrize("num", INTS, ids=["int64", "int32", "0-d"])
def test_numpy_ints_accepted_with_identical_results(num):
    same(engine.make_input("normal", num, 2, seed=num), engine.make_input("normal", 8, 2, seed=8))
    same(engine.make_input("normal", 5, num), engine.make_input("normal", 5, 8))
    same(engine.make_target("softmax", "all", num, 3, seed=num), engine.make_target("softmax", "all", 8, 3, seed=8))
    same(engine.init_params(num, num, num, seed=num), engine.init_params(8, 8, 8, seed=8))
    same(engine.power_norms(np.eye(2) * 0.5, num), engine.power_norms(np.eye(2) * 0.5, 8))
    same(engine.sweep_spectral_radius([0.5, 1.0], num, n_hidden=num, n_seeds=num, seed=num),
         engine.sweep_spectral_radius([0.5, 1.0], 8, n_hidden=8, n_seeds=8, seed=8))
    assert engine.lyapunov_exponent(1.5, n_hidden=num, steps=num, burn_in=num, seed=num) == \
        engine.lyapunov_exponent(1.5, n_hidden=8, steps=8, burn_in=8, seed=8)
    assert engine.bound_radius(n_hidden=num, n_seeds=num, seed=num) == engine.bound_radius(n_hidden=8, n_seeds=8,
                                                                                           seed=8)
    p = engine.init_params(2, 3, 1, seed=0)
    x, y = engine.make_input("normal", 6, 2), engine.make_target("identity", "last", 6, 1)
    same(engine.gradient_check(p, x, y, max_entries=num, seed=num, eps=np.float64(1e-4)),
         engine.gradient_check(p, x, y, max_entries=8, seed=8, eps=1e-4))
    task = make_task("adding", seq_len=num * 2, n_train=num, n_test=num, seed=num)
    ref = make_task("adding", seq_len=16, n_train=8, n_test=8, seed=8)
    same(task.x_train, ref.x_train)


def test_numpy_scalars_in_training_give_identical_updates():
    state = engine.params_to_state_dict(engine.init_params(2, 4, 1, seed=0))
    rng = np.random.default_rng(0)
    data = make_dataset(rng.normal(size=(16, 5, 2)), rng.normal(size=(16, 1)))

    def run(**kw):
        t = Trainer(SequenceModel(state, cell="rnn"), data, seed=0, **kw)
        recs = [t.step() for _ in range(3)]
        return [r.loss for r in recs], t.model.state

    want = run(lr=0.25, batch=4, clip_norm=0.5, optimizer="sgd", momentum=0.5)
    got = run(lr=np.float32(0.25), batch=np.int64(4), clip_norm=np.float32(0.5), optimizer="sgd",
              momentum=np.float64(0.5))
    same(got[0], want[0])
    same(got[1], want[1])
    model = SequenceModel(engine.params_to_state_dict(engine.init_params(3, 4, 3, output="softmax", seed=0)),
                          cell="rnn", output="softmax", loss="all")
    prime = np.eye(3)[[0, 1]]
    same(generate(model, prime, np.int64(5), temperature=np.float32(0.5), seed=np.int64(2)),
         generate(model, prime, 5, temperature=0.5, seed=2))


BOOLS = [
    ("amplitude", lambda v: engine.make_input("sine", 5, 1, amplitude=v)),
    ("n_hidden", lambda v: engine.init_params(1, v, 1)),
    ("seed", lambda v: engine.init_params(1, 2, 1, seed=v)),
    ("spectral_radius", lambda v: engine.init_params(1, 2, 1, spectral_radius=v)),
    ("gain", lambda v: engine.lyapunov_exponent(v, n_hidden=4, steps=4)),
    ("threshold", lambda v: engine.saturated_fraction(np.ones((2, 2)), threshold=v)),
    ("k_max", lambda v: engine.power_norms(np.eye(2), v)),
    ("max_entries", lambda v: engine.gradient_check(engine.init_params(1, 2, 1), np.ones((3, 1)), np.zeros(1),
                                                    max_entries=v)),
]


@pytest.mark.parametrize("value", [True, np.bool_(True), np.array(True)], ids=["bool", "np.bool_", "0-d bool"])
@pytest.mark.parametrize("name,call", BOOLS, ids=[b[0] for b in BOOLS])
def test_bools_stay_refused(name, call, value):
    with pytest.raises(ValueError, match=name):
        call(value)


@pytest.mark.parametrize("value", [np.complex128(1), np.array([1.0]), "1", None], ids=["complex", "1-d", "str", "None"])
def test_non_numbers_stay_refused(value):
    with pytest.raises(ValueError, match="amplitude"):
        engine.make_input("sine", 5, 1, amplitude=value)
