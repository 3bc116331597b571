"""Export (GIF, run .npz, Python snippet) and your own data (weights .npz, input CSV, text).

Run: .venv/bin/python -m pytest tests/test_export.py -x -q
"""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from browser_support import chromium_available
from specs import as_json, validated
from streamlit.testing.v1 import AppTest

import engine
from ui import export as ex
from ui import uploads as up
from ui.config import Config
from ui.figures import unroll_fig
from ui.runs import build, run_bptt
from viz.spec import encode

ROOT = Path(__file__).resolve().parent.parent
UNROLL = str(ROOT / "pages" / "1_Unroll.py")

CONFIGS = [
    Config(),
    Config(cell="lstm", T=30, H=6, D=2, O=3, fb=2.0, rho=1.1, seed=3, signal="sine", amp=1.5, loss="all"),
    Config(cell="gru", T=25, H=5, zb=1.0, init="orthogonal", out="softmax", O=4, seed=7),
    Config(T=40, H=8, act="relu", init="identity", rho=1.0, out="sigmoid", loss="all", signal="pulse"),
]


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npz_of(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# ---------------------------------------------------------------- the run as .npz

@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=["rnn", "lstm", "gru"])
def test_run_npz_round_trip_holds_the_engine_run(cfg):
    got = npz_of(ex.run_npz(cfg))
    params, x, target = build(cfg)
    tr = engine.bptt(params, x, target, loss=cfg.loss)
    assert json.loads(str(got["config"])) == cfg.as_dict()
    assert got["config"].ndim == 0
    for k, v in params.arrays().items():
        assert np.array_equal(got[k], v), k
    for k, v in engine.params_to_state_dict(params).items():
        assert np.array_equal(got[k], v), k
    for k in ("h", "y", "grad_h", "grad_h_norm"):
        assert np.array_equal(got[k], getattr(tr, k)), k
    assert np.array_equal(got["x"], x) and np.array_equal(got["target"], target)
    assert float(got["loss"]) == tr.loss
    for k, v in tr.grads.arrays().items():
        assert np.array_equal(got[f"d{k}"], v), k
    if cfg.cell == "lstm":
        assert np.array_equal(got["c"], tr.c)
    # every array is plain numbers or a plain string: nothing needs pickle
    assert all(v.dtype.kind in "fiuU" for v in got.values())


def test_an_exported_run_uploads_back_as_the_same_weights():
    cfg = CONFIGS[1]
    w = up.parse_weights(ex.run_npz(cfg), "run.npz")
    params, _, _ = build(cfg)
    assert (w.cell, w.H, w.D, w.O, w.keys) == ("lstm", 6, 2, 3, "engine")
    for k, v in params.arrays().items():
        assert np.array_equal(w.arrays[k], v), k


# ---------------------------------------------------------------- Reproduce in Python

def exec_snippet(code: str, cwd: Path | None = None) -> dict:
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        scope: dict = {}
        exec(compile(code, "<snippet>", "exec"), scope)  # noqa: S102 - our own generated code
        return scope
    finally:
        os.chdir(old)


@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "lstm", "gru", "relu"])
def test_snippet_reproduces_the_app_run_bit_for_bit(cfg, capsys):
    code = ex.python_snippet(cfg)
    assert "init_params(" in code and "bptt(" in code
    scope = exec_snippet(code)
    capsys.readouterr()
    tr, run = scope["trace"], run_bptt(cfg)
    assert tr.loss == run.loss
    assert np.array_equal(tr.grad_h_norm, run.grad_h_norm)
    assert np.array_equal(tr.h, run.h)
    assert np.array_equal(tr.y, run.y)


def test_snippet_with_uploaded_weights_and_input_reads_the_run_npz(tmp_path, capsys):
    p = engine.init_params(3, 7, 2, seed=11, cell="gru", update_bias=0.5)
    w = up.parse_weights(npz_bytes(**engine.params_to_state_dict(p)), "gru.npz")
    x = up.parse_inputs(b"a,b,c\n" + b"\n".join(f"{i},{-i / 3},{(i % 4) / 7}".encode() for i in range(17)), "x.csv")
    up.remember(w)
    up.remember(x)
    cfg = up.with_uploads(Config(out="identity", loss="all", seed=4), w, x)
    assert (cfg.cell, cfg.H, cfg.D, cfg.O, cfg.T) == ("gru", 7, 3, 2, 17)
    (tmp_path / "unrolled-run.npz").write_bytes(ex.run_npz(cfg))
    code = ex.python_snippet(cfg)
    assert "RNNParams(" in code and 'run["x"]' in code
    scope = exec_snippet(code, tmp_path)
    capsys.readouterr()
    tr, run = scope["trace"], run_bptt(cfg)
    assert tr.loss == run.loss and np.array_equal(tr.grad_h_norm, run.grad_h_norm)
    assert np.array_equal(tr.h, run.h)
    # the uploaded weights really are the ones used (not init_params with the same sizes)
    params, xx, _ = build(cfg)
    assert np.array_equal(params.W_hh, p.W_hh) and np.array_equal(xx, x.x)
    config = json.loads(str(npz_of((tmp_path / "unrolled-run.npz").read_bytes())["config"]))
    assert config["weights"] == "uploaded: gru.npz" and config["input"] == "uploaded: x.csv"


def test_own_config_keeps_urls_and_cache_keys_apart():
    w = up.parse_weights(npz_bytes(**engine.params_to_state_dict(engine.init_params(1, 4, 1, seed=1))))
    up.remember(w)
    cfg = up.with_uploads(Config(), w, None)
    assert cfg.to_query() == {"H": "4"}
    assert Config(**cfg.as_dict()) == replace(Config(), H=4)
    assert cfg != replace(Config(), H=4)
    assert not np.array_equal(run_bptt(cfg).h, run_bptt(Config(H=4)).h)
    assert up.with_uploads(Config(), None, None) == Config()


# ---------------------------------------------------------------- the GIF

@pytest.mark.slow
@pytest.mark.skipif(not chromium_available(), reason="needs Chromium for Kaleido")
def test_gif_of_the_unroll_animation_has_its_frames_and_size():
    from PIL import Image

    spec = unroll_fig(Config(T=12, H=6))
    seen = []
    data = ex.animation_gif(spec, max_frames=3, progress=lambda k, n: seen.append((k, n)))
    im = Image.open(io.BytesIO(data))
    assert im.format == "GIF" and im.n_frames == 3
    assert im.size == (ex.GIF_WIDTH, int(validated(spec).layout.height))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    im.seek(0)
    first = np.asarray(im.convert("RGB"))
    im.seek(2)
    assert not np.array_equal(first, np.asarray(im.convert("RGB")))  # the frames differ


def _same(a, b) -> bool:
    try:
        return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)
    except (TypeError, ValueError):
        return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def test_frame_figures_apply_each_frame_and_cap_their_number():
    spec = unroll_fig(Config(T=12, H=6))
    before = as_json(encode(spec))
    fig = validated(spec)
    n = len(fig.frames)
    figs = ex.frame_figures(spec, max_frames=4)
    assert as_json(encode(spec)) == before   # the cached spec every session shares is not changed
    assert len(figs) == min(4, n)
    assert all("updatemenus" not in f["layout"] for f in figs)
    assert [f["layout"]["sliders"][0]["active"] for f in figs] == \
        list(np.unique(np.linspace(0, n - 1, min(4, n)).round().astype(int)))
    last = fig.frames[-1]
    for idx, upd in zip(last.traces, last.data):
        for key, val in upd.to_plotly_json().items():
            if key != "type" and not isinstance(val, dict):
                assert _same(figs[-1]["data"][idx][key], val), key


# ---------------------------------------------------------------- uploads: good files

@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_engine_and_torch_key_names_give_the_same_parameters(cell):
    p = engine.init_params(3, 5, 2, seed=2, cell=cell, forget_bias=1.5, update_bias=-0.5)
    by_engine = up.parse_weights(npz_bytes(**p.arrays()))
    by_torch = up.parse_weights(npz_bytes(**engine.params_to_state_dict(p)))
    assert (by_engine.keys, by_torch.keys) == ("engine", "PyTorch")
    assert by_engine.cell == by_torch.cell == cell
    assert by_engine.digest == by_torch.digest
    for k, v in p.arrays().items():
        assert np.array_equal(by_engine.arrays[k], v) and np.array_equal(by_torch.arrays[k], v), k


def test_input_csv_with_header_and_semicolons():
    x = up.parse_inputs(b"t1;t2\n1;2\n3;4.5\n-1e-3;0\n", "x.csv")
    assert x.x.shape == (3, 2) and x.x[1, 1] == 4.5
    assert up.parse_inputs(b"0.5\n1\n2\n").x.shape == (3, 1)


def test_text_upload_feeds_the_character_task():
    from ui.train_data import load_task

    text = ("The quick brown fox jumps over the lazy dog. " * 40).encode()
    t = up.parse_text(text, "fox.txt")
    up.remember(t)
    task = load_task("text", 20, 0, t.digest)
    assert task.info["source"] == "your text"
    assert set(task.info["vocabulary"][1:]) <= set(text.decode())


# ---------------------------------------------------------------- uploads: malformed files

def _pickled() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, W_hx=np.array([{"a": 1}], dtype=object), W_hh=np.eye(2), b_h=np.zeros(2), W_hy=np.ones((1, 2)),
             b_y=np.zeros(1))
    return buf.getvalue()


GOOD = npz_bytes(**engine.params_to_state_dict(engine.init_params(1, 4, 1, seed=0)))

BAD_WEIGHTS = {
    "pickled": (_pickled(), "Python objects"),
    "truncated": (GOOD[: len(GOOD) // 2], "not a readable .npz"),
    "not a zip": (b"hello, I am text", "not a readable .npz"),
    "wrong keys": (npz_bytes(a=np.eye(2), b=np.zeros(2)), "needs the arrays"),
    "wrong shapes": (npz_bytes(W_hx=np.ones((3, 1)), W_hh=np.ones((3, 2)), b_h=np.zeros(3), W_hy=np.ones((1, 3)),
                               b_y=np.zeros(1)), r"W_hh has shape \(3, 2\)"),
    "mismatched": (npz_bytes(W_hx=np.ones((4, 1)), W_hh=np.eye(3), b_h=np.zeros(3), W_hy=np.ones((1, 3)),
                             b_y=np.zeros(1)), "do not fit together"),
    "NaN": (npz_bytes(**{**engine.params_to_state_dict(engine.init_params(1, 4, 1)),
                         "weight_hh_l0": np.full((4, 4), np.nan)}), "NaN or infinite"),
    "strings": (npz_bytes(W_hx=np.array([["a"]]), W_hh=np.eye(1), b_h=np.zeros(1), W_hy=np.ones((1, 1)),
                          b_y=np.zeros(1)), "real numbers"),
    "too big H": (npz_bytes(W_hx=np.ones((300, 1)), W_hh=np.eye(300), b_h=np.zeros(300), W_hy=np.ones((1, 300)),
                            b_y=np.zeros(1)), "at most H = 256"),
}


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("W_hh.npy", b"\0" * (up.MAX_WEIGHTS_UNPACKED + 1))
    return buf.getvalue()


BAD_WEIGHTS["zip bomb"] = (_zip_bomb(), "unpacked")


@pytest.mark.parametrize("name", list(BAD_WEIGHTS))
def test_malformed_weights_are_refused_with_a_message(name):
    data, phrase = BAD_WEIGHTS[name]
    with pytest.raises(up.UploadError, match=phrase):
        up.parse_weights(data, "bad.npz")


BAD_CSV = {
    "50 MB": (b"1.0\n" * (50 * 1024 * 1024 // 4), "the limit is 512 KB"),
    "binary": (bytes(range(256)) * 8, "binary data"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(200), "binary"),
    "latin-1": ("1,2\n3,é\n".encode("latin-1"), "not UTF-8"),
    "ragged": (b"1,2\n3\n", "has 1 columns"),
    "word": (b"1,2\n3,x\n", "not a number"),
    "nan": (b"1,2\nnan,4\n", "NaN or infinite"),
    "too many rows": (b"1\n" * 1001, "at most T = 1000"),
    "too many columns": (b",".join([b"1"] * 17), "at most D = 16"),
    "empty": (b"\n\n", "no rows"),
}


@pytest.mark.parametrize("name", list(BAD_CSV))
def test_malformed_csv_is_refused_with_a_message(name):
    data, phrase = BAD_CSV[name]
    with pytest.raises(up.UploadError, match=phrase):
        up.parse_inputs(data, "bad.csv")


@pytest.mark.parametrize("data, phrase", [
    ("ab".encode("utf-16"), "binary|not UTF-8"),
    (b"\xff\xfe\x00garbage", "binary"),
    ("résumé ".encode("latin-1") * 300, "not UTF-8"),
    (b"short text", "at least 1,100"),
    (b"\x01\x02\x03" * 1000, "control characters"),
    (b"a" * (up.MAX_TEXT_BYTES + 1), "the limit is 1 MB"),
], ids=["utf16", "nul", "latin1", "short", "control", "big"])
def test_malformed_text_is_refused_with_a_message(data, phrase):
    with pytest.raises(up.UploadError, match=phrase):
        up.parse_text(data, "bad.txt")


def test_pickle_bytes_are_never_loaded():
    evil = pickle.dumps({"W_hh": np.eye(2)})
    with pytest.raises(up.UploadError):
        up.parse_weights(evil)


# ---------------------------------------------------------------- the app: uploads and export panel

def _snippet(at) -> str:
    return next(c.value for c in at.code if "bptt(" in c.value)


def _run(thing):
    """Run the app (`thing`: the AppTest or a widget just set) and check that nothing raised."""
    at = thing.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_app_upload_changes_every_run_and_bad_files_change_nothing():
    at = _run(AppTest.from_file(UNROLL, default_timeout=180))
    labels = [u.label for u in at.file_uploader]
    assert labels == ["Weights (.npz)", "Input sequence (.csv)", "Text for the character model (Train page)"]
    before = _snippet(at)
    assert "init_params(1, 32, 1" in before
    assert any(b.label == "Run (.npz)" for b in at.get("download_button"))
    assert any(b.label == "Render GIF" for b in at.button)

    p = engine.init_params(2, 6, 3, seed=9, cell="lstm")
    _run(at.file_uploader[0].set_value(("lstm.npz", npz_bytes(**engine.params_to_state_dict(p)), "application/zip")))
    assert not at.error
    with_weights = _snippet(at)
    assert "RNNParams(" in with_weights and "cell='lstm'" in with_weights
    assert any("LSTM, H = 6, D = 2, O = 3" in c.value and "H 32 → 6" in c.value for c in at.caption)
    assert "LSTM cell" in at.markdown[0].value  # the page itself now draws the LSTM
    title = at.title[0].value

    # each malformed file: a message, and the view and the config stay as they were
    for name in ("pickled", "truncated", "wrong keys", "NaN"):
        _run(at.file_uploader[0].set_value((f"{name}.npz", BAD_WEIGHTS[name][0], "application/zip")))
        assert len(at.error) == 1 and "Nothing was changed" in at.error[0].value, name
        assert BAD_WEIGHTS[name][1].split()[0] in at.error[0].value, name
        assert _snippet(at) == with_weights and at.title[0].value == title, name
    for name in ("binary", "latin-1", "ragged"):
        _run(at.file_uploader[1].set_value((f"{name}.csv", BAD_CSV[name][0], "text/csv")))
        assert any(name + ".csv" in e.value for e in at.error), name
        assert _snippet(at) == with_weights, name
    _run(at.file_uploader[2].set_value(("bin.txt", bytes(range(256)) * 10, "text/plain")))
    assert any("bin.txt" in e.value and "binary" in e.value for e in at.error)
    assert _snippet(at) == with_weights

    # an input with the wrong D is refused; a matching one replaces the signal
    _run(at.file_uploader[1].set_value(("x3.csv", b"1,2,3\n4,5,6\n", "text/csv")))
    assert any("D = 3" in e.value for e in at.error)
    _run(at.file_uploader[1].set_value(("x2.csv", b"1,2\n4,5\n0,1\n", "text/csv")))
    assert not any("x2.csv" in e.value for e in at.error)
    assert 'run["x"]' in _snippet(at)

    # back to the generated weights and signal
    _run(at.button(key="own_again_weights").click())
    _run(at.button(key="own_again_inputs").click())
    assert _snippet(at) == before
    assert all("bin.txt" in e.value for e in at.error)  # only the text's message stays while that file is chosen


def test_kaleido_still_has_the_tab_hook_the_renderer_overrides():
    """ui.export.Renderer skips Kaleido's reload after every image through this private method (a reload
    per frame tripled the time of a GIF); if a Kaleido update removes it, the GIF still works, only slower:
    this test says so loudly."""
    import inspect

    import kaleido

    hook = getattr(kaleido.Kaleido, "_return_kaleido_tab", None)
    assert hook is not None and inspect.iscoroutinefunction(hook)
    assert "tabs_ready" in inspect.getsource(kaleido.Kaleido.__init__)


@pytest.mark.slow
def test_app_train_page_learns_an_uploaded_text():
    at = AppTest.from_file(str(ROOT / "pages" / "7_Train.py"), default_timeout=180)
    at.query_params["tr_task"] = "text"
    at.query_params["tr_T"] = "50"
    _run(at)
    assert not any("your text" in i.value for i in at.info)
    text = ("Sing, goddess, the anger of Peleus' son Achilles and its devastation. " * 40).encode()
    _run(at.file_uploader[2].set_value(("iliad.txt", text, "text/plain")))
    assert not at.error
    assert any("learns **your text**" in i.value for i in at.info)
    assert any("iliad.txt" in c.value and "2,800 characters" in c.value for c in at.caption)


# ---------------------------------------------------------------- a server without Chromium

def _gif_controls_script():
    from ui import export as ex
    from ui.config import Config

    ex._gif_controls(Config(), lambda: None, "view")


@pytest.fixture
def renderer_lookup(monkeypatch):
    """Set what the browser search finds (`set(path or None)`); the cached answer is forgotten around it."""
    ex.gif_renderer_available.cache_clear()
    yield lambda found: monkeypatch.setattr(ex, "_find_chromium", lambda: found)
    ex.gif_renderer_available.cache_clear()


def test_gif_button_only_where_a_browser_renders_it(renderer_lookup):
    renderer_lookup(None)
    assert ex.gif_renderer_available() is False
    at = AppTest.from_function(_gif_controls_script, default_timeout=60).run()
    assert not at.exception and not at.error
    assert not at.button
    assert [c.value for c in at.caption] == [
        "GIF export needs Chromium on the server; the run (.npz) and the Python below still reproduce this view."]

    ex.gif_renderer_available.cache_clear()
    renderer_lookup("/usr/bin/chromium")
    assert ex.gif_renderer_available() is True
    at = AppTest.from_function(_gif_controls_script, default_timeout=60).run()
    assert not at.exception and [b.label for b in at.button] == ["Render GIF"] and not at.caption


def test_the_browser_search_is_kaleidos(monkeypatch, tmp_path):
    """_find_chromium asks choreographer, as Kaleido does: BROWSER_PATH names the browser it would start."""
    chromium = pytest.importorskip("choreographer.browsers.chromium")
    # a Chrome that kaleido.get_chrome_sync() downloaded would come first
    monkeypatch.setattr(chromium, "get_chrome_download_path", lambda **kw: None)
    monkeypatch.setattr(chromium, "get_old_chrome_download_path", lambda **kw: None)
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(fake))
    assert ex._find_chromium() == str(fake)
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "missing"))
    assert ex._find_chromium() is None


# ---------------------------------------------------------------- the .npz button: cached, and admitted when heavy


class _CountingAdmission:
    def __init__(self):
        self.acquired = self.released = 0

    def acquire(self, timeout=None, stop=None):
        self.acquired += 1
        return True

    def release(self):
        self.released += 1


def test_the_npz_button_is_served_from_a_cache_and_heavy_files_take_a_slot(monkeypatch):
    import dataclasses

    import ui.admission as adm_mod

    counting = _CountingAdmission()
    monkeypatch.setattr(adm_mod, "admission", lambda: counting)
    made = []
    real = ex.run_npz
    monkeypatch.setattr(ex, "run_npz", lambda cfg: made.append(cfg) or real(cfg))
    ex.run_npz_cached.clear()
    small = CONFIGS[0]
    assert ex.NPZ_COST_FACTOR * adm_mod.cost_bptt(small.T, small.H, small.cell) < adm_mod.HEAVY_WORK
    first = ex.run_npz_cached(small)
    assert ex.run_npz_cached(small) == first and len(made) == 1 and counting.acquired == 0
    heavy = dataclasses.replace(small, T=1000, H=256)
    assert ex.NPZ_COST_FACTOR * adm_mod.cost_bptt(heavy.T, heavy.H, heavy.cell) >= adm_mod.HEAVY_WORK
    data = ex.run_npz_cached(heavy)
    assert npz_of(data)["h"].shape[0] == 1000 and counting.acquired == counting.released == 1
    ex.run_npz_cached(heavy)
    assert len(made) == 2 and counting.acquired == 1      # the second click: from the cache, no slot
    ex.run_npz_cached.clear()
