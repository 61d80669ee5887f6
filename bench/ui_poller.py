"""A dashboard watching a job, for ``bench/overhead.py --poll``: ``tunelab ui`` as its own
process over the store, and a client that polls the job page's API as the page does (every
second the version; when it moved, the header, points, decisions, leaderboard page, curves
after the cursor and importance)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _settle(pid: int, quiet_s: float = 0.6, limit_s: float = 30.0) -> None:
    """Wait until process ``pid`` has used no CPU for ``quiet_s`` (Linux /proc)."""
    try:
        last, since, end = _cpu_ticks(pid), time.monotonic(), time.monotonic() + limit_s
        while time.monotonic() < end:
            time.sleep(0.1)
            now = _cpu_ticks(pid)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
    except OSError:
        time.sleep(3)  # no /proc: give it a moment


class DashboardPoller:
    def __init__(self, store: Path, job: str, interval: float = 1.0) -> None:
        self.store, self.job, self.interval = store, job, interval
        self.calls = 0
        self.changes = 0
        self.active = threading.Event()  # cleared: the page is closed (the server stays up)
        self.active.set()
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> DashboardPoller:
        import httpx

        port = _port()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tunelab.cli", "ui", "--store", str(self.store), "--port",
             str(port)], stdout=subprocess.DEVNULL)
        self._client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                self._client.get("/jobs")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the dashboard server did not start") from None
                time.sleep(0.1)
        _settle(self._proc.pid)  # its start-up (imports, warm-up) is not part of the job
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        j = f"/jobs/{self.job}"
        version, cursor = None, 0
        while not self._stop.wait(self.interval):
            if not self.active.is_set():
                version = None  # a page opened again draws everything again
                continue
            v = self._client.get(j + "/version")
            self.calls += 1
            if v.status_code != 200 or v.json()["token"] == version:
                continue
            version = v.json()["token"]
            self.changes += 1
            for path in ("", "/points", "/decisions",
                         "/trials?sort=value&descending=false&offset=0&limit=50",
                         "/importance"):
                self._client.get(j + path)
                self.calls += 1
            c = self._client.get(j + f"/curves?after={cursor}")
            self.calls += 1
            if c.status_code == 200:
                cursor = c.json()["cursor"]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
        self._client.close()
