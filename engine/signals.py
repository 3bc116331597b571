"""Input sequences and targets for demonstrations (the learnable tasks are in engine.tasks)."""
from __future__ import annotations

import numpy as np

from .params import _check_int, check_number, check_seed

SIGNALS: tuple[str, ...] = ("normal", "sine", "pulse", "zeros", "step")


def make_input(signal: str, seq_len: int, n_in: int, *, amplitude: float = 1.0, seed: int = 0) -> np.ndarray:
    """An input sequence x (T, D).

    "normal": i.i.d. N(0, amplitude^2); "sine": amplitude * sin(2 pi t / 20 + phase_d), one phase per
    input channel; "pulse": amplitude at t = 1 on every channel, zero after (what does the network
    remember of it?); "zeros": no input; "step": zero for the first half, then amplitude.
    """
    if not isinstance(signal, str) or signal not in SIGNALS:
        raise ValueError(f"signal must be one of {list(SIGNALS)}, got {signal!r}")
    T = _check_int("seq_len", seq_len, 1, 1_000_000)
    D = _check_int("n_in", n_in, 1, 100_000)
    amplitude = check_number("amplitude", amplitude)
    seed = check_seed(seed)
    t = np.arange(1, T + 1)[:, None]
    if signal == "normal":
        return amplitude * np.random.default_rng(seed).normal(size=(T, D))
    if signal == "sine":
        phase = 2 * np.pi * np.arange(D)[None, :] / D
        return amplitude * np.sin(2 * np.pi * t / 20.0 + phase)
    x = np.zeros((T, D))
    if signal == "pulse":
        x[0] = amplitude
    elif signal == "step":
        x[T // 2:] = amplitude
    return x


def make_target(output: str, loss: str, seq_len: int, n_out: int, *, seed: int = 0):
    """A reproducible random target of the shape ``bptt`` expects for this output and loss mode:
    identity: N(0, 1) values; softmax: integer classes; sigmoid: 0/1 labels."""
    from .activations import check_loss, check_output

    check_output(output)
    check_loss(loss)
    T = _check_int("seq_len", seq_len, 1, 1_000_000)
    O = _check_int("n_out", n_out, 1, 100_000)
    rng = np.random.default_rng(check_seed(seed) + 1)
    rows = (T,) if loss == "all" else ()
    if output == "softmax":
        cls = rng.integers(0, O, size=rows)
        return cls if loss == "all" else int(cls)
    shape = rows + (O,)
    if output == "sigmoid":
        return rng.integers(0, 2, size=shape).astype(np.float64)
    return rng.normal(size=shape)
