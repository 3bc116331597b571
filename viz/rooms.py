"""The class's answers to a poll as a figure: a bar per choice, or a histogram of the numbers predicted."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.style import BLUE, FONT_SIZE, GREEN, GREY, TITLE_SIZE


def choice_figure(choices: Sequence[str], counts: Sequence[int], *, right: str | None = None,
                  title: str = "") -> go.Figure:
    """Horizontal bars, one per choice in the question's order; the right choice in green once shown
    (`right` None: every bar blue). Counts are whole students, so the axis has whole ticks."""
    total = int(sum(counts))
    colors = [GREEN if right is not None and c == right else (GREY if right is not None else BLUE) for c in choices]
    share = [f"{n} ({100 * n / total:.0f} %)" if total else "0" for n in counts]
    fig = go.Figure(go.Bar(x=list(counts), y=[_wrap(c) for c in choices], orientation="h", marker_color=colors,
                           text=share, textposition="auto", hovertemplate="%{y}: %{x}<extra></extra>"))
    fig.update_layout(title=dict(text=title or f"{total} answer{'s' if total != 1 else ''}", font_size=TITLE_SIZE),
                      font_size=FONT_SIZE, height=120 + 48 * len(choices), margin=dict(l=10, r=10, t=50, b=40),
                      showlegend=False, bargap=0.25)
    fig.update_xaxes(title_text="students", rangemode="tozero", dtick=max(1, int(np.ceil(max(counts, default=1) / 8))))
    fig.update_yaxes(autorange="reversed")
    return fig


def number_figure(numbers: Sequence[float], *, right: float | None = None, title: str = "",
                  label: str = "the class's predictions") -> go.Figure:
    """A histogram of the numbers the class predicted, with the true value as a vertical line."""
    x = np.asarray([v for v in numbers if np.isfinite(v)], dtype=float)
    fig = go.Figure(go.Histogram(x=x, marker_color=BLUE, name=label, nbinsx=min(30, max(5, len(x))),
                                 hovertemplate="%{x}: %{y}<extra></extra>"))
    if right is not None and np.isfinite(right):
        fig.add_vline(x=right, line_color=GREEN, line_width=3, annotation_text=f"answer: {right:g}",
                      annotation_font_size=FONT_SIZE)
    n = len(x)
    fig.update_layout(title=dict(text=title or f"{n} prediction{'s' if n != 1 else ''}", font_size=TITLE_SIZE),
                      font_size=FONT_SIZE, height=320, margin=dict(l=10, r=10, t=50, b=40), showlegend=False)
    fig.update_xaxes(title_text="predicted value")
    fig.update_yaxes(title_text="students", rangemode="tozero")
    return fig


def _wrap(text: str, width: int = 36) -> str:
    """Long choices on several lines (Plotly breaks lines only at <br>)."""
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "<br>".join(lines)
