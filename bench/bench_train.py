"""One training step (forward + BPTT + Adam) on a batch, the engine against PyTorch's fused modules.

Contenders, alternating in one process: the engine's Trainer.step() (SequenceModel, Adam, no clipping,
batches taken in order) and PyTorch's nn.RNN / nn.LSTM / nn.GRU (batch_first) with a Linear head,
torch.optim.Adam, the same loss (0.5 (y - t)^2 on the last step, mean over the batch) and the same
thread count as numba (torch.set_num_threads). Both start from the same weights; the first losses are
checked to agree before timing. With --solve: steps per second and updates / seconds until the test
loss of the adding problem (T = 100 by default) falls below --solve-loss, for the engine and PyTorch.

Run: python bench/bench_train.py [--dtypes float64,float32] [--cells rnn,lstm,gru] [--solve]
Both sides use numba's thread count (NUMBA_NUM_THREADS). On a busy machine, threads spin against other
processes and the medians say more about the load than about the code: compare with one thread,
NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python bench/bench_train.py, and print
`uptime` next to the table.
"""
from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from _common import alternate, machine

from engine.models import SequenceModel, make_dataset
from engine.trainer import Trainer

N_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def adding_problem(n, T, rng):
    """Values U[0, 1], a marker channel with two 1s (one in each half), target = the marked sum."""
    x = np.zeros((n, T, 2))
    x[:, :, 0] = rng.uniform(size=(n, T))
    rows = np.arange(n)
    i, j = rng.integers(0, T // 2, size=n), rng.integers(T // 2, T, size=n)
    x[rows, i, 1] = 1.0
    x[rows, j, 1] = 1.0
    return x, (x[rows, i, 0] + x[rows, j, 0])[:, None]


class TorchRun:
    """PyTorch's fused module + Linear head + Adam, fed the same rows as the engine's Trainer."""

    def __init__(self, torch, cell, D, H, O, dtype, x, y, batch, lr, seed, clip_norm=None):
        self.torch = torch
        torch.manual_seed(seed)
        td = {"float64": torch.float64, "float32": torch.float32}[dtype]
        self.rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
            D, H, batch_first=True, dtype=td)
        self.head = torch.nn.Linear(H, O, dtype=td)
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.x, self.y = torch.as_tensor(x, dtype=td), torch.as_tensor(y, dtype=td)
        self.batch, self.k, self.clip_norm = batch, 0, clip_norm

    def state_dict(self) -> dict:
        sd = {k: v.detach().double().numpy().copy() for k, v in self.rnn.state_dict().items()}
        sd["head.weight"] = self.head.weight.detach().double().numpy().copy()
        sd["head.bias"] = self.head.bias.detach().double().numpy().copy()
        return sd

    def loss(self, x, y):
        out, _ = self.rnn(x)
        return 0.5 * ((self.head(out[:, -1]) - y) ** 2).sum(dim=1).mean()

    def step(self) -> float:
        rows = self.torch.as_tensor((self.k * self.batch + np.arange(self.batch)) % self.x.shape[0])
        self.k += 1
        self.opt.zero_grad()
        L = self.loss(self.x[rows], self.y[rows])
        L.backward()
        if self.clip_norm is not None:
            self.torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        self.opt.step()
        return L.item()

    def test_loss(self, x, y) -> float:
        with self.torch.no_grad():
            return float(self.loss(x, y))


def engine_trainer(state, cell, dtype, x, y, batch, lr, clip_norm=None):
    model = SequenceModel(state, cell=cell, dtype=dtype)
    return Trainer(model, make_dataset(x, y), optimizer="adam", lr=lr, clip_norm=clip_norm, batch=batch,
                   shuffle=False)


def contenders(torch, cell, D, H, dtype, x, y, batch, lr, seed, clip_norm=None):
    """A PyTorch run and the engine's trainer started from its weights: (TorchRun, Trainer)."""
    tr = TorchRun(torch, cell, D, H, 1, dtype, x, y, batch, lr, seed=seed, clip_norm=clip_norm)
    return tr, engine_trainer(tr.state_dict(), cell, dtype, x, y, batch, lr, clip_norm=clip_norm)


def rows(hdr: str, cells: str, dtypes: str):
    """Print a table's header, then yield (cell, dtype) for each of its rows (`cells`, `dtypes`: comma-separated)."""
    print(hdr)
    print("-" * len(hdr))
    for cell in cells.split(","):
        for dtype in dtypes.split(","):
            yield cell, dtype


def bench_steps(torch, args):
    T, B, H, D = args.seq_len, args.batch, args.hidden, 2
    x, y = adding_problem(8 * B, T, np.random.default_rng(0))
    print(f"training step: forward + BPTT + Adam (no clipping), B={B}, H={H}, T={T}, D={D}, O=1, loss on the "
          f"last step; medians of {args.repeats}")
    hdr = (f"{'cell':>5} {'dtype':>8} | {'engine ms':>9} {'steps/s':>7} | {'torch ms':>9} {'steps/s':>7} | "
           f"{'torch/engine':>12}")
    for cell, dtype in rows(hdr, args.cells, args.dtypes):
        tr, eng = contenders(torch, cell, D, H, dtype, x, y, B, 1e-3, seed=1)
        l_e, l_t = eng.step().loss, tr.step()
        tol = 1e-9 if dtype == "float64" else 1e-4
        assert abs(l_e - l_t) <= tol * abs(l_t), f"{cell} {dtype}: first loss {l_e} vs torch {l_t}"
        med = alternate({"engine": eng.step, "torch": tr.step}, args.repeats)
        e, t = med["engine"], med["torch"]
        print(f"{cell:>5} {dtype:>8} | {e * 1e3:9.2f} {1 / e:7.1f} | {t * 1e3:9.2f} {1 / t:7.1f} | {t / e:12.2f}",
              flush=True)
    print("torch/engine = PyTorch time / engine time (goal: >= 1.5)")


def bench_solve(torch, args):
    T, B, H = args.solve_seq_len, 32, 32
    rng = np.random.default_rng(args.seed)
    x, y = adding_problem(10_000, T, rng)
    xt, yt = adding_problem(1000, T, rng)
    test = make_dataset(xt, yt)
    xt_t = {d: torch.as_tensor(xt, dtype=getattr(torch, d)) for d in ("float64", "float32")}
    yt_t = {d: torch.as_tensor(yt, dtype=getattr(torch, d)) for d in ("float64", "float32")}
    print(f"\nadding problem, T={T}: Adam lr 1e-2, clip-norm 1, B={B}, H={H}, 10000 training sequences in order, "
          f"test loss on 1000 (constant predictor 1/12 = 0.083) every {args.every} updates; solved = test loss < "
          f"{args.solve_loss}; at most {args.max_updates} updates; seed {args.seed}")
    hdr = (f"{'cell':>5} {'dtype':>8} {'who':>6} | {'steps/s':>7} | {'updates':>7} {'seconds':>8} "
           f"{'test loss':>9}")
    for cell, dtype in rows(hdr, args.solve_cells, args.dtypes):
        tr, eng = contenders(torch, cell, 2, H, dtype, x, y, B, 1e-2, seed=args.seed, clip_norm=1.0)
        runs = {"engine": (eng.step, lambda: eng.evaluate(test).loss),
                "torch": (tr.step, lambda: tr.test_loss(xt_t[dtype], yt_t[dtype]))}
        for who, (step, evaluate) in runs.items():
            spent, n, loss = 0.0, 0, float("nan")
            while n < args.max_updates:
                t0 = time.perf_counter()
                for _ in range(args.every):
                    step()
                spent += time.perf_counter() - t0
                n += args.every
                loss = evaluate()
                if loss < args.solve_loss:
                    break
            solved = f"{n:7d}" if loss < args.solve_loss else f">{n:6d}"
            print(f"{cell:>5} {dtype:>8} {who:>6} | {n / spent:7.1f} | {solved} {spent:8.1f} {loss:9.4f}",
                  flush=True)
    print("seconds = time in training steps only (the test evaluations are not counted)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=100)
    ap.add_argument("--cells", default="rnn,lstm,gru")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--solve", action="store_true", help="also time the adding problem to a solution")
    ap.add_argument("--solve-cells", default="lstm,gru")
    ap.add_argument("--solve-seq-len", type=int, default=100)
    ap.add_argument("--solve-loss", type=float, default=0.01)
    ap.add_argument("--max-updates", type=int, default=3000)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    print(f"bench_train: {machine()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"numba {numba.__version__} ({threads} threads)")
    bench_steps(torch, args)
    if args.solve:
        bench_solve(torch, args)


if __name__ == "__main__":
    main()
