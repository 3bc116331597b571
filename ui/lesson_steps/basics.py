"""Lesson steps 1-5, after the article: the recurrence, unrolling, BPTT, vanishing and exploding gradients, and
the arrangements of inputs and outputs."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

import engine
from ui.config import Config
from ui.figures import (
    dW_fig,
    figure_cache,
    grad_norm_fig,
    unroll_fig,
)
from ui.lesson_steps.step import Question, Step
from ui.presets import PRESETS_BY_KEY
from ui.runs import build, run_bptt
from viz import hidden as vh
from viz.compare import power_text
from viz.gradients import decay_readout
from viz.spec import (
    Spec,
)
from viz.train import arrangement_figure

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
)
