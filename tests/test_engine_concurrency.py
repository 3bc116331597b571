"""Every Streamlit session is a thread: concurrent calls must be safe and bit-identical to serial ones."""
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import naive
import numba
import numpy as np
import pytest

import engine

JIT_DISABLED = bool(numba.config.DISABLE_JIT)
# Without the JIT the kernels are plain Python (and hold the GIL): fewer calls keep the run short.
SCALE = 6 if JIT_DISABLED else 1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bptt_job(i):
    act = naive.ACTIVATION_NAMES[i % 4]
    out = naive.OUTPUT_NAMES[i % 3]
    loss = naive.LOSS_MODES[i % 2]
    p, x, target, h0 = naive.make_case(act, out, loss, T=40 + i % 7, H=6 + i % 5, seed=i)
    tr = engine.bptt(p, x, target, h0=h0, loss=loss)
    return (tr.h, tr.y, tr.grad_h, tr.grad_h_norm, tr.jacobian_norm, np.array([tr.loss]),
            *tr.grads.arrays().values())


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def test_bptt_from_8_threads_is_bit_identical_to_serial():
    jobs = list(range(400 // SCALE))
    serial = [_bptt_job(i) for i in jobs]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(_bptt_job, jobs))
    assert all(_same(a, b) for a, b in zip(serial, threaded))


def _sweep_job(i):
    acts = ("tanh", "relu", "linear", "sigmoid")
    return engine.sweep_spectral_radius(np.linspace(0.5, 1.5, 5), 60, n_hidden=8, n_seeds=4,
                                        activation=acts[i % 4], seed=i % 3)


def test_sweep_from_8_threads_is_bit_identical_to_serial():
    jobs = list(range(48 // SCALE))
    serial = [_sweep_job(i) for i in jobs]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(_sweep_job, jobs))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


def test_shared_trace_and_params_across_threads():
    """One params object and one Trace read from many threads (the lazy jacobian_norm included)."""
    p, x, target, h0 = naive.make_case("tanh", "identity", "all", T=60, H=10, seed=3)
    want = engine.bptt(p, x, target, h0=h0, loss="all").jacobian_norm
    tr = engine.bptt(p, x, target, h0=h0, loss="all")

    def job(_):
        return tr.jacobian_norm, engine.bptt(p, x, target, h0=h0, loss="all").grad_h

    with ThreadPoolExecutor(8) as pool:
        res = list(pool.map(job, range(64)))
    for jn, gh in res:
        np.testing.assert_array_equal(jn, want)
        np.testing.assert_array_equal(gh, res[0][1])


@pytest.mark.skipif(JIT_DISABLED, reason="no parallel region and no threading layer without the JIT")
def test_parallel_sweep_from_threads_does_not_abort_the_process():
    """numba's workqueue layer aborts the whole process when two threads enter a parallel region at
    once; run the stress in a child process so an abort is a test failure, not a dead test run."""
    code = textwrap.dedent("""
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np
        import engine
        def job(i):
            return engine.sweep_spectral_radius(np.linspace(0.2, 2.0, 8), 40, n_hidden=6, n_seeds=4, seed=i % 2)
        ref = [job(i) for i in range(2)]
        with ThreadPoolExecutor(8) as pool:
            out = list(pool.map(job, range(64)))
        assert all(np.array_equal(o, ref[i % 2]) for i, o in enumerate(out))
        import numba
        print("layer", numba.threading_layer())
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "workqueue" not in r.stdout
