"""Lesson steps 10-11, training in practice: the exploding-gradient cliff with clipping, and truncated BPTT."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import streamlit as st

from engine import cliff
from engine.batch import batch_gradients
from engine.tasks import make_task
from ui.config import Config
from ui.figures import (
    figure_cache,
    params_config,
)
from ui.lesson_steps.step import Question, Step, _net_state, _widget_defaults
from viz.cliff import cliff_figure
from viz.compare import power_text
from viz.spec import (
    Spec,
    add_annotation,
    add_scatter,
    add_vrect,
    figure,
    update_xaxes,
)
from viz.style import BLUE, INK, NOTE_BG, VERMILION, log_axis, log_range, positive, style

# --------------------------------------------------------------------------- steps 10-11: training in practice

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
          "step t (the label is at t = 1)", "‖∂L/∂h_t‖ (log scale)", height=440, legend_above=True)
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


# Numbers the text of steps 10-11 quotes (tests/test_app_lesson.py computes each with the engine).
CLIFF_WALL_UPDATE = 23                              # the plain path from the default start hits the wall here
CLIFF_WALL_NORM, CLIFF_WALL_JUMP, CLIFF_WALL_LANDING = "3,449", "34.5", "(−12.0, −32.7)"
CLIFF_START_LOSS, CLIFF_PLAIN_LOSS, CLIFF_CLIPPED_LOSS = "35.8", "107", "2.7"
CLIFF_VANISHED = "10^{-19.1}"                       # ∂L/∂h_0 / ∂L/∂h_T at (w, b) = (2, 1)
TRUNC_FULL_RNN, TRUNC_FULL_LSTM = "$10^{-6.9}$", "$10^{-0.3}$"   # ‖∂L/∂h_1‖ / ‖∂L/∂h_50‖, full BPTT
TRUNC_UPDATES, TRUNC_ACC_FULL, TRUNC_ACC_CUT = 400, "1.00", "0.51"   # measured (slow test)


# --------------------------------------------------------------------------- the steps

STEPS: tuple[Step, ...] = (
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
                 "the star; the clipped one uses engine.optim.clip_by_norm. Move the start, the learning rate or θ: "
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
                 "network with the sidebar's cell, H, init, ρ and seed; engine.batch.batch_gradients with and "
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
