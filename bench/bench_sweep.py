"""The phase-diagram sweep: 128 spectral radii x 512 steps x 16 seeds, H = 64, tanh, gaussian W_hh.

Contenders: engine.sweep_spectral_radius (numba, parallel over rho x seed) and a vectorised numpy
version of the same computation (per step one BLAS product per seed over all rhos at once).
Run: python bench/bench_sweep.py
"""
from __future__ import annotations

import argparse

import numpy as np
from _common import alternate, machine

import engine


def numpy_sweep(rhos, T, H, S, seed=0):
    """Same maths as the engine: renormalised backward vectors, log norms accumulated."""
    R = rhos.size
    Ws, Wx, Wy, base = [], [], [], []
    for s in range(S):
        p = engine.init_params(1, H, 1, init="gaussian", seed=seed * 1000 + s)
        Ws.append(p.W_hh)
        Wx.append(p.W_hx[:, 0])
        Wy.append(p.W_hy[0])
        base.append(engine.spectral_radius(p.W_hh))
    X = np.random.default_rng(seed).normal(size=(S, T, 1))
    out = np.zeros((S, R, T))
    for s in range(S):
        c = (rhos / base[s])[:, None]  # (R, 1): W_rs = c_r W_s
        h = np.zeros((R, H))
        D = np.empty((T, R, H))
        for t in range(T):
            h = np.tanh(X[s, t, 0] * Wx[s] + c * (h @ Ws[s].T))
            D[t] = 1.0 - h * h
        v = np.outer(np.ones(R), Wy[s]) * (h @ Wy[s])[:, None]  # W_hy^T W_hy h_T
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        total = np.zeros(R)
        for t in range(T - 1, 0, -1):
            v = c * ((D[t] * v) @ Ws[s])
            n = np.linalg.norm(v, axis=1)
            total += np.log10(n)
            v /= n[:, None]
            out[s, :, t - 1] = total
    return out.mean(axis=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rhos", type=int, default=128)
    ap.add_argument("--steps", type=int, default=512)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=64)
    a = ap.parse_args()
    import numba

    engine.warmup()
    rhos = np.linspace(0.5, 1.5, a.rhos)
    print(f"bench_sweep: {machine()}, numba {numba.__version__} "
          f"({numba.config.NUMBA_NUM_THREADS} threads, layer {numba.threading_layer()})")
    got = engine.sweep_spectral_radius(rhos, a.steps, n_hidden=a.hidden, n_seeds=a.seeds)
    ref = numpy_sweep(rhos, a.steps, a.hidden, a.seeds)
    err = np.max(np.abs(got - ref))
    assert err < 1e-8, f"numpy contender disagrees by {err}"
    med = alternate({
        "engine": lambda: engine.sweep_spectral_radius(rhos, a.steps, n_hidden=a.hidden, n_seeds=a.seeds),
        "numpy": lambda: numpy_sweep(rhos, a.steps, a.hidden, a.seeds),
    }, a.repeats)
    flops = 2 * 2.0 * a.rhos * a.seeds * a.steps * a.hidden**2
    print(f"{a.rhos} rho x {a.steps} steps x {a.seeds} seeds, H={a.hidden}, tanh, gaussian; max |engine - numpy| = {err:.1e}")
    print(f"engine {med['engine']:.3f} s ({flops / med['engine'] / 1e9:.1f} GFLOP/s)   numpy {med['numpy']:.3f} s   "
          f"ratio {med['numpy'] / med['engine']:.1f}x   target <= 1 s: {'met' if med['engine'] <= 1 else 'missed'}")


if __name__ == "__main__":
    main()
