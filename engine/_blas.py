"""The BLAS thread limit of the batched training code, in one place: importing this module applies it."""
from __future__ import annotations


def _limit_blas_threads() -> None:
    """Training issues many small products per update (B x H by H x G H). OpenBLAS' thread pool costs
    more than it gains on them, and collapses when the cores are shared: one LSTM batch (B = 32,
    T = 30, H = 32) took 5 ms with one BLAS thread and 131 ms with two at a load of 7 on 2 cores.
    So importing this module limits BLAS to UNROLLED_BLAS_THREADS threads (default 1), process-wide:
    a server full of sessions is better served by one thread each."""
    import os

    try:
        import scipy.linalg.cython_blas  # noqa: F401  the BLAS numba's np.dot calls: load it before limiting
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - both are in requirements.txt
        return
    n = os.environ.get("UNROLLED_BLAS_THREADS", "1")
    threadpool_limits(limits=int(n) if n.isdigit() and int(n) > 0 else 1, user_api="blas")


_limit_blas_threads()
