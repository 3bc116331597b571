"""engine.tasks: the data convention, determinism, the targets, measured baselines and bad input."""
import gzip
import hashlib
import importlib.util
import math
import sys
from functools import cache

import numpy as np
import pytest
from naive import frozen

import engine
from engine import tasks
from engine.tasks import (
    ARRANGEMENTS,
    METRICS,
    TASKS,
    TaskData,
    baseline_loss,
    baseline_predictions,
    decode_text,
    make_task,
    sequence_loss,
    sequence_losses,
    task_metric,
)

# small versions of every task; a task added to the registry must be added here too
SMALL = {
    "adding": dict(seq_len=20, n_train=200, n_test=100),
    "copy": dict(seq_len=5, n_train=50, n_test=20),
    "reverse": dict(seq_len=6, n_train=50, n_test=20),
    "add_digits": dict(seq_len=3, n_train=50, n_test=20),
    "waves": dict(seq_len=12, n_train=50, n_test=20),
    "series": dict(seq_len=12, n_train=60, n_test=20),
    "vowels": dict(n_train=60, n_test=50),
    "text": dict(seq_len=20, n_train=30, n_test=10),
    "longrange": dict(seq_len=30, n_train=100, n_test=50),
}


@cache
def small(name, seed=0):
    """One small task per (name, seed), shared by the tests (read-only, so that no test can change it)."""
    return frozen(make_task(name, seed=seed, **SMALL[name]))


def steps_mask(lengths, T):
    return np.arange(T)[None, :] < lengths[:, None]


def test_every_task_has_a_small_case():
    assert set(SMALL) == set(TASKS)


# ---------------------------------------------------------------- the data convention


def expected_y_shape(task, N, T):
    rows = (N, T) if task.loss == "all" else (N,)
    return rows if task.output == "softmax" else rows + (task.n_out,)


@pytest.mark.parametrize("name", list(TASKS))
def test_shapes_dtypes_lengths_and_padding(name):
    task = small(name)
    spec = TASKS[name]
    assert isinstance(task, TaskData) and task.name == name and task.title == spec.title
    assert task.arrangement in ARRANGEMENTS and task.metric_name in METRICS
    assert (task.output, task.loss) == (spec.output, spec.loss)
    assert isinstance(task.n_in, int) and isinstance(task.n_out, int)
    for split, n in (("train", SMALL[name].get("n_train")), ("test", SMALL[name].get("n_test"))):
        x, y, lengths = (getattr(task, f"{k}_{split}") for k in ("x", "y", "len"))
        N, T, D = x.shape
        assert N == n and D == task.n_in and x.dtype == np.float64 and np.isfinite(x).all()
        assert lengths.shape == (N,) and lengths.dtype == np.int64
        assert lengths.min() >= 1 and lengths.max() <= T
        ed = task.arrangement == "encoder-decoder"
        assert y.shape == expected_y_shape(task, N, task.info["decoder_len"] if ed else T)
        if task.output == "softmax":
            assert y.dtype == np.int64 and y.min() >= 0 and y.max() < task.n_out
        else:
            assert y.dtype == np.float64 and np.isfinite(y).all()
        assert (x[~steps_mask(lengths, T)] == 0).all()  # zero padding after each length
    assert math.isfinite(task.baseline) and task.baseline > 0
    assert math.isfinite(task.info["baseline_metric"])


@pytest.mark.parametrize("name", ["vowels", "longrange"])
def test_variable_lengths_are_padded_with_zeros(name):
    task = small(name)
    assert len(np.unique(task.len_train)) > 3  # the lengths really vary
    for x, lengths in ((task.x_train, task.len_train), (task.x_test, task.len_test)):
        for i in range(len(x)):
            assert (x[i, lengths[i]:] == 0).all()
            assert (np.abs(x[i, lengths[i] - 1]) > 0).any()  # the last valid step holds data


def test_defaults_come_from_the_registry():
    for name in ("adding", "reverse", "longrange", "series", "vowels"):
        task, spec = make_task(name), TASKS[name]
        assert task.x_train.shape[:2] == (spec.n_train, spec.seq_len)
        assert task.x_test.shape[0] == spec.n_test
    task = make_task("copy", n_train=3, n_test=2)
    assert task.x_train.shape[1] == TASKS["copy"].seq_len + 20


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", list(TASKS))
def test_deterministic_in_seed(name):
    a, b, c = small(name), make_task(name, seed=0, **SMALL[name]), small(name, seed=1)
    for field in ("x_train", "y_train", "len_train", "x_test", "y_test", "len_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.baseline == b.baseline
    assert not np.array_equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", ["adding", "copy", "text", "vowels", "series"])
def test_train_set_does_not_depend_on_n_test(name):
    kw = dict(SMALL[name])
    kw["n_test"] = kw["n_test"] + 7
    a, b = small(name), make_task(name, seed=0, **kw)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)


# ---------------------------------------------------------------- targets


def test_adding_target_is_the_sum_of_the_two_marked_values():
    task = small("adding")
    for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
        values, marker = x[:, :, 0], x[:, :, 1]
        assert set(np.unique(marker)) == {0.0, 1.0} and (marker.sum(axis=1) == 2).all()
        assert ((values >= 0) & (values < 1)).all()
        np.testing.assert_array_equal(y[:, 0], (values * marker).sum(axis=1))


def test_adding_marked_pairs_are_spread_over_the_sequence():
    task = make_task("adding", seq_len=4, n_train=6000, n_test=1)
    pairs = [tuple(np.flatnonzero(m)) for m in task.x_train[:, :, 1]]
    counts = np.array([pairs.count(p) for p in sorted(set(pairs))])
    assert len(counts) == 6 and np.all(np.abs(counts - 1000) < 150)  # all 6 pairs, about equally often


def test_copy_layout_and_targets():
    T, C, K = 5, 10, 8
    task = small("copy")
    codes = task.x_train.argmax(axis=2)  # (N, T + 20)
    assert task.x_train.shape[1:] == (T + 2 * C, K + 2) and task.n_out == K + 1
    assert (task.x_train.sum(axis=2) == 1).all()  # one-hot at every step
    assert ((codes[:, :C] >= 1) & (codes[:, :C] <= K)).all()
    assert (codes[:, C:C + T - 1] == 0).all() and (codes[:, C + T - 1] == K + 1).all() and (codes[:, C + T:] == 0).all()
    np.testing.assert_array_equal(task.y_train[:, -C:], codes[:, :C])  # the last 10 targets = the first 10 inputs
    assert (task.y_train[:, :-C] == 0).all()


def test_reverse_targets_are_the_inputs_reversed():
    task = small("reverse")
    for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
        np.testing.assert_array_equal(y, x.argmax(axis=2)[:, ::-1])
    assert task.info["decoder_len"] == task.y_train.shape[1]


def test_text_targets_are_the_next_characters():
    text = "the quick brown fox jumps over the lazy dog. " * 40
    task = make_task("text", seq_len=15, n_train=20, n_test=5, text=text, vocab_size=40)
    vocab = task.info["vocabulary"]
    assert vocab[0] == task.info["unknown"] and len(vocab) == len(set(text)) + 1
    for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
        inputs = x.argmax(axis=2)
        np.testing.assert_array_equal(y[:, :-1], inputs[:, 1:])
        for row_in, row_y in zip(inputs, y):
            assert decode_text(np.r_[row_in, row_y[-1]], vocab) in text  # a real window of the text


def test_text_vocabulary_caps_its_size_and_maps_rare_characters_to_unknown():
    text = "aaaaabbbbcccdde" * 30
    task = make_task("text", seq_len=5, n_train=10, n_test=5, text=text, vocab_size=3)
    assert task.info["vocabulary"] == (tasks.UNKNOWN, "a", "b") and task.n_in == task.n_out == 3
    np.testing.assert_array_equal(tasks.encode_text("abcz", task.info["vocabulary"]), [1, 2, 0, 0])
    docs = small("text")
    assert docs.n_in == 64 and docs.info["unknown_fraction"] < 0.01
    assert docs.info["source"].startswith("Python documentation")


def test_series_targets_are_the_next_values_and_the_scale_is_the_train_parts():
    task = make_task("series", series="airline", seq_len=12, n_train=60, n_test=20)
    np.testing.assert_array_equal(task.y_train[:, :-1], task.x_train[:, 1:])
    z, split = task.info["values"], task.info["split"]
    assert abs(z[:split].mean()) < 1e-12 and abs(z[:split].std() - 1) < 1e-12
    raw = np.exp(z * task.info["std"] + task.info["mean"])  # airline is modelled in logs
    assert raw[0] == pytest.approx(112) and raw[-1] == pytest.approx(432) and len(z) == 144
    assert task.info["labels"][0] == "1949-01"
    # train windows lie before the split, test windows after it
    windows = np.lib.stride_tricks.sliding_window_view(z, 13)
    start = {tuple(w): i for i, w in enumerate(windows)}
    train_starts = [start[tuple(np.r_[x[:, 0], y[-1, 0]])] for x, y in zip(task.x_train, task.y_train)]
    test_starts = [start[tuple(np.r_[x[:, 0], y[-1, 0]])] for x, y in zip(task.x_test, task.y_test)]
    assert max(train_starts) + 13 <= split <= min(test_starts)


def test_lynx_ships_offline_and_is_the_default_series():
    task = small("series")
    assert task.info["series"] == "lynx" and task.info["labels"][:2] == ("1821", "1822")
    raw = np.exp(task.info["values"] * task.info["std"] + task.info["mean"])
    assert len(raw) == 114 and raw[0] == pytest.approx(269) and raw[-1] == pytest.approx(3396)


@pytest.mark.parametrize("series, length", [("sunspots", 309), ("co2", 526)])
def test_statsmodels_series(series, length):
    pytest.importorskip("statsmodels")
    task = make_task("series", series=series, seq_len=10, n_train=5, n_test=5)
    assert len(task.info["values"]) == length and np.isfinite(task.info["values"]).all()


def test_available_series():
    names = tasks.available_series()
    assert names[:2] == ("airline", "lynx")
    has_statsmodels = importlib.util.find_spec("statsmodels") is not None
    assert ("sunspots" in names) == ("co2" in names) == has_statsmodels


@pytest.mark.parametrize("n, T", [(30, 1), (30, 5), (30, 29), (144, 12)])
def test_window_weights_count_each_target_as_often_as_the_windows_do(n, T):
    weights = tasks._window_weights(n, T)
    counts = np.zeros(n - 1)
    for start in range(n - T):
        counts[start:start + T] += 1  # targets start + 1 .. start + T
    np.testing.assert_allclose(weights, counts / (n - T), rtol=1e-15)
    assert weights.sum() == pytest.approx(T)


def test_missing_optional_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels", None)  # what an import finds when it is not installed
    with pytest.raises(ImportError, match=r"statsmodels.*pip install statsmodels"):
        make_task("series", series="sunspots")


def test_vowels_are_the_uci_set():
    task = make_task("vowels", standardise=False)
    assert task.x_train.shape == (270, 29, 12) and task.x_test.shape == (370, 29, 12)
    assert (np.bincount(task.y_train) == 30).all()
    np.testing.assert_array_equal(np.bincount(task.y_test), [31, 35, 88, 44, 29, 24, 40, 50, 29])
    lengths = np.r_[task.len_train, task.len_test]
    assert lengths.min() == 7 and lengths.max() == 29
    # the first training utterance of the file, wherever the shuffle put it
    i = int(np.flatnonzero(np.isclose(task.x_train[:, 0, 0], 1.860936))[0])
    assert task.y_train[i] == 0 and task.x_train[i, 0, 1] == pytest.approx(-0.207383)
    scaled = small("vowels")
    frames = scaled.x_train[steps_mask(scaled.len_train, 29)]
    np.testing.assert_allclose(frames.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(frames.std(axis=0), 1, atol=1e-12)


def test_longrange_label_token_decides_the_class():
    task = small("longrange")
    C = task.info["n_classes"]
    for x, y, lengths in ((task.x_train, task.y_train, task.len_train), (task.x_test, task.y_test, task.len_test)):
        codes = x.argmax(axis=2)
        np.testing.assert_array_equal(codes[:, 0], y)
        valid = steps_mask(lengths, x.shape[1])
        valid[:, 0] = False
        assert (codes[valid] >= C).all()  # only distractors after the label
        assert lengths.min() >= task.info["min_len"] and lengths.max() <= x.shape[1]


def test_vendored_files_match_their_recorded_checksums():
    readme = (tasks.DATA_DIR / "README.md").read_text()
    for name in ("Airline.csv", "Lynx.csv", "JapaneseVowels_TRAIN.ts.gz", "JapaneseVowels_TEST.ts.gz"):
        path = tasks.DATA_DIR / name
        data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        row = next(line for line in readme.splitlines() if f"`{name}`" in line)
        assert hashlib.sha256(data).hexdigest() in row


# ---------------------------------------------------------------- baselines, measured


def per_sequence_losses(task, split="test"):
    y, lengths = getattr(task, f"y_{split}"), getattr(task, f"len_{split}")
    return sequence_losses(task.output, task.loss, baseline_predictions(task, split), y, lengths)


def assert_within_sampling_error(task, measured, losses, k=4.0):
    se = losses.std(ddof=1) / math.sqrt(len(losses))
    assert abs(measured - task.baseline) < k * se, (measured, task.baseline, se)


def test_adding_baseline_is_one_twelfth_per_sequence():
    task = make_task("adding", seq_len=10, n_train=1, n_test=40_000, seed=3)
    assert task.baseline == 1 / 12
    measured = baseline_loss(task)
    se = math.sqrt(0.25 * (1 / 15 - 1 / 36) / 40_000)  # 0.5 (s - 1)^2, s - 1 triangular on [-1, 1]
    assert abs(measured - 1 / 12) < 4 * se
    assert abs(task.info["baseline_metric"] - 1 / 6) < 8 * se  # MSE = 2 x the engine's 0.5-scaled loss


@pytest.mark.parametrize("T", [5, 100])
def test_copy_baseline_is_ten_ln8(T):
    task = make_task("copy", seq_len=T, n_train=2, n_test=30)
    assert baseline_loss(task) == pytest.approx(10 * math.log(8), rel=1e-12)
    assert baseline_loss(task, "train") == pytest.approx(10 * math.log(8), rel=1e-12)
    assert task.baseline == pytest.approx(10 * math.log(8), rel=1e-15)
    assert task.info["baseline_metric"] == pytest.approx(10 * math.log(8) / (T + 20), rel=1e-12)


def test_reverse_baseline_is_uniform():
    task = small("reverse")
    assert baseline_loss(task) == pytest.approx(6 * math.log(8), rel=1e-12) == task.baseline
    assert task.info["baseline_metric"] == pytest.approx(1 / 8, abs=0.05)


def test_vowels_baseline_is_ln9_and_the_majority_accuracy():
    task = make_task("vowels")
    assert baseline_loss(task) == pytest.approx(math.log(9), rel=1e-12) == task.baseline
    assert task.info["baseline_metric"] == pytest.approx(31 / 370)  # uniform prior: argmax is speaker 1


def test_longrange_baseline_is_ln_n_classes():
    task = make_task("longrange", seq_len=10, n_train=4000, n_test=4000, n_classes=3, min_len=2)
    assert task.baseline == math.log(3)
    assert baseline_loss(task) == pytest.approx(math.log(3), abs=0.005)
    assert task.info["baseline_metric"] == pytest.approx(1 / 3, abs=0.05)


@pytest.mark.parametrize("series", ["airline", "lynx"])
def test_series_persistence_baseline_measured(series):
    task = make_task("series", series=series, seq_len=8, n_train=1, n_test=3000, seed=5)
    assert_within_sampling_error(task, baseline_loss(task), per_sequence_losses(task))


def test_text_unigram_baseline_measured():
    task = make_task("text", seq_len=20, n_train=300, n_test=400, seed=2)
    measured = baseline_loss(task)
    assert_within_sampling_error(task, measured, per_sequence_losses(task))
    assert task.info["baseline_metric"] == pytest.approx(math.exp(measured / 20))
    unigram = task.info["unigram"]
    # on the train windows, the unigram's cross-entropy is about its own entropy (times T)
    assert baseline_loss(task, "train") == pytest.approx(-20 * np.sum(unigram * np.log(unigram)), rel=0.02)


# ---------------------------------------------------------------- the loss is the engine's


@pytest.mark.parametrize("name", ["adding", "copy", "series", "vowels"])
def test_sequence_loss_equals_the_engines_mean_loss(name):
    task = small(name)
    B = 4
    x, y, lengths = task.x_test[:B], task.y_test[:B], task.len_test[:B]
    params = engine.init_params(task.n_in, 5, task.n_out, output=task.output, seed=1)
    bt = engine.bptt_batch(params, x, y, lengths, loss=task.loss)  # y is NaN after each length
    assert sequence_loss(task.output, task.loss, bt.y, y, lengths) == pytest.approx(bt.loss / B, rel=1e-12)


def test_metrics_of_perfect_predictions():
    for name in ("adding", "reverse", "vowels", "copy"):
        task = small(name)
        if task.output == "softmax":
            T = task.x_test.shape[1]
            classes = task.y_test if task.loss == "all" else np.repeat(task.y_test[:, None], T, axis=1)
            perfect = np.eye(task.n_out)[classes]
        else:
            perfect = np.repeat(task.y_test[:, None], task.x_test.shape[1], axis=1)
        value = task_metric(task, perfect, task.y_test, task.len_test)
        assert value == {"MSE": 0.0, "accuracy": 1.0, "cross-entropy per step": 0.0}[task.metric_name]


# ---------------------------------------------------------------- bad input


BAD = [
    (lambda: make_task("nope"), r"name must be one of \['adding', 'copy'"),
    (lambda: make_task(3), "name"),
    (lambda: make_task("adding", seq_len=1), "seq_len"),
    (lambda: make_task("adding", seq_len=10**6), "seq_len"),
    (lambda: make_task("adding", seq_len=10.0), "seq_len"),
    (lambda: make_task("adding", seq_len=True), "seq_len"),
    (lambda: make_task("vowels", seq_len=20), "seq_len"),
    (lambda: make_task("adding", n_train=0), "n_train"),
    (lambda: make_task("adding", n_test=-1), "n_test"),
    (lambda: make_task("adding", n_train=2.5), "n_train"),
    (lambda: make_task("adding", n_train=10**6, seq_len=1000), "n_train"),
    (lambda: make_task("text", n_train=1, n_test=10**5, seq_len=1000), "n_test"),
    (lambda: make_task("vowels", n_train=271), "n_train"),
    (lambda: make_task("vowels", n_test=371), "n_test"),
    (lambda: make_task("adding", seed=-1), "seed"),
    (lambda: make_task("adding", n_symbols=8), r"n_symbols is not an option of task 'adding'"),
    (lambda: make_task("copy", n_symbols=1), "n_symbols"),
    (lambda: make_task("copy", n_copy=0), "n_copy"),
    (lambda: make_task("reverse", n_symbols="8"), "n_symbols"),
    (lambda: make_task("series", series="nile"), r"series must be one of \['airline', 'lynx'"),
    (lambda: make_task("series", series="airline", seq_len=40), r"seq_len must be at most 28 for series 'airline'"),
    (lambda: make_task("series", seq_len=30), r"seq_len must be at most 22 for series 'lynx'"),
    (lambda: make_task("series", test_fraction=0.9), "test_fraction"),
    (lambda: make_task("series", test_fraction="0.2"), "test_fraction"),
    (lambda: make_task("vowels", standardise="yes"), "standardise"),
    (lambda: make_task("text", text=""), "text"),
    (lambda: make_task("text", text=b"abc"), "text"),
    (lambda: make_task("text", text=["abc"]), "text"),
    (lambda: make_task("text", text="a" * (tasks.MAX_TEXT_CHARS + 1)), "text"),
    (lambda: make_task("text", text="short text", seq_len=20), "text is too short for seq_len=20"),
    (lambda: make_task("text", vocab_size=1), "vocab_size"),
    (lambda: make_task("text", test_fraction=0.0), "test_fraction"),
    (lambda: make_task("longrange", min_len=100), "min_len"),
    (lambda: make_task("longrange", n_classes=1), "n_classes"),
    (lambda: make_task("longrange", n_distractors=0), "n_distractors"),
    (lambda: baseline_loss(small("adding"), "val"), "split"),
    (lambda: baseline_loss(None), "task"),
    (lambda: task_metric("adding", np.zeros((1, 2, 1)), np.zeros((1, 1)), np.ones(1, int)), "task"),
    (lambda: sequence_loss("identity", "last", np.zeros((2, 3)), np.zeros((2, 1)), [3, 3]), "y_pred"),
    (lambda: sequence_loss("identity", "last", np.zeros((2, 3, 1)), np.zeros((2, 2)), [3, 3]), "y_true"),
    (lambda: sequence_loss("softmax", "all", np.ones((2, 3, 4)), np.zeros((2, 3)), [3, 3]), "y_true"),
    (lambda: sequence_loss("softmax", "last", np.ones((2, 3, 4)), np.array([0, 4]), [3, 3]), "y_true"),
    (lambda: sequence_loss("identity", "last", np.zeros((2, 3, 1)), np.zeros((2, 1)), [3, 4]), "lengths"),
    (lambda: sequence_loss("identity", "last", np.zeros((2, 3, 1)), np.zeros((2, 1)), [3.0, 3.0]), "lengths"),
    (lambda: sequence_loss("tanh", "last", np.zeros((2, 3, 1)), np.zeros((2, 1)), [3, 3]), "output"),
    (lambda: sequence_loss("identity", "first", np.zeros((2, 3, 1)), np.zeros((2, 1)), [3, 3]), "loss"),
]


@pytest.mark.parametrize("call, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_raises_value_error_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
