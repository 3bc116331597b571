"""engine.losses: the loss from the logits (BPTT's form) and from the outputs (the tasks' form) are the same
number wherever both are finite, and the logit form stays exact in the tails where the output form cannot."""
import numpy as np
import pytest

from engine.activations import OUTPUTS
from engine.activations import output_values as _output
from engine.losses import STEP_TERMS, loss_rows


@pytest.mark.parametrize("kind", list(OUTPUTS))
def test_both_forms_agree(kind):
    rng = np.random.default_rng(3)
    z = rng.normal(scale=3.0, size=(50, 4))
    y = _output(kind, z)
    t = rng.integers(0, 4, 50) if kind == "softmax" else rng.uniform(size=(50, 4))
    from_logits, dz = loss_rows(kind, z, y, t)
    np.testing.assert_allclose(STEP_TERMS[kind](y, t), from_logits, rtol=1e-10, atol=1e-12)
    expect = y.copy()
    if kind == "softmax":
        expect[np.arange(50), t] -= 1.0
    else:
        expect = y - t
    np.testing.assert_allclose(dz, expect, rtol=1e-10, atol=1e-12)   # dL/dz = y - t for each pairing


def test_the_logit_form_is_exact_where_outputs_round_to_one():
    z = np.array([[40.0, 0.0]])
    y = _output("softmax", z)
    assert loss_rows("softmax", z, y, np.array([0]))[0][0] == pytest.approx(np.exp(-40.0), rel=1e-12)
    assert STEP_TERMS["softmax"](y, np.array([0]))[0] == 0.0          # 1 - 4e-18 is 1 in float64
