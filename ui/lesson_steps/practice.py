"""Lesson steps 8-9, training in practice: teacher forcing against free-running generation, and sequences of
different lengths (padding and masking)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from engine.batch import batch_gradients
from engine.tasks import make_task
from ui.config import Config
from ui.figures import (
    figure_cache,
    params_config,
)
from ui.lesson_steps.step import Question, Step, _net_state, _widget_defaults
from viz.compare import power_text
from viz.spec import (
    Spec,
    add_scatter,
    add_trace,
    bar,
    figure,
    subplots,
    update_layout,
    update_xaxes,
    update_yaxes,
)
from viz.style import BLUE, GREEN, INK, PURPLE, VERMILION, log_axis, log_range, positive, style

# --------------------------------------------------------------------------- steps 8-9: training in practice

# Teacher forcing vs free-running, MEASURED with the engine (tests/test_app_lesson.py trains it again, slow):
# `python -m engine.train --task reverse --cell lstm --steps 600` (T = 10, 8 symbols, H = 32, Adam 1e-2, B = 32,
# seed 0), scored on the 500 test sequences: the share of right symbols at each output position j.
REVERSAL_UPDATES = 600
TEACHER_FORCED = (0.940, 0.956, 0.930, 0.922, 0.902, 0.890, 0.850, 0.804, 0.802, 0.868)
FREE_RUNNING = (0.940, 0.898, 0.862, 0.822, 0.772, 0.736, 0.704, 0.582, 0.526, 0.546)
WHOLE_SEQUENCES = 0.242           # entirely right, teacher-forced and free-running alike
TF_VIEWS = {"symbols": "each output position", "sequences": "whole sequences"}


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
          height=420, legend_above=True)
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


# Numbers the text of step 9 quotes (tests/test_app_lesson.py computes each with the engine).
LENGTHS_SHORTEST, LENGTHS_T = 7, 29                 # the shortest vowel recording in the train split, and T


# --------------------------------------------------------------------------- the steps

STEPS: tuple[Step, ...] = (
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
                 "the batched training code (engine.batch.batch_gradients) in an untrained network with the "
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
)
