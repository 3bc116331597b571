"""A Streamlit websocket protocol client: one browser tab's conversation with a server over `/_stcore/stream`.

It fetches the page (keeping the cookies a proxy sets), opens the websocket, sends the `rerun_script` BackMsgs a
browser sends (the page address, slider moves, button presses, file uploads, a fragment's auto-reruns) and reads
the ForwardMsgs: the session, the page's address, the widgets drawn (sliders, buttons, uploaders), errors shown and
`script_finished`. bench/load.py drives many of them; tests/test_replicas.py drives one through the proxy.
Only the host and port it is given are contacted; every wait is bounded by its timeout.
"""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import random
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

ERROR_TEXT = "Something went wrong"   # ui/errors.py: what a page shows instead of a traceback


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
