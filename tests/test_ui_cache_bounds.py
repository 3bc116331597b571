"""Every cache of the app is bounded, so a server that sees thousands of distinct configs stops growing.

A static scan of the source (every st.cache_data / st.cache_resource has max_entries or ttl, unless the
function it caches takes no argument and so holds one entry; no unbounded functools caches), then the
same at run time on the cached functions the app's modules define.
"""
import ast
import importlib
import inspect
from pathlib import Path

import pytest
from streamlit.runtime.caching.cache_utils import CachedFunc

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py"),
                  *(ROOT / "viz").glob("*.py"), *(ROOT / "engine").rglob("*.py")])
ST_CACHES = {"cache_data", "cache_resource"}


def _name(node: ast.AST) -> str:
    """`st.cache_data` → "cache_data", `functools.lru_cache` / `lru_cache` → "lru_cache"."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _keywords(call: ast.Call) -> dict[str, ast.AST]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def _takes_no_argument(fn: ast.FunctionDef) -> bool:
    a = fn.args
    return not (a.posonlyargs or a.args or a.kwonlyargs or a.vararg or a.kwarg)


def unbounded_caches(path: Path) -> list[str]:
    """Where `path` creates a cache without a bound."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    decorator_calls = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in fn.decorator_list:
            name = _name(dec)
            if isinstance(dec, ast.Call):
                decorator_calls.add(id(dec))
            where = f"{path.relative_to(ROOT)}:{dec.lineno} {fn.name}"
            if name in ST_CACHES:
                kw = _keywords(dec) if isinstance(dec, ast.Call) else {}
                if not ({"max_entries", "ttl"} & kw.keys()) and not _takes_no_argument(fn):
                    bad.append(where)
            elif name == "cache":
                bad.append(where + " (functools.cache has no bound)")
            elif name == "lru_cache" and isinstance(dec, ast.Call):
                kw = _keywords(dec)
                size = kw.get("maxsize", dec.args[0] if dec.args else None)
                if isinstance(size, ast.Constant) and size.value is None:
                    bad.append(where + " (maxsize=None)")
    # st.cache_*(...)(func) used as a function, as ui.runs.figure_cache does: needs a bound itself.
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and _name(call) in ST_CACHES and id(call) not in decorator_calls:
            if not ({"max_entries", "ttl"} & _keywords(call).keys()):
                bad.append(f"{path.relative_to(ROOT)}:{call.lineno} (a cache without max_entries or ttl)")
    return bad


def test_every_cache_in_the_source_is_bounded():
    bad = [b for p in SOURCES for b in unbounded_caches(p)]
    assert not bad, "caches without a bound:\n" + "\n".join(bad)


def test_the_scan_sees_an_unbounded_cache(tmp_path, monkeypatch):
    src = tmp_path / "m.py"
    src.write_text("import streamlit as st\nimport functools\n"
                   "@st.cache_data\ndef f(x):\n    return x\n"
                   "@st.cache_resource(show_spinner=False)\ndef g(x):\n    return x\n"
                   "@st.cache_data(max_entries=3)\ndef ok(x):\n    return x\n"
                   "@st.cache_resource\ndef single():\n    return 1\n"
                   "@functools.lru_cache(maxsize=None)\ndef h(x):\n    return x\n"
                   "k = st.cache_resource(show_spinner=False)(len)\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    bad = unbounded_caches(src)
    assert len(bad) == 4, bad          # f, g, h and k; not ok (bounded), not single (one entry)
    assert [b.split()[1] for b in bad[:3]] == ["f", "g", "h"], bad


MODULES = ["ui.runs", "ui.figures", "ui.phase", "ui.training", "ui.streamlit_compat", "ui.admission"]


@pytest.mark.parametrize("module", MODULES)
def test_cached_functions_are_bounded_at_run_time(module):
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - every module listed exists
        pytest.fail(f"{module}: {exc}")
    found = 0
    for name, obj in vars(mod).items():
        if not isinstance(obj, CachedFunc):
            continue
        found += 1
        info = obj._info
        if info.max_entries is None and info.ttl is None:
            params = inspect.signature(info.func).parameters
            assert not params, f"{module}.{name}: no max_entries, no ttl, and it takes {list(params)}"
    assert found, f"{module} defines no cached function"
