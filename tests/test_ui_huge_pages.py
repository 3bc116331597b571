"""The server process does not ask for transparent huge pages (ui.huge_pages_off, set on import of ui)."""
import subprocess
import sys
from pathlib import Path

from numpy._core import multiarray

import ui

ROOT = Path(ui.__file__).resolve().parents[1]


def test_huge_pages_off_switches_numpy_and_reports_the_old_setting():
    assert not multiarray._get_madvise_hugepage()   # importing ui (above) turned it off
    multiarray._set_madvise_hugepage(True)
    try:
        assert ui.huge_pages_off() is True        # it was asking; now it is not
        assert not multiarray._get_madvise_hugepage()
        assert ui.huge_pages_off() is False       # idempotent
    finally:
        multiarray._set_madvise_hugepage(False)


def test_a_fresh_process_importing_a_page_module_has_it_off():
    code = ("import numpy._core.multiarray as m; assert m._get_madvise_hugepage(); "
            "import ui.config; print(int(m._get_madvise_hugepage()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"NUMPY_MADVISE_HUGEPAGE": "1"}, cwd=ROOT)
    assert out.stdout.strip() == "0"
