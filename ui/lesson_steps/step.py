"""The form of a Lesson step (Step, Question) and the helpers the step modules share."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

import engine
from ui.config import Config
from viz.spec import Spec


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


def _widget_defaults(**values) -> None:
    """Start values of a step's widgets, through the session state only ("Try this" writes the same keys, and a
    widget given both a value and a session-state entry warns)."""
    for k, v in values.items():
        st.session_state.setdefault(k, v)


def _net_state(cfg: Config, n_in: int, n_out: int) -> dict:
    """The sidebar's network (cell, H, init, ρ, units, gate biases, seed), untrained, for a task's sizes."""
    p = engine.init_params(n_in, cfg.H, n_out, init=cfg.init, spectral_radius=cfg.rho, activation=cfg.act,
                           output="softmax", seed=cfg.seed, cell=cfg.cell, forget_bias=cfg.fb, update_bias=cfg.zb)
    return engine.params_to_state_dict(p)
