"""The models the trainer fits: data sets, one network with a read-out, an encoder-decoder pair, their initial
weights, and generation from a trained network."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from . import _blas  # noqa: F401  the BLAS thread limit (engine/_blas.py)
from . import limits as L
from .activations import check_loss, check_output, output_values
from .batch import (
    BatchResult,
    EvaluationStopped,
    Scores,
    Workspace,
    _scored,
    batch_gradients,
    check_batch,
    check_state_dict,
    eval_chunk_rows,
)
from .params import (
    check_seed,
    get_cell,
    init_params,
    is_integer,
    is_number,
    params_from_state_dict,
    params_to_state_dict,
)

# ---------------------------------------------------------------- models: one network, or an encoder-decoder pair


@dataclass(frozen=True)
class Dataset:
    """Padded sequences and their targets (the data convention of check_batch), with the loss they use."""

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    output: str
    loss: str
    n_out: int

    @property
    def size(self) -> int:
        return self.x.shape[0]

    def rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.x[idx], self.y[idx], self.lengths[idx]


def make_dataset(x, y, lengths=None, *, output: str = "identity", loss: str = "last", n_out: int | None = None) -> Dataset:
    """Validate once (check_batch) and keep the arrays; n_out defaults to y's last axis (or its largest class + 1)."""
    output = check_output(output)
    loss = check_loss(loss)
    if n_out is None:
        ya = np.asarray(y)
        n_out = int(ya.max()) + 1 if output == "softmax" else int(ya.shape[-1]) if ya.ndim >= 2 else 1
    xa, ya, ln = check_batch(x, y, lengths, output=output, loss=loss, n_out=n_out)
    return Dataset(xa, ya, ln, output, loss, int(n_out))


def make_seq2seq_dataset(x, y, lengths=None, *, n_out: int | None = None) -> Dataset:
    """Data for an EncoderDecoder: inputs x (N, T_in, D) with lengths, and output classes y (N, T_out)
    whose length T_out is independent of T_in (the decoder writes every one of its steps)."""
    N = np.shape(x)[0] if np.ndim(x) else 0
    xa, _, ln = check_batch(x, np.zeros((N, 1)), lengths, output="identity", loss="last", n_out=1)
    ya = np.asarray(y) if not isinstance(y, (str, bytes)) and y is not None else np.zeros(0)
    if ya.ndim != 2 or ya.shape[0] != N or ya.shape[1] < 1 or ya.dtype.kind not in "iu" or (ya < 0).any():
        raise ValueError(f"y must be an integer array of shape (N, T_out) = ({N}, T_out) of classes >= 0")
    n_out = int(ya.max()) + 1 if n_out is None else int(n_out)
    if (ya >= n_out).any():
        raise ValueError(f"y must hold classes in [0, {n_out})")
    return Dataset(xa, ya.astype(np.int64), ln, "softmax", "all", n_out)


def initial_state(cell: str, D: int, H: int, O: int, *, seed: int = 0, encoder_decoder: bool = False,
                  activation: str = "tanh", init: str = "gaussian", spectral_radius: float | None = None) -> dict:
    """Fresh weights under PyTorch's state-dict keys (init_params with these arguments): one network of
    D inputs, H units and O outputs for a SequenceModel; or, for an EncoderDecoder, an encoder of D inputs
    without a read-out (``seed``) and a decoder of O + 1 inputs (the previous class's one-hot and a start
    symbol) with O softmax classes (``seed + 1``), both with tanh units."""
    kw = dict(cell=cell, init=init, spectral_radius=spectral_radius)
    if encoder_decoder:
        if activation != "tanh":
            raise ValueError(f"activation {activation}: an encoder-decoder runs tanh units")
        enc = params_to_state_dict(init_params(D, H, 1, seed=seed, **kw))
        dec = params_to_state_dict(init_params(O + 1, H, O, output="softmax", seed=seed + 1, **kw))
        return {**{"encoder." + k: v for k, v in enc.items() if not k.startswith("head.")},
                **{"decoder." + k: v for k, v in dec.items()}}
    return params_to_state_dict(init_params(D, H, O, activation=activation, seed=seed, **kw))


class SequenceModel:
    """One recurrent network with a linear read-out: many-to-one (loss "last", at each sequence's own
    last step), many-to-many aligned (loss "all") and, trained with teacher forcing, one-to-many
    (see ``generate`` and ``free_running``). ``state`` holds the weights under PyTorch's state-dict keys."""

    def __init__(self, state: Mapping, *, cell: str, activation: str = "tanh", output: str = "identity",
                 loss: str = "last", dtype="float64"):
        self.cell = get_cell(cell).name
        self.activation, self.output, self.loss = activation, check_output(output), check_loss(loss)
        self.dtype = dtype
        params_from_state_dict(state, cell=self.cell, activation=activation, output=output)  # validates
        self.state = check_state_dict(state, self.cell)

    def gradients(self, x, y, lengths, truncate=None, *, _checked: bool = False,
                  _work: Workspace | None = None) -> BatchResult:
        """Loss and gradients of a padded batch; x, y, lengths are validated (padding zeroed) unless they
        come from a Dataset (``_checked``); ``_work``: see Workspace."""
        if not _checked:
            x, y, lengths = check_batch(x, y, lengths, output=self.output, loss=self.loss,
                                        n_out=self.state["head.weight"].shape[0])
        return batch_gradients(self.state, x, y, lengths, cell=self.cell, activation=self.activation,
                               output=self.output, loss=self.loss, truncate=truncate, dtype=self.dtype, _checked=True,
                               _work=_work)

    def evaluate(self, x, y, lengths, *, max_numbers: float = L.MAX_EVAL_NUMBERS, stop=None, progress=None,
                 _checked: bool = False, _work: Workspace | None = None) -> Scores:
        """Loss and outputs of many sequences, forward passes only, in chunks of rows such that one chunk
        holds at most ``max_numbers`` numbers T x rows x G H (the same memory per number as a training
        batch). ``stop()`` is asked before each chunk (EvaluationStopped when it says True);
        ``progress(done, total)`` after each. Equals ``gradients(...).loss`` and ``.y`` on the whole batch."""
        if not _checked:
            x, y, lengths = check_batch(x, y, lengths, output=self.output, loss=self.loss,
                                        n_out=self.state["head.weight"].shape[0])
        GH = self.state["weight_hh_l0"].shape[0]
        rows = eval_chunk_rows(x.shape[1], GH, max_numbers)

        def run(sl):
            return batch_gradients(self.state, x[sl], y[sl], lengths[sl], cell=self.cell, activation=self.activation,
                                   output=self.output, loss=self.loss, dtype=self.dtype, _checked=True, _work=_work,
                                   _grads=False)
        return _scored(x, y, rows, run, stop, progress)

    def free_running(self, x, lengths, feedback, *, max_numbers: float = L.MAX_EVAL_NUMBERS, stop=None,
                     _checked: bool = False) -> np.ndarray:
        """One-to-many at test time: step 1 reads x[:, 0] as it is (the condition); at every later step t the
        input is x[:, t - 1] with its channels ``feedback`` replaced by the network's own output at step t - 1
        (identity: y itself; softmax: the one-hot of its most likely class; sigmoid: the probabilities), never
        the target. ``feedback`` (O,) are input channels, one per output in order. Compare ``evaluate``, which
        reads x as given (teacher forcing, as in training). Returns the outputs (B, T, O) (probabilities for
        softmax). Every step of the padded time axis is computed; the outputs past a sequence's length mean
        nothing (the metrics ignore them). In chunks of rows like ``evaluate``; ``stop()`` before each."""
        sd = self.state
        O, D = sd["head.weight"].shape[0], sd["weight_ih_l0"].shape[1]
        fb = _check_feedback(feedback, D, O)
        if not _checked:
            x, _, lengths = check_batch(x, np.zeros((np.shape(x)[0] if np.ndim(x) else 0, 1)), lengths,
                                        output="identity", loss="last", n_out=1)
        if x.shape[2] != D:
            raise ValueError(f"x must have shape (B, T, D) = (B, T, {D}), got {x.shape}")
        B, T = x.shape[:2]
        GH = sd["weight_hh_l0"].shape[0]
        rows = max(1, min(B, eval_chunk_rows(T, GH, max_numbers)))
        out = np.empty((B, T, O))  # (B, T, O)
        kw = dict(cell=self.cell, activation=self.activation, output=self.output, loss="all", dtype=self.dtype,
                  _checked=True, _grads=False)
        for i in range(0, B, rows):
            if stop is not None and stop():
                raise EvaluationStopped(f"stopped after {i} of {B} sequences")
            xs = x[i:i + rows]
            b = xs.shape[0]
            dummy = np.zeros((b, 1), dtype=np.int64) if self.output == "softmax" else np.zeros((b, 1, O))
            one = np.ones(b, dtype=np.int64)
            h = c = None
            step_in = np.array(xs[:, :1], dtype=np.float64)  # (b, 1, D): the condition, as given
            for t in range(T):
                r = batch_gradients(sd, step_in, dummy, one, h0=h, c0=c, **kw)
                y = r.y[:, 0]  # (b, O)
                out[i:i + b, t] = y
                h, c = r.h_last, r.c_last
                if t + 1 < T:
                    step_in = np.array(xs[:, t + 1:t + 2], dtype=np.float64)
                    if self.output == "softmax":  # the symbol it wrote, as a one-hot
                        fed = np.zeros((b, O))
                        fed[np.arange(b), np.nan_to_num(y, nan=-np.inf).argmax(-1)] = 1.0
                    else:
                        fed = y
                    step_in[:, 0, fb] = fed
        return out

    def params(self):
        """The current weights as an engine RNNParams (for bptt, the pages, the spectrum)."""
        return params_from_state_dict(self.state, cell=self.cell, activation=self.activation, output=self.output)


def _check_feedback(feedback, D: int, O: int) -> np.ndarray:
    """The input channels (O,) that carry the previous output, one per output, distinct, in [0, D)."""
    try:
        fb = [int(v) for v in feedback] if not isinstance(feedback, (str, bytes)) else None
        bad = fb is None or any(isinstance(v, (bool, np.bool_)) or not is_integer(v) for v in feedback)
    except (TypeError, ValueError):
        fb, bad = None, True
    if bad or len(fb) != O or len(set(fb)) != O or not all(0 <= v < D for v in fb):
        raise ValueError(f"feedback must list O = {O} distinct input channels in [0, D) = [0, {D}), one per output, "
                         f"got {feedback!r}")
    return np.array(fb, dtype=np.int64)


class EncoderDecoder:
    """Two networks of the same cell: the encoder reads x (B, T_in, D); its final state (h and, for the
    LSTM, c) starts the decoder, which writes an output sequence of another length T_out, one softmax
    class per step. The decoder is teacher-forced: its input at step j is the one-hot of target j - 1
    (a start symbol, the extra last channel, at j = 0). The decoder's gradient at its initial state
    flows into the encoder's last step. ``state`` keys are "encoder.<key>" and "decoder.<key>"."""

    def __init__(self, state: Mapping, *, cell: str, dtype="float64"):
        self.cell = get_cell(cell).name
        self.dtype = dtype
        self.output, self.loss = "softmax", "all"
        if not isinstance(state, Mapping):
            raise ValueError("state must be a mapping with 'encoder.*' and 'decoder.*' state-dict keys")
        self.state = {k: v for k, v in state.items() if k.startswith(("encoder.", "decoder."))}
        enc_sd, dec_sd = check_state_dict(self._part("encoder"), self.cell), check_state_dict(self._part("decoder"), self.cell)
        if enc_sd["weight_hh_l0"].shape[1] != dec_sd["weight_hh_l0"].shape[1]:
            raise ValueError("state: encoder and decoder must have the same hidden size H")
        self.n_classes = dec_sd["head.weight"].shape[0]
        if dec_sd["weight_ih_l0"].shape[1] != self.n_classes + 1:
            raise ValueError(f"state: decoder.weight_ih_l0 must have {self.n_classes + 1} columns (one-hot of the "
                             f"previous target plus a start symbol), got {dec_sd['weight_ih_l0'].shape[1]}")
        self.state = {**{"encoder." + k: v for k, v in enc_sd.items() if not k.startswith("head.")},
                      **{"decoder." + k: v for k, v in dec_sd.items()}}

    def _part(self, name: str) -> dict:
        sd = {k[len(name) + 1:]: v for k, v in self.state.items() if k.startswith(name + ".")}
        if name == "encoder" and "weight_hh_l0" in sd:  # no read-out: a zero head that no loss reaches
            sd["head.weight"] = np.zeros((1, np.asarray(sd["weight_hh_l0"]).shape[1]))
            sd["head.bias"] = np.zeros(1)
        return sd

    def decoder_inputs(self, y: np.ndarray) -> np.ndarray:
        """(B, T_out, O + 1): start symbol, then the one-hot of each previous target."""
        B, T_out = y.shape
        X = np.zeros((B, T_out, self.n_classes + 1))
        X[:, 0, self.n_classes] = 1.0
        if T_out > 1:
            X[np.arange(B)[:, None], np.arange(1, T_out)[None, :], y[:, :-1]] = 1.0
        return X

    def _checked_batch(self, x, y, lengths):
        """The encoder's inputs (padding zeroed) and the decoder's classes, validated."""
        B = np.shape(x)[0] if np.ndim(x) else 0
        x, _, lengths = check_batch(x, np.zeros((B, 1)), lengths, output="identity", loss="last", n_out=1)
        ya = np.asarray(y)
        if (ya.ndim != 2 or ya.shape[0] != B or ya.shape[1] < 1 or ya.dtype.kind not in "iu"
                or (ya < 0).any() or (ya >= self.n_classes).any()):
            raise ValueError(f"y must be an integer array of shape (B, T_out) = ({B}, T_out) with classes in "
                             f"[0, {self.n_classes})")
        return x, ya.astype(np.int64), lengths

    def gradients(self, x, y, lengths, truncate=None, *, _checked: bool = False) -> BatchResult:
        """Loss and gradients for inputs x (B, T_in, D) with lengths and output classes y (B, T_out)."""
        enc_sd, dec_sd = self._part("encoder"), self._part("decoder")
        if not _checked:
            x, y, lengths = self._checked_batch(x, y, lengths)
        B = x.shape[0]
        zero_y = np.zeros((B, 1))
        enc = batch_gradients(enc_sd, x, zero_y, lengths, cell=self.cell, output="identity", loss="last",
                              dtype=self.dtype, _checked=True)  # forward: the final state (its loss is unused)
        dec = batch_gradients(dec_sd, self.decoder_inputs(y), y, np.full(B, y.shape[1]), cell=self.cell,
                              output="softmax", loss="all", h0=enc.h_last, c0=enc.c_last, dtype=self.dtype,
                              truncate=truncate, _checked=True)
        # Back into the encoder: only the decoder's gradient at its initial state (target 0 on a zero head)
        enc = batch_gradients(enc_sd, x, zero_y, lengths, cell=self.cell, output="identity", loss="last",
                              dtype=self.dtype, dh_last=dec.dh0, dc_last=dec.dc0, truncate=truncate,
                              _checked=True)
        grads = {**{"encoder." + k: v for k, v in enc.grads.items() if not k.startswith("head.")},
                 **{"decoder." + k: v for k, v in dec.grads.items()}}
        return BatchResult(dec.loss, dec.seq_loss, dec.y, grads, dec.grad_h_norm, dec.h_last, dec.c_last,
                           enc.dh0, enc.dc0, enc.overflow or dec.overflow)

    def free_running(self, x, lengths, n_steps: int, *, max_numbers: float = L.MAX_EVAL_NUMBERS, stop=None,
                     _checked: bool = False) -> np.ndarray:
        """The decoder on its own outputs, as at test time: the start symbol at step 0, then at step j the
        one-hot of its own most likely class at step j - 1 (greedy decoding), never the target. Returns the
        output probabilities (B, n_steps, O). Compare ``evaluate``, which feeds the true previous targets
        (teacher forcing, as in training). In chunks of rows like ``evaluate``; ``stop()`` before each."""
        if not is_integer(n_steps) or not 1 <= int(n_steps) <= 100_000:
            raise ValueError(f"n_steps must be an integer in [1, 100000], got {n_steps!r}")
        n_steps = int(n_steps)
        B = np.shape(x)[0] if np.ndim(x) else 0
        if not _checked:
            x, _, lengths = check_batch(x, np.zeros((B, 1)), lengths, output="identity", loss="last", n_out=1)
        enc_sd, dec_sd = self._part("encoder"), self._part("decoder")
        GH = enc_sd["weight_hh_l0"].shape[0]
        O = self.n_classes
        rows = max(1, min(B, eval_chunk_rows(max(x.shape[1], n_steps), GH, max_numbers)))
        out = np.empty((B, n_steps, O))
        for i in range(0, B, rows):
            if stop is not None and stop():
                raise EvaluationStopped(f"stopped after {i} of {B} sequences")
            xs = x[i:i + rows]
            b = xs.shape[0]
            enc = batch_gradients(enc_sd, xs, np.zeros((b, 1)), lengths[i:i + rows], cell=self.cell,
                                  output="identity", loss="last", dtype=self.dtype, _checked=True, _grads=False)
            h, c = enc.h_last, enc.c_last
            step_in = np.zeros((b, 1, O + 1))
            step_in[:, 0, O] = 1.0                       # the start symbol
            dummy = np.zeros((b, 1), dtype=np.int64)
            for j in range(n_steps):
                r = batch_gradients(dec_sd, step_in, dummy, np.ones(b, dtype=np.int64), cell=self.cell,
                                    output="softmax", loss="all", h0=h, c0=c, dtype=self.dtype, _checked=True,
                                    _grads=False)
                out[i:i + b, j] = r.y[:, 0]
                h, c = r.h_last, r.c_last
                step_in = np.zeros((b, 1, O + 1))
                step_in[np.arange(b), 0, r.y[:, 0].argmax(-1)] = 1.0
        return out

    def evaluate(self, x, y, lengths, *, max_numbers: float = L.MAX_EVAL_NUMBERS, stop=None, progress=None,
                 _checked: bool = False, _work: Workspace | None = None) -> Scores:
        """As SequenceModel.evaluate (teacher-forced, like ``gradients``); a chunk's T is the longer of
        T_in and T_out."""
        if not _checked:
            x, y, lengths = self._checked_batch(x, y, lengths)
        enc_sd, dec_sd = self._part("encoder"), self._part("decoder")
        GH = enc_sd["weight_hh_l0"].shape[0]
        rows = eval_chunk_rows(max(x.shape[1], y.shape[1]), GH, max_numbers)

        def run(sl):
            xs, ys = x[sl], y[sl]
            b = xs.shape[0]
            enc = batch_gradients(enc_sd, xs, np.zeros((b, 1)), lengths[sl], cell=self.cell, output="identity",
                                  loss="last", dtype=self.dtype, _checked=True, _work=_work, _grads=False)
            dec = batch_gradients(dec_sd, self.decoder_inputs(ys), ys, np.full(b, ys.shape[1]), cell=self.cell,
                                  output="softmax", loss="all", h0=enc.h_last, c0=enc.c_last, dtype=self.dtype,
                                  _checked=True, _work=_work, _grads=False)
            return replace(dec, overflow=enc.overflow or dec.overflow)
        return _scored(x, y, rows, run, stop, progress)


def _check_generate_args(n_steps, temperature, seed):
    if not is_integer(n_steps) or not 1 <= int(n_steps) <= 100_000:
        raise ValueError(f"n_steps must be an integer in [1, 100000], got {n_steps!r}")
    if temperature is not None and (not is_number(temperature) or not np.isfinite(temperature) or temperature <= 0):
        raise ValueError(f"temperature must be a number > 0 (or None for the most likely symbol), got {temperature!r}")
    return np.random.default_rng(check_seed(seed)), int(n_steps), None if temperature is None else float(temperature)


def generate(model: SequenceModel, prime, n_steps: int, *, temperature: float | None = 1.0, seed: int = 0) -> np.ndarray:
    """One-to-many: read ``prime`` (P, D), then run on the network's own output for ``n_steps`` steps.

    Softmax output: each step samples a class from softmax(z / temperature) (the most likely one when
    temperature is None) and feeds its one-hot back as the next input (D must equal O); returns the
    classes (n_steps,). Identity output: feeds y_t back as x_{t+1} (forecasting many steps ahead,
    D = O); returns (n_steps, O).
    """
    rng, n_steps, temperature = _check_generate_args(n_steps, temperature, seed)
    sd = model.state
    O, D = sd["head.weight"].shape[0], sd["weight_ih_l0"].shape[1]
    if D != O:
        raise ValueError(f"generate needs inputs of the output's size: D = {D}, O = {O}")
    p = np.asarray(prime, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != D or p.shape[0] < 1 or not np.isfinite(p).all():
        raise ValueError(f"prime must be a finite array of shape (P, D) = (P, {D}) with P >= 1")
    kw = dict(cell=model.cell, activation=model.activation, output="identity", loss="all", dtype="float64",
              _checked=True)
    zeros = np.zeros((1, 1, O))
    r = batch_gradients(sd, p[None], np.zeros((1, p.shape[0], O)), np.array([p.shape[0]]), **kw)
    h, c = r.h_last, r.c_last
    z = r.y[0, -1]  # logits of the last primed step (identity output: the raw read-out)
    out = []
    for _ in range(n_steps):
        if model.output == "softmax":
            logits = z / (temperature or 1.0)
            if temperature is None:
                k = int(np.argmax(z))
            else:
                q = np.exp(logits - logits.max())
                k = int(rng.choice(O, p=q / q.sum()))
            out.append(k)
            nxt = np.zeros(O)
            nxt[k] = 1.0
        else:
            nxt = output_values(model.output, z[None])[0]
            out.append(nxt.copy())
        r = batch_gradients(sd, nxt[None, None], zeros, np.array([1]), h0=h, c0=c, **kw)
        h, c = r.h_last, r.c_last
        z = r.y[0, -1]
    return np.array(out)
