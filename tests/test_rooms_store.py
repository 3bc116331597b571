"""ui/rooms/store.py: the same behaviour from the memory store, from fakeredis and from a real
redis-server that this module starts (never a mock in the Redis tests that claim Redis)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import pytest

from ui.rooms import store as rs
from ui.rooms.memory import MemoryStore
from ui.rooms.redis_store import RedisStore
from ui.rooms.store import RateLimited, RoomsFull


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server():
    """A real redis-server on a free port, without persistence; stopped at the end of the module."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not shutil.which(exe):
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:  # pragma: no cover
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["memory", "fakeredis", "redis"])
def make(request):
    """A factory of stores of one kind: make(clock=..., max_rooms=..., max_followers=...)."""
    kind = request.param
    counter = [0]

    def factory(clock=None, **kw):
        clock = clock or Clock()
        if kind == "memory":
            return MemoryStore(clock, **kw)
        counter[0] += 1
        prefix = f"t{counter[0]}:{request.node.name}:"
        if kind == "fakeredis":
            import fakeredis

            return RedisStore(fakeredis.FakeRedis(decode_responses=True), clock, prefix=prefix, **kw)
        url = request.getfixturevalue("redis_server")
        return RedisStore(url, clock, prefix=prefix, **kw)

    factory.kind = kind
    return factory


def test_codes_and_keys_are_random_and_long_enough(make):
    s = make()
    code, key = s.create()
    assert rs.valid_code(code) and rs.valid_key(key)
    assert len(code) * 6 >= 64 and len(key) * 6 >= 128          # url-safe base64: 6 bits a character
    codes = {s.create()[0] for _ in range(20)}
    assert len(codes) == 20
    assert s.exists(code) and s.is_teacher(code, key)
    assert not s.is_teacher(code, key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert not s.is_teacher(code, "")
    assert not s.is_teacher(code, None)


@pytest.mark.parametrize("bad", ["", "new", "x" * 12 + "?", "../../etc", "a" * 500, None, 12, "ÄÄÄÄÄÄÄÄÄÄÄÄ"])
def test_a_bad_or_unknown_code_is_not_a_room(make, bad):
    s = make()
    s.create()
    assert not s.exists(bad)
    assert s.version(bad) is None and s.view(bad) is None
    assert s.follow(bad, "sid1") is False
    assert s.followers(bad) == 0
    assert s.polls(bad) == []
    assert s.answer(bad, "sid1", "p1", "a") is False
    assert s.results(bad, "p1") is None
    assert s.publish(bad, "k" * 24, "Unroll", {}) is None
    assert not s.exists("A" * 12)                                      # well formed, unknown


def test_the_teacher_publishes_and_a_follower_sees_each_change_as_a_new_version(make):
    s = make()
    code, key = s.create()
    assert s.version(code) == 0
    v1 = s.publish(code, key, "Gradients", {"rho": "1.1", "T": "40"}, ["vanish"])
    assert v1 == 1
    assert s.publish(code, key, "Gradients", {"rho": "1.1", "T": "40"}, ["vanish"]) == 1   # same view: same version
    view = s.view(code)
    assert (view.page, view.query, view.revealed, view.version) == ("Gradients", {"rho": "1.1", "T": "40"}, ("vanish",), 1)
    assert s.publish(code, key, "Spectrum", {"rho": "1.1"}) == 2
    assert s.version(code) == 2


def test_a_student_cannot_drive(make):
    s = make()
    code, key = s.create()
    s.publish(code, key, "Unroll", {"T": "8"})
    other_code, other_key = s.create()
    assert s.publish(code, other_key, "Train", {}) is None           # another room's key
    assert s.publish(code, "", "Train", {}) is None
    assert s.open_poll(code, other_key, "q", "?", ["a", "b"]) is None
    s.open_poll(code, key, "q", "?", ["a", "b"])
    assert not s.reveal(code, other_key, "q")
    assert not s.close(code, other_key)
    assert s.view(code).page == "Unroll"


def test_a_view_is_checked(make):
    s = make()
    code, key = s.create()
    with pytest.raises(ValueError, match="query"):
        s.publish(code, key, "Unroll", {"T": 8})
    with pytest.raises(ValueError, match="query"):
        s.publish(code, key, "Unroll", {"x": "y" * (rs.MAX_VIEW_BYTES + 1)})
    with pytest.raises(ValueError, match="page"):
        s.publish(code, key, None, {})


def test_followers_are_counted_and_forgotten(make):
    clock = Clock()
    s = make(clock=clock, max_followers=3)
    code, _ = s.create()
    for sid in ("a", "b", "c"):
        assert s.follow(code, sid)
    assert s.followers(code) == 3
    with pytest.raises(RoomsFull):
        s.follow(code, "d")
    assert s.follow(code, "a")                                          # a known follower's heartbeat
    s.leave(code, "b")
    assert s.followers(code) == 2 and s.follow(code, "d")
    clock.t += rs.FOLLOWER_SECONDS + 1
    assert s.followers(code) == 0
    assert s.follow(code, "e") and s.followers(code) == 1             # the silent ones made room
    assert s.follow(code, "bad id with spaces") is False


def test_a_server_holds_a_bounded_number_of_rooms(make):
    clock = Clock()
    s = make(clock=clock, max_rooms=3)
    rooms = [s.create() for _ in range(3)]
    with pytest.raises(RoomsFull):
        s.create()
    assert s.rooms() == 3
    assert s.close(*rooms[0]) and not s.exists(rooms[0][0])
    s.create()
    with pytest.raises(RoomsFull):
        s.create()
    clock.t += rs.ROOM_SECONDS + 1                                      # the teachers left 4 hours ago
    s.create()
    assert s.rooms() == 1


def test_a_room_expires_four_hours_after_the_teacher_was_last_seen():
    clock = Clock()
    s = MemoryStore(clock)
    code, key = s.create()
    clock.t += rs.ROOM_SECONDS - 10
    assert s.teacher_seen(code, key)                                    # the teacher is back: 4 more hours
    clock.t += rs.ROOM_SECONDS - 10
    assert s.exists(code)
    clock.t += 20
    assert not s.exists(code) and s.view(code) is None and not s.is_teacher(code, key)


def test_a_redis_room_expires_with_its_keys(redis_server):
    """The same rule on a real redis-server, with a 2 s lifetime: every key of the room goes."""

    class Short(RedisStore):
        def _ttl(self):
            return 2

    s = Short(redis_server, prefix="expiry:")
    code, key = s.create()
    s.publish(code, key, "Unroll", {"T": "8"})
    s.follow(code, "a")
    s.open_poll(code, key, "q", "?", ["x", "y"])
    s.answer(code, "a", "q", "x")
    assert s.teacher_seen(code, key)
    assert all(s.r.ttl(k) > 0 for k in s._room_keys(code))
    time.sleep(2.5)
    assert not s.exists(code) and s.view(code) is None and s.polls(code) == []
    left = s.r.keys("expiry:room:*")
    assert all(":rate:" in k and 0 < s.r.ttl(k) <= rs.ANSWER_WINDOW for k in left), left   # a rate counter lives 10 s


def test_a_choice_poll_counts_one_changeable_answer_per_session_until_the_reveal(make):
    s = make()
    code, key = s.create()
    p = s.open_poll(code, key, "lesson-vanish", "How many orders of magnitude?", ["1", "5", "20"], right="20")
    assert p.choices == ("1", "5", "20") and not p.revealed
    assert s.open_poll(code, key, "lesson-vanish", "another text", ["x"]).question == p.question   # re-open: unchanged
    assert s.answer(code, "a", "lesson-vanish", "5")
    assert s.answer(code, "b", "lesson-vanish", "20")
    assert s.answer(code, "a", "lesson-vanish", "20")                   # changed, not counted twice
    with pytest.raises(ValueError, match="value"):
        s.answer(code, "c", "lesson-vanish", "7")
    assert s.my_answer(code, "a", "lesson-vanish") == "20"
    assert s.results(code, "lesson-vanish") is None                     # a follower sees nothing before the reveal
    r = s.results(code, "lesson-vanish", key)
    assert r.counts == (0, 0, 2) and r.answered == 2
    assert s.reveal(code, key, "lesson-vanish")
    assert s.answer(code, "c", "lesson-vanish", "1") is False           # too late
    r = s.results(code, "lesson-vanish")
    assert r.counts == (0, 0, 2) and r.poll.revealed and r.poll.right == "20"
    assert s.answer(code, "a", "nope", "1") is False


def test_a_number_poll_collects_numbers(make):
    s = make()
    code, key = s.create()
    s.open_poll(code, key, "free-1", "How many orders of magnitude reach step 1?")
    for sid, v in (("a", "12"), ("b", 19.5), ("c", "-3")):
        assert s.answer(code, sid, "free-1", v)
    for bad in ("nan", "inf", "twelve", None, 1e13):
        with pytest.raises(ValueError, match="value"):
            s.answer(code, "d", "free-1", bad)
    r = s.results(code, "free-1", key)
    assert sorted(r.numbers) == [-3.0, 12.0, 19.5] and r.answered == 3


def test_answers_are_rate_limited(make):
    s = make()
    code, key = s.create()
    s.open_poll(code, key, "q", "?", ["a", "b"])
    for i in range(rs.ANSWER_BURST):
        s.answer(code, "flood", "q", "ab"[i % 2])
    with pytest.raises(RateLimited):
        s.answer(code, "flood", "q", "a")
    assert s.answer(code, "calm", "q", "b")                             # another session is not affected
    assert s.results(code, "q", key).answered == 2


def test_a_room_keeps_a_bounded_number_of_polls(make):
    s = make()
    code, key = s.create()
    for i in range(rs.MAX_POLLS + 3):
        s.open_poll(code, key, f"p{i}", "?", ["a"])
    ids = [p.id for p in s.polls(code)]
    assert len(ids) == rs.MAX_POLLS and ids[0] == "p3" and ids[-1] == f"p{rs.MAX_POLLS + 2}"


def test_many_threads_answering_at_once_count_exactly(make):
    s = make(max_followers=1000)
    code, key = s.create()
    s.open_poll(code, key, "q", "?", ["a", "b", "c"])
    errors = []

    def student(i):
        try:
            assert s.answer(code, f"s{i}", "q", "abc"[i % 3])
            assert s.answer(code, f"s{i}", "q", "abc"[(i + 1) % 3])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert s.results(code, "q", key).counts == (20, 20, 20)


def test_two_stores_on_one_redis_share_the_rooms(redis_server):
    """Two replicas: the teacher's server and a follower's server see the same room."""
    a = RedisStore(redis_server, prefix="shared:")
    b = RedisStore(redis_server, prefix="shared:")
    code, key = a.create()
    a.publish(code, key, "Spectrum", {"rho": "0.9"})
    assert b.view(code).query == {"rho": "0.9"} and b.is_teacher(code, key)
    b.follow(code, "s1")
    assert a.followers(code) == 1
    a.open_poll(code, key, "q", "?", ["x", "y"])
    assert b.answer(code, "s1", "q", "y")
    assert a.results(code, "q", key).counts == (0, 1)


def test_the_store_comes_from_the_environment(monkeypatch, redis_server):
    monkeypatch.setattr(rs, "_STORE", None)
    monkeypatch.delenv("UNROLLED_ROOMS_URL", raising=False)
    assert isinstance(rs.store(), MemoryStore)
    monkeypatch.setattr(rs, "_STORE", None)
    monkeypatch.setenv("UNROLLED_ROOMS_URL", redis_server)
    s = rs.store()
    assert isinstance(s, RedisStore) and s.r.ping()
    monkeypatch.setattr(rs, "_STORE", None)
