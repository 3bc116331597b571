"""What the engine refuses to compute: every size, work and memory limit, in one place.

A public function estimates from its arguments alone (before any work or allocation) the work or
the memory a call needs, and raises ValueError naming the arguments when the estimate is over the
limit: one request must not hold a shared server for hours, or end in MemoryError. Each limit sits
well above the largest size the app's controls, the tests and the benchmarks use.

MEASURED on the reference machine (2-core AMD EPYC, numpy 2.4 with OpenBLAS, numba 0.68, while other
work shared the cores) at one or two sizes, then extrapolated with the power law in each comment: the
``*_SECONDS`` rates turn an estimate into the rough time that the error message shows. On an idle
machine calls run up to a few times faster; the limits are about orders of magnitude, not seconds.
"""
from __future__ import annotations

import math

# ---------------------------------------------------------------- parameters and dense matrices

# init_params and the spectrum helpers: one dense O(n^3) decomposition per (H, H) block (QR for
# "orthogonal", eigenvalues for the spectral radius). Work = G * H^3 (G gate blocks; S * H^3 for
# bound_radius's S seeds). Measured: init_params(1, 2048, 1, spectral_radius=0.9) 21.8 s, (1, 1024, 1,
# ...) 5.2 s: 2.6e-9 s per H^3. The limit is about 1 minute (a vanilla RNN up to H = 2924, an LSTM up
# to H = 1842); the app stops at H = 256 (4 * 256^3 = 6.7e7 for an LSTM).
MAX_DENSE_WORK = 2.5e10
DENSE_SECONDS = 2.6e-9

# init_params: numbers drawn, G H (H + D) + O (H + 1); 5e7 float64 = 400 MB (the app: 4 * 256 * 272).
MAX_PARAM_NUMBERS = 50_000_000

# power_norms: one SVD and one product of n x n matrices per power, work = (k_max + 1) * max(n, 64)^3
# (below n = 64 the per-power overhead dominates). Measured: n = 512, k_max = 20: 5.5 s (2.0e-9 s per
# n^3); n = 64, k_max = 1000: 1.5 s (5.7e-9). Limit about 1 minute; a 2000 x 2000 matrix with
# k_max = 1e5 is 8e14 (about 18 days). The app's largest is about 6e8 (ui.runs.power_kmax).
MAX_POWER_WORK = 3e10
POWER_SECONDS = 2e-9

# ---------------------------------------------------------------- Jacobians of a trace

# jacobian_norms: T products of S x S matrices (S = H, 2H for the LSTM's (h, c)) plus one SVD (about
# five products) per step asked: work = (T + 5 n_steps) * max(S, 32)^3; jacobian_norm_grid: the T
# segment products plus a product and an SVD for each of the n (n - 1) / 2 pairs, (T + 3 n (n - 1)) *
# max(S, 32)^3 (below S = 32 Python's per-step overhead dominates). Measured at T = 200, S = 256: one
# step asked 0.65 s (1.9e-10 s per unit), every step 4.0 s (2.0e-10). Limit about 1 minute. T = 1e5,
# H = 256, every step: 1e13 (about half an hour). The app plans its calls to about 1.5e9 flops.
MAX_JACOBIAN_WORK = 3e11
JACOBIAN_SECONDS = 2e-10

# ---------------------------------------------------------------- forward and backward passes

# Longest sequence bptt and forward accept.
MAX_STEPS = 1_000_000

# bptt / forward (and bptt_batch per sequence): work = T * (G H (H + D) + 1000); the 1000 stands for
# the fixed cost of one step (4-5 us at H = 1). Measured: rnn H = 256, T = 1000: 0.30 s (4.5e-9 s per
# unit); LSTM H = 256, T = 1000: 0.76 s (2.9e-9); rnn H = 32, T = 10 000: 0.19 s (9e-9). Limit about
# 1 minute; the app's largest (LSTM, T = 1000, H = 256, D = 16) is 2.8e8.
MAX_PASS_WORK = 1e10
PASS_SECONDS = 5e-9

# Memory of a Trace: about five (T, G H) float64 arrays (states, pre-activations, derivatives,
# gradients). Measured peak: 43 bytes per T * H (rnn), 167 (LSTM, G = 4), 150 (GRU, G = 3): about 42
# bytes per T * G * H. Limit 5e7 = 2.1 GB (bptt_batch keeps B traces: B * T * G * H). The app's largest
# is 1e6 (LSTM, T = 1000, H = 256).
MAX_TRACE_NUMBERS = 50_000_000
TRACE_BYTES = 42

# engine.batch.batch_gradients: memory of a batch, T * B * G * H numbers in each of about six (T, B,
# G H) arrays. Measured peak at B = 32, T = 200, H = 64, float64: 65 bytes per T * B * H (rnn), 210
# (LSTM, G = 4): up to 65 bytes per T * B * G * H (half with float32). The Train page's largest update
# (LSTM, B = 256, T = 1000 (+20 for the copy task), H = 256) is 2.7e8 numbers, about 17 GB: the limit
# stays above it, so that the page's sliders are never refused here, at 3e8 (about 20 GB).
MAX_BATCH_NUMBERS = 300_000_000
BATCH_BYTES = 65 / 8  # per number and per byte of the float type

# Model.evaluate / Trainer.evaluate: sequences are scored in chunks of T x rows x G H <= this many numbers
# (forward passes only, the memory per number of a training batch: about 260 MB in float64 at 4e6), so
# scoring a whole data set never needs more memory than one training batch of the Train page's cap.
MAX_EVAL_NUMBERS = 4_000_000

# batch_gradients work = T * B * G H (H + D). Measured (B = 32, T = 200, H = 64): rnn 3.1e-9 s, LSTM
# 3.3e-9, GRU 3.5e-9 per unit. The Train page's largest update is 7.3e10 (about 4 minutes); limit 1e11.
MAX_BATCH_WORK = 1e11
BATCH_SECONDS = 3.3e-9

# gradient_check: four losses (two central differences) per sampled entry, each a forward and
# backward pass: work = (4 * entries + 1) * T * (G H (H + D) + 1000), entries = the sum over the
# parameter arrays of min(max_entries, size). Measured: H = 64, T = 1000, 10 entries each: 2.8 s for
# 164 passes (4.2e-9 s per unit). The Gradients page's largest check (LSTM, T = 1000, H = 256, 30
# entries per array) is 1.5e11 (about 10 minutes under load); limit 2e11. T = 1e5 with H = 32 and 200
# entries: 2.4e11.
MAX_GRADIENT_CHECK_WORK = 2e11
GRADIENT_CHECK_SECONDS = 4.2e-9

# ---------------------------------------------------------------- sweeps

# sweep_spectral_radius: rho x seeds x T x H^2 multiply-adds per pass; the benchmark sweep (128 rho x
# 16 seeds x 512 steps, H = 64): about 1 s on 2 cores.
MAX_SWEEP_WORK = 128 * 16 * 512 * 64 * 64

# lyapunov_exponent: two (n, n) matrix-vector products per step: work = (steps + burn_in) * n^2; for
# lyapunov_curve the sum over its gains. Measured: n = 1024, 300 steps: 0.50 s (1.6e-9 s per unit);
# n = 128, 1000 steps: 0.019 s (1.1e-9). Limit about 1 minute; 1e6 steps at n = 4096 is 1.7e13 (about
# 7 hours). The Phase diagram page: 51 gains x 1000 steps x 128^2 = 8.4e8.
MAX_LYAPUNOV_WORK = 4e10
LYAPUNOV_SECONDS = 1.5e-9

# ---------------------------------------------------------------- task data (engine.tasks)

MAX_SEQUENCES = 1_000_000
MAX_ELEMENTS = 20_000_000  # N * T * D of one split: 160 MB of float64
MAX_TEXT_CHARS = 2_000_000


# ---------------------------------------------------------------- the check


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    for size, unit in ((86400, "days"), (3600, "hours"), (60, "minutes")):
        if seconds >= 2 * size:
            return f"about {seconds / size:.3g} {unit}"
    return f"about {seconds:.2g} s"


def _size(n_bytes: float) -> str:
    for size, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB")):
        if n_bytes >= size:
            return f"about {n_bytes / size:.3g} {unit}"
    return f"about {n_bytes / 1e3:.3g} kB"


def check_budget(args: str, estimate: float, limit: float, formula: str, *, seconds: float | None = None,
                 bytes_each: float | None = None) -> None:
    """ValueError when ``estimate`` (of ``formula``) is over ``limit``. ``args`` names the arguments and
    their values; ``seconds`` (per unit of work) or ``bytes_each`` (per number) say what it would cost."""
    estimate = float(estimate) if estimate < 1e300 else math.inf
    if estimate <= limit:
        return
    if seconds is not None:
        cost = (f"{_duration(estimate * seconds)} of computing on a 2-core machine; the limit is "
                f"{_duration(limit * seconds)}")
    else:
        cost = f"{_size(estimate * bytes_each)} of memory; the limit is {_size(limit * bytes_each)}"
    raise ValueError(f"{args}: {formula} = {estimate:.3g} is over the limit of {limit:.3g} ({cost}); "
                     "use smaller sizes")
