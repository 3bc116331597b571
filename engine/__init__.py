"""Unrolled's engine: the vanilla RNN, the LSTM and the GRU, exact backpropagation through time, and the
spectral tools that explain why their gradients vanish or explode; training is in engine.batch, engine.optim,
engine.models and engine.trainer (the command line: engine.train), the tasks in engine.tasks. No streamlit
or plotly here.

    from engine import init_params, make_input, make_target, bptt
    p = init_params(1, 32, 1, init="gaussian", spectral_radius=0.9)
    tr = bptt(p, make_input("normal", 100, 1), make_target("identity", "last", 100, 1))
    tr.grad_h_norm        # ||dL/dh_t|| for t = 1..100
"""
# First: numba's cache loader is made to recover from corrupt cache files before any kernel exists.
from ._cache import selfcheck, selfcheck_async
from .activations import ACTIVATIONS, LOSSES, OUTPUTS, Activation, activation_gamma
from .analysis import pca_2d, saturated_fraction, state_norms
from .gradcheck import gradient_check
from .jacobians import jacobian_norm_grid, jacobian_norms
from .params import (
    CELLS,
    INITS,
    CellSpec,
    RNNParams,
    eigenvalues,
    init_params,
    params_from_state_dict,
    params_to_state_dict,
    power_norms,
    scale_to_spectral_radius,
    singular_values,
    spectral_norm,
    spectral_radius,
)
from .rnn import BatchTrace, Trace, bptt, bptt_batch, forward
from .signals import SIGNALS, make_input, make_target
from .sweep import MAX_SWEEP_WORK, bound_radius, lyapunov_curve, lyapunov_exponent, sweep_spectral_radius

__all__ = [
    "ACTIVATIONS", "Activation", "BatchTrace", "CELLS", "CellSpec", "INITS", "LOSSES", "MAX_SWEEP_WORK", "OUTPUTS", "RNNParams",
    "SIGNALS", "Trace", "activation_gamma", "bound_radius", "lyapunov_curve", "bptt", "bptt_batch", "eigenvalues", "forward", "gradient_check",
    "init_params", "jacobian_norm_grid", "pca_2d", "saturated_fraction", "state_norms", "jacobian_norms", "lyapunov_exponent", "make_input", "make_target",
    "params_from_state_dict", "params_to_state_dict",
    "power_norms", "scale_to_spectral_radius", "selfcheck", "selfcheck_async", "singular_values", "spectral_norm",
    "spectral_radius", "sweep_spectral_radius", "warmup",
]


def warmup(cells=None, activations=None, *, sweeps: bool = True) -> None:
    """Compile (or load from the on-disk cache) kernels on tiny inputs: the vanilla RNN's for each of
    ``activations`` and the kernels of each of ``cells`` (default: all of both), and with ``sweeps`` the
    phase-diagram and Lyapunov kernels."""
    x = make_input("normal", 4, 2)
    for act in ACTIVATIONS if activations is None else activations:
        bptt(init_params(2, 3, 2, activation=act, seed=0), x, make_target("identity", "last", 4, 2))
    for cell in CELLS if cells is None else cells:
        bptt(init_params(2, 3, 2, cell=cell, seed=0), x, make_target("identity", "last", 4, 2))
    if sweeps:
        sweep_spectral_radius([0.5, 1.0], 4, n_hidden=3, n_seeds=2)
        lyapunov_exponent(1.0, n_hidden=3, steps=4, burn_in=1)
