"""Teacher links: which sidebar controls and pages a link shows, and projector mode.

Three query parameters, next to the config's own (ui/config.py) and never part of it:

- ``hide=rho,H,...``: sidebar controls not drawn (config field names, or ``presets``, ``share``,
  ``reset``); ``hide=sidebar`` hides the whole sidebar. A hidden control keeps the link's value.
- ``pages=Unroll,Gradients``: the pages listed in the sidebar and on Home (page label or URL name,
  any case); Home is always listed.
- ``projector=1``: larger text, thicker lines and bigger markers on every chart.

Parsing is pure and never raises: unknown or malformed values are ignored with a short notice that
quotes at most 30 characters of what the link said (shown as plain text, never as Markdown).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ui.config import FIELDS

HIDE = "hide"
PAGES = "pages"
PROJECTOR = "projector"
PARAMS = (HIDE, PAGES, PROJECTOR)

SIDEBAR = "sidebar"
EXTRAS = ("presets", "share", "reset")            # sidebar parts besides the config fields
HIDEABLE = (*FIELDS, *EXTRAS)                     # every name `hide` accepts, besides "sidebar"
_BY_LOWER = {name.lower(): name for name in HIDEABLE}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_MAX_ITEMS = 40                                    # a longer list is cut (a link is not a payload)


@dataclass(frozen=True)
class TeacherLink:
    """What a teacher link asks for. The defaults show everything."""

    hide: frozenset[str] = field(default_factory=frozenset)  # names from HIDEABLE
    hide_sidebar: bool = False
    pages: tuple[str, ...] | None = None                     # page labels, None: all pages
    projector: bool = False

    def hidden(self, name: str) -> bool:
        """Whether the sidebar part `name` (a config field or one of EXTRAS) is not drawn."""
        return self.hide_sidebar or name in self.hide

    def shows_page(self, label: str) -> bool:
        return self.pages is None or label == "Home" or label in self.pages

    def to_query(self) -> dict[str, str]:
        """The link's query parameters (nothing for the defaults), in a stable order."""
        out: dict[str, str] = {}
        names = [n for n in HIDEABLE if n in self.hide]
        if self.hide_sidebar:
            names.insert(0, SIDEBAR)
        if names:
            out[HIDE] = ",".join(names)
        if self.pages is not None:
            out[PAGES] = ",".join(self.pages)
        if self.projector:
            out[PROJECTOR] = "1"
        return out


def _short(text: str) -> str:
    return text[:30] + ("…" if len(text) > 30 else "")


def _items(raw: Any) -> list[str]:
    """Comma-separated items of a parameter (repeated parameters are joined), stripped, non-empty."""
    values = raw if isinstance(raw, (list, tuple)) else [raw]
    out: list[str] = []
    for v in values:
        out += [part.strip() for part in str(v).split(",") if part.strip()]
    return out[:_MAX_ITEMS]


def page_key(name: str) -> str:
    """A page label or URL name, normalised for matching: "Hidden_state" ~ "hidden state"."""
    return re.sub(r"[\s_]+", " ", name).strip().lower()


def parse(params: Mapping[str, Any], page_labels: Sequence[str]) -> tuple[TeacherLink, list[str]]:
    """The teacher link in `params` (values: a string or a list of strings), and notices.

    `page_labels`: the labels of the app's pages ("Home", "Unroll", "Hidden state", ...).
    """
    notices: list[str] = []
    hide: set[str] = set()
    hide_sidebar = False
    if HIDE in params:
        for item in _items(params[HIDE]):
            name = _BY_LOWER.get(item.lower())
            if item.lower() == SIDEBAR:
                hide_sidebar = True
            elif name is not None:
                hide.add(name)
            else:
                notices.append(f"hide={_short(item)}: not a control of this lab; ignored.")
    pages: tuple[str, ...] | None = None
    if PAGES in params:
        by_key = {page_key(label): label for label in page_labels}
        chosen: list[str] = []
        for item in _items(params[PAGES]):
            label = by_key.get(page_key(item))
            if label is None:
                notices.append(f"pages={_short(item)}: no page of that name; ignored.")
            elif label not in chosen and label != "Home":
                chosen.append(label)
        # only unknown names: show every page rather than none
        pages = tuple(label for label in page_labels if label in chosen) if chosen else None
    projector = False
    if PROJECTOR in params:
        raw = params[PROJECTOR]
        text = str(raw[-1] if isinstance(raw, (list, tuple)) and raw else raw).strip().lower()
        if text in _TRUE:
            projector = True
        elif text not in _FALSE:
            notices.append(f"projector={_short(text)}: not 1 or 0; projector mode stays off.")
    return TeacherLink(frozenset(hide), hide_sidebar, pages, projector), notices


def build(hide: Iterable[str] = (), *, hide_sidebar: bool = False, pages: Iterable[str] | None = None,
          projector: bool = False, page_labels: Sequence[str] = ()) -> TeacherLink:
    """A TeacherLink from the share box's choices (unknown names dropped; no pages chosen: all pages)."""
    chosen = [label for label in page_labels if label in set(pages or ()) and label != "Home"]
    return TeacherLink(frozenset(n for n in hide if n in HIDEABLE), hide_sidebar,
                       tuple(chosen) if chosen else None, projector)
