"""What a room draws on a page: the teacher's box (student link, QR code, students, a number question,
End the class), the student's banner (following or exploring) and the class's answers to polls."""
from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import streamlit as st

from ui.plain import plain
from ui.rooms.page import (
    _NOTICE,
    _SEAT,
    ROOM,
    TEACH,
    Seat,
    _say,
    class_results,
    seat,
    session_id,
)
from ui.rooms.push import hub
from ui.rooms.store import RateLimited, Results, RoomsFull, store
from ui.streamlit_compat import _write_link_values

FALLBACK_SECONDS = 10.0             # a follower's own check of the teacher's version (the hub pushes at once)
TEACHER_POLL_SECONDS = 2.0          # the teacher's live count and answers


# --------------------------------------------------------------------------- what the page shows

def student_link(s: Seat) -> str:
    try:
        base = (st.context.url or "").split("?")[0]
    except Exception:  # pragma: no cover - no browser context (tests)
        base = ""
    return f"{base}?{ROOM}={s.code}"


def qr_png(text: str, scale: int = 10) -> bytes:
    import segno

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def show(s: Seat | None) -> None:
    """The room's box (teacher) or banner (student) at the top of the page, and any notice."""
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.info(notice, icon=":material/groups:")
    if s is None:
        return
    if s.teacher:
        _teacher_box(s)
    else:
        _student_banner(s)


def _teacher_box(s: Seat) -> None:
    link = student_link(s)
    with st.expander(f"Classroom {s.code}: students open this link", expanded=True, icon=":material/groups:"):
        left, right = st.columns([2, 1], gap="large")
        with left:
            st.code(link, language=None, wrap_lines=True)
            st.caption("Students who open it follow this screen: the page, every control, the Lesson step "
                       "and the answers you reveal. Your own link (with the teacher key) stays with you.")
            _teacher_live(s)
            _ask_number_form(s)
            st.button("End the class", key="room_end", icon=":material/logout:", on_click=_end, args=(s,))
        right.image(qr_png(link), caption="Scan to follow", width="stretch", alt="QR code of the student link")


@st.fragment(run_every=TEACHER_POLL_SECONDS)
def _teacher_live(s: Seat) -> None:
    store().teacher_seen(s.code, s.key)
    st.metric("Students following", store().followers(s.code))
    free = [p for p in store().polls(s.code) if p.numeric]
    if free:
        p = free[-1]
        r = store().results(s.code, p.id, s.key)
        if r is not None:
            _number_results(r, p.question)
            if not p.revealed:
                st.button("Reveal the class's predictions", key=f"room_reveal_{p.id}",
                          on_click=store().reveal, args=(s.code, s.key, p.id), icon=":material/lightbulb:")


def _ask_number_form(s: Seat) -> None:
    with st.form("room_ask", clear_on_submit=True, border=False):
        q = st.text_input("Ask the class to predict a number", max_chars=200,
                          placeholder="How many orders of magnitude does the gradient lose by step 1?")
        right = st.text_input("The answer (shown at the reveal; optional)", max_chars=40)
        if st.form_submit_button("Ask", icon=":material/help:") and q.strip():
            n = len(store().polls(s.code)) + 1
            store().open_poll(s.code, s.key, f"free-{n}", q.strip(), (), right.strip() or None)


def _end(s: Seat) -> None:
    for session in hub().members(s.code):
        hub().leave(s.code, session)
    store().close(s.code, s.key)
    st.session_state.pop(_SEAT, None)
    _write_link_values({ROOM: None, TEACH: None})
    _say("The classroom has ended. Students keep the page they are on, on their own.")


def _student_banner(s: Seat) -> None:
    with st.container(border=True):
        if s.following:
            a, b = st.columns([4, 1], vertical_alignment="center")
            a.markdown(f":material/groups: **Following the teacher** (room {s.code}). Your screen shows "
                       "what the teacher shows.")
            b.button("Explore on my own", key="room_detach", on_click=_detach, args=(s,), width="stretch")
            _follower_live(s)
        else:
            a, b = st.columns([4, 1], vertical_alignment="center")
            a.markdown(f":material/explore: **Exploring on your own** (room {s.code}). Your moves stay on your "
                       "screen.")
            b.button("Follow again", key="room_follow", on_click=_rejoin, args=(s,), width="stretch")
        _number_question(s)


def _detach(s: Seat) -> None:
    st.session_state[_SEAT] = replace(s, following=False)    # still in the room (and counted), not following


def _rejoin(s: Seat) -> None:
    st.session_state[_SEAT] = replace(s, following=True, seen=-1)


@st.fragment(run_every=FALLBACK_SECONDS)
def _follower_live(s: Seat) -> None:
    """The slow fallback: the hub reruns this page when the teacher changes something; this check
    catches what the hub could not (a session its process does not hold, Streamlit internals moved)."""
    version = store().version(s.code)
    current = seat()
    if version is None or (current is not None and current.following and version != current.seen):
        st.rerun(scope="app")


def _number_question(s: Seat) -> None:
    free = [p for p in store().polls(s.code) if p.numeric]
    if not free:
        return
    p = free[-1]
    if p.revealed:
        r = store().results(s.code, p.id)
        if r is not None:
            _number_results(r, p.question)
        return
    mine = store().my_answer(s.code, session_id(), p.id)
    with st.form(f"room_answer_{p.id}", border=False):
        v = st.number_input(f"The teacher asks: {p.question}", value=float(mine) if mine else None,
                            format="%g", key=f"room_value_{p.id}")
        if st.form_submit_button("Send my prediction" if mine is None else "Change my prediction"):
            answer(s, p.id, v)
    if mine is not None:
        st.caption(f"Your prediction: {float(mine):g}. The class's answers appear when the teacher reveals them.")


def answer(s: Seat, poll_id: str, value: Any) -> bool:
    """Send this session's answer; a plain sentence on screen for what the store refuses."""
    try:
        ok = store().answer(s.code, session_id(), poll_id, value)
    except RateLimited:
        st.warning("Too many answers in a short time: wait a few seconds.")
        return False
    except (ValueError, RoomsFull) as e:
        st.warning("That answer cannot be taken: " + str(e).split(": ", 1)[-1])
        return False
    if not ok:
        st.info("The answers are already revealed.")
    return ok


def _number_results(r: Results, question: str) -> None:
    from viz.rooms import number_figure

    right = None
    if r.poll.revealed and r.poll.right is not None:
        try:
            right = float(r.poll.right)
        except ValueError:
            right = None
    st.markdown(f"**{plain(question, 200)}** {r.answered} answered.")
    if r.numbers:
        st.plotly_chart(number_figure(r.numbers, right=right), key=f"room_hist_{r.poll.id}",
                        config={"displaylogo": False})


def send_choice(pid: str, radio_key: str, options: tuple[str, ...]) -> None:
    """Callback of a following student's answer radio: the chosen option goes to the poll."""
    s, i = seat(), st.session_state.get(radio_key)
    if s is not None and isinstance(i, int) and 0 <= i < len(options):
        answer(s, pid, options[i])


@st.fragment(run_every=TEACHER_POLL_SECONDS)
def lesson_live(pid: str) -> None:
    """The teacher's live count of the answers to a Lesson question, with the choices' bars."""
    s = seat()
    if s is None or not s.teacher:
        return
    r = store().results(s.code, pid, s.key)
    if r is None:
        return
    st.markdown(f"**{r.answered} of {store().followers(s.code)} answered**")
    if r.answered:
        _choice_chart(r, right=None)


def lesson_class_answers(pid: str) -> None:
    """After the reveal: the class's answers beside the explanation, the right one marked."""
    r = class_results(pid)
    if r is None or not r.answered:
        return
    st.markdown(f"**The class's answers** ({r.answered})")
    _choice_chart(r, right=r.poll.right)


def _choice_chart(r: Results, right: str | None) -> None:
    from viz.rooms import choice_figure

    st.plotly_chart(choice_figure(r.poll.choices, r.counts, right=right), key=f"room_bars_{r.poll.id}",
                    config={"displaylogo": False})
