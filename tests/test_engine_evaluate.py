"""Scoring many sequences (Model.evaluate, Trainer.evaluate): forward passes in chunks under a memory cap,
equal to one pass over the whole batch, stoppable between chunks; and the Workspace that lets batches of
several sizes share one set of buffers."""
import tracemalloc

import numpy as np
import pytest

from engine import init_params, params_to_state_dict
from engine.batch import EvaluationStopped, Workspace, eval_chunk_rows
from engine.limits import BATCH_BYTES
from engine.models import EncoderDecoder, SequenceModel, make_dataset
from engine.tasks import make_task
from engine.trainer import Trainer


def _model(task, cell, H=12, dtype="float64"):
    D, O = task.n_in, task.n_out
    if task.arrangement == "encoder-decoder":
        enc = params_to_state_dict(init_params(D, H, 1, cell=cell, seed=1))
        dec = params_to_state_dict(init_params(O + 1, H, O, cell=cell, output="softmax", seed=2))
        state = {**{"encoder." + k: v for k, v in enc.items() if not k.startswith("head.")},
                 **{"decoder." + k: v for k, v in dec.items()}}
        return EncoderDecoder(state, cell=cell, dtype=dtype)
    return SequenceModel(params_to_state_dict(init_params(D, H, O, cell=cell, seed=1)), cell=cell,
                         output=task.output, loss=task.loss, dtype=dtype)


@pytest.mark.parametrize("name,T", [("adding", 30), ("vowels", 30), ("reverse", 12)])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_chunks_equal_one_pass(name, T, cell):
    task = make_task(name, seq_len=T, seed=3)
    m = _model(task, cell)
    x, y, n = task.x_test[:23], task.y_test[:23], task.len_test[:23]
    whole = m.gradients(x, y, n)
    GH = m.state[("encoder." if isinstance(m, EncoderDecoder) else "") + "weight_hh_l0"].shape[0]
    T_max = max(x.shape[1], y.shape[1] if isinstance(m, EncoderDecoder) else 0)
    for cap, rows in ((T_max * GH * 5, 5), (T_max * GH * 5 + 1, 5), (1, 1), (1e12, 23)):
        work = Workspace()
        seen = []
        s = m.evaluate(x, y, n, max_numbers=cap, _work=work, progress=lambda d, t: seen.append((d, t)))
        assert s.chunk == rows == min(23, eval_chunk_rows(T_max, GH, cap))
        assert seen == [(min(23, k + rows), 23) for k in range(0, 23, rows)]
        np.testing.assert_allclose(s.seq_loss, whole.seq_loss, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(s.y, whole.y, rtol=1e-12, atol=1e-15)
        assert s.loss == pytest.approx(whole.loss, rel=1e-12) and s.overflow is None
        assert not any(np.shares_memory(s.y, a) for a in work.arrays.values())


def test_stop_is_asked_before_every_chunk():
    task = make_task("adding", seq_len=20, seed=0)
    m = _model(task, "lstm")
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 3
    with pytest.raises(EvaluationStopped, match="after 6 of 40"):
        m.evaluate(task.x_test[:40], task.y_test[:40], task.len_test[:40], max_numbers=20 * 48 * 2, stop=stop)
    assert len(asked) == 4


def test_overflow_is_reported_not_hidden():
    task = make_task("adding", seq_len=200, seed=0)
    sd = params_to_state_dict(init_params(task.n_in, 8, 1, activation="linear", spectral_radius=1e4, seed=0))
    m = SequenceModel(sd, cell="rnn", activation="linear", output=task.output, loss=task.loss)
    x, y, n = task.x_test[:10], task.y_test[:10], task.len_test[:10]
    s = m.evaluate(x, y, n, max_numbers=200 * 8 * 3)
    assert s.overflow is not None and "overflowed at step" in s.overflow
    assert s.overflow == m.gradients(x, y, n).overflow


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scoring_many_sequences_needs_one_chunk_of_memory(dtype):
    """128 sequences of T = 400 scored in chunks of 8: the peak is that of a chunk (the estimate of a
    training batch, BATCH_BYTES per number and byte of the float type), plus the outputs kept."""
    task = make_task("adding", seq_len=400, seed=0)
    m = _model(task, "lstm", H=64, dtype=dtype)
    x, y, n = task.x_test[:128], task.y_test[:128], task.len_test[:128]
    cap = 400 * 8 * 4 * 64
    itemsize = np.dtype(dtype).itemsize
    m.evaluate(x[:2], y[:2], n[:2], max_numbers=cap)   # compiled before measuring
    tracemalloc.start()
    try:
        s = m.evaluate(x, y, n, max_numbers=cap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert s.chunk == 8
    one_pass = 128 * 400 * 4 * 64 * itemsize * BATCH_BYTES
    assert peak <= cap * itemsize * BATCH_BYTES + 2 * s.y.nbytes, (peak, one_pass)
    assert peak < one_pass / 8


def test_trainer_evaluate_is_chunked_scoring():
    task = make_task("adding", seq_len=20, seed=0)
    m = _model(task, "gru")
    tr = Trainer(m, make_dataset(task.x_train[:50], task.y_train[:50], output=task.output, loss=task.loss), batch=10)
    whole = m.gradients(task.x_train[:50], task.y_train[:50], task.len_train[:50])
    s = tr.evaluate(max_numbers=20 * 36 * 7)
    assert s.chunk == 7 and s.loss == pytest.approx(whole.loss, rel=1e-12)


def test_workspace_buffers_are_shared_by_sizes():
    w = Workspace()
    a = w.empty("GX", (10, 4, 8), np.float64)
    b = w.empty("GX", (10, 2, 8), np.float64)   # smaller: the front of the same buffer
    assert np.shares_memory(a, b) and b.flags.c_contiguous and b.shape == (10, 2, 8)
    c = w.empty("GX", (10, 8, 8), np.float64)   # larger: a new buffer, which then serves both
    assert not np.shares_memory(a, c) and w.nbytes == c.nbytes
    assert w.empty("GX", (10, 4, 8), np.float32).dtype == np.float32
    w.release()
    assert w.nbytes == 0


def test_trainers_taking_turns_share_one_workspace():
    """A race's three trainers: each buffer is that of the largest cell using it, not the sum."""
    task = make_task("adding", seq_len=30, seed=0)
    data = make_dataset(task.x_train[:64], task.y_train[:64], output=task.output, loss=task.loss)
    shared, alone = Workspace(), {}
    for cell in ("rnn", "gru", "lstm"):
        Trainer(_model(task, cell), data, batch=16, workspace=shared).step()
        t = Trainer(_model(task, cell), data, batch=16)
        t.step()
        alone[cell] = {k: a.nbytes for k, a in t._work.arrays.items()}
    names = set().union(*alone.values())
    assert shared.nbytes == sum(max(a.get(k, 0) for a in alone.values()) for k in names)
    assert shared.nbytes < 0.75 * sum(sum(a.values()) for a in alone.values())


# ---------------------------------------------------------------- the decoder on its own outputs


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_free_running_is_teacher_forcing_on_its_own_choices(cell):
    """Fed its own greedy choices as the "true" previous symbols, the teacher-forced pass gives exactly
    the free-running outputs; fed the real targets it differs (the decoder's mistakes compound)."""
    task = make_task("reverse", seq_len=10, seed=1)
    m = _model(task, cell, H=10)
    x, y, n = task.x_test[:17], task.y_test[:17], task.len_test[:17]
    free = m.free_running(x, n, y.shape[1], max_numbers=10 * 40 * 5)
    assert free.shape == (17, y.shape[1], task.n_out)
    np.testing.assert_allclose(free.sum(-1), 1.0, rtol=1e-12)
    own = free.argmax(-1)
    forced_own = m.evaluate(x, own, n)
    np.testing.assert_allclose(forced_own.y, free, rtol=1e-10, atol=1e-13)
    forced = m.evaluate(x, y, n)
    np.testing.assert_allclose(forced.y[:, 0], free[:, 0], rtol=1e-12)   # step 0: the start symbol in both
    assert not np.allclose(forced.y, free)


def test_free_running_refuses_a_bad_length():
    task = make_task("reverse", seq_len=10, seed=1)
    m = _model(task, "gru")
    with pytest.raises(ValueError, match="n_steps"):
        m.free_running(task.x_test[:2], task.len_test[:2], 0)


def test_the_command_line_reports_both_metrics_of_an_encoder_decoder(capsys):
    import json

    from engine.train import main

    assert main(["--task", "reverse", "--seq-len", "8", "--steps", "3", "--batch", "8", "--cell", "gru",
                 "--hidden", "8", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["metric"] == "accuracy"
    assert 0 <= summary["free_running_metric_value"] <= 1 and 0 <= summary["metric_value"] <= 1
    assert main(["--task", "adding", "--seq-len", "8", "--steps", "2", "--json"]) == 0
    assert "free_running_metric_value" not in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
