"""A room on every page: which seat this session has (teacher or student), the teacher's view written to
the room, and a following student's controls set to it (ui/rooms/views.py draws the box and the banner).

How following works. The teacher's page publishes its view at every run: the page, the value of every
address-bound control (the sidebar's config, the Train, Phase diagram and Lesson controls), the Lesson
step and the answers revealed (ui/rooms/store.py keeps it with a version number). A following
student's page runs a small fragment twice a second that reads that one number; when it grows, the
whole page runs again, sets every control to the teacher's values before any widget is drawn, and
switches page when the teacher did. The student's own moves between two changes of the teacher stay
on the student's screen until the next change; "Explore on my own" stops following.

Address: ``?room=new`` creates a room and reloads as the teacher (``?room=<code>&teach=<key>``); the
student link is ``<page>?room=<code>``. Streamlit may drop parameters no widget binds on a page
switch, so the seat is also kept in the session and written back into the address.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from ui import keys
from ui.config import FIELDS, Config, coerce, fmt, reconcile
from ui.plain import plain
from ui.rooms.push import hub
from ui.rooms.store import Results, RoomsFull, View, store, valid_code
from ui.streamlit_compat import _LAST, _page_id, _write_link_values, current_session_id

ROOM, TEACH = "room", "teach"       # address parameters
NEW = "new"
_SEAT = keys.ROOM_SEAT              # session key: this session's Seat in a room
_SID = keys.ROOM_SID                # session key: this session's anonymous id in the rooms' store
_PENDING = keys.ROOM_PENDING        # session key: a teacher's view to apply on arriving at its page
_NOTICE = keys.ROOM_NOTICE          # session key: a sentence about the room to show once
_REVEALED = keys.LESSON_REVEALED    # the Lesson's session key of the revealed answers (ui/lesson.py)
STEP = "step"                       # the Lesson's address parameter (ui/lesson.py)
# Controls besides the sidebar's config that a follower takes from the teacher: the Train page (tr_),
# the Phase diagram (ph_) and the Lesson's own widgets. Buttons and the Lesson's answer radios never.
SHARED_PREFIXES = ("tr_", "ph_", "lesson_")
NOT_SHARED = ("lesson_back_", "lesson_next_", "lesson_reveal_", "lesson_try_", "lesson_q_")


@dataclass(frozen=True)
class Seat:
    """This session in a room: the teacher (with the key) or a student, following or exploring."""

    code: str
    key: str | None = None
    following: bool = True
    seen: int = -1                  # the teacher's version last applied

    @property
    def teacher(self) -> bool:
        return self.key is not None

    def query(self) -> dict[str, str]:
        return {ROOM: self.code, **({TEACH: self.key} if self.key else {})}


def session_id() -> str:
    """An anonymous id of this browser session (random, nothing personal)."""
    sid = st.session_state.get(_SID)
    if not isinstance(sid, str):
        sid = st.session_state[_SID] = secrets.token_urlsafe(12)
    return sid


def seat() -> Seat | None:
    s = st.session_state.get(_SEAT)
    return s if isinstance(s, Seat) else None


def _say(text: str) -> None:
    st.session_state[_NOTICE] = text


def _hub_join(s: Seat) -> None:
    """Tell this process's hub that this page (its Streamlit session, which the hub reruns) shows room `s`,
    and whether it follows."""
    session = current_session_id()
    if session is None or s.teacher:
        return
    try:
        hub().join(s.code, session, session_id(), following=s.following, seen=s.seen)
    except RoomsFull:
        _say("This classroom is full: you see the teacher's screen, but you are not counted.")


def _leave_room(text: str | None = None) -> None:
    old = seat()
    session = current_session_id()
    if old is not None and session is not None:
        hub().leave(old.code, session)
    st.session_state.pop(_SEAT, None)
    st.session_state.pop(_PENDING, None)
    _write_link_values({ROOM: None, TEACH: None})
    if text:
        _say(text)


def shared_key(name: str) -> bool:
    return name in FIELDS or (name.startswith(SHARED_PREFIXES) and not name.startswith(NOT_SHARED))


# --------------------------------------------------------------------------- arriving at a page

def arrive() -> Seat | None:
    """Read the room from the address (or the session), create one for ``room=new``, and for a following
    student apply the teacher's view. Call before any widget is drawn. May rerun or switch page."""
    raw = st.query_params.get_all(ROOM)
    current = seat()
    if raw:
        code = raw[-1].strip()
        if code == NEW:
            _create()      # reruns as the teacher, unless the server holds all the rooms it can
            return None
        key = (st.query_params.get_all(TEACH) or [None])[-1]
        if current is None or current.code != code or (key and current.key != key):
            current = _take_seat(code, key)
            if current is None:
                return None
    elif current is not None:
        _write_link_values(current.query())      # a page switch dropped the room from the address
    if current is None:
        return None
    if not store().exists(current.code):
        _leave_room("This classroom has ended: the teacher closed it, or it expired 4 hours after the "
                    "teacher was last here. This is the normal page.")
        return None
    if current.teacher:
        store().teacher_seen(current.code, current.key)
    elif current.following:
        pending = st.session_state.pop(_PENDING, None)
        view = pending if isinstance(pending, View) else None
        if view is None and store().version(current.code) != current.seen:
            view = store().view(current.code)
        if view is not None:
            current = _apply(current, view)
    _hub_join(current)
    return current


def _create() -> None:
    try:
        code, key = store().create()
    except RoomsFull:
        _write_link_values({ROOM: None})
        _say("This server cannot open another classroom right now (it holds as many as it can). "
             "Try again later; the page works on its own meanwhile.")
        return
    st.session_state[_SEAT] = Seat(code, key)
    _write_link_values({ROOM: code, TEACH: key})
    st.rerun()


def _take_seat(code: str, key: str | None) -> Seat | None:
    if not valid_code(code) or not store().exists(code):
        _leave_room(f"There is no classroom with the code “{plain(code, 24)}”: it may have ended, or the "
                    "link was cut short. This is the normal page, on your own.")
        return None
    if key is not None and not store().is_teacher(code, key):
        _write_link_values({TEACH: None})
        _say("The teacher key in this link does not open this classroom: you follow it as a student.")
        key = None
    s = Seat(code, key)
    st.session_state[_SEAT] = s
    return s


def _decode(view: View) -> dict[str, Any]:
    out = {}
    for name, text in view.query.items():
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out


def _apply(s: Seat, view: View) -> Seat:
    """Set every control to the teacher's values (before any widget of this run is drawn)."""
    here = _page_id()
    if view.page and view.page != here:
        path = _path_of(view.page)
        if path is not None:
            st.session_state[_PENDING] = view
            st.switch_page(path, query_params=s.query())
    state = _decode(view)
    asked = {name: coerce(name, fmt(state[name]))[0] for name in FIELDS if name in state}
    cfg = Config(**{**Config().as_dict(), **reconcile(asked)[0]})
    for name in FIELDS:
        st.session_state[name] = getattr(cfg, name)
    st.session_state[_LAST] = cfg.as_dict()
    for name, value in state.items():
        if name not in FIELDS and shared_key(name):
            st.session_state[name] = value
    if STEP in state and here == "Lesson":
        st.query_params[STEP] = str(state[STEP])    # the Lesson reads (and clamps) the step from the address
    st.session_state[_REVEALED] = set(view.revealed)
    s = replace(s, seen=view.version)
    st.session_state[_SEAT] = s
    return s


def _path_of(label: str) -> str | None:
    from ui.sidebar import pages

    return next((path for path, name, _ in pages() if name == label), None)


# --------------------------------------------------------------------------- the teacher publishes

def publish(s: Seat, cfg: Config) -> int | None:
    """The teacher's view of this run into the store (its version grows only when something changed)."""
    state: dict[str, str] = {name: json.dumps(getattr(cfg, name)) for name in FIELDS}
    for name, value in st.session_state.items():
        if isinstance(name, str) and name not in FIELDS and shared_key(name) and isinstance(value, (bool, int, float, str)):
            state[name] = json.dumps(value)
    page = _page_id()
    if page == "Lesson":
        step = (st.query_params.get_all(STEP) or [str(st.session_state.get(keys.LESSON_STEP, 1))])[-1]
        state[STEP] = json.dumps(int(step) if step.isdigit() else 1)
    revealed = sorted(str(k) for k in st.session_state.get(_REVEALED, set()))
    for k in revealed:  # the Lesson's Reveal also shows the class its answers
        poll = store().poll(s.code, f"lesson-{k}")
        if poll is not None and not poll.revealed:
            store().reveal(s.code, s.key, poll.id)
    try:
        return store().publish(s.code, s.key, page, state, revealed)
    except ValueError:
        return None


# --------------------------------------------------------------------------- the Lesson's questions

def lesson_poll(step_key: str, prompt: str, options: tuple[str, ...], answer_index: int) -> str | None:
    """In a room, the Lesson question of step `step_key` is a poll: the teacher opens it. Returns the
    poll's id (None outside a room)."""
    s = seat()
    if s is None:
        return None
    pid = f"lesson-{step_key}"
    if s.teacher:
        store().open_poll(s.code, s.key, pid, prompt, options, options[answer_index])
    return pid


def class_results(pid: str) -> Results | None:
    """The class's answers: the teacher sees them live, a student after the reveal."""
    s = seat()
    if s is None:
        return None
    return store().results(s.code, pid, s.key)


def student_following() -> bool:
    s = seat()
    return s is not None and not s.teacher and s.following
