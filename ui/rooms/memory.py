"""Rooms in this process's memory, behind one lock: the store for one server (ui/rooms/store.py)."""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ui.rooms.store import (
    ANSWER_BURST,
    ANSWER_WINDOW,
    CODE_BYTES,
    FOLLOWER_SECONDS,
    KEY_BYTES,
    MAX_FOLLOWERS,
    MAX_POLLS,
    MAX_ROOMS,
    ROOM_SECONDS,
    Poll,
    RateLimited,
    RoomsFull,
    RoomStore,
    View,
    _digest,
    _results,
    _same_key,
    _valid_poll_id,
    _valid_sid,
    check_answer,
    check_view,
    valid_code,
)


@dataclass
class _Room:
    key_digest: str
    seen: float
    view: str = field(default_factory=lambda: View().to_json())
    version: int = 0
    followers: dict[str, float] = field(default_factory=dict)
    polls: dict[str, Poll] = field(default_factory=dict)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    recent: dict[str, list[float]] = field(default_factory=dict)


class MemoryStore(RoomStore):
    """Rooms in this process's memory, behind one lock."""

    def __init__(self, clock: Callable[[], float] = time.time, *, max_rooms: int = MAX_ROOMS,
                 max_followers: int = MAX_FOLLOWERS):
        super().__init__(clock)
        self.max_rooms, self.max_followers = max_rooms, max_followers
        self._rooms: dict[str, _Room] = {}
        self._lock = threading.Lock()

    def _purge(self, now: float) -> None:
        for code in [c for c, r in self._rooms.items() if now - r.seen > ROOM_SECONDS]:
            del self._rooms[code]

    def _room(self, code: str) -> _Room | None:
        if not valid_code(code):
            return None
        room = self._rooms.get(code)
        if room is not None and self.clock() - room.seen > ROOM_SECONDS:
            del self._rooms[code]
            return None
        return room

    def _teacher_room(self, code: str, key: str) -> _Room | None:
        room = self._room(code)
        return room if room is not None and _same_key(key, room.key_digest) else None

    def create(self) -> tuple[str, str]:
        with self._lock:
            now = self.clock()
            self._purge(now)
            if len(self._rooms) >= self.max_rooms:
                raise RoomsFull(f"this server already holds {self.max_rooms} rooms")
            code = secrets.token_urlsafe(CODE_BYTES)
            while code in self._rooms:  # pragma: no cover - 72 random bits
                code = secrets.token_urlsafe(CODE_BYTES)
            key = secrets.token_urlsafe(KEY_BYTES)
            self._rooms[code] = _Room(_digest(key), now)
            return code, key

    def exists(self, code: str) -> bool:
        with self._lock:
            return self._room(code) is not None

    def is_teacher(self, code: str, key: str) -> bool:
        with self._lock:
            return self._teacher_room(code, key) is not None

    def teacher_seen(self, code: str, key: str) -> bool:
        with self._lock:
            room = self._teacher_room(code, key)
            if room is None:
                return False
            room.seen = self.clock()
            return True

    def rooms(self) -> int:
        with self._lock:
            self._purge(self.clock())
            return len(self._rooms)

    def publish(self, code, key, page, query, revealed=()):
        text = check_view(page, query, revealed)
        with self._lock:
            room = self._teacher_room(code, key)
            if room is None:
                return None
            room.seen = self.clock()
            changed = text != room.view
            if changed:
                room.view, room.version = text, room.version + 1
            version = room.version
        if changed:
            self._changed(code, version)
        return version

    def version(self, code):
        with self._lock:
            room = self._room(code)
            return None if room is None else room.version

    def view(self, code):
        with self._lock:
            room = self._room(code)
            return None if room is None else View.from_json(room.view, room.version)

    def follow(self, code, sid):
        if not _valid_sid(sid):
            return False
        with self._lock:
            room = self._room(code)
            if room is None:
                return False
            now = self.clock()
            if sid not in room.followers:
                for s in [s for s, t in room.followers.items() if now - t > FOLLOWER_SECONDS]:
                    del room.followers[s]
                if len(room.followers) >= self.max_followers:
                    raise RoomsFull(f"this room already has {self.max_followers} followers")
            room.followers[sid] = now
            return True

    def leave(self, code, sid):
        with self._lock:
            room = self._room(code)
            if room is not None:
                room.followers.pop(sid, None)

    def followers(self, code):
        with self._lock:
            room = self._room(code)
            if room is None:
                return 0
            now = self.clock()
            return sum(1 for t in room.followers.values() if now - t <= FOLLOWER_SECONDS)

    def open_poll(self, code, key, poll_id, question, choices=(), right=None):
        if not _valid_poll_id(poll_id):
            raise ValueError("poll_id: letters, digits and _ . : - (at most 64)")
        with self._lock:
            room = self._teacher_room(code, key)
            if room is None:
                return None
            if poll_id in room.polls:
                return room.polls[poll_id]
            poll = Poll(poll_id, str(question)[:500], tuple(str(c)[:200] for c in choices)[:12],
                        None if right is None else str(right), False, self.clock())
            room.polls[poll_id] = poll
            room.answers[poll_id] = {}
            while len(room.polls) > MAX_POLLS:
                oldest = next(iter(room.polls))
                del room.polls[oldest], room.answers[oldest]
            return poll

    def poll(self, code, poll_id):
        with self._lock:
            room = self._room(code)
            return None if room is None else room.polls.get(poll_id)

    def polls(self, code):
        with self._lock:
            room = self._room(code)
            return [] if room is None else list(room.polls.values())

    def answer(self, code, sid, poll_id, value):
        if not _valid_sid(sid):
            return False
        with self._lock:
            room = self._room(code)
            poll = None if room is None else room.polls.get(poll_id)
            if poll is None or poll.revealed:
                return False
            text = check_answer(poll, value)
            now = self.clock()
            recent = [t for t in room.recent.get(sid, ()) if now - t < ANSWER_WINDOW]
            if len(recent) >= ANSWER_BURST:
                raise RateLimited(f"at most {ANSWER_BURST} answers in {ANSWER_WINDOW:g} seconds")
            room.recent[sid] = recent + [now]
            answers = room.answers[poll_id]
            if sid not in answers and len(answers) >= self.max_followers:
                raise RoomsFull(f"this poll already has {self.max_followers} answers")
            answers[sid] = text
            return True

    def my_answer(self, code, sid, poll_id):
        with self._lock:
            room = self._room(code)
            return None if room is None else room.answers.get(poll_id, {}).get(sid)

    def results(self, code, poll_id, key=None):
        with self._lock:
            room = self._room(code)
            poll = None if room is None else room.polls.get(poll_id)
            if poll is None or not (poll.revealed or _same_key(key, room.key_digest)):
                return None
            return _results(poll, list(room.answers[poll_id].values()))

    def reveal(self, code, key, poll_id):
        with self._lock:
            room = self._teacher_room(code, key)
            poll = None if room is None else room.polls.get(poll_id)
            if poll is None:
                return False
            room.polls[poll_id] = Poll(poll.id, poll.question, poll.choices, poll.right, True, poll.opened)
            return True

    def close(self, code, key):
        with self._lock:
            if self._teacher_room(code, key) is None:
                return False
            del self._rooms[code]
            return True
