"""What works around Streamlit 1.67's behaviour, apart from the controls the sidebar draws.

- The private Streamlit attributes the app reads (STREAMLIT_INTERNALS, ``streamlit_internal``): each one
  listed, a missing one falls back with a warning in the server log. Guarded by
  tests/test_ui_streamlit_internals.py, which fails when the installed Streamlit lacks one.
- The page-switch restore (``_restore_after_page_switch``): with a pages/ folder Streamlit runs each page
  through its v1 multipage path and drops every query parameter a widget bound on the page before, even
  those the page link carries. Guarded by tests/test_app_pages.py (page switches keep the config) and
  tests/test_browser_links.py (the address after a switch, back and forward).
- History detection (``_history_query``): a browser back/forward reaches the script as an ordinary run;
  only the script-run context says it is one. Guarded by tests/test_ui_streamlit_internals.py and the
  back/forward test in tests/test_browser_links.py.
- The collector's full passes (``_Heap``): Streamlit runs ``gc.collect(2)`` after every script run.
  Guarded by tests/test_ui_heap.py.
"""
from __future__ import annotations

import gc
import importlib
import logging
import threading
from typing import Any
from urllib.parse import parse_qs

import streamlit as st

from ui import keys
from ui.config import FIELDS, Config, coerce, reconcile

_LAST = keys.LAST_CONFIG       # session key: config of the previous run, restored on page switch
_PAGE = keys.LAST_PAGE         # session key: title of the page of the previous run
_HERE = keys.THIS_PAGE         # session key: title of the page of this run (set by ui.sidebar.page_setup)
_LOG = logging.getLogger("unrolled")

# Every private Streamlit attribute the app touches, as (module, attribute path). Streamlit is pinned
# to the tested minor in requirements.txt, tests/test_ui_streamlit_internals.py fails when one of these
# is missing from the installed Streamlit, and at run time a missing one falls back to a safe default
# with a warning in the server log (see `streamlit_internal`). Everything else uses the public API.
STREAMLIT_INTERNALS: tuple[tuple[str, str], ...] = (
    # what Streamlit raises for a page link to an unknown page or a query parameter bound to a widget
    ("streamlit.errors", "StreamlitAPIException"),
    # the page switch: whether the browser went back or forward, and the address it went to
    ("streamlit.runtime.scriptrunner_utils.script_run_context", "ScriptRunContext.is_history_navigation"),
    ("streamlit.runtime.scriptrunner_utils.script_run_context", "ScriptRunContext.query_string"),
    ("streamlit.runtime.scriptrunner", "get_script_run_ctx"),
    # ui.train_state: the session a training worker belongs to, and whether its browser is still there
    ("streamlit.runtime.scriptrunner_utils.script_run_context", "ScriptRunContext.session_id"),
    ("streamlit.runtime", "exists"),
    ("streamlit.runtime", "get_instance"),
    ("streamlit.runtime.runtime", "Runtime.is_active_session"),
    # ui.rooms.push: rerun a follower's page from another thread, as Streamlit's run-on-save does
    # (Runtime._session_mgr and AppSession._client_state are instance attributes, checked by
    # tests/test_browser_rooms.py, whose students follow faster than the pages' own fallback check)
    ("streamlit.runtime.session_manager", "SessionManager.get_active_session_info"),
    ("streamlit.runtime.app_session", "AppSession.request_rerun"),
    # ui.health_checks_engine: the readiness answer behind /_stcore/health
    ("streamlit.runtime", "Runtime.is_ready_for_browser_connection"),
)
_WARNED: set[tuple[str, str]] = set()


def streamlit_internal(module: str, path: str, obj: Any = None) -> Any:
    """One entry of STREAMLIT_INTERNALS, or None when the installed Streamlit lacks it.

    With `obj`, the last part of `path` is read from that object (an instance of the class the path
    names) instead of from the module. A miss is logged once per process on the server, never shown.
    """
    if (module, path) not in STREAMLIT_INTERNALS:
        raise KeyError(f"{module}:{path} is not listed in STREAMLIT_INTERNALS")
    try:
        if obj is not None:
            return getattr(obj, path.rsplit(".", 1)[-1])
        found: Any = importlib.import_module(module)
        for part in path.split("."):
            found = getattr(found, part)
        return found
    except Exception as exc:  # noqa: BLE001 - any failure means: not available in this Streamlit
        if (module, path) not in _WARNED:
            _WARNED.add((module, path))
            _LOG.warning("Streamlit internal %s.%s is not available (%s: %s); falling back. "
                         "requirements.txt pins the tested Streamlit minor.", module, path,
                         type(exc).__name__, exc)
        return None


def _api_exception() -> type[Exception]:
    found = streamlit_internal("streamlit.errors", "StreamlitAPIException")
    return found if isinstance(found, type) and issubclass(found, Exception) else Exception


StreamlitAPIException = _api_exception()


def missing_streamlit_internals() -> list[str]:
    """Entries of STREAMLIT_INTERNALS the installed Streamlit does not have (for the test)."""
    import dataclasses

    missing = []
    for module, path in STREAMLIT_INTERNALS:
        try:
            found: Any = importlib.import_module(module)
            parts = path.split(".")
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if last and isinstance(found, type) and not hasattr(found, part):
                    # an instance attribute: a dataclass field or an annotated attribute of the class
                    names = {f.name for f in dataclasses.fields(found)} if dataclasses.is_dataclass(found) \
                        else set(getattr(found, "__annotations__", {}))
                    if part not in names:
                        raise AttributeError(part)
                else:
                    found = getattr(found, part)
        except Exception as exc:  # noqa: BLE001
            missing.append(f"{module}.{path} ({type(exc).__name__}: {exc})")
    return missing


class _Heap:
    """Keeps the garbage collector's full passes short.

    Streamlit runs a full `gc.collect(2)` after every script run, holding the GIL while it walks every
    tracked object: with numba, plotly and streamlit loaded that is ~200k objects and 100–600 ms on
    the reference machine, during which the run's last messages wait and every other session stalls.
    Nearly all of those objects are modules, compiled kernels and validators that live as long as
    the process, so they are moved out of the collector's way (`gc.freeze`) at the start of the first
    two runs of each page in the process (the first freezes what earlier pages loaded, the second what
    this page loaded). Objects made later, such as each run's figures, are collected as before.
    """

    def __init__(self) -> None:
        self._runs: dict[str, int] = {}
        self._lock = threading.Lock()

    def settle(self, page: str) -> None:
        with self._lock:
            n = self._runs.get(page, 0)
            if n >= 2:
                return
            self._runs[page] = n + 1
            gc.freeze()


@st.cache_resource(show_spinner=False)
def _heap() -> _Heap:
    return _Heap()


def current_session_id() -> str | None:
    """The browser session of this script run (a Streamlit internal; None when unavailable)."""
    get_ctx = streamlit_internal("streamlit.runtime.scriptrunner", "get_script_run_ctx")
    try:
        ctx = get_ctx() if get_ctx is not None else None
    except Exception:  # noqa: BLE001
        ctx = None
    if ctx is None:
        return None
    session_id = streamlit_internal("streamlit.runtime.scriptrunner_utils.script_run_context",
                                    "ScriptRunContext.session_id", obj=ctx)
    return session_id if isinstance(session_id, str) else None


def _page_id() -> str:
    """The page of this run (its title, recorded by page_setup)."""
    return str(st.session_state.get(_HERE, ""))


def _write_link_values(values: dict[str, str | None]) -> bool:
    """Put `values` into the address bar (None: remove the parameter), through st.query_params.

    Only possible for parameters no widget has bound yet in this session (Streamlit refuses to set a
    bound one): at the start of a session, and on arriving at a page, whose switch unbinds the keys
    the link carried. Returns whether anything changed.
    """
    changed = False
    for name, text in values.items():
        try:
            if text is None:
                if name in st.query_params:
                    del st.query_params[name]
                    changed = True
            elif st.query_params.get_all(name) != [text]:
                st.query_params[name] = text
                changed = True
        except StreamlitAPIException:
            # still bound to a widget: that widget keeps its value, and Streamlit its address
            pass
    return changed


def _restore_after_page_switch() -> None:
    """Each page has its own widgets (and URL bindings): on arriving at a page, set them to the
    config the previous page ended with, and write that config into the address bar.

    Streamlit drops the parameters bound on the previous page from the address (even those the page
    link carried) and would write restored values back only after a browser rerun on the new page,
    so the first switch of a session left a bare address. Writing it here, before this page's
    widgets bind the keys, needs no rerun.
    """
    page = _page_id()
    previous = st.session_state.get(_PAGE)
    st.session_state[_PAGE] = page
    last = st.session_state.get(_LAST)
    if previous is None or previous == page or not isinstance(last, dict):
        return
    target = Config(**last)
    back = _history_query()
    if back is not None:
        # The browser went back or forward to this page: its address holds the config to show, but
        # Streamlit drops the parameters and would reset those widgets to their defaults.
        asked = {name: coerce(name, back[name])[0] for name in FIELDS if name in back}
        target = Config(**reconcile(asked)[0])
    for name in FIELDS:
        st.session_state[name] = getattr(target, name)
    query = target.to_query()
    if _write_link_values({name: query.get(name) for name in FIELDS}) and back is not None:
        st.rerun()   # the widgets are seeded from the address, as on opening a link


def _history_query() -> dict[str, list[str]] | None:
    """The address's parameters when this run is a browser back/forward, else None (also when the
    Streamlit internals for it are missing: then the config of the page before is kept)."""
    module = "streamlit.runtime.scriptrunner_utils.script_run_context"
    get_ctx = streamlit_internal("streamlit.runtime.scriptrunner", "get_script_run_ctx")
    try:
        ctx = get_ctx() if get_ctx is not None else None
    except Exception:  # noqa: BLE001
        ctx = None
    if ctx is None or streamlit_internal(module, "ScriptRunContext.is_history_navigation", obj=ctx) is not True:
        return None
    query = streamlit_internal(module, "ScriptRunContext.query_string", obj=ctx)
    return parse_qs(query, keep_blank_values=True) if isinstance(query, str) else None
