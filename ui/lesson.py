"""The Lesson page: the step in the address, Back and Next, "Try this", predict-then-reveal, and drawing a step.

What each step says and draws lives in ui/lesson_steps/ (re-exported here). The step lives in the address as
``?step=N`` (1-based). It is not a config field: the sidebar never writes it, so it survives the sidebar's own
address writes and every rerun; a page switch drops it, so the session remembers the last step shown as well.
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ui import keys
from ui.charts import show_chart
from ui.config import Config
from ui.lesson_steps import (  # noqa: F401  re-exported: pages and tests import them from here
    N_STEPS,
    STEPS,
    Question,
    Step,
    _arrangement,
    arrangement_of,
    n_parameters,
    parameter_readout,
    torch_parameters,
)
from ui.plain import plain
from ui.rooms import page as rooms
from ui.rooms import views as room_views
from ui.runs import run_bptt, run_default_fallback
from ui.sidebar import apply_config, describe
from ui.state import Registry, Setting
from viz.spec import Spec
from viz.train import CONFIG as STATIC_CONFIG

STEP_PARAM = "step"              # the address parameter (not a Config field)
_STEP = keys.LESSON_STEP         # session key: the step shown last (restored after a page switch)
_TRIED = keys.LESSON_TRIED       # session key: key of the step whose "Try this" was pressed last
_REVEALED = keys.LESSON_REVEALED  # session key: set of step keys whose answer is shown
CHART_CONFIG = {"displaylogo": False}


# --------------------------------------------------------------------------- the step in the address

def _step_notice(spec: Setting, raw: str, step: int, why: str) -> str:
    """The Lesson's sentence for a step in the address it could not show as given."""
    shown, n = plain(raw.strip(), 20), int(spec.hi)  # Markdown: the link's text is quoted, never interpreted
    if why in ("number", "finite"):
        return f"step={shown} is not a step number; showing step 1 of {n}."
    if why == "range":
        return f"step={shown}: the lesson has steps 1 to {n}; showing step {step}."
    return f"step={shown}: showing step {step}."


LESSON = Registry((Setting("step", "Step", "int", 1, N_STEPS, default=1, param=STEP_PARAM),), _step_notice)


def parse_step(raw, n: int = N_STEPS) -> tuple[int | None, str | None]:
    """The 1-based step a raw address value asks for, clamped to 1..n, and a notice when it was not
    a valid step as given. `raw` None (no parameter): (None, None). Never raises."""
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else None
    if raw is None:
        return None, None
    steps = LESSON if n == N_STEPS else Registry((replace(LESSON["step"], hi=n),), _step_notice)
    return steps.coerce("step", raw)


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
    if step.try_config is not None:
        apply_config(step.try_config)
    for name, value in step.try_widgets:
        st.session_state[name] = value
    st.session_state[_TRIED] = key


def loaded(s: Step, cfg: Config) -> bool:
    """Whether the sidebar and the step's widgets hold what its "Try this" loads."""
    return (s.try_config is None or cfg == s.try_config) and all(
        st.session_state.get(name) == value for name, value in s.try_widgets)


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
    done = loaded(s, cfg)
    where = ("the sidebar (and the address bar)" if not s.try_widgets else
             "the controls above the chart" if s.try_config is None else "the sidebar and the controls above the chart")
    with st.container(border=True):
        st.markdown(f"**Experiment.** {s.try_title}")
        st.button("Try this", key=f"lesson_try_{s.key}", icon=":material/science:", on_click=try_this,
                  args=(s.key,), type="secondary" if done else "primary", help=f"Loads these settings into {where}.")
        if done:
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


def network_note(s: Step, cfg: Config) -> str:
    """What the caption adds about the sidebar's network: all of it, only what fixes the weights (the step
    runs its own data), or nothing (the step's figure does not use the sidebar)."""
    if s.sidebar == "none":
        return ""
    text = describe(cfg)
    if s.sidebar == "weights":
        text = text.split(", input:")[0].replace(f"T = {cfg.T}, ", "") + f", seed {cfg.seed}"
    return " Network: " + text


def _question(s: Step) -> None:
    """Predict, then reveal. In a classroom (ui/rooms) the question is a poll: a following student's
    choice goes to the teacher, who sees the count live and reveals the answer for everyone."""
    q = s.question
    pid = rooms.lesson_poll(s.key, q.prompt, tuple(q.options), q.answer)
    student = rooms.student_following()
    shown = s.key in st.session_state.get(_REVEALED, set())
    radio_key = f"lesson_q_{s.key}"
    with st.container(border=True):
        ask, answer = st.columns([2, 3], gap="large")
    with ask:
        st.markdown(f"**Predict, then reveal.** {q.prompt}")
        extra = dict(on_change=room_views.send_choice, args=(pid, radio_key, tuple(q.options))) if student and pid else {}
        choice = st.radio(q.prompt, range(len(q.options)), index=None, key=radio_key,
                          format_func=lambda i: q.options[i], label_visibility="collapsed",
                          disabled=student and shown, **extra)
        if not shown:
            if student:
                st.caption("The teacher reveals the answer for the whole class; until then you can change yours.")
            else:
                st.button("Reveal the answer", key=f"lesson_reveal_{s.key}", icon=":material/lightbulb:",
                          on_click=reveal, args=(s.key,))
        if pid and not student and not shown:
            room_views.lesson_live(pid)
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
        if pid:
            room_views.lesson_class_answers(pid)


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
    values = s.controls() if s.controls is not None else {}
    if s.key == "arrangements":
        fig, caption = _arrangement_choice(used)
    else:
        fig, caption = s.figure(used, **values), s.caption + network_note(s, used)
    show_chart(fig, key=f"lesson_fig_{s.key}", config=config, csv=not s.static_figure)
    st.caption(caption)
    if s.readout is not None:
        st.info(s.readout(used, **values), icon=":material/straighten:")
    _question(s)
    st.divider()
    _nav(step, "bottom")
