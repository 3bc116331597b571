"""Where good uploads live: the config that carries their digests (OwnConfig) and the process-wide store.

A good upload lives in the session (what the sidebar shows) and, under a digest of its content, in a
small process-wide store that the cached runs read (``ui.runs.build``): the digest is part of the config
the pages pass around (``OwnConfig``), so it is part of every cache key, and two sessions that upload the
same file share the runs.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, fields

import streamlit as st

from ui.config import GATED_ACTIVATION, Config
from ui.upload_parse import OwnInputs, OwnText, OwnWeights

# ---------------------------------------------------------------- the config that carries the uploads

@dataclass(frozen=True)
class OwnConfig(Config):
    """A Config whose run uses uploaded weights (`wts`) and/or an uploaded input (`xin`), by digest.

    Cell, H, D, O (weights) and T, D (input) already hold the file's sizes. Streamlit's cache hashes a
    dataclass by its fields, so the digests are part of every cache key. URL and preset views drop them."""

    wts: str = ""
    xin: str = ""

    def to_query(self) -> dict[str, str]:
        return Config(**self.as_dict()).to_query()

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(Config)}


class _Store:
    """Digest -> parsed upload, bounded (least recently used go first), shared by all sessions."""

    def __init__(self, n: int = 48):
        self._d: OrderedDict = OrderedDict()
        self._n = n
        self._lock = threading.Lock()

    def put(self, key: str, value) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self._n:
                self._d.popitem(last=False)

    def get(self, key: str):
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v


@st.cache_resource(show_spinner=False)
def _store() -> _Store:
    return _Store()


def remember(item) -> None:
    """Put a parsed upload in the store (done on every run for the session's own uploads)."""
    _store().put(item.digest, item)


def lookup(key: str, kind: type):
    item = _store().get(key) if key else None
    if key and not isinstance(item, kind):
        raise ValueError("the uploaded file is no longer held on the server; upload it again")
    return item


def own_run_data(cfg: Config):
    """(OwnWeights or None, OwnInputs or None) that a config asks for (ValueError if gone)."""
    if not isinstance(cfg, OwnConfig):
        return None, None
    return lookup(cfg.wts, OwnWeights), lookup(cfg.xin, OwnInputs)


def with_uploads(cfg: Config, weights: OwnWeights | None, inputs: OwnInputs | None) -> Config:
    """`cfg` with the sizes (and cell) of the uploads and their digests; `cfg` itself when there are none."""
    if weights is None and inputs is None:
        return cfg
    values = Config(**{f.name: getattr(cfg, f.name) for f in fields(Config)}).as_dict()
    if weights is not None:
        values.update(cell=weights.cell, H=weights.H, D=weights.D, O=weights.O)
        if weights.cell != "rnn":
            values["act"] = GATED_ACTIVATION
        elif weights.act:
            values["act"] = weights.act
    if inputs is not None:
        values.update(T=inputs.T, D=inputs.D)
    return OwnConfig(**values, wts=weights.digest if weights else "", xin=inputs.digest if inputs else "")


def text_for(key: str) -> str | None:
    """The uploaded text with this digest (None: the Python documentation)."""
    item = lookup(key, OwnText)
    return None if item is None else item.text

