"""Fill the numba cache with every kernel the app uses (run at image build time, deploy/Dockerfile).

The same warm-ups the app runs once per process (engine.warmup, and the training kernels of the Train page),
without Streamlit, so a new replica loads compiled code instead of compiling on its first visitor."""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import engine  # noqa: E402
from engine.batch import batch_gradients  # noqa: E402


def main() -> None:
    t0 = time.perf_counter()
    engine.warmup()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 1))
    for cell in ("rnn", "lstm", "gru"):
        for dtype in ("float64", "float32"):
            sd = engine.params_to_state_dict(engine.init_params(2, 3, 1, cell=cell, seed=0))
            batch_gradients(sd, x, y, cell=cell, dtype=dtype)
    print(f"numba cache filled in {time.perf_counter() - t0:.1f} s ({os.environ.get('NUMBA_CACHE_DIR', 'next to the sources')})")


if __name__ == "__main__":
    main()
