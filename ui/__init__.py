"""Streamlit-side helpers: the config, the shared sidebar, presets and cached engine runs.

Importing the package also sets one process-wide numpy option for the server (`huge_pages_off`) and makes
the server's health answer include the engine (`health_checks_engine`)."""
from __future__ import annotations


def huge_pages_off() -> bool:
    """Stop numpy from asking the kernel for transparent huge pages on large arrays; returns whether
    it had been asking.

    numpy calls madvise(MADV_HUGEPAGE) on every allocation of 4 MB or more. Where the kernel's huge
    pages are in "madvise" mode with synchronous defrag (common on virtual machines, and the case on
    the machine the README's figures come from), the first touch of such an array waits for the kernel
    to assemble and zero 2 MB pages: the adding task's 16 MB training set took 33 ms to make instead of
    11 ms, and the Train page's CPU per move fell from 64 to 43 ms with this off. The server's large
    arrays are made, touched once or twice and dropped, so it gains nothing from huge pages.
    NUMPY_MADVISE_HUGEPAGE=0 does the same, but numpy reads it only when first imported, which
    Streamlit does before any page runs."""
    from numpy._core import multiarray

    get, put = getattr(multiarray, "_get_madvise_hugepage", None), getattr(multiarray, "_set_madvise_hugepage", None)
    if get is None or put is None:        # a numpy without the switch: nothing to do
        return False
    was = bool(get())
    put(False)
    return was


def health_checks_engine(runtime_class=None) -> bool:
    """Make /_stcore/health answer 503 with the reason when the engine does not compute (engine.selfcheck:
    one tiny bptt of each cell, at most every few seconds, in a worker thread); returns whether it was
    installed now.

    Streamlit's health route (streamlit/web/server/starlette/starlette_routes.py, 1.67) answers with
    `await runtime.is_ready_for_browser_connection`, a property of Runtime that only looks at the runtime
    state: a server whose every page fails still said "ok", so probes never replaced it. Wrapping that
    property keeps /_stcore/health the probe path. It takes effect when the first page runs in the
    process (the first visitor, or /_stcore/script-health-check). tests/test_engine_cache_recovery.py
    fails when Streamlit moves it. ``runtime_class``: the class to patch (default: that of the running
    server's runtime)."""
    from ui.streamlit_compat import streamlit_internal

    Runtime = runtime_class
    if Runtime is None:   # the class of this process's runtime
        exists, get_instance = (streamlit_internal("streamlit.runtime", name) for name in ("exists", "get_instance"))
        if exists is None or get_instance is None or not exists():
            return False   # no server in this process (a script, a test without one): nothing to answer for
        Runtime = type(get_instance())
    stock = streamlit_internal("streamlit.runtime", "Runtime.is_ready_for_browser_connection", obj=Runtime)
    if not isinstance(stock, property) or getattr(stock.fget, "checks_engine", False):
        return False

    async def is_ready_for_browser_connection(self) -> tuple[bool, str]:
        ok, message = await stock.fget(self)
        if not ok:
            return ok, message
        import engine
        return await engine.selfcheck_async()

    is_ready_for_browser_connection.checks_engine = True
    Runtime.is_ready_for_browser_connection = property(is_ready_for_browser_connection)
    return True


huge_pages_off()
health_checks_engine()
