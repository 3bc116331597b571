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
    """Rows = hidden units, columns = the terms of a_t = W_hx x_t + W_hh h_{t-1} + b_h and h_t."""
    H = sn.h_t.size
    k = min(H, max_units)
    return pd.DataFrame({
        "unit": np.arange(1, k + 1),
        "W_hx·x_t": sn.Wx[:k], "W_hh·h_{t−1}": sn.Wh[:k], "b_h": sn.b_h[:k],
        "a_t (sum)": sn.a_t[:k], "h_t = f(a_t)": sn.h_t[:k],
    }).set_index("unit")


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
    (h_t and y_t on separate lines: side by side they ran off the column at projector sizes)."""
    read_out = r"W_{hy}\,h_{%d} + b_y" % t  # noqa: UP031
    if output != "identity":
        read_out = r"\operatorname{%s}(%s)" % (output, read_out)  # noqa: UP031
    return [
        r"a_{%d} = W_{hx}\,x_{%d} + W_{hh}\,h_{%d} + b_h" % (t, t, t - 1),  # noqa: UP031 (LaTeX braces)
        r"x_{%d} = %s,\quad h_{%d} = %s" % (t, vec(sn.x_t, k), t - 1, vec(sn.h_prev, k)),  # noqa: UP031
        r"h_{%d} = \operatorname{%s}(a_{%d}) = %s" % (t, activation, t, vec(sn.h_t, k)),  # noqa: UP031
        r"y_{%d} = %s = %s" % (t, read_out, vec(sn.y_t, k)),  # noqa: UP031
    ]


def cfg_caption(cfg: Config) -> None:
    from ui.sidebar import describe
    st.caption("Network: " + describe(cfg))
