"""A real uvicorn server in a thread and a headless Chromium (selenium) for browser tests."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from tunelab.server.app import create_app
from tunelab.server.security import Access
from tunelab.store.queries import Reader

SHOTS = Path(__file__).resolve().parents[2] / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(store: str | Path, *, host: str = "127.0.0.1", token: str | None = None,
          data_root: Path | None = None) -> Iterator[tuple[str, Access]]:
    """Serve the dashboard over ``store`` on a free port (the training page reading under
    ``data_root``); yields (base URL, access rules)."""
    reader = Reader.open(store)
    access, _ = Access.for_host(host, token)
    port = free_port()
    app = create_app(reader, access, data_root=data_root)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", access
    finally:
        server.should_exit = True
        th.join(10)
        reader.close()


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return "Chromium and chromedriver are not installed (apt-get install chromium " \
               "chromium-driver; `.ci/run` does it)"
    return None


@contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--window-size={width},{height}"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, name: str) -> Path:
    """Save a full-page screenshot under ./screenshots (ignored by git) for a person to see."""
    SHOTS.mkdir(exist_ok=True)
    h = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, max(1000, int(h) + 100))
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
