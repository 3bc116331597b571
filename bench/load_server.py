"""The server side of bench/load.py: starting and stopping `streamlit run`, and the memory, CPU and threads
of the server's processes (and of the replicas scripts/serve.sh starts)."""
from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STREAMLIT_RUN_TIMEOUT = 90.0


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
