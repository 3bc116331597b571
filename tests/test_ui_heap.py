"""The long-lived heap is frozen a bounded number of times, so Streamlit's full GC after each run stays short."""
import gc

from ui.streamlit_compat import _Heap


def test_heap_freezes_at_the_first_two_runs_of_each_page(monkeypatch):
    calls = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1))
    heap = _Heap()
    for _ in range(5):
        heap.settle("home")
    assert len(calls) == 2
    heap.settle("unroll")
    heap.settle("unroll")
    heap.settle("unroll")
    assert len(calls) == 4


def test_a_full_collection_after_freezing_skips_the_frozen_objects():
    junk = [[i] for i in range(50_000)]
    gc.freeze()
    try:
        assert gc.get_freeze_count() >= len(junk)
    finally:
        gc.unfreeze()
    del junk
