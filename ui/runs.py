"""Cached runs of the engine, keyed on the config. No widgets are read here.

Each `run_*` returns plain numpy arrays and floats in a frozen dataclass so that
`st.cache_data` can pickle it and the figure builders can stay pure.

Each `*_fig` returns the figure a page shows, built once per config by the pure builders in
`viz/` and kept with `st.cache_resource`: building a Plotly figure (validation of every trace and
frame) costs more than the engine run, and a pickled copy per rerun (`st.cache_data`) costs more
again. The cached figure is shared, so callers must not modify it; `st.plotly_chart` only reads it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import numpy as np
import streamlit as st

import engine
from engine.jacobians import gate_path_norm
from ui.admission import cost_bptt, cost_jacobians, heavy_slot
from ui.config import Config, validated
from ui.uploads import own_run_data, weights_params
from viz.payload import evenly_spaced, narrow

# Rough cost budget (floating-point operations) for the optional O(H^3) work
# done per page view: Jacobian norms and the Jacobian grid.
_FLOP_BUDGET = 1.5e9


WARMUP_DELAY_S = 3.0   # the background compile starts after this, once the first page has drawn its charts


@st.cache_resource(max_entries=1, show_spinner="Preparing the engine (first start only): compiling what this "
                   "page needs…")
def warmup() -> bool:
    """The first call in a process compiles (or loads from numba's disk cache) the kernels of the default
    network, the vanilla tanh RNN that every page's first view draws, and leaves every other cell,
    activation and sweep to a background thread: the first chart does not wait for kernels nobody has asked
    for yet. A kernel a page needs before that thread reaches it compiles on its first call (numba's
    compiler lock keeps the two from compiling the same kernel twice)."""
    engine.warmup(cells=("rnn",), activations=("tanh",), sweeps=False)
    threading.Thread(target=_warm_the_rest, name="engine-warmup", daemon=True).start()
    return True


def _warm_the_rest() -> None:
    time.sleep(WARMUP_DELAY_S)   # compiling holds the GIL: let the first page finish its figures first
    engine.warmup()


def build(cfg: Config):
    """Parameters, input and target for `cfg` (deterministic in cfg.seed). Uploaded weights or an
    uploaded input (an OwnConfig from ui.uploads, by digest) replace the generated ones."""
    own_w, own_x = own_run_data(cfg)
    if own_w is not None:
        params = weights_params(own_w, cfg.act, cfg.out)
    else:
        params = engine.init_params(cfg.D, cfg.H, cfg.O, init=cfg.init, spectral_radius=cfg.rho,
                                    activation=cfg.act, output=cfg.out, seed=cfg.seed, cell=cfg.cell,
                                    forget_bias=cfg.fb, update_bias=cfg.zb)
    if own_x is not None:
        x = np.array(own_x.x)
    else:
        x = engine.make_input(cfg.signal, cfg.T, cfg.D, amplitude=cfg.amp, seed=cfg.seed)
    target = engine.make_target(cfg.out, cfg.loss, cfg.T, cfg.O, seed=cfg.seed)
    return params, x, target


@dataclass(frozen=True)
class Run:
    """One forward + backward pass, as arrays (time index 0 = step t = 1)."""

    x: np.ndarray               # (T, D)
    h: np.ndarray               # (T, H)
    a: np.ndarray               # (T, H)
    fprime: np.ndarray          # (T, H)
    y: np.ndarray               # (T, O)
    loss: float
    grad_h_norm: np.ndarray     # (T,)
    dW_hh_step_norm: np.ndarray  # (T,)
    overflow_step: int | None
    overflow_phase: str | None
    rho: float                  # spectral radius of W_hh
    sigma_max: float            # largest singular value of W_hh
    gamma: float                # sup |f'|
    loss_steps: tuple[int, ...]  # 0-based steps the loss is attached to
    cell: str = "rnn"           # "rnn" | "lstm" | "gru"
    c: np.ndarray | None = None               # (T, H) LSTM cell state
    gates: dict | None = None                 # gate name -> (T, H) float32 gate values ({} for rnn)
    grad_c_norm: np.ndarray | None = None     # (T,) ‖∂L/∂c_t‖ (LSTM)
    cell_path_norm: np.ndarray | None = None  # (T,) ‖∂c_T/∂c_t‖ along the cell path (LSTM)
    copy_path_norm: np.ndarray | None = None  # (T,) the GRU's copy path: max_k ∏_{s>t} z_s[k]

    @property
    def T(self) -> int:
        return self.h.shape[0]

    @property
    def h_norm(self) -> np.ndarray:
        """(T,) Euclidean norm of each hidden state (inf/NaN where it overflowed)."""
        return engine.state_norms(self.h)

    @property
    def has_gradient(self) -> bool:
        """False when the forward pass overflowed so no ∂L/∂h_t is finite."""
        return bool(np.isfinite(self.grad_h_norm).any())


def _recurrent_rates(params) -> tuple[float, float]:
    """(ρ, σ_max) of W_hh for a vanilla RNN; for a gated cell the largest over its gate blocks."""
    blocks = params.recurrent_blocks().values()
    return (max(float(engine.spectral_radius(W)) for W in blocks),
            max(float(engine.spectral_norm(W)) for W in blocks))


def compact(arr: np.ndarray | None) -> np.ndarray | None:
    """A cached array narrowed to float32 where it fits (half the cache's bytes; the pages show three
    digits), see viz.payload.narrow."""
    return None if arr is None else narrow(arr)


@st.cache_data(max_entries=64, show_spinner=False)
def run_bptt(cfg: Config) -> Run:
    warmup()
    params, x, target = build(cfg)
    with heavy_slot(cost_bptt(cfg.T, cfg.H, cfg.cell)):
        tr = engine.bptt(params, x, target, loss=cfg.loss)
    rho, sigma_max = _recurrent_rates(params)
    gates = {k: np.asarray(v, dtype=np.float32) for k, v in tr.gates.items()}
    return Run(
        # a and f' are the biggest arrays ((T, G·H)); the pages only draw or tabulate them
        x=np.asarray(x, dtype=np.float64), h=tr.h, a=compact(tr.a), fprime=compact(tr.fprime), y=tr.y,
        loss=float(tr.loss), grad_h_norm=tr.grad_h_norm, dW_hh_step_norm=tr.dW_hh_step_norm,
        overflow_step=tr.overflow_step, overflow_phase=tr.overflow_phase,
        rho=rho, sigma_max=sigma_max,
        gamma=float(engine.ACTIVATIONS[cfg.act].gamma),
        loss_steps=(cfg.T - 1,) if cfg.loss == "last" else tuple(range(cfg.T)),
        cell=cfg.cell, c=compact(tr.c), gates=gates, grad_c_norm=tr.grad_c_norm,
        cell_path_norm=None if tr.cell_path_norm is None else np.asarray(tr.cell_path_norm),
        copy_path_norm=gate_path_norm(tr.gates["z"]) if cfg.cell == "gru" else None,
    )


def state_size(cfg: Config) -> int:
    """Size S of the recurrent state whose Jacobians are multiplied: H, or 2H for the LSTM's (h, c)."""
    return engine.CELLS[cfg.cell].state_size(cfg.H)


def jacobian_plan(T: int, H: int) -> tuple[int, np.ndarray | None, np.ndarray]:
    """Where to evaluate Jacobian norms within the budget: (first step, curve steps, grid steps).

    Each step costs one H×H product (~H³); each norm one SVD (~10·H³). When the whole sequence
    is affordable, the curve uses up to T steps. Otherwise only the last steps are covered and
    the curve is the last row of the grid (curve steps = None). Steps are 0-based.
    """
    c = float(H) ** 3
    grid_n = int(np.clip(np.sqrt(_FLOP_BUDGET / (2.0 * c)), 6, 40))
    if T * c <= _FLOP_BUDGET:
        n = int(min(T, max(24, _FLOP_BUDGET / (10.0 * c))))
        curve = evenly_spaced(T, n)
        grid = evenly_spaced(T, grid_n)
        return 0, curve, grid
    span = int(min(T, max(8, _FLOP_BUDGET // c)))
    start = T - span
    grid = np.unique(np.linspace(start, T - 1, min(grid_n, span)).round().astype(int))
    return start, None, grid


@dataclass(frozen=True)
class Jacobians:
    steps: np.ndarray        # (n,) 0-based steps of `norms`
    norms: np.ndarray        # (n,) ‖∂h_T/∂h_t‖_2
    grid_steps: np.ndarray   # (m,)
    grid: np.ndarray         # (m, m) ‖∂s_{s_i}/∂s_{s_j}‖_2 of the state s (h; (h, c) for the LSTM),
                             # NaN above the diagonal
    first_step: int          # 0-based; > 0 when only the last steps were affordable


@st.cache_data(max_entries=32, show_spinner="Multiplying step Jacobians…")
def run_jacobians(cfg: Config) -> Jacobians:
    warmup()
    params, x, target = build(cfg)
    with heavy_slot(cost_jacobians(cfg.T, state_size(cfg), _FLOP_BUDGET)):
        tr = engine.bptt(params, x, target, loss=cfg.loss)
        start, curve, gsteps = jacobian_plan(cfg.T, state_size(cfg))
        grid = np.asarray(engine.jacobian_norm_grid(tr, gsteps))
        if curve is None:
            # gsteps ends at T - 1, so the grid's last row is ‖∂h_T/∂h_t‖ at those steps.
            steps, norms = gsteps, grid[-1].copy()
        else:
            steps, norms = curve, np.asarray(engine.jacobian_norms(tr, curve))
    return Jacobians(steps=steps, norms=norms, grid_steps=gsteps, grid=grid, first_step=start)


def power_kmax(T: int, H: int) -> int:
    """Largest power k of W_hh shown: T, unless one SVD per k would be too slow."""
    return int(min(T, max(40, 6e8 // max(H, 1) ** 3)))


@dataclass(frozen=True)
class Spectrum:
    eigenvalues: np.ndarray      # (H,) complex
    singular_values: np.ndarray  # (H,) descending
    power_norms: np.ndarray      # (k_max + 1,) ‖W^k‖_2
    rho: float
    sigma_max: float
    gamma: float                 # sup |f'| of the nonlinearity this block feeds
    block: str = "h"             # "h" (vanilla W_hh) or a gate name: the block of W_hh shown


def gate_names(cell: str) -> tuple[str, ...]:
    """The recurrent blocks of a cell: ("h",) for the vanilla RNN, else its gates in PyTorch order."""
    return engine.CELLS[cell].gates or ("h",)


def block_gamma(cfg: Config, block: str) -> float:
    """sup |f'| of the nonlinearity that the block feeds: the activation (vanilla), 1/4 for a
    sigmoid gate, 1 for the tanh candidate (g in the LSTM, n in the GRU)."""
    if block == "h":
        return float(engine.ACTIVATIONS[cfg.act].gamma)
    return 1.0 if block in ("g", "n") else float(engine.ACTIVATIONS["sigmoid"].gamma)


def run_spectrum(cfg: Config, block: str | None = None) -> Spectrum:
    """Spectrum of one recurrent block (default: W_hh of the vanilla RNN, the first gate otherwise)."""
    names = gate_names(cfg.cell)
    return _run_spectrum(cfg, block if block in names else names[0])


@st.cache_data(max_entries=32, show_spinner=False)
def _run_spectrum(cfg: Config, block: str) -> Spectrum:
    warmup()
    params, _, _ = build(cfg)
    W = np.ascontiguousarray(params.recurrent_blocks()[block])
    sv = np.sort(np.asarray(engine.singular_values(W)))[::-1]
    kmax = power_kmax(cfg.T, cfg.H)
    with heavy_slot(kmax * float(cfg.H) ** 3):   # one product and one SVD per power
        power_norms = np.asarray(engine.power_norms(W, kmax))
    return Spectrum(
        eigenvalues=np.asarray(engine.eigenvalues(W)), singular_values=sv,
        power_norms=power_norms,
        rho=float(engine.spectral_radius(W)), sigma_max=float(engine.spectral_norm(W)),
        gamma=block_gamma(cfg, block), block=block)


@st.cache_data(max_entries=32, show_spinner=False)
def run_block_rates(cfg: Config) -> dict[str, tuple[float, float]]:
    """Gate name -> (ρ, σ_max) of its recurrent block, for every block of the cell."""
    warmup()
    params, _, _ = build(cfg)
    return {g: (float(engine.spectral_radius(W)), float(engine.spectral_norm(W)))
            for g, W in params.recurrent_blocks().items()}


@st.cache_data(max_entries=32, show_spinner=False)
def run_gradient_check(cfg: Config) -> dict[str, float]:
    """Max relative error between BPTT and central finite differences."""
    warmup()
    params, x, target = build(cfg)
    # Each sampled entry costs two forward passes of G·T·H² work (G gate blocks: 4 for the LSTM), for each
    # of the parameter arrays: keep the total bounded.
    G = engine.CELLS[cfg.cell].n_gates
    max_entries = int(np.clip(4e9 / (2.0 * G * cfg.T * cfg.H**2 + 1.0), 3, 200))
    with heavy_slot(max_entries * cost_bptt(cfg.T, cfg.H, cfg.cell)):
        return {k: float(v) for k, v in
                engine.gradient_check(params, x, target, loss=cfg.loss, max_entries=max_entries,
                                      seed=cfg.seed).items()}


@dataclass(frozen=True)
class StepNumbers:
    """The numbers in h_t = f(W_hx x_t + W_hh h_{t-1} + b_h), y_t = g(W_hy h_t + b_y).

    For a gated cell Wx, Wh, b_h and a_t hold every gate's block stacked in PyTorch order (G*H,),
    `gates` the activated value of each gate at step t, and the LSTM also c_{t-1} and c_t.
    """

    t: int                 # 1-based step
    x_t: np.ndarray        # (D,)
    h_prev: np.ndarray     # (H,)
    Wx: np.ndarray         # (G*H,) W_hx x_t
    Wh: np.ndarray         # (G*H,) W_hh h_{t-1}
    b_h: np.ndarray        # (G*H,)
    a_t: np.ndarray        # (G*H,)
    h_t: np.ndarray        # (H,)
    y_t: np.ndarray        # (O,)
    grad_norm: float       # ‖∂L/∂h_t‖
    cell: str = "rnn"
    gates: dict | None = None          # gate name -> (H,) value at step t (gated cells)
    c_prev: np.ndarray | None = None   # (H,) LSTM c_{t-1}
    c_t: np.ndarray | None = None      # (H,) LSTM c_t
    grad_c_norm: float | None = None   # ‖∂L/∂c_t‖ (LSTM)


@st.cache_data(max_entries=64, show_spinner=False)
def run_step_numbers(cfg: Config, t: int) -> StepNumbers:
    """Terms of the update at 1-based step t, from the cached run."""
    run = run_bptt(cfg)
    params, x, _ = build(cfg)
    i = t - 1
    h_prev = run.h[i - 1] if i > 0 else np.zeros(cfg.H)
    with np.errstate(all="ignore"):
        Wx = params.W_hx @ x[i]
        Wh = params.W_hh @ h_prev
    extra = {}
    if cfg.cell != "rnn":
        extra = dict(cell=cfg.cell, gates={k: np.asarray(v[i], dtype=np.float64) for k, v in run.gates.items()})
        if run.c is not None:
            extra.update(c_prev=run.c[i - 1] if i > 0 else np.zeros(cfg.H), c_t=run.c[i],
                         grad_c_norm=None if run.grad_c_norm is None else float(run.grad_c_norm[i]))
    return StepNumbers(t=t, x_t=x[i], h_prev=h_prev, Wx=Wx, Wh=Wh, b_h=params.b_h,
                       a_t=np.asarray(run.a[i], dtype=np.float64), h_t=run.h[i], y_t=run.y[i],
                       grad_norm=float(run.grad_h_norm[i]), **extra)


def run_default_fallback(func, cfg: Config):
    """Run `func(cfg)`; on a ValueError from the engine, run it on the defaults instead.

    Returns (result, error message or None). The sidebar keeps what was chosen.
    """
    try:
        return func(cfg), None
    except ValueError as exc:
        return func(Config()), str(exc)


@dataclass(frozen=True)
class HiddenSummary:
    pca: np.ndarray            # (T, 2) coordinates of h_t on the first two principal axes
    explained: np.ndarray      # (2,) fraction of variance along each axis
    saturated: np.ndarray      # (T,) fraction of units with |f'(a_t)| < threshold
    threshold: float


@st.cache_data(max_entries=64, show_spinner=False)
def run_hidden(cfg: Config, threshold: float = 0.1) -> HiddenSummary:
    with np.errstate(all="ignore"):  # exploding states: overflow is reported, not warned about
        return _hidden_summary(run_bptt(cfg), threshold)


def _hidden_summary(run: Run, threshold: float) -> HiddenSummary:
    coords, explained = engine.pca_2d(run.h)
    return HiddenSummary(pca=coords, explained=explained, saturated=engine.saturated_fraction(run.fprime, threshold),
                         threshold=threshold)


# --------------------------------------------------------------------------- three cells side by side

COMPARE_CELLS = ("rnn", "lstm", "gru")


def cell_config(cfg: Config, cell: str) -> Config:
    """`cfg` with the cell replaced (a gated cell's activation becomes tanh). The gate bias a cell
    does not have is set to its default, so moving the other cell's bias keeps this run cached."""
    d = Config()
    return validated(replace(cfg, cell=cell, fb=cfg.fb if cell == "lstm" else d.fb,
                             zb=cfg.zb if cell == "gru" else d.zb))


def compare_config(cfg: Config) -> Config:
    """The key of the comparison: the sidebar config with the cell set to the vanilla one (so the
    sidebar's cell does not split the cache); both gate biases are kept for the gated runs."""
    return validated(replace(cfg, cell="rnn"))


@dataclass(frozen=True)
class CellRun:
    """What the comparison page needs of one cell's run (small: no states, no pre-activations)."""

    cell: str
    grad_h_norm: np.ndarray          # (T,)
    overflow_step: int | None
    overflow_phase: str | None
    keep_gate: np.ndarray | None     # (T, H) float32: the LSTM's forget gate f, the GRU's update gate z


_KEEP_GATE = {"lstm": "f", "gru": "z"}


@st.cache_data(max_entries=32, show_spinner=False)
def run_compare(cfg: Config) -> dict[str, CellRun]:
    """The same input, sizes and seed through the three cells: cell -> CellRun."""
    out = {}
    for cell in COMPARE_CELLS:
        run = run_bptt(cell_config(cfg, cell))
        gate = _KEEP_GATE.get(cell)
        out[cell] = CellRun(cell=cell, grad_h_norm=run.grad_h_norm, overflow_step=run.overflow_step,
                            overflow_phase=run.overflow_phase,
                            keep_gate=None if gate is None else run.gates[gate])
    return out
