"""Where a classroom's shared state lives: the rooms, the teacher's view, the followers and the polls.

One interface, two homes. ``MemoryStore`` keeps everything in this process (one server, nothing to
install); ``RedisStore`` keeps it in Redis so that every replica behind a proxy sees the same rooms
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
import secrets
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


class RedisStore(RoomStore):
    """Rooms in Redis, shared by every replica. Keys (all under ``prefix``):

    - ``room:{code}`` hash: key (the digest), version, view; it expires ROOM_SECONDS after the teacher's
      last visit (every key of the room gets the same expiry);
    - ``rooms`` sorted set: code → teacher's last visit, for the MAX_ROOMS bound;
    - ``room:{code}:followers`` sorted set: session → last poll;
    - ``room:{code}:polls`` hash: poll id → poll (JSON); ``room:{code}:order`` list of poll ids;
    - ``room:{code}:answers:{poll}`` hash: session → answer; ``room:{code}:rate:{session}`` a counter
      that expires after ANSWER_WINDOW.
    A follower's poll is one HGET of the version.
    """

    def __init__(self, url_or_client: Any, clock: Callable[[], float] = time.time, *, prefix: str = "unrolled:",
                 max_rooms: int = MAX_ROOMS, max_followers: int = MAX_FOLLOWERS):
        super().__init__(clock)
        if isinstance(url_or_client, str):
            import redis  # only when rooms live in Redis

            url_or_client = redis.Redis.from_url(url_or_client, decode_responses=True, socket_timeout=2.0,
                                                 socket_connect_timeout=2.0, health_check_interval=30)
        self.r = url_or_client
        self.p = prefix
        self._sub: threading.Thread | None = None
        self._sub_lock = threading.Lock()
        self.max_rooms, self.max_followers = max_rooms, max_followers

    def _k(self, code: str, *rest: str) -> str:
        return self.p + "room:" + ":".join((code, *rest))

    def _channel(self, code: str) -> str:
        return self.p + "changed:" + code

    def on_change(self, callback) -> None:
        """Also start (once) the thread that listens for every replica's changes (Redis publish/subscribe);
        it reconnects by itself when Redis goes away for a while."""
        super().on_change(callback)
        with self._sub_lock:
            if self._sub is None:
                self._sub = threading.Thread(target=self._listen, name="rooms-redis", daemon=True)
                self._sub.start()

    def _listen(self) -> None:
        while True:
            try:
                ps = self.r.pubsub(ignore_subscribe_messages=True)
                ps.psubscribe(self.p + "changed:*")
                for msg in ps.listen():
                    if msg.get("type") == "pmessage":
                        code = str(msg["channel"]).rsplit(":", 1)[-1]
                        try:
                            version = int(msg["data"])
                        except (TypeError, ValueError):
                            continue
                        self._changed(code, version)
            except Exception:  # noqa: BLE001 - Redis restarting: the hub's sweep covers the gap
                time.sleep(1.0)

    def _ttl(self) -> int:
        return int(ROOM_SECONDS)

    def _digest_of(self, code: str) -> str | None:
        if not valid_code(code):
            return None
        return self.r.hget(self._k(code), "key")

    def _is_teacher(self, code: str, key: str) -> bool:
        return _same_key(key, self._digest_of(code))

    def _room_keys(self, code: str) -> list[str]:
        keys = [self._k(code), self._k(code, "followers"), self._k(code, "polls"), self._k(code, "order")]
        keys += [self._k(code, "answers", pid) for pid in self.r.lrange(self._k(code, "order"), 0, -1)]
        return keys

    def _refresh(self, code: str) -> None:
        now = self.clock()
        pipe = self.r.pipeline()
        for k in self._room_keys(code):
            pipe.expire(k, self._ttl())
        pipe.zadd(self.p + "rooms", {code: now})
        pipe.execute()

    def create(self):
        now = self.clock()
        self.r.zremrangebyscore(self.p + "rooms", "-inf", now - ROOM_SECONDS)
        if self.r.zcard(self.p + "rooms") >= self.max_rooms:
            raise RoomsFull(f"this server already holds {self.max_rooms} rooms")
        key = secrets.token_urlsafe(KEY_BYTES)
        while True:
            code = secrets.token_urlsafe(CODE_BYTES)
            if self.r.hsetnx(self._k(code), "key", _digest(key)):
                break
        pipe = self.r.pipeline()
        pipe.hset(self._k(code), mapping={"version": 0, "view": View().to_json()})
        pipe.expire(self._k(code), self._ttl())
        pipe.zadd(self.p + "rooms", {code: now})
        pipe.execute()
        return code, key

    def exists(self, code):
        return valid_code(code) and bool(self.r.exists(self._k(code)))

    def is_teacher(self, code, key):
        return self._is_teacher(code, key)

    def teacher_seen(self, code, key):
        if not self._is_teacher(code, key):
            return False
        self._refresh(code)
        return True

    def rooms(self):
        self.r.zremrangebyscore(self.p + "rooms", "-inf", self.clock() - ROOM_SECONDS)
        return int(self.r.zcard(self.p + "rooms"))

    def publish(self, code, key, page, query, revealed=()):
        text = check_view(page, query, revealed)
        if not self._is_teacher(code, key):
            return None
        k = self._k(code)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(k)
                    old, version = pipe.hmget(k, "view", "version")
                    version = int(version or 0)
                    if old != text:
                        pipe.multi()
                        pipe.hset(k, mapping={"view": text, "version": version + 1})
                        pipe.publish(self._channel(code), version + 1)   # every replica's followers, at once
                        pipe.execute()
                        version += 1
                    else:
                        pipe.unwatch()
                    break
                except _watch_error():  # pragma: no cover - two tabs of one teacher at the same instant
                    continue
        self._refresh(code)
        return version

    def version(self, code):
        if not valid_code(code):
            return None
        v = self.r.hget(self._k(code), "version")
        return None if v is None else int(v)

    def view(self, code):
        if not valid_code(code):
            return None
        text, version = self.r.hmget(self._k(code), "view", "version")
        return None if text is None else View.from_json(text, int(version or 0))

    def follow(self, code, sid):
        if not _valid_sid(sid) or not self.exists(code):
            return False
        now = self.clock()
        k = self._k(code, "followers")
        if self.r.zscore(k, sid) is None:
            self.r.zremrangebyscore(k, "-inf", now - FOLLOWER_SECONDS)
            if self.r.zcard(k) >= self.max_followers:
                raise RoomsFull(f"this room already has {self.max_followers} followers")
        pipe = self.r.pipeline()
        pipe.zadd(k, {sid: now})
        pipe.expire(k, self._ttl())
        pipe.execute()
        return True

    def leave(self, code, sid):
        if valid_code(code) and _valid_sid(sid):
            self.r.zrem(self._k(code, "followers"), sid)

    def followers(self, code):
        if not valid_code(code):
            return 0
        return int(self.r.zcount(self._k(code, "followers"), self.clock() - FOLLOWER_SECONDS, "+inf"))

    def open_poll(self, code, key, poll_id, question, choices=(), right=None):
        if not _valid_poll_id(poll_id):
            raise ValueError("poll_id: letters, digits and _ . : - (at most 64)")
        if not self._is_teacher(code, key):
            return None
        poll = Poll(poll_id, str(question)[:500], tuple(str(c)[:200] for c in choices)[:12],
                    None if right is None else str(right), False, self.clock())
        if self.r.hsetnx(self._k(code, "polls"), poll_id, poll.to_json()):
            self.r.rpush(self._k(code, "order"), poll_id)
            while self.r.llen(self._k(code, "order")) > MAX_POLLS:
                oldest = self.r.lpop(self._k(code, "order"))
                self.r.hdel(self._k(code, "polls"), oldest)
                self.r.delete(self._k(code, "answers", oldest))
            self._refresh(code)
            return poll
        return self.poll(code, poll_id)

    def poll(self, code, poll_id):
        if not valid_code(code) or not _valid_poll_id(poll_id):
            return None
        text = self.r.hget(self._k(code, "polls"), poll_id)
        return None if text is None else Poll.from_json(text)

    def polls(self, code):
        if not valid_code(code):
            return []
        ids = self.r.lrange(self._k(code, "order"), 0, -1)
        texts = self.r.hmget(self._k(code, "polls"), ids) if ids else []
        return [Poll.from_json(t) for t in texts if t is not None]

    def answer(self, code, sid, poll_id, value):
        if not _valid_sid(sid):
            return False
        poll = self.poll(code, poll_id)
        if poll is None or poll.revealed:
            return False
        text = check_answer(poll, value)
        rate = self._k(code, "rate", sid)
        pipe = self.r.pipeline()
        pipe.incr(rate)
        pipe.expire(rate, int(math.ceil(ANSWER_WINDOW)), nx=True)
        count = pipe.execute()[0]
        if count > ANSWER_BURST:
            raise RateLimited(f"at most {ANSWER_BURST} answers in {ANSWER_WINDOW:g} seconds")
        answers = self._k(code, "answers", poll_id)
        polls = self._k(code, "polls")
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(polls, answers)  # the reveal and the bound are checked in the same transaction
                    current = pipe.hget(polls, poll_id)
                    if current is None or Poll.from_json(current).revealed:
                        pipe.unwatch()
                        return False
                    if not pipe.hexists(answers, sid) and pipe.hlen(answers) >= self.max_followers:
                        pipe.unwatch()
                        raise RoomsFull(f"this poll already has {self.max_followers} answers")
                    pipe.multi()
                    pipe.hset(answers, sid, text)
                    pipe.expire(answers, self._ttl())
                    pipe.execute()
                    return True
                except _watch_error():
                    continue

    def my_answer(self, code, sid, poll_id):
        if not valid_code(code) or not _valid_poll_id(poll_id) or not _valid_sid(sid):
            return None
        return self.r.hget(self._k(code, "answers", poll_id), sid)

    def results(self, code, poll_id, key=None):
        poll = self.poll(code, poll_id)
        if poll is None or not (poll.revealed or self._is_teacher(code, key)):
            return None
        return _results(poll, list(self.r.hvals(self._k(code, "answers", poll_id))))

    def reveal(self, code, key, poll_id):
        if not self._is_teacher(code, key):
            return False
        poll = self.poll(code, poll_id)
        if poll is None:
            return False
        done = Poll(poll.id, poll.question, poll.choices, poll.right, True, poll.opened)
        self.r.hset(self._k(code, "polls"), poll_id, done.to_json())
        return True

    def close(self, code, key):
        if not self._is_teacher(code, key):
            return False
        keys = self._room_keys(code)
        self.r.delete(*keys)
        self.r.zrem(self.p + "rooms", code)
        return True


def _watch_error():
    import redis

    return redis.WatchError


_STORE: RoomStore | None = None
_STORE_LOCK = threading.Lock()


def store() -> RoomStore:
    """This process's store: Redis when UNROLLED_ROOMS_URL is set, else memory."""
    global _STORE
    with _STORE_LOCK:
        if _STORE is None:
            url = os.environ.get("UNROLLED_ROOMS_URL", "").strip()
            _STORE = RedisStore(url) if url else MemoryStore()
        return _STORE
