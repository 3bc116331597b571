"""Followers are told, not asked: when the teacher's view changes, this process reruns the page of each of
its students in that room at once, on the server, instead of every student's page polling.

``Hub`` keeps, per room, the Streamlit sessions of this process's students (with the version each has
shown and whether it follows). A change reaches it three ways: the memory store calls it when the
teacher publishes (same process); the Redis store's subscriber thread calls it when any replica
publishes; and one sweep thread, once a second, compares each room's version (one read per room) with
what its followers showed, which also catches a message missed during a reconnect. The sweep also
tells the store every few seconds which students are here (the count on the teacher's screen) and
forgets the sessions that ended.

A rerun is asked for the way Streamlit's own run-on-save asks it, from another thread:
``AppSession.request_rerun`` with the session's last client state (as a full run, not a fragment's).
Those are internals (ui/streamlit_compat.py lists them; tests/test_ui_streamlit_internals.py fails if
they move); without them a follower still follows through the page's slower fallback fragment.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from ui.rooms.store import FOLLOWER_SECONDS, RoomsFull, RoomStore

_LOG = logging.getLogger(__name__)
SWEEP_SECONDS = 1.0
HEARTBEAT_SECONDS = min(5.0, FOLLOWER_SECONDS / 3)
# A rerun asked for is not asked again for the same version before this: a page that is still being drawn
# would otherwise be stopped and started again by every sweep (Streamlit's fast reruns stop the running
# script), and a large class under load would never finish a page.
RETRY_SECONDS = 15.0


@dataclass
class Member:
    sid: str                 # the store's anonymous id of the student
    following: bool
    seen: int                # the teacher's version this page shows
    asked: int = -1          # the version a rerun was last asked for
    asked_at: float = 0.0    # when (time.monotonic)


def _app_session(session_id: str):
    """The live AppSession of a Streamlit session id, or None (ended, or no runtime)."""
    from ui.streamlit_compat import streamlit_internal

    exists = streamlit_internal("streamlit.runtime", "exists")
    get_instance = streamlit_internal("streamlit.runtime", "get_instance")
    if exists is None or get_instance is None or streamlit_internal(
            "streamlit.runtime.session_manager", "SessionManager.get_active_session_info") is None:
        return None
    try:
        if not exists():
            return None
        info = get_instance()._session_mgr.get_active_session_info(session_id)
    except Exception:  # noqa: BLE001 - an internal that moved: the fallback fragment still follows
        return None
    return None if info is None else info.session


def rerun_session(session_id: str) -> bool:
    """Ask Streamlit to rerun the whole page of a session, with its last address and widget states."""
    session = _app_session(session_id)
    if session is None:
        return False
    try:
        from streamlit.proto.ClientState_pb2 import ClientState

        state = ClientState()
        state.CopyFrom(session._client_state)
        state.fragment_id = ""          # the whole page, even when the last run was a fragment's
        state.is_auto_rerun = False
        session.request_rerun(state)
    except Exception:  # noqa: BLE001
        _LOG.debug("could not rerun session %s", session_id, exc_info=True)
        return False
    return True


class Hub:
    """This process's students, by room, and the thread that keeps them in step."""

    def __init__(self, store: RoomStore, rerun=rerun_session, session_alive=None):
        self.store = store
        self._rerun = rerun
        self._alive = session_alive or (lambda session_id: _app_session(session_id) is not None)
        self._lock = threading.Lock()
        self._rooms: dict[str, dict[str, Member]] = {}     # code -> Streamlit session id -> Member
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._beat = 0.0
        store.on_change(self.changed)

    def join(self, code: str, session_id: str, sid: str, *, following: bool, seen: int) -> None:
        """This page shows room `code`. A new student is counted in the store at once (the sweep keeps it
        counted); RoomsFull when the room has no place left (the page still follows)."""
        with self._lock:
            members = self._rooms.setdefault(code, {})
            old = members.get(session_id)
            members[session_id] = Member(sid, following, seen, *((old.asked, old.asked_at) if old else ()))
        self._start()
        if old is None:
            self.store.follow(code, sid)

    def leave(self, code: str, session_id: str) -> None:
        with self._lock:
            members = self._rooms.get(code, {})
            m = members.pop(session_id, None)
            if not members:
                self._rooms.pop(code, None)
        if m is not None:
            self.store.leave(code, m.sid)

    def members(self, code: str) -> dict[str, Member]:
        with self._lock:
            return dict(self._rooms.get(code, {}))

    def changed(self, code: str, version: int | None = None) -> int:
        """The teacher's view of room `code` changed: rerun every following page behind it. Returns how
        many reruns were asked for."""
        if version is None:
            version = self.store.version(code)
        if version is None:   # the room ended or expired: each page says so on its next run
            with self._lock:
                gone = list(self._rooms.pop(code, {}))
            return sum(1 for s in gone if self._rerun(s))
        now = time.monotonic()
        with self._lock:
            behind = []
            for s, m in self._rooms.get(code, {}).items():
                if m.following and m.seen != version and (m.asked != version or now - m.asked_at > RETRY_SECONDS):
                    m.asked, m.asked_at = version, now
                    behind.append(s)
        return sum(1 for s in behind if self._rerun(s))

    def sweep(self, now: float | None = None) -> None:
        """One pass of the thread: forget ended sessions, catch missed changes, tell the store who is here."""
        now = time.monotonic() if now is None else now
        with self._lock:
            rooms = {code: dict(members) for code, members in self._rooms.items()}
        for code, members in rooms.items():
            for session_id in [s for s in members if not self._alive(s)]:
                self.leave(code, session_id)
                members.pop(session_id)
            if members:
                self.changed(code)
        if now - self._beat >= HEARTBEAT_SECONDS:
            self._beat = now
            for code, members in rooms.items():
                for m in members.values():
                    try:
                        self.store.follow(code, m.sid)
                    except RoomsFull:
                        pass

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="rooms-hub", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SWEEP_SECONDS):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a store that is down for a moment: try again next second
                _LOG.warning("classroom sweep failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()


_HUB: Hub | None = None
_HUB_LOCK = threading.Lock()


def hub() -> Hub:
    """This process's hub, on this process's store."""
    global _HUB
    from ui.rooms.store import store

    with _HUB_LOCK:
        if _HUB is None or _HUB.store is not store():
            _HUB = Hub(store())
        return _HUB
