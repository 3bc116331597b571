"""ui/rooms/push.py: the hub reruns exactly the following pages that are behind the teacher, forgets
ended sessions, keeps its students counted, and hears every replica's changes through Redis
(a real redis-server, started by tests/test_rooms_store.py's fixture)."""
from __future__ import annotations

import threading
import time

from test_rooms_store import redis_server  # noqa: F401 (fixture)

from ui.rooms import push
from ui.rooms.memory import MemoryStore
from ui.rooms.push import Hub
from ui.rooms.redis_store import RedisStore


class Fake:
    def __init__(self):
        self.reruns: list[str] = []
        self.alive: set[str] = set()

    def rerun(self, session_id: str) -> bool:
        self.reruns.append(session_id)
        return session_id in self.alive


def test_a_change_reruns_the_followers_behind_it_and_no_one_else():
    store, fake = MemoryStore(), Fake()
    hub = Hub(store, rerun=fake.rerun, session_alive=fake.alive.__contains__)
    code, key = store.create()
    other, other_key = store.create()
    fake.alive |= {"a", "b", "c", "d"}
    hub.join(code, "a", "sa", following=True, seen=0)
    hub.join(code, "b", "sb", following=False, seen=0)     # exploring on their own
    hub.join(other, "c", "sc", following=True, seen=0)     # another room
    hub.join(code, "d", "sd", following=True, seen=1)      # already shows version 1
    assert store.publish(code, key, "Unroll", {"T": "8"}) == 1     # the memory store calls the hub at once
    assert fake.reruns == ["a"]
    hub.stop()


def test_the_sweep_forgets_ended_sessions_and_keeps_the_others_counted():
    store, fake = MemoryStore(), Fake()
    hub = Hub(store, rerun=fake.rerun, session_alive=fake.alive.__contains__)
    hub.stop()
    code, key = store.create()
    fake.alive |= {"a", "b"}
    for s in ("a", "b"):
        store.follow(code, "s" + s)
        hub.join(code, s, "s" + s, following=True, seen=0)
    fake.alive.discard("b")                                 # tab closed
    hub.sweep(now=1e9)
    assert set(hub.members(code)) == {"a"} and store.followers(code) == 1
    store._listeners.clear()                                # a message that never arrives
    store.publish(code, key, "Spectrum", {})
    fake.reruns.clear()
    hub.sweep(now=1e9 + 0.5)                                # the sweep catches it
    assert fake.reruns == ["a"]


def test_a_page_being_drawn_is_not_asked_again_until_the_retry_time(monkeypatch):
    """Streamlit stops a running script for a new rerun: asking every sweep would never let a big class's
    pages finish. One ask per version, again only after RETRY_SECONDS."""
    store, fake = MemoryStore(), Fake()
    hub = Hub(store, rerun=fake.rerun, session_alive=lambda s: True)
    hub.stop()
    code, key = store.create()
    fake.alive.add("a")
    hub.join(code, "a", "sa", following=True, seen=0)
    clock = [1000.0]
    monkeypatch.setattr(push.time, "monotonic", lambda: clock[0])
    store.publish(code, key, "Unroll", {"T": "9"})
    assert fake.reruns == ["a"]
    for _ in range(5):
        clock[0] += push.SWEEP_SECONDS
        hub.sweep()
    assert fake.reruns == ["a"], "asked again while the page was being drawn"
    hub.join(code, "a", "sa", following=True, seen=0)       # the page ran, but showed nothing new
    clock[0] += push.RETRY_SECONDS
    hub.sweep()
    assert fake.reruns == ["a", "a"]
    hub.join(code, "a", "sa", following=True, seen=1)       # caught up: nothing more
    clock[0] += push.RETRY_SECONDS
    hub.sweep()
    assert fake.reruns == ["a", "a"]


def test_a_room_that_ends_reruns_its_pages_once_and_is_forgotten():
    store, fake = MemoryStore(), Fake()
    hub = Hub(store, rerun=fake.rerun, session_alive=lambda s: True)
    hub.stop()
    code, key = store.create()
    hub.join(code, "a", "sa", following=False, seen=0)
    store.close(code, key)
    assert hub.changed(code) == 0 and fake.reruns == ["a"]
    assert hub.members(code) == {}


def test_rerun_session_without_a_runtime_is_refused():
    assert push.rerun_session("no-such-session") is False


def test_every_replica_hears_a_change_through_redis(redis_server):  # noqa: F811
    teacher_side = RedisStore(redis_server, prefix="push:")
    student_side = RedisStore(redis_server, prefix="push:")
    heard: list[tuple[str, int]] = []
    got = threading.Event()

    def listener(code, version):
        heard.append((code, version))
        got.set()

    student_side.on_change(listener)
    code, key = teacher_side.create()
    time.sleep(0.3)                                         # the subscriber thread is listening
    t0 = time.monotonic()
    assert teacher_side.publish(code, key, "Gradients", {"rho": "1.1"}) == 1
    assert got.wait(5.0), "no message from the other replica"
    assert heard == [(code, 1)]
    assert time.monotonic() - t0 < 2.0
    teacher_side.publish(code, key, "Gradients", {"rho": "1.1"})   # unchanged: no message
    time.sleep(0.3)
    assert heard == [(code, 1)]
