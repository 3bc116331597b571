"""The Japanese Vowels speakers (UCI, via aeon's files in engine/data): variable-length utterances to classify."""
from __future__ import annotations

import gzip
from functools import lru_cache

import numpy as np

from ..params import _check_int
from .common import DATA_DIR, _check_bool, _class_prior, _rngs
from .metrics import _mask_all


@lru_cache(maxsize=4)
def _read_ts(filename: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """A multivariate .ts file: one case a line, dimensions separated by ':', values by ',', the class
    label last. Returns the cases as (L_i, D) arrays and the labels as ints from 0 (read-only)."""
    cases, labels = [], []
    with gzip.open(DATA_DIR / filename, "rt", encoding="utf-8") as f:
        in_data = False
        for line in f:
            line = line.strip()
            if not in_data:
                in_data = line.lower() == "@data"
                continue
            if line:
                *dims, label = line.split(":")
                case = np.array([[float(v) for v in dim.split(",")] for dim in dims]).T  # (L, D)
                case.setflags(write=False)
                cases.append(case)
                labels.append(int(label) - 1)
    y = np.array(labels, dtype=np.int64)
    y.setflags(write=False)
    return tuple(cases), y


def _pad(cases, T: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((len(cases), T, cases[0].shape[1]))  # (N, T, D)
    lengths = np.array([len(c) for c in cases], dtype=np.int64)
    for i, c in enumerate(cases):
        x[i, :len(c)] = c
    return x, lengths


def _make_vowels(T: int, n_train: int, n_test: int, seed: int, standardise=True) -> dict:
    standardise = _check_bool("standardise", standardise)
    train_cases, train_labels = _read_ts("JapaneseVowels_TRAIN.ts.gz")
    test_cases, test_labels = _read_ts("JapaneseVowels_TEST.ts.gz")
    n_train = _check_int("n_train", n_train, 1, len(train_cases))
    n_test = _check_int("n_test", n_test, 1, len(test_cases))
    rng_train, rng_test = _rngs(seed)
    pick_tr = rng_train.permutation(len(train_cases))[:n_train]
    pick_te = rng_test.permutation(len(test_cases))[:n_test]
    x_tr, l_tr = _pad([train_cases[i] for i in pick_tr], T)
    x_te, l_te = _pad([test_cases[i] for i in pick_te], T)
    y_tr, y_te = train_labels[pick_tr].copy(), test_labels[pick_te].copy()
    D = x_tr.shape[2]
    mean, std = np.zeros(D), np.ones(D)
    if standardise:  # per coefficient, over the valid train frames only; padding stays 0
        frames = x_tr[_mask_all(l_tr, T)]
        mean, std = frames.mean(axis=0), frames.std(axis=0)
        x_tr = np.where(_mask_all(l_tr, T)[..., None], (x_tr - mean) / std, 0.0)
        x_te = np.where(_mask_all(l_te, T)[..., None], (x_te - mean) / std, 0.0)
    prior = _class_prior(y_tr, 9)
    return dict(x_train=x_tr, y_train=y_tr, len_train=l_tr, x_test=x_te, y_test=y_te, len_test=l_te,
                n_in=D, n_out=9, baseline=float(np.mean(-np.log(prior[y_te]))),
                info={"class_names": tuple(f"speaker {k}" for k in range(1, 10)), "mean": mean, "std": std,
                      "citation": "M. Kudo, J. Toyama, M. Shimbo, Pattern Recognition Letters 20 (1999) "
                                  "1103-1111; UCI Machine Learning Repository, doi:10.24432/C5NS47 (CC BY 4.0)"})
