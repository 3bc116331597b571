"""Streamlit-side helpers: the config, the shared sidebar, presets and cached engine runs.

Importing the package also sets one process-wide numpy option for the server (`huge_pages_off`)."""
from __future__ import annotations


def huge_pages_off() -> bool:
    """Stop numpy from asking the kernel for transparent huge pages on large arrays; returns whether
    it had been asking.

    numpy calls madvise(MADV_HUGEPAGE) on every allocation of 4 MB or more. Where the kernel's huge
    pages are in "madvise" mode with synchronous defrag (common on virtual machines, and the case on
    the machine the README's figures come from), the first touch of such an array waits for the kernel
    to assemble and zero 2 MB pages: the adding task's 16 MB training set took 33 ms to make instead of
    11 ms, and the Train page's CPU per move fell from 64 to 43 ms with this off. The server's large
    arrays are made, touched once or twice and dropped, so it gains nothing from huge pages.
    NUMPY_MADVISE_HUGEPAGE=0 does the same, but numpy reads it only when first imported, which
    Streamlit does before any page runs."""
    from numpy._core import multiarray

    get, put = getattr(multiarray, "_get_madvise_hugepage", None), getattr(multiarray, "_set_madvise_hugepage", None)
    if get is None or put is None:        # a numpy without the switch: nothing to do
        return False
    was = bool(get())
    put(False)
    return was


huge_pages_off()
