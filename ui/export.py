"""Export this view: the animation as a GIF, the whole run as .npz, and the Python that reproduces it.

- ``animation_gif(fig)``: every frame of a Plotly animated figure rendered by Kaleido (one headless
  Chromium per process, reused; frames are rendered one after another) and assembled by Pillow.
- ``run_npz(cfg)``: config as JSON, parameters under the engine's and PyTorch's names, x, h, y, the
  per-step gradient norms and the weight gradients; readable with ``np.load(allow_pickle=False)``.
- ``python_snippet(cfg)``: the engine calls that give exactly this run.
- ``export_panel(cfg, animation=...)``: the expander every page draws near its end.
"""
from __future__ import annotations

import asyncio
import functools
import io
import json
import os
import threading
import time
from collections.abc import Callable

import numpy as np
import streamlit as st

import engine
from ui import keys
from ui.config import Config
from ui.runs import build
from ui.uploads import OwnConfig, own_run_data
from viz.payload import evenly_spaced
from viz.spec import Spec, copy_tree, merge

# frames rendered at most (evenly spaced, both ends kept); a server under load may lower it
MAX_GIF_FRAMES = max(2, int(os.environ.get("UNROLLED_GIF_FRAMES", "16")))
GIF_WIDTH = 960           # pixels; the height is the figure's own
GIF_LAST_HOLD_MS = 1500   # the last frame stays this long before the loop starts again
RENDER_TIMEOUT_S = 60.0


# ---------------------------------------------------------------- one Kaleido per process

class Renderer:
    """One Kaleido (one headless Chromium, one tab) on its own event-loop thread, shared by every session.

    Calls are serialised by a lock. Kaleido reloads its tab after every image to start clean; for the
    frames of one animation that reload costs more than the image itself, so this renderer reloads only
    every RELOAD_EVERY images (each image is drawn into a fresh element by Plotly.toImage anyway).
    """

    RELOAD_EVERY = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kaleido = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _start(self) -> None:
        import kaleido

        renders = {"n": 0}
        reload_every = self.RELOAD_EVERY

        class _Kaleido(kaleido.Kaleido):
            async def _return_kaleido_tab(self, tab):  # kaleido 1.x: reload the tab only now and then
                renders["n"] += 1
                ready = getattr(self, "tabs_ready", None)
                if renders["n"] % reload_every == 0 or not isinstance(ready, asyncio.Queue):
                    return await super()._return_kaleido_tab(tab)
                await ready.put(tab)

        # the override needs kaleido 1.x's private tab queue; any other version keeps its own behaviour
        cls = _Kaleido if hasattr(kaleido.Kaleido, "_return_kaleido_tab") else kaleido.Kaleido

        async def main() -> None:
            try:
                # MathJax off: its default is a CDN, and the figures use Unicode, not LaTeX
                k = cls(n=1, timeout=RENDER_TIMEOUT_S, page_generator=kaleido.PageGenerator(mathjax=False))
                await k.open()
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                self._error = exc
                self._ready.set()
                return
            self._kaleido, self._loop = k, asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
            await k.close()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="kaleido")
        self._thread.start()
        self._ready.wait(RENDER_TIMEOUT_S)

    def image(self, fig: dict, *, width: int, height: int, fmt: str = "png", scale: float = 1.0) -> bytes:
        """One image of a figure dict (data + layout)."""
        with self._lock:
            if self._kaleido is None:
                if self._thread is None or self._error is not None:
                    self._error = None
                    self._ready.clear()
                    self._start()
                if self._kaleido is None:
                    raise RuntimeError(f"the image renderer (Kaleido with Chromium) did not start: {self._error}")
            opts = dict(format=fmt, width=width, height=height, scale=scale)
            fut = asyncio.run_coroutine_threadsafe(self._kaleido.calc_fig(fig, opts=opts), self._loop)
            return fut.result(RENDER_TIMEOUT_S)


def _find_chromium() -> str | None:
    """The browser Kaleido would start, found the way Kaleido 1.x finds it (choreographer's search:
    BROWSER_PATH, a Chrome that `kaleido.get_chrome_sync()` downloaded, chromium or chrome on PATH, the
    usual install paths), or None."""
    try:
        from choreographer.browsers.chromium import Chromium
        path = Chromium.find_browser(skip_local=False)
    except Exception:  # noqa: BLE001 - no choreographer, or a search that fails: no browser
        return None
    return path if path and os.path.isfile(path) else None


@functools.lru_cache(maxsize=1)
def gif_renderer_available() -> bool:
    """Whether this server can render a GIF: Kaleido is installed and finds a Chrome or Chromium (looked up
    once per process; the container image has neither)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    return _find_chromium() is not None


@st.cache_resource(show_spinner=False)
def renderer() -> Renderer:
    """The process's one renderer (started on the first image)."""
    return Renderer()


# ---------------------------------------------------------------- the GIF

def _merge(base: dict, update: dict) -> dict:
    """Plotly.animate's merge of a frame's trace into the figure's trace (`viz.spec.merge`, the rule of
    update_layout), on a copy: `base` is shared by every frame."""
    return merge(copy_tree(base), update)


def frame_figures(fig: Spec, max_frames: int = MAX_GIF_FRAMES) -> list[dict]:
    """Each frame of an animated spec as a static figure dict (at most `max_frames`, evenly spaced,
    first and last kept). The play buttons are dropped; the frame slider shows where the frame is.
    `fig` is not changed (it may be a cached spec that every session shares)."""
    d = copy_tree(fig)
    frames = list(d.get("frames") or [])
    layout = d.get("layout") or {}
    layout.pop("updatemenus", None)
    data = [dict(t) for t in d.get("data") or []]
    if not frames:
        return [dict(data=data, layout=layout)]
    n = len(frames)
    picks = evenly_spaced(n, max_frames)
    sliders = layout.get("sliders") or []
    out = []
    for i in picks:
        fr = frames[i]
        traces = fr.get("traces")
        if traces is None:
            traces = list(range(len(fr.get("data") or [])))
        cur = list(data)
        for idx, upd in zip(traces, fr.get("data") or []):
            cur[idx] = _merge(cur[idx], upd)
        lay = _merge(layout, fr["layout"]) if fr.get("layout") else dict(layout)
        if sliders and len(sliders[0].get("steps") or []) == n:
            lay["sliders"] = [dict(sliders[0], active=int(i))] + list(sliders[1:])
        out.append(dict(data=cur, layout=lay))
    return out


def animation_gif(fig: Spec, *, max_frames: int = MAX_GIF_FRAMES, width: int = GIF_WIDTH,
                  frame_ms: int | None = None, progress: Callable[[int, int], None] | None = None) -> bytes:
    """An animated GIF of a Plotly animated figure: each (downsampled) frame rendered by Kaleido, then
    quantised to one shared palette by Pillow. `progress(done, total)` is called after every frame."""
    from PIL import Image

    figs = frame_figures(fig, max_frames)
    height = int(fig["layout"].get("height") or 500)
    # the figure's own frame duration, stretched so the downsampled animation lasts about as long
    n_all = max(len(fig.get("frames") or ()), 1)
    if frame_ms is None:
        base = 200
        try:
            base = int(fig["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["frame"]["duration"])
        except (IndexError, KeyError, TypeError):
            pass
        frame_ms = int(np.clip(base * n_all / len(figs), 150, 1000))
    r = renderer()
    images = []
    for k, f in enumerate(figs):
        f["layout"] = dict(f["layout"], width=width, height=height)
        png = r.image(f, width=width, height=height)
        images.append(Image.open(io.BytesIO(png)).convert("RGB"))
        if progress is not None:
            progress(k + 1, len(figs))
    # one palette for all frames (from the last frame, which shows the most), so colours do not flicker
    palette = images[-1].quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    frames = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    durations = [frame_ms] * len(frames)
    durations[-1] = max(frame_ms, GIF_LAST_HOLD_MS)
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)
    return buf.getvalue()


# ---------------------------------------------------------------- the run as .npz

def config_json(cfg: Config) -> str:
    """The config as JSON: every sidebar field, plus which uploads replaced generated data."""
    d = cfg.as_dict()
    if isinstance(cfg, OwnConfig):
        own_w, own_x = own_run_data(cfg)
        d["weights"] = f"uploaded: {own_w.name}" if own_w is not None else "generated"
        d["input"] = f"uploaded: {own_x.name}" if own_x is not None else "generated"
    return json.dumps(d, sort_keys=True)


def run_arrays(cfg: Config) -> dict[str, np.ndarray]:
    """Every array of the run, by the name it has in the .npz."""
    params, x, target = build(cfg)
    with np.errstate(all="ignore"):
        tr = engine.bptt(params, x, target, loss=cfg.loss)
    out: dict[str, np.ndarray] = {"config": np.array(config_json(cfg))}
    out.update({k: np.array(v) for k, v in params.arrays().items()})
    out.update({k: np.array(v) for k, v in engine.params_to_state_dict(params).items()})
    out.update(x=np.array(x), target=np.array(target), h=np.array(tr.h), y=np.array(tr.y),
               loss=np.array(tr.loss), grad_h=np.array(tr.grad_h), grad_h_norm=np.array(tr.grad_h_norm),
               dW_hh_step_norm=np.array(tr.dW_hh_step_norm))
    out.update({f"d{k}": np.array(v) for k, v in tr.grads.arrays().items()})
    if tr.c is not None:
        out["c"] = np.array(tr.c)
        out["grad_c_norm"] = np.array(tr.grad_c_norm)
    for g, v in tr.gates.items():
        out[f"gate_{g}"] = np.array(v)
    return out


def run_npz(cfg: Config) -> bytes:
    """The whole run as a compressed .npz (np.load(..., allow_pickle=False) reads it)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **run_arrays(cfg))
    return buf.getvalue()


# The "Run (.npz)" button: at T = 1000, H = 256 the file is about 20 MB and 2-4 s of CPU (the run again,
# then compression). A click is served from a small cache (two files: at most about 40 MB), and a file that
# has to be made takes one of the server's heavy slots like every other heavy computation (ui.admission),
# waiting for it without a page notice (the button's data is made outside the page's run).
NPZ_COST_FACTOR = 3.0      # the run, its arrays and their compression, in units of one bptt


@st.cache_data(max_entries=2, show_spinner=False)
def run_npz_cached(cfg: Config) -> bytes:
    from ui.admission import HEAVY_WORK, MAX_WAIT_SECONDS, QueueTimeout, admission, cost_bptt

    if NPZ_COST_FACTOR * cost_bptt(cfg.T, cfg.H, cfg.cell) < HEAVY_WORK:
        return run_npz(cfg)
    adm = admission()
    if not adm.acquire(timeout=MAX_WAIT_SECONDS):
        raise QueueTimeout(f"no free slot to make the run's .npz after {MAX_WAIT_SECONDS:.0f} s")
    try:
        return run_npz(cfg)
    finally:
        adm.release()


# ---------------------------------------------------------------- Reproduce in Python

def python_snippet(cfg: Config, npz_name: str = "unrolled-run.npz") -> str:
    """Python with the engine calls that reproduce this run exactly (run it from the repository root).
    Uploaded weights or inputs are read back from the run's .npz (the “Run (.npz)” download)."""
    own_w, own_x = own_run_data(cfg)
    lines = ["import numpy as np", "from engine import RNNParams, bptt, init_params, make_input, make_target", ""]
    if own_w is not None or own_x is not None:
        lines.append(f'run = np.load("{npz_name}", allow_pickle=False)  # the “Run (.npz)” download of this view')
    if own_w is not None:
        names = ", ".join(f'{k}=run["{k}"]' for k in own_w.arrays)
        act = cfg.act if own_w.cell == "rnn" else "tanh"
        lines.append(f"params = RNNParams({names},")
        lines.append(f"                   cell={own_w.cell!r}, activation={act!r}, output={cfg.out!r})")
    else:
        lines.append(f"params = init_params({cfg.D}, {cfg.H}, {cfg.O}, init={cfg.init!r}, spectral_radius={cfg.rho!r},")
        lines.append(f"                     activation={cfg.act!r}, output={cfg.out!r}, seed={cfg.seed}, cell={cfg.cell!r},")
        lines.append(f"                     forget_bias={cfg.fb!r}, update_bias={cfg.zb!r})")
    if own_x is not None:
        lines.append('x = run["x"]  # your input sequence (T, D)')
    else:
        lines.append(f"x = make_input({cfg.signal!r}, {cfg.T}, {cfg.D}, amplitude={cfg.amp!r}, seed={cfg.seed})")
    lines.append(f"target = make_target({cfg.out!r}, {cfg.loss!r}, {cfg.T}, {cfg.O}, seed={cfg.seed})")
    lines.append(f"trace = bptt(params, x, target, loss={cfg.loss!r})")
    lines.append("")
    lines.append("print(trace.loss)            # the loss")
    lines.append("print(trace.grad_h_norm)     # ‖∂L/∂h_t‖ for t = 1..T (the Gradients page)")
    lines.append("print(trace.h[-1])           # the last hidden state")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the panel

_GIF = keys.EXPORT_GIF   # session key: {page: (key, bytes, seconds)}


def _gif_key(cfg: Config, name: str) -> str:
    return f"{name}:{json.dumps(cfg.as_dict(), sort_keys=True)}:{getattr(cfg, 'wts', '')}:{getattr(cfg, 'xin', '')}"


def export_panel(cfg: Config, animation: Callable[[], Spec] | None = None, *, name: str = "view") -> None:
    """The expander “Export this view”. `animation`: returns the page's animated figure (offered as a
    GIF, rendered only when asked); `name` goes into the file names."""
    with st.expander("Export this view", icon=":material/download:"):
        _panel(cfg, animation, name)


@st.fragment
def _panel(cfg: Config, animation, name: str) -> None:
    c1, c2 = st.columns(2, gap="medium")
    with c1:
        st.download_button("Run (.npz)", data=lambda: run_npz_cached(cfg), file_name=f"unrolled-{name}-run.npz",
                           mime="application/octet-stream", on_click="ignore", icon=":material/download:",
                           key=f"export_npz_{name}",
                           help="Config (JSON), parameters (engine and PyTorch names), x, h, y, ‖∂L/∂h_t‖ and the "
                                "weight gradients. Read with numpy.load(path, allow_pickle=False).")
    if animation is not None:
        with c2:
            _gif_controls(cfg, animation, name)
    st.markdown("**Reproduce in Python** (from the repository root):")
    st.code(python_snippet(cfg), language="python")


def _gif_controls(cfg: Config, animation, name: str) -> None:
    store = st.session_state.setdefault(_GIF, {})
    key = _gif_key(cfg, name)
    held = store.get(name)
    if held is not None and held[0] != key:
        held = store.pop(name)  # another config: the GIF no longer shows this view
        held = None
    if held is None and not gif_renderer_available():
        st.caption("GIF export needs Chromium on the server; the run (.npz) and the Python below still "
                   "reproduce this view.")
        return
    if held is None:
        if st.button("Render GIF", key=f"export_gif_{name}", icon=":material/animation:",
                     help=f"Renders up to {MAX_GIF_FRAMES} frames of the animation on the server (a few seconds)."):
            bar = st.progress(0.0, text="Rendering frames…")
            t0 = time.perf_counter()
            try:
                gif = animation_gif(animation(), progress=lambda k, n: bar.progress(
                    k / n, text=f"Rendering frame {k} of {n}…"))
            except Exception as exc:  # noqa: BLE001 - the renderer (Chromium) may be missing or slow
                bar.empty()
                st.error(f"The GIF could not be rendered on this server: {type(exc).__name__}: {exc}",
                         icon=":material/error:")
                return
            bar.empty()
            held = store[name] = (key, gif, time.perf_counter() - t0)
    if held is not None:
        st.download_button("Animation (.gif)", data=held[1], file_name=f"unrolled-{name}.gif", mime="image/gif",
                           on_click="ignore", icon=":material/download:", key=f"export_gif_dl_{name}")
        st.caption(f"{len(held[1]) / 1024:.0f} KB, rendered in {held[2]:.1f} s.")
