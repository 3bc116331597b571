"""Rooms in Redis, shared by every replica behind a proxy (UNROLLED_ROOMS_URL; ui/rooms/store.py)."""
from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

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
