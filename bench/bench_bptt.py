"""Forward pass + BPTT with per-step gradient norms, one float64 sequence.

Contenders: the engine; a plain numpy loop (same algorithm: per-step matrix-vector products, weight
gradients as one matrix product at the end); PyTorch autograd with retain_grad on every h_t (if torch
is installed: `pip install torch==2.13.0`). Run: python bench/bench_bptt.py
"""
from __future__ import annotations

import argparse

import numpy as np
from _common import alternate, machine

import engine


def numpy_bptt(W_hx, W_hh, b_h, W_hy, b_y, x, target):
    """tanh RNN, identity output, loss 0.5 ||y_T - target||^2, per-step ||dL/dh_t||."""
    T, H = x.shape[0], W_hh.shape[0]
    hs = np.zeros((T + 1, H))
    A_in = x @ W_hx.T + b_h
    for t in range(T):
        hs[t + 1] = np.tanh(A_in[t] + W_hh @ hs[t])
    y = W_hy @ hs[T] + b_y
    dy = y - target
    delta = W_hy.T @ dy
    G = np.empty((T, H))
    norms = np.empty(T)
    for t in range(T - 1, -1, -1):
        norms[t] = np.linalg.norm(delta)
        g = (1.0 - hs[t + 1] ** 2) * delta
        G[t] = g
        delta = W_hh.T @ g
    return G.T @ x, G.T @ hs[:-1], G.sum(0), np.outer(dy, hs[T]), dy, norms


def torch_bptt(torch, P, x, target):
    W_hx, W_hh, b_h, W_hy, b_y = P
    for p in P:
        p.grad = None
    h = torch.zeros(W_hh.shape[0], dtype=torch.float64)
    hs = []
    for t in range(x.shape[0]):
        h = torch.tanh(W_hx @ x[t] + W_hh @ h + b_h)
        h.retain_grad()
        hs.append(h)
    y = W_hy @ h + b_y
    loss = 0.5 * ((y - target) ** 2).sum()
    loss.backward()
    return torch.stack([hh.grad.norm() for hh in hs])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--sizes", default="16x100,16x1000,64x100,64x1000,256x100,256x1000")
    args = ap.parse_args()
    try:
        import torch

        torch.set_default_dtype(torch.float64)
        tv = f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        torch, tv = None, " (torch not installed: pip install torch==2.13.0)"
    engine.warmup()
    print(f"bench_bptt: {machine()}{tv}")
    print("forward + BPTT + per-step ||dL/dh_t||, tanh, float64, D=4, O=2, one sequence; medians")
    hdr = f"{'H':>4} {'T':>5} | {'engine ms':>9} {'GFLOP/s':>7} | {'numpy ms':>9} {'ratio':>6} | {'torch ms':>9} {'ratio':>6}"
    print(hdr)
    print("-" * len(hdr))
    for spec in args.sizes.split(","):
        H, T = map(int, spec.split("x"))
        D, O = 4, 2
        p = engine.init_params(D, H, O, spectral_radius=0.95, seed=1)
        x = engine.make_input("normal", T, D, seed=2)
        tg = engine.make_target("identity", "last", T, O, seed=3)
        ref = engine.bptt(p, x, tg)
        got = numpy_bptt(p.W_hx, p.W_hh, p.b_h, p.W_hy, p.b_y, x, tg)
        ok = ref.grad_h_norm > 1e-150  # below that, squaring in np.linalg.norm underflows; the engine rescales
        assert np.allclose(got[5][ok], ref.grad_h_norm[ok], rtol=1e-9), "numpy contender disagrees"
        contenders = {
            "engine": lambda: engine.bptt(p, x, tg),
            "numpy": lambda: numpy_bptt(p.W_hx, p.W_hh, p.b_h, p.W_hy, p.b_y, x, tg),
        }
        if torch is not None:
            P = [torch.tensor(np.array(a), requires_grad=True) for a in (p.W_hx, p.W_hh, p.b_h, p.W_hy, p.b_y)]
            xt, tt = torch.tensor(x), torch.tensor(tg)
            tn = torch_bptt(torch, P, xt, tt).detach().numpy()
            assert np.allclose(tn[ok], ref.grad_h_norm[ok], rtol=1e-9), "torch contender disagrees"
            contenders["torch"] = lambda: torch_bptt(torch, P, xt, tt)
        med = alternate(contenders, args.repeats if T * H < 200_000 else max(5, args.repeats // 3))
        flops = 6.0 * T * H * H + 4.0 * T * H * D
        e = med["engine"]
        tcol = f"{med['torch'] * 1e3:9.3f} {med['torch'] / e:6.1f}" if "torch" in med else f"{'-':>9} {'-':>6}"
        print(f"{H:4d} {T:5d} | {e * 1e3:9.3f} {flops / e / 1e9:7.2f} | {med['numpy'] * 1e3:9.3f} "
              f"{med['numpy'] / e:6.1f} | {tcol}")
    print("ratio = contender time / engine time (higher is better for the engine)")


if __name__ == "__main__":
    main()
