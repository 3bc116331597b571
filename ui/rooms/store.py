"""Where a classroom's shared state lives: the rooms, the teacher's view, the followers and the polls.

One interface (``RoomStore``, here with the records and the checks both homes share), two homes.
``ui/rooms/memory.py``'s ``MemoryStore`` keeps everything in this process (one server, nothing to
install); ``ui/rooms/redis_store.py``'s ``RedisStore`` keeps it in Redis so that every replica behind a proxy sees the same rooms
(``UNROLLED_ROOMS_URL=redis://host:port/db``). ``store()`` picks one from the environment.

What a room holds (nothing personal: followers are anonymous session ids, answers carry no names):

- a public code (72 random bits, in every student link) and the teacher key (144 random bits, never in
  a student link); only the key's SHA-256 is stored and keys are compared in constant time;
- the teacher's view: ``{"page": ..., "query": {...}, "revealed": [...]}`` with a version number that
  grows by one at every change, so a follower only has to compare one number to know it is behind;
- the followers seen in the last ``FOLLOWER_SECONDS``, at most ``MAX_FOLLOWERS`` of them;
- polls: a question with choices (or a number to predict), one answer per session, changeable until the
  teacher reveals it; a session may answer at most ``ANSWER_BURST`` times per ``ANSWER_WINDOW`` seconds.

A room expires ``ROOM_SECONDS`` (4 hours) after the teacher was last seen; a server holds at most
``MAX_ROOMS`` live rooms. Every method takes the code as the visitor typed it: a malformed, unknown or
expired code is simply not a room (``None`` / ``False``), never an exception.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

ROOM_SECONDS = 4 * 3600          # a room lives this long after the teacher was last seen
FOLLOWER_SECONDS = 15.0          # a follower counts as connected this long after its last poll
MAX_ROOMS = int(os.environ.get("UNROLLED_MAX_ROOMS", "200"))
MAX_FOLLOWERS = int(os.environ.get("UNROLLED_MAX_FOLLOWERS", "400"))
MAX_POLLS = 64                   # polls one room keeps (the oldest goes first)
ANSWER_BURST = 6                 # answers one session may give ...
ANSWER_WINDOW = 10.0             # ... in this many seconds
MAX_VIEW_BYTES = 16_000          # a view is a page name and its address parameters, never a payload
CODE_BYTES, KEY_BYTES = 9, 18    # token_urlsafe: 12 characters (72 bits), 24 characters (144 bits)
_CODE = re.compile(r"[A-Za-z0-9_-]{12}")
_KEY = re.compile(r"[A-Za-z0-9_-]{24}")
_SID = re.compile(r"[A-Za-z0-9_.:-]{1,80}")
_POLL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class RoomsFull(RuntimeError):
    """The server holds MAX_ROOMS live rooms (or the room MAX_FOLLOWERS followers)."""


class RateLimited(RuntimeError):
    """A session answered more than ANSWER_BURST times in ANSWER_WINDOW seconds."""


def valid_code(code: Any) -> bool:
    return isinstance(code, str) and _CODE.fullmatch(code) is not None


def valid_key(key: Any) -> bool:
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _same_key(key: Any, digest: str | None) -> bool:
    """Constant time in the key's content: both sides are hashed, then compared with compare_digest."""
    if not digest or not valid_key(key):
        return False
    return hmac.compare_digest(_digest(key), digest)


@dataclass(frozen=True)
class Poll:
    """One question put to the class. ``choices`` empty: a number to predict (answers are floats)."""

    id: str
    question: str
    choices: tuple[str, ...] = ()
    right: str | None = None          # the right choice (or number, as text), shown at the reveal
    revealed: bool = False
    opened: float = 0.0

    @property
    def numeric(self) -> bool:
        return not self.choices

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "question": self.question, "choices": list(self.choices),
                           "right": self.right, "revealed": self.revealed, "opened": self.opened})

    @staticmethod
    def from_json(text: str) -> Poll:
        d = json.loads(text)
        return Poll(d["id"], d["question"], tuple(d["choices"]), d.get("right"), bool(d["revealed"]),
                    float(d.get("opened", 0.0)))


@dataclass(frozen=True)
class Results:
    """A poll's answers: counts per choice (in the poll's order) or the numbers given."""

    poll: Poll
    counts: tuple[int, ...] = ()
    numbers: tuple[float, ...] = ()
    answered: int = 0


@dataclass(frozen=True)
class View:
    """What the teacher shows: the page, its address parameters and the Lesson answers revealed."""

    page: str = ""
    query: dict[str, str] = field(default_factory=dict)
    revealed: tuple[str, ...] = ()
    version: int = 0

    def to_json(self) -> str:
        return json.dumps({"page": self.page, "query": self.query, "revealed": list(self.revealed)},
                          sort_keys=True)

    @staticmethod
    def from_json(text: str, version: int) -> View:
        d = json.loads(text)
        return View(str(d.get("page", "")), {str(k): str(v) for k, v in dict(d.get("query", {})).items()},
                    tuple(str(r) for r in d.get("revealed", ())), int(version))


def check_view(page: str, query: dict, revealed: Sequence[str]) -> str:
    """The view as stored text; ValueError naming the argument for what a view cannot be."""
    if not isinstance(page, str) or len(page) > 200:
        raise ValueError("page: a page name of at most 200 characters")
    if not isinstance(query, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in query.items()):
        raise ValueError("query: a mapping of address parameter names to strings")
    text = View(page, dict(query), tuple(str(r) for r in revealed)).to_json()
    if len(text) > MAX_VIEW_BYTES:
        raise ValueError(f"query: the view may take at most {MAX_VIEW_BYTES} bytes")
    return text


def check_answer(poll: Poll, value: Any) -> str:
    """The answer as stored text; ValueError for an answer the poll cannot take."""
    if poll.numeric:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError("value: a number") from None
        if not math.isfinite(x) or abs(x) > 1e12:
            raise ValueError("value: a finite number of magnitude at most 1e12")
        return repr(x)
    if value not in poll.choices:
        raise ValueError(f"value: one of {list(poll.choices)}")
    return str(value)


def _results(poll: Poll, answers: Sequence[str]) -> Results:
    if poll.numeric:
        nums = tuple(float(a) for a in answers)
        return Results(poll, numbers=nums, answered=len(nums))
    counts = [0] * len(poll.choices)
    index = {c: i for i, c in enumerate(poll.choices)}
    for a in answers:
        if a in index:
            counts[index[a]] += 1
    return Results(poll, counts=tuple(counts), answered=sum(counts))


class RoomStore:
    """The interface both homes implement (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._listeners: list[Callable[[str, int], None]] = []

    def on_change(self, callback: Callable[[str, int], None]) -> None:
        """Call `callback(code, version)` whenever a teacher's view changes (on any replica, for Redis)."""
        self._listeners.append(callback)

    def _changed(self, code: str, version: int) -> None:
        for cb in list(self._listeners):
            try:
                cb(code, version)
            except Exception:  # noqa: BLE001 - one listener's failure must not stop the teacher
                pass

    # rooms
    def create(self) -> tuple[str, str]:
        """A new room: (code, teacher key). RoomsFull when the server holds MAX_ROOMS live rooms."""
        raise NotImplementedError

    def exists(self, code: str) -> bool:
        raise NotImplementedError

    def is_teacher(self, code: str, key: str) -> bool:
        raise NotImplementedError

    def teacher_seen(self, code: str, key: str) -> bool:
        """The teacher is here: the room lives ROOM_SECONDS from now. False for a wrong key."""
        raise NotImplementedError

    def rooms(self) -> int:
        """Live rooms on this store."""
        raise NotImplementedError

    # the teacher's view
    def publish(self, code: str, key: str, page: str, query: dict, revealed: Sequence[str] = ()) -> int | None:
        """Set the teacher's view; returns its version (unchanged when the view is the same), None for a
        wrong key or room."""
        raise NotImplementedError

    def version(self, code: str) -> int | None:
        """The view's version (one cheap read per follower poll); None: no such room."""
        raise NotImplementedError

    def view(self, code: str) -> View | None:
        raise NotImplementedError

    # followers
    def follow(self, code: str, sid: str) -> bool:
        """A follower's heartbeat. False: no such room. RoomsFull: MAX_FOLLOWERS are connected."""
        raise NotImplementedError

    def leave(self, code: str, sid: str) -> None:
        raise NotImplementedError

    def followers(self, code: str) -> int:
        """Followers seen in the last FOLLOWER_SECONDS."""
        raise NotImplementedError

    # polls
    def open_poll(self, code: str, key: str, poll_id: str, question: str, choices: Sequence[str] = (),
                  right: str | None = None) -> Poll | None:
        """Open (or re-open unchanged) a poll; None for a wrong key or room."""
        raise NotImplementedError

    def poll(self, code: str, poll_id: str) -> Poll | None:
        raise NotImplementedError

    def polls(self, code: str) -> list[Poll]:
        """The room's polls, oldest first."""
        raise NotImplementedError

    def answer(self, code: str, sid: str, poll_id: str, value: Any) -> bool:
        """Record (or change) this session's answer. False: no such room or poll, or already revealed.
        ValueError: an answer the poll cannot take. RateLimited: too many answers too fast."""
        raise NotImplementedError

    def my_answer(self, code: str, sid: str, poll_id: str) -> str | None:
        raise NotImplementedError

    def results(self, code: str, poll_id: str, key: str | None = None) -> Results | None:
        """The answers so far: for the teacher (right key) at any time, for anyone after the reveal.
        None otherwise, so no follower sees the class's answers before the reveal."""
        raise NotImplementedError

    def reveal(self, code: str, key: str, poll_id: str) -> bool:
        raise NotImplementedError

    def close(self, code: str, key: str) -> bool:
        """The teacher ends the room."""
        raise NotImplementedError


def _valid_sid(sid: Any) -> bool:
    return isinstance(sid, str) and _SID.fullmatch(sid) is not None


def _valid_poll_id(poll_id: Any) -> bool:
    return isinstance(poll_id, str) and _POLL.fullmatch(poll_id) is not None


_STORE: RoomStore | None = None
_STORE_LOCK = threading.Lock()


def store() -> RoomStore:
    """This process's store: Redis when UNROLLED_ROOMS_URL is set, else memory."""
    global _STORE
    with _STORE_LOCK:
        if _STORE is None:
            url = os.environ.get("UNROLLED_ROOMS_URL", "").strip()
            if url:
                from ui.rooms.redis_store import RedisStore

                _STORE = RedisStore(url)
            else:
                from ui.rooms.memory import MemoryStore

                _STORE = MemoryStore()
        return _STORE
