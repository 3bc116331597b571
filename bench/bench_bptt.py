"""Forward pass + BPTT with per-step gradient norms, one float64 sequence, for the vanilla RNN, the
LSTM and the GRU.

Contenders: the engine; a plain numpy loop (same algorithm: per-step matrix-vector products, weight
gradients as one matrix product at the end); PyTorch autograd with retain_grad on every h_t (if torch
is installed: `pip install torch==2.13.0`): raw tensor ops for the RNN, nn.LSTMCell / nn.GRUCell
stepped one call per step for the gated cells. Every contender computes the per-step ||dL/dh_t||
and is checked against the engine before it is timed. Run: python bench/bench_bptt.py
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


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_lstm_bptt(W_ih, W_hh, b, W_hy, b_y, x, target):
    """LSTM (gates i, f, g, o), identity output, loss 0.5 ||y_T - target||^2, per-step ||dL/dh_t||."""
    T, H = x.shape[0], W_hh.shape[1]
    A_in = x @ W_ih.T + b  # (T, 4H)
    hs = np.zeros((T + 1, H))
    cs = np.zeros((T + 1, H))
    GV = np.empty((T, 4 * H))
    for t in range(T):
        a = A_in[t] + W_hh @ hs[t]
        i, f, g, o = _sig(a[:H]), _sig(a[H:2 * H]), np.tanh(a[2 * H:3 * H]), _sig(a[3 * H:])
        GV[t] = np.concatenate([i, f, g, o])
        cs[t + 1] = f * cs[t] + i * g
        hs[t + 1] = o * np.tanh(cs[t + 1])
    y = W_hy @ hs[T] + b_y
    dy = y - target
    dh = W_hy.T @ dy
    dc = np.zeros(H)
    DA = np.empty((T, 4 * H))
    norms = np.empty(T)
    for t in range(T - 1, -1, -1):
        norms[t] = np.linalg.norm(dh)
        i, f, g, o = GV[t, :H], GV[t, H:2 * H], GV[t, 2 * H:3 * H], GV[t, 3 * H:]
        tc = np.tanh(cs[t + 1])
        dc = dc + dh * o * (1.0 - tc * tc)
        da = np.concatenate([dc * g * i * (1 - i), dc * cs[t] * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)])
        DA[t] = da
        dh = W_hh.T @ da
        dc = dc * f
    return DA.T @ x, DA.T @ hs[:-1], DA.sum(0), np.outer(dy, hs[T]), dy, norms


def numpy_gru_bptt(W_ih, W_hh, b, b_hn, W_hy, b_y, x, target):
    """GRU (gates r, z, n, PyTorch's equations), identity output, last-step loss, per-step ||dL/dh_t||."""
    T, H = x.shape[0], W_hh.shape[1]
    A_x = x @ W_ih.T + b  # (T, 3H)
    hs = np.zeros((T + 1, H))
    R, Z, N, HN = (np.empty((T, H)) for _ in range(4))
    for t in range(T):
        ah = W_hh @ hs[t]
        R[t] = _sig(A_x[t, :H] + ah[:H])
        Z[t] = _sig(A_x[t, H:2 * H] + ah[H:2 * H])
        HN[t] = ah[2 * H:] + b_hn
        N[t] = np.tanh(A_x[t, 2 * H:] + R[t] * HN[t])
        hs[t + 1] = (1 - Z[t]) * N[t] + Z[t] * hs[t]
    y = W_hy @ hs[T] + b_y
    dy = y - target
    dh = W_hy.T @ dy
    DAX = np.empty((T, 3 * H))
    DAH = np.empty((T, 3 * H))
    norms = np.empty(T)
    for t in range(T - 1, -1, -1):
        norms[t] = np.linalg.norm(dh)
        r, z, n = R[t], Z[t], N[t]
        da_n = dh * (1 - z) * (1 - n * n)
        da_z = dh * (hs[t] - n) * z * (1 - z)
        da_r = da_n * HN[t] * r * (1 - r)
        DAX[t] = np.concatenate([da_r, da_z, da_n])
        DAH[t] = np.concatenate([da_r, da_z, da_n * r])
        dh = dh * z + W_hh.T @ DAH[t]
    return DAX.T @ x, DAH.T @ hs[:-1], DAX.sum(0), DAH[:, 2 * H:].sum(0), np.outer(dy, hs[T]), dy, norms


def torch_cell_bptt(torch, cell, head, x, target, lstm):
    """nn.LSTMCell / nn.GRUCell stepped T times with retain_grad on every h_t."""
    cell.zero_grad(set_to_none=True)
    head.zero_grad(set_to_none=True)
    h = torch.zeros(cell.hidden_size, dtype=torch.float64)
    c = torch.zeros_like(h)
    hs = []
    for t in range(x.shape[0]):
        if lstm:
            h, c = cell(x[t], (h, c))
        else:
            h = cell(x[t], h)
        h.retain_grad()
        hs.append(h)
    y = head(h)
    loss = 0.5 * ((y - target) ** 2).sum()
    loss.backward()
    return torch.stack([hh.grad.norm() for hh in hs])


def torch_gated(torch, p):
    """nn.LSTMCell / nn.GRUCell and nn.Linear holding the weights of ``p`` (PyTorch's key layout)."""
    sd = engine.params_to_state_dict(p)
    make = torch.nn.LSTMCell if p.cell == "lstm" else torch.nn.GRUCell
    cell = make(p.n_in, p.n_hidden).to(torch.float64)
    head = torch.nn.Linear(p.n_hidden, p.n_out).to(torch.float64)
    with torch.no_grad():
        for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, key).copy_(torch.from_numpy(sd[key + "_l0"]))
        head.weight.copy_(torch.from_numpy(sd["head.weight"]))
        head.bias.copy_(torch.from_numpy(sd["head.bias"]))
    return cell, head


def numpy_contender(p):
    if p.cell == "lstm":
        return lambda x, tg: numpy_lstm_bptt(p.W_hx, p.W_hh, p.b_h, p.W_hy, p.b_y, x, tg)
    if p.cell == "gru":
        return lambda x, tg: numpy_gru_bptt(p.W_hx, p.W_hh, p.b_h, p.b_hn, p.W_hy, p.b_y, x, tg)
    return lambda x, tg: numpy_bptt(p.W_hx, p.W_hh, p.b_h, p.W_hy, p.b_y, x, tg)


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
    ap.add_argument("--cells", default="rnn,lstm,gru")
    args = ap.parse_args()
    try:
        import torch

        torch.set_default_dtype(torch.float64)
        tv = f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        torch, tv = None, " (torch not installed: pip install torch==2.13.0)"
    engine.warmup()
    print(f"bench_bptt: {machine()}{tv}")
    print("forward + BPTT + per-step ||dL/dh_t||, float64, D=4, O=2, one sequence, loss on the last step; medians")
    hdr = (f"{'cell':>4} {'H':>4} {'T':>5} | {'engine ms':>9} {'GFLOP/s':>7} | {'numpy ms':>9} {'ratio':>6} | "
           f"{'torch ms':>9} {'ratio':>6}")
    print(hdr)
    print("-" * len(hdr))
    for cell in args.cells.split(","):
        G = engine.CELLS[cell].n_gates
        for spec in args.sizes.split(","):
            H, T = map(int, spec.split("x"))
            D, O = 4, 2
            p = engine.init_params(D, H, O, spectral_radius=0.95, seed=1, cell=cell)
            x = engine.make_input("normal", T, D, seed=2)
            tg = engine.make_target("identity", "last", T, O, seed=3)
            ref = engine.bptt(p, x, tg)
            np_fn = numpy_contender(p)
            got = np_fn(x, tg)
            ok = ref.grad_h_norm > 1e-150  # below that, squaring in np.linalg.norm underflows; the engine rescales
            assert np.allclose(got[-1][ok], ref.grad_h_norm[ok], rtol=1e-9), f"numpy contender disagrees ({cell})"
            assert np.allclose(got[1], ref.grads.W_hh, rtol=1e-9, atol=1e-12), f"numpy dW_hh disagrees ({cell})"
            contenders = {"engine": lambda: engine.bptt(p, x, tg), "numpy": lambda: np_fn(x, tg)}
            if torch is not None:
                xt, tt = torch.tensor(x), torch.tensor(tg)
                if cell == "rnn":
                    P = [torch.tensor(np.array(a), requires_grad=True) for a in (p.W_hx, p.W_hh, p.b_h, p.W_hy, p.b_y)]
                    run = lambda P=P: torch_bptt(torch, P, xt, tt)  # noqa: E731
                else:
                    mods = torch_gated(torch, p)
                    run = lambda mods=mods: torch_cell_bptt(torch, *mods, xt, tt, cell == "lstm")  # noqa: E731
                tn = run().detach().numpy()
                assert np.allclose(tn[ok], ref.grad_h_norm[ok], rtol=1e-9), f"torch contender disagrees ({cell})"
                contenders["torch"] = run
            med = alternate(contenders, args.repeats if G * T * H < 200_000 else max(5, args.repeats // 3))
            flops = G * (6.0 * T * H * H + 4.0 * T * H * D)
            e = med["engine"]
            tcol = f"{med['torch'] * 1e3:9.3f} {med['torch'] / e:6.1f}" if "torch" in med else f"{'-':>9} {'-':>6}"
            print(f"{cell:>4} {H:4d} {T:5d} | {e * 1e3:9.3f} {flops / e / 1e9:7.2f} | {med['numpy'] * 1e3:9.3f} "
                  f"{med['numpy'] / e:6.1f} | {tcol}", flush=True)
    print("ratio = contender time / engine time (higher is better for the engine)")


if __name__ == "__main__":
    main()
