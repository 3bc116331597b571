"""Slow, obviously correct numpy references for the engine.

Nothing here imports the engine's maths: activations, losses, the backward recursion and the Jacobian
products are written out again with plain Python loops, one step and one outer product at a time,
exactly as the equations in shared/ORACLES.md (O1) read. Parameters are passed as a dict (or anything
with the five attributes) so the references also work on hand-made weights.

    a_t = W_hx x_t + W_hh h_{t-1} + b_h,   h_t = f(a_t),   z_t = W_hy h_t + b_y,   y_t = g(z_t)
"""
from __future__ import annotations

import math

import numpy as np

NAMES = ("W_hx", "W_hh", "b_h", "W_hy", "b_y")


# ---------------------------------------------------------------- element-wise functions


def act(name: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(a), f'(a)) for one pre-activation vector, computed entry by entry."""
    h = np.empty_like(a)
    d = np.empty_like(a)
    for i, v in enumerate(a):
        if name == "tanh":
            h[i] = math.tanh(v)
            d[i] = 1.0 - math.tanh(v) ** 2
        elif name == "relu":
            h[i] = v if v > 0 else 0.0
            d[i] = 1.0 if v > 0 else 0.0
        elif name == "sigmoid":
            s = 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
            h[i] = s
            d[i] = s * (1.0 - s)
        elif name == "linear":
            h[i] = v
            d[i] = 1.0
        else:
            raise KeyError(name)
    return h, d


def out_fn(name: str, z: np.ndarray) -> np.ndarray:
    if name == "identity":
        return z.copy()
    if name == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    if name == "sigmoid":
        return np.array([1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)) for v in z])
    raise KeyError(name)


def step_loss(output: str, z: np.ndarray, target) -> tuple[float, np.ndarray]:
    """Loss of one step and its gradient with respect to the logits z."""
    y = out_fn(output, z)
    if output == "identity":
        diff = y - target
        return 0.5 * float(diff @ diff), diff
    if output == "softmax":
        c = int(target)
        log_p = z[c] - (z.max() + math.log(np.exp(z - z.max()).sum()))
        onehot = np.zeros_like(z)
        onehot[c] = 1.0
        return -log_p, y - onehot
    # sigmoid + binary cross-entropy: -[t log s + (1 - t) log(1 - s)],
    # with log s = -log(1 + e^-z) and log(1 - s) = -log(1 + e^z) (exact identities)
    t = np.asarray(target, dtype=float)
    value = float(np.sum(t * np.logaddexp(0.0, -z) + (1.0 - t) * np.logaddexp(0.0, z)))
    return value, y - t


# ---------------------------------------------------------------- forward / loss / BPTT


def _get(params, name):
    return np.asarray(params[name] if isinstance(params, dict) else getattr(params, name), dtype=float)


def forward(params, x, h0=None, activation="tanh"):
    """a (T, H), h (T, H), fprime (T, H), z (T, O) with a loop over time."""
    W_hx, W_hh, b_h, W_hy, b_y = (_get(params, n) for n in NAMES)
    T, H = len(x), W_hh.shape[0]
    h_prev = np.zeros(H) if h0 is None else np.asarray(h0, dtype=float)
    A, Hs, Dp, Z = [], [], [], []
    for t in range(T):
        a = np.zeros(H)
        for i in range(H):
            a[i] = b_h[i] + sum(W_hx[i, j] * x[t][j] for j in range(W_hx.shape[1])) + sum(
                W_hh[i, j] * h_prev[j] for j in range(H)
            )
        h, d = act(activation, a)
        A.append(a)
        Hs.append(h)
        Dp.append(d)
        Z.append(W_hy @ h + b_y)
        h_prev = h
    return np.array(A), np.array(Hs), np.array(Dp), np.array(Z)


def loss_steps(T: int, loss: str) -> list[int]:
    return list(range(T)) if loss == "all" else [T - 1]


def target_at(target, t: int, T: int, loss: str):
    return target[t] if loss == "all" else target


def total_loss(params, x, target, *, h0=None, activation="tanh", output="identity", loss="last") -> float:
    _, _, _, Z = forward(params, x, h0, activation)
    T = len(x)
    return sum(step_loss(output, Z[t], target_at(target, t, T, loss))[0] for t in loss_steps(T, loss))


def bptt(params, x, target, *, h0=None, activation="tanh", output="identity", loss="last") -> dict:
    """Full BPTT by the textbook recursion (ORACLES O1), gradients accumulated as outer products."""
    W_hx, W_hh, b_h, W_hy, b_y = (_get(params, n) for n in NAMES)
    x = np.asarray(x, dtype=float)
    T, H = len(x), W_hh.shape[0]
    h0 = np.zeros(H) if h0 is None else np.asarray(h0, dtype=float)
    A, Hs, Dp, Z = forward(params, x, h0, activation)
    Y = np.array([out_fn(output, z) for z in Z])
    value = 0.0
    dZ = np.zeros_like(Z)
    for t in loss_steps(T, loss):
        lt, dz = step_loss(output, Z[t], target_at(target, t, T, loss))
        value += lt
        dZ[t] = dz
    delta = np.zeros((T, H))  # dL/dh_t
    g = np.zeros((T, H))  # dL/da_t
    for t in range(T - 1, -1, -1):
        delta[t] = W_hy.T @ dZ[t]
        if t + 1 < T:
            delta[t] += W_hh.T @ (Dp[t + 1] * delta[t + 1])
        g[t] = Dp[t] * delta[t]
    grads = {n: np.zeros_like(_get(params, n)) for n in NAMES}
    for t in range(T):
        h_prev = h0 if t == 0 else Hs[t - 1]
        grads["W_hx"] += np.outer(g[t], x[t])
        grads["W_hh"] += np.outer(g[t], h_prev)
        grads["b_h"] += g[t]
        grads["W_hy"] += np.outer(dZ[t], Hs[t])
        grads["b_y"] += dZ[t]
    return dict(a=A, h=Hs, fprime=Dp, z=Z, y=Y, loss=value, grad_h=delta, grad_a=g, grads=grads,
                grad_h_norm=np.array([np.linalg.norm(v) for v in delta]))


# ---------------------------------------------------------------- Jacobians


def step_jacobian(W_hh, fprime_t) -> np.ndarray:
    """J_t = dh_t/dh_{t-1} = diag(f'(a_t)) W_hh."""
    return np.diag(fprime_t) @ np.asarray(W_hh, dtype=float)


def jacobian(W_hh, fprime, t: int, k: int) -> np.ndarray:
    """dh_t/dh_k (0-based steps, k <= t) = J_t J_{t-1} ... J_{k+1}, an explicit product."""
    M = np.eye(np.asarray(W_hh).shape[0])
    for s in range(k + 1, t + 1):
        M = step_jacobian(W_hh, fprime[s]) @ M
    return M


def jacobian_norms(W_hh, fprime) -> np.ndarray:
    """||dh_T/dh_t||_2 for every 0-based t."""
    T = len(fprime)
    return np.array([np.linalg.norm(jacobian(W_hh, fprime, T - 1, t), 2) for t in range(T)])


def jacobian_norm_grid(W_hh, fprime, steps) -> np.ndarray:
    s = sorted(set(int(v) for v in steps))
    n = len(s)
    G = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i + 1):
            G[i, j] = np.linalg.norm(jacobian(W_hh, fprime, s[i], s[j]), 2)
    return G


# ---------------------------------------------------------------- the phase-diagram sweep


def sweep(rhos, seq_len, *, n_hidden, n_seeds, init="gaussian", activation="tanh", seed=0):
    """Reference for engine.sweep_spectral_radius, one network and one BPTT at a time.

    Returns (mean over seeds, per-seed array (R, S, T), per-seed forward-overflow flags (R, S)).
    """
    from engine import init_params  # only for the random draws, which define the networks

    T = seq_len
    X = np.random.default_rng(seed).normal(size=(n_seeds, T, 1))
    per = np.full((len(rhos), n_seeds, T), np.nan)
    overflow = np.zeros((len(rhos), n_seeds), dtype=bool)
    for s in range(n_seeds):
        p = init_params(1, n_hidden, 1, init=init, seed=seed * 1000 + s)
        base = np.asarray(p.W_hh)
        rho0 = np.max(np.abs(np.linalg.eigvals(base)))
        for r, rho in enumerate(rhos):
            W = {"W_hx": p.W_hx, "W_hh": base * (rho / rho0), "b_h": p.b_h, "W_hy": p.W_hy, "b_y": p.b_y}
            with np.errstate(all="ignore"):
                A, Hs, _, _ = forward(W, X[s], None, activation)
                if not (np.isfinite(A).all() and np.isfinite(Hs).all()):
                    overflow[r, s] = True
                    continue
                res = bptt(W, X[s], np.zeros(1), activation=activation, output="identity", loss="last")
                n = res["grad_h_norm"]
                per[r, s] = np.log10(n / n[-1])
    with np.errstate(all="ignore"):
        return per.mean(axis=1), per, overflow


# ---------------------------------------------------------------- test cases and comparisons


ACTIVATION_NAMES = ("tanh", "relu", "sigmoid", "linear")
OUTPUT_NAMES = ("identity", "softmax", "sigmoid")
LOSS_MODES = ("last", "all")


def make_case(activation="tanh", output="identity", loss="last", *, T=7, H=5, D=3, O=4, seed=0,
              init="gaussian", rho=0.9, bias_scale=0.3):
    """A random network with non-zero biases, a random h0, inputs and a target of the right shape.

    Returns (params, x, target, h0). Sigmoid targets are soft labels in [0, 1]."""
    from engine import init_params

    rng = np.random.default_rng(10_000 + seed)
    p = init_params(D, H, O, init=init, spectral_radius=rho, activation=activation, output=output, seed=seed)
    p = p.replace(b_h=bias_scale * rng.normal(size=H), b_y=bias_scale * rng.normal(size=O))
    x = rng.normal(size=(T, D))
    h0 = 0.5 * rng.normal(size=H)
    rows = (T,) if loss == "all" else ()
    if output == "softmax":
        target = rng.integers(0, O, size=rows)
        target = target if loss == "all" else int(target)
    elif output == "sigmoid":
        target = rng.uniform(size=rows + (O,))
    else:
        target = rng.normal(size=rows + (O,))
    return p, x, target, h0


def assert_close(actual, expected, rtol=1e-12, what=""):
    """allclose with rtol and an atol scaled to the largest entry of the reference (sums over steps
    in a different order differ by a few ulps of the largest term, not of the smallest)."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    atol = rtol * scale + 1e-300
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


N_GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # gate blocks per cell, as engine.CELLS has them


def random_state(cell, D, H, O, rng, scale=1.0):
    """A PyTorch-keyed state dict of random float64 arrays, both biases non-zero."""
    G = N_GATES[cell]
    s = scale / np.sqrt(H)
    return {
        "weight_ih_l0": rng.uniform(-s, s, size=(G * H, D)) * np.sqrt(H / D),
        "weight_hh_l0": rng.uniform(-s, s, size=(G * H, H)),
        "bias_ih_l0": rng.uniform(-0.5, 0.5, size=G * H),
        "bias_hh_l0": rng.uniform(-0.5, 0.5, size=G * H),
        "head.weight": rng.normal(0.0, 1.0 / np.sqrt(H), size=(O, H)),
        "head.bias": rng.normal(0.0, 0.3, size=O),
    }


def frozen(obj):
    """obj with every numpy array it holds (as an attribute, a dict value or a tuple item, one level
    deep) made read-only, and returned. For objects a fixture or a cache shares between tests: a test
    that writes into one then fails at once, instead of changing what the tests after it see."""
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (tuple, list)) else vars(obj).values()
    for v in items:
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
        elif isinstance(v, dict):
            for w in v.values():
                if isinstance(w, np.ndarray):
                    w.setflags(write=False)
    return obj
