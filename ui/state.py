"""The registry of address-bound settings: each declared once, with the functions that read and write the address.

A `Setting` holds a field's name, URL parameter, default, allowed values or range and how a raw string
from the address becomes a value. A `Registry` groups the settings of one part of the lab (the sidebar's
`Config`, the Train page, the Phase diagram, the Lesson) with the sentence a refused or changed value
produces. `parse` reads a query mapping into (values, notices), `to_query` writes the non-default values
back, `validate` brings values into range; `settings_class` turns a registry into its frozen dataclass.
Coercion never raises.

Two readings of a raw string exist, both kept exactly as the pages have always read their links:

- lenient (the sidebar, the Lesson): whitespace and letter case are forgiven, numbers are rounded to
  the nearest allowed value; the reason of a change (`why`) is "choice", "number", "finite", "range" or
  "round".
- strict (the Train page, the Phase diagram): a value is kept only when its text is exactly what the
  widget would write; anything else becomes the nearest valid value (numbers, truncated towards zero)
  or the default (choices), with the reason "changed".
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One address-bound value: how it is shown, bounded and parsed."""

    name: str
    label: str
    kind: str                                  # "int" | "float" | "choice" | "rho" or "grid" (nearest option) | "str"
    lo: float | None = None
    hi: float | None = None
    options: tuple | None = None
    help: str = ""
    default: Any = None
    param: str | None = ""                     # URL parameter: "" means the name, None: not in the address
    step: int | None = None                    # ints: the widget's step from lo (strict reading only)

    @property
    def key(self) -> str | None:
        """The URL parameter (and the widget key) of this setting, or None when it is not in the address."""
        return None if self.param is None else (self.param or self.name)

    def coerce(self, raw: Any, strict: bool = False) -> tuple[Any, str | None]:
        """(value, why): why is None when `raw` was valid as given, else the reason it was changed."""
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        return (self._strict if strict else self._lenient)(str(raw))

    def _lenient(self, raw: str) -> tuple[Any, str | None]:
        text = raw.strip()
        if self.kind == "choice":
            if text in self.options:
                return text, None
            return (text.lower(), None) if text.lower() in self.options else (self.default, "choice")
        try:
            num = float(text)
        except ValueError:
            return self.default, "number"
        if not math.isfinite(num):
            return self.default, "finite"
        clamped = min(max(num, self.lo), self.hi)
        if self.kind == "int":
            value: Any = int(round(clamped))
            exact = float(value) == num
        elif self.kind in ("rho", "grid"):
            value = nearest(self.options, clamped)
            exact = abs(value - num) < 1e-9
        else:
            value = round(clamped, 2)
            exact = abs(value - num) < 1e-9
        if exact:
            return value, None
        return value, "range" if clamped != num else "round"

    def _strict(self, raw: str) -> tuple[Any, str | None]:
        if self.kind == "choice":
            return (raw, None) if raw in self.options else (self.default, "changed")
        num = _number(raw)
        if self.kind in ("rho", "grid"):
            value = self.default if num is None else nearest(self.options, num)
            return value, None if num == value else "changed"
        value = self.default if num is None else int(num)
        value = min(max(value, int(self.lo)), int(self.hi))
        if self.step:
            value = min(int(self.lo) + round((value - self.lo) / self.step) * self.step, int(self.hi))
        return value, None if str(value) == raw else "changed"


def _number(raw: str) -> float | None:
    """A finite float from `raw`, else None."""
    try:
        f = float(raw)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def nearest(options, v: float) -> float:
    """The option closest to `v` (the smaller one on a tie)."""
    return min(options, key=lambda g: (abs(g - v), g))


def fmt(v: Any) -> str:
    """A value as the address writes it (floats with two decimals)."""
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


@dataclass(frozen=True)
class Registry:
    """The settings of one part of the lab, the reading of their raw strings and their notice."""

    settings: tuple[Setting, ...]
    notice: Callable[[Setting, str, Any, str], str]   # (setting, raw text, value used, why) -> sentence
    strict: bool = False
    by_name: dict[str, Setting] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_name", {s.name: s for s in self.settings})

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.settings)

    def __getitem__(self, name: str) -> Setting:
        return self.by_name[name]

    @property
    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings}

    def coerce(self, name: str, raw: Any) -> tuple[Any, str | None]:
        """(value, notice) for one raw value of `name`; notice None when it was valid as given."""
        s = self.by_name[name]
        value, why = s.coerce(raw, self.strict)
        if why is None:
            return value, None
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        return value, self.notice(s, str(raw), value, why)

    def parse(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Values of the settings present in `params` (by URL parameter) and the notices of those changed."""
        values: dict[str, Any] = {}
        notices: list[str] = []
        for s in self.settings:
            if s.key is not None and s.key in params:
                values[s.name], notice = self.coerce(s.name, params[s.key])
                if notice:
                    notices.append(notice)
        return values, notices

    def to_query(self, values: Mapping[str, Any]) -> dict[str, str]:
        """The values that differ from their defaults, by URL parameter (default values are omitted)."""
        return {s.key: fmt(values[s.name]) for s in self.settings
                if s.key is not None and s.name in values and values[s.name] != s.default}

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every value of `values` coerced into its range (idempotent)."""
        return {name: self.coerce(name, fmt(v))[0] if name in self.by_name else v for name, v in values.items()}


_TYPES = {"int": "int", "float": "float", "rho": "float", "grid": "float", "choice": "str", "str": "str"}


def settings_class(registry: Registry, kinds: Mapping[str, str] | None = None):
    """Class decorator: the frozen dataclass whose fields are the registry's settings, in order, with their
    defaults (the class body adds properties and methods). `kinds` overrides a field's annotation."""
    def wrap(cls):
        cls.__annotations__ = {s.name: (kinds or {}).get(s.name, _TYPES[s.kind]) for s in registry}
        for s in registry:
            setattr(cls, s.name, s.default)
        return dataclass(frozen=True)(cls)
    return wrap


def link_notice(spec: Setting, raw: str, value: Any, why: str) -> str:
    """The sentence of a page's own controls (`tr_`, `ph_`) for a link value it replaced."""
    from ui.plain import plain

    return f"{spec.key[3:]} = “{plain(raw, 20)}” from the link is not possible here: using {value}."


def check_link(registry: Registry, prefix: str, checked: str, notices: str, drop_unknown: bool = True) -> list[str]:
    """Once per session, before the widgets exist: the page's link values (parameters starting with
    `prefix`) that a widget cannot take are replaced by the nearest valid one (numbers) or the default
    (choices), so a garbage link opens the page with a notice instead of an error. Unknown parameters with
    the prefix are dropped when `drop_unknown`. `checked` and `notices` are the session keys that remember
    it was done and what it said (ui/keys.py). Returns the notices."""
    import streamlit as st

    from ui.sidebar import replace_link_values

    if st.session_state.get(checked):
        return st.session_state.get(notices, [])
    st.session_state[checked] = True
    said: list[str] = []
    rewrite: dict[str, str] = {}
    qp = st.query_params
    by_key = {s.key: s for s in registry if s.key is not None}
    for key in [k for k in qp.keys() if k.startswith(prefix)]:
        spec = by_key.get(key)
        if spec is None:
            if drop_unknown:
                del qp[key]
            continue
        value, notice = registry.coerce(spec.name, qp.get(key))
        if notice is not None:
            said.append(notice)
            st.session_state[key] = value
            rewrite[key] = str(value)
    st.session_state[notices] = said
    # Streamlit seeds bound widgets from the link itself (a number input raises on inf): the widgets get
    # the fixed values through the address, in a run that starts again before they are drawn.
    replace_link_values(rewrite)
    return said
