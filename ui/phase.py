"""Phase diagram page: its own controls (URL-bound, prefixed `ph_`, declared in `PHASE`) and its cached runs.

`phase_controls(cfg)` draws the widgets and returns a frozen `PhaseSettings`; `run_phase` and
`run_lyapunov` are cached on their arguments and read no widgets; `check_phase_link()` checks the
page's link values once per session, like the sidebar's and the Train page's.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

import engine
from ui import keys
from ui.admission import heavy_slot
from ui.charts import shared
from ui.config import ACTIVATIONS, BIND, INIT_LABELS, Config
from ui.runs import warmup
from ui.state import Registry, Setting, check_link, link_notice, settings_class
from viz.phase import PhaseMap, lyapunov_figure, phase_figure
from viz.spec import Spec

SWEEP_INITS = ("gaussian", "orthogonal", "identity")   # inits the sweep accepts
INIT_NAMES = {k: " ".join(INIT_LABELS[k].split()) for k in SWEEP_INITS}   # the sidebar's labels
RESOLUTIONS = (16, 32, 48, 64, 96, 128)                 # number of ρ values in the map
RHO_MIN, RHO_MAX = 0.0, 4.5
RHO_LO, RHO_HI = 0.2, 3.0                             # default range: both colours and both lines
H_MAX, SEEDS_MAX, T_MIN, T_MAX = 256, 32, 10, 1000
SECONDS_PER_WORK = 8e-10   # measured on the 2-core reference machine (64 ρ × 8 seeds × 200 steps × 32²: 0.08 s)

# Lyapunov curve: fixed, computed once per server process.
LYAP_GAINS = tuple(float(g) for g in np.round(np.linspace(0.5, 3.0, 51), 2))   # steps of 0.05
LYAP_N, LYAP_STEPS, LYAP_BURN = 128, 800, 200


# The map's settings, in the order of PhaseSettings' fields (the ρ range is one two-ended slider, the seed
# the sidebar's: neither has a parameter of its own to check).
PHASE = Registry((
    Setting("init", "W_hh init", "choice", options=SWEEP_INITS, default="gaussian", param="ph_init"),
    Setting("act", "Activation f", "choice", options=ACTIVATIONS, default="tanh", param="ph_act"),
    Setting("H", "Hidden units H", "int", 1, H_MAX, default=32, param="ph_H"),
    Setting("seeds", "Seeds per cell", "int", 1, SEEDS_MAX, default=8, param="ph_seeds"),
    Setting("rho_lo", "lowest ρ", "float", RHO_MIN, RHO_MAX, default=RHO_LO, param=None),
    Setting("rho_hi", "highest ρ", "float", RHO_MIN, RHO_MAX, default=RHO_HI, param=None),
    Setting("n_rho", "Resolution (values of ρ)", "grid", options=RESOLUTIONS, default=64, param="ph_res"),
    Setting("T", "Sequence length T", "int", T_MIN, T_MAX, default=200, param="ph_T", step=10),
    Setting("seed", "Random seed", "int", 0, 9999, default=0, param=None),
), link_notice, strict=True)


@settings_class(PHASE, kinds={"n_rho": "int"})
class PhaseSettings:
    """Everything one phase diagram depends on (primitives only: the cache key): the settings of `PHASE`."""

    @property
    def rhos(self) -> np.ndarray:
        return np.linspace(self.rho_lo, self.rho_hi, self.n_rho)

    @property
    def work(self) -> int:
        """Multiply-adds the engine counts against MAX_SWEEP_WORK: ρ × seeds × T × H²."""
        return self.n_rho * self.seeds * self.T * self.H * self.H

    @property
    def seconds(self) -> float:
        return self.work * SECONDS_PER_WORK

def check_phase_link() -> list[str]:
    """Once per session, before the widgets exist: the page's link values (`ph_`) a widget cannot take
    are replaced by the nearest valid one, with a notice each (the toggle and the ρ range are left to
    their widgets). Returns the notices."""
    return check_link(PHASE, "ph_", keys.PH_URL_CHECKED, keys.PH_URL_NOTICES, drop_unknown=False)


def sweep_init(init: str) -> tuple[str, str | None]:
    """The init the sweep can use for the sidebar's init, and a note when it had to differ."""
    if init in SWEEP_INITS:
        return init, None
    return "gaussian", (f"The sidebar's **{init}** W_hh is a single fixed matrix, not a family that can be "
                        "rescaled over ρ: the map uses **gaussian** W_hh instead.")

def refusal(s: PhaseSettings) -> str | None:
    """A message when the sweep is too large to run, else None."""
    cap = engine.MAX_SWEEP_WORK
    if s.work <= cap:
        return None
    return (f"This map is too large to compute: {s.n_rho} values of ρ × {s.seeds} seeds × {s.T} steps × "
            f"H² = {s.H}² is {s.work:.3g} multiply-adds, {s.work / cap:.1f}× the limit of {cap:.3g} per "
            "request (the server is shared). Lower H, the number of seeds, the resolution or the sequence "
            "length.")

def phase_controls(cfg: Config) -> tuple[PhaseSettings, list[str]]:
    """Widgets of the page (in the main area) -> (settings, notes to show)."""
    notes: list[str] = []
    init, note = sweep_init(cfg.init)
    act, H = cfg.act, cfg.H
    with st.container(border=True):
        follow = st.toggle(f"Same kind of network as the sidebar: **{INIT_NAMES[init]}** W_hh, **{act}**, "
                           f"**H = {H}**", value=True, key="ph_follow",
                           help="On: the map is for the sidebar's kind of network, so the ★ marker sits on "
                                "it. Off: choose the W_hh init, activation and H for the map here.", **BIND)
        if follow:
            if note:
                notes.append(note)
        else:
            c1, c2, c3 = st.columns(3, gap="medium")
            init = c1.selectbox("W_hh init", SWEEP_INITS, format_func=INIT_NAMES.get, key="ph_init",
                                help="How each random W_hh is drawn before it is rescaled to every ρ.", **BIND)
            act = c2.selectbox("Activation f", ACTIVATIONS, key="ph_act",
                               help="γ = sup|f′|: 1 for tanh, relu, linear; 1/4 for sigmoid.", **BIND)
            H = c3.slider(PHASE["H"].label, 1, H_MAX, PHASE["H"].default, key="ph_H", **BIND)
        d1, d2, d3, d4 = st.columns([5, 3, 3, 3], gap="medium")
        lo, hi = d1.slider("Range of the spectral radius ρ", RHO_MIN, RHO_MAX, (PHASE["rho_lo"].default, PHASE["rho_hi"].default), step=0.05,
                           format="%.2f", key="ph_rho", **BIND)
        n_rho = d2.select_slider(PHASE["n_rho"].label, RESOLUTIONS, value=PHASE["n_rho"].default, key="ph_res",
                                 **BIND)
        T = d3.slider(PHASE["T"].label, T_MIN, T_MAX, PHASE["T"].default, step=PHASE["T"].step, key="ph_T",
                      help="The map shows every distance T − t from 0 to T − 1.", **BIND)
        seeds = d4.slider(PHASE["seeds"].label, 1, SEEDS_MAX, PHASE["seeds"].default, key="ph_seeds",
                          help="Each cell is the mean over this many random W_hh and input sequences.", **BIND)
    lo, hi = round(float(lo), 2), round(float(hi), 2)
    if hi - lo < 0.05:
        hi = min(RHO_MAX, lo + 0.1)
        lo = hi - 0.1
        notes.append(f"The ρ range needs two different ends; showing {lo:.2f} – {hi:.2f}.")
    s = PhaseSettings(init=init, act=act, H=int(H), seeds=int(seeds), rho_lo=round(lo, 2), rho_hi=round(hi, 2),
                      n_rho=int(n_rho), T=int(T), seed=int(cfg.seed))
    if follow:  # the sidebar's H was not chosen for this page: shrink the map to fit instead of refusing
        fitted = fit_to_cap(s)
        if fitted != s:
            notes.append(f"H = {s.H} from the sidebar makes the map heavy: it uses {fitted.seeds} seed(s) per cell "
                         f"and {fitted.n_rho} values of ρ (instead of {s.seeds} and {s.n_rho}) to stay within the "
                         "per-request limit.")
            s = fitted
    return s, notes


def fit_to_cap(s: PhaseSettings) -> PhaseSettings:
    """Fewer seeds, then a coarser ρ grid, until the sweep fits engine.MAX_SWEEP_WORK (or cannot shrink)."""
    cap = engine.MAX_SWEEP_WORK
    while s.work > cap and s.seeds > 1:
        s = replace(s, seeds=max(1, s.seeds // 2))
    while s.work > cap and s.n_rho > RESOLUTIONS[0]:
        s = replace(s, n_rho=max(r for r in RESOLUTIONS if r < s.n_rho))
    return s


@st.cache_data(max_entries=32, show_spinner="Sweeping ρ…")
def run_phase(s: PhaseSettings) -> PhaseMap:
    """The engine's sweep and σ_max bound for `s` (raises ValueError for sizes the engine refuses)."""
    warmup()
    with heavy_slot(s.work):
        ratios, dead = engine.sweep_spectral_radius(s.rhos, s.T, n_hidden=s.H, n_seeds=s.seeds, init=s.init,
                                                    activation=s.act, seed=s.seed, return_dead=True)
    bound = engine.bound_radius(s.init, n_hidden=s.H, activation=s.act, n_seeds=s.seeds, seed=s.seed)
    return PhaseMap(rhos=s.rhos, ratios=np.asarray(ratios), bound=float(bound),
                    gamma=float(engine.activation_gamma(s.act)), init=s.init, activation=s.act,
                    n_hidden=s.H, n_seeds=s.seeds, dead=np.asarray(dead))

@st.cache_data(max_entries=2, show_spinner="Measuring the Lyapunov exponent…")
def run_lyapunov(gains: tuple[float, ...] = LYAP_GAINS, n_hidden: int = LYAP_N, steps: int = LYAP_STEPS,
                 burn_in: int = LYAP_BURN) -> tuple[np.ndarray, np.ndarray]:
    """(gains, largest Lyapunov exponents) of h_{t+1} = tanh(W h_t), W ~ N(0, g²/n)."""
    warmup()
    g = np.asarray(gains, dtype=np.float64)
    return g, engine.lyapunov_curve(g, n_hidden=n_hidden, steps=steps, burn_in=burn_in, seed=0)


@st.cache_resource(max_entries=24, show_spinner=False)
def phase_fig(s: PhaseSettings, marker: tuple[float, int]) -> Spec:
    """The map for `s` with the sidebar network's ★ at `marker` (cached; do not modify)."""
    return shared(phase_figure(run_phase(s), marker=marker))


@st.cache_resource(max_entries=2, show_spinner=False)
def lyapunov_fig() -> Spec:
    """The Lyapunov curve: the same for every view, built once per process (do not modify)."""
    return shared(lyapunov_figure(*run_lyapunov()))
