"""Your own data: the sidebar's uploaders of weights (.npz), an input sequence (.csv) and a text for the character model.

Each upload is parsed by a pure function (``parse_weights``, ``parse_inputs``, ``parse_text``, in
ui/upload_parse.py) that returns the arrays or raises ``UploadError`` with a sentence for the visitor. Nothing
is kept from a file that fails: the view, the config and any earlier upload stay as they were.

A good upload lives in the session (what the sidebar shows) and, under a digest of its content, in a
small process-wide store that the cached runs read (ui/upload_store.py, ``ui.runs.build``): the digest is part
of the config the pages pass around (``OwnConfig``), so it is part of every cache key, and two sessions that
upload the same file share the runs. Files are read with ``np.load(allow_pickle=False)`` and never executed.
Every name of the three modules is importable from here.
"""
from __future__ import annotations

import logging

import streamlit as st

from ui import keys
from ui.config import CELL_LABELS, Config
from ui.plain import plain
from ui.upload_parse import (  # noqa: F401  re-exported
    _CELL_OF_GATES,
    _ZIP_METHOD_NAMES,
    _ZIP_METHODS,
    ENGINE_KEYS,
    MAX_CSV_BYTES,
    MAX_D,
    MAX_H,
    MAX_O,
    MAX_T,
    MAX_TEXT_BYTES,
    MAX_WEIGHTS_BYTES,
    MAX_WEIGHTS_MEMBERS,
    MAX_WEIGHTS_UNPACKED,
    MIN_TEXT_CHARS,
    NPY_MAX_HEADER,
    TORCH_KEYS,
    OwnInputs,
    OwnText,
    OwnWeights,
    UploadError,
    _activation_in,
    _check_members,
    _mb,
    _npz_members,
    _numeric,
    _read_member,
    _text_of,
    digest,
    parse_inputs,
    parse_text,
    parse_weights,
    weights_params,
)
from ui.upload_store import (  # noqa: F401  re-exported
    OwnConfig,
    _Store,
    _store,
    lookup,
    own_run_data,
    remember,
    text_for,
    with_uploads,
)

log = logging.getLogger("unrolled")


# ---------------------------------------------------------------- the sidebar expander

_STATE = keys.OWN_DATA   # session key: {"weights": OwnWeights, "inputs": OwnInputs, "text": OwnText}
_ERRORS = keys.OWN_ERRORS
_SEEN = keys.OWN_SEEN
_GEN = keys.OWN_GEN      # uploader key generation: bumping it empties the uploader

_KINDS = {
    "weights": ("Weights (.npz)", ["npz"], parse_weights, MAX_WEIGHTS_BYTES,
                "Engine names W_hx, W_hh, b_h, W_hy, b_y (b_hn for a GRU) or PyTorch state_dict names "
                "weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, head.weight, head.bias. "
                f"Up to {_mb(MAX_WEIGHTS_BYTES)}, H ≤ {MAX_H}, D ≤ {MAX_D}, O ≤ {MAX_O}."),
    "inputs": ("Input sequence (.csv)", ["csv", "txt"], parse_inputs, MAX_CSV_BYTES,
               f"T rows × D columns of numbers (a header row is skipped). Up to {_mb(MAX_CSV_BYTES)}, "
               f"T ≤ {MAX_T}, D ≤ {MAX_D}."),
    "text": ("Text for the character model (Train page)", ["txt", "md", "csv"], parse_text, MAX_TEXT_BYTES,
             f"UTF-8 text, {MIN_TEXT_CHARS:,} characters to {_mb(MAX_TEXT_BYTES)}."),
}
_AGAIN = {"weights": "Use generated weights again", "inputs": "Use the generated signal again",
          "text": "Use the Python documentation again"}


def _own() -> dict:
    return st.session_state.setdefault(_STATE, {})


def _clear(kind: str) -> None:
    _own().pop(kind, None)
    st.session_state.setdefault(_ERRORS, {}).pop(kind, None)
    gen = st.session_state.setdefault(_GEN, {})
    gen[kind] = gen.get(kind, 0) + 1


def _conflict(kind: str, item, own: dict) -> str | None:
    """Uploaded weights and an uploaded input must agree on D."""
    w = item if kind == "weights" else own.get("weights")
    x = item if kind == "inputs" else own.get("inputs")
    if kind in ("weights", "inputs") and w is not None and x is not None and w.D != x.D:
        other = "input CSV" if kind == "weights" else "weights"
        return (f"These {'weights take' if kind == 'weights' else 'inputs have'} D = {item.D} "
                f"{'inputs' if kind == 'weights' else 'columns'}, but your {other} "
                f"{'has' if kind == 'weights' else 'take'} D = {x.D if kind == 'weights' else w.D}. "
                f"Press “{_AGAIN['inputs' if kind == 'weights' else 'weights']}” first or upload a matching file.")
    return None


def _take(kind: str, uploaded) -> None:
    """Parse a newly chosen file once; on failure keep everything as it was and record the message."""
    seen = st.session_state.setdefault(_SEEN, {})
    errors = st.session_state.setdefault(_ERRORS, {})
    if uploaded is None:
        seen.pop(kind, None)
        return
    fid = getattr(uploaded, "file_id", None) or f"{uploaded.name}:{uploaded.size}"
    if seen.get(kind) == fid:
        return
    seen[kind] = fid
    errors.pop(kind, None)  # a message is about the file just chosen, never the one before
    parse = _KINDS[kind][2]
    name = plain(uploaded.name)
    try:
        item = parse(uploaded.getvalue(), uploaded.name)
        problem = _conflict(kind, item, _own())
        if problem:
            raise UploadError(problem)
    except UploadError as exc:
        errors[kind] = f"{name}: {exc} Nothing was changed."
        return
    except Exception as exc:  # noqa: BLE001 - a file no check above foresaw: refused, never a page error
        log.exception("upload %s could not be parsed", kind)
        errors[kind] = (f"{name}: this file could not be read ({type(exc).__name__}). Nothing was changed.")
        return
    errors.pop(kind, None)
    _own()[kind] = item


def _summary(kind: str, item, cfg: Config) -> str:
    if kind == "weights":
        over = [f"{n} {a} → {b}" for n, a, b in (("cell", cfg.cell, item.cell), ("H", cfg.H, item.H),
                                                 ("D", cfg.D, item.D), ("O", cfg.O, item.O)) if a != b]
        return (f"**{plain(item.name)}**: {CELL_LABELS[item.cell]}, H = {item.H}, D = {item.D}, O = {item.O} "
                f"({item.keys} key names). Used on every page instead of the generated weights; the file's "
                f"sizes override the sidebar's" + (f" ({', '.join(over)})." if over else ".")
                + " The sidebar's initialisation, ρ and gate biases do not apply.")
    if kind == "inputs":
        over = [f"{n} {a} → {b}" for n, a, b in (("T", cfg.T, item.T), ("D", cfg.D, item.D)) if a != b]
        return (f"**{plain(item.name)}**: T = {item.T} steps × D = {item.D} inputs, used instead of the generated signal "
                "(its amplitude does not apply)" + (f"; overrides {', '.join(over)}." if over else "."))
    return (f"**{plain(item.name)}**: {len(item.text):,} characters. The Train page's character model learns this text "
            "instead of the Python documentation.")


def own_data(cfg: Config) -> Config:
    """The sidebar expander “Your own data”; returns `cfg` with the uploads applied (an OwnConfig), or
    `cfg` unchanged when there are none. Call once per run, from the shared sidebar."""
    own = _own()
    gen = st.session_state.setdefault(_GEN, {})
    errors = st.session_state.setdefault(_ERRORS, {})
    with st.sidebar.expander("Your own data", icon=":material/upload_file:", expanded=bool(own or errors)):
        for kind, (label, types, _parse, limit, helptext) in _KINDS.items():
            up = st.file_uploader(label, type=types, key=f"own_{kind}_{gen.get(kind, 0)}", help=helptext,
                                  max_upload_size=max(1, -(-limit // (1024 * 1024))))
            _take(kind, up)
            if kind in errors:
                st.error(errors[kind], icon=":material/block:")
            item = own.get(kind)
            if item is not None:
                remember(item)
                st.caption(_summary(kind, item, cfg))
                st.button(_AGAIN[kind], key=f"own_again_{kind}", on_click=_clear, args=(kind,),
                          icon=":material/restart_alt:", width="stretch")
        st.caption("Files are read as numbers or text only (numpy.load with allow_pickle=False), never run. A "
                   "file that cannot be used changes nothing.")
    return with_uploads(cfg, own.get("weights"), own.get("inputs"))


def text_digest() -> str:
    """Digest of this session's uploaded text ("" when none): part of the Train page's settings."""
    item = st.session_state.get(_STATE, {}).get("text")
    if item is None:
        return ""
    remember(item)
    return item.digest


__all__ = ["OwnConfig", "OwnInputs", "OwnText", "OwnWeights", "UploadError", "lookup", "own_data", "own_run_data",
           "parse_inputs", "parse_text", "parse_weights", "text_digest", "text_for", "weights_params", "with_uploads"]
