"""Lesson steps 6-7: the gated cells (LSTM, GRU) and where recurrent networks are used."""
from __future__ import annotations

from ui.config import Config
from ui.figures import (
    compare_grad_fig,
    hidden_heatmap_fig,
)
from ui.lesson_steps.step import Question, Step
from ui.runs import compare_config, run_compare
from viz.compare import compare_readout
from viz.spec import (
    Spec,
)

# --------------------------------------------------------------------------- figures and readouts

def lesson_compare_fig(cfg: Config) -> Spec:
    return compare_grad_fig(compare_config(cfg))


def compare_lesson_readout(cfg: Config) -> str:
    runs = run_compare(compare_config(cfg))
    return ("In the sidebar's network now, " +
            compare_readout({c: r.grad_h_norm for c, r in runs.items()},
                            {c: r.overflow_step for c, r in runs.items()}) + ".")



# --------------------------------------------------------------------------- the steps

STEPS: tuple[Step, ...] = (
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
