"""The training loop: minibatches of a Dataset, clipping and a PyTorch-compatible optimiser, one update a step."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import _blas  # noqa: F401  the BLAS thread limit (engine/_blas.py)
from . import limits as L
from .batch import Scores, Workspace, _check_truncate
from .models import Dataset, SequenceModel
from .optim import OPTIMIZERS, Adam, clip_by_norm, clip_by_value, global_norm
from .params import check_seed, is_integer, is_number


class TrainingStopped(RuntimeError):
    """Training cannot go on: the loss or a gradient stopped being finite. ``step`` and ``reason`` say
    where and why."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"training stopped at update {step}: {reason}")
        self.step = step
        self.reason = reason


# ---------------------------------------------------------------- the training loop


@dataclass(frozen=True)
class StepRecord:
    """One update: its number (1-based), the batch loss before the update, the gradient norm before
    clipping, whether clipping changed the gradient, seconds spent, and ||dL/dh_t|| over t."""

    step: int
    loss: float
    grad_norm: float
    clipped: bool
    seconds: float
    grad_h_norm: np.ndarray = field(repr=False, default=None)


class Trainer:
    """Minibatch training of a model on a Dataset with a PyTorch-compatible optimiser.

    Batches: with ``shuffle`` a new permutation of the rows every epoch (seeded); without it, update k
    (0-based) uses rows kB ... kB + B - 1, wrapping around N. Clipping by global norm or by value
    happens before the optimiser; truncation is passed to the model's BPTT. If the loss or a gradient
    stops being finite, ``step`` raises TrainingStopped with the update and the reason, and the
    weights stay as they were before that update.
    """

    def __init__(self, model, data: Dataset, *, optimizer: str = "adam", lr: float = 1e-2, momentum: float = 0.0,
                 clip_norm: float | None = None, clip_value: float | None = None, truncate=None, batch: int = 32,
                 shuffle: bool = True, seed: int = 0, workspace: Workspace | None = None):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
        for name, v, ok in (("lr", lr, lambda v: v > 0), ("momentum", momentum, lambda v: 0 <= v < 1),
                            ("clip_norm", clip_norm, lambda v: v is None or v > 0),
                            ("clip_value", clip_value, lambda v: v is None or v > 0)):
            if (v is not None or name in ("lr", "momentum")) and (not is_number(v) or not np.isfinite(v) or not ok(v)):
                raise ValueError(f"{name} must be a finite number {'> 0' if name != 'momentum' else 'in [0, 1)'}, "
                                 f"got {v!r}")
        if clip_norm is not None and clip_value is not None:
            raise ValueError("clip_norm and clip_value: choose one way of clipping")
        if not is_integer(batch) or int(batch) < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        if not isinstance(data, Dataset):
            raise ValueError(f"data must be a Dataset (see make_dataset), got {type(data).__name__}")
        if truncate is not None:
            _check_truncate(truncate, data.x.shape[1])
        lr, momentum = float(lr), float(momentum)
        clip_norm, clip_value = (None if v is None else float(v) for v in (clip_norm, clip_value))
        batch = int(batch)
        self.model, self.data = model, data
        self.opt = OPTIMIZERS[optimizer](lr, momentum) if optimizer == "sgd" else Adam(lr)
        self.clip_norm, self.clip_value, self.truncate = clip_norm, clip_value, truncate
        self.batch, self.shuffle = int(min(batch, data.size)) if shuffle else int(batch), shuffle
        self.rng = np.random.default_rng(check_seed(seed))
        self.steps_done = 0
        self._perm = np.arange(data.size)
        self._pos = 0
        # arrays reused by the training batches; trainers that take turns in one thread may share one
        self._work = Workspace() if workspace is None else workspace

    def _next_rows(self) -> np.ndarray:
        N, B = self.data.size, self.batch
        if not self.shuffle:
            return (self.steps_done * B + np.arange(B)) % N
        if self._pos + B > N or self.steps_done == 0:
            self._perm = self.rng.permutation(N)
            self._pos = 0
        rows = self._perm[self._pos:self._pos + B]
        self._pos += B
        return rows

    def step(self) -> StepRecord:
        t0 = time.perf_counter()
        rows = self._next_rows()
        x, y, ln = self.data.rows(rows)
        # a SequenceModel reuses the trainer's workspace (any other model: its own arrays)
        reuse = isinstance(self.model, SequenceModel) and self._work.lock.acquire(blocking=False)
        try:
            res = self.model.gradients(x, y, ln, truncate=self.truncate, _checked=True,
                                       **({"_work": self._work} if reuse else {}))
        finally:
            if reuse:
                self._work.lock.release()
        n = self.steps_done + 1
        if res.overflow is not None:
            raise TrainingStopped(n, res.overflow)
        grads = dict(res.grads)
        if self.clip_norm is not None:
            norm, clipped = clip_by_norm(grads, self.clip_norm)
        elif self.clip_value is not None:
            norm, clipped = clip_by_value(grads, self.clip_value)
        else:
            norm, clipped = global_norm(grads), False
        new = dict(self.model.state)
        self.opt.step(new, grads)
        if not all(np.isfinite(v).all() for v in new.values()):
            raise TrainingStopped(n, "the updated weights are not finite (learning rate too large?)")
        self.model.state = new
        self.steps_done = n
        return StepRecord(n, res.loss, norm, clipped, time.perf_counter() - t0, res.grad_h_norm)

    def evaluate(self, data: Dataset | None = None, *, max_numbers: float = L.MAX_EVAL_NUMBERS) -> Scores:
        """Loss and outputs on ``data`` (default: the training data) without updating, in chunks of at most
        ``max_numbers`` numbers (see SequenceModel.evaluate)."""
        d = self.data if data is None else data
        return self.model.evaluate(d.x, d.y, d.lengths, max_numbers=max_numbers, _checked=True)
