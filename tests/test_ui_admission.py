"""ui.admission: the server-wide limit on heavy computations."""
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from ui import admission as adm_mod
from ui.admission import HEAVY_WORK, Admission, QueueTimeout, heavy_slot

HEAVY = HEAVY_WORK * 10


@pytest.fixture
def limit(monkeypatch):
    """Replace the process-wide admission by a fresh one with `n` slots."""
    def make(n: int) -> Admission:
        a = Admission(n)
        monkeypatch.setattr(adm_mod, "admission", lambda: a)
        return a
    return make


def test_at_most_k_heavy_computations_run_at_once(limit):
    a = limit(2)
    inside, peak, lock = [0], [0], threading.Lock()

    def work():
        with heavy_slot(HEAVY):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak[0] == 2
    assert a.running == 0 and a.waiting == 0


def test_light_work_never_waits(limit):
    a = limit(0)                             # no slot at all: anything that queued could never run
    with heavy_slot(HEAVY_WORK / 2, max_wait=0) as held:   # and would give up at once (QueueTimeout)
        assert held is False
        assert a.waiting == 0 and a.running == 0
    with pytest.raises(QueueTimeout):        # the positive control: heavy work in the same place does queue
        with heavy_slot(HEAVY, max_wait=0):
            pytest.fail("ran without a slot")


def test_the_slot_is_released_when_the_body_raises(limit):
    a = limit(1)
    with pytest.raises(ZeroDivisionError):
        with heavy_slot(HEAVY):
            assert a.running == 1
            raise ZeroDivisionError("the body failed")
    assert a.running == 0
    assert a.try_acquire()                   # free again
    a.release()


def test_nested_heavy_work_holds_one_slot(limit):
    a = limit(1)
    with heavy_slot(HEAVY):
        with heavy_slot(HEAVY) as inner:     # would deadlock if it asked for a second slot
            assert inner is True and a.running == 1
    assert a.running == 0


def test_a_queued_computation_gives_up_after_the_wait_limit(limit):
    a = limit(0)
    with pytest.raises(QueueTimeout):
        with heavy_slot(HEAVY, max_wait=0.2):
            pytest.fail("ran without a slot")
    assert a.waiting == 0 and a.running == 0


def test_a_queued_computation_starts_when_a_slot_frees(limit):
    a = limit(1)
    assert a.try_acquire()                   # someone else holds the only slot
    threading.Timer(0.3, a.release).start()
    t0 = time.monotonic()
    with heavy_slot(HEAVY):
        waited = time.monotonic() - t0
    assert waited >= 0.2
    assert a.running == 0


def _busy_page():
    import streamlit as st

    from ui.admission import QueueTimeout, heavy_slot

    try:
        with heavy_slot(1e15, max_wait=0.5):
            st.write("computed")
    except QueueTimeout:
        st.write("gave up")


def test_the_page_says_it_is_queued(limit):
    a = limit(1)
    assert a.try_acquire()                   # one heavy computation running: no free slot
    try:
        at = AppTest.from_function(_busy_page, default_timeout=30).run()
    finally:
        a.release()
    assert not at.exception
    texts = [m.value for m in at.info]
    assert any(t.startswith("Busy: 1 heavy computation is running; yours is queued") for t in texts), texts
    assert [m.value for m in at.markdown] == ["gave up"]


def test_no_message_when_a_slot_is_free(limit):
    limit(1)
    at = AppTest.from_function(_busy_page, default_timeout=30).run()
    assert not at.exception
    assert not at.info
    assert [m.value for m in at.markdown] == ["computed"]


def test_default_slots_leave_a_core_free(monkeypatch):
    monkeypatch.delenv("UNROLLED_HEAVY_SLOTS", raising=False)
    monkeypatch.setattr(adm_mod.os, "cpu_count", lambda: 2)
    assert adm_mod.heavy_slots() == 1
    monkeypatch.setattr(adm_mod.os, "cpu_count", lambda: 8)
    assert adm_mod.heavy_slots() == 7
    monkeypatch.setenv("UNROLLED_HEAVY_SLOTS", "3")
    assert adm_mod.heavy_slots() == 3
    monkeypatch.setenv("UNROLLED_HEAVY_SLOTS", "zero")
    assert adm_mod.heavy_slots() == 7


def test_costs_put_the_large_views_above_the_threshold():
    assert adm_mod.cost_bptt(100, 32) < HEAVY_WORK                  # the defaults are light
    assert adm_mod.cost_bptt(1000, 256, "lstm") >= HEAVY_WORK       # T = 1000, H = 256, LSTM
    assert adm_mod.cost_jacobians(1000, 256, 1.5e9) >= HEAVY_WORK


def _cached_busy_page():
    import streamlit as st

    from ui.admission import heavy_slot

    @st.cache_data(max_entries=2, show_spinner=False)
    def heavy(x: int) -> int:
        with heavy_slot(1e15):
            return x + 1

    st.write(f"result {heavy(41)}")


def test_a_cached_heavy_result_is_served_without_the_queue_message(limit):
    a = limit(1)
    assert a.try_acquire()
    threading.Timer(1.0, a.release).start()   # the slot frees while the first run waits
    at = AppTest.from_function(_cached_busy_page, default_timeout=30).run()
    assert not at.exception
    assert [m.value for m in at.markdown] == ["result 42"]
    assert not at.info                        # the message went once the slot was free
    assert a.try_acquire()                    # slot held again by someone: a cache hit does not wait
    try:
        at.run()
    finally:
        a.release()
    assert not at.exception and not at.info
    assert [m.value for m in at.markdown] == ["result 42"]
