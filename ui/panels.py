"""Small page elements shared by several pages (banners, tables). Thin wrappers only."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui.config import Config
from ui.runs import Run, StepNumbers


def fallback_notice(error: str | None) -> None:
    if error:
        st.error(f"This combination of settings cannot be run: {error}. The charts below show the "
                 "default network instead; your settings in the sidebar are kept, so you can adjust "
                 "one of them.", icon=":material/error:")


def overflow_banner(run: Run) -> None:
    """Clear banner when the forward or backward pass left the float64 range."""
    if run.overflow_step is None:
        return
    phase = run.overflow_phase or "forward"
    st.warning(f"**Overflow at step t = {run.overflow_step + 1}** during the {phase} pass: the numbers "
               "grew beyond the range of 64-bit floats (about 10^308). This is the exploding regime. "
               "The charts show the finite part; gaps mean 'too large to represent'.",
               icon=":material/warning:")


def step_table(sn: StepNumbers, max_units: int = 16) -> pd.DataFrame:
    """Rows = hidden units, columns = the terms of a_t = W_hx x_t + W_hh h_{t-1} + b_h and h_t;
    for a gated cell, each gate's value and the state it updates (see STEP_TABLES)."""
    return STEP_TABLES[sn.cell](sn, min(sn.h_t.size, max_units))


def _rnn_table(sn: StepNumbers, k: int) -> pd.DataFrame:
    return pd.DataFrame({
        "unit": np.arange(1, k + 1),
        "W_hx·x_t": sn.Wx[:k], "W_hh·h_{t−1}": sn.Wh[:k], "b_h": sn.b_h[:k],
        "a_t (sum)": sn.a_t[:k], "h_t = f(a_t)": sn.h_t[:k],
    }).set_index("unit")


def _lstm_table(sn: StepNumbers, k: int) -> pd.DataFrame:
    g = sn.gates
    return pd.DataFrame({
        "unit": np.arange(1, k + 1),
        "i_t": g["i"][:k], "f_t": g["f"][:k], "g_t": g["g"][:k], "o_t": g["o"][:k],
        "c_{t−1}": sn.c_prev[:k], "c_t = f·c_{t−1} + i·g": sn.c_t[:k], "h_t = o·tanh(c_t)": sn.h_t[:k],
    }).set_index("unit")


def _gru_table(sn: StepNumbers, k: int) -> pd.DataFrame:
    g = sn.gates
    return pd.DataFrame({
        "unit": np.arange(1, k + 1),
        "r_t": g["r"][:k], "z_t": g["z"][:k], "n_t": g["n"][:k],
        "h_{t−1}": sn.h_prev[:k], "h_t = (1−z)·n + z·h_{t−1}": sn.h_t[:k],
    }).set_index("unit")


STEP_TABLES = {"rnn": _rnn_table, "lstm": _lstm_table, "gru": _gru_table}


def vec(v: np.ndarray, k: int = 4) -> str:
    """LaTeX column-vector preview of the first k entries."""
    v = np.asarray(v, dtype=float)
    items = [f"{x:.3g}" if np.isfinite(x) else r"\infty" for x in v[:k]]
    if v.size > k:
        items.append(r"\vdots")
    return r"\begin{bmatrix}" + r"\\ ".join(items) + r"\end{bmatrix}"


def step_equations(t: int, activation: str, sn: StepNumbers, output: str = "identity",
                   k: int = 4) -> list[str]:
    """The update at step t as LaTeX lines, one equation per line so each fits a narrow column
    (h_t and y_t on separate lines: side by side they ran off the column at projector sizes).
    Gated cells: one line per gate, then the state update (see STEP_EQUATIONS)."""
    read_out = r"W_{hy}\,h_{%d} + b_y" % t  # noqa: UP031
    if output != "identity":
        read_out = r"\operatorname{%s}(%s)" % (output, read_out)  # noqa: UP031
    y_line = r"y_{%d} = %s = %s" % (t, read_out, vec(sn.y_t, k))  # noqa: UP031 (LaTeX braces)
    if sn.cell != "rnn":
        # a gated cell's lines are longer and share half the page: one size down, still above body text
        return [r"\small " + line for line in STEP_EQUATIONS[sn.cell](t, sn, min(k, 3)) + [y_line]]
    return [
        r"a_{%d} = W_{hx}\,x_{%d} + W_{hh}\,h_{%d} + b_h" % (t, t, t - 1),  # noqa: UP031 (LaTeX braces)
        r"x_{%d} = %s,\quad h_{%d} = %s" % (t, vec(sn.x_t, k), t - 1, vec(sn.h_prev, k)),  # noqa: UP031
        r"h_{%d} = \operatorname{%s}(a_{%d}) = %s" % (t, activation, t, vec(sn.h_t, k)),  # noqa: UP031
        y_line,
    ]


def _gate_line(name: str, fn: str, t: int, v, k: int) -> str:
    """g_t = fn(W_ig x_t + W_hg h_{t-1} + b_g) = [values] in PyTorch's weight names."""
    return (r"%s_{%d} = %s(W_{i%s}\,x_{%d} + W_{h%s}\,h_{%d} + b_%s) = %s"  # noqa: UP031
            % (name, t, fn, name, t, name, t - 1, name, vec(v, k)))


def _lstm_equations(t: int, sn: StepNumbers, k: int) -> list[str]:
    g = sn.gates
    return [
        r"x_{%d} = %s,\; h_{%d} = %s,\; c_{%d} = %s"  # noqa: UP031
        % (t, vec(sn.x_t, k), t - 1, vec(sn.h_prev, k), t - 1, vec(sn.c_prev, k)),
        _gate_line("i", r"\sigma", t, g["i"], k),
        _gate_line("f", r"\sigma", t, g["f"], k),
        _gate_line("g", r"\tanh", t, g["g"], k),
        _gate_line("o", r"\sigma", t, g["o"], k),
        r"c_{%d} = f_{%d} \odot c_{%d} + i_{%d} \odot g_{%d} = %s"  # noqa: UP031
        % (t, t, t - 1, t, t, vec(sn.c_t, k)),
        r"h_{%d} = o_{%d} \odot \tanh(c_{%d}) = %s" % (t, t, t, vec(sn.h_t, k)),  # noqa: UP031
    ]


def _gru_equations(t: int, sn: StepNumbers, k: int) -> list[str]:
    g = sn.gates
    return [
        r"x_{%d} = %s,\quad h_{%d} = %s" % (t, vec(sn.x_t, k), t - 1, vec(sn.h_prev, k)),  # noqa: UP031
        _gate_line("r", r"\sigma", t, g["r"], k),
        _gate_line("z", r"\sigma", t, g["z"], k),
        # the longest line: the vector goes on a second row so it fits half the page
        r"\begin{aligned} n_{%d} &= \tanh\big(W_{in}\,x_{%d} + b_{in} + r_{%d} \odot (W_{hn}\,h_{%d} + b_{hn})\big)"  # noqa: UP031
        r"\\ &= %s \end{aligned}" % (t, t, t, t - 1, vec(g["n"], k)),
        r"h_{%d} = (1 - z_{%d}) \odot n_{%d} + z_{%d} \odot h_{%d} = %s"  # noqa: UP031
        % (t, t, t, t, t - 1, vec(sn.h_t, k)),
    ]


STEP_EQUATIONS = {"lstm": _lstm_equations, "gru": _gru_equations}


def cfg_caption(cfg: Config) -> None:
    from ui.sidebar import describe
    st.caption("Network: " + describe(cfg))
