"""engine._batch_kernels and the training step's plumbing: the weight-gradient and norm kernels against
numpy, the row chunks (results independent of the thread count and the same from many threads), and
Trainer's reused workspace (the same updates as fresh arrays, nothing returned aliases it)."""
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from engine import _batch_kernels as BK
from engine.batch import batch_gradients
from engine.models import SequenceModel, make_dataset
from engine.params import init_params, params_to_state_dict
from engine.trainer import Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("D", [2, BK.SMALL_D + 3])
@pytest.mark.parametrize("same", [True, False])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_weight_grads_equal_the_numpy_products(D, same, dt):
    rng = np.random.default_rng(D)
    N, G, H = 5000, 24, 8  # several chunks, and a last one of another size
    GX = rng.standard_normal((N, G)).astype(dt)
    GH = GX if same else rng.standard_normal((N, G)).astype(dt)
    X, Hp = rng.standard_normal((N, D)).astype(dt), rng.standard_normal((N, H)).astype(dt)
    out = np.empty((G, D), dt), np.empty((G, H), dt), np.empty(G, dt), np.empty(G, dt)
    BK.weight_grads(GX, GH, same, X, Hp, *out)
    want = GX.T.astype(np.float64) @ X, GH.T.astype(np.float64) @ Hp, GX.sum(0, dtype=np.float64), \
        GH.sum(0, dtype=np.float64)
    tol = 1e-12 if dt == np.float64 else 2e-5
    for got, w in zip(out, want):
        assert got.dtype == dt
        np.testing.assert_allclose(got, w, rtol=tol, atol=tol * np.abs(w).max())


def test_step_norms_equal_einsum_and_keep_overflow():
    rng = np.random.default_rng(0)
    DELTA = rng.standard_normal((7, 5, 9)).astype(np.float32)
    DELTA[3, 1, 2] = np.inf
    DELTA[5, 0, 0] = np.nan
    out = np.empty(7)
    BK.step_norms(DELTA, out)
    D64 = DELTA.astype(np.float64)
    np.testing.assert_allclose(out, np.sqrt(np.einsum("tbh,tbh->t", D64, D64)), rtol=1e-14)
    assert out[3] == np.inf and np.isnan(out[5])


def _setup(cell, B=48, T=20, D=3, H=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D))
    lengths = rng.integers(T // 2, T + 1, size=B)  # padding in some rows of every chunk
    y = rng.standard_normal((B, 2))
    sd = params_to_state_dict(init_params(D, H, 2, cell=cell, seed=seed))
    return sd, x, y, lengths


SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {root!r})
    from tests.test_engine_batch_kernels import _setup
    from engine.batch import batch_gradients
    for cell in ("rnn", "lstm", "gru"):
        for dtype in ("float64", "float32"):
            sd, x, y, lengths = _setup(cell)
            r = batch_gradients(sd, x, y, lengths, cell=cell, dtype=dtype)
            for k in sorted(r.grads):
                sys.stdout.write(r.grads[k].tobytes().hex()[:4000])
            sys.stdout.write(r.grad_h_norm.tobytes().hex() + r.h_last.tobytes().hex())
""")


def test_results_do_not_depend_on_the_number_of_threads():
    """The batch is split by B alone, so one thread or two give the same bits."""
    outs = []
    for n in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=n)
        outs.append(subprocess.run([sys.executable, "-c", SCRIPT.format(root=ROOT)], env=env, cwd=ROOT,
                                   capture_output=True, text=True, timeout=600, check=True).stdout)
    assert outs[0] and outs[0] == outs[1]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_batch_gradients_from_8_threads_are_bit_identical_to_serial(cell):
    sd, x, y, lengths = _setup(cell)

    def job(i):
        r = batch_gradients(sd, x[i % 3:], y[i % 3:], lengths[i % 3:], cell=cell, dtype=("float64", "float32")[i % 2])
        return [r.grads[k] for k in sorted(r.grads)] + [r.grad_h_norm, r.h_last, r.dh0]

    jobs = list(range(24))
    serial = [job(i) for i in jobs]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(job, jobs))
    for a, b in zip(serial, threaded):
        assert all(np.array_equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("truncate", [None, (5, 7)])
def test_trainer_workspace_gives_the_same_updates_as_fresh_arrays(cell, truncate):
    sd, x, y, lengths = _setup(cell, B=40)
    data = make_dataset(x, y, lengths)
    runs = []
    for hold in (False, True):
        tr = Trainer(SequenceModel(sd, cell=cell, dtype="float32"), data, optimizer="adam", lr=1e-2, batch=32,
                     shuffle=False, truncate=truncate)
        if hold:  # a busy workspace: the trainer must fall back to fresh arrays
            tr._work.lock.acquire()
        recs = [tr.step() for _ in range(4)]
        runs.append(([r.loss for r in recs], [r.grad_h_norm for r in recs], tr.model.state))
        if not hold:
            assert tr._work.arrays  # it was used
        else:
            assert not tr._work.arrays
    (l0, g0, s0), (l1, g1, s1) = runs
    assert l0 == l1
    assert all(np.array_equal(a, b) for a, b in zip(g0, g1))
    assert all(np.array_equal(s0[k], s1[k]) for k in s0)


def test_nothing_returned_aliases_the_workspace():
    sd, x, y, lengths = _setup("lstm")
    from engine.batch import Workspace
    work = Workspace()
    r = batch_gradients(sd, x, y, lengths, cell="lstm", dtype="float32", _work=work)
    returned = list(r.grads.values()) + [r.y, r.seq_loss, r.grad_h_norm, r.h_last, r.c_last, r.dh0, r.dc0]
    for a in returned:
        for w in work.arrays.values():
            assert not np.shares_memory(a, w)
