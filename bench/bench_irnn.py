"""IRNN against the tanh RNN (and an LSTM for reference) on the adding problem (Le, Jaitly & Hinton 2015).

Task: engine.tasks.make_task("adding", seq_len=T, seed=s): 10 000 training sequences, 1 000 test sequences,
values U[0, 1] beside a marker channel with two 1s; target = the sum of the two marked values, read at the
last step. The constant predictor 1 has test MSE 1/6; "solved" means test MSE < --threshold x 1/6
(default 0.1, i.e. MSE < 0.0167). MSE here is mean (y - target)^2, twice the engine's loss 0.5 (y - t)^2.

Configurations (--configs):
  irnn        vanilla cell, relu units, W_hh = I, biases 0 (Le et al.'s IRNN)
  tanh-orth   vanilla cell, tanh units, W_hh random orthogonal (rho = 1)
  tanh-gauss  vanilla cell, tanh units, W_hh ~ N(0, 1/H) rescaled to spectral radius --rho (default 1.0)
  lstm        LSTM, W_hh blocks ~ N(0, 1/H), forget-gate bias 1
  irnn-sgd    the IRNN trained with plain SGD (no momentum), as Le et al. did
All train with minibatches of --batch, gradient clipping by global norm (--clip-norm), float64.

1. Learning-rate sweep: every configuration trains at T = the first of --seq-lens with each lr of its grid on a
   seed of its own (--sweep-seed, not among the reported seeds) for --sweep-steps updates (stopping once
   solved). The lr that solves in the fewest updates wins; if none solves, the lowest final test MSE.
2. Runs: every configuration at its chosen lr, for each T and each seed 0 .. --seeds - 1 (the seed draws
   both the data and the initial weights), --steps updates each; the test MSE every --eval-every updates.
   Reported: updates and training seconds (evaluations excluded) until the test MSE first falls below the
   threshold, the final test MSE, and whether it solved within the budget.

Run: python bench/bench_irnn.py [--seq-lens 100,150] [--seeds 3] [--steps 3000] [--sweep-steps 2000]
Each run also prints one line "json: {...}" (sweep and runs) for scripts.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import machine, print_total, uptime

from engine.models import SequenceModel, make_dataset
from engine.params import init_params, params_to_state_dict
from engine.tasks import make_task
from engine.trainer import Trainer, TrainingStopped

BASELINE_MSE = 1.0 / 6.0

# name: (cell, activation, init, optimizer, lr grid)
CONFIGS = {
    "irnn": ("rnn", "relu", "identity", "adam", (1e-4, 3e-4, 1e-3, 3e-3)),
    "tanh-orth": ("rnn", "tanh", "orthogonal", "adam", (1e-4, 3e-4, 1e-3, 3e-3)),
    "tanh-gauss": ("rnn", "tanh", "gaussian", "adam", (1e-4, 3e-4, 1e-3, 3e-3)),
    "lstm": ("lstm", "tanh", "gaussian", "adam", (1e-3, 3e-3, 1e-2)),
    "irnn-sgd": ("rnn", "relu", "identity", "sgd", (1e-3, 1e-2, 3e-2)),
}


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default="irnn,tanh-orth,tanh-gauss,lstm", help=f"comma-separated, of {list(CONFIGS)}")
    ap.add_argument("--seq-lens", default="100,150", help="comma-separated T; the sweep uses the first")
    ap.add_argument("--seeds", type=int, default=3, help="reported seeds 0 .. N-1")
    ap.add_argument("--steps", type=int, default=3000, help="updates per reported run")
    ap.add_argument("--sweep-steps", type=int, default=2000, help="updates per sweep run (0: no sweep, first lr)")
    ap.add_argument("--sweep-seed", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--threshold", type=float, default=0.1, help="solved: test MSE < threshold x 1/6")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--clip-norm", type=float, default=1.0)
    ap.add_argument("--rho", type=float, default=1.0, help="spectral radius of tanh-gauss's W_hh")
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--lrs", default=None, help="override every configuration's lr grid, e.g. 1e-3,1e-2")
    return ap


def datasets(T: int, seed: int, n_test: int):
    task = make_task("adding", seq_len=T, seed=seed, n_test=n_test)
    kw = dict(output=task.output, loss=task.loss, n_out=task.n_out)
    return (make_dataset(task.x_train, task.y_train, task.len_train, **kw),
            make_dataset(task.x_test, task.y_test, task.len_test, **kw))


def test_mse(trainer: Trainer, test) -> float:
    res = trainer.evaluate(test)
    return float(np.mean((res.y[:, -1, 0] - test.y[:, 0]) ** 2))


def train_run(name: str, lr: float, T: int, seed: int, steps: int, args, *, stop_when_solved: bool,
              data=None) -> dict:
    """One training run; the test MSE every args.eval_every updates (and at the end)."""
    cell, act, init, opt, _ = CONFIGS[name]
    rho = args.rho if name == "tanh-gauss" else None
    train, test = datasets(T, seed, args.n_test) if data is None else data
    state = params_to_state_dict(init_params(2, args.hidden, 1, cell=cell, activation=act, init=init,
                                             spectral_radius=rho, seed=seed))
    model = SequenceModel(state, cell=cell, activation=act, output="identity", loss="last")
    trainer = Trainer(model, train, optimizer=opt, lr=lr, clip_norm=args.clip_norm, batch=args.batch, seed=seed)
    threshold = args.threshold * BASELINE_MSE
    curve, solved_at, solved_s, stopped, train_s = [], None, None, None, 0.0
    mse = test_mse(trainer, test)
    curve.append((0, mse))
    while trainer.steps_done < steps:
        n = min(args.eval_every, steps - trainer.steps_done)
        t0 = time.perf_counter()
        try:
            for _ in range(n):
                trainer.step()
        except TrainingStopped as exc:
            stopped = f"update {exc.step}: {exc.reason}"
        train_s += time.perf_counter() - t0
        mse = test_mse(trainer, test)
        curve.append((trainer.steps_done, mse))
        if solved_at is None and mse < threshold:
            solved_at, solved_s = trainer.steps_done, train_s
        if stopped or (stop_when_solved and solved_at is not None):
            break
    return {"config": name, "cell": cell, "activation": act, "init": init, "optimizer": opt, "lr": lr, "T": T,
            "seed": seed, "hidden": args.hidden, "batch": args.batch, "clip_norm": args.clip_norm,
            "spectral_radius": rho, "steps": trainer.steps_done, "budget": steps, "threshold_mse": threshold,
            "solved": solved_at is not None, "updates_to_solve": solved_at, "seconds_to_solve": solved_s,
            "final_mse": None if stopped else mse, "best_mse": min(m for _, m in curve), "train_seconds": train_s,
            "stopped": stopped, "curve": curve}


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    names = args.configs.split(",")
    for n in names:
        if n not in CONFIGS:
            raise SystemExit(f"unknown configuration {n!r}; choose from {list(CONFIGS)}")
    Ts = [int(t) for t in args.seq_lens.split(",")]
    grids = {n: _floats(args.lrs) if args.lrs else CONFIGS[n][4] for n in names}
    t_start = time.perf_counter()
    print("uptime:", uptime())
    print("machine:", machine())
    print(f"adding problem, H = {args.hidden}, B = {args.batch}, clip-norm {args.clip_norm}, float64, "
          f"10 000 train / {args.n_test} test sequences; solved: test MSE < {args.threshold} x 1/6 = "
          f"{args.threshold * BASELINE_MSE:.4f}; test MSE every {args.eval_every} updates")
    for n in names:
        cell, act, init, opt, _ = CONFIGS[n]
        print(f"  {n:10s} cell {cell}, {act}, init {init}"
              + (f" (rho {args.rho})" if n == "tanh-gauss" else "") + f", {opt}, lr grid {list(grids[n])}")
    # compile every kernel before anything is timed
    warm = datasets(Ts[0], 0, 64)
    for n in names:
        cell, act, init, opt, _ = CONFIGS[n]
        train_run(n, grids[n][0], Ts[0], 0, 2, argparse.Namespace(**{**vars(args), "eval_every": 1}),
                  stop_when_solved=False, data=warm)

    chosen = {}
    if args.sweep_steps > 0:
        print(f"\n1. learning-rate sweep: T = {Ts[0]}, seed {args.sweep_seed}, up to {args.sweep_steps} updates, "
              "stopping once solved")
        print(f"{'config':10s} {'lr':>8s} {'solved at':>10s} {'seconds':>8s} {'final MSE':>10s} {'best MSE':>9s}")
        data = datasets(Ts[0], args.sweep_seed, args.n_test)
        for n in names:
            rows = []
            for lr in grids[n]:
                r = train_run(n, lr, Ts[0], args.sweep_seed, args.sweep_steps, args, stop_when_solved=True, data=data)
                rows.append(r)
                print(f"{n:10s} {lr:8.0e} {_fmt(r['updates_to_solve'], 'd', 'no'):>10s} "
                      f"{_fmt(r['seconds_to_solve'], '.1f'):>8s} {_fmt(r['final_mse'], '.4f', 'diverged'):>10s} "
                      f"{r['best_mse']:9.4f}" + (f"  stopped at {r['stopped']}" if r["stopped"] else ""), flush=True)
                print("json:", json.dumps({"phase": "sweep", **{k: v for k, v in r.items() if k != "curve"}}))
            solved = [r for r in rows if r["solved"]]
            best = (min(solved, key=lambda r: r["updates_to_solve"]) if solved else
                    min(rows, key=lambda r: np.inf if r["final_mse"] is None else r["final_mse"]))
            chosen[n] = best["lr"]
        print("chosen lr: " + ", ".join(f"{n} {lr:g}" for n, lr in chosen.items()))
    else:
        chosen = {n: grids[n][0] for n in names}

    print(f"\n2. runs: {args.steps} updates each, seeds 0..{args.seeds - 1}")
    print(f"{'config':10s} {'T':>4s} {'lr':>7s} {'seed':>4s} {'solved at':>10s} {'seconds':>8s} "
          f"{'final MSE':>10s} {'best MSE':>9s} {'train s':>8s}")
    results = []
    for T in Ts:
        for n in names:
            for seed in range(args.seeds):
                r = train_run(n, chosen[n], T, seed, args.steps, args, stop_when_solved=False)
                results.append(r)
                print(f"{n:10s} {T:4d} {chosen[n]:7.0e} {seed:4d} {_fmt(r['updates_to_solve'], 'd', 'no'):>10s} "
                      f"{_fmt(r['seconds_to_solve'], '.1f'):>8s} {_fmt(r['final_mse'], '.4f', 'diverged'):>10s} "
                      f"{r['best_mse']:9.4f} {r['train_seconds']:8.1f}"
                      + (f"  stopped at {r['stopped']}" if r["stopped"] else ""), flush=True)
                print("json:", json.dumps({"phase": "run", **r}))

    print(f"\nsummary (solved = test MSE < {args.threshold * BASELINE_MSE:.4f} within {args.steps} updates)")
    print(f"{'config':10s} {'T':>4s} {'lr':>7s} {'solved':>7s} {'updates to solve':>22s} {'seconds':>14s} "
          f"{'final MSE (median)':>19s}")
    for T in Ts:
        for n in names:
            rs = [r for r in results if r["config"] == n and r["T"] == T]
            ok = [r for r in rs if r["solved"]]
            ups = ", ".join(str(r["updates_to_solve"]) if r["solved"] else "no" for r in rs)
            secs = ", ".join(f"{r['seconds_to_solve']:.0f}" if r["solved"] else "-" for r in rs)
            finals = [np.inf if r["final_mse"] is None else r["final_mse"] for r in rs]
            print(f"{n:10s} {T:4d} {chosen[n]:7.0e} {len(ok):>3d}/{len(rs):<3d} {ups:>22s} {secs:>14s} "
                  f"{float(np.median(finals)):19.4f}")
    print_total(t_start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
