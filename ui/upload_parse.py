"""Parsing and checking uploaded files: weights (.npz), an input sequence (.csv) and a text for the character model.

Each upload is parsed by a pure function (``parse_weights``, ``parse_inputs``, ``parse_text``) that
returns the arrays or raises ``UploadError`` with a sentence for the visitor. Files are read with
``np.load(allow_pickle=False)`` and never executed. ui/uploads.py draws the uploaders; ui/upload_store.py
keeps what they parsed.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import re
import zipfile
from dataclasses import dataclass

import numpy as np

from ui.config import CELL_LABELS, FIELDS, GATED_ACTIVATION
from ui.plain import plain

# ---------------------------------------------------------------- limits (stated in the sidebar too)

MAX_WEIGHTS_BYTES = 8 * 1024 * 1024        # the .npz file as uploaded
MAX_WEIGHTS_UNPACKED = 16 * 1024 * 1024    # all its arrays together, uncompressed
MAX_WEIGHTS_MEMBERS = 32                   # arrays in the file
MAX_CSV_BYTES = 512 * 1024
MAX_TEXT_BYTES = 1024 * 1024
MIN_TEXT_CHARS = 1_100                     # ten windows of the default T = 100, plus a margin
MAX_H = int(FIELDS["H"].hi)                # 256: what every page can draw in time
MAX_D = int(FIELDS["D"].hi)                # 16
MAX_O = int(FIELDS["O"].hi)                # 16
MAX_T = int(FIELDS["T"].hi)                # 1000 rows of input

ENGINE_KEYS = ("W_hx", "W_hh", "b_h", "W_hy", "b_y")
TORCH_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias")
_CELL_OF_GATES = {1: "rnn", 4: "lstm", 3: "gru"}


class UploadError(ValueError):
    """A file that cannot be used; the message is shown to the visitor as it is."""


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- weights

@dataclass(frozen=True)
class OwnWeights:
    """Parsed weights: float64 arrays under the engine's names (b_hn only for a GRU)."""

    digest: str
    name: str
    cell: str
    H: int
    D: int
    O: int
    act: str | None                 # activation named in the file (our own export), else None
    arrays: dict                    # engine name -> read-only float64 array
    keys: str                       # "engine" | "PyTorch": which names the file used


# Zip compression methods Python's zipfile unpacks (bzip2 and LZMA only when CPython was built with them).
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "Deflate"}
for _method, _module in ((zipfile.ZIP_BZIP2, "bz2"), (zipfile.ZIP_LZMA, "lzma")):
    try:
        __import__(_module)
        _ZIP_METHODS[_method] = _module
    except ImportError:  # pragma: no cover - a CPython without that module
        pass
_ZIP_METHOD_NAMES = {1: "Shrink", 6: "Implode", 9: "Deflate64", 10: "PKWARE DCL Implode", 93: "Zstandard",
                     95: "XZ", 98: "PPMd", 99: "WinZip AES encryption"}
NPY_MAX_HEADER = inspect.signature(np.load).parameters["max_header_size"].default  # 10 000 bytes in numpy 2.x


def _check_members(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse, before anything is unpacked, members that zipfile would stop on with an exception of its
    own: password-protected ones and compression methods it cannot unpack."""
    for info in infos:
        if info.flag_bits & 0x1:
            raise UploadError(f"Array “{plain(info.filename, 60)}” in the weights file is encrypted (a "
                              "password-protected zip); this lab reads only unencrypted files. Save the arrays "
                              "with numpy.savez, which never encrypts.")
        if info.compress_type not in _ZIP_METHODS:
            method = info.compress_type
            named = f" ({_ZIP_METHOD_NAMES[method]})" if method in _ZIP_METHOD_NAMES else ""
            raise UploadError(f"Array “{plain(info.filename, 60)}” in the weights file is packed with zip "
                              f"compression method {method}{named}, which this lab cannot unpack. numpy.savez "
                              "stores arrays uncompressed and numpy.savez_compressed uses Deflate: save them "
                              "with either.")


def _read_member(npz, key: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:
        text = str(exc)
        if "max_header_size" in text or "Header info length" in text:
            found = re.search(r"Header info length \((\d+)\)", text)
            size = f"{int(found.group(1)):,} bytes" if found else f"more than {NPY_MAX_HEADER:,} bytes"
            raise UploadError(f"Array “{plain(key, 60)}” in the weights file has a header of {size} (it "
                              f"describes the array's type and shape); numpy reads at most {NPY_MAX_HEADER:,} "
                              "bytes of header from a file it does not trust. A plain numeric array has a "
                              "header of about a hundred bytes: save the arrays with numpy.savez.") from None
        if "allow_pickle" in text or "Object arrays" in text:
            raise UploadError("The weights file holds Python objects (pickled data). Only plain numeric arrays "
                              "are accepted: save them with numpy.savez after .numpy() / np.asarray.") from None
        raise UploadError(f"Array “{plain(key, 60)}” in the weights file cannot be read: {plain(exc, 200)}.") from None


def _npz_members(data: bytes) -> dict[str, np.ndarray]:
    if len(data) > MAX_WEIGHTS_BYTES:
        raise UploadError(f"The weights file is {_mb(len(data))}; the limit is {_mb(MAX_WEIGHTS_BYTES)}.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_WEIGHTS_MEMBERS:
                raise UploadError(f"The weights file holds {len(infos)} arrays; at most {MAX_WEIGHTS_MEMBERS} are read.")
            unpacked = sum(i.file_size for i in infos)
            if unpacked > MAX_WEIGHTS_UNPACKED:
                raise UploadError(f"The arrays in the weights file take {_mb(unpacked)} unpacked; the limit is "
                                  f"{_mb(MAX_WEIGHTS_UNPACKED)}.")
            _check_members(infos)
            bad = zf.testzip()
            if bad is not None:
                raise UploadError(f"The weights file is damaged (array “{plain(bad, 60)}” does not match its "
                                  "checksum).")
    except UploadError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise UploadError("This is not a readable .npz file (a zip archive of .npy arrays, as written by "
                          f"numpy.savez): {plain(exc, 200)}.") from None
    except (RuntimeError, NotImplementedError) as exc:  # zipfile's own refusals not foreseen above
        raise UploadError(f"The weights file is a zip archive this lab cannot unpack: {plain(exc, 200)}.") from None
    out = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            for k in npz.files:
                out[k] = _read_member(npz, k)
    except UploadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise UploadError(f"The weights file cannot be read as .npz: {type(exc).__name__}: {plain(exc, 200)}.") from None
    return out


def _numeric(name: str, arr: np.ndarray, ndim: int) -> np.ndarray:
    if arr.dtype.kind not in "iuf" or arr.dtype == bool:
        raise UploadError(f"Array {name!r} must hold real numbers, it holds dtype {arr.dtype}.")
    if arr.ndim != ndim:
        raise UploadError(f"Array {name!r} must have {ndim} dimension{'s' if ndim > 1 else ''}, "
                          f"it has shape {arr.shape}.")
    a = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(a).all():
        raise UploadError(f"Array {name!r} contains NaN or infinite values.")
    return a


def _activation_in(members: dict) -> str | None:
    """The activation our own run export records in its `config` JSON (a 0-d string array)."""
    cfg = members.get("config")
    if cfg is None or cfg.dtype.kind != "U" or cfg.ndim != 0:
        return None
    try:
        act = json.loads(str(cfg)).get("act")
    except (ValueError, AttributeError):
        return None
    except RecursionError:  # Python's json reader recurses once per level of brackets
        raise UploadError("The weights file's config entry is JSON nested too deeply for Python's json reader "
                          "(brackets inside brackets, more levels than it follows). The lab's own run export writes "
                          "a flat config: remove the entry, or export the run again.") from None
    return act if act in FIELDS["act"].options else None


def parse_weights(data: bytes, name: str = "weights.npz") -> OwnWeights:
    """Weights from an .npz under the engine's names (W_hx, W_hh, b_h, W_hy, b_y, and b_hn for a GRU)
    or PyTorch's state-dict names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, head.weight,
    head.bias). The cell follows from the rows of the recurrent matrix (H: RNN, 4H: LSTM, 3H: GRU)."""
    import engine

    members = _npz_members(data)
    if all(k in members for k in ENGINE_KEYS):
        keys = "engine"
        W_hh = _numeric("W_hh", members["W_hh"], 2)
    elif all(k in members for k in TORCH_KEYS):
        keys = "PyTorch"
        W_hh = _numeric("weight_hh_l0", members["weight_hh_l0"], 2)
    else:
        have = ", ".join(plain(k, 40) for k in sorted(members)[:12]) or "no arrays"
        raise UploadError("The weights file needs the arrays W_hx, W_hh, b_h, W_hy, b_y (and b_hn for a GRU), or "
                          "PyTorch's weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, head.weight, head.bias. "
                          f"It has: {have}.")
    rows, H = W_hh.shape
    G = rows // H if H and rows % H == 0 else 0
    cell = _CELL_OF_GATES.get(G)
    hh = "W_hh" if keys == "engine" else "weight_hh_l0"
    if cell is None:
        raise UploadError(f"{hh} has shape {W_hh.shape}: it must be (H, H) for a vanilla RNN, (4H, H) for an LSTM "
                          "or (3H, H) for a GRU.")
    if H > MAX_H:
        raise UploadError(f"The weights have H = {H} hidden units; this lab draws at most H = {MAX_H}.")
    act = _activation_in(members) if cell == "rnn" else GATED_ACTIVATION
    try:
        if keys == "engine":
            if cell == "gru" and "b_hn" not in members:
                raise UploadError("A GRU's weights under the engine's names need b_hn (H,) as well.")
            arrays = {k: _numeric(k, members[k], 2 if k.startswith("W") else 1) for k in ENGINE_KEYS}
            if cell == "gru":
                arrays["b_hn"] = _numeric("b_hn", members["b_hn"], 1)
            params = engine.RNNParams(**arrays, cell=cell, activation=act or "tanh")
        else:
            state = {k: _numeric(k, members[k], 2 if "weight" in k else 1) for k in TORCH_KEYS}
            params = engine.params_from_state_dict(state, cell=cell, activation=act or "tanh")
    except UploadError:
        raise
    except ValueError as exc:  # shapes that do not fit together: the engine names the array and shape
        raise UploadError(f"The arrays do not fit together as a {CELL_LABELS[cell]}: {exc}.") from None
    D, O = params.n_in, params.n_out
    if D > MAX_D:
        raise UploadError(f"The weights take D = {D} inputs; this lab allows at most D = {MAX_D}.")
    if O > MAX_O:
        raise UploadError(f"The weights have O = {O} outputs; this lab allows at most O = {MAX_O}.")
    arrays = {k: v for k, v in params.arrays().items()}
    dg = digest("weights", cell, act or "", *(f"{k}{v.shape}".encode() + v.tobytes() for k, v in sorted(arrays.items())))
    return OwnWeights(digest=dg, name=name, cell=cell, H=params.n_hidden, D=D, O=O, act=act, arrays=arrays,
                      keys=keys)


def weights_params(w: OwnWeights, act: str, out: str):
    """RNNParams of uploaded weights with the page's activation (vanilla RNN) and output function."""
    import engine

    return engine.RNNParams(**w.arrays, cell=w.cell, activation=act if w.cell == "rnn" else GATED_ACTIVATION,
                            output=out)


# ---------------------------------------------------------------- text files (CSV and plain text)

def _text_of(data: bytes, what: str, limit: int) -> str:
    if len(data) > limit:
        raise UploadError(f"The {what} is {_mb(len(data))}; the limit is {_mb(limit)}.")
    if b"\0" in data:
        raise UploadError(f"The {what} contains binary data (NUL bytes): it must be plain text.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(f"The {what} is not UTF-8 text (byte {exc.start} cannot be decoded). Save it as UTF-8.") from None
    control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if control > max(8, len(text) // 1000):
        raise UploadError(f"The {what} contains {control} control characters: it looks like a binary file, not text.")
    return text


@dataclass(frozen=True)
class OwnInputs:
    digest: str
    name: str
    x: np.ndarray                   # (T, D) float64, read-only

    @property
    def T(self) -> int:
        return self.x.shape[0]

    @property
    def D(self) -> int:
        return self.x.shape[1]


def parse_inputs(data: bytes, name: str = "inputs.csv") -> OwnInputs:
    """An input sequence from CSV: one row per time step, one column per input (comma, semicolon, tab or
    space separated); a first row of column names is skipped."""
    text = _text_of(data, "CSV file", MAX_CSV_BYTES)
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise UploadError("The CSV file has no rows of numbers.")
    sep = next((s for s in (",", ";", "\t") if s in lines[0]), None)

    def cells(line: str) -> list[str]:
        return [c.strip() for c in (line.split(sep) if sep else line.split())]

    rows = [cells(ln) for ln in lines]
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        rows = rows[1:]  # a header
    if not rows:
        raise UploadError("The CSV file has a header but no rows of numbers.")
    if len(rows) > MAX_T:
        raise UploadError(f"The CSV file has {len(rows)} rows; at most T = {MAX_T} time steps are allowed.")
    width = len(rows[0])
    if width > MAX_D:
        raise UploadError(f"The CSV file has {width} columns; at most D = {MAX_D} inputs are allowed.")
    values = np.empty((len(rows), width))
    for i, r in enumerate(rows):
        if len(r) != width:
            raise UploadError(f"Row {i + 1} of the numbers has {len(r)} columns, the first has {width}: every row "
                              "needs the same number.")
        for j, c in enumerate(r):
            try:
                values[i, j] = float(c)
            except ValueError:
                raise UploadError(f"Row {i + 1}, column {j + 1} is “{plain(c, 20)}”, not a number.") from None
    if not np.isfinite(values).all():
        raise UploadError("The CSV file contains NaN or infinite values.")
    values.flags.writeable = False
    return OwnInputs(digest=digest("inputs", f"{values.shape}", values.tobytes()), name=name, x=values)


@dataclass(frozen=True)
class OwnText:
    digest: str
    name: str
    text: str


def parse_text(data: bytes, name: str = "text.txt") -> OwnText:
    """A text for the character model: UTF-8, at least MIN_TEXT_CHARS characters."""
    text = _text_of(data, "text file", MAX_TEXT_BYTES)
    if len(text) < MIN_TEXT_CHARS:
        raise UploadError(f"The text has {len(text):,} characters; the character model needs at least "
                          f"{MIN_TEXT_CHARS:,} (ten windows of T = 100 for training and testing).")
    return OwnText(digest=digest("text", text), name=name, text=text)

