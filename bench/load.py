"""A class on one server: N simulated students, no browser, each speaking Streamlit's own protocol.

Each student does what a browser tab does: fetches the page (which, behind scripts/serve.sh, also
gets the proxy's stickiness cookie), opens the websocket `/_stcore/stream` with that cookie, sends
the `rerun_script` BackMsg a browser sends for a page address (query string, page name), reads the
ForwardMsgs (new_session, deltas, page_info_changed, session_status_changed, script_finished) and then
makes a bounded number of moves: one sidebar slider (rho, T or H) set to a new value, sent as
`rerun_script` with the widget states, like the browser after a slider release. A move is done when
`script_finished` arrives (FINISHED_SUCCESSFULLY); its latency is from sending the BackMsg to that.
Between moves the student thinks (exponential, mean --think seconds). With --train, a student on the
Train page presses Start and keeps the live panel refreshing (the fragment reruns the server asks for
with auto_rerun) through its moves.

Errors: an exception element or the pages' error message ("Something went wrong ...") in the deltas,
a script compilation error, a lost connection and a move slower than --timeout.

Per number of students it prints: moves, p50/p95/max move latency, page-open latency, errors, the
server's resident memory (peak during the phase, summed over all replicas) and its CPU use (% of one
core, averaged over the phase), with the machine's load average.

    .venv/bin/python bench/load.py --students 1 10 30 --think 2          # starts its own server
    bash scripts/serve.sh 2 &                                             # or: two replicas + nginx
    .venv/bin/python bench/load.py --url http://127.0.0.1:8080 --students 30 --think 2

Only 127.0.0.1 (or localhost) is ever contacted; every loop is bounded in count and time.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost"}
PAGES = ("", "Unroll", "Hidden_state", "Gradients", "Spectrum", "Phase_diagram", "RNN_vs_LSTM_vs_GRU")
TRAIN_PAGE = "Train"
# The values a student moves the sidebar sliders to: a class follows the same lecture, so students mostly
# land on the same few settings (as on the presets), with the whole range of each slider in play.
MOVES = {
    "rho": ("0.50", "0.80", "0.90", "0.95", "1.00", "1.05", "1.10", "1.20", "1.50", "2.00"),
    "T": (20, 50, 100, 200, 300, 500, 1000),
    "H": (8, 16, 32, 64, 128, 256),
}
ERROR_TEXT = "Something went wrong"   # ui/errors.py: what a page shows instead of a traceback
STREAMLIT_RUN_TIMEOUT = 90.0


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default);
    nan for no values."""
    if not values:
        return float("nan")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Tally:
    """What the students of one phase measured."""

    moves: list[float] = field(default_factory=list)    # seconds per slider move
    opens: list[float] = field(default_factory=list)    # seconds from websocket open to the page drawn
    refreshes: int = 0                                  # live-panel reruns while training
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    uploads: int = 0

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if detail and len(self.error_samples) < 5:
            self.error_samples.append(f"{kind}: {detail[:200]}")

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    def summary(self) -> dict:
        ms = [1000 * v for v in self.moves]
        op = [1000 * v for v in self.opens]
        return {"moves": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
                "max_ms": max(ms) if ms else float("nan"), "open_p50_ms": percentile(op, 50),
                "open_max_ms": max(op) if op else float("nan"), "refreshes": self.refreshes,
                "errors": self.n_errors, "error_kinds": dict(self.errors), "uploads": self.uploads}


# --------------------------------------------------------------------------- the protocol


def _proto():
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    return BackMsg, ForwardMsg


class StudentError(Exception):
    """A failed move or page: `kind` is the error class counted in the tally."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


@dataclass
class Widget:
    id: str
    kind: str          # "slider", "select_slider" or "button"
    key: str           # the query-parameter key (= the app's widget key) or the label
    default: object = None
    options: tuple = ()


class Client:
    """One browser tab's conversation with the server over `/_stcore/stream`."""

    def __init__(self, host: str, port: int, page: str, query: str = "", timeout: float = 120.0,
                 cookie: str | None = None):
        self.host, self.port, self.page, self.query, self.timeout = host, port, page, query, timeout
        self.cookie = cookie
        self.ws = None
        self.page_script_hash = ""
        self.widgets: dict[str, Widget] = {}     # by key
        self.states: dict[str, object] = {}       # widget id -> WidgetState we send
        self.cached_hashes: set[str] = set()
        self.auto_rerun: tuple[float, str] | None = None   # (interval, fragment id) while a fragment refreshes
        self.running = False
        self._reader: asyncio.Task | None = None
        self._finished: asyncio.Queue = asyncio.Queue()
        self._problems: list[tuple[str, str]] = []
        self.closed = False
        self.session_id = ""                      # from new_session: where uploads go
        self._file_urls: asyncio.Queue = asyncio.Queue()

    # ---- connection

    async def connect(self) -> None:
        """What the browser does before the websocket: fetch the page (the proxy may set its stickiness
        cookie there), then open the stream with the cookie."""
        status, set_cookies = await asyncio.to_thread(self._http_get, "/" + self.page)
        if status != 200:
            raise StudentError("http", f"GET /{self.page} answered {status}")
        jar = dict(part.strip().partition("=")[::2] for part in (self.cookie or "").split(";") if part.strip())
        for c in set_cookies:   # what a browser keeps: name=value of each Set-Cookie
            name, _, value = c.split(";", 1)[0].strip().partition("=")
            jar.setdefault(name, value)
        self.cookie = "; ".join(f"{k}={v}" for k, v in jar.items()) or None
        import websockets

        headers = {"Cookie": self.cookie} if self.cookie else {}
        self.ws = await websockets.connect(
            f"ws://{self.host}:{self.port}/_stcore/stream", subprotocols=["streamlit"],
            additional_headers=headers, max_size=None, open_timeout=self.timeout, ping_interval=None,
            compression=None)
        self._reader = asyncio.create_task(self._read())

    def _http_get(self, path: str) -> tuple[int, list[str]]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            headers = {"Cookie": self.cookie} if self.cookie else {}
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            return r.status, r.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()

    async def close(self) -> None:
        self.closed = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    # ---- messages in

    async def _read(self) -> None:
        _, ForwardMsg = _proto()
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the stream is a disconnect
            if not self.closed:
                self._problems.append(("disconnect", f"{type(exc).__name__}: {exc}"))
        finally:
            if not self.closed:
                self._problems.append(("disconnect", "the server closed the connection"))
            await self._finished.put(None)

    def _handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if msg.hash and msg.metadata.cacheable:
            self.cached_hashes.add(msg.hash)
        if kind == "new_session":
            self.session_id = msg.new_session.initialize.session_id or self.session_id
        elif kind == "file_urls_response":
            self._file_urls.put_nowait(msg.file_urls_response)
        elif kind == "navigation":
            # the page this run is on (new_session's page_script_hash is the main script's with a pages/ folder)
            self.page_script_hash = msg.navigation.page_script_hash or self.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "session_status_changed":
            self.running = msg.session_status_changed.script_is_running
        elif kind == "delta":
            self._delta(msg.delta)
        elif kind == "auto_rerun":
            self.auto_rerun = (msg.auto_rerun.interval, msg.auto_rerun.fragment_id)
        elif kind == "stop_auto_rerun":
            self.auto_rerun = None
        elif kind == "session_event":
            if msg.session_event.WhichOneof("type") == "script_compilation_exception":
                self._problems.append(("exception", msg.session_event.script_compilation_exception.message))
        elif kind == "script_finished":
            self._finished.put_nowait(msg.script_finished)

    def _delta(self, delta) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        kind = el.WhichOneof("type")
        if kind == "exception":
            self._problems.append(("exception", f"{el.exception.type}: {el.exception.message}"))
        elif kind == "alert" and el.alert.format == 1 and ERROR_TEXT in el.alert.body:
            self._problems.append(("exception", el.alert.body))
        elif kind == "slider":
            s = el.slider
            key = s.query_param_key if s.HasField("query_param_key") else s.label
            select = s.type == 2 or bool(s.options)   # SELECT_SLIDER: options are the formatted values
            default = (s.options[int(s.default[0])] if select and s.default else
                       (s.default[0] if s.default else None))
            self.widgets[key] = Widget(s.id, "select_slider" if select else "slider", key, default,
                                       tuple(s.options))
        elif kind == "button":
            self.widgets[el.button.label] = Widget(el.button.id, "button", el.button.label)
        elif kind == "file_uploader":
            self.widgets[el.file_uploader.label] = Widget(el.file_uploader.id, "file_uploader", el.file_uploader.label)

    # ---- messages out

    async def _send_rerun(self, *, trigger: str | None = None, fragment_id: str = "",
                          auto: bool = False) -> None:
        BackMsg, _ = _proto()
        msg = BackMsg()
        rs = msg.rerun_script
        rs.query_string = self.query
        rs.page_script_hash = self.page_script_hash
        if not self.page_script_hash:
            rs.page_name = self.page
        rs.fragment_id = fragment_id
        rs.is_auto_rerun = auto
        rs.cached_message_hashes.extend(sorted(self.cached_hashes))
        rs.context_info.timezone = "UTC"
        rs.context_info.timezone_offset = 0
        rs.context_info.locale = "en-US"
        rs.context_info.url = f"http://{self.host}:{self.port}/{self.page}" + (f"?{self.query}" if self.query else "")
        rs.context_info.is_embedded = False
        rs.context_info.color_scheme = "light"
        for wid, value in self.states.items():
            ws = rs.widget_states.widgets.add()
            ws.id = wid
            if isinstance(value, tuple) and value and value[0] == "file":   # ("file", file_id, name, size, urls)
                info = ws.file_uploader_state_value.uploaded_file_info.add()
                info.file_id, info.name, info.size = value[1], value[2], value[3]
                info.file_urls.CopyFrom(value[4])
            elif isinstance(value, float):
                ws.double_array_value.data.append(value)
            else:
                ws.string_array_value.data.append(str(value))
        if trigger is not None:
            ws = rs.widget_states.widgets.add()
            ws.id = trigger
            ws.trigger_value = True
        await self.ws.send(msg.SerializeToString())

    async def _wait_finished(self, fragment: bool = False) -> float:
        """Wait for the script run to finish; returns when it did (perf_counter). A run that ends
        early for a rerun (st.rerun, a newer move) is followed by the one that counts."""
        deadline = time.perf_counter() + self.timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise StudentError("timeout", f"no script_finished within {self.timeout:.0f} s on /{self.page}")
            try:
                status = await asyncio.wait_for(self._finished.get(), left)
            except TimeoutError:
                raise StudentError("timeout", f"no script_finished within {self.timeout:.0f} s on /{self.page}") \
                    from None
            self._raise_problems()
            if status is None:
                raise StudentError("disconnect", "connection lost during a run")
            if status == 0 or (fragment and status == 3):     # FINISHED_SUCCESSFULLY / FRAGMENT_RUN_SUCCESSFULLY
                return time.perf_counter()
            if status == 1:
                raise StudentError("exception", "FINISHED_WITH_COMPILE_ERROR")
            # 2 (FINISHED_EARLY_FOR_RERUN) or a fragment run that a full run overtook: keep waiting

    def _raise_problems(self) -> None:
        if self._problems:
            kind, detail = self._problems.pop(0)
            self._problems.clear()
            raise StudentError(kind, detail)

    # ---- what a student does

    async def open(self) -> float:
        """The first run of the page (what a browser sends for the address); returns its seconds."""
        await self.connect()
        t0 = time.perf_counter()
        await self._send_rerun()
        return await self._wait_finished() - t0

    async def move(self, key: str, value) -> float:
        """Set slider `key` to `value` (as its URL writes it), wait for the run; returns seconds."""
        w = self.widgets.get(key)
        if w is None:
            raise StudentError("protocol", f"no slider with key {key!r} on /{self.page}")
        if w.kind == "select_slider":
            text = str(value)
            if w.options and text not in w.options:
                raise StudentError("protocol", f"{key}={text} is not an option of the slider")
            self.states[w.id] = text
        else:
            self.states[w.id] = float(value)
            text = str(int(value)) if float(value).is_integer() else repr(float(value))
        # A bound widget writes its value into the address (the browser's widget manager does)
        q = dict(parse_qsl(self.query, keep_blank_values=True))
        if str(w.default) == text or (w.default is not None and w.kind == "slider"
                                      and float(w.default) == float(value)):
            q.pop(key, None)
        else:
            q[key] = text
        self.query = urlencode(q)
        t0 = time.perf_counter()
        await self._send_rerun()
        return await self._wait_finished() - t0

    async def press(self, label: str) -> float:
        w = self.widgets.get(label)
        if w is None or w.kind != "button":
            raise StudentError("protocol", f"no button {label!r} on /{self.page}")
        t0 = time.perf_counter()
        await self._send_rerun(trigger=w.id)
        return await self._wait_finished() - t0

    async def upload(self, label: str, name: str, data: bytes) -> float:
        """What the browser does for a file dropped on the uploader `label`: ask for an upload address
        (file_urls_request), PUT the file there (with the XSRF cookie's token), then rerun with the
        uploader's new state. Returns the seconds from the request to the end of that run."""
        w = self.widgets.get(label)
        if w is None or w.kind != "file_uploader":
            raise StudentError("protocol", f"no file uploader {label!r} on /{self.page}")
        BackMsg, _ = _proto()
        msg = BackMsg()
        msg.file_urls_request.request_id = f"r{random.getrandbits(32):08x}"
        msg.file_urls_request.session_id = self.session_id
        msg.file_urls_request.file_names.append(name)
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        try:
            resp = await asyncio.wait_for(self._file_urls.get(), self.timeout)
        except TimeoutError:
            raise StudentError("timeout", "no file_urls_response") from None
        urls = resp.file_urls[0]
        status = await asyncio.to_thread(self._http_put_file, urls.upload_url, name, data)
        if status not in (200, 204):
            raise StudentError("http", f"PUT {urls.upload_url} answered {status}")
        self.states[w.id] = ("file", urls.file_id, name, len(data), urls)
        await self._send_rerun()
        return await self._wait_finished() - t0

    def _http_put_file(self, url: str, name: str, data: bytes) -> int:
        path = urlsplit(url).path or url
        boundary = f"----unrolled{random.getrandbits(64):016x}"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        jar = dict(part.strip().partition("=")[::2] for part in (self.cookie or "").split(";") if part.strip())
        if "_streamlit_xsrf" not in jar:   # the browser has it from /_stcore/health, its first request
            _, set_cookies = self._http_get("/_stcore/health")
            for c in set_cookies:
                k, _, v = c.split(";", 1)[0].strip().partition("=")
                jar.setdefault(k, v)
            self.cookie = "; ".join(f"{k}={v}" for k, v in jar.items()) or None
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(body))}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if "_streamlit_xsrf" in jar:
            headers["X-Xsrftoken"] = jar["_streamlit_xsrf"]
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("PUT", path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    async def refresh(self) -> bool:
        """One auto-rerun of the refreshing fragment (as the browser's timer sends it), if any."""
        if self.auto_rerun is None:
            return False
        await self._send_rerun(fragment_id=self.auto_rerun[1], auto=True)
        await self._wait_finished(fragment=True)
        return True


# --------------------------------------------------------------------------- students


UPLOAD_LABEL = "Input sequence (.csv)"   # the sidebar's uploader of an input sequence (ui/uploads.py)


def upload_file(rng: random.Random) -> tuple[str, bytes]:
    """A student's file: mostly a valid T x D CSV, sometimes one the app must refuse (text, NaN, ragged)."""
    T, D = rng.randint(10, 300), rng.randint(1, 3)
    rows = [",".join(f"{rng.gauss(0, 1):.4f}" for _ in range(D)) for _ in range(T)]
    kind = rng.random()
    if kind < 0.1:
        rows[rng.randrange(T)] = "not,a,number"
    elif kind < 0.2:
        rows[rng.randrange(T)] += ",1.0,2.0"
    elif kind < 0.25:
        rows[rng.randrange(T)] = ",".join(["nan"] * D)
    header = ",".join("xyz"[:D])
    return f"student-{rng.getrandbits(20):05x}.csv", (header + "\n" + "\n".join(rows) + "\n").encode()


async def student(i: int, host: str, port: int, page: str, moves: int, think: float, timeout: float,
                  tally: Tally, rng: random.Random, train: bool, start_delay: float, upload: bool = False) -> None:
    await asyncio.sleep(start_delay)
    c = Client(host, port, page, timeout=timeout)
    try:
        try:
            tally.opens.append(await c.open())
        except StudentError as exc:
            tally.error(exc.kind, exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - refused, reset, a failed handshake
            tally.error("disconnect", f"open /{page}: {type(exc).__name__}: {exc}")
            return
        if upload and UPLOAD_LABEL in c.widgets:
            try:
                name, data = upload_file(rng)
                tally.moves.append(await c.upload(UPLOAD_LABEL, name, data))
                tally.uploads += 1
            except StudentError as exc:
                tally.error(exc.kind, exc.detail)
                return
        training = False
        if train and page == TRAIN_PAGE:
            try:
                await c.press("Start")
                training = True
            except StudentError as exc:
                tally.error(exc.kind, exc.detail)
                return
        keys = [k for k in MOVES if k in c.widgets]
        if not keys:
            tally.error("protocol", f"no sidebar slider found on /{page}")
            return
        for _ in range(moves):
            pause = rng.expovariate(1.0 / think) if think > 0 else 0.0
            if training:
                # the browser keeps refreshing the live panel while its student thinks
                end = time.perf_counter() + pause
                while time.perf_counter() < end and c.auto_rerun is not None:
                    await asyncio.sleep(min(c.auto_rerun[0], max(0.0, end - time.perf_counter())))
                    if time.perf_counter() < end:
                        try:
                            if await c.refresh():
                                tally.refreshes += 1
                        except StudentError as exc:
                            tally.error(exc.kind, exc.detail)
                            return
                await asyncio.sleep(max(0.0, end - time.perf_counter()))
            else:
                await asyncio.sleep(pause)
            key = rng.choice(keys)
            current = c.states.get(c.widgets[key].id, c.widgets[key].default)
            choices = [v for v in MOVES[key] if str(v) != str(current) and not (
                c.widgets[key].kind == "slider" and current is not None and float(v) == float(current))]
            try:
                tally.moves.append(await c.move(key, rng.choice(choices)))
            except StudentError as exc:
                tally.error(exc.kind, exc.detail)
                if exc.kind in ("disconnect", "timeout"):
                    return
    finally:
        await c.close()


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` on 127.0.0.1 in its own process group, stopped by its pid."""

    def __init__(self, port: int, log: Path):
        self.port, self.log_path = port, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
               "--server.headless", "true", "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        wait_healthy("127.0.0.1", self.port, STREAMLIT_RUN_TIMEOUT, self.proc)

    def stop(self) -> None:
        stop_group(self.proc)
        with contextlib.suppress(Exception):
            self._log.close()


def stop_group(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Stop a process started with start_new_session=True and everything in its process group: SIGTERM,
    then SIGKILL if it has not exited after ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def wait_healthy(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection(host, port, timeout=2)
            try:
                conn.request("GET", "/_stcore/health")
                r = conn.getresponse()
                if r.status == 200 and r.read().strip() == b"ok":
                    return
            finally:
                conn.close()
        time.sleep(0.2)
    raise TimeoutError(f"http://{host}:{port}/_stcore/health not ok after {timeout:.0f} s")


# --------------------------------------------------------------------------- resource use


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of the processes and their children (psutil when installed, else /proc)."""
    try:
        import psutil  # type: ignore
    except ImportError:
        psutil = None
    total = 0
    for root in pids:
        for p in _tree(root):
            if psutil is not None:
                with contextlib.suppress(Exception):
                    total += psutil.Process(p).memory_info().rss
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes and their children so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for root in pids:
        for p in _tree(root):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


def replicas(run_dir: Path) -> dict[int, int]:
    """{port: pid} of the replicas scripts/serve.sh started (its pid files replica-PORT.pid), when alive."""
    out = {}
    for f in sorted(run_dir.glob("replica-*.pid")):
        with contextlib.suppress(OSError, ValueError):
            pid = int(f.read_text().strip())
            if Path(f"/proc/{pid}").exists():
                out[int(f.stem.split("-", 1)[1])] = pid
    return out


# --------------------------------------------------------------------------- one phase


async def run_phase(n: int, host: str, port: int, pages: list[str], moves: int, think: float, timeout: float,
                    seed: int, train: bool, pids: list[int], ramp: float) -> tuple[Tally, dict]:
    tally = Tally()
    rng = random.Random(seed * 1000 + n)
    peak = [rss_bytes(pids)]
    stop = asyncio.Event()

    async def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_bytes(pids))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    sampler = asyncio.create_task(sample())
    tasks = [student(i, host, port, rng.choice(pages), moves, think, timeout, tally,
                     random.Random(rng.random()), train, rng.uniform(0, ramp)) for i in range(n)]
    await asyncio.gather(*tasks)
    stop.set()
    await sampler
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pids) - cpu0
    res = {"rss_peak_mb": peak[0] / 2**20 if pids else float("nan"),
           "rss_end_mb": rss_bytes(pids) / 2**20 if pids else float("nan"),
           "cpu_pct": 100.0 * cpu / wall if pids else float("nan"), "wall_s": wall,
           "load": os.getloadavg()}
    return tally, res


async def warm_up(host: str, port: int, pages: list[str]) -> Tally:
    """Open every page once, one after the other (no moves)."""
    tally = Tally()
    for page in pages:
        await student(0, host, port, page, 0, 0.0, STREAMLIT_RUN_TIMEOUT * 2, tally, random.Random(0), False, 0.0)
    return tally


def threads_of(pids: list[int]) -> int:
    """Threads of the server processes and their children (from /proc)."""
    total = 0
    for root in pids:
        for p in _tree(root):
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith("Threads:"):
                        total += int(line.split()[1])
                        break
    return total


async def soak(host: str, port: int, pages: list[str], seconds: float, per_minute: float, moves: int, think: float,
               timeout: float, seed: int, train: bool, pids: list[int], settle: float, every: float = 60.0,
               upload_share: float = 0.0) -> dict:
    """Students come and go for `seconds`: arrivals at random (Poisson, `per_minute`), each on a random page
    (on Train with `train`: Start, then the live panel while it moves; a share `upload_share` first uploads an
    input sequence, now and then one the app must refuse), `moves` moves, then the tab closes.
    Prints a line every `every` seconds (sessions open, RSS, threads, errors so far); after the last one
    leaves, waits `settle` seconds (Streamlit keeps a closed tab's session two minutes) and measures again."""
    tally = Tally()
    rng = random.Random(seed)
    open_now = [0]
    rows = []

    def row(label: str) -> dict:
        r = {"t": label, "open": open_now[0], "rss_mb": rss_bytes(pids) / 2**20, "threads": threads_of(pids),
             "errors": tally.n_errors, "moves": len(tally.moves), "load": os.getloadavg()[0]}
        rows.append(r)
        print(f"  {r['t']:>8} {r['open']:>5d} {r['rss_mb']:8.0f} {r['threads']:8d} {r['moves']:7d} {r['errors']:7d}"
              f"   {r['load']:.2f}", flush=True)
        return r

    async def one(i: int) -> None:
        open_now[0] += 1
        try:
            await student(i, host, port, rng.choice(pages), moves, think, timeout, tally, random.Random(rng.random()),
                          train, 0.0, upload=rng.random() < upload_share)
        finally:
            open_now[0] -= 1

    print(f"  {'time':>8} {'open':>5} {'RSS MB':>8} {'threads':>8} {'moves':>7} {'errors':>7}   load")
    base = row("start")
    t0 = time.perf_counter()
    next_row = every
    tasks, i = [], 0
    while (elapsed := time.perf_counter() - t0) < seconds:
        if elapsed >= next_row:
            row(f"{elapsed / 60:.0f} min")
            next_row += every
        await asyncio.sleep(min(rng.expovariate(per_minute / 60.0), max(0.1, next_row - elapsed)))
        if time.perf_counter() - t0 < seconds:
            tasks.append(asyncio.create_task(one(i)))
            i += 1
    await asyncio.gather(*tasks)
    end = row("all gone")
    await asyncio.sleep(settle)
    settled = row(f"+{settle:.0f} s")
    s = tally.summary()
    return {"sessions": i, "start": base, "end": end, "settled": settled, "rows": rows, **s,
            "error_samples": tally.error_samples}


def fmt_row(n: int, s: dict, r: dict) -> str:
    def f(v, spec="7.0f"):
        return format(v, spec) if isinstance(v, (int, float)) and math.isfinite(v) else " " * (len(format(0, spec)) - 3) + "n/a"
    return (f"{n:>8d} {s['moves']:>6d} {f(s['p50_ms'])} {f(s['p95_ms'])} {f(s['max_ms'])} {f(s['open_p50_ms'])} "
            f"{s['errors']:>6d} {f(r['rss_peak_mb'])} {f(r['cpu_pct'], '6.0f')} {r['wall_s']:6.1f}  "
            f"{r['load'][0]:.2f} {r['load'][1]:.2f}")


HEADER = (f"{'students':>8} {'moves':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'open ms':>7} {'errors':>6} "
          f"{'RSS MB':>7} {'CPU %':>6} {'wall s':>6}  load 1/5 min")


def check_host(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        raise SystemExit(f"refusing {url!r}: this load generator only talks to http://127.0.0.1")
    return "127.0.0.1", parts.port or 80


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, nargs="+", default=[1, 10, 30], help="numbers of students, one phase each")
    ap.add_argument("--moves", type=int, default=10, help="slider moves per student (bounded)")
    ap.add_argument("--think", type=float, default=2.0, help="mean think time between moves, seconds (exponential)")
    ap.add_argument("--ramp", type=float, default=None, help="students arrive over this many seconds (default: --think)")
    ap.add_argument("--pages", nargs="+", default=None,
                    help="URL paths to open ('' or home for the home page); default: every view page at random")
    ap.add_argument("--train", action="store_true", help="students on the Train page press Start and watch it")
    ap.add_argument("--url", default=None, help="a running server or proxy (http://127.0.0.1:PORT); default: start one")
    ap.add_argument("--port", type=int, default=0, help="port of the server this script starts (default: a free one)")
    ap.add_argument("--pids", type=int, nargs="*", default=None, help="server processes to measure (with --url)")
    ap.add_argument("--run-dir", default=str(ROOT / ".run" / "serve"),
                    help="scripts/serve.sh's run directory: with --url, its replicas are measured")
    ap.add_argument("--timeout", type=float, default=120.0, help="a move slower than this is an error (seconds)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--soak", type=float, default=0.0,
                    help="instead of phases: students come and go for this many seconds (see soak())")
    ap.add_argument("--per-minute", type=float, default=10.0, help="with --soak: arrivals per minute")
    ap.add_argument("--settle", type=float, default=150.0, help="with --soak: seconds to wait after the last one")
    ap.add_argument("--upload-share", type=float, default=0.0,
                    help="with --soak: share of students who first upload an input sequence (.csv)")
    a = ap.parse_args(argv)
    if any(n < 1 or n > 500 for n in a.students) or not 0 <= a.moves <= 1000 or a.think < 0:
        ap.error("--students in [1, 500], --moves in [0, 1000], --think >= 0")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    pages = [("" if p in ("home", "/") else p.strip("/")) for p in (a.pages or list(PAGES))]
    if a.train and TRAIN_PAGE not in pages:
        pages.append(TRAIN_PAGE)
    server = None
    warm_ports: list[int] = []
    if a.url:
        host, port = check_host(a.url)
        wait_healthy(host, port, 300)   # e.g. scripts/serve.sh still starting its replicas
        found = replicas(Path(a.run_dir)) if a.pids is None else {}
        pids = a.pids if a.pids is not None else list(found.values())
        warm_ports = sorted(found) or [port]
        where = a.url + (f" ({len(pids)} server processes measured)" if pids else " (server not measured)")
    else:
        host, port = "127.0.0.1", a.port or free_port()
        server = Server(port, ROOT / "artifacts" / f"load-server-{port}.log")
        t0 = time.perf_counter()
        server.start()
        pids = [server.proc.pid]
        warm_ports = [port]
        where = f"{sys.executable} -m streamlit run app.py on port {port} (healthy after {time.perf_counter() - t0:.1f} s)"
    results = []
    try:
        # a warm-up visit of every page on every replica (directly on its port), so the phases measure
        # warm servers, not first imports and the JIT's cache loads
        t0 = time.perf_counter()
        warm_errors: list[str] = []
        for wp in warm_ports:
            warm = asyncio.run(warm_up(host, wp, pages))
            warm_errors += warm.error_samples
        print(f"load: {where}")
        print(f"      warm-up: every page opened once on {len(warm_ports)} server(s) in "
              f"{time.perf_counter() - t0:.1f} s, errors {len(warm_errors)}"
              + (f" ({'; '.join(warm_errors)})" if warm_errors else ""))
        print(f"      {a.moves} moves per student of rho, T or H, think {a.think:g} s (exponential), pages: "
              f"{', '.join(p or 'home' for p in pages)}{', training on Train' if a.train else ''}; "
              f"cpus {os.cpu_count()}, load at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        if a.soak > 0:
            print(f"soak: {a.soak / 60:g} min, about {a.per_minute:g} arrivals per minute, {a.moves} moves each")
            res = asyncio.run(soak(host, port, pages, a.soak, a.per_minute, a.moves, a.think, a.timeout, a.seed,
                                   a.train, pids, a.settle, upload_share=a.upload_share))
            print(f"soak: {res['sessions']} sessions, {res['uploads']} uploads, {res['moves']} moves and uploads, p50 {res['p50_ms']:.0f} ms, p95 "
                  f"{res['p95_ms']:.0f} ms, errors {res['errors']}"
                  + (f" ({'; '.join(res['error_samples'])})" if res.get('error_samples') else "")
                  + f"; RSS {res['start']['rss_mb']:.0f} -> {res['end']['rss_mb']:.0f} -> "
                  f"{res['settled']['rss_mb']:.0f} MB, threads {res['start']['threads']} -> "
                  f"{res['end']['threads']} -> {res['settled']['threads']}")
            results.append(res)
            a.students = []
        else:
            print(HEADER)
        for n in a.students:
            tally, res = asyncio.run(run_phase(n, host, port, pages, a.moves, a.think, a.timeout, a.seed, a.train,
                                               pids, a.think if a.ramp is None else a.ramp))
            s = tally.summary()
            print(fmt_row(n, s, res), flush=True)
            if tally.error_samples:
                print("         errors: " + "; ".join(tally.error_samples))
            if tally.refreshes:
                print(f"         live-panel refreshes while training: {tally.refreshes}")
            results.append({"students": n, **s, **res})
    finally:
        if server is not None:
            server.stop()
    print("latency: rerun_script sent -> script_finished received, per slider move; open: the page's first run. "
          "RSS: peak of the server processes (all replicas); CPU: their CPU time / wall time.")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"argv": sys.argv[1:], "where": where, "results": results}, indent=1,
                                           default=str))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
