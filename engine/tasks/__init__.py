"""Learnable sequence tasks, their registry and the public API: synthetic generators and offline real data, each
with its trivial baseline.

    from engine.tasks import make_task, baseline_loss
    task = make_task("adding", seq_len=100, seed=0)
    task.x_train.shape, task.y_train.shape      # (10000, 100, 2), (10000, 1)
    task.baseline, baseline_loss(task)          # 1/12 (analytic) and the constant predictor, measured

Data convention (shared with engine/batch.py): x (N, T, D) float64, zero after each sequence's length;
lengths (N,) int64 in [1, T]; y by (output, loss): identity "last" (N, O) float64, identity "all"
(N, T, O) float64, softmax "last" (N,) int64, softmax "all" (N, T) int64 (0 after each length). The loss of
one sequence is the one ``engine.bptt`` defines (identity: 0.5 * sum ||y - target||^2 over the covered
steps; softmax: sum of cross-entropies); the loss of a set is the mean over its sequences.

One-to-many (``waves``): x holds the condition at step 1 only and, at every later step, the previous target
in the input channels ``info["feedback"]`` (teacher forcing, as in training); running free, a network writes
its own previous output there instead (``SequenceModel.free_running``). Encoder-decoder (``reverse``,
``add_digits``): y (N, T_out) int64 holds the decoder's classes, ``T_out = info["decoder_len"]`` independent of the
input's T; lengths are the inputs', and the decoder's loss and metric cover every one of its steps.

Every task is a ``TaskSpec`` in ``TASKS``: its generator or loader, its trivial predictor, its metric and
its defaults. ``task.baseline`` is the trivial predictor's expected loss (analytic for the generators,
exact over the data for the real sets); ``baseline_loss`` measures it on the arrays. Nothing here
downloads: the real data ship in engine/data (see its README) or in an optional package.

One module per idea: ``common`` (TaskData, TaskSpec and the generators' helpers), ``metrics`` (the engine's loss
of whole sequences and the metrics), ``synthetic`` (adding, copy, reverse, long-range), ``arrangements`` (digit
addition and the sine wave), ``series``, ``vowels`` and ``text``; this module holds the table ``TASKS`` and the
functions that build and score a task.
"""
from __future__ import annotations

import numpy as np

from ..limits import MAX_ELEMENTS, MAX_SEQUENCES, MAX_TEXT_CHARS  # noqa: F401  (the size limits, with the engine's others)
from ..losses import STEP_TERMS  # noqa: F401
from ..params import _check_int, check_seed
from .arrangements import (  # noqa: F401
    ADD_INPUT,
    ADD_OUTPUT,
    WAVE_CONDITION,
    WAVE_FEEDBACK,
    _addition_split,
    _make_addition,
    _make_waves,
    _operands,
    _trivial_uniform_decoder,
    _trivial_zero,
    _waves_split,
    addition_question,
    decode_symbols,
    exact_match,
)
from .common import (  # noqa: F401
    ARRANGEMENTS,
    DATA_DIR,
    SPLITS,
    TaskData,
    TaskSpec,
    _check_bool,
    _check_fraction,
    _check_size,
    _class_prior,
    _full_lengths,
    _one_hot,
    _optional_module,
    _prior_outputs,
    _rngs,
    _window_weights,
    _windows,
)
from .metrics import (  # noqa: F401
    LOSS_STEPS,
    METRICS,
    _covered,
    _mask_all,
    _mask_last,
    _metric_accuracy,
    _metric_cross_entropy,
    _metric_mse,
    _metric_perplexity,
    _spread_all,
    _spread_last,
    _step_terms,
    sequence_loss,
    sequence_losses,
)
from .series import (  # noqa: F401
    SERIES,
    TRANSFORMS,
    SeriesSource,
    _csv_rows,
    _load_airline,
    _load_co2,
    _load_lynx,
    _load_sunspots,
    _make_series,
    _package_file,
    _read_csv_series,
    _trivial_persistence,
    available_series,
)
from .synthetic import (  # noqa: F401
    _adding_split,
    _copy_split,
    _longrange_split,
    _make_adding,
    _make_copy,
    _make_longrange,
    _make_reverse,
    _reverse_split,
    _trivial_adding,
    _trivial_copy,
    _trivial_uniform,
)
from .text import (  # noqa: F401
    UNKNOWN,
    _check_text,
    _code_points,
    _make_text,
    _python_docs,
    build_vocabulary,
    decode_text,
    encode_text,
)
from .vowels import _make_vowels, _pad, _read_ts  # noqa: F401

# ---------------------------------------------------------------- the registry


TASKS: dict[str, TaskSpec] = {
    "adding": TaskSpec(
        "Adding problem", "many-to-one", "identity", "last", 100, 10_000, 1_000, (2, 100_000),
        _make_adding, _trivial_adding, "MSE", "always predict 1.0 (the mean of the target)", {},
        "Values U[0, 1] beside a marker channel with exactly two 1s; the target is the sum of the two marked "
        "values, read at the last step."),
    "copy": TaskSpec(
        "Copy memory", "many-to-many", "softmax", "all", 100, 2_000, 200, (1, 100_000),
        _make_copy, _trivial_copy, "cross-entropy per step",
        "memoryless: blank until the recall, then a uniform guess among the symbols",
        {"n_symbols": 8, "n_copy": 10},
        "n_copy symbols from n_symbols, seq_len - 1 blanks, a delimiter, n_copy blanks (seq_len + 2 n_copy steps); "
        "the network answers blank until the delimiter has passed, then the symbols in order."),
    "reverse": TaskSpec(
        "Sequence reversal", "encoder-decoder", "softmax", "all", 10, 5_000, 500, (1, 10_000),
        _make_reverse, _trivial_uniform, "accuracy", "a uniform guess among the symbols at every step",
        {"n_symbols": 8},
        "An encoder reads seq_len symbols; a decoder started from its last state writes them in reverse "
        "(y has info['decoder_len'] steps)."),
    "add_digits": TaskSpec(
        "Digit addition: \"123+45\" → \"168\"", "encoder-decoder", "softmax", "all", 3, 5_000, 500, (1, 9),
        _make_addition, _trivial_uniform_decoder, "accuracy",
        "a uniform guess among the 11 symbols at each step", {},
        "An encoder reads a question such as 123+45 (two numbers of 1 to seq_len digits, so the question's length "
        "varies); a decoder started from its last state writes the sum's digits and then end symbols ■, "
        "seq_len + 2 steps in all (y has info['decoder_len'] steps; the accuracy counts the end symbols too)."),
    "waves": TaskSpec(
        "Sine wave from its frequency and phase", "one-to-many", "identity", "all", 40, 2_000, 200, (2, 10_000),
        _make_waves, _trivial_zero, "MSE", "always predict 0 (the mean of the wave)",
        {"min_period": 6, "max_period": 16},
        "Step 1 reads a condition (ω in radians per step, sin φ, cos φ; period uniform in [min_period, "
        "max_period] steps, phase φ uniform); the network writes y_k = sin(ω (k − 1) + φ) for k = 1 .. seq_len. "
        "In training, step k also reads the true y_(k−1) (teacher forcing, the input's fourth channel); "
        "free-running, it reads its own previous output there instead (info['feedback'])."),
    "series": TaskSpec(
        "Real time series, next step", "many-to-many", "identity", "all", 12, 500, 100, (1, 100_000),
        _make_series, _trivial_persistence, "MSE", "persistence: the next value equals the current one",
        {"series": "lynx", "test_fraction": 0.2},
        "Windows of a real series standardised with the train part's statistics; train on the first part "
        "in time, test on the last; predict every next value. Lynx (the default) and sunspots cycle, so a "
        "network can beat persistence; the airline series trends past anything seen in training."),
    "vowels": TaskSpec(
        "Japanese Vowels: which speaker?", "many-to-one", "softmax", "last", 29, 270, 370, (29, 10_000),
        _make_vowels, _prior_outputs, "accuracy", "the training class frequencies (add-one smoothed)",
        {"standardise": True},
        "Nine speakers say /ae/; 12 LPC cepstrum coefficients per frame, 7-29 frames (zero-padded); "
        "classify the speaker at each utterance's last frame."),
    "text": TaskSpec(
        "Character language model", "many-to-many", "softmax", "all", 50, 1_000, 100, (1, 10_000),
        _make_text, _prior_outputs, "perplexity", "unigram: the training character frequencies (add-one smoothed)",
        {"text": None, "vocab_size": 64, "test_fraction": 0.1},
        "Predict every next character of the Python documentation shipped with CPython, or of your text; "
        "rare characters share one unknown symbol."),
    "longrange": TaskSpec(
        "Long-range label among distractors", "many-to-one", "softmax", "last", 50, 2_000, 500, (2, 10_000),
        _make_longrange, _prior_outputs, "accuracy", "the training class frequencies (add-one smoothed)",
        {"n_classes": 2, "n_distractors": 6, "min_len": None},
        "A label token at the first step, then distractor tokens up to a length drawn from [min_len, seq_len]; "
        "the class is read at each sequence's last valid step, length - 1 steps after the label."),
}


def get_task(name: str) -> TaskSpec:
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"name must be one of {list(TASKS)}, got {name!r}")
    return TASKS[name]


# ---------------------------------------------------------------- public API


def make_task(name: str, *, seq_len: int | None = None, n_train: int | None = None, n_test: int | None = None,
              seed: int = 0, **options) -> TaskData:
    """Build a task's train and test arrays (deterministic in seed; the train set does not depend on
    n_test). None takes the task's default (``TASKS[name]``); ``options`` are the task's own (see
    ``TASKS[name].options``). Bad input raises ValueError naming the argument."""
    spec = get_task(name)
    T = spec.seq_len if seq_len is None else _check_int("seq_len", seq_len, *spec.seq_len_range)
    n_tr = spec.n_train if n_train is None else _check_int("n_train", n_train, 1, MAX_SEQUENCES)
    n_te = spec.n_test if n_test is None else _check_int("n_test", n_test, 1, MAX_SEQUENCES)
    seed = check_seed(seed)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(f"{unknown[0]} is not an option of task {name!r}; its options are {sorted(spec.options)}")
    data = spec.make(T, n_tr, n_te, seed, **{**spec.options, **options})
    task = TaskData(name=name, title=spec.title, arrangement=spec.arrangement, output=spec.output, loss=spec.loss,
                    baseline_name=spec.baseline_name, metric_name=spec.metric_name, **data)
    task.info["baseline_metric"] = task_metric(task, baseline_predictions(task, "test"), task.y_test, task.len_test)
    return task


def _check_task(task) -> TaskData:
    if not isinstance(task, TaskData):
        raise ValueError(f"task must be a TaskData from make_task, got {type(task).__name__}")
    return task


def _split_arrays(task: TaskData, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return getattr(task, f"x_{split}"), getattr(task, f"y_{split}"), getattr(task, f"len_{split}")


def _output_lengths(task: TaskData, y_true, lengths):
    """The lengths of the output sequences: an encoder-decoder's ``lengths`` are its inputs', and its decoder
    writes (and is scored on) every one of its steps."""
    if task.arrangement == "encoder-decoder":
        y = np.asarray(y_true)
        return np.full(y.shape[0] if y.ndim else 0, y.shape[1] if y.ndim == 2 else 1, dtype=np.int64)
    return lengths


def task_metric(task: TaskData, y_pred, y_true, lengths) -> float:
    """The task's metric (``task.metric_name``) of the outputs y_pred (N, T, O) (probabilities for
    softmax) against targets y_true shaped like task.y_test, over the steps the loss covers (for an
    encoder-decoder: every decoder step; ``lengths`` are the inputs')."""
    task = _check_task(task)
    return METRICS[task.metric_name](task.output, task.loss, y_pred, y_true, _output_lengths(task, y_true, lengths))


def baseline_predictions(task: TaskData, split: str = "test") -> np.ndarray:
    """The trivial predictor's outputs (N, T, O) on a split, fitted on the train split only."""
    task = _check_task(task)
    x, _, lengths = _split_arrays(task, split)
    return TASKS[task.name].trivial(task, x, lengths)


def baseline_loss(task: TaskData, split: str = "test") -> float:
    """MEASURED: the trivial predictor's loss on a split (mean over sequences, the engine's loss)."""
    task = _check_task(task)
    _, y, lengths = _split_arrays(task, split)
    return sequence_loss(task.output, task.loss, baseline_predictions(task, split), y,
                         _output_lengths(task, y, lengths))
