"""What the Lesson says: each step's text, figure, experiment and question (ui/lesson.py shows them).

Steps 1-7 follow the article; steps 8-11 add what training a recurrent network takes in practice: teacher
forcing, padding and masking, the exploding-gradient cliff with clipping, and truncated BPTT. Every number a
sentence quotes is computed by the engine in tests/test_app_lesson.py (some are measured results kept here as
constants: the tests run the measurement again).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import streamlit as st

import engine
from engine import cliff
from engine.tasks import make_task
from engine.train import batch_gradients
from ui.config import Config
from ui.figures import (
    compare_grad_fig,
    dW_fig,
    figure_cache,
    grad_norm_fig,
    hidden_heatmap_fig,
    params_config,
    unroll_fig,
)
from ui.presets import PRESETS_BY_KEY
from ui.runs import build, compare_config, run_bptt, run_compare
from viz import hidden as vh
from viz.cliff import cliff_figure
from viz.compare import compare_readout, power_text
from viz.gradients import decay_readout
from viz.spec import (
    Spec,
    add_annotation,
    add_scatter,
    add_trace,
    add_vrect,
    bar,
    figure,
    subplots,
    update_layout,
    update_xaxes,
    update_yaxes,
)
from viz.style import BLUE, GREEN, INK, NOTE_BG, PURPLE, VERMILION, log_axis, log_range, positive, style
from viz.train import arrangement_figure


@dataclass(frozen=True)
class Question:
    """Predict, then reveal: `options[answer]` is right, `why` explains it (Markdown)."""

    prompt: str
    options: tuple[str, ...]
    answer: int
    why: str


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    text: str                                   # Markdown, a few sentences
    figure: Callable[..., Spec]                 # figure(config, **the step's widget values)
    caption: str                                # what the figure shows
    try_title: str                              # what the "Try this" settings are
    try_config: Config | None                   # sidebar settings it loads (None: the sidebar stays as it is)
    look_for: str                               # what to look for once they are loaded
    question: Question
    equations: tuple[str, ...] = ()             # LaTeX, shown under the text
    readout: Callable[..., str] | None = None   # one live line: readout(config, **the step's widget values)
    static_figure: bool = False                 # a diagram: no zoom or hover
    controls: Callable[[], dict] | None = None  # the step's own widgets, drawn above the figure: their values
    try_widgets: tuple[tuple[str, Any], ...] = ()   # values "Try this" gives those widgets (session-state keys)
    sidebar: str = "all"                        # what of the sidebar the figure uses: "all", "weights" or "none"


# --------------------------------------------------------------------------- figures and readouts

def _units(H: int) -> tuple[int, ...]:
    return tuple(range(1, min(H, 4) + 1))


@figure_cache
def units_fig(cfg: Config) -> Spec:
    """The first (up to) four units of h_t over time."""
    units = _units(cfg.H)
    fig = vh.unit_trajectories(run_bptt(cfg).h, units)
    fig["layout"]["title"]["text"] = (f"The first {len(units)} units of h_t over time" if len(units) > 1
                                      else "Unit 1 of h_t over time")
    return fig


def arrangement_of(cfg: Config) -> str:
    """The sidebar's network as an input/output arrangement: the loss decides it."""
    return "many-to-one" if cfg.loss == "last" else "many-to-many"


@figure_cache
def _arrangement(arrangement: str) -> Spec:
    return arrangement_figure(arrangement, height=300)


def arrangement_fig(cfg: Config) -> Spec:
    return _arrangement(arrangement_of(cfg))


def lesson_compare_fig(cfg: Config) -> Spec:
    return compare_grad_fig(compare_config(cfg))


def _norm_text(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else "too large to represent"


def memory_readout(cfg: Config) -> str:
    h = run_bptt(cfg).h_norm
    t_mid = min(10, cfg.T)
    picks = sorted({1, t_mid, cfg.T})
    parts = [f"‖h_{t}‖ = {_norm_text(float(h[t - 1]))}" for t in picks]
    return "In the sidebar's network now: " + ", ".join(parts) + "."


def n_parameters(cfg: Config) -> int:
    """How many numbers the network learns (independent of T)."""
    params, _, _ = build(replace(cfg, T=1))
    return int(sum(a.size for a in params.arrays().values()))


def torch_parameters(cfg: Config) -> int:
    """How many numbers PyTorch's module for the same cell holds (its state dict plus the read-out)."""
    params, _, _ = build(replace(cfg, T=1))
    return int(sum(np.size(v) for v in engine.params_to_state_dict(params).values()))


def parameter_readout(cfg: Config) -> str:
    text = (f"The network in the sidebar has {n_parameters(cfg):,} parameters, whether T is 1 or 1000 "
            f"(now T = {cfg.T}).")
    if cfg.cell == "rnn":
        return text
    extra = torch_parameters(cfg) - n_parameters(cfg)
    name = "nn.LSTM" if cfg.cell == "lstm" else "nn.GRU"
    why = ("only their sum acts, so this lab keeps one" if cfg.cell == "lstm" else
           "only their sum acts, so this lab keeps one, except for the candidate's recurrent bias b_hn, "
           "which r_t multiplies")
    return text + (f" PyTorch's {name}, with the same linear read-out, counts {extra:,} more: it keeps two bias vectors "
                   f"per weight block, b_ih and b_hh, and {why}.")


def dW_readout(cfg: Config) -> str:
    d = np.asarray(run_bptt(cfg).dW_hh_step_norm, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    if not ok.any():
        return "In the sidebar's network now no step has a finite, non-zero term (see the chart's note)."
    top = int(np.argmax(np.where(ok, d, -np.inf)))
    text = f"In the sidebar's network now the largest term is at step t = {top + 1} of {cfg.T}"
    if cfg.T >= 2 and ok[1] and top != 1:
        text += f"; step 2's term is {power_text(float(np.log10(d[1] / d[top])))} of it"
    return text + "."


def gradient_readout(cfg: Config) -> str:
    return "In the sidebar's network now: " + decay_readout(run_bptt(cfg).grad_h_norm)


def compare_lesson_readout(cfg: Config) -> str:
    runs = run_compare(compare_config(cfg))
    return ("In the sidebar's network now, " +
            compare_readout({c: r.grad_h_norm for c, r in runs.items()},
                            {c: r.overflow_step for c, r in runs.items()}) + ".")



# --------------------------------------------------------------------------- steps 8-11: training in practice

# Teacher forcing vs free-running, MEASURED with the engine (tests/test_app_lesson.py trains it again, slow):
# `python -m engine.train --task reverse --cell lstm --steps 600` (T = 10, 8 symbols, H = 32, Adam 1e-2, B = 32,
# seed 0), scored on the 500 test sequences: the share of right symbols at each output position j.
REVERSAL_UPDATES = 600
TEACHER_FORCED = (0.940, 0.956, 0.930, 0.922, 0.902, 0.890, 0.850, 0.804, 0.802, 0.868)
FREE_RUNNING = (0.940, 0.898, 0.862, 0.822, 0.772, 0.736, 0.704, 0.582, 0.526, 0.546)
WHOLE_SEQUENCES = 0.242           # entirely right, teacher-forced and free-running alike
TF_VIEWS = {"symbols": "each output position", "sequences": "whole sequences"}


def _widget_defaults(**values) -> None:
    """Start values of a step's widgets, through the session state only ("Try this" writes the same keys, and a
    widget given both a value and a session-state entry warns)."""
    for k, v in values.items():
        st.session_state.setdefault(k, v)


def teacher_fig(cfg: Config, view: str = "symbols") -> Spec:
    return _teacher_fig(view)


@figure_cache
def _teacher_fig(view: str) -> Spec:
    tf, fr = np.array(TEACHER_FORCED), np.array(FREE_RUNNING)
    fig = figure()
    if view == "sequences":
        names = ["teacher-forced (true previous symbols)", "free-running (its own previous outputs)"]
        add_trace(fig, bar(x=names, y=[WHOLE_SEQUENCES, WHOLE_SEQUENCES], marker=dict(color=[BLUE, VERMILION]),
                           text=[f"{WHOLE_SEQUENCES:.1%}"] * 2, textposition="outside", showlegend=False,
                           hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
        style(fig, "Reversal: test sequences with all 10 symbols right", "", "share of the 500 test sequences",
              height=420)
        return update_yaxes(fig, range=[0, 1], tickformat=".0%")
    j = np.arange(1, tf.size + 1)
    add_scatter(fig, x=j, y=tf, mode="lines+markers", name=f"teacher-forced: {tf.mean():.2f} of all symbols",
                line=dict(color=BLUE, width=3), marker=dict(size=9, symbol="circle"))
    add_scatter(fig, x=j, y=fr, mode="lines+markers", name=f"free-running (greedy): {fr.mean():.2f}",
                line=dict(color=VERMILION, width=3, dash="dash"), marker=dict(size=9, symbol="diamond"))
    style(fig, f"Reversal, LSTM after {REVERSAL_UPDATES} updates: right symbols at each output position",
          "output position j (j = 1 writes the last input symbol)", "share right (500 test sequences)",
          height=420, legend_below=True)
    update_xaxes(fig, dtick=1)
    return update_yaxes(fig, range=[0.4, 1.0], tickformat=".0%")


def teacher_controls() -> dict:
    _widget_defaults(lesson_tf_view="symbols")
    view = st.segmented_control("Count", tuple(TF_VIEWS), key="lesson_tf_view",
                                format_func=TF_VIEWS.get, help="Score each symbol, or only sequences right to the end.")
    return {"view": view or "symbols"}


LENGTH_TASKS = {"vowels": "Japanese Vowels (7–29 frames)", "longrange": "long-range label (25–50 steps)"}
N_SHOWN = 4                                   # sequences drawn
LENGTH_COLORS = (BLUE, VERMILION, GREEN, PURPLE)


def _net_state(cfg: Config, n_in: int, n_out: int) -> dict:
    """The sidebar's network (cell, H, init, ρ, units, gate biases, seed), untrained, for a task's sizes."""
    p = engine.init_params(n_in, cfg.H, n_out, init=cfg.init, spectral_radius=cfg.rho, activation=cfg.act,
                           output="softmax", seed=cfg.seed, cell=cfg.cell, forget_bias=cfg.fb, update_bias=cfg.zb)
    return engine.params_to_state_dict(p)


def shown_sequences(task) -> np.ndarray:
    """Rows of the train split to draw: the shortest, the longest and two between (distinct lengths)."""
    ln = task.len_train
    order = np.argsort(ln, kind="stable")
    picks = [order[int(round(q * (ln.size - 1)))] for q in np.linspace(0, 1, N_SHOWN)]
    return np.array(sorted(picks, key=lambda i: ln[i]))


@dataclass(frozen=True)
class PaddedRun:
    """Each shown sequence alone through the batched code, padded to the task's T: lengths (n,) and
    grad_h_norm (n, T)."""

    task: str
    T: int
    lengths: np.ndarray
    grad_h_norm: np.ndarray


@st.cache_data(max_entries=16, show_spinner=False)
def run_padded(task_name: str, cfg: Config) -> PaddedRun:
    task = make_task(task_name, seed=0)
    sd = _net_state(cfg, task.n_in, task.n_out)
    rows = shown_sequences(task)
    T = task.x_train.shape[1]
    kw = dict(cell=cfg.cell, activation=cfg.act, output="softmax", loss="last")
    norms = [batch_gradients(sd, task.x_train[i:i + 1], task.y_train[i:i + 1], task.len_train[i:i + 1], **kw).grad_h_norm
             for i in rows]
    return PaddedRun(task_name, T, task.len_train[rows].copy(), np.array(norms))


def lengths_fig(cfg: Config, task: str = "vowels") -> Spec:
    run = run_padded(task, params_config(cfg))
    return _lengths_fig(run)


def _lengths_fig(run: PaddedRun) -> Spec:
    T = run.T
    t = np.arange(1, T + 1)
    fig = subplots(2, vertical_spacing=0.14, titles=(
        "The batch: real steps (colour), padding (grey); ◆ last real step, where the loss is read",
        "‖∂L/∂h_t‖: solid over real steps, dotted over the padding"))
    for k, (n, g) in enumerate(zip(run.lengths, run.grad_h_norm)):
        c = LENGTH_COLORS[k % len(LENGTH_COLORS)]
        name = f"length {n}"
        add_scatter(fig, row=1, x=t[:n], y=np.full(n, k + 1), mode="lines", line=dict(color=c, width=14),
                    name=name, legendgroup=name, showlegend=False, hoverinfo="skip")
        if n < T:
            add_scatter(fig, row=1, x=t[n - 1:], y=np.full(T - n + 1, k + 1), mode="lines",
                        line=dict(color="#c8c8c8", width=14), showlegend=False, hoverinfo="skip")
        add_scatter(fig, row=1, x=[n], y=[k + 1], mode="markers", marker=dict(symbol="diamond", size=14, color=c,
                    line=dict(color=INK, width=1.5)), showlegend=False, hovertemplate=f"{name}: loss at step {n}"
                    "<extra></extra>")
        gv = positive(g)
        add_scatter(fig, row=2, x=t[:n], y=gv[:n], mode="lines+markers", name=name, legendgroup=name,
                    line=dict(color=c, width=3), marker=dict(size=5, color=c),
                    hovertemplate="t = %{x}<br>‖∂L/∂h_t‖ = %{y:.3g}<extra>" + name + "</extra>")
        if n < T:
            add_scatter(fig, row=2, x=t[n - 1:], y=gv[n - 1:], mode="lines", legendgroup=name, showlegend=False,
                        line=dict(color=c, width=3, dash="dot"), hovertemplate="t = %{x} (padding)<br>"
                        "‖∂L/∂h_t‖ = %{y:.3g}<extra>" + name + "</extra>")
    title = f"{LENGTH_TASKS[run.task].split(' (')[0]}: {len(run.lengths)} sequences padded to T = {T}"
    style(fig, title, "step t", "", height=640)
    update_layout(fig, showlegend=False, margin=dict(t=90))
    update_xaxes(fig, row=1, title=dict(text=""))
    update_yaxes(fig, row=1, tickvals=list(range(1, len(run.lengths) + 1)),
                 ticktext=[f"length {n}" for n in run.lengths], range=[0.4, len(run.lengths) + 0.6],
                 title=dict(text=""), showgrid=False)
    log_axis(fig, log_range(run.grad_h_norm), row=2)
    update_yaxes(fig, row=2, title=dict(text="‖∂L/∂h_t‖ (log scale)"))
    return update_xaxes(fig, range=[0.5, T + 0.5])


def lengths_controls() -> dict:
    _widget_defaults(lesson_len_task="vowels")
    task = st.segmented_control("Task", tuple(LENGTH_TASKS), key="lesson_len_task",
                                format_func=LENGTH_TASKS.get, help="Both read their answer at each sequence's last real step.")
    return {"task": task or "vowels"}


def lengths_readout(cfg: Config, task: str = "vowels") -> str:
    run = run_padded(task, params_config(cfg))
    same = all(np.all(g[n - 1:] == g[n - 1]) for n, g in zip(run.lengths, run.grad_h_norm))
    parts = [f"{power_text(float(np.log10(g[0] / g[n - 1])))} (length {n})"
             for n, g in zip(run.lengths, run.grad_h_norm) if g[0] > 0 and g[n - 1] > 0 and np.isfinite(g).all()]
    text = ("In the sidebar's network now, untrained: the gradient at every padded step "
            + ("equals the one at the sequence's last real step, to the last bit" if same else
               "differs from the one at the last real step") + ".")
    if parts:
        text += " From the last real step back to step 1 it changes by " + ", ".join(parts) + "."
    return text


CLIFF_LR = (0.005, 0.01, 0.02, 0.05)
CLIFF_CLIP = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
CLIFF_STEPS = 80
CLIFF_DEFAULTS = {"lr": 0.01, "clip": 20.0, "w0": 8.0, "b0": -2.0}
CLIFF_VIEW = ((0.0, 10.0), (-8.0, 2.0))


@st.cache_data(max_entries=1, show_spinner=False)
def _surface() -> cliff.CliffSurface:
    return cliff.cliff_surface(*CLIFF_VIEW, n=161)


@st.cache_data(max_entries=64, show_spinner=False)
def cliff_paths(lr: float, clip: float, w0: float, b0: float) -> tuple[cliff.CliffPath, cliff.CliffPath]:
    plain_ = cliff.descend((w0, b0), lr=lr, steps=CLIFF_STEPS)
    return plain_, cliff.descend((w0, b0), lr=lr, steps=CLIFF_STEPS, clip=clip)


def cliff_fig(cfg: Config, lr: float = 0.01, clip: float = 20.0, w0: float = 8.0, b0: float = -2.0) -> Spec:
    return _cliff_fig(lr, clip, w0, b0)


@figure_cache
def _cliff_fig(lr: float, clip: float, w0: float, b0: float) -> Spec:
    s = _surface()
    p, q = cliff_paths(lr, clip, w0, b0)
    # the wall: where h_0 is the map's unstable fixed point, h_0 = w sigma(h_0) + b (labelled at w = 9)
    wall = (9.0, cliff.H0 - 9.0 / (1.0 + math.exp(-cliff.H0)))
    return cliff_figure(s.w, s.b, s.loss, {"plain": p.points, "clipped": q.points}, wall=wall,
                        names={"plain": "plain gradient descent", "clipped": f"clipped: ‖g‖ ≤ θ = {clip:g}"},
                        title=f"One unit, T = {cliff.T_STEPS}: loss (h_T − 0)² over (w, b), {CLIFF_STEPS} updates "
                              f"at lr = {lr:g}")


def cliff_controls() -> dict:
    _widget_defaults(**{f"lesson_cliff_{k}": v for k, v in CLIFF_DEFAULTS.items()})
    c1, c2, c3, c4 = st.columns(4)
    lr = c1.select_slider("Learning rate", CLIFF_LR, key="lesson_cliff_lr")
    clip = c2.select_slider("Clipping threshold θ", CLIFF_CLIP, key="lesson_cliff_clip",
                            help="The clipped path rescales g to length θ whenever ‖g‖ > θ.")
    w0 = c3.slider("Start: w", 0.0, 10.0, step=0.5, key="lesson_cliff_w0")
    b0 = c4.slider("Start: b", -8.0, 2.0, step=0.5, key="lesson_cliff_b0")
    return {"lr": float(lr), "clip": float(clip), "w0": float(w0), "b0": float(b0)}


def cliff_readout(cfg: Config, lr: float = 0.01, clip: float = 20.0, w0: float = 8.0, b0: float = -2.0) -> str:
    p, q = cliff_paths(lr, clip, w0, b0)
    k = int(np.argmax(p.step_lengths))
    text = (f"Plain: the longest step is {p.step_lengths[k]:.3g} (update {k + 1}, ‖g‖ = {p.grad_norm[k]:.3g}), "
            f"loss after {CLIFF_STEPS} updates {p.loss[-1]:.3g}. Clipped: {int(q.clipped.sum())} of {CLIFF_STEPS} "
            f"updates clipped, no step longer than lr·θ = {lr * clip:.3g}, loss {q.loss[-1]:.3g}.")
    sg = cliff.state_gradients(w0, b0)
    g0 = float(np.hypot(sg.grad_w, sg.grad_b))
    if sg.delta[-1] != 0 and sg.delta[0] != 0:
        reach = power_text(float(np.log10(abs(sg.delta[0] / sg.delta[-1]))))
        text += (f" At the start the loss reaches h_0 scaled by {reach} (∂L/∂h_0 against ∂L/∂h_T), and ‖g‖ = "
                 f"{g0:.3g} " + ("≤ θ: clipping leaves this gradient exactly as it is." if g0 <= clip else
                                 "> θ: clipping shortens it, and every step's share by the same factor."))
    return text


TRUNC_T = 50
TRUNC_K2 = (5, 10, 20, 30, 40, 49, 50)
TRUNC_ROWS = 32


@dataclass(frozen=True)
class TruncRun:
    full: np.ndarray        # (T,) ‖∂L/∂h_t‖, full BPTT
    cut: np.ndarray         # (T,) with truncate=(k2, k2)
    k2: int


@st.cache_data(max_entries=32, show_spinner=False)
def run_truncated(cfg: Config, k2: int) -> TruncRun:
    task = make_task("longrange", seq_len=TRUNC_T, min_len=TRUNC_T, seed=0)
    sd = _net_state(cfg, task.n_in, task.n_out)
    x, y, n = task.x_test[:TRUNC_ROWS], task.y_test[:TRUNC_ROWS], task.len_test[:TRUNC_ROWS]
    kw = dict(cell=cfg.cell, activation=cfg.act, output="softmax", loss="last")
    full = batch_gradients(sd, x, y, n, **kw).grad_h_norm
    cut = batch_gradients(sd, x, y, n, truncate=(k2, k2), **kw).grad_h_norm
    return TruncRun(full, cut, k2)


def trunc_fig(cfg: Config, k2: int = 20) -> Spec:
    return _trunc_fig(run_truncated(params_config(cfg), k2))


def _trunc_fig(run: TruncRun) -> Spec:
    T = run.full.size
    t = np.arange(1, T + 1)
    fig = figure()
    zero = int(np.sum(run.cut == 0))
    yr = log_range(run.full, run.cut)
    if zero:
        add_vrect(fig, 0.5, zero + 0.5, fillcolor="rgba(140,140,140,0.18)", line=dict(width=0), layer="below")
        add_annotation(fig, x=(zero + 1) / 2, y=0.04, xref="x", yref="paper", showarrow=False,
                       text=f"truncated: exactly 0<br>at steps 1–{zero}", font=dict(size=15, color=INK),
                       bgcolor=NOTE_BG)
    add_scatter(fig, x=t, y=positive(run.full), mode="lines+markers", name="full BPTT",
                line=dict(color=BLUE, width=3), marker=dict(size=5))
    add_scatter(fig, x=t, y=positive(run.cut), mode="lines+markers", name=f"truncated, k₁ = k₂ = {run.k2}",
                line=dict(color=VERMILION, width=3, dash="dash"), marker=dict(size=6, symbol="diamond"))
    if run.full[0] > 0 and np.isfinite(run.full[0]):
        add_annotation(fig, x=1, y=float(np.log10(run.full[0])), xref="x", yref="y", showarrow=True, ax=50, ay=-45,
                       arrowcolor=INK, text="the label's step", font=dict(size=15, color=INK), bgcolor=NOTE_BG)
    style(fig, f"Long-range task, T = {T}: the gradient reaching each step from the loss at step {T}",
          "step t (the label is at t = 1)", "‖∂L/∂h_t‖ (log scale)", height=440, legend_below=True)
    log_axis(fig, yr)
    return update_xaxes(fig, range=[0.5, T + 0.5])


def trunc_controls() -> dict:
    _widget_defaults(lesson_trunc_k2=20)
    k2 = st.select_slider("Truncation k₂ (and k₁): steps back from each chunk's end", TRUNC_K2, key="lesson_trunc_k2")
    return {"k2": int(k2)}


def trunc_readout(cfg: Config, k2: int = 20) -> str:
    run = run_truncated(params_config(cfg), k2)
    zero = int(np.sum(run.cut == 0))
    text = f"In the sidebar's network now, untrained, with k₂ = {k2}: "
    text += (f"steps 1–{zero} get exactly 0, so nothing of the loss reaches the label; " if zero else
             "every step gets a gradient (k₂ covers the whole sequence); ")
    f = run.full
    if f[0] > 0 and f[-1] > 0 and np.isfinite(f).all():
        text += f"full BPTT brings {power_text(float(np.log10(f[0] / f[-1])))} of ‖∂L/∂h_{TRUNC_T}‖ to step 1."
    else:
        text += "full BPTT brings no finite, non-zero gradient to step 1."
    return text


# Numbers the text of steps 9-11 quotes (tests/test_app_lesson.py computes each with the engine).
LENGTHS_SHORTEST, LENGTHS_T = 7, 29                 # the shortest vowel recording in the train split, and T
CLIFF_WALL_UPDATE = 23                              # the plain path from the default start hits the wall here
CLIFF_WALL_NORM, CLIFF_WALL_JUMP, CLIFF_WALL_LANDING = "3,449", "34.5", "(−12.0, −32.7)"
CLIFF_START_LOSS, CLIFF_PLAIN_LOSS, CLIFF_CLIPPED_LOSS = "35.8", "107", "2.7"
CLIFF_VANISHED = "10^{-19.1}"                       # ∂L/∂h_0 / ∂L/∂h_T at (w, b) = (2, 1)
TRUNC_FULL_RNN, TRUNC_FULL_LSTM = "$10^{-6.9}$", "$10^{-0.3}$"   # ‖∂L/∂h_1‖ / ‖∂L/∂h_50‖, full BPTT
TRUNC_UPDATES, TRUNC_ACC_FULL, TRUNC_ACC_CUT = 400, "1.00", "0.51"   # measured (slow test)


# --------------------------------------------------------------------------- the steps

STEPS: tuple[Step, ...] = (
    Step(
        key="recurrence",
        title="The recurrence: a state carried from step to step",
        text=(
            "A feed-forward network takes its whole input at once. A recurrent network reads a sequence one "
            "element at a time and carries a **hidden state** $h_t$ along: a vector of $H$ numbers that sums up "
            "what it has read so far. Each step takes the new input $x_t$ *and its own previous state* "
            "$h_{t-1}$, and that arrow from the cell back into itself, the self-loop, is what gives the network "
            "its memory. The output $y_t$ is read off the new state. The state starts at $h_0 = 0$; $f$ is a "
            "squashing function such as tanh, and $g$ turns the state into the answer (a number, or class "
            "probabilities)."),
        equations=(r"h_t = f\left(W_{hx}\,x_t + W_{hh}\,h_{t-1} + b_h\right)",
                   r"y_t = g\left(W_{hy}\,h_t + b_y\right)"),
        figure=units_fig,
        caption="Each line is one unit of h_t, the network's memory, at every step of the sequence.",
        try_title="A single pulse: input only at t = 1, then silence (T = 40, ρ = 0.9, tanh).",
        try_config=Config(T=40, signal="pulse"),
        look_for="After t = 1 nothing comes in, yet the units keep moving and fade only slowly: that "
                 "after-image is the memory that $W_{hh}\\,h_{t-1}$ carries forward.",
        question=Question(
            prompt="After the pulse at t = 1 every input is zero. What does the hidden state do?",
            options=("It is zero from t = 2 on: no input, no state.",
                     "It fades gradually over dozens of steps.",
                     "It stays exactly as it was after the pulse."),
            answer=1,
            why=("From $t = 2$ on, the only thing feeding $h_t$ is $W_{hh}\\,h_{t-1}$, and with $\\rho = 0.9$ "
                 "each step shrinks it a little. In this network $\\lVert h_{10}\\rVert$ is about 10 % of "
                 "$\\lVert h_1\\rVert$, and $\\lVert h_{40}\\rVert$ still about 0.4 %. With $\\rho = 0$ "
                 "this gaussian $W_{hh}$ is scaled to zero (no self-loop) and the state is exactly zero from "
                 "$t = 2$: no loop, no memory. A zero $\\rho$ alone does not make $W_{hh}$ zero: the "
                 "non-normal init at $\\rho = 0$ is 5 times a shift matrix, all of whose eigenvalues are 0. "
                 "It moves the state along by one unit per step and multiplies it by 5, so with linear units "
                 "a pulse grows about 5 times per step until it is shifted out: the state is exactly zero "
                 "from $t = H + 1$. "
                 "It would stay exactly as it was only if $W_{hh}$ copied it unchanged, as the identity "
                 "matrix with ReLU units does (the IRNN preset)."),
        ),
        readout=memory_readout,
    ),
    Step(
        key="unrolling",
        title="Unrolling: one cell, copied along time",
        text=(
            "To follow information through time, redraw the loop as a chain: one copy of the cell per time "
            "step, each handing its state to the next. A sequence of length $T$ becomes a network $T$ layers "
            "deep. Unlike the layers of a deep feed-forward network, the copies are **not** independent: every "
            "one of them uses the same $W_{hx}$, $W_{hh}$ and $W_{hy}$ as the others. Sharing the weights is what "
            "lets one network read sequences of any length, and it keeps the number of parameters fixed, "
            "however long the sequence."),
        figure=unroll_fig,
        caption="The unrolled network: one column per time step. Press ▶ Play for the forward pass, then the "
                "gradient flowing back.",
        try_title="A short chain: T = 8 steps, H = 8 hidden units.",
        try_config=Config(T=8, H=8),
        look_for="Eight copies of one cell, with the same three coloured arrows in each: green $W_{hx}$ brings "
                 "the input in, blue $W_{hh}$ carries the state on, orange $W_{hy}$ reads it out.",
        question=Question(
            prompt="The sequence grows from T = 8 to T = 80 steps. How many numbers must the network learn now?",
            options=("Ten times as many: one set of weights per step.",
                     "Exactly as many as before.",
                     "72 more: one extra weight per extra step."),
            answer=1,
            why=("The weights do not depend on $T$. With $H = 8$, one input and one output, $W_{hx}$ holds 8 "
                 "numbers, $W_{hh}$ 64, $b_h$ 8, $W_{hy}$ 8 and $b_y$ 1: **89 in all**, for 8 steps or for 800. "
                 "A longer sequence costs more time, not more parameters."),
        ),
        readout=parameter_readout,
    ),
    Step(
        key="bptt",
        title="Backpropagation through time (BPTT)",
        text=(
            "Training needs to know how each weight should change to lower the loss $L$. On the unrolled chain "
            "this is ordinary backpropagation, called **backpropagation through time**: the derivative starts "
            "at the loss and is handed back one step at a time, and each step multiplies it by its Jacobian "
            "$\\operatorname{diag}(f'(a_t))\\,W_{hh}$, where $a_t$ is the sum inside $f$. Because every copy "
            "shares $W_{hh}$, each step contributes a term of its own to $\\partial L/\\partial W_{hh}$, and the "
            "weight gradient is the **sum** of those terms."),
        equations=(r"\frac{\partial L}{\partial h_{t-1}} = W_{hh}^{\top}\left(f'(a_t) \odot "
                   r"\frac{\partial L}{\partial h_t}\right) \;+\; \text{(the loss at step } t-1\text{, if any)}",
                   r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \left(f'(a_t) \odot "
                   r"\frac{\partial L}{\partial h_t}\right) h_{t-1}^{\top}"),
        figure=dW_fig,
        caption="One bar per step: the size of that step's term in ∂L/∂W_hh, on a log scale.",
        try_title="A shorter sequence, T = 30, with the loss on the last step.",
        try_config=Config(T=30),
        look_for="The tallest bar is at the last step, next to the loss. Going left, almost every bar is "
                 "smaller than the one after it: the gradient loses a roughly constant factor per step.",
        question=Question(
            prompt="The loss sits on the last step only. Which step's term is the largest part of ∂L/∂W_hh?",
            options=("Step 1: every later step depends on it.",
                     "The last step, t = T, next to the loss.",
                     "All steps equally: the weights are shared."),
            answer=1,
            why=("The gradient reaches step $t$ only after passing back through the $T - t$ steps between it "
                 "and the loss, and here each of them shrinks it. In this network the term of step 30 is the "
                 "largest and the term of step 2 is about $10^{-6.9}$ of it (step 1's term is exactly zero: "
                 "it multiplies $h_0 = 0$). Shared weights mean the terms are *added*, not that they are equal."),
        ),
        readout=dW_readout,
    ),
    Step(
        key="vanishing",
        title="Vanishing and exploding gradients, and the spectrum of $W_{hh}$",
        text=(
            "Going back from the loss at step $T$ to step $k$ multiplies the gradient by $T - k$ Jacobians "
            "(transposed, from $J_T$ back to $J_{k+1}$), and a product of many similar factors behaves like a "
            "power. If every factor shrinks vectors, the gradient **vanishes** geometrically; if they stretch "
            "them, it **can explode**, but need not. For linear units every factor is $W_{hh}$, and its "
            "spectral radius $\\rho$ (largest $|\\lambda|$) is the factor per step in the long run. With tanh "
            "each step also multiplies by $f'(a_t)$, which saturation pulls below 1: at the defaults "
            "($\\rho = 0.9$, $f'$ = 0.70 on average along the run) the gradient shrinks by about 0.59 per "
            "step, $10^{-22.8}$ over 99 steps, where $\\rho^{99}$ alone would give $10^{-4.5}$. The long-run "
            "rate of a nonlinear network is a Lyapunov exponent of the path its state takes (the Phase "
            "diagram page computes it for networks with no input).\n\n"
            "The second formula, for a loss at step $T$ only, bounds every step by $\\gamma\\,\\sigma_{\\max}$, "
            "with $\\sigma_{\\max}$ the largest singular value of $W_{hh}$ and $\\gamma = \\sup|f'|$. Below 1 "
            "it guarantees vanishing; at 1 or above it guarantees nothing. The defaults have "
            "$\\gamma\\,\\sigma_{\\max} = 1.35$: the bound allows $10^{+12.8}$ over 99 steps, and the gradient "
            "falls $10^{-22.8}$. So almost nothing of the loss at step 100 reaches step 1, and the network has "
            "great difficulty learning that something early mattered."),
        equations=(r"\frac{\partial L}{\partial h_k} = J_{k+1}^{\top} J_{k+2}^{\top} \cdots J_T^{\top}\,"
                   r"\frac{\partial L}{\partial h_T},\qquad J_t = \frac{\partial h_t}{\partial h_{t-1}} = "
                   r"\operatorname{diag}\big(f'(a_t)\big)\,W_{hh}",
                   r"\left\lVert\frac{\partial L}{\partial h_k}\right\rVert \le (\gamma\,\sigma_{\max})^{T-k}"
                   r"\left\lVert\frac{\partial L}{\partial h_T}\right\rVert"),
        figure=grad_norm_fig,
        caption="‖∂L/∂h_t‖ on a log axis, with the two rates drawn from the spectrum of W_hh. Press ▶ Play to "
                "watch it travel back from t = T.",
        try_title="Exploding: linear units (f′ = 1) and ρ = 1.2.",
        try_config=PRESETS_BY_KEY["exploding"].config,
        look_for="The blue line now climbs from right to left: the gradient grows on its way back, close to "
                 "the dotted $\\rho^{T-t}$ line. With the defaults it fell instead.",
        question=Question(
            prompt="Linear units, ρ = 1.2, T = 100: how does ‖∂L/∂h_1‖ compare with ‖∂L/∂h_100‖?",
            options=("It has all but vanished: below a millionth of it.",
                     "About the same size.",
                     "More than a million times larger."),
            answer=2,
            why=("With linear units each step back multiplies by $W_{hh}^{\\top}$ alone, and its largest "
                 "eigenvalue has modulus 1.2. Over 99 steps that compounds: in this network "
                 "$\\lVert\\partial L/\\partial h_1\\rVert$ is $10^{+6.5}$ times "
                 "$\\lVert\\partial L/\\partial h_{100}\\rVert$, a little under $1.2^{99} \\approx 10^{7.8}$: "
                 "only the part of $\\partial L/\\partial h_{100}$ along that eigenvalue's eigenvector grows by "
                 "1.2 per step, and here that part is $10^{-1.3}$ of its norm. With the default tanh and "
                 "$\\rho = 0.9$ the same ratio is $10^{-22.8}$. Exploding gradients make training jump (clipping "
                 "the gradient's norm tames them); vanishing ones are quieter and worse: the long-range link "
                 "gets almost no training signal."),
        ),
        readout=gradient_readout,
    ),
    Step(
        key="arrangements",
        title="Any length, four arrangements",
        text=(
            "Nothing in the cell fixes $T$: the lab's *T* slider runs the very same weights on 1 step or on "
            "1000, and a batch can mix sequences of different lengths, each ending at its own last step. "
            "What changes from task to task is where inputs go in and where outputs (and losses) come out:\n"
            "- **one-to-many**: one input, a sequence out (a caption from one image vector, music from a seed);\n"
            "- **many-to-one**: a whole sequence in, one answer at the end (the sentiment of a review);\n"
            "- **many-to-many, aligned**: an output at every step (a tag for every word, a forecast for every "
            "time step);\n"
            "- **encoder–decoder**: read the whole input first, then write an output of its own length "
            "(translation).\n\n"
            "The sidebar's network is many-to-one while the loss is on the last step only, and aligned "
            "many-to-many when it is on every step."),
        figure=arrangement_fig,
        caption="The arrangement of the sidebar's network: which steps take an input (below) and which give "
                "an output and a loss (above).",
        try_title="A loss at every step (aligned many-to-many), T = 100.",
        try_config=Config(loss="all"),
        look_for="The diagram turns from many-to-one into many-to-many: every step now has an output and a "
                 "loss above it.",
        question=Question(
            prompt="With a loss at every step, how large is the gradient reaching step 1, compared with the "
                   "one at step T?",
            options=("Still vanishing, about $10^{-23}$ of it, as with one loss at the end.",
                     "About the same size.",
                     "Exactly zero."),
            answer=1,
            why=("Step 1 now has a loss of its own, so $\\partial L/\\partial h_1$ gets a direct term that "
                 "travels through no other step: in this network $\\lVert\\partial L/\\partial h_1\\rVert$ is "
                 "$10^{+0.6}$ times $\\lVert\\partial L/\\partial h_{100}\\rVert$. But the part of it that comes "
                 "from the loss at step 100 still passes back through the same 99 Jacobians as with one loss "
                 "at the end: their product $\\lVert\\partial h_{100}/\\partial h_1\\rVert$ is $10^{-21.7}$ "
                 "in both networks. A large gradient at step 1 is not the same as learning a long-range "
                 "link."),
        ),
        readout=gradient_readout,
        static_figure=True,
    ),
    Step(
        key="gated",
        title="LSTM and GRU: a path that keeps the gradient",
        text=(
            "The gated cells change the step itself. The **LSTM** keeps a second state, the cell state $c_t$, "
            "updated by *addition*. Along the direct edge from $c_t$ back to $c_{t-1}$ the gradient is "
            "multiplied only by the forget gate $f_t$ (between 0 and 1, one per unit), not by $W_{hh}$ and "
            "$f'$. That edge is not the whole story: the gates read $h_{t-1}$ through $W_{hh}$, so "
            "$\\partial L/\\partial c_{t-1}$ also gets terms through $h_{t-1}$, and an LSTM can still vanish or "
            "explode (with the non-normal init at $\\rho = 3$, forget-gate bias 5 and no input, its "
            "$\\lVert\\partial L/\\partial h_1\\rVert$ is $10^{+44.3}$ times $\\lVert\\partial L/\\partial h_{100}\\rVert$). "
            "The **GRU** has one state, two gates (reset $r_t$ and update $z_t$) and a candidate $n_t$: where "
            "$z_t \\approx 1$ it copies the state, and the gradient, unchanged. Here, as in PyTorch and Cho et "
            "al. (2014), $z_t$ weighs the old state; Chung et al. (2014) swap $z_t$ and $1 - z_t$. The gates "
            "are learned, so the network decides for each unit and step what to keep.\n\n"
            "**When to prefer them.** A vanilla RNN is enough for memories of a few to a few dozen steps, and "
            "it is the smallest and fastest. When the answer depends on something far back (long texts, long "
            "recordings, slow seasons), use a gated cell. The LSTM has three gates and a candidate, four "
            "weight blocks; the GRU's two gates and candidate make three, so it is lighter; the LSTM's "
            "separate cell state gives it finer control over writing, keeping and reading. A forget-gate bias "
            "of 1 (this lab's default; PyTorch starts it at 0) is a mild help (Gers et al. 2000; Jozefowicz et "
            "al. 2015): with it, $f_t \\approx 0.70$ and the LSTM's gradient still falls $10^{-8.0}$ from step "
            "100 to step 1. For long lags start it higher, or use chrono initialisation (Tallec & Ollivier "
            "2018)."),
        equations=(r"\text{LSTM: } c_t = f_t \odot c_{t-1} + i_t \odot g_t,\quad h_t = o_t \odot \tanh(c_t)",
                   r"\frac{\partial L}{\partial c_{t-1}} = f_t \odot \frac{\partial L}{\partial c_t} "
                   r"+ \text{(terms through } h_{t-1}\text{, which the gates read via } W_{hh}\text{)}",
                   r"\text{GRU: } h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}"),
        figure=lesson_compare_fig,
        caption="The same input, sizes and seed through the three cells, on one log axis.",
        try_title="Gates held open: LSTM forget-gate bias 5, GRU update-gate bias 6 (T = 100, ρ = 0.9).",
        try_config=Config(cell="lstm", fb=5.0, zb=6.0),
        look_for="The RNN's line falls about 23 powers of ten from right to left; the LSTM's and the GRU's "
                 "stay level.",
        question=Question(
            prompt="With forget-gate bias 5 (f_t ≈ 0.99), how much of the gradient at step 100 reaches step 1 "
                   "in the LSTM?",
            options=("About as little as in the RNN: near $10^{-23}$.",
                     "About all of it: within a factor of 10.",
                     "It explodes past $10^{+20}$."),
            answer=1,
            why=("Along the direct cell path the gradient is multiplied by $f_t$ at each step, and $f_t$ stays "
                 "close to 1. Here the LSTM's $\\lVert\\partial L/\\partial h_1\\rVert$ is $10^{+0.4}$ times its "
                 "$\\lVert\\partial L/\\partial h_{100}\\rVert$ and the GRU's $10^{-0.2}$, against $10^{-22.8}$ "
                 "for the vanilla RNN. It is the open gate, not the name, that keeps the gradient: with "
                 "forget-gate bias 0 ($f_t \\approx 0.5$) the same LSTM falls to $10^{-19.8}$. That is far "
                 "more than the direct path alone keeps (along it the largest product of the $f_t$ over the "
                 "units is $10^{-28.8}$): the paths through $h$ carry gradient too."),
        ),
        readout=compare_lesson_readout,
    ),
    Step(
        key="uses",
        title="Where RNNs are used",
        text=(
            "Wherever data arrives in order and the order matters:\n"
            "- **Time series**: forecasting demand, load, prices or sensor readings from their own past, one "
            "step ahead at every step.\n"
            "- **Language**: classifying a sentence (many-to-one), tagging each word (aligned many-to-many), "
            "writing text one character at a time with each output fed back as the next input, translating "
            "(encoder–decoder).\n"
            "- **Speech and audio**: turning a sequence of sound frames into phonemes, characters or the "
            "identity of the speaker.\n\n"
            "The same contraction that makes gradients vanish has a useful side: the state forgets how it "
            "started and follows the recent input. The **Train** page trains these cells on such data: a real "
            "time series, recordings of spoken vowels, a character language model."),
        figure=hidden_heatmap_fig,
        caption="Every unit of h_t over time: red positive, blue negative, white zero.",
        try_title="A time series in: a sine wave with a period of 20 steps (T = 120).",
        try_config=Config(T=120, signal="sine"),
        look_for="After a short start-up, the same stripes repeat every 20 steps: the hidden state has "
                 "locked onto the input's rhythm.",
        question=Question(
            prompt="Two copies of this network read the same sine wave, but start from different states h_0. "
                   "After 120 steps, their states are …",
            options=("still as far apart as at the start.",
                     "practically identical.",
                     "growing further apart."),
            answer=1,
            why=("Each step shrinks the difference between the two states, the same way it shrinks the "
                 "gradient. In this network, started from $h_0 = 0$ and from a random $h_0$ (entries between "
                 "−1 and 1), the two states differ by about 2 after the first step and by less than "
                 "$10^{-15}$ after the last, the size of rounding errors, and from step 60 on the state repeats itself every 20 steps to within "
                 "$10^{-5}$. So the network's state is a function of the recent input only: a reliable "
                 "summary of a stream, and the reason a vanilla RNN has great difficulty holding on to anything "
                 "long gone (Bengio et al. 1994). Great difficulty, not impossibility: with ReLU units and an "
                 "identity $W_{hh}$ (the IRNN preset) Le et al. (2015) trained one on the adding problem at "
                 "$T = 150$."),
        ),
    ),
    Step(
        key="teacher",
        sidebar="none",
        title="Teacher forcing and free-running generation",
        text=(
            "An encoder–decoder writes its answer one symbol at a time, and each step reads the symbol before "
            "it. In training that input is the **true** previous symbol from the data, whatever the decoder "
            "would have written there: this is **teacher forcing**. Every step then learns from a correct "
            "past, and the whole output sequence can be run in one pass, because all its inputs are known in "
            "advance. At test time there is no true answer to read, so the decoder runs **free**, on its own "
            "previous output. One wrong symbol becomes a wrong input, the decoder finds itself in a situation "
            "training never showed it (*exposure bias*), and mistakes can breed mistakes.\n\n"
            "How the decoder picks its own output: **greedy** decoding takes the most likely symbol (the "
            "free-running score here does that); **sampling at temperature** $\\tau$ draws a symbol with "
            "probabilities $\\operatorname{softmax}(z/\\tau)$: $\\tau = 1$ is the model's own distribution, a "
            "small $\\tau$ approaches the greedy choice, a large one flattens it (more varied, more mistakes). "
            "The Train page's character model samples that way, at a temperature you choose."),
        equations=(r"\text{training: } \hat y_j = \text{dec}(y_{j-1}, s_{j-1}) \qquad "
                   r"\text{test: } \hat y_j = \text{dec}(\hat y_{j-1}, s_{j-1})",),
        figure=teacher_fig,
        caption=(f"Measured with the engine: the reversal task (10 symbols of 8 in, the same 10 reversed out), an "
                 f"LSTM encoder–decoder with H = 32 after {REVERSAL_UPDATES} updates (Adam, lr 0.01, batches of 32, "
                 "seed 0), scored on its 500 test sequences. It does not follow the sidebar."),
        try_title="Count whole sequences instead: how many of the 500 come out right from the first symbol to the last?",
        try_config=None,
        try_widgets=(("lesson_tf_view", "sequences"),),
        look_for=(f"The two bars are equal ({WHOLE_SEQUENCES:.1%} each). A sequence that is entirely right under "
                  "teacher forcing gets its own outputs, which are then the true symbols, when it runs free, so "
                  "it comes out the same. The free-running loss is all in what follows a first mistake."),
        question=Question(
            prompt=(f"Fed the true previous symbols, the trained decoder gets {np.mean(TEACHER_FORCED):.2f} of the "
                    "test symbols right. Fed its own previous outputs, it gets …"),
            options=("more right: it has learned to trust itself.",
                     "the same: the weights are the same.",
                     "fewer right, and fewer the later the position."),
            answer=2,
            why=(f"Free-running it gets {np.mean(FREE_RUNNING):.2f} right. At position 1 both read the same start "
                 f"symbol and score the same ({FREE_RUNNING[0]:.2f}); from there on every mistake becomes the next "
                 f"input, and the gap grows: at positions 9 and 10 it is {FREE_RUNNING[8]:.2f} and "
                 f"{FREE_RUNNING[9]:.2f} against {TEACHER_FORCED[8]:.2f} and {TEACHER_FORCED[9]:.2f}. Teacher "
                 "forcing flatters a decoder: report the free-running score, which is what it does in use. "
                 "Remedies mix the two in training, e.g. scheduled sampling (Bengio et al. 2015) feeds the "
                 "decoder its own outputs more and more often."),
        ),
        controls=teacher_controls,
    ),
    Step(
        key="lengths",
        sidebar="weights",
        title="Sequences of different lengths: padding and masking",
        text=(
            "Real sequences differ in length: the Japanese Vowels recordings last 7 to 29 frames. To run many "
            "at once, a batch **pads** every sequence with zeros up to the longest, $T$, and keeps a **mask** "
            "that says which steps are real. In this lab's engine a padded step does nothing: the state is "
            "copied unchanged ($h_t = h_{t-1}$), so the state at step $T$ is each sequence's state at its own "
            "last real step, and a many-to-one loss is read there. (With a loss at every step, the mask also "
            "drops the padded steps' terms.)\n\n"
            "Going back, a padded step copies the gradient too: its Jacobian is the identity and no weight "
            "takes part in it. So the gradient arrives at each sequence's last real step exactly as it left "
            "step $T$, and the padding adds nothing to any weight's gradient: padding costs time, not "
            "correctness. Without the mask, the zeros would be read as real input: the state would keep "
            "moving after the sequence ended, and the loss would see that instead."),
        equations=(r"h_t = m_t\, f(a_t) + (1 - m_t)\, h_{t-1},\qquad m_t = 1 \text{ on real steps, } 0 \text{ on padding}",
                   r"\frac{\partial L}{\partial h_{t-1}} = \frac{\partial L}{\partial h_t} \text{ on a padded step } t"),
        figure=lengths_fig,
        caption=("Four training sequences (the shortest, the longest and two between), each run alone through "
                 "the batched training code (engine.train.batch_gradients) in an untrained network with the "
                 "sidebar's cell, H, init, ρ and seed, and its loss at its own last step."),
        try_title="The long-range task: a label at step 1, distractors after it, the class read 25 to 50 steps later.",
        try_config=None,
        try_widgets=(("lesson_len_task", "longrange"),),
        look_for=("Again each line is flat over its padding. Left of the ◆ the gradient falls step by step, and "
                  "the longer the sequence, the less of it reaches the label at step 1."),
        question=Question(
            prompt=(f"A recording of {LENGTHS_SHORTEST} frames is padded to {LENGTHS_T}. How large is ‖∂L/∂h_t‖ at its "
                    f"padded steps {LENGTHS_SHORTEST + 1}–{LENGTHS_T}, compared with its last real step?"),
            options=("Exactly zero: padding carries nothing.",
                     "Exactly the same: the padding passes it on untouched.",
                     "Smaller and smaller towards the end."),
            answer=1,
            why=("A padded step copies the state, so its Jacobian is the identity, and the gradient the loss sends "
                 f"into the state at step {LENGTHS_T} reaches step {LENGTHS_SHORTEST} unchanged: in the sidebar's "
                 "network at the defaults the values are equal to the last bit, for the vanilla cell, the LSTM and "
                 "the GRU. The weights' gradients equal those of the same recording run without padding (to "
                 "rounding, 10⁻¹² relative), because a padded step multiplies no weight. The loss still sits on "
                 "the real last step, and from there back the gradient shrinks as before."),
        ),
        controls=lengths_controls,
        readout=lengths_readout,
    ),
    Step(
        key="cliff",
        sidebar="none",
        title="The exploding-gradient cliff, and clipping",
        text=(
            "Where gradients explode, the loss surface has cliffs. Pascanu, Mikolov & Bengio (2013) show one on "
            "the smallest recurrent network there is: one unit, $h_t = w\\,\\sigma(h_{t-1}) + b$, run here for "
            f"$T = {cliff.T_STEPS}$ steps from $h_0 = {cliff.H0}$, with the loss $(h_T - {cliff.TARGET:g})^2$ "
            "($\\sigma$ the logistic sigmoid). For $w > 4$ and $b$ in a band that depends on $w$, the map has "
            "two stable states, and $(w, b)$ decides which one $h_T$ ends near: across the border $h_T$ jumps, "
            "and the surface rises as a near-vertical wall. For $0 \\le w < 4$ there is one state and no wall "
            "($\\sigma' \\le 1/4$). On the wall the gradient is enormous: a plain step that lands there is "
            "thrown far away, losing all progress so far.\n\n"
            "**Norm clipping** rescales the gradient $g$ to length $\\theta$ whenever $\\lVert g\\rVert > "
            "\\theta$, keeping its direction, so no step is longer than $\\text{lr}\\cdot\\theta$. It cures "
            "explosion, never vanishing: a vanished gradient is short, and clipping leaves it as it is; when "
            "clipping acts it scales every step's share of the gradient by the same factor, so it cannot bring "
            "back what far steps have lost."),
        equations=(r"g \leftarrow \theta\,\frac{g}{\lVert g\rVert} \quad \text{if } \lVert g\rVert > \theta,"
                   r"\qquad (w, b) \leftarrow (w, b) - \text{lr}\cdot g",),
        figure=cliff_fig,
        caption=(f"Grey: log of the loss over (w, b). Both paths take {CLIFF_STEPS} gradient-descent updates from "
                 "the star; the clipped one uses engine.train.clip_by_norm. Move the start, the learning rate or θ: "
                 "the paths are recomputed. The one-unit network does not follow the sidebar."),
        try_title="Start where the gradient vanishes: w = 2, b = 1, learning rate 0.05.",
        try_config=None,
        try_widgets=(("lesson_cliff_lr", 0.05), ("lesson_cliff_clip", 20.0), ("lesson_cliff_w0", 2.0),
                     ("lesson_cliff_b0", 1.0)),
        look_for=(f"The two paths are one: ‖g‖ never reaches θ, so clipping never acts. At the start the loss reaches "
                  f"$h_0$ scaled by ${CLIFF_VANISHED}$: that part of the gradient has vanished, and clipping cannot bring it "
                  "back."),
        question=Question(
            prompt=(f"With lr = {CLIFF_DEFAULTS['lr']:g} and clipping at θ = {CLIFF_DEFAULTS['clip']:g}, the path from "
                    f"(w, b) = ({CLIFF_DEFAULTS['w0']:g}, {CLIFF_DEFAULTS['b0']:g})".replace("-", "−") + " reaches the wall, where "
                    f"‖g‖ = {CLIFF_WALL_NORM}. How long is the clipped step there?"),
            options=("As long as the plain one: clipping keeps the direction and the length.",
                     f"At most lr·θ = {CLIFF_DEFAULTS['lr'] * CLIFF_DEFAULTS['clip']:g}.",
                     "Zero: clipping stops the update."),
            answer=1,
            why=(f"The first {CLIFF_WALL_UPDATE - 1} updates of the two paths are identical (‖g‖ stays below θ). At "
                 f"update {CLIFF_WALL_UPDATE} ‖g‖ is {CLIFF_WALL_NORM}: the plain step is {CLIFF_WALL_JUMP} long and lands at (w, b) = {CLIFF_WALL_LANDING}, "
                 f"and after {CLIFF_STEPS} updates its loss is {CLIFF_PLAIN_LOSS} where it started at {CLIFF_START_LOSS}. The "
                 f"clipped step points the same way with length lr·θ = {CLIFF_DEFAULTS['lr'] * CLIFF_DEFAULTS['clip']:g}, "
                 f"and the clipped path goes on along the wall to a loss of {CLIFF_CLIPPED_LOSS}. Clipping never "
                 "makes a step longer, so where the gradient vanishes it changes nothing."),
        ),
        controls=cliff_controls,
        readout=cliff_readout,
    ),
    Step(
        key="truncation",
        sidebar="weights",
        title="Truncated BPTT: no credit beyond k₂ steps",
        text=(
            "Full BPTT over long sequences costs memory and time in proportion to their length, so training "
            "often **truncates** it (Williams & Peng 1990): every $k_1$ steps, the losses of those steps are "
            "backpropagated only $k_2$ steps back, and the state before that is treated as a constant (it is "
            "still carried forward). The price is sharp: no gradient reaches further back than $k_2$ steps "
            "from a loss. Not a small one: exactly none.\n\n"
            f"On the long-range task the label arrives at step 1 and the loss is read at step {TRUNC_T} (here "
            "every sequence has the full length). Full BPTT brings the label step a gradient, however small; "
            f"with $k_2 < {TRUNC_T}$ it brings nothing, and no update ever asks the network to carry the label "
            "forward. Whatever it learns has to come from what its state happens to keep."),
        equations=(r"\frac{\partial L}{\partial h_t} = 0 \quad \text{for } t \le T - k_2 "
                   r"\text{ (loss at step } T \text{ only)}",),
        figure=trunc_fig,
        caption=(f"Thirty-two test sequences of the long-range task (T = {TRUNC_T}, label at step 1), in an untrained "
                 "network with the sidebar's cell, H, init, ρ and seed; engine.train.batch_gradients with and "
                 "without truncate=(k₂, k₂)."),
        try_title="An LSTM with its forget gates held open (forget-gate bias 5), so full BPTT keeps the gradient.",
        try_config=Config(cell="lstm", fb=5.0),
        look_for=("Full BPTT now brings the label step nearly as much gradient as the last step; truncated BPTT "
                  "still brings it exactly nothing. A better cell cannot undo a cut."),
        question=Question(
            prompt=(f"Truncation with k₁ = k₂ = 20 on these {TRUNC_T}-step sequences: how much of the loss's "
                    "gradient reaches step 1, where the label is?"),
            options=("A little: the same small amount as with full BPTT.",
                     "Exactly none.",
                     "More than with full BPTT: shorter paths vanish less."),
            answer=1,
            why=(f"The last chunk backpropagates from step {TRUNC_T} over steps {TRUNC_T - 19}–{TRUNC_T} only; the "
                 f"earlier chunks hold no loss. So ‖∂L/∂h_t‖ is exactly 0 at steps 1–{TRUNC_T - 20}, while inside the "
                 f"window it equals full BPTT's. In the sidebar's network at the defaults, full BPTT brings "
                 f"{TRUNC_FULL_RNN} of ‖∂L/∂h_{TRUNC_T}‖ to step 1, and the LSTM of the experiment {TRUNC_FULL_LSTM}. "
                 f"Trained for {TRUNC_UPDATES} updates (LSTM, H = 32, Adam, clipping at 1), the network reaches "
                 f"{TRUNC_ACC_FULL} test accuracy with full BPTT and {TRUNC_ACC_CUT} with k₁ = k₂ = 10 (two classes: "
                 "0.5 is a guess)."),
        ),
        controls=trunc_controls,
        readout=trunc_readout,
    ),
)

N_STEPS = len(STEPS)
