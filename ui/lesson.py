"""The guided lesson: the article in seven steps, one screen each.

Each `Step` holds its text, the figure it shows (an existing builder, drawn for the sidebar's
config), a "Try this" config that makes its point, and a question whose answer is checked against
the engine in tests/test_app_lesson.py. The step lives in the address as ``?step=N`` (1-based). It is
not a config field: the sidebar never writes it, so it survives the sidebar's own address writes and
every rerun; a page switch drops it, so the session remembers the last step shown as well.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import streamlit as st

import engine
from ui.charts import show_chart
from ui.config import Config
from ui.plain import plain
from ui.presets import PRESETS_BY_KEY
from ui.runs import (
    build,
    compare_config,
    compare_grad_fig,
    dW_fig,
    figure_cache,
    grad_norm_fig,
    hidden_heatmap_fig,
    run_bptt,
    run_compare,
    run_default_fallback,
    unroll_fig,
)
from ui.sidebar import apply_config, describe
from viz import hidden as vh
from viz.compare import compare_readout, power_text
from viz.gradients import decay_readout
from viz.spec import Spec
from viz.train import CONFIG as STATIC_CONFIG
from viz.train import arrangement_figure

STEP_PARAM = "step"              # the address parameter (not a Config field)
_STEP = "_lesson_step"           # session key: the step shown last (restored after a page switch)
_TRIED = "_lesson_tried"         # session key: key of the step whose "Try this" was pressed last
_REVEALED = "_lesson_revealed"   # session key: set of step keys whose answer is shown
CHART_CONFIG = {"displaylogo": False}


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
    figure: Callable[[Config], Spec]       # an existing builder, for the current config
    caption: str                                # what the figure shows
    try_title: str                              # what the "Try this" settings are
    try_config: Config
    look_for: str                               # what to look for once they are loaded
    question: Question
    equations: tuple[str, ...] = ()             # LaTeX, shown under the text
    readout: Callable[[Config], str] | None = None   # one live line about the current config
    static_figure: bool = False                 # a diagram: no zoom or hover


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


# --------------------------------------------------------------------------- the seven steps

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
)

N_STEPS = len(STEPS)


# --------------------------------------------------------------------------- the step in the address

def parse_step(raw, n: int = N_STEPS) -> tuple[int | None, str | None]:
    """The 1-based step a raw address value asks for, clamped to 1..n, and a notice when it was not
    a valid step as given. `raw` None (no parameter): (None, None). Never raises."""
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else None
    if raw is None:
        return None, None
    text = str(raw).strip()
    shown = plain(text, 20)  # the notice is Markdown: the link's text is quoted, never interpreted
    try:
        num = float(text)
    except ValueError:
        return 1, f"step={shown} is not a step number; showing step 1 of {n}."
    if not math.isfinite(num):
        return 1, f"step={shown} is not a step number; showing step 1 of {n}."
    step = min(max(int(round(num)), 1), n)
    if step == num:
        return step, None
    if num < 1 or num > n:
        return step, f"step={shown}: the lesson has steps 1 to {n}; showing step {step}."
    return step, f"step={shown}: showing step {step}."


def current_step() -> tuple[int, str | None]:
    """The step to show (from the address, else the one shown last in this session, else 1), written
    back into the address when it differs, so the address always names the step on screen."""
    step, notice = parse_step(st.query_params.get_all(STEP_PARAM))
    if step is None:
        last = st.session_state.get(_STEP, 1)
        step = last if isinstance(last, int) and 1 <= last <= N_STEPS else 1
    st.session_state[_STEP] = step
    if st.query_params.get_all(STEP_PARAM) != [str(step)]:
        st.query_params[STEP_PARAM] = str(step)
    return step, notice


def go_to(step: int) -> None:
    """Callback of Back and Next."""
    step = min(max(int(step), 1), N_STEPS)
    st.session_state[_STEP] = step
    st.query_params[STEP_PARAM] = str(step)


def try_this(key: str) -> None:
    """Callback of "Try this": load the step's settings into every control (and so the address)."""
    step = next(s for s in STEPS if s.key == key)
    apply_config(step.try_config)
    st.session_state[_TRIED] = key


def reveal(key: str) -> None:
    st.session_state[_REVEALED] = set(st.session_state.get(_REVEALED, set())) | {key}


# --------------------------------------------------------------------------- drawing

def _nav(step: int, where: str) -> None:
    back, mid, nxt = st.columns([1, 4, 1], vertical_alignment="center")
    back.button("Back", key=f"lesson_back_{where}", icon=":material/arrow_back:", on_click=go_to,
                args=(step - 1,), disabled=step <= 1, width="stretch")
    nxt.button("Next", key=f"lesson_next_{where}", icon=":material/arrow_forward:", icon_position="right",
               on_click=go_to, args=(step + 1,), disabled=step >= N_STEPS, width="stretch",
               type="primary")
    if where == "top":
        mid.progress(step / N_STEPS, text=f"Lesson: step {step} of {N_STEPS}")
    else:
        upcoming = STEPS[step].title if step < N_STEPS else "the end of the lesson: explore the other pages"
        mid.caption(f"Step {step} of {N_STEPS}. Next: {upcoming}.")


def _try_box(s: Step, cfg: Config) -> None:
    with st.container(border=True):
        st.markdown(f"**Experiment.** {s.try_title}")
        st.button("Try this", key=f"lesson_try_{s.key}", icon=":material/science:", on_click=try_this,
                  args=(s.key,), type="primary" if cfg != s.try_config else "secondary",
                  help="Loads these settings into the sidebar (and the address bar).")
        if cfg == s.try_config:
            st.success(f"Loaded. **Look for:** {s.look_for}", icon=":material/visibility:")
        else:
            st.markdown(f"**Then look for:** {s.look_for}")


ARRANGEMENTS = ("one-to-many", "many-to-one", "many-to-many", "encoder-decoder")
ARRANGEMENT_LABELS = {"one-to-many": "one-to-many", "many-to-one": "many-to-one",
                      "many-to-many": "many-to-many (aligned)", "encoder-decoder": "encoder–decoder"}


def _arrangement_choice(cfg: Config) -> tuple[Spec, str]:
    """The sidebar network's arrangement, or another of the four when one is picked here."""
    own = arrangement_of(cfg)
    picked = st.segmented_control("Draw an arrangement", ARRANGEMENTS, key="lesson_arrangement",
                                  format_func=lambda a: ARRANGEMENT_LABELS[a],
                                  help="Without a choice the diagram follows the sidebar's network.")
    if picked is None or picked == own:
        return _arrangement(own), ("The sidebar's network: which steps take an input (below) and which give "
                                   "an output and a loss (above). Its loss setting decides the arrangement.")
    return _arrangement(picked), (f"Drawn: {ARRANGEMENT_LABELS[picked]}. The sidebar's network is "
                                  f"{ARRANGEMENT_LABELS[own]}; clear the choice above to draw it.")


def _question(s: Step) -> None:
    q = s.question
    with st.container(border=True):
        ask, answer = st.columns([2, 3], gap="large")
    with ask:
        st.markdown(f"**Predict, then reveal.** {q.prompt}")
        choice = st.radio(q.prompt, range(len(q.options)), index=None, key=f"lesson_q_{s.key}",
                          format_func=lambda i: q.options[i], label_visibility="collapsed")
        shown = s.key in st.session_state.get(_REVEALED, set())
        if not shown:
            st.button("Reveal the answer", key=f"lesson_reveal_{s.key}", icon=":material/lightbulb:",
                      on_click=reveal, args=(s.key,))
    if not shown:
        return
    with answer:
        right = q.options[q.answer]
        if choice is None:
            st.info(f"The answer: **{right}**", icon=":material/lightbulb:")
        elif choice == q.answer:
            st.success(f"Right: **{right}**", icon=":material/check_circle:")
        else:
            st.warning(f"Not quite. The answer: **{right}**", icon=":material/lightbulb:")
        st.markdown(q.why)


def show(cfg: Config) -> None:
    """The lesson page below the sidebar: the step from the address, its text, figure, experiment
    and question, and the way to the next step."""
    step, notice = current_step()
    s = STEPS[step - 1]
    if notice:
        st.info(notice, icon=":material/link:")
    _nav(step, "top")
    st.title(f"{step}. {s.title}", anchor=False)

    text, side = st.columns([3, 2], gap="large")
    with text:
        st.markdown(s.text)
        for line in s.equations:
            st.latex(line)
    with side:
        _try_box(s, cfg)

    _, err = run_default_fallback(run_bptt, cfg)
    used = cfg if err is None else Config()
    if err:
        st.error(f"These settings cannot be run: {err}. The chart shows the default network instead.",
                 icon=":material/error:")
    config = {**STATIC_CONFIG, "staticPlot": True} if s.static_figure else CHART_CONFIG
    if s.key == "arrangements":
        fig, caption = _arrangement_choice(used)
    else:
        fig, caption = s.figure(used), s.caption + " Network: " + describe(used)
    show_chart(fig, key=f"lesson_fig_{s.key}", config=config, csv=not s.static_figure)
    st.caption(caption)
    if s.readout is not None:
        st.info(s.readout(used), icon=":material/straighten:")
    _question(s)
    st.divider()
    _nav(step, "bottom")
