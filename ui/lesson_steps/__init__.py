"""What the Lesson says: each step's text, figure, experiment and question (ui/lesson.py shows them).

Steps 1-7 follow the article (ui/lesson_steps/basics.py, gated.py); steps 8-11 add what training a recurrent
network takes in practice: teacher forcing, padding and masking (practice.py), the exploding-gradient cliff with
clipping, and truncated BPTT (clipping.py). The form of a step is in step.py. Every number a sentence quotes is
computed by the engine in tests/test_app_lesson.py (some are measured results kept as constants: the tests run the
measurement again). Every name is re-exported here.
"""
from __future__ import annotations

from ui.figures import params_config  # noqa: F401  re-exported: tests read it from here
from ui.lesson_steps import basics, clipping, gated, practice
from ui.lesson_steps.basics import (  # noqa: F401  re-exported
    _arrangement,
    _norm_text,
    _units,
    arrangement_fig,
    arrangement_of,
    dW_readout,
    gradient_readout,
    memory_readout,
    n_parameters,
    parameter_readout,
    torch_parameters,
    units_fig,
)
from ui.lesson_steps.clipping import (  # noqa: F401  re-exported
    CLIFF_CLIP,
    CLIFF_CLIPPED_LOSS,
    CLIFF_DEFAULTS,
    CLIFF_LR,
    CLIFF_PLAIN_LOSS,
    CLIFF_START_LOSS,
    CLIFF_STEPS,
    CLIFF_VANISHED,
    CLIFF_VIEW,
    CLIFF_WALL_JUMP,
    CLIFF_WALL_LANDING,
    CLIFF_WALL_NORM,
    CLIFF_WALL_UPDATE,
    TRUNC_ACC_CUT,
    TRUNC_ACC_FULL,
    TRUNC_FULL_LSTM,
    TRUNC_FULL_RNN,
    TRUNC_K2,
    TRUNC_ROWS,
    TRUNC_T,
    TRUNC_UPDATES,
    TruncRun,
    _cliff_fig,
    _surface,
    _trunc_fig,
    cliff_controls,
    cliff_fig,
    cliff_paths,
    cliff_readout,
    run_truncated,
    trunc_controls,
    trunc_fig,
    trunc_readout,
)
from ui.lesson_steps.gated import compare_lesson_readout, lesson_compare_fig  # noqa: F401  re-exported
from ui.lesson_steps.practice import (  # noqa: F401  re-exported
    FREE_RUNNING,
    LENGTH_COLORS,
    LENGTH_TASKS,
    LENGTHS_SHORTEST,
    LENGTHS_T,
    N_SHOWN,
    REVERSAL_UPDATES,
    TEACHER_FORCED,
    TF_VIEWS,
    WHOLE_SEQUENCES,
    PaddedRun,
    _lengths_fig,
    _teacher_fig,
    lengths_controls,
    lengths_fig,
    lengths_readout,
    run_padded,
    shown_sequences,
    teacher_controls,
    teacher_fig,
)
from ui.lesson_steps.step import Question, Step, _net_state, _widget_defaults  # noqa: F401  re-exported

STEPS: tuple[Step, ...] = basics.STEPS + gated.STEPS + practice.STEPS + clipping.STEPS

N_STEPS = len(STEPS)
