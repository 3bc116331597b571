"""Real time series for next-step prediction: the shipped CSV files and the optional statsmodels ones (SERIES), and their task."""
from __future__ import annotations

import importlib.resources
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .common import (
    DATA_DIR,
    TaskData,
    _check_fraction,
    _check_sizes,
    _full_lengths,
    _optional_module,
    _rngs,
    _window_weights,
    _windows,
)


def _csv_rows(path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()[1:] if line.strip()]


def _read_csv_series(filename: str) -> tuple[tuple[str, ...], np.ndarray]:
    rows = _csv_rows(DATA_DIR / filename)
    return tuple(r[0] for r in rows), np.array([float(r[1]) for r in rows])


def _load_airline():
    return _read_csv_series("Airline.csv")


def _load_lynx():
    return _read_csv_series("Lynx.csv")


def _package_file(package: str, *parts: str):
    """A data file inside an optional package, found without importing its heavy submodules."""
    root = importlib.resources.files(_optional_module(package, package))
    return root.joinpath(*parts)


def _load_sunspots():
    rows = _csv_rows(_package_file("statsmodels", "datasets", "sunspots", "sunspots.csv"))
    return tuple(str(int(float(r[0]))) for r in rows), np.array([float(r[1]) for r in rows])


def _load_co2():
    rows = _csv_rows(_package_file("statsmodels", "datasets", "co2", "co2.csv"))  # weekly, yyyymmdd, gaps empty
    month = np.array([int(r[0]) // 100 for r in rows])
    value = np.array([float(r[1]) if r[1].strip() else np.nan for r in rows])
    months = np.unique(month)
    seen = ~np.isnan(value)
    total = np.bincount(np.searchsorted(months, month[seen]), weights=value[seen], minlength=len(months))
    count = np.bincount(np.searchsorted(months, month[seen]), minlength=len(months))
    index = (months // 100) * 12 + months % 100  # months since year 0, to interpolate the months with no reading
    has = count > 0
    means = np.interp(index, index[has], total[has] / count[has])
    return tuple(f"{m // 100}-{m % 100:02d}" for m in months), means


@dataclass(frozen=True)
class SeriesSource:
    title: str
    load: Callable[[], tuple[tuple[str, ...], np.ndarray]]
    transform: str  # key of TRANSFORMS, applied before standardising
    step: str  # what one time step is
    package: str | None  # optional package it ships in; None: vendored in engine/data
    citation: str


TRANSFORMS = {"none": lambda v: v, "log": np.log}

SERIES = {
    "airline": SeriesSource("Airline passengers (monthly, 1949-1960, thousands)", _load_airline, "log", "month", None,
                            "Box, Jenkins & Reinsel, Time Series Analysis (1976), series G; file from aeon (BSD-3)"),
    "lynx": SeriesSource("Canadian lynx trappings (yearly, 1821-1934)", _load_lynx, "log", "year", None,
                         "Campbell & Walker, JRSS A 140 (1977) 411-431; file from aeon (BSD-3)"),
    "sunspots": SeriesSource("Yearly sunspot numbers (1700-2008)", _load_sunspots, "none", "year", "statsmodels",
                             "statsmodels.datasets.sunspots (public domain)"),
    "co2": SeriesSource("Mauna Loa CO2 (monthly means, 1958-2001, ppm)", _load_co2, "none", "month", "statsmodels",
                        "statsmodels.datasets.co2 (public domain)"),
}


def available_series() -> tuple[str, ...]:
    """The series that load here and now: the shipped ones, and those whose optional package is installed."""
    return tuple(name for name, source in SERIES.items()
                 if source.package is None or importlib.util.find_spec(source.package) is not None)


def _make_series(T: int, n_train: int, n_test: int, seed: int, series="lynx", test_fraction=0.2) -> dict:
    if not isinstance(series, str) or series not in SERIES:
        raise ValueError(f"series must be one of {list(SERIES)}, got {series!r}")
    fraction = _check_fraction("test_fraction", test_fraction, 0.05, 0.5)
    source = SERIES[series]
    labels, raw = source.load()
    values = TRANSFORMS[source.transform](raw)
    n_test_values = max(2, round(len(values) * fraction))
    split = len(values) - n_test_values  # train: values[:split], test: values[split:], in time order
    longest = min(split, n_test_values) - 1
    if T > longest:
        raise ValueError(f"seq_len must be at most {longest} for series {series!r} ({split} train and {n_test_values} "
                         f"test values with test_fraction={fraction}), got {T}")
    _check_sizes(n_train, n_test, T, 1)
    mean, std = float(values[:split].mean()), float(values[:split].std())
    z = (values - mean) / std  # standardised with the train part's statistics only
    rng_train, rng_test = _rngs(seed)
    w_tr, w_te = _windows(z[:split], T, n_train, rng_train), _windows(z[split:], T, n_test, rng_test)
    test_part = z[split:]
    # persistence ("next = current") misses each step by the change d; expected over the window starts
    d = np.diff(test_part)
    baseline = 0.5 * float(np.sum(d * d * _window_weights(len(test_part), T)))
    return dict(x_train=w_tr[:, :-1, None], y_train=w_tr[:, 1:, None], len_train=_full_lengths(n_train, T),
                x_test=w_te[:, :-1, None], y_test=w_te[:, 1:, None], len_test=_full_lengths(n_test, T),
                n_in=1, n_out=1, baseline=baseline,
                info={"series": series, "series_title": source.title, "step": source.step,
                      "transform": source.transform, "mean": mean, "std": std, "values": z, "labels": labels,
                      "split": split, "citation": source.citation})


def _trivial_persistence(task: TaskData, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return x[:, :, :1].copy()  # (N, T, 1): predict the value just seen
