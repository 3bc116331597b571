"""The private Streamlit attributes the app touches: all listed in one place, all present in the installed
Streamlit (an upgrade that moves one is a failing test, not a broken class), and none of them needed to
show a page: with any one of them gone, a link with bad values and a page switch still render, without an
exception on the page, and the miss is logged on the server.

Run: .venv/bin/python -m pytest tests/test_ui_streamlit_internals.py -q
"""
from __future__ import annotations

import importlib
import logging
import re
import types
from importlib.metadata import version
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.sidebar
import ui.streamlit_compat as sb
import ui.training as tr
from ui.streamlit_compat import STREAMLIT_INTERNALS, missing_streamlit_internals, streamlit_internal

ROOT = Path(__file__).resolve().parent.parent
APP_CODE = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py")),
            *sorted((ROOT / "viz").glob("*.py"))]
IDS = [f"{m}.{p}" for m, p in STREAMLIT_INTERNALS]


# --------------------------------------------------------------------------- the list and the pin

def test_every_listed_streamlit_internal_exists():
    missing = missing_streamlit_internals()
    assert not missing, (
        "The installed Streamlit lacks private attributes the app uses (ui.streamlit_compat.STREAMLIT_INTERNALS):\n  "
        + "\n  ".join(missing)
        + "\nUpdate the code that uses them for this Streamlit, or keep the tested version from requirements.txt.")


def test_streamlit_is_pinned_to_the_tested_minor():
    spec = next(line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                if re.match(r"streamlit\b", line.strip()))
    m = re.fullmatch(r"streamlit>=(\d+)\.(\d+),<(\d+)\.(\d+)", spec)
    assert m, f"requirements.txt must pin streamlit to one minor (streamlit>=1.N,<1.N+1), not {spec!r}"
    major, minor, major_hi, minor_hi = map(int, m.groups())
    assert (major_hi, minor_hi) == (major, minor + 1), spec
    installed = tuple(int(x) for x in version("streamlit").split(".")[:2])
    assert installed == (major, minor), f"installed streamlit {version('streamlit')} is not the pinned {spec}"


def test_no_private_streamlit_access_outside_the_list():
    """App code imports nothing from streamlit but the public `st` (private parts go through
    ui.streamlit_compat.streamlit_internal, which refuses entries that are not listed)."""
    found = []
    for f in APP_CODE:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"^\s*(from\s+streamlit\.|import\s+streamlit\.)|st\._|streamlit\.runtime\.\w+\(", code):
                found.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "private Streamlit access outside STREAMLIT_INTERNALS:\n" + "\n".join(found)
    with pytest.raises(KeyError):
        streamlit_internal("streamlit.runtime.state", "get_session_state")


# --------------------------------------------------------------------------- each one gone

class _Without(types.ModuleType):
    """A module seen through a copy that lacks one attribute."""

    def __init__(self, module: types.ModuleType, gone: str):
        super().__init__(module.__name__)
        self._module, self._gone = module, gone

    def __getattr__(self, name):
        if name == self._gone:
            raise AttributeError(f"module {self._module.__name__!r} has no attribute {name!r} (removed by the test)")
        return getattr(self._module, name)


def _hide(monkeypatch, module: str, path: str) -> None:
    """Make one listed internal unavailable to the app (Streamlit itself keeps it, so it still runs)."""
    head, *rest = path.split(".")
    real = importlib.import_module(module)
    if rest:   # an attribute of a class: the app reads it from instances, so take it off the class
        cls = getattr(real, head)
        if hasattr(cls, rest[-1]):
            monkeypatch.delattr(cls, rest[-1])
    fake = types.SimpleNamespace(import_module=lambda name: _Without(real, head) if name == module and not rest
                                 else importlib.import_module(name))
    monkeypatch.setattr(sb, "importlib", fake)
    monkeypatch.setattr(sb, "_WARNED", set())
    monkeypatch.setattr(sb, "StreamlitAPIException", sb._api_exception())
    monkeypatch.setattr(ui.sidebar, "StreamlitAPIException", sb.StreamlitAPIException)


@pytest.mark.parametrize("module,path", STREAMLIT_INTERNALS, ids=IDS)
def test_each_internal_gone_falls_back_with_a_server_warning(monkeypatch, caplog, module, path):
    _hide(monkeypatch, module, path)
    with caplog.at_level(logging.WARNING, logger="unrolled"):
        if "." not in path:
            assert streamlit_internal(module, path) is None
            assert streamlit_internal(module, path) is None
            assert sum(path in r.getMessage() for r in caplog.records) == 1, "one warning per process"
        # the helpers built on them give their safe answers
        assert tr.current_session_id() is None            # not in a script run, or no way to know
        assert tr.session_alive("some-session") is True   # never stops a run it cannot follow
        assert issubclass(sb._api_exception(), Exception)


def test_session_helpers_without_the_context_attribute(monkeypatch, caplog):
    """A script-run context without `session_id` (renamed): no session id, a warning, no exception."""
    monkeypatch.setattr(sb, "_WARNED", set())
    fake = types.SimpleNamespace(get_script_run_ctx=lambda: types.SimpleNamespace())
    real = importlib.import_module
    monkeypatch.setattr(sb, "importlib", types.SimpleNamespace(
        import_module=lambda name: fake if name == "streamlit.runtime.scriptrunner" else real(name)))
    with caplog.at_level(logging.WARNING, logger="unrolled"):
        assert tr.current_session_id() is None
    assert any("session_id" in r.getMessage() for r in caplog.records)


def test_session_alive_without_is_active_session(monkeypatch, caplog):
    monkeypatch.setattr(sb, "_WARNED", set())
    runtime = types.SimpleNamespace(exists=lambda: True, get_instance=lambda: object())
    real = importlib.import_module
    monkeypatch.setattr(sb, "importlib", types.SimpleNamespace(
        import_module=lambda name: runtime if name == "streamlit.runtime" else real(name)))
    with caplog.at_level(logging.WARNING, logger="unrolled"):
        assert tr.session_alive("gone-or-not") is True
    assert any("is_active_session" in r.getMessage() for r in caplog.records)


def _ok(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    text = " ".join(str(getattr(e, "value", "")) for e in at.main) + " ".join(
        str(getattr(e, "value", "")) for e in at.sidebar)
    assert "Traceback" not in text and "Error" not in text.replace("Error bars", ""), where


@pytest.mark.parametrize("module,path", STREAMLIT_INTERNALS, ids=IDS)
def test_pages_render_with_an_internal_gone(monkeypatch, module, path):
    """`/?seed=inf` (a number input raises on it if it reaches the widget) and a page switch."""
    _hide(monkeypatch, module, path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["seed"] = "inf"
    at.query_params["T"] = "40"
    at.run()
    _ok(at, "/?seed=inf&T=40")
    assert at.number_input(key="seed").value == 0
    assert at.slider(key="T").value == 40
    assert any("seed" in t.value for t in at.sidebar.text), "the clamped value is announced"
    at.switch_page("pages/1_Unroll.py").run()
    _ok(at, "Unroll after a page switch")
    assert at.number_input(key="seed").value == 0 and at.slider(key="T").value == 40


def _fake_ctx(monkeypatch, ctx) -> None:
    real = importlib.import_module
    fake = types.SimpleNamespace(get_script_run_ctx=lambda: ctx)
    monkeypatch.setattr(sb, "_WARNED", set())
    monkeypatch.setattr(sb, "importlib", types.SimpleNamespace(
        import_module=lambda name: fake if name == "streamlit.runtime.scriptrunner" else real(name)))


def test_history_query_reads_the_address_of_a_back_or_forward(monkeypatch):
    _fake_ctx(monkeypatch, types.SimpleNamespace(is_history_navigation=True, query_string="T=62&H=12"))
    assert sb._history_query() == {"T": ["62"], "H": ["12"]}
    _fake_ctx(monkeypatch, types.SimpleNamespace(is_history_navigation=False, query_string="T=62"))
    assert sb._history_query() is None


@pytest.mark.parametrize("gone", ["is_history_navigation", "query_string"])
def test_history_query_without_its_context_attributes(monkeypatch, caplog, gone):
    """Renamed in Streamlit: treated as an ordinary page switch (the config of the page before), logged."""
    attrs = {"is_history_navigation": True, "query_string": "T=62"}
    del attrs[gone]
    _fake_ctx(monkeypatch, types.SimpleNamespace(**attrs))
    with caplog.at_level(logging.WARNING, logger="unrolled"):
        assert sb._history_query() is None
    assert any(gone in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- a miss fails loudly

def _take_away(monkeypatch, module: str, path: str) -> None:
    """Remove one listed internal from the installed Streamlit itself, for this test only: a module
    attribute, a class attribute, or a dataclass field (an instance attribute the class declares)."""
    head, *rest = path.split(".")
    real = importlib.import_module(module)
    if not rest:
        monkeypatch.delattr(real, head)
        return
    cls, part = getattr(real, head), rest[-1]
    if part in vars(cls):
        monkeypatch.delattr(cls, part)
    fields = getattr(cls, "__dataclass_fields__", None)
    if fields is not None and part in fields:
        monkeypatch.setattr(cls, "__dataclass_fields__", {k: v for k, v in fields.items() if k != part})
    annotations = vars(cls).get("__annotations__")
    if annotations and part in annotations:
        monkeypatch.setattr(cls, "__annotations__", {k: v for k, v in annotations.items() if k != part})


@pytest.mark.parametrize("module,path", STREAMLIT_INTERNALS, ids=IDS)
def test_a_missing_internal_is_reported_and_fails_the_check(monkeypatch, module, path):
    """With one entry gone from Streamlit, missing_streamlit_internals() names exactly that entry and
    the existence test above fails (it must never pass, or skip, over a missing attribute)."""
    _take_away(monkeypatch, module, path)
    missing = missing_streamlit_internals()
    assert [m.split(" (")[0] for m in missing] == [f"{module}.{path}"], missing
    with pytest.raises(AssertionError, match=re.escape(f"{module}.{path}")):
        test_every_listed_streamlit_internal_exists()
