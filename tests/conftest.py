"""Shared pytest setup for the engine tests: the repository root on sys.path, so that `import engine`
and `import naive` work however pytest is started. Markers live in pyproject.toml."""
import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
for _p in (ROOT, TESTS):
    if _p not in sys.path:
        sys.path.insert(0, _p)
