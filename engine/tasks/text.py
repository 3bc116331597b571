"""Text as data: the vocabulary, encoding and decoding of characters, and the character language model task."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..limits import MAX_TEXT_CHARS
from ..params import _check_int
from .common import (
    _check_fraction,
    _check_sizes,
    _class_prior,
    _full_lengths,
    _one_hot,
    _rngs,
    _window_weights,
    _windows,
)

UNKNOWN = "\ufffd"  # the one symbol every character outside the vocabulary maps to


@lru_cache(maxsize=1)
def _python_docs() -> str:
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    return "\n".join(topics[k] for k in sorted(topics))


def _check_text(text) -> str:
    if text is None:
        return _python_docs()
    if not isinstance(text, str):
        raise ValueError(f"text must be a string (or None for the Python documentation), got {type(text).__name__}")
    if not text:
        raise ValueError("text must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text must have at most {MAX_TEXT_CHARS:,} characters, got {len(text):,}")
    return text


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def build_vocabulary(text: str, vocab_size: int) -> tuple[str, ...]:
    """The vocab_size - 1 most frequent characters of text (ties by code point), after UNKNOWN at 0."""
    V = _check_int("vocab_size", vocab_size, 2, 512)
    points, counts = np.unique(_code_points(_check_text(text)), return_counts=True)
    order = np.lexsort((points, -counts))[:V - 1]
    return (UNKNOWN,) + tuple(chr(int(c)) for c in points[order])


def encode_text(text: str, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Character indices into vocabulary (N,) int64; a character outside it maps to 0 (UNKNOWN)."""
    known = np.array([ord(c) for c in vocabulary[1:]], dtype=np.uint32)
    order = np.argsort(known)
    sorted_points = known[order]
    points = _code_points(text)
    pos = np.minimum(np.searchsorted(sorted_points, points), len(sorted_points) - 1)
    hit = sorted_points[pos] == points
    return np.where(hit, order[pos] + 1, 0).astype(np.int64)


def decode_text(indices, vocabulary: tuple[str, ...]) -> str:
    return "".join(vocabulary[int(i)] for i in np.asarray(indices).ravel())


def _make_text(T: int, n_train: int, n_test: int, seed: int, text=None, vocab_size=64, test_fraction=0.1) -> dict:
    source = _check_text(text)
    fraction = _check_fraction("test_fraction", test_fraction, 0.05, 0.5)
    vocabulary = build_vocabulary(source, vocab_size)
    V = len(vocabulary)
    codes = encode_text(source, vocabulary)
    n_test_chars = math.ceil(len(codes) * fraction)
    split = len(codes) - n_test_chars  # train: the first characters, test: the last ones
    if min(split, n_test_chars) < T + 1:
        raise ValueError(f"text is too short for seq_len={T}: its {len(codes)} characters leave {split} for training "
                         f"and {n_test_chars} for testing (test_fraction={fraction}), and each part needs "
                         f"seq_len + 1 = {T + 1}; give more text or lower seq_len")
    _check_sizes(n_train, n_test, T, V)
    rng_train, rng_test = _rngs(seed)
    w_tr, w_te = _windows(codes[:split], T, n_train, rng_train), _windows(codes[split:], T, n_test, rng_test)
    unigram = _class_prior(w_tr[:, 1:], V)
    # the unigram's cross-entropy on a window of the test text, expected over the window starts
    surprise = -np.log(unigram[codes[split + 1:]])
    baseline = float(np.sum(surprise * _window_weights(n_test_chars, T)))
    return dict(x_train=_one_hot(w_tr[:, :-1], V), y_train=w_tr[:, 1:].copy(), len_train=_full_lengths(n_train, T),
                x_test=_one_hot(w_te[:, :-1], V), y_test=w_te[:, 1:].copy(), len_test=_full_lengths(n_test, T),
                n_in=V, n_out=V, baseline=baseline,
                info={"vocabulary": vocabulary, "unknown": UNKNOWN, "unigram": unigram,
                      "source": "Python documentation (pydoc_data.topics)" if text is None else "your text",
                      "n_chars": len(codes), "split": split,
                      "unknown_fraction": float(np.mean(codes == 0))})
