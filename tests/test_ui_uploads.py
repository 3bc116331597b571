"""Uploads that used to escape the error handling (issue 18, finding 5): each is refused with its own
sentence, the earlier upload stays, and the message names the file just sent.

The files are crafted here: a `config` entry of deeply nested JSON, zip members with the encrypted flag,
with an unknown compression method (99) and with Deflate64 (9), and an .npy header over numpy's limit.
"""
from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import engine
from ui import uploads as up

ROOT = Path(__file__).resolve().parents[1]
ARRAYS = engine.init_params(1, 4, 1, seed=0).arrays()   # a vanilla RNN under the engine's names


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


GOOD = npz_bytes(**ARRAYS)


def _patch_headers(data: bytes, local_offset: int, central_offset: int, patch) -> bytes:
    """Apply `patch(old_u16) -> new_u16` to one 2-byte field of every local and central zip header."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        at = out.find(signature)
        while at >= 0:
            (old,) = struct.unpack_from("<H", out, at + offset)
            struct.pack_into("<H", out, at + offset, patch(old))
            at = out.find(signature, at + 4)
    return bytes(out)


def encrypted() -> bytes:
    """General-purpose flag bit 0 (encrypted) set in the local and central headers."""
    return _patch_headers(GOOD, 6, 8, lambda flags: flags | 0x1)


def compressed_with(method: int) -> bytes:
    return _patch_headers(GOOD, 8, 10, lambda _: method)


def nested_config(depth: int = 100_000) -> bytes:
    return npz_bytes(**ARRAYS, config=np.array("[" * depth + "]" * depth))


def long_header() -> bytes:
    """The engine's arrays plus one whose .npy header is longer than numpy.load accepts by default: a
    structured dtype with 600 fields (the header spells out every field)."""
    wide = np.zeros(1, dtype=[(f"f{i}", "<f8") for i in range(600)])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, value in {**ARRAYS, "wide": wide}.items():
            member = io.BytesIO()
            np.save(member, value)
            zf.writestr(f"{key}.npy", member.getvalue())
    return buf.getvalue()


def test_the_crafted_files_really_are_what_they_claim():
    with zipfile.ZipFile(io.BytesIO(encrypted())) as zf:
        assert all(i.flag_bits & 0x1 for i in zf.infolist())
        with pytest.raises(RuntimeError, match="encrypted"):
            zf.testzip()
    for method in (99, 9):
        with zipfile.ZipFile(io.BytesIO(compressed_with(method))) as zf:
            assert {i.compress_type for i in zf.infolist()} == {method}
            with pytest.raises(NotImplementedError):
                zf.testzip()
    with np.load(io.BytesIO(long_header()), allow_pickle=False) as npz, \
            pytest.raises(ValueError, match="max_header_size"):
        npz["wide"]
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000 + "]" * 100_000)


CASES = {
    "nested config": (nested_config(), r"config entry is JSON nested too deeply for Python's json reader"),
    "encrypted": (encrypted(), r"Array “W\\_hx.npy” in the weights file is encrypted \(a password-protected zip\)"),
    "method 99": (compressed_with(99), r"packed with zip compression method 99 \(WinZip AES encryption\), which "
                                       r"this lab cannot unpack"),
    "Deflate64": (compressed_with(9), r"packed with zip compression method 9 \(Deflate64\), which this lab "
                                      r"cannot unpack"),
    "long header": (long_header(), r"Array “wide” in the weights file has a header of 10,\d{3} bytes .*numpy reads "
                                   r"at most 10,000 bytes of header"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_file_is_refused_with_its_own_sentence(case):
    data, sentence = CASES[case]
    with pytest.raises(up.UploadError, match=sentence) as refused:
        up.parse_weights(data, f"{case}.npz")
    assert "pickled" not in str(refused.value)   # the long header was once blamed on pickled data


def test_a_shallow_config_still_names_the_activation():
    data = npz_bytes(**ARRAYS, config=np.array('{"act": "relu"}'))
    assert up.parse_weights(data).act == "relu"
    assert up.parse_weights(npz_bytes(**ARRAYS, config=np.array("[" * 50 + "]" * 50))).act is None


@pytest.mark.parametrize("case", list(CASES))
def test_in_the_app_the_message_is_the_new_files_and_the_earlier_upload_stays(case):
    data, sentence = CASES[case]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    p = engine.init_params(2, 6, 3, seed=9, cell="lstm")
    at = at.file_uploader[0].set_value(("first.npz", npz_bytes(**engine.params_to_state_dict(p)),
                                        "application/zip")).run()
    assert not at.exception and not at.error
    kept = [c.value for c in at.caption if c.value.startswith("**first.npz**")]
    assert kept and "LSTM, H = 6, D = 2, O = 3" in kept[0]

    # a refused file first, so that a stale message could show
    at = at.file_uploader[0].set_value(("older.npz", b"not a zip", "application/zip")).run()
    assert len(at.error) == 1 and at.error[0].value.startswith("older.npz: ")

    at = at.file_uploader[0].set_value((f"{case}.npz", data, "application/zip")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1, [e.value for e in at.error]
    message = at.error[0].value
    assert message.startswith(f"{case}.npz: ") and message.endswith(" Nothing was changed."), message
    assert "Something went wrong" not in message
    assert re.search(sentence, message), message
    assert [c.value for c in at.caption if c.value.startswith("**first.npz**")] == kept   # the earlier upload

    at = at.run()                                  # the next rerun: still the same file's message
    assert not at.exception
    assert [e.value for e in at.error] == [message]
    assert [c.value for c in at.caption if c.value.startswith("**first.npz**")] == kept


def test_a_file_no_check_foresaw_is_refused_in_plain_words(monkeypatch):
    """Any other exception while reading a file: a message naming the file, nothing changed, no page error."""
    def broken(data, name):
        raise MemoryError

    monkeypatch.setitem(up._KINDS, "weights", (*up._KINDS["weights"][:2], broken, *up._KINDS["weights"][3:]))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at = at.file_uploader[0].set_value(("odd.npz", GOOD, "application/zip")).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["odd.npz: this file could not be read (MemoryError). Nothing was changed."]


def test_the_comparison_page_says_plainly_that_it_does_not_use_uploaded_weights():
    """Uploaded weights are one network of one cell: RNN vs LSTM vs GRU builds its own three (and their input),
    says so, and draws what the sidebar's config gives without the upload."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    p = engine.init_params(2, 6, 3, seed=9, cell="lstm")
    at = at.file_uploader[0].set_value(("mine.npz", npz_bytes(**engine.params_to_state_dict(p)),
                                        "application/zip")).run()
    at = at.switch_page("pages/6_RNN_vs_LSTM_vs_GRU.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("does not use your uploaded weights or input" in i.body for i in at.info), [i.body for i in at.info]
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(charts) >= 2
    # the same runs as a visitor without the upload whose sidebar holds the file's sizes
    plain = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for k, v in {"cell": "lstm", "H": "6", "D": "2", "O": "3"}.items():
        plain.query_params[k] = v
    plain = plain.run().switch_page("pages/6_RNN_vs_LSTM_vs_GRU.py").run()
    assert not [i for i in plain.info if "uploaded" in i.body]
    assert [c.proto.spec for c in plain.get("plotly_chart")] == charts
