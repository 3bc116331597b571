"""The first page view compiles only the default network's kernels; the rest compile in the background."""
import threading

from ui import runs


def test_first_view_compiles_the_default_network_and_leaves_the_rest_to_a_thread(monkeypatch):
    calls, done = [], threading.Event()

    def fake(cells=None, activations=None, *, sweeps=True):
        calls.append((threading.current_thread().name, cells, activations, sweeps))
        if cells is None:
            done.set()

    monkeypatch.setattr(runs.engine, "warmup", fake)
    monkeypatch.setattr(runs, "WARMUP_DELAY_S", 0.0)
    runs.warmup.clear()
    try:
        assert runs.warmup() is True
        assert calls[0] == (threading.current_thread().name, ("rnn",), ("tanh",), False)
        assert done.wait(10)
        assert calls[1] == ("engine-warmup", None, None, True)    # every cell, activation and sweep
        runs.warmup()
        assert len(calls) == 2                                     # once per process
    finally:
        runs.warmup.clear()


def test_the_engine_warmup_compiles_what_it_is_asked_for():
    import engine
    engine.warmup(cells=("gru",), activations=("relu",), sweeps=False)   # runs, and leaves nothing half-done
    engine.warmup(cells=(), activations=(), sweeps=False)
