"""What a visitor sees when something fails: a short message with what to do, never a traceback.

Every page runs its body inside ``guard(...)`` (a context manager, also usable as a decorator on
fragments). An exception there is logged on the server with its traceback and a short reference,
and the visitor gets that reference and three things to try. Streamlit's own control flow
(st.rerun, st.stop) derives from BaseException and passes through untouched. Anything that escapes
a guard is hidden by ``client.showErrorDetails = "none"`` in .streamlit/config.toml.
"""
from __future__ import annotations

import contextlib
import logging
import secrets

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
        ref = secrets.token_hex(4)
        log.error("unhandled error on %s (reference %s)", self.where, ref, exc_info=(kind, exc, tb))
        try:
            st.error(VISITOR_MESSAGE.format(ref=ref), icon=":material/error:")
        except Exception:  # pragma: no cover - nothing more can be shown
            log.exception("could not show the error message (reference %s)", ref)
        return True
