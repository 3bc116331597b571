"""engine.models' initial weights (one home for the CLI and the Train page) and the BLAS limit of every training module."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from engine import init_params, params_to_state_dict
from engine.models import EncoderDecoder, SequenceModel, initial_state


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_network_is_init_params_under_state_dict_keys(cell):
    got = initial_state(cell, 3, 5, 2, seed=7, init="orthogonal", spectral_radius=0.9)
    want = params_to_state_dict(init_params(3, 5, 2, cell=cell, seed=7, init="orthogonal", spectral_radius=0.9))
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k
    SequenceModel(got, cell=cell)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_an_encoder_decoder_has_no_encoder_head_and_a_decoder_of_o_plus_1_inputs(cell):
    got = initial_state(cell, 3, 5, 4, seed=7, encoder_decoder=True)
    enc = params_to_state_dict(init_params(3, 5, 1, cell=cell, seed=7))
    dec = params_to_state_dict(init_params(5, 5, 4, cell=cell, output="softmax", seed=8))
    want = {**{"encoder." + k: v for k, v in enc.items() if not k.startswith("head.")},
            **{"decoder." + k: v for k, v in dec.items()}}
    assert list(got) == list(want)
    for k in want:
        assert np.array_equal(got[k], want[k]), k
    assert EncoderDecoder(got, cell=cell).n_classes == 4


def test_an_encoder_decoder_refuses_other_units():
    with pytest.raises(ValueError, match="tanh"):
        initial_state("rnn", 3, 5, 4, encoder_decoder=True, activation="relu")


@pytest.mark.parametrize("module", ["engine.batch", "engine.models", "engine.trainer", "engine.optim"])
def test_importing_any_training_module_limits_blas_to_one_thread(module):
    code = (f"import {module}; from threadpoolctl import threadpool_info; "
            "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")
    env = {k: v for k, v in os.environ.items() if k != "UNROLLED_BLAS_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(counts) >= 2 and set(counts) == {1}, out.stdout + out.stderr
