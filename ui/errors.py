"""What a visitor sees when something fails: a short message with what to do, never a traceback.

Every page runs its body through ``run_page(where, body)``; a fragment or a part of a page is wrapped in
``guard(...)`` (a context manager, also usable as a decorator). An exception there is logged on the
server with its traceback and a short reference, and the visitor gets that reference and three things
to try. Streamlit's own control flow (st.rerun, st.stop) derives from BaseException and passes through
untouched. Anything that escapes a guard is hidden by ``client.showErrorDetails = "none"`` in
.streamlit/config.toml. ``run_or_defaults`` is the expected failure: settings the engine refuses
(a ValueError) give the defaults' result, with the config used and the reason.
"""
from __future__ import annotations

import contextlib
import logging
import secrets
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

log = logging.getLogger("unrolled")

VISITOR_MESSAGE = (
    "Something went wrong while drawing this view (reference {ref}). Your settings are kept in the "
    "sidebar and in the address bar. Try a different value, press **Reset to defaults** in the sidebar, "
    "or reload the page. If it keeps happening, send the reference to whoever runs this server: the "
    "details are in its log."
)


class guard(contextlib.ContextDecorator):
    """``with guard("Gradients"): ...`` — log any exception with a reference, show the visitor a short
    message instead, and carry on with the rest of the page."""

    def __init__(self, where: str):
        self.where = where

    def __enter__(self) -> guard:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False  # no error, or Streamlit's own rerun/stop signal
        _report(self.where, (kind, exc, tb))
        return True


def _report(where: str, exc_info: Any, ref: str | None = None, *, show: bool = True) -> str:
    """Log the error with its traceback under a reference (a new one unless given); show the visitor
    the short message with it (unless `show` is false). Returns the reference."""
    ref = ref or secrets.token_hex(4)
    log.error("unhandled error on %s (reference %s)", where, ref, exc_info=exc_info)
    if show:
        try:
            st.error(VISITOR_MESSAGE.format(ref=ref), icon=":material/error:")
        except Exception:  # pragma: no cover - nothing more can be shown
            log.exception("could not show the error message (reference %s)", ref)
    return ref


DEFAULTS_NOTE = "The view below is drawn with the default settings."
C = TypeVar("C")


def page_settings() -> Any:
    """The usual page settings: the shared sidebar's config, after the note of a preset just loaded."""
    from ui.sidebar import preset_flash, sidebar  # here, not at the top: the sidebar's modules import this one

    cfg = sidebar()
    preset_flash()
    return cfg


def run_page(where: str, body: Callable[[C], None], settings: Callable[[], C] = page_settings) -> None:
    """Draw a page: ``cfg = settings()`` (the sidebar), then ``body(cfg)`` (everything else).

    An unexpected error in the body is logged with a reference, what the body drew is taken away and the
    visitor gets the short message; then, when `cfg` is not the defaults, the body is drawn again with
    the defaults (``type(cfg)()``) under that message; the sidebar keeps the visitor's values. Should that
    fail too, it is logged under the same reference and nothing more is shown. An error in `settings`
    gives the message alone.
    """
    try:
        cfg = settings()
    except Exception:
        _report(where, sys.exc_info())
        return
    slot = st.empty()
    try:
        with slot.container():
            body(cfg)
        return
    except Exception:
        slot.empty()
        ref = _report(where, sys.exc_info())
    defaults = type(cfg)()
    if cfg == defaults:
        return
    again = st.empty()
    try:
        with again.container():
            st.caption(DEFAULTS_NOTE)
            body(defaults)
    except Exception:
        again.empty()
        _report(f"{where} (with the defaults)", sys.exc_info(), ref, show=False)


def run_or_defaults(func: Callable[[C], Any], cfg: C) -> tuple[Any, C, str | None]:
    """``func(cfg)``, or on a ValueError from the engine ``func`` on the defaults instead.

    Returns (result, the config the result is for, the error message or None); the sidebar keeps what
    was chosen. The run itself is ``ui.runs.run_default_fallback``, looked up at each call.
    """
    from ui import runs  # here, not at the top: ui.runs loads the engine

    result, err = runs.run_default_fallback(func, cfg)
    return result, (cfg if err is None else type(cfg)()), err
