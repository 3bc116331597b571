"""The command line of the trainer: ``python -m engine.train`` trains a cell on a task or on your own arrays.

Importing it limits BLAS to one thread, as every module of the batched training code does (engine._blas).
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from . import _blas  # noqa: F401  the BLAS thread limit (engine/_blas.py)
from .activations import ACTIVATIONS
from .batch import DTYPES, Scores
from .models import Dataset, EncoderDecoder, SequenceModel, initial_state, make_dataset, make_seq2seq_dataset
from .optim import OPTIMIZERS
from .params import CELLS, INITS
from .trainer import Trainer, TrainingStopped

# ---------------------------------------------------------------- command line: python -m engine.train


def _metric_fallback(output: str, y_pred: np.ndarray, y: np.ndarray, lengths: np.ndarray, loss: str) -> tuple[str, float]:
    """For --data: accuracy for a softmax output, mean squared error otherwise, over the covered steps (the
    tasks' metrics). Loss "last" scores the outputs of step T, which hold each sequence's last state, as the
    batch loss does."""
    from .tasks.metrics import METRICS

    name = "accuracy" if output == "softmax" else "MSE"
    if loss == "last":
        y_pred, lengths = y_pred[:, -1:], np.ones_like(lengths)
    return name, METRICS[name](output, loss, y_pred, y, lengths)


def _task_names() -> list[str]:
    from .tasks import TASKS

    return list(TASKS)


def _parser():
    import argparse

    ap = argparse.ArgumentParser(prog="python -m engine.train", description=(
        "Train a vanilla RNN, an LSTM or a GRU on one of the engine's tasks or on your own arrays."))
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", help="a task of engine.tasks: " + ", ".join(_task_names()))
    src.add_argument("--data", metavar="FILE.npz", help="arrays x (N, T, D), y, optional lengths (N,)")
    ap.add_argument("--loss", choices=["last", "all"], help="with --data: loss at the last step or at every step")
    ap.add_argument("--output", choices=["identity", "softmax", "sigmoid"], help="with --data: output function")
    ap.add_argument("--cell", choices=list(CELLS), default="lstm")
    ap.add_argument("--activation", choices=list(ACTIVATIONS), default="tanh",
                    help="the vanilla cell's units (gated cells use tanh); relu with --init identity is the IRNN")
    ap.add_argument("--init", choices=list(INITS), default="gaussian",
                    help="how W_hh starts (see engine.init_params): identity is the IRNN of Le et al. 2015")
    ap.add_argument("--spectral-radius", type=float, default=None, metavar="RHO",
                    help="rescale W_hh (each gate block of a gated cell) to this spectral radius")
    ap.add_argument("--hidden", type=int, default=32, metavar="H")
    ap.add_argument("--seq-len", type=int, default=None, metavar="T", help="sequence length for generated tasks")
    ap.add_argument("--steps", type=int, default=200, metavar="N", help="number of updates")
    ap.add_argument("--batch", type=int, default=32, metavar="B")
    ap.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adam")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--clip-norm", type=float, default=None)
    ap.add_argument("--clip-value", type=float, default=None)
    ap.add_argument("--truncate", default=None, metavar="K1,K2", help="truncated BPTT: every K1 steps, back K2 steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=list(DTYPES), default="float64")
    ap.add_argument("--no-shuffle", action="store_true", help="update k uses rows kB ... kB+B-1, wrapping around N")
    ap.add_argument("--init-from", metavar="FILE.npz", help="start from these weights (state-dict key names)")
    ap.add_argument("--save", metavar="FILE.npz", help="write the trained weights (state-dict key names)")
    ap.add_argument("--json", action="store_true", help="one JSON object per line instead of a progress bar")
    return ap


def _load_npz(path: str, what: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{what}: cannot read {path!r} as a .npz file of arrays ({exc})") from None


def _initial_state(args, D: int, O: int, *, encoder_decoder: bool) -> dict:
    if args.init_from:
        return _load_npz(args.init_from, "--init-from")
    if args.cell != "rnn" and args.activation != "tanh":
        raise ValueError(f"--activation {args.activation}: the {args.cell} cell's units are tanh; "
                         "--activation applies to --cell rnn")
    if args.spectral_radius is not None and (not np.isfinite(args.spectral_radius) or args.spectral_radius < 0):
        raise ValueError(f"--spectral-radius must be a finite number >= 0, got {args.spectral_radius}")
    if encoder_decoder and args.activation != "tanh":
        raise ValueError(f"--activation {args.activation}: an encoder-decoder runs tanh units")
    return initial_state(args.cell, D, args.hidden, O, seed=args.seed, encoder_decoder=encoder_decoder,
                         activation=args.activation, init=args.init, spectral_radius=args.spectral_radius)


def main(argv=None) -> int:
    import json
    import sys

    args = _parser().parse_args(argv)
    task = None
    try:
        truncate = None
        if args.truncate:
            parts = args.truncate.split(",")
            if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
                raise ValueError(f"--truncate must be K1,K2 (two positive integers), got {args.truncate!r}")
            truncate = (int(parts[0]), int(parts[1]))
        if args.task:
            from . import tasks as tasks_mod

            task = tasks_mod.make_task(args.task, seq_len=args.seq_len, seed=args.seed)
            arrangement = task.arrangement
            if arrangement == "encoder-decoder":  # outputs of their own length
                train = make_seq2seq_dataset(task.x_train, task.y_train, task.len_train, n_out=task.n_out)
                test = make_seq2seq_dataset(task.x_test, task.y_test, task.len_test, n_out=task.n_out)
            else:
                train = make_dataset(task.x_train, task.y_train, task.len_train, output=task.output, loss=task.loss,
                                     n_out=task.n_out)
                test = make_dataset(task.x_test, task.y_test, task.len_test, output=task.output, loss=task.loss,
                                    n_out=task.n_out)
        else:
            arrays = _load_npz(args.data, "--data")
            if "x" not in arrays or "y" not in arrays:
                raise ValueError(f"--data: {args.data!r} must hold arrays 'x' and 'y' (and optionally 'lengths')")
            output = args.output or "identity"
            loss = args.loss or ("all" if np.asarray(arrays["y"]).ndim >= (2 if output == "softmax" else 3) else "last")
            train = test = make_dataset(arrays["x"], arrays["y"], arrays.get("lengths"), output=output, loss=loss)
            arrangement = "many-to-one" if loss == "last" else "many-to-many"
        ed = arrangement == "encoder-decoder"
        state = _initial_state(args, train.x.shape[2], train.n_out, encoder_decoder=ed)
        model = (EncoderDecoder(state, cell=args.cell, dtype=args.dtype) if ed else
                 SequenceModel(state, cell=args.cell, activation=args.activation, output=train.output, loss=train.loss,
                               dtype=args.dtype))
        if isinstance(args.steps, bool) or args.steps < 1:
            raise ValueError(f"--steps must be a positive integer, got {args.steps}")
        trainer = Trainer(model, train, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
                          clip_norm=args.clip_norm, clip_value=args.clip_value, truncate=truncate, batch=args.batch,
                          shuffle=not args.no_shuffle, seed=args.seed)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def metric(res: Scores, d: Dataset) -> tuple[str, float]:
        if task is not None:
            from .tasks import task_metric
            return task.metric_name, float(task_metric(task, res.y, d.y, d.lengths))
        return _metric_fallback(d.output, res.y, d.y, d.lengths, d.loss)

    bar = None
    if not args.json and sys.stderr.isatty():  # a progress bar for a person at a terminal, not for a pipe
        from tqdm import tqdm

        bar = tqdm(total=args.steps, unit="update", file=sys.stderr, dynamic_ncols=True)
    t0 = time.perf_counter()
    stopped = None
    for _ in range(args.steps):
        try:
            rec = trainer.step()
        except TrainingStopped as exc:
            stopped = exc
            break
        if args.json:
            print(json.dumps({"step": rec.step, "loss": rec.loss, "grad_norm": rec.grad_norm, "clipped": rec.clipped,
                              "seconds": round(rec.seconds, 6)}), flush=True)
        elif bar is not None:
            bar.set_postfix_str(f"loss {rec.loss:.4g} |g| {rec.grad_norm:.3g}{' clipped' if rec.clipped else ''}",
                                refresh=False)
            bar.update(1)
    if bar is not None:
        bar.close()
    res = trainer.evaluate(test)
    name, value = metric(res, test)
    free = None
    if ed:  # the same sequences with the decoder on its own outputs (metric_value: teacher-forced)
        free_y = model.free_running(test.x, test.lengths, test.y.shape[1], _checked=True)
        free = metric(replace(res, y=free_y), test)[1]
    elif arrangement == "one-to-many":  # the network on its own previous outputs (metric_value: teacher-forced)
        free_y = model.free_running(test.x, test.lengths, task.info["feedback"], _checked=True)
        free = metric(replace(res, y=free_y), test)[1]
    summary = {"final": True, "steps": trainer.steps_done, "test_loss": res.loss, "metric": name, "metric_value": value,
               **({"free_running_metric_value": free} if free is not None else {}),
               "baseline": None if task is None else task.baseline,
               "baseline_name": None if task is None else task.baseline_name,
               "seconds": round(time.perf_counter() - t0, 3),
               "stopped": None if stopped is None else {"step": stopped.step, "reason": stopped.reason}}
    if args.save:
        np.savez(args.save, **{k: np.asarray(v) for k, v in model.state.items()})
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"{trainer.steps_done} updates in {summary['seconds']} s; test loss {res.loss:.6g}, {name} {value:.6g}"
              + (f" teacher-forced, {free:.6g} free-running" if free is not None else "")
              + (f"; baseline {task.baseline:.6g} ({task.baseline_name})" if task is not None else ""))
        if stopped is not None:
            print(f"stopped: {stopped}")
    return 1 if stopped is not None else 0


if __name__ == "__main__":
    raise SystemExit(main())
