"""A numba disk cache that heals itself, and a self-check of the engine for the readiness probe.

numba's cache loader raises when an index (``*.nbi``) or data (``*.nbc``) file under NUMBA_CACHE_DIR
holds garbage (a torn write, a full disk, a bad copy): ``_pickle.UnpicklingError``, ``EOFError`` or
``ValueError`` come out of the first call of a kernel, every time, until someone deletes the file.
`install()` (run once when the engine is imported, before any kernel module) wraps numba's
``Cache.load_overload`` so that such a failure removes the entry's files (best effort: a read-only
cache stays as it is), logs one warning naming the file on the ``engine`` logger and compiles the
kernel in memory instead. It also wraps ``Cache.save_overload`` (numba does not guard a cache that
stopped being writable, or an unreadable index it has to rewrite, on POSIX) and the dispatcher's
``enable_caching`` (no writable cache directory anywhere: compile in memory rather than fail the
import). Nothing here changes what a kernel computes; the cache only saves compile time.

`selfcheck()` runs one tiny ``bptt`` of each cell and says whether the engine really computes; the
server's health answer uses it (ui/__init__.py). These hooks use numba internals (``Cache``,
``IndexDataCacheFile``, ``Dispatcher.enable_caching`` in numba 0.68); requirements.txt pins the
minor versions and tests/test_engine_cache_recovery.py fails loudly when they move.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from dataclasses import dataclass

import numpy as np
from numba.core import caching, dispatcher

log = logging.getLogger("engine")

# A health probe that arrives less than this long after the last self-check gets its answer.
SELFCHECK_MAX_AGE_S = 5.0
# How long a health request waits for a self-check that is running (compiling, on a cold cache).
SELFCHECK_WAIT_S = 2.0
# A self-check still running after this long counts as a failure (a kernel that hangs, a lock held).
SELFCHECK_HUNG_S = 90.0

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(key: str, msg: str, *args) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(msg, *args)


# --------------------------------------------------------------------------- the disk cache

def _entry_files(cache, sig, target_context) -> list[str]:
    """The file that failed to load: the index when it cannot be read, else the entry's data file."""
    cache_file = cache._cache_file
    try:
        overloads = cache_file._load_index()
    except Exception:
        return [cache_file._index_path]
    try:
        name = overloads.get(cache._index_key(sig, target_context.codegen()))
    except Exception:
        name = None
    return [cache_file._data_path(name)] if name else [cache_file._index_path]


def _remove(paths: list[str]) -> bool:
    """Delete ``paths``; False when one could not be deleted (a read-only cache)."""
    removed = True
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            removed = False
    return removed


def _load_overload(self, sig, target_context):
    try:
        return _stock["load_overload"](self, sig, target_context)
    except Exception as exc:
        try:
            files = _entry_files(self, sig, target_context)
        except Exception:
            files = []
        removed = _remove(files)
        if not removed:
            self.disable()     # the files stay: do not read them again for this kernel in this process
        where = ", ".join(files) or self.cache_path
        _warn_once(where, "numba cache file %s could not be loaded (%s: %s); %s, compiling %s again",
                   where, type(exc).__name__, exc,
                   "removed it" if removed else "it cannot be removed (read-only cache)",
                   getattr(self._py_func, "__qualname__", self._name))
        return None            # numba compiles when the cache has nothing


def _save_overload(self, sig, data):
    try:
        _stock["save_overload"](self, sig, data)
    except Exception as exc:
        _warn_once(f"save:{self.cache_path}", "numba cache in %s cannot be written (%s: %s); kernels are "
                   "compiled in memory and not saved", self.cache_path, type(exc).__name__, exc)
        self.disable()


def _enable_caching(self):
    try:
        _stock["enable_caching"](self)
    except RuntimeError as exc:          # "cannot cache function ...: no locator available"
        _warn_once("locator", "no writable numba cache directory (%s); kernels are compiled in memory", exc)
        self._cache = caching.NullCache()


_stock: dict = {}
_install_lock = threading.Lock()


def install() -> None:
    """Wrap numba's cache loading and saving once per process (idempotent)."""
    with _install_lock:
        if _stock:
            return
        _stock["load_overload"] = caching.Cache.load_overload
        _stock["save_overload"] = caching.Cache.save_overload
        _stock["enable_caching"] = dispatcher.Dispatcher.enable_caching
        caching.Cache.load_overload = _load_overload
        caching.Cache.save_overload = _save_overload
        dispatcher.Dispatcher.enable_caching = _enable_caching


# --------------------------------------------------------------------------- the self-check

def _check_cells() -> None:
    """One tiny bptt of each cell; raises when a result is missing, misshapen or not finite, or when
    the vanilla RNN's states differ from a numpy recurrence."""
    from .params import CELLS, init_params
    from .rnn import bptt
    from .signals import make_input, make_target

    T, D, H, O = 4, 2, 3, 2
    x = make_input("normal", T, D)
    target = make_target("identity", "last", T, O)
    for cell in CELLS:
        p = init_params(D, H, O, cell=cell, seed=0)
        tr = bptt(p, x, target)
        if tr.h.shape != (T, H) or tr.grad_h_norm.shape != (T,):
            raise RuntimeError(f"{cell}: bptt returned states {tr.h.shape}, expected {(T, H)}")
        if not (math.isfinite(tr.loss) and np.isfinite(tr.h).all() and np.isfinite(tr.grad_h).all()
                and tr.overflow_step is None):
            raise RuntimeError(f"{cell}: bptt returned non-finite values on a tiny network")
        if cell == "rnn":
            h = np.zeros(H)
            for t in range(T):
                h = np.tanh(p.W_hx @ x[t] + p.W_hh @ h + p.b_h)
                if not np.allclose(tr.h[t], h, rtol=1e-12, atol=1e-12):
                    raise RuntimeError(f"rnn: state at step {t + 1} differs from the recurrence")


@dataclass(frozen=True)
class _Running:
    """A self-check in progress: set when it ends; when it started; the result before it."""

    done: threading.Event
    since: float
    last: tuple[bool, str] | None


class _SelfCheck:
    """The last self-check result, refreshed in a worker thread, at most one run at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.result: tuple[bool, str] | None = None
        self.at = -math.inf
        self.running_since: float | None = None
        self.done = threading.Event()

    def _run(self, done: threading.Event) -> None:
        try:
            _check_cells()
            result = (True, "ok")
        except Exception as exc:
            result = (False, f"engine self-check failed: {type(exc).__name__}: {exc}")
        with self.lock:
            if result != self.result and not result[0]:
                log.warning("%s", result[1])
            self.result, self.at, self.running_since = result, time.monotonic(), None
        done.set()

    def start(self, max_age: float) -> tuple[bool, str] | _Running:
        """A result younger than ``max_age``, else the check in progress (started now if none is)."""
        with self.lock:
            if self.result is not None and time.monotonic() - self.at <= max_age:
                return self.result
            if self.running_since is None:
                self.running_since, self.done = time.monotonic(), threading.Event()
                threading.Thread(target=self._run, args=(self.done,), name="engine-selfcheck",
                                 daemon=True).start()
            return _Running(self.done, self.running_since, self.result)

    def answer(self, running: _Running) -> tuple[bool, str]:
        """The check's result when it has ended; else, unless it runs too long, the result before it."""
        if running.done.is_set():
            with self.lock:
                return self.result if self.result is not None else (False, "engine self-check failed")
        elapsed = time.monotonic() - running.since
        if elapsed > SELFCHECK_HUNG_S:
            return False, f"engine self-check has not finished in {elapsed:.0f} s"
        if running.last is not None:
            return running.last
        return False, "engine self-check is still running (compiling kernels)"


_check = _SelfCheck()


def selfcheck(*, max_age: float = SELFCHECK_MAX_AGE_S, wait: float | None = None) -> tuple[bool, str]:
    """(True, "ok") when one tiny bptt of each cell runs and gives finite, correct results, else
    (False, a sentence saying what failed). A result younger than ``max_age`` seconds is reused; a
    new check runs in a worker thread and is waited for up to ``wait`` seconds (None: until it ends).
    A check still running after that answers with the previous result, or False before the first."""
    running = _check.start(max_age)
    if not isinstance(running, _Running):
        return running
    running.done.wait(wait)
    return _check.answer(running)


async def selfcheck_async(*, max_age: float = SELFCHECK_MAX_AGE_S,
                          wait: float = SELFCHECK_WAIT_S) -> tuple[bool, str]:
    """`selfcheck` for an event loop (a health endpoint): the loop never waits on a kernel, and no
    executor thread is held while the check runs."""
    running = _check.start(max_age)
    if not isinstance(running, _Running):
        return running
    deadline = time.monotonic() + wait
    while not running.done.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return _check.answer(running)


install()
