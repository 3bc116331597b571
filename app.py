"""Unrolled — home page: what an RNN is, why its gradients vanish, presets, links."""
import streamlit as st

from ui.charts import show_chart
from ui.config import Config
from ui.errors import run_or_defaults, run_page
from ui.export import export_panel
from ui.figures import teaser_fig
from ui.panels import fallback_notice
from ui.presets import PRESETS
from ui.runs import run_bptt
from ui.sidebar import apply_preset, link_query, page_links, page_setup, page_shown
from viz.gradients import decay_readout

page_setup("Home")


def home(cfg: Config) -> None:
    """What an RNN is, the teaser chart for the sidebar's network, the maths, the presets and the pages."""
    st.title("Unrolled: watch a recurrent network remember, and forget")
    st.markdown(
        "A **recurrent neural network (RNN)** reads a sequence one element at a time and carries a "
        "running summary, the *hidden state*, from each step to the next. This lab lets you watch that "
        "summary evolve and watch the training signal fade as it travels back in time. Every control "
        "in the sidebar is live, and the page address stores them all, so a link reproduces exactly "
        "what you see.")
    if page_shown("Lesson"):
        st.page_link("pages/0_Lesson.py", label="New here? Start the guided lesson", icon=":material/school:",
                     query_params={**link_query(cfg), "step": "1"})

    left, right = st.columns([1, 1], gap="large")
    with left:
        st.subheader("One step of the network")
        st.latex(r"h_t = f\left(W_{hx}\,x_t + W_{hh}\,h_{t-1} + b_h\right)")
        st.latex(r"y_t = g\left(W_{hy}\,h_t + b_y\right)")
        st.markdown(
            "The new state mixes the current input with the previous state, passes the sum through a "
            "non-linearity, and the output is read from the new state. The same matrices are used at "
            "every step.")
    with right:
        run, used, err = run_or_defaults(run_bptt, cfg)
        fallback_notice(err)
        show_chart(teaser_fig(used), key="teaser")
        st.caption("Size of the training signal at each step for the network in the sidebar. "
                   + decay_readout(run.grad_h_norm))

    st.markdown(
        r"""
| symbol | size | meaning |
|---|---|---|
| $t$ | | position in the sequence, from $1$ to its length $T$ |
| $x_t$ | $D$ | the input at step $t$: a sensor reading, a word vector, an audio frame |
| $h_t$ | $H$ | the hidden state: what the network keeps about everything seen so far ($h_0 = 0$) |
| $y_t$ | $O$ | the output at step $t$ |
| $W_{hx}$ | $H\times D$ | how the new input enters the state |
| $W_{hh}$ | $H\times H$ | how the old state is carried into the new one: the **recurrent** weights |
| $W_{hy}$ | $O\times H$ | how the state is read out |
| $b_h,\ b_y$ | $H,\ O$ | biases added before $f$ and before $g$ |
| $f$ | | the hidden non-linearity: tanh, ReLU, sigmoid, or none (linear) |
| $g$ | | the output function: identity, softmax or sigmoid |
""")

    st.subheader("The self-loop, and what unrolling means")
    st.markdown(
        "Drawn compactly, an RNN is a single cell with an arrow that feeds its output back into itself: "
        "the state leaves the cell and comes back as $h_{t-1}$ at the next step. *Unrolling* redraws that "
        "loop as a chain, one copy of the cell per time step, so a sequence of length $T$ becomes a "
        "$T$-layer-deep network. The copies are not independent: **every copy uses the same "
        "$W_{hx}, W_{hh}, W_{hy}$**. That sharing is why one network handles sequences of any length "
        "and why the number of parameters does not grow with $T$.")

    st.subheader("Backpropagation through time (BPTT)")
    st.markdown(
        r"Training needs the derivative of the loss $L$ with respect to the shared weights. BPTT "
        r"applies the ordinary chain rule to the unrolled chain: it starts from the loss at the end and "
        r"passes the derivative $\partial L/\partial h_t$ backwards, one step at a time, multiplying by the "
        r"Jacobian of each step, $J_t = \operatorname{diag}(f'(a_t))\,W_{hh}$, where $a_t$ is the sum inside "
        r"$f$. Because the weights are shared, each step adds its own term to the weight gradient, and "
        r"those terms are summed.")
    st.latex(r"\frac{\partial L}{\partial h_k} = J_{k+1}^{\top} J_{k+2}^{\top} \cdots J_T^{\top}\,"
             r"\frac{\partial L}{\partial h_T},\qquad J_t = \operatorname{diag}\big(f'(a_t)\big)\,W_{hh}")

    st.subheader("Why gradients vanish (or explode)")
    st.markdown(
        r"That product has $T-k$ factors, taken in order from $J_T$ back to $J_{k+1}$. If each factor "
        r"shrinks vectors, say its norm is at most $\gamma\,\sigma_{\max} < 1$ with $\gamma = \sup|f'|$ and "
        r"$\sigma_{\max}$ the largest singular value of $W_{hh}$, the signal from step $k$ shrinks at least "
        r"geometrically: step 1 hears almost nothing about a loss at step 100. The network then has great "
        r"difficulty learning dependencies that span many steps. If factors stretch vectors instead, the "
        r"product can blow up: *exploding* gradients. It need not: once $\gamma\,\sigma_{\max} \ge 1$ the "
        r"bound guarantees nothing either way. For linear units the eigenvalues of $W_{hh}$ decide the "
        r"long-run rate: the spectral radius $\rho$ per step. With tanh the factors $f'(a_t)$ take their "
        r"share too: at the defaults ($\rho = 0.9$) the gradient shrinks by about 0.59 per step. LSTMs and "
        r"GRUs were designed to keep a path along which this product stays close to 1.")

    st.subheader("Three cells: the vanilla RNN, the LSTM and the GRU")
    st.markdown(
        "The **Cell** control at the top of the sidebar swaps the cell on every page. The two gated cells "
        "were built to give the gradient a path that is *not* multiplied by $W_{hh}$ and $f'$ at every step:")
    g1, g2 = st.columns(2, gap="large")
    with g1:
        st.markdown("**LSTM**: a second state, the *cell state* $c_t$, updated by gates (sigmoids, between 0 and 1).")
        st.latex(r"c_t = f_t \odot c_{t-1} + i_t \odot g_t,\qquad h_t = o_t \odot \tanh(c_t)")
        st.caption("Along the direct edge from c_{t−1} to c_t the gradient is multiplied only by the forget gate "
                   "f_t: with f ≈ 1 (a high forget-gate bias) it travels back along that edge almost unchanged, "
                   "with f ≈ 0.5 it halves there every step. The gates also read h_{t−1} through W_hh, and "
                   "those paths add their own terms.")
    with g2:
        st.markdown("**GRU**: one state and two gates; the *update gate* $z_t$ mixes a new candidate $n_t$ with "
                    "the old state.")
        st.latex(r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}")
        st.caption("The z_t ⊙ h_{t−1} term copies the state: with z ≈ 1 (a high update-gate bias) the state, and "
                   "the gradient, pass through unchanged. This is PyTorch's and Cho et al.'s (2014) convention; "
                   "Chung et al. (2014) swap z_t and 1 − z_t.")

    st.subheader("Where RNNs are used")
    st.markdown(
        "- **Time series**: forecasting demand, sensor readings or prices from their history.\n"
        "- **Language**: many-to-one (sentiment of a sentence), many-to-many (tagging every word), "
        "one-to-many (generating a caption from one image vector).\n"
        "- **Speech and audio**: turning a sequence of sound frames into characters or words.")

    st.subheader("Presets: one click sets every control")
    cols = st.columns(4)
    for i, p in enumerate(PRESETS):
        with cols[i % 4].container(border=True):
            st.markdown(f"**{p.title}**")
            st.caption(f"{p.blurb} {p.look}")
            st.button("Load", key=f"gallery_{p.key}", on_click=apply_preset, args=(p.key,),
                      icon=":material/play_arrow:")

    st.subheader("The pages")
    page_links({
        "Unroll": "The chain of copies with a forward, then backward animation. Look for the arrows "
                  "getting thinner as the gradient travels back.",
        "Hidden state": "Every unit over time, its path in 2-D and how many units are saturated. Look "
                        "for long stretches where |f′| is tiny.",
        "Gradients": "‖∂L/∂h_t‖ on a log axis against the theoretical bounds. Look for a straight "
                     "line: a constant decay factor per step.",
        "Spectrum": "Eigenvalues and singular values of W_hh. Look for eigenvalues inside the unit "
                    "circle while singular values poke above 1/γ.",
        "Phase diagram": "Many random networks at once: how much gradient survives for every spectral radius "
                         "and distance in time (vanilla RNN). Look for the blue/red border near ρ = 1 and how tanh "
                         "bends it.",
        "RNN vs LSTM vs GRU": "The same input through the three cells, their gradients on one axis and the gates "
                              "that keep the past. Look for the LSTM's and GRU's lines staying flat when their "
                              "gate biases are high.",
        "Train": "Train a network on a real task and race the three cells on the same data. Look for the "
                 "vanilla RNN staying on the baseline of the adding problem while the LSTM and GRU leave it.",
    })
    export_panel(used, name="home")


run_page("Home", home)
