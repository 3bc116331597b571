"""python -m engine.train's network flags: --activation, --init and --spectral-radius reach the weights and
the model (the IRNN of Le et al. 2015 from the shell), and combinations the engine cannot run are refused
with a message naming the flag."""
import io
import json

import numpy as np
import pytest

from engine import tasks
from engine.models import SequenceModel
from engine.train import _initial_state, _parser, main


def args(*argv):
    return _parser().parse_args(["--task", "adding", *argv])


def test_identity_init_is_the_identity_and_relu_reaches_the_model(tmp_path, capsys):
    sd = _initial_state(args("--cell", "rnn", "--init", "identity", "--hidden", "8"), 2, 1, encoder_decoder=False)
    assert np.array_equal(sd["weight_hh_l0"], np.eye(8))
    out = tmp_path / "w.npz"
    assert main(["--task", "adding", "--seq-len", "12", "--cell", "rnn", "--activation", "relu", "--init", "identity",
                 "--hidden", "8", "--steps", "2", "--batch", "4", "--lr", "1e-3", "--json", "--save", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with np.load(out) as f:
        state = {k: f[k] for k in f.files}
    task = tasks.make_task("adding", seq_len=12, seed=0)
    scores = {act: SequenceModel(state, cell="rnn", activation=act).evaluate(task.x_test, task.y_test, task.len_test).loss
              for act in ("relu", "tanh")}
    assert scores["relu"] == pytest.approx(summary["test_loss"], rel=1e-12)
    assert abs(scores["tanh"] - summary["test_loss"]) > 1e-6      # the flag changed the units, not only the name


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_spectral_radius_rescales_every_recurrent_block(cell):
    sd = _initial_state(args("--cell", cell, "--init", "orthogonal", "--spectral-radius", "0.5", "--hidden", "6"),
                        3, 1, encoder_decoder=False)
    W = sd["weight_hh_l0"]
    for block in np.split(W, W.shape[0] // 6):
        assert np.abs(np.linalg.eigvals(block)).max() == pytest.approx(0.5, rel=1e-10)


def test_encoder_decoder_takes_the_init_flags():
    sd = _initial_state(args("--cell", "gru", "--init", "identity", "--hidden", "5"), 4, 3, encoder_decoder=True)
    for part in ("encoder", "decoder"):
        W = sd[f"{part}.weight_hh_l0"]
        assert all(np.array_equal(b, np.eye(5)) for b in np.split(W, 3))


@pytest.mark.parametrize("argv, flag", [
    (["--task", "adding", "--cell", "lstm", "--activation", "relu"], "--activation"),
    (["--task", "reverse", "--cell", "rnn", "--activation", "relu"], "--activation"),
    (["--task", "adding", "--cell", "rnn", "--spectral-radius", "-1"], "--spectral-radius"),
    (["--task", "adding", "--cell", "rnn", "--spectral-radius", "nan"], "--spectral-radius"),
])
def test_combinations_the_engine_cannot_run_are_refused(argv, flag, capsys):
    assert main([*argv, "--steps", "1", "--seq-len", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and flag in err and "Traceback" not in err


def test_an_unknown_init_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--task", "adding", "--init", "zeros"])
    assert exc.value.code == 2 and "--init" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(monkeypatch, capsys):
    argv = ["--task", "adding", "--seq-len", "6", "--steps", "3", "--batch", "4", "--hidden", "4"]
    assert main(argv) == 0
    assert "update" not in capsys.readouterr().err              # stderr is not a terminal here
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    assert main(argv) == 0
    shown = term.getvalue()
    assert "3/3" in shown and "update" in shown and "loss " in shown
    assert "3 updates in" in capsys.readouterr().out            # the summary line still goes to stdout


def test_importing_the_trainer_limits_every_blas_to_one_thread():
    """engine.train loads the BLAS numba's np.dot calls (scipy's OpenBLAS) before limiting: every BLAS library
    of the process, numpy's and scipy's, runs one thread (UNROLLED_BLAS_THREADS unset)."""
    import os
    import subprocess
    import sys

    code = ("import engine.train; from threadpoolctl import threadpool_info; "
            "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")
    env = {k: v for k, v in os.environ.items() if k != "UNROLLED_BLAS_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(counts) >= 2 and set(counts) == {1}, out.stdout + out.stderr
