"""The one-to-many task (waves) and the encoder-decoder whose output length differs from its input
(addition): their arrays, baselines and bad options; SequenceModel.free_running against a naive loop;
the command line's summary; and short training runs that beat the trivial baselines."""
import json
import math

import numpy as np
import pytest
from naive import random_state

from engine import init_params, params_to_state_dict
from engine.batch import EvaluationStopped
from engine.models import EncoderDecoder, SequenceModel, make_dataset, make_seq2seq_dataset
from engine.tasks import (
    ADD_INPUT,
    ADD_OUTPUT,
    TASKS,
    addition_question,
    baseline_loss,
    baseline_predictions,
    decode_symbols,
    exact_match,
    make_task,
    sequence_losses,
    task_metric,
)
from engine.train import main
from engine.trainer import Trainer

# ---------------------------------------------------------------- the one-to-many task: waves


def test_waves_is_one_to_many_in_the_registry():
    spec = TASKS["waves"]
    assert (spec.arrangement, spec.output, spec.loss, spec.metric_name) == ("one-to-many", "identity", "all", "MSE")
    task = make_task("waves", seq_len=12, n_train=30, n_test=10)
    assert task.info["feedback"] == (3,) and task.info["condition_channels"] == (0, 1, 2)
    assert task.info["condition_steps"] == 1


def test_waves_arrays_condition_then_the_previous_target():
    T = 15
    task = make_task("waves", seq_len=T, n_train=40, n_test=25, seed=3)
    for x, y, lengths in ((task.x_train, task.y_train, task.len_train), (task.x_test, task.y_test, task.len_test)):
        N = x.shape[0]
        assert x.shape == (N, T, 4) and y.shape == (N, T, 1) and x.dtype == y.dtype == np.float64
        assert lengths.dtype == np.int64 and (lengths == T).all()
        omega, s, c = x[:, 0, 0], x[:, 0, 1], x[:, 0, 2]
        np.testing.assert_allclose(s * s + c * c, 1.0, rtol=1e-14)
        assert ((omega >= 2 * np.pi / 16) & (omega <= 2 * np.pi / 6)).all()
        phase = np.arctan2(s, c)
        np.testing.assert_allclose(y[:, :, 0], np.sin(omega[:, None] * np.arange(T) + phase[:, None]), atol=1e-12)
        assert (x[:, 1:, :3] == 0).all()             # the condition at step 1 only
        assert (x[:, 0, 3] == 0).all()               # no previous value at step 1
        np.testing.assert_array_equal(x[:, 1:, 3], y[:, :-1, 0])   # teacher forcing: the true previous target
    cond = task.info["condition_test"]
    np.testing.assert_allclose(cond[:, 0], task.x_test[:, 0, 0], rtol=1e-15)
    np.testing.assert_allclose(np.sin(cond[:, 1]), task.x_test[:, 0, 1], atol=1e-15)


def test_waves_options_set_the_period_range():
    task = make_task("waves", seq_len=8, n_train=200, n_test=5, min_period=10, max_period=10)
    np.testing.assert_allclose(task.x_train[:, 0, 0], 2 * np.pi / 10, rtol=1e-15)


def test_waves_baseline_is_a_quarter_of_T_analytic_and_measured():
    T = 30
    task = make_task("waves", seq_len=T, n_train=1, n_test=4000, seed=1)
    assert task.baseline == T / 4
    losses = sequence_losses("identity", "all", baseline_predictions(task), task.y_test, task.len_test)
    se = losses.std() / math.sqrt(losses.size)
    assert abs(baseline_loss(task) - T / 4) < 4 * se
    assert abs(task.info["baseline_metric"] - 0.5) < 4 * se / (T / 2)


def test_waves_deterministic_in_seed_and_train_set_independent_of_n_test():
    a = make_task("waves", seq_len=10, n_train=20, n_test=5, seed=4)
    b = make_task("waves", seq_len=10, n_train=20, n_test=9, seed=4)
    c = make_task("waves", seq_len=10, n_train=20, n_test=5, seed=5)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_train, c.x_train)


# ---------------------------------------------------------------- the encoder-decoder of another length: addition


def test_addition_arrays_questions_answers_and_lengths():
    n = 3
    task = make_task("add_digits", seq_len=n, n_train=300, n_test=100, seed=2)
    assert task.arrangement == "encoder-decoder" and task.info["decoder_len"] == n + 2
    assert task.n_in == len(ADD_INPUT) == 11 and task.n_out == len(ADD_OUTPUT) == 11
    for x, y, lengths in ((task.x_train, task.y_train, task.len_train), (task.x_test, task.y_test, task.len_test)):
        N = x.shape[0]
        assert x.shape == (N, 2 * n + 1, 11) and y.shape == (N, n + 2) and y.dtype == np.int64
        assert len(np.unique(lengths)) >= 4 and lengths.min() >= 3 and lengths.max() <= 2 * n + 1
        valid = np.arange(2 * n + 1)[None, :] < lengths[:, None]
        assert (x.sum(axis=2) == valid).all()        # one-hot on the question, zero padding after it
        for i in range(N):
            question = addition_question(x[i], lengths[i])
            a, b = question.split("+")
            assert 1 <= len(a) <= n and 1 <= len(b) <= n and (len(a) == 1 or a[0] != "0")
            answer = decode_symbols(y[i], ADD_OUTPUT, end=task.info["end"])
            assert int(answer) == int(a) + int(b)
            assert (y[i, len(answer):] == task.info["end"]).all() and len(answer) < n + 2


def test_addition_baseline_is_uniform_and_exact():
    task = make_task("add_digits", seq_len=4, n_train=10, n_test=300)
    assert task.baseline == 6 * math.log(11)
    assert baseline_loss(task) == pytest.approx(6 * math.log(11), rel=1e-14)
    assert baseline_loss(task, "train") == pytest.approx(6 * math.log(11), rel=1e-14)
    # argmax of a uniform guess is class 0: the accuracy is the share of the digit 0 among the targets
    assert task.info["baseline_metric"] == pytest.approx(float(np.mean(task.y_test == 0)), rel=1e-14)


def test_addition_metric_covers_every_decoder_step_whatever_the_input_lengths():
    task = make_task("add_digits", seq_len=3, n_train=10, n_test=50)
    perfect = np.eye(11)[task.y_test]
    assert task_metric(task, perfect, task.y_test, task.len_test) == 1.0
    wrong_end = perfect.copy()
    wrong_end[:, -1] = np.eye(11)[0]                # the last decoder step is always an end symbol
    assert task_metric(task, wrong_end, task.y_test, task.len_test) == pytest.approx(1 - 1 / 5)
    assert not exact_match(wrong_end, task.y_test).any() and exact_match(perfect, task.y_test).all()


def test_addition_deterministic_in_seed():
    a, b = make_task("add_digits", n_train=20, n_test=5, seed=7), make_task("add_digits", n_train=20, n_test=5, seed=7)
    c = make_task("add_digits", n_train=20, n_test=5, seed=8)
    for f in ("x_train", "y_train", "len_train", "x_test", "y_test", "len_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.y_train, c.y_train)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,name", [
    (lambda: make_task("waves", min_period=1), "min_period"),
    (lambda: make_task("waves", min_period="6"), "min_period"),
    (lambda: make_task("waves", max_period=2000), "max_period"),
    (lambda: make_task("waves", min_period=10, max_period=8), "max_period"),
    (lambda: make_task("waves", seq_len=1), "seq_len"),
    (lambda: make_task("waves", n_symbols=3), "n_symbols is not an option"),
    (lambda: make_task("add_digits", seq_len=0), "seq_len"),
    (lambda: make_task("add_digits", seq_len=10), "seq_len"),
    (lambda: make_task("add_digits", seq_len=2.5), "seq_len"),
    (lambda: make_task("add_digits", n_digits=3), "n_digits is not an option"),
    (lambda: exact_match(np.zeros((2, 3, 4)), np.zeros((2, 4), int)), "y_pred"),
])
def test_bad_options_raise_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _waves_model(cell="lstm", H=6, seed=0, output="identity"):
    return SequenceModel(params_to_state_dict(init_params(4, H, 1, cell=cell, seed=seed)), cell=cell,
                         output=output, loss="all")


@pytest.mark.parametrize("feedback", [(4,), (-1,), (0, 1), ("3",), 3, "3", (True,), (2.5,)])
def test_free_running_refuses_bad_feedback(feedback):
    task = make_task("waves", seq_len=6, n_train=4, n_test=4)
    with pytest.raises(ValueError, match="feedback"):
        _waves_model().free_running(task.x_test, task.len_test, feedback)


def test_free_running_refuses_bad_inputs():
    m = _waves_model()
    with pytest.raises(ValueError, match="x must"):
        m.free_running(np.zeros((2, 5, 3)), None, (2,))
    with pytest.raises(ValueError, match="lengths"):
        m.free_running(np.zeros((2, 5, 4)), np.array([0, 5]), (3,))
    with pytest.raises(ValueError, match="x must"):
        m.free_running("abc", None, (3,))


# ---------------------------------------------------------------- free-running against a naive loop


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def naive_step(cell, sd, x, h, c):
    """One step of PyTorch's equations, written out for one sequence."""
    W_ih, W_hh, b_ih, b_hh = sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"]
    H = W_hh.shape[1]
    if cell == "rnn":
        return np.tanh(W_ih @ x + b_ih + W_hh @ h + b_hh), c
    if cell == "lstm":
        a = W_ih @ x + b_ih + W_hh @ h + b_hh
        i, f, g, o = _sig(a[:H]), _sig(a[H:2 * H]), np.tanh(a[2 * H:3 * H]), _sig(a[3 * H:])
        c = f * c + i * g
        return o * np.tanh(c), c
    gi, gh = W_ih @ x + b_ih, W_hh @ h + b_hh
    r, z = _sig(gi[:H] + gh[:H]), _sig(gi[H:2 * H] + gh[H:2 * H])
    n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
    return (1 - z) * n + z * h, c


def naive_free_running(cell, sd, x, feedback, output):
    """The loop as a student would write it: step 1 reads the condition; each later step reads its own output."""
    B, T, _ = x.shape
    H, O = sd["weight_hh_l0"].shape[1], sd["head.weight"].shape[0]
    out = np.zeros((B, T, O))
    for b in range(B):
        h, c = np.zeros(H), np.zeros(H)
        inp = x[b, 0].copy()
        for t in range(T):
            h, c = naive_step(cell, sd, inp, h, c)
            z = sd["head.weight"] @ h + sd["head.bias"]
            y = z if output == "identity" else np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            out[b, t] = y
            if t + 1 < T:
                inp = x[b, t + 1].copy()
                fed = y if output == "identity" else np.eye(O)[int(np.argmax(y))]
                for k, ch in enumerate(feedback):
                    inp[ch] = fed[k]
    return out


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_free_running_equals_a_naive_loop(cell):
    task = make_task("waves", seq_len=9, n_train=4, n_test=5, seed=2)
    sd = random_state(cell, 4, 5, 1, np.random.default_rng(3))
    m = SequenceModel(sd, cell=cell, output="identity", loss="all")
    got = m.free_running(task.x_test, task.len_test, task.info["feedback"])
    want = naive_free_running(cell, sd, task.x_test, task.info["feedback"], "identity")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # the first step reads only the condition, as teacher forcing does: the two agree there and nowhere after
    tf = m.evaluate(task.x_test, task.y_test, task.len_test).y
    np.testing.assert_allclose(got[:, 0], tf[:, 0], rtol=0, atol=1e-14)
    assert np.abs(got[:, 2:] - tf[:, 2:]).max() > 1e-3


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_free_running_softmax_feeds_back_the_one_hot_of_its_choice(cell):
    rng = np.random.default_rng(5)
    O, D, T, B = 4, 6, 7, 3
    sd = random_state(cell, D, 5, O, rng, scale=3.0)
    x = np.zeros((B, T, D))
    x[:, 0, 4:] = rng.normal(size=(B, 2))           # a condition in the channels 4, 5 at step 1
    m = SequenceModel(sd, cell=cell, output="softmax", loss="all")
    got = m.free_running(x, None, (0, 1, 2, 3))
    want = naive_free_running(cell, sd, x, (0, 1, 2, 3), "softmax")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_free_running_in_chunks_equals_one_pass_and_stops_between_chunks():
    task = make_task("waves", seq_len=8, n_train=4, n_test=13, seed=1)
    m = _waves_model("gru")
    whole = m.free_running(task.x_test, task.len_test, (3,))
    chunked = m.free_running(task.x_test, task.len_test, (3,), max_numbers=8 * 18 * 3)   # 3 rows a chunk
    np.testing.assert_allclose(whole, chunked, rtol=0, atol=1e-14)   # products of other sizes: the last bits
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 2
    with pytest.raises(EvaluationStopped):
        m.free_running(task.x_test, task.len_test, (3,), max_numbers=8 * 18 * 3, stop=stop)
    assert len(asked) == 3


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_teacher_forced_evaluate_equals_gradients_loss(cell):
    task = make_task("waves", seq_len=10, n_train=4, n_test=9, seed=6)
    m = _waves_model(cell)
    res = m.evaluate(task.x_test, task.y_test, task.len_test, max_numbers=10 * 24 * 2)
    g = m.gradients(task.x_test, task.y_test, task.len_test)
    assert res.loss == pytest.approx(g.loss, rel=1e-13)
    np.testing.assert_allclose(res.y, g.y, rtol=0, atol=1e-14)


def _addition_model(task, cell="gru", H=8):
    enc = params_to_state_dict(init_params(task.n_in, H, 1, cell=cell, seed=1))
    dec = params_to_state_dict(init_params(task.n_out + 1, H, task.n_out, cell=cell, output="softmax", seed=2))
    return EncoderDecoder({**{"encoder." + k: v for k, v in enc.items() if not k.startswith("head.")},
                           **{"decoder." + k: v for k, v in dec.items()}}, cell=cell)


def test_addition_encoder_decoder_evaluates_teacher_forced_and_free_running():
    task = make_task("add_digits", seq_len=3, n_train=10, n_test=30, seed=1)
    m = _addition_model(task)
    res = m.evaluate(task.x_test, task.y_test, task.len_test)
    g = m.gradients(task.x_test, task.y_test, task.len_test)
    assert res.y.shape == (30, 5, 11) and res.loss == pytest.approx(g.loss, rel=1e-13)
    free = m.free_running(task.x_test, task.len_test, task.info["decoder_len"])
    assert free.shape == (30, 5, 11)
    # the free-running decoder's first step reads the start symbol, as teacher forcing does
    np.testing.assert_allclose(free[:, 0], res.y[:, 0], rtol=0, atol=1e-14)
    for y in (res.y, free):
        assert 0.0 <= task_metric(task, y, task.y_test, task.len_test) <= 1.0


# ---------------------------------------------------------------- the command line


def _summary(capsys) -> dict:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[-1]["final"] is True
    return lines[-1]


@pytest.mark.parametrize("task,metric", [("waves", "MSE"), ("add_digits", "accuracy"), ("reverse", "accuracy")])
def test_the_command_line_reports_the_free_running_metric(task, metric, capsys):
    assert main(["--task", task, "--seq-len", "3" if task != "waves" else "10", "--steps", "3", "--batch", "8",
                 "--hidden", "6", "--cell", "gru", "--json"]) == 0
    s = _summary(capsys)
    assert s["steps"] == 3 and s["metric"] == metric
    assert isinstance(s["free_running_metric_value"], float) and math.isfinite(s["free_running_metric_value"])
    assert s["baseline"] == make_task(task, seq_len=3 if task != "waves" else 10, n_train=1, n_test=1).baseline


def test_the_command_line_has_no_free_running_value_for_a_many_to_one_task(capsys):
    assert main(["--task", "adding", "--seq-len", "5", "--steps", "2", "--batch", "4", "--hidden", "4", "--json"]) == 0
    assert "free_running_metric_value" not in _summary(capsys)


def test_the_command_line_prints_both_metrics_without_json(capsys):
    assert main(["--task", "waves", "--seq-len", "8", "--steps", "2", "--batch", "4", "--hidden", "4"]) == 0
    out = capsys.readouterr().out
    assert "teacher-forced" in out and "free-running" in out


def test_the_command_line_refuses_a_bad_length(capsys):
    assert main(["--task", "add_digits", "--seq-len", "12", "--steps", "2"]) == 2
    assert "seq_len" in capsys.readouterr().err


# ---------------------------------------------------------------- training beats the baselines


@pytest.mark.slow
def test_waves_training_beats_the_baseline_teacher_forced_and_free_running():
    task = make_task("waves", seq_len=20, n_train=400, n_test=100, seed=0)
    m = _waves_model("lstm", H=16)
    train = make_dataset(task.x_train, task.y_train, task.len_train, output="identity", loss="all")
    tr = Trainer(m, train, lr=1e-2, batch=32, clip_norm=1.0, seed=0)
    for _ in range(150):
        tr.step()
    res = m.evaluate(task.x_test, task.y_test, task.len_test)
    teacher = task_metric(task, res.y, task.y_test, task.len_test)
    free = task_metric(task, m.free_running(task.x_test, task.len_test, task.info["feedback"]), task.y_test,
                       task.len_test)
    base = task.info["baseline_metric"]
    assert res.loss < task.baseline / 10
    assert teacher < base / 10 and free < base, (teacher, free, base)


@pytest.mark.slow
def test_addition_training_beats_the_baseline():
    task = make_task("add_digits", seq_len=2, n_train=2000, n_test=200, seed=0)
    m = _addition_model(task, "lstm", H=24)
    train = make_seq2seq_dataset(task.x_train, task.y_train, task.len_train, n_out=task.n_out)
    tr = Trainer(m, train, lr=1e-2, batch=32, clip_norm=1.0, seed=0)
    for _ in range(150):
        tr.step()
    res = m.evaluate(task.x_test, task.y_test, task.len_test)
    teacher = task_metric(task, res.y, task.y_test, task.len_test)
    free = task_metric(task, m.free_running(task.x_test, task.len_test, task.info["decoder_len"]), task.y_test,
                       task.len_test)
    assert res.loss < 0.6 * task.baseline
    assert free > task.info["baseline_metric"] + 0.3 and teacher > task.info["baseline_metric"] + 0.3, (teacher, free)
