"""Japanese Vowels (UCI, the official 270 train / 370 test split): test accuracy of each cell.

Task: engine.tasks.make_task("vowels", seed=s): nine speakers, 12 LPC cepstrum coefficients per frame,
7-29 frames (zero-padded to 29; each utterance is classified at its own last frame), coefficients
standardised with the training frames' statistics. Kudo, Toyama & Shimbo (1999) report 94.1 % test accuracy.

Every cell (vanilla tanh RNN with W_hh ~ N(0, 1/H), LSTM with forget-gate bias 1, GRU) trains with the same
settings, fixed beforehand and not tuned on the test set: H = --hidden, Adam at --lr, clipping by global norm
(--clip-norm), minibatches of --batch drawn by a fresh permutation every epoch, --steps updates, float64.
The seed draws the initial weights and the batch order (the split itself is fixed). The test accuracy is
measured once, after the last update; the accuracy on the training set is shown beside it.

Run: python bench/bench_vowels.py [--seeds 5] [--steps 400] [--cells rnn,lstm,gru]
Each run also prints one line "json: {...}" for scripts.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import machine, print_total, uptime

from engine.models import SequenceModel, make_dataset
from engine.params import init_params, params_to_state_dict
from engine.tasks import make_task, task_metric
from engine.trainer import Trainer, TrainingStopped

PUBLISHED = 0.941  # Kudo, Toyama & Shimbo, Pattern Recognition Letters 20 (1999) 1103-1111


def _parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default="rnn,lstm,gru")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--clip-norm", type=float, default=1.0)
    return ap


def run(cell: str, seed: int, args) -> dict:
    task = make_task("vowels", seed=seed)
    kw = dict(output=task.output, loss=task.loss, n_out=task.n_out)
    train = make_dataset(task.x_train, task.y_train, task.len_train, **kw)
    test = make_dataset(task.x_test, task.y_test, task.len_test, **kw)
    state = params_to_state_dict(init_params(task.n_in, args.hidden, task.n_out, cell=cell, output="softmax",
                                             seed=seed))
    model = SequenceModel(state, cell=cell, output=task.output, loss=task.loss)
    trainer = Trainer(model, train, optimizer="adam", lr=args.lr, clip_norm=args.clip_norm, batch=args.batch,
                      seed=seed)
    stopped = None
    t0 = time.perf_counter()
    try:
        for _ in range(args.steps):
            trainer.step()
    except TrainingStopped as exc:
        stopped = f"update {exc.step}: {exc.reason}"
    seconds = time.perf_counter() - t0

    def acc(d):
        return float(task_metric(task, trainer.evaluate(d).y, d.y, d.lengths))

    res = trainer.evaluate(test)
    return {"cell": cell, "seed": seed, "hidden": args.hidden, "batch": args.batch, "lr": args.lr,
            "clip_norm": args.clip_norm, "steps": trainer.steps_done, "epochs": trainer.steps_done * args.batch / 270,
            "seconds": seconds, "test_accuracy": acc(test), "train_accuracy": acc(train), "test_loss": res.loss,
            "n_train": train.size, "n_test": test.size, "stopped": stopped}


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    cells = args.cells.split(",")
    t_start = time.perf_counter()
    print("uptime:", uptime())
    print("machine:", machine())
    print(f"Japanese Vowels, official split; H = {args.hidden}, Adam lr {args.lr}, clip-norm {args.clip_norm}, "
          f"B = {args.batch}, {args.steps} updates ({args.steps * args.batch / 270:.0f} epochs), float64; "
          f"seeds 0..{args.seeds - 1}")
    for cell in cells:  # compile the kernels before anything is timed
        run(cell, 0, argparse.Namespace(**{**vars(args), "steps": 2}))
    print(f"{'cell':5s} {'seed':>4s} {'test acc':>9s} {'train acc':>9s} {'test loss':>9s} {'updates':>7s} "
          f"{'seconds':>7s}")
    results = []
    for cell in cells:
        for seed in range(args.seeds):
            r = run(cell, seed, args)
            results.append(r)
            print(f"{cell:5s} {seed:4d} {r['test_accuracy']:9.4f} {r['train_accuracy']:9.4f} {r['test_loss']:9.4f} "
                  f"{r['steps']:7d} {r['seconds']:7.2f}" + (f"  stopped at {r['stopped']}" if r["stopped"] else ""),
                  flush=True)
            print("json:", json.dumps(r))
    print(f"\nsummary: test accuracy over {args.seeds} seeds (published: {PUBLISHED:.1%}, Kudo, Toyama & Shimbo 1999)")
    print(f"{'cell':5s} {'mean':>7s} {'min':>7s} {'max':>7s} {'updates':>7s} {'seconds (mean)':>14s}")
    for cell in cells:
        rs = [r for r in results if r["cell"] == cell]
        a = np.array([r["test_accuracy"] for r in rs])
        print(f"{cell:5s} {a.mean():7.1%} {a.min():7.1%} {a.max():7.1%} {rs[0]['steps']:7d} "
              f"{np.mean([r['seconds'] for r in rs]):14.2f}")
    print_total(t_start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
